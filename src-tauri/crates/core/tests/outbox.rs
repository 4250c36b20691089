//! The outbox and applying a pull: a change to an account with a remote is
//! queued in the same transaction as the change (and a refused change queues
//! nothing); changes not yet sent are laid over one another, what may have
//! been sent never changes; deletes are remembered whether or not the account
//! syncs; a pull is applied whole, never brings back what this vault deleted,
//! stores what breaks the rules repaired, keeps names unique even when it
//! swaps them, and a group deleted elsewhere never widens a key.

mod common;

use common::{snapshot, vault_with_account};
use keyward_core::wire::{
    ChangeAction, ChangeResult, Conflict, Entity, KeyRecord, Outcome, PulledChange, PulledRecord,
    Verifier,
};
use keyward_core::{key_format, AccessType, KeyStatus, NewGroup, NewKey, SecretString, Vault};
use serde_json::Value;
use uuid::Uuid;

const REMOTE: &str = "http://127.0.0.1:9";

fn set_remote(vault: &mut Vault) {
    vault
        .set_remote(
            Some("Acme"),
            REMOTE,
            &SecretString::from("token-1234"),
            false,
        )
        .unwrap();
}

/// The outbox as (entity, op, fields in wire JSON), in the order it is sent.
fn outbox(vault: &Vault) -> Vec<(String, String, Option<Value>)> {
    vault
        .outbox(Some("Acme"))
        .unwrap()
        .into_iter()
        .map(|entry| match entry.action {
            ChangeAction::UpsertGroup { fields, .. } => (
                "group".into(),
                "upsert".into(),
                Some(serde_json::to_value(fields).unwrap()),
            ),
            ChangeAction::UpsertKey { fields, .. } => (
                "key".into(),
                "upsert".into(),
                Some(serde_json::to_value(*fields).unwrap()),
            ),
            ChangeAction::DeleteGroup { .. } => ("group".into(), "delete".into(), None),
            ChangeAction::DeleteKey { .. } => ("key".into(), "delete".into(), None),
        })
        .collect()
}

/// As if a push carried everything queued so far.
fn send_all(vault: &mut Vault) {
    let seqs: Vec<i64> = vault
        .outbox(Some("Acme"))
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    vault.mark_in_flight(&seqs).unwrap();
}

/// The remote's answer: every in-flight entry applied.
fn acknowledge_all(vault: &mut Vault) {
    let entries = vault.outbox(Some("Acme")).unwrap();
    let results: Vec<ChangeResult> = entries
        .iter()
        .map(|entry| ChangeResult {
            idempotency_id: entry.idempotency_id,
            outcome: Outcome::Applied,
            revision: Some(1),
            reason: None,
            conflicts: Vec::new(),
        })
        .collect();
    vault
        .acknowledge(Some("Acme"), &entries, &results, &[])
        .unwrap();
}

fn patches(queued: &[(String, String, Option<Value>)]) -> Vec<String> {
    queued
        .iter()
        .map(|(entity, op, fields)| {
            format!(
                "{entity} {op} {}",
                fields.as_ref().map_or("-".into(), Value::to_string)
            )
        })
        .collect()
}

fn ops_group() -> NewGroup {
    NewGroup {
        name: "ops".into(),
        description: None,
        scopes: vec!["devices:read".parse().unwrap()],
    }
}

#[test]
fn a_remote_needs_a_token_and_keeps_it_without_the_spaces_pasted_around_it() {
    let (_temp, mut vault) = vault_with_account(10);
    for bad in ["", "   ", "two words", "tab\tinside"] {
        let refused = vault.set_remote(Some("Acme"), REMOTE, &SecretString::from(bad), false);
        assert!(refused.is_err(), "{bad:?} was accepted");
    }
    assert_eq!(vault.remote(Some("Acme")).unwrap(), None, "nothing was set");
    let info = vault
        .set_remote(
            Some("Acme"),
            REMOTE,
            &SecretString::from(" token-1234\n"),
            false,
        )
        .unwrap();
    assert_eq!(info.token_hint, "…1234");
    assert_eq!(
        vault.remote_session(Some("Acme")).unwrap().token.expose(),
        "token-1234"
    );
}

#[test]
fn turning_sync_off_is_refused_while_changes_wait_unless_forced_and_keeps_the_keys() {
    let (_temp, mut vault) = vault_with_account(10);
    assert!(
        vault.remove_remote(Some("Acme"), true).is_err(),
        "no remote to remove"
    );
    set_remote(&mut vault);
    vault
        .create_key(Some("Acme"), "k1", &NewKey::default())
        .unwrap();
    let state = snapshot(&vault);
    let refused = vault.remove_remote(Some("Acme"), false).unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("1 changes have not reached the remote"),
        "{refused}"
    );
    assert_eq!(snapshot(&vault), state, "a refusal changes nothing");
    assert_eq!(outbox(&vault).len(), 1);
    assert_eq!(vault.remove_remote(Some("Acme"), true).unwrap(), 1);
    assert_eq!(vault.remote(Some("Acme")).unwrap(), None);
    assert!(outbox(&vault).is_empty());
    vault.rename_key(Some("Acme"), "k1", "k2").unwrap();
    assert!(outbox(&vault).is_empty(), "no remote, nothing queued");
    assert_eq!(
        vault.key(Some("Acme"), "k2").unwrap().name,
        "k2",
        "the keys stay"
    );
}

