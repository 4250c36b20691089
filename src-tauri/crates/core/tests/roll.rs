//! Rolling keys with overlap, and the review of expiring and stale keys: a
//! successor with the same settings, the replaced key working until the grace
//! ends and EXPIRED after, refusals that change nothing, group selections, the
//! key limit, the outbox order a remote needs, and the once-a-day warning.

mod common;

use common::{snapshot, vault_with_account};
use keyward_core::wire::ChangeAction;
use keyward_core::{
    now, AccessType, ErrorKind, KeyFilter, KeySelection, KeyStatus, Method, NewGroup, NewKey,
    Request, SecretString, Vault, VerifyResult,
};
use time::{Date, Duration, Month};

fn post(resource: &str) -> Request {
    Request::new(Method::Post, resource, false).unwrap()
}

fn named(names: &[&str]) -> KeySelection {
    KeySelection::Keys(names.iter().map(|n| n.to_string()).collect())
}

fn result_at(vault: &mut Vault, secret: &SecretString, at: time::OffsetDateTime) -> VerifyResult {
    vault
        .verify_key_at(secret, &post("devices"), at)
        .unwrap()
        .result
}

fn gate_group(vault: &mut Vault) {
    vault
        .create_group(
            None,
            NewGroup {
                name: "gates".into(),
                description: None,
                scopes: vec!["devices:write".parse().unwrap()],
            },
        )
        .unwrap();
}

#[test]
fn a_roll_makes_a_successor_alike_and_the_old_key_works_until_the_grace_ends() {
    let (_temp, mut vault) = vault_with_account(1);
    gate_group(&mut vault);
    let expiry = now() + Duration::days(30);
    let old = vault
        .create_key(
            None,
            "gate-north",
            &NewKey {
                description: Some("North gate reader".into()),
                access: Some(AccessType::Write),
                allow_unbind: true,
                groups: vec!["gates".into()],
                expires_at: Some(expiry),
            },
        )
        .unwrap();
    let before = now();
    let outcome = vault
        .roll_keys(None, &named(&["gate-north"]), Duration::hours(24))
        .unwrap();
    let after = now();
    assert!(outcome.skipped.is_empty());
    let [rolled] = &outcome.rolled[..] else {
        panic!("one key rolled")
    };
    let (new, replaced) = (&rolled.successor.key, &rolled.replaced);
    assert_eq!(new.name, "gate-north", "the successor takes the name");
    assert_eq!(new.description.as_deref(), Some("North gate reader"));
    assert_eq!(
        (new.access, new.allow_unbind, new.groups.clone()),
        (AccessType::Write, true, vec!["gates".to_string()])
    );
    assert_eq!(new.expires_at, Some(expiry), "the same expiry");
    assert_eq!(new.status, KeyStatus::Active);
    assert_ne!(new.id, old.key.id);
    assert_ne!(rolled.successor.secret.expose(), old.secret.expose());

    assert_eq!(replaced.id, old.key.id);
    assert_eq!(replaced.name, "gate-north (replaced)");
    assert_eq!(replaced.replaced_by.as_deref(), Some(new.id.as_str()));
    let ends = replaced.expires_at.unwrap();
    assert!(
        ends >= before + Duration::hours(24) - Duration::milliseconds(1)
            && ends <= after + Duration::hours(24)
    );
    // Both work within the grace; after it the old one is EXPIRED, the new one still VALID.
    for (secret, within, past) in [
        (&old.secret, VerifyResult::Valid, VerifyResult::Expired),
        (
            &rolled.successor.secret,
            VerifyResult::Valid,
            VerifyResult::Valid,
        ),
    ] {
        assert_eq!(result_at(&mut vault, secret, now()), within);
        assert_eq!(
            result_at(&mut vault, secret, ends - Duration::seconds(1)),
            within
        );
        assert_eq!(result_at(&mut vault, secret, ends), past);
    }
    // The link and the rename are in the vault, not only in the answer.
    let shown = vault.key(None, "gate-north (replaced)").unwrap();
    assert_eq!(shown.replaced_by, replaced.replaced_by);
    assert_eq!(vault.key(None, "gate-north").unwrap().id, new.id);
    let audit: Vec<String> = vault
        .audit_entries(&Default::default())
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(&audit[..2], ["key.roll", "key.create"], "newest first");
    // The key limit of 1 was reached before the roll: the replaced key does not count.
    let account = vault.account("Acme").unwrap();
    assert_eq!(account.key_count, 1);
    let refused = vault.create_key(None, "gate-south", &NewKey::default());
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::LimitReached);
}

