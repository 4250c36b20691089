//! The key rules: names, the key limit, unbind, groups, one-time display,
//! verification order and results, coalesced last-used times.

mod common;

use std::collections::HashSet;

use common::{snapshot, vault_with_account, TempVault};
use keyward_core::{
    AccessType, ErrorKind, KeyFilter, KeyStatus, Method, NewAccount, NewGroup, NewKey, Request,
    SecretString, Vault, VerifyResult,
};
use time::Duration;

fn get(resource: &str) -> Request {
    Request::new(Method::Get, resource, false).unwrap()
}

fn result(vault: &mut Vault, secret: &SecretString, request: &Request) -> VerifyResult {
    vault.verify_key(secret, request).unwrap().result
}

#[test]
fn names_are_trimmed_and_unique_per_account_ignoring_case() {
    let (_temp, mut vault) = vault_with_account(20);
    let created = vault
        .create_key(None, "  Kiosk Nord ", &NewKey::default())
        .unwrap();
    assert_eq!(created.key.name, "Kiosk Nord");
    let before = snapshot(&vault);
    for clash in ["kiosk nord", "KIOSK NORD", " Kiosk Nord"] {
        let err = vault
            .create_key(None, clash, &NewKey::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{clash}");
    }
    vault.create_key(None, "Ärger", &NewKey::default()).unwrap();
    assert_eq!(
        vault
            .create_key(None, "ärger", &NewKey::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    // Another account may reuse the name.
    vault
        .create_account("Other", NewAccount::default())
        .unwrap();
    vault
        .create_key(Some("Other"), "kiosk nord", &NewKey::default())
        .unwrap();
    // Renaming onto a taken name is refused too.
    let err = vault
        .rename_key(Some("Acme"), "Ärger", "KIOSK nord")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(before.len() < snapshot(&vault).len());
}

#[test]
fn bad_names_change_nothing() {
    let (_temp, mut vault) = vault_with_account(20);
    let before = snapshot(&vault);
    for bad in ["", "   ", &"x".repeat(65), "line\nbreak", "nul\0"] {
        let err = vault.create_key(None, bad, &NewKey::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    assert_eq!(snapshot(&vault), before);
}

#[test]
fn the_key_limit_counts_inactive_keys_and_names_the_account() {
    let (_temp, mut vault) = vault_with_account(3);
    for name in ["a", "b", "c"] {
        vault.create_key(None, name, &NewKey::default()).unwrap();
    }
    vault
        .set_key_status(None, "a", KeyStatus::Inactive)
        .unwrap();
    let before = snapshot(&vault);
    let err = vault.create_key(None, "d", &NewKey::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitReached);
    let message = err.to_string();
    assert!(
        message.contains("Acme") && message.contains('3') && message.contains("delete a key"),
        "{message}"
    );
    assert_eq!(snapshot(&vault), before);
    vault.delete_key(None, "a").unwrap();
    vault.create_key(None, "d", &NewKey::default()).unwrap();
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (_temp, mut vault) = vault_with_account(5);
    vault.create_key(None, "taken", &NewKey::default()).unwrap();
    let before = snapshot(&vault);
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // One name taken, one duplicate inside the batch, one past the limit, one bad group.
    assert!(vault
        .create_keys(None, &names(&["n1", "n2", "TAKEN"]), &NewKey::default())
        .is_err());
    assert!(vault
        .create_keys(None, &names(&["n1", "N1"]), &NewKey::default())
        .is_err());
    assert_eq!(
        vault
            .create_keys(None, &names(&["1", "2", "3", "4", "5"]), &NewKey::default())
            .unwrap_err()
            .kind(),
        ErrorKind::LimitReached
    );
    let with_group = NewKey {
        groups: vec!["missing".into()],
        ..Default::default()
    };
    assert_eq!(
        vault
            .create_keys(None, &names(&["n1"]), &with_group)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(snapshot(&vault), before);
    let created = vault
        .create_keys(None, &names(&["n1", "n2", "n3", "n4"]), &NewKey::default())
        .unwrap();
    let secrets: HashSet<&str> = created.iter().map(|c| c.secret.expose()).collect();
    assert_eq!(secrets.len(), 4);
}

#[test]
fn a_read_key_with_unbind_is_refused_not_dropped() {
    let (_temp, mut vault) = vault_with_account(5);
    let new = NewKey {
        access: Some(AccessType::Read),
        allow_unbind: true,
        ..Default::default()
    };
    let err = vault.create_key(None, "reader", &new).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(vault
        .list_keys(None, &KeyFilter::default())
        .unwrap()
        .is_empty());
}

#[test]
fn a_new_key_defaults_to_the_least() {
    let (_temp, mut vault) = vault_with_account(5);
    vault.set_actor("alice").unwrap();
    let key = vault
        .create_key(None, "plain", &NewKey::default())
        .unwrap()
        .key;
    assert_eq!(key.access, AccessType::Read);
    assert!(
        !key.allow_unbind
            && key.groups.is_empty()
            && key.expires_at.is_none()
            && key.last_used_at.is_none()
    );
    assert_eq!(key.status, KeyStatus::Active);
    assert_eq!(key.created_by, "alice");
}

#[test]
fn the_full_key_is_returned_once_and_never_again() {
    let (temp, mut vault) = vault_with_account(5);
    let created = vault.create_key(None, "once", &NewKey::default()).unwrap();
    let secret = created.secret.expose().to_string();
    let body = &secret[3..];
    let listed =
        serde_json::to_string(&vault.list_keys(None, &KeyFilter::default()).unwrap()).unwrap();
    let shown = serde_json::to_string(&vault.key(None, "once").unwrap()).unwrap();
    let audit = serde_json::to_string(&vault.audit_entries(&Default::default()).unwrap()).unwrap();
    let debug = format!("{created:?} {vault:?}");
    for text in [&listed, &shown, &audit, &debug] {
        assert!(!text.contains(body), "the key leaked into {text}");
    }
    assert!(listed.contains(&created.key.hint));
    // Neither the database file nor its WAL holds the key or its body in the clear.
    for file in ["vault.db", "vault.db-wal", "vault.db.header"] {
        let bytes = std::fs::read(temp.dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(body.len()).any(|w| w == body.as_bytes()),
            "{file}"
        );
    }
}

#[test]
fn verification_results_follow_the_documented_order() {
    let (_temp, mut vault) = vault_with_account(10);
    let valid = vault
        .create_key(None, "reader", &NewKey::default())
        .unwrap();
    let id = Some(valid.key.id.clone());
    let check = |vault: &mut Vault, text: &str| {
        vault
            .verify_key(&SecretString::from(text), &get("devices"))
            .unwrap()
    };

    assert_eq!(
        check(&mut vault, valid.secret.expose()).result,
        VerifyResult::Valid
    );
    assert_eq!(check(&mut vault, valid.secret.expose()).key_id, id);
    assert_eq!(check(&mut vault, "").result, VerifyResult::Malformed);
    assert_eq!(check(&mut vault, "hello").result, VerifyResult::Malformed);
    let mut typo = valid.secret.expose().to_string().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        check(&mut vault, std::str::from_utf8(&typo).unwrap()).result,
        VerifyResult::Malformed
    );
    // A well-formed key with a valid checksum that the vault never issued.
    let stranger = keyward_core::key_format::generate("kw").unwrap();
    assert_eq!(
        check(&mut vault, stranger.secret.expose()),
        keyward_core::Verification {
            result: VerifyResult::NotFound,
            key_id: None
        }
    );

    vault
        .set_key_status(None, "reader", KeyStatus::Inactive)
        .unwrap();
    assert_eq!(
        check(&mut vault, valid.secret.expose()).result,
        VerifyResult::Disabled
    );
    vault
        .set_key_status(None, "reader", KeyStatus::Active)
        .unwrap();

    let expiring = NewKey {
        expires_at: Some(keyward_core::now() + Duration::hours(1)),
        ..Default::default()
    };
    let soon = vault.create_key(None, "soon", &expiring).unwrap();
    let later = keyward_core::now() + Duration::hours(2);
    let verdict = vault
        .verify_key_at(&soon.secret, &get("devices"), later)
        .unwrap();
    assert_eq!(verdict.result, VerifyResult::Expired);
    // Disabled is checked before expired.
    vault
        .set_key_status(None, "soon", KeyStatus::Inactive)
        .unwrap();
    assert_eq!(
        vault
            .verify_key_at(&soon.secret, &get("devices"), later)
            .unwrap()
            .result,
        VerifyResult::Disabled
    );

    let post = Request::new(Method::Post, "devices", false).unwrap();
    assert_eq!(
        result(&mut vault, &valid.secret, &post),
        VerifyResult::Forbidden
    );
}

#[test]
fn groups_limit_a_key_to_the_union_of_their_scopes() {
    let (_temp, mut vault) = vault_with_account(10);
    let scopes = |list: &[&str]| list.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>();
    vault
        .create_group(
            None,
            NewGroup {
                name: "readers".into(),
                scopes: scopes(&["devices:read"]),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_group(
            None,
            NewGroup {
                name: "timing".into(),
                scopes: scopes(&["passings:write"]),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_group(
            None,
            NewGroup {
                name: "empty".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let new = NewKey {
        access: Some(AccessType::ReadWrite),
        groups: vec!["readers".into(), "timing".into()],
        ..Default::default()
    };
    let key = vault.create_key(None, "rw", &new).unwrap();
    let request = |m, r: &str| Request::new(m, r, false).unwrap();
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Get, "devices")),
        VerifyResult::Valid
    );
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Post, "passings")),
        VerifyResult::Valid
    );
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Get, "passings")),
        VerifyResult::Forbidden
    );
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Get, "sessions")),
        VerifyResult::Forbidden
    );
    // A group without scopes allows nothing, rather than falling back to the access type.
    vault.set_key_groups(None, "rw", &["empty".into()]).unwrap();
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Get, "devices")),
        VerifyResult::Forbidden
    );
    // No groups: the access type alone.
    vault.set_key_groups(None, "rw", &[]).unwrap();
    assert_eq!(
        result(&mut vault, &key.secret, &request(Method::Get, "sessions")),
        VerifyResult::Valid
    );
}