#[test]
fn without_a_remote_nothing_is_queued() {
    let (_temp, mut vault) = vault_with_account(10);
    vault.create_group(Some("Acme"), ops_group()).unwrap();
    vault
        .create_key(Some("Acme"), "k1", &NewKey::default())
        .unwrap();
    assert!(outbox(&vault).is_empty());
}

#[test]
fn setting_a_remote_queues_the_account_and_each_change_queues_its_patch() {
    let (_temp, mut vault) = vault_with_account(10);
    vault.create_group(Some("Acme"), ops_group()).unwrap();
    let key = vault
        .create_key(Some("Acme"), "k1", &NewKey::default())
        .unwrap()
        .key;
    set_remote(&mut vault);
    let queued = outbox(&vault);
    assert_eq!(queued.len(), 2);
    assert_eq!(
        (queued[0].0.as_str(), queued[0].1.as_str()),
        ("group", "upsert")
    );
    let full = queued[1].2.as_ref().unwrap();
    for field in [
        "name",
        "access",
        "allow_unbind",
        "groups",
        "status",
        "verifier",
        "hint",
        "created_at",
        "created_by",
    ] {
        assert!(
            full.get(field).is_some(),
            "a new key's patch has {field}: {full}"
        );
    }
    assert_eq!(
        full["verifier"].as_str().unwrap().len(),
        64,
        "SHA-256 in hex"
    );

    // Sent (maybe applied): what comes next is queued anew, never laid over it.
    send_all(&mut vault);
    let ops_id = vault.group(Some("Acme"), "ops").unwrap().id;
    vault.rename_key(Some("Acme"), "k1", "k1b").unwrap();
    assert_eq!(
        patches(&outbox(&vault)[2..]),
        [r#"key upsert {"name":"k1b"}"#]
    );
    vault
        .set_key_status(Some("Acme"), "k1b", KeyStatus::Inactive)
        .unwrap();
    vault
        .set_key_groups(Some("Acme"), "k1b", &["ops".into()])
        .unwrap();
    // Not sent yet: one change from the state before to the state after.
    assert_eq!(
        patches(&outbox(&vault)[2..]),
        [format!(
            r#"key upsert {{"access":"READ","allow_unbind":false,"groups":["{ops_id}"],"name":"k1b","status":"inactive"}}"#
        )]
    );
    let sent = vault.outbox(Some("Acme")).unwrap();
    assert!(sent[0].in_flight && sent[1].in_flight && !sent[2].in_flight);
    assert!(sent[2].restrictive, "a deactivation narrows");
    vault.delete_key(Some("Acme"), &key.id).unwrap();
    assert_eq!(
        patches(&outbox(&vault)),
        [
            format!(r#"group upsert {}"#, outbox(&vault)[0].2.as_ref().unwrap()),
            format!(r#"key upsert {}"#, outbox(&vault)[1].2.as_ref().unwrap()),
            "key delete -".to_string(),
        ],
        "a delete replaces what was not sent; what was sent stays as it was"
    );

    // A refused change queues nothing: the outbox is part of its transaction.
    let before = outbox(&vault);
    let state = snapshot(&vault);
    assert!(vault.create_group(Some("Acme"), ops_group()).is_err());
    assert!(vault
        .create_key(
            Some("Acme"),
            "reader",
            &NewKey {
                access: Some(AccessType::Read),
                allow_unbind: true,
                ..NewKey::default()
            }
        )
        .is_err());
    assert_eq!(outbox(&vault), before);
    assert_eq!(snapshot(&vault), state);
}

fn remote_key(name: &str, verifier: u8) -> KeyRecord {
    KeyRecord {
        name: name.into(),
        description: None,
        access: AccessType::Write,
        allow_unbind: false,
        groups: Vec::new(),
        status: KeyStatus::Active,
        hint: "kw_abcd…wxyz".into(),
        verifier: Verifier([verifier; 32]),
        created_at: keyward_core::now(),
        created_by: "other desktop".into(),
        updated_at: keyward_core::now(),
        last_used_at: None,
        expires_at: None,
    }
}

fn pulled(revision: u64, id: &str, record: PulledRecord) -> PulledChange {
    PulledChange {
        revision,
        id: id.parse().unwrap(),
        record,
    }
}

#[test]
fn a_pull_that_swaps_two_names_applies_whole() {
    let (_temp, mut vault) = vault_with_account(10);
    set_remote(&mut vault);
    let a = uuid_like(1);
    let b = uuid_like(2);
    let first = [
        pulled(1, &a, PulledRecord::Key(Box::new(remote_key("north", 1)))),
        pulled(2, &b, PulledRecord::Key(Box::new(remote_key("south", 2)))),
    ];
    assert_eq!(vault.apply_pull(Some("Acme"), &first, 2, &[]).unwrap(), 2);
    let swap = [
        pulled(3, &a, PulledRecord::Key(Box::new(remote_key("south", 1)))),
        pulled(4, &b, PulledRecord::Key(Box::new(remote_key("north", 2)))),
    ];
    let overridden = Conflict {
        entity: Entity::Key,
        id: a.parse().unwrap(),
        name: "south".into(),
        field: "name".into(),
        yours: "north 2".into(),
        kept: "south".into(),
        rule: "the later change wins".into(),
    };
    assert_eq!(
        vault
            .apply_pull(Some("Acme"), &swap, 4, std::slice::from_ref(&overridden))
            .unwrap(),
        2
    );
    let audited = vault
        .audit_entries(&keyward_core::AuditFilter {
            action: Some("sync.conflict".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(
        audited[0].details,
        serde_json::to_value(&overridden).unwrap()
    );
    assert_eq!(vault.key(Some("Acme"), &a).unwrap().name, "south");
    assert_eq!(vault.key(Some("Acme"), &b).unwrap().name, "north");
    assert!(
        outbox(&vault).is_empty(),
        "nothing to send back: {:?}",
        outbox(&vault)
    );
    // Pulling the same again changes nothing.
    assert_eq!(vault.apply_pull(Some("Acme"), &swap, 4, &[]).unwrap(), 0);
    assert!(vault.verify_audit().unwrap().ok);
}

#[test]
fn a_group_deleted_elsewhere_deactivates_the_keys_it_leaves_with_none() {
    let (_temp, mut vault) = vault_with_account(10);
    vault.create_group(Some("Acme"), ops_group()).unwrap();
    vault
        .create_key(
            Some("Acme"),
            "k1",
            &NewKey {
                access: Some(AccessType::ReadWrite),
                groups: vec!["ops".into()],
                ..NewKey::default()
            },
        )
        .unwrap();
    set_remote(&mut vault);
    send_all(&mut vault);
    let queued = outbox(&vault).len();
    let ops = vault.group(Some("Acme"), "ops").unwrap().id;
    vault
        .apply_pull(
            Some("Acme"),
            &[pulled(9, &ops, PulledRecord::GroupDeleted)],
            9,
            &[],
        )
        .unwrap();
    let key = vault.key(Some("Acme"), "k1").unwrap();
    assert_eq!(
        key.status,
        KeyStatus::Inactive,
        "never widened to READ_WRITE alone"
    );
    assert!(key.groups.is_empty());
    let sent: Vec<_> = outbox(&vault)[queued..]
        .iter()
        .map(|(_, _, fields)| fields.clone().unwrap().to_string())
        .collect();
    assert_eq!(
        sent,
        [r#"{"access":"READ_WRITE","allow_unbind":false,"groups":[],"status":"inactive"}"#],
        "one change: the key never passes through READ_WRITE alone"
    );
}

fn uuid_like(n: u8) -> String {
    format!("01900000-0000-7000-8000-0000000000{n:02}")
}

#[test]
fn a_delete_made_while_sync_is_off_is_sent_when_it_is_turned_on_again() {
    let (_temp, mut vault) = vault_with_account(10);
    set_remote(&mut vault);
    vault.create_group(Some("Acme"), ops_group()).unwrap();
    let gate = vault
        .create_key(Some("Acme"), "gate1", &NewKey::default())
        .unwrap()
        .key;
    send_all(&mut vault);
    acknowledge_all(&mut vault);
    vault.remove_remote(Some("Acme"), false).unwrap();
    vault.delete_key(Some("Acme"), "gate1").unwrap();
    vault.delete_group(Some("Acme"), "ops", false).unwrap();
    assert!(outbox(&vault).is_empty(), "no remote, nothing queued");
    set_remote(&mut vault);
    let queued = vault.outbox(Some("Acme")).unwrap();
    let deletes: Vec<Uuid> = queued
        .iter()
        .filter_map(|entry| match entry.action {
            ChangeAction::DeleteKey { id } | ChangeAction::DeleteGroup { id } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(deletes.len(), 2, "{queued:?}");
    assert!(deletes.contains(&gate.id.parse().unwrap()));
    assert!(
        queued[..2].iter().all(|entry| entry.restrictive),
        "deletes go first"
    );
}

#[test]
fn a_pull_never_brings_back_what_this_vault_deleted() {
    let (_temp, mut vault) = vault_with_account(10);
    set_remote(&mut vault);
    let gate = vault
        .create_key(Some("Acme"), "gate1", &NewKey::default())
        .unwrap()
        .key;
    send_all(&mut vault);
    acknowledge_all(&mut vault);
    vault.remove_remote(Some("Acme"), false).unwrap();
    vault.delete_key(Some("Acme"), "gate1").unwrap();
    set_remote(&mut vault);
    send_all(&mut vault);
    acknowledge_all(&mut vault);
    // The remote still answers with the key as it held it before the delete arrived.
    let stale = [pulled(
        5,
        &gate.id,
        PulledRecord::Key(Box::new(remote_key("gate1", 7))),
    )];
    vault.apply_pull(Some("Acme"), &stale, 5, &[]).unwrap();
    assert!(vault.key(Some("Acme"), &gate.id).is_err(), "not re-created");
    assert_eq!(
        patches(&outbox(&vault)),
        ["key delete -"],
        "its delete goes out again"
    );
    vault.apply_pull(Some("Acme"), &stale, 5, &[]).unwrap();
    assert_eq!(outbox(&vault).len(), 1, "queued once");
}

#[test]
fn names_and_descriptions_holding_a_key_are_refused_and_repaired_on_pull() {
    let (_temp, mut vault) = vault_with_account(10);
    let key = key_format::generate("kw").unwrap();
    let pasted = format!("copy of {}", key.secret.expose());
    let state = snapshot(&vault);
    let refused = vault
        .create_key(Some("Acme"), &pasted, &NewKey::default())
        .unwrap_err();
    assert_eq!(refused.kind(), keyward_core::ErrorKind::InvalidInput);
    assert!(!refused.to_string().contains(key.secret.expose()));
    let with_description = NewKey {
        description: Some(pasted.clone()),
        ..NewKey::default()
    };
    assert!(vault
        .create_key(Some("Acme"), "ok", &with_description)
        .is_err());
    assert_eq!(snapshot(&vault), state, "nothing stored");

    set_remote(&mut vault);
    let id = "01900000-0000-7000-8000-000000000042";
    let mut bad = remote_key(&pasted, 3);
    bad.description = Some(format!("see {}", key.secret.expose()));
    bad.access = AccessType::Read;
    bad.allow_unbind = true;
    vault
        .apply_pull(
            Some("Acme"),
            &[pulled(3, id, PulledRecord::Key(Box::new(bad)))],
            3,
            &[],
        )
        .unwrap();
    let stored = vault.key(Some("Acme"), id).unwrap();
    assert_eq!(stored.name, "copy of [key removed]");
    assert_eq!(stored.description.as_deref(), Some("see [key removed]"));
    assert!(!stored.allow_unbind, "a READ key never unbinds");
    let text = snapshot(&vault);
    assert!(
        !text.contains(&key.secret.expose()[3..]),
        "the key is nowhere in the vault"
    );
    let repair = patches(&outbox(&vault)).join(" ");
    assert!(
        repair.contains("copy of [key removed]"),
        "the repair goes back: {repair}"
    );
}

#[test]
fn a_refused_change_is_kept_aside_and_what_of_it_narrows_is_queued_again() {
    let (_temp, mut vault) = vault_with_account(10);
    set_remote(&mut vault);
    vault
        .create_key(Some("Acme"), "gate2", &NewKey::default())
        .unwrap();
    send_all(&mut vault);
    acknowledge_all(&mut vault);
    vault.rename_key(Some("Acme"), "gate2", "gate two").unwrap();
    vault
        .set_key_status(Some("Acme"), "gate two", KeyStatus::Inactive)
        .unwrap();
    send_all(&mut vault);
    let entries = vault.outbox(Some("Acme")).unwrap();
    let results = [ChangeResult {
        idempotency_id: entries[0].idempotency_id,
        outcome: Outcome::Refused,
        revision: None,
        reason: Some("the key name breaks a rule of this server".into()),
        conflicts: Vec::new(),
    }];
    let refused = vault
        .acknowledge(Some("Acme"), &entries, &results, &[])
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].name, "gate two");
    assert_eq!(refused[0].fields, ["name", "status"]);
    let state = vault.sync_state(Some("Acme")).unwrap();
    assert_eq!(state.refused, refused, "kept for `remote show`");
    assert_eq!(
        patches(&outbox(&vault)),
        [r#"key upsert {"status":"inactive"}"#],
        "the deactivation still goes out, on its own"
    );
    // Once a later change of the key goes through, the refusal is moot.
    send_all(&mut vault);
    acknowledge_all(&mut vault);
    assert!(vault.sync_state(Some("Acme")).unwrap().refused.is_empty());
}