#[test]
fn a_zero_grace_ends_the_old_key_now_and_a_grace_never_extends_an_expiry() {
    let (_temp, mut vault) = vault_with_account(10);
    let now_key = vault.create_key(None, "kiosk", &NewKey::default()).unwrap();
    let soon = now() + Duration::hours(1);
    let soon_key = vault
        .create_key(
            None,
            "scanner",
            &NewKey {
                access: Some(AccessType::Write),
                expires_at: Some(soon),
                ..NewKey::default()
            },
        )
        .unwrap();
    let ended = vault
        .roll_keys(None, &named(&["kiosk"]), Duration::ZERO)
        .unwrap();
    let request = Request::new(Method::Get, "devices", false).unwrap();
    assert_eq!(
        vault.verify_key(&now_key.secret, &request).unwrap().result,
        VerifyResult::Expired
    );
    assert_eq!(
        vault
            .verify_key(&ended.rolled[0].successor.secret, &request)
            .unwrap()
            .result,
        VerifyResult::Valid
    );
    let kept = vault
        .roll_keys(None, &named(&["scanner"]), Duration::days(2))
        .unwrap();
    assert_eq!(
        kept.rolled[0].replaced.expires_at,
        Some(soon),
        "the earlier end"
    );
    assert_eq!(kept.rolled[0].successor.key.expires_at, Some(soon));
    assert_eq!(
        result_at(&mut vault, &soon_key.secret, now()),
        VerifyResult::Valid
    );
}

#[test]
fn refused_rolls_change_nothing_and_say_why() {
    let (_temp, mut vault) = vault_with_account(10);
    for name in ["a", "b", "off", "gone"] {
        vault.create_key(None, name, &NewKey::default()).unwrap();
    }
    vault
        .set_key_status(None, "off", KeyStatus::Inactive)
        .unwrap();
    let gone = vault.delete_key(None, "gone").unwrap();
    vault
        .roll_keys(None, &named(&["b"]), Duration::hours(1))
        .unwrap();
    let before = snapshot(&vault);
    let cases: [(KeySelection, Duration, ErrorKind, &str); 7] = [
        (
            named(&["b (replaced)"]),
            Duration::hours(1),
            ErrorKind::Refused,
            "already replaced by \"b\"",
        ),
        (
            named(&["a", "off"]),
            Duration::hours(1),
            ErrorKind::Refused,
            "\"off\" is inactive",
        ),
        (
            named(&[&gone.id]),
            Duration::hours(1),
            ErrorKind::NotFound,
            "deleted",
        ),
        (
            named(&["nobody"]),
            Duration::hours(1),
            ErrorKind::NotFound,
            "nobody",
        ),
        (
            named(&["a"]),
            Duration::seconds(-5),
            ErrorKind::InvalidInput,
            "negative grace",
        ),
        (
            named(&["a"]),
            Duration::days(31),
            ErrorKind::InvalidInput,
            "up to 30 days",
        ),
        (
            KeySelection::Filter("zzz".into()),
            Duration::hours(1),
            ErrorKind::InvalidInput,
            "no key to roll",
        ),
    ];
    for (selection, grace, kind, message) in cases {
        let err = vault.roll_keys(None, &selection, grace).unwrap_err();
        assert_eq!(err.kind(), kind, "{selection:?}: {err}");
        assert!(err.to_string().contains(message), "{err}");
        assert_eq!(snapshot(&vault), before, "{selection:?} changed the vault");
    }
}

