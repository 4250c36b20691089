//! The outbox and applying a pull: a change to an account with a remote is
//! queued in the same transaction as the change (and a refused change queues
//! nothing); a pull is applied whole, names stay unique even when a pull
//! swaps them, and a group deleted elsewhere never widens a key.

mod common;

use common::{snapshot, vault_with_account};
use keyward_core::{
    AccessType, KeyStatus, NewGroup, NewKey, Pulled, PulledRecord, RemoteKey, SecretString, Vault,
};
use serde_json::Value;

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

fn outbox(vault: &Vault) -> Vec<(String, String, Option<Value>)> {
    vault
        .outbox(Some("Acme"))
        .unwrap()
        .into_iter()
        .map(|entry| (entry.entity, entry.op, entry.fields))
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

    vault.rename_key(Some("Acme"), "k1", "k1b").unwrap();
    vault
        .set_key_status(Some("Acme"), "k1b", KeyStatus::Inactive)
        .unwrap();
    vault
        .set_key_groups(Some("Acme"), "k1b", &["ops".into()])
        .unwrap();
    vault.delete_key(Some("Acme"), &key.id).unwrap();
    let patches: Vec<String> = outbox(&vault)[2..]
        .iter()
        .map(|(entity, op, fields)| {
            format!(
                "{entity} {op} {}",
                fields.as_ref().map_or("-".into(), Value::to_string)
            )
        })
        .collect();
    let ops_id = vault.group(Some("Acme"), "ops").unwrap().id;
    assert_eq!(
        patches,
        [
            r#"key upsert {"name":"k1b"}"#.to_string(),
            r#"key upsert {"status":"inactive"}"#.to_string(),
            format!(r#"key upsert {{"access":"READ","allow_unbind":false,"groups":["{ops_id}"]}}"#),
            "key delete -".to_string(),
        ]
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

fn remote_key(name: &str, verifier: u8) -> RemoteKey {
    RemoteKey {
        name: name.into(),
        description: None,
        access: AccessType::Write,
        allow_unbind: false,
        groups: Vec::new(),
        status: KeyStatus::Active,
        hint: "kw_abcd…wxyz".into(),
        verifier: [verifier; 32],
        created_at: keyward_core::now(),
        created_by: "other desktop".into(),
        last_used_at: None,
        expires_at: None,
    }
}

fn pulled(revision: u64, id: &str, record: PulledRecord) -> Pulled {
    Pulled {
        revision,
        id: id.into(),
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
    let overridden = serde_json::json!({
        "entity": "key", "id": a, "name": "south", "field": "name",
        "yours": "north 2", "kept": "south", "rule": "the later change wins"
    });
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
    assert_eq!(audited[0].details, overridden);
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
        [
            r#"{"access":"READ_WRITE","allow_unbind":false,"groups":[]}"#,
            r#"{"status":"inactive"}"#
        ]
    );
}

fn uuid_like(n: u8) -> String {
    format!("01900000-0000-7000-8000-0000000000{n:02}")
}
