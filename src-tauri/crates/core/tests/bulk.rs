//! One action on many keys: each in one transaction with an audit entry per
//! key changed, and a selection that holds a key no longer there refused
//! whole.

mod common;

use common::{snapshot, vault_with_account};
use keyward_core::{
    AccessType, AuditFilter, ErrorKind, KeyStatus, KeysChange, NewGroup, NewKey, Vault,
};

fn setup() -> (common::TempVault, Vault, Vec<String>) {
    let (temp, mut vault) = vault_with_account(20);
    for (name, scope) in [("gates", "devices:write"), ("readers", "devices:read")] {
        vault
            .create_group(
                None,
                NewGroup {
                    name: name.into(),
                    description: None,
                    scopes: vec![scope.parse().unwrap()],
                },
            )
            .unwrap();
    }
    let in_gates = NewKey {
        access: Some(AccessType::ReadWrite),
        groups: vec!["gates".into()],
        ..NewKey::default()
    };
    let names: Vec<String> = ["a", "b", "c"].iter().map(|n| n.to_string()).collect();
    let ids = vault
        .create_keys(None, &names, &in_gates)
        .unwrap()
        .into_iter()
        .map(|created| created.key.id)
        .collect();
    (temp, vault, ids)
}

fn audited(vault: &Vault, action: &str) -> Vec<String> {
    let mut names: Vec<String> = vault
        .audit_entries(&AuditFilter {
            action: Some(action.into()),
            ..AuditFilter::default()
        })
        .unwrap()
        .into_iter()
        .filter_map(|entry| entry.target_name)
        .collect();
    names.sort();
    names
}

#[test]
fn many_keys_are_deactivated_and_activated_with_an_entry_each() {
    let (_temp, mut vault, ids) = setup();
    let changed = vault
        .change_keys(None, &ids[..2], &KeysChange::Deactivate)
        .unwrap();
    assert_eq!(changed.len(), 2);
    assert!(changed.iter().all(|key| key.status == KeyStatus::Inactive));
    assert_eq!(vault.key(None, "c").unwrap().status, KeyStatus::Active);
    assert_eq!(audited(&vault, "key.deactivate"), ["a", "b"]);
    vault
        .change_keys(None, &ids, &KeysChange::Activate)
        .unwrap();
    assert_eq!(
        audited(&vault, "key.activate"),
        ["a", "b"],
        "the key already active is not touched"
    );
}

#[test]
fn groups_are_added_and_removed_across_a_selection() {
    let (_temp, mut vault, ids) = setup();
    vault
        .set_key_groups(None, "c", &["readers".into()])
        .unwrap();
    let changed = vault
        .change_keys(
            None,
            &ids,
            &KeysChange::Groups {
                add: vec!["readers".into()],
                remove: vec!["gates".into()],
            },
        )
        .unwrap();
    for key in &changed {
        assert_eq!(key.groups, ["readers"], "{}", key.name);
    }
    assert_eq!(
        audited(&vault, "key.set_groups"),
        ["a", "b", "c"],
        "c's entry is its own regroup before; it was unchanged by this one"
    );
    let added = vault
        .change_keys(
            None,
            &ids[..1],
            &KeysChange::Groups {
                add: vec!["gates".into()],
                remove: vec![],
            },
        )
        .unwrap();
    assert_eq!(added[0].groups, ["gates", "readers"]);
}

#[test]
fn many_keys_are_deleted_at_once() {
    let (_temp, mut vault, ids) = setup();
    let deleted = vault
        .change_keys(None, &ids[1..], &KeysChange::Delete)
        .unwrap();
    let names: Vec<&str> = deleted.iter().map(|key| key.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);
    let left: Vec<String> = vault
        .list_keys(None, &Default::default())
        .unwrap()
        .into_iter()
        .map(|key| key.name)
        .collect();
    assert_eq!(left, ["a"]);
    assert_eq!(audited(&vault, "key.delete"), ["b", "c"]);
}

#[test]
fn a_selection_with_a_key_gone_or_a_bad_change_changes_nothing() {
    let (_temp, mut vault, ids) = setup();
    vault.delete_key(None, &ids[2]).unwrap();
    let before = snapshot(&vault);
    let groups = |add: &[&str], remove: &[&str]| KeysChange::Groups {
        add: add.iter().map(|g| g.to_string()).collect(),
        remove: remove.iter().map(|g| g.to_string()).collect(),
    };
    let cases: [(&[String], KeysChange, ErrorKind, &str); 6] = [
        (
            &ids,
            KeysChange::Deactivate,
            ErrorKind::NotFound,
            "\"c\" not found — it was deleted",
        ),
        (&ids, KeysChange::Delete, ErrorKind::NotFound, "deleted"),
        (
            &[],
            KeysChange::Delete,
            ErrorKind::InvalidInput,
            "no key selected",
        ),
        (
            &ids[..2],
            groups(&[], &[]),
            ErrorKind::InvalidInput,
            "no group",
        ),
        (
            &ids[..2],
            groups(&["gates"], &["gates"]),
            ErrorKind::InvalidInput,
            "both",
        ),
        (
            &ids[..2],
            groups(&["doors"], &[]),
            ErrorKind::NotFound,
            "doors",
        ),
    ];
    for (selection, what, kind, message) in cases {
        let err = vault.change_keys(None, selection, &what).unwrap_err();
        assert_eq!(err.kind(), kind, "{what:?}: {err}");
        assert!(err.to_string().contains(message), "{err}");
        assert_eq!(snapshot(&vault), before, "{what:?} changed the vault");
    }
}

#[test]
fn many_keys_come_from_a_csv_all_or_none() {
    let (_temp, mut vault, _) = setup();
    let device = NewKey {
        access: Some(AccessType::Write),
        ..NewKey::default()
    };
    let rows = keyward_core::parse_key_csv(
        "name,description,groups\nreader-1,North,gates;readers\nreader-2,,\n",
    )
    .unwrap();
    let created = vault.create_key_rows(None, &rows, &device).unwrap();
    let one = &created[0].key;
    assert_eq!(
        (one.name.as_str(), one.description.as_deref(), one.access),
        ("reader-1", Some("North"), AccessType::Write)
    );
    assert_eq!(one.groups, ["gates", "readers"]);
    assert!(created[1].key.groups.is_empty() && created[1].key.description.is_none());

    let before = snapshot(&vault);
    for (text, kind, message) in [
        (
            "x-1,,gates\nx-2,,doors\n",
            ErrorKind::InvalidInput,
            "line 2: group \"doors\" not found",
        ),
        (
            "x-1\nX-1\n",
            ErrorKind::Conflict,
            "line 2: the name \"X-1\" is on line 1 too",
        ),
        ("x-1\nreader-1\n", ErrorKind::Conflict, "line 2: account"),
        (
            "x-1\n\nbell\u{7}\n",
            ErrorKind::InvalidInput,
            "line 3: the key name contains a control",
        ),
    ] {
        let rows = match keyward_core::parse_key_csv(text) {
            Ok(rows) => rows,
            Err(err) => panic!("{text:?}: {err}"),
        };
        let err = vault.create_key_rows(None, &rows, &device).unwrap_err();
        assert_eq!(err.kind(), kind, "{text:?}: {err}");
        assert!(err.to_string().contains(message), "{err}");
        assert_eq!(snapshot(&vault), before, "{text:?} created something");
    }
}