#[test]
fn a_group_roll_rolls_what_can_be_rolled_and_names_the_rest() {
    let (_temp, mut vault) = vault_with_account(10);
    gate_group(&mut vault);
    let in_gates = NewKey {
        access: Some(AccessType::Write),
        groups: vec!["gates".into()],
        ..NewKey::default()
    };
    let names: Vec<String> = (1..=4).map(|n| format!("gate-{n}")).collect();
    vault.create_keys(None, &names, &in_gates).unwrap();
    vault
        .create_key(None, "outside", &NewKey::default())
        .unwrap();
    vault
        .set_key_status(None, "gate-3", KeyStatus::Inactive)
        .unwrap();
    vault
        .roll_keys(None, &named(&["gate-4"]), Duration::hours(1))
        .unwrap();
    let outcome = vault
        .roll_keys(
            None,
            &KeySelection::Group("gates".into()),
            Duration::hours(2),
        )
        .unwrap();
    let rolled: Vec<&str> = outcome
        .rolled
        .iter()
        .map(|r| r.successor.key.name.as_str())
        .collect();
    // gate-4 is the successor of the first roll: a key like any other.
    assert_eq!(rolled, ["gate-1", "gate-2", "gate-4"]);
    let skipped: Vec<&str> = outcome.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, ["gate-3", "gate-4 (replaced)"]);
    assert_eq!(
        vault.key(None, "gate-4 (replaced 2)").unwrap().replaced_by,
        Some(vault.key(None, "gate-4").unwrap().id),
        "a second roll of a name finds a free one"
    );
    // Filter selections read the keys list's text filter.
    let filtered = vault
        .roll_keys(
            None,
            &KeySelection::Filter("OUTSIDE".into()),
            Duration::ZERO,
        )
        .unwrap();
    assert_eq!(filtered.rolled.len(), 1);
}

#[test]
fn a_long_name_keeps_within_the_limit_when_replaced() {
    let (_temp, mut vault) = vault_with_account(10);
    let long = "r".repeat(64);
    vault.create_key(None, &long, &NewKey::default()).unwrap();
    let outcome = vault
        .roll_keys(None, &named(&[&long]), Duration::hours(1))
        .unwrap();
    let renamed = &outcome.rolled[0].replaced.name;
    assert_eq!(renamed.chars().count(), 64);
    assert!(renamed.ends_with(" (replaced)"));
    assert_eq!(outcome.rolled[0].successor.key.name, long);
}