#[test]
fn unbind_needs_allow_unbind() {
    let (_temp, mut vault) = vault_with_account(10);
    let unbind = Request::new(Method::Delete, "devices", true).unwrap();
    let device = vault
        .create_key(
            None,
            "device",
            &NewKey {
                access: Some(AccessType::Write),
                ..Default::default()
            },
        )
        .unwrap();
    let admin = vault
        .create_key(
            None,
            "admin",
            &NewKey {
                access: Some(AccessType::ReadWrite),
                allow_unbind: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        result(&mut vault, &device.secret, &unbind),
        VerifyResult::Forbidden
    );
    assert_eq!(
        result(&mut vault, &admin.secret, &unbind),
        VerifyResult::Valid
    );
}

#[test]
fn deleting_a_group_in_use_needs_force_and_never_widens_a_key() {
    let (_temp, mut vault) = vault_with_account(10);
    vault
        .create_group(
            None,
            NewGroup {
                name: "g1".into(),
                scopes: vec!["devices:read".parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_group(
            None,
            NewGroup {
                name: "g2".into(),
                scopes: vec!["sessions:read".parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    let only = vault
        .create_key(
            None,
            "only-g1",
            &NewKey {
                groups: vec!["g1".into()],
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_key(
            None,
            "both",
            &NewKey {
                groups: vec!["g1".into(), "g2".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let before = snapshot(&vault);
    let err = vault.delete_group(None, "g1", false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains('2'), "{err}");
    assert_eq!(snapshot(&vault), before);
    let deletion = vault.delete_group(None, "G1", true).unwrap();
    assert_eq!(deletion.keys_affected, 2);
    assert_eq!(deletion.keys_deactivated, vec!["only-g1".to_string()]);
    assert_eq!(
        vault.key(None, "only-g1").unwrap().status,
        KeyStatus::Inactive
    );
    assert_eq!(
        vault.key(None, "both").unwrap().groups,
        vec!["g2".to_string()]
    );
    assert_eq!(
        result(&mut vault, &only.secret, &get("sessions")),
        VerifyResult::Disabled
    );
}

#[test]
fn last_used_is_coalesced_but_never_lost_on_close() {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.create_account("Acme", NewAccount::default()).unwrap();
    let key = vault.create_key(None, "used", &NewKey::default()).unwrap();
    assert!(vault.key(None, "used").unwrap().last_used_at.is_none());
    assert_eq!(
        result(&mut vault, &key.secret, &get("devices")),
        VerifyResult::Valid
    );
    // The verifying process sees the use at once...
    assert!(vault.key(None, "used").unwrap().last_used_at.is_some());
    // ...another process sees it only after the buffer is written (not on every verification).
    let other = temp.open();
    assert!(other.key(None, "used").unwrap().last_used_at.is_none());
    drop(vault);
    let after_close = other.key(None, "used").unwrap().last_used_at;
    assert!(
        after_close.is_some(),
        "closing the vault writes the buffered use"
    );
}

#[test]
fn filters_narrow_the_list() {
    let (_temp, mut vault) = vault_with_account(10);
    vault
        .create_group(
            None,
            NewGroup {
                name: "gate".into(),
                scopes: vec!["devices:read".parse().unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_key(
            None,
            "Gate North",
            &NewKey {
                groups: vec!["gate".into()],
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_key(
            None,
            "Gate South",
            &NewKey {
                description: Some("by the river".into()),
                ..Default::default()
            },
        )
        .unwrap();
    vault.create_key(None, "Kiosk", &NewKey::default()).unwrap();
    vault
        .set_key_status(None, "Kiosk", KeyStatus::Inactive)
        .unwrap();
    let names = |filter: KeyFilter| -> Vec<String> {
        vault
            .list_keys(None, &filter)
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect()
    };
    assert_eq!(
        names(KeyFilter {
            text: Some("gate".into()),
            ..Default::default()
        }),
        ["Gate North", "Gate South"]
    );
    assert_eq!(
        names(KeyFilter {
            text: Some("RIVER".into()),
            ..Default::default()
        }),
        ["Gate South"]
    );
    assert_eq!(
        names(KeyFilter {
            status: Some(KeyStatus::Inactive),
            ..Default::default()
        }),
        ["Kiosk"]
    );
    assert_eq!(
        names(KeyFilter {
            group: Some("Gate".into()),
            ..Default::default()
        }),
        ["Gate North"]
    );
    assert_eq!(
        vault
            .list_keys(
                None,
                &KeyFilter {
                    group: Some("nope".into()),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn every_change_is_audited_without_secrets_and_the_chain_verifies() {
    let (_temp, mut vault) = vault_with_account(10);
    let key = vault.create_key(None, "k", &NewKey::default()).unwrap();
    vault.rename_key(None, "k", "k2").unwrap();
    vault
        .set_key_status(None, "k2", KeyStatus::Inactive)
        .unwrap();
    vault.set_key_status(None, "k2", KeyStatus::Active).unwrap();
    vault.set_key_groups(None, "k2", &[]).unwrap();
    vault.rotate_shared_secret(None).unwrap();
    vault.delete_key(None, "k2").unwrap();
    let entries = vault.audit_entries(&Default::default()).unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "vault.create",
            "account.create",
            "key.create",
            "key.rename",
            "key.deactivate",
            "key.activate",
            "key.set_groups",
            "secret.rotate",
            "key.delete"
        ]
    );
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&key.secret.expose()[3..]));
    let by_key = vault
        .audit_entries(&keyward_core::AuditFilter {
            target: Some(key.key.id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_key.len(), 6);
    assert!(vault.verify_audit().unwrap().ok);
}

#[test]
fn a_key_deleted_elsewhere_is_named_not_shown_by_its_id() {
    let temp = TempVault::new();
    let mut window = temp.create();
    window
        .create_account("Fleet", NewAccount::default())
        .unwrap();
    let kiosk = window
        .create_key(None, "old kiosk", &NewKey::default())
        .unwrap()
        .key;
    // Another process deletes it while this one still holds its id.
    temp.open().delete_key(None, "old kiosk").unwrap();
    let state = snapshot(&window);
    let refused = window
        .set_key_status(None, &kiosk.id, KeyStatus::Inactive)
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotFound);
    assert_eq!(
        refused.to_string(),
        "key \"old kiosk\" not found — it was deleted from account Fleet"
    );
    assert_eq!(snapshot(&window), state, "nothing changed");
    for attempt in [
        window.rename_key(None, &kiosk.id, "new name").unwrap_err(),
        window.delete_key(None, &kiosk.id).unwrap_err(),
        window.set_key_groups(None, &kiosk.id, &[]).unwrap_err(),
    ] {
        assert!(
            !attempt.to_string().contains(&kiosk.id),
            "the id in {attempt}"
        );
    }

    // An id that never was a key here, or a name, is reported as it was given.
    let unknown = "0193a5b0-0000-7000-8000-000000000000";
    assert_eq!(
        window.key(None, unknown).unwrap_err().to_string(),
        format!("key \"{unknown}\" not found — account Fleet has no key with that id or name")
    );
    assert_eq!(
        window.key(None, "old kiosk").unwrap_err().to_string(),
        "key \"old kiosk\" not found — account Fleet has no key with that id or name"
    );
}