#[test]
fn the_remote_learns_of_the_rename_before_the_successor_takes_the_name() {
    let (_temp, mut vault) = vault_with_account(10);
    vault.create_key(None, "kiosk", &NewKey::default()).unwrap();
    vault
        .set_remote(
            Some("Acme"),
            "http://127.0.0.1:9",
            &SecretString::from("token-1234"),
            false,
        )
        .unwrap();
    // Everything queued so far has gone out.
    let seqs: Vec<i64> = vault.outbox(None).unwrap().iter().map(|e| e.seq).collect();
    vault.mark_in_flight(&seqs).unwrap();
    let sent = vault.outbox(None).unwrap().len();
    let outcome = vault
        .roll_keys(None, &named(&["kiosk"]), Duration::hours(1))
        .unwrap();
    let queued = vault.outbox(None).unwrap();
    let new: Vec<_> = queued[sent..]
        .iter()
        .map(|entry| match &entry.action {
            ChangeAction::UpsertKey { id, fields } => {
                (id.to_string(), (**fields).clone(), entry.restrictive)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(new.len(), 2);
    let (old_id, rename, narrows) = &new[0];
    assert_eq!(old_id, &outcome.rolled[0].replaced.id);
    assert_eq!(rename.name.as_deref(), Some("kiosk (replaced)"));
    assert_eq!(
        rename.expires_at,
        Some(outcome.rolled[0].replaced.expires_at)
    );
    assert!(narrows, "an earlier expiry narrows the key");
    let (new_id, created, _) = &new[1];
    assert_eq!(new_id, &outcome.rolled[0].successor.key.id);
    assert_eq!(created.name.as_deref(), Some("kiosk"));
    assert!(created.verifier.is_some(), "a whole record");

    // A key that expires before the grace would end: the rename narrows nothing,
    // and is still queued before the successor.
    let soon = NewKey {
        expires_at: Some(now() + Duration::hours(1)),
        ..NewKey::default()
    };
    vault.create_key(None, "scanner", &soon).unwrap();
    let seqs: Vec<i64> = vault.outbox(None).unwrap().iter().map(|e| e.seq).collect();
    vault.mark_in_flight(&seqs).unwrap();
    let sent = vault.outbox(None).unwrap().len();
    vault
        .roll_keys(None, &named(&["scanner"]), Duration::days(1))
        .unwrap();
    let queued: Vec<(bool, Option<String>)> = vault.outbox(None).unwrap()[sent..]
        .iter()
        .map(|entry| match &entry.action {
            ChangeAction::UpsertKey { fields, .. } => (entry.restrictive, fields.name.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        queued,
        [
            (false, Some("scanner (replaced)".to_string())),
            (false, Some("scanner".to_string()))
        ]
    );
}

#[test]
fn the_review_filters_find_expiring_and_stale_keys_but_not_replaced_ones() {
    let (_temp, mut vault) = vault_with_account(20);
    let soon = |days| NewKey {
        expires_at: Some(now() + Duration::days(days)),
        ..NewKey::default()
    };
    vault.create_key(None, "in-10-days", &soon(10)).unwrap();
    vault.create_key(None, "in-20-days", &soon(20)).unwrap();
    vault
        .create_key(None, "forever", &NewKey::default())
        .unwrap();
    let used = vault.create_key(None, "used", &NewKey::default()).unwrap();
    vault
        .roll_keys(None, &named(&["forever"]), Duration::days(3))
        .unwrap();
    let names = |vault: &Vault, filter: KeyFilter| -> Vec<String> {
        vault
            .list_keys(None, &filter)
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect()
    };
    let expiring = KeyFilter {
        expiring_within: Some(Duration::days(14)),
        ..KeyFilter::default()
    };
    assert_eq!(
        names(&vault, expiring.clone()),
        ["in-10-days"],
        "not the key rolling out"
    );
    // Unused: never-used keys count from their creation, so none is stale yet…
    let stale = KeyFilter {
        unused_for: Some(Duration::days(90)),
        ..KeyFilter::default()
    };
    assert!(names(&vault, stale).is_empty());
    // …but all are unused for a moment, except the key used just now.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let request = Request::new(Method::Get, "devices", false).unwrap();
    vault.verify_key(&used.secret, &request).unwrap();
    let moment = KeyFilter {
        unused_for: Some(Duration::milliseconds(10)),
        ..KeyFilter::default()
    };
    assert_eq!(
        names(&vault, moment),
        ["in-10-days", "in-20-days", "forever"],
        "oldest first; the replaced key and the used one are not there"
    );
    let counts = vault.review_counts(None).unwrap();
    assert_eq!(
        (counts.expiring, counts.expiring_days, counts.unused),
        (1, 14, 0)
    );
    let mut settings = vault.settings().unwrap();
    settings.expiry_warning_days = 30;
    vault.update_settings(settings).unwrap();
    assert_eq!(vault.review_counts(None).unwrap().expiring, 2);
}

#[test]
fn the_daily_review_answers_once_a_day() {
    let (temp, mut vault) = vault_with_account(20);
    vault
        .create_key(
            None,
            "soon",
            &NewKey {
                expires_at: Some(now() + Duration::days(2)),
                ..NewKey::default()
            },
        )
        .unwrap();
    let day = |d| Date::from_calendar_date(2026, Month::December, d).unwrap();
    let first = vault.daily_review(day(1)).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].account.as_str(), first[0].expiring), ("Acme", 1));
    assert!(
        vault.daily_review(day(1)).unwrap().is_empty(),
        "once that day"
    );
    drop(vault);
    let mut vault = temp.open();
    assert!(
        vault.daily_review(day(1)).unwrap().is_empty(),
        "remembered in the vault"
    );
    assert_eq!(
        vault.daily_review(day(2)).unwrap().len(),
        1,
        "again the next day"
    );
}

#[test]
fn an_expired_key_is_not_rolled() {
    let (_temp, mut vault) = vault_with_account(10);
    let expiring = NewKey {
        expires_at: Some(now() + Duration::milliseconds(300)),
        ..NewKey::default()
    };
    vault.create_key(None, "brief", &expiring).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let before = snapshot(&vault);
    let err = vault
        .roll_keys(None, &named(&["brief"]), Duration::hours(1))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("has expired"), "{err}");
    assert_eq!(snapshot(&vault), before);
}

#[test]
fn replaced_keys_leave_room_under_the_key_limit() {
    let (_temp, mut vault) = vault_with_account(2);
    vault.create_key(None, "a", &NewKey::default()).unwrap();
    vault.create_key(None, "b", &NewKey::default()).unwrap();
    let full = vault.create_key(None, "c", &NewKey::default());
    assert_eq!(full.unwrap_err().kind(), ErrorKind::LimitReached);
    vault
        .roll_keys(None, &named(&["a", "b"]), Duration::hours(1))
        .unwrap();
    assert_eq!(vault.account("Acme").unwrap().key_count, 2);
    vault.delete_key(None, "a").unwrap();
    vault.create_key(None, "c", &NewKey::default()).unwrap();
    assert_eq!(
        vault.list_keys(None, &KeyFilter::default()).unwrap().len(),
        4
    );
    let full = vault.create_key(None, "d", &NewKey::default());
    assert_eq!(full.unwrap_err().kind(), ErrorKind::LimitReached);
}
