//! The audit log as people read it, on the entries the core really writes: one vault goes
//! through every kind of change (keys, groups, accounts, settings, passphrase, keychain,
//! remote, pulled changes and a sync conflict), and every entry reads as lines of text —
//! no JSON braces, no epoch milliseconds, no internal ids — with the shapes spelled out for
//! each kind. The same entries, with their lines, are the UI's sample
//! (`ui/src/testing/audit-sample.json`): the audit page is tested on them, and this test
//! fails when the committed sample no longer matches what the core writes
//! (`UPDATE_BINDINGS=1 cargo test -p keyward-core --test audit_text` rewrites it).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use common::{fast_kdf, TempVault, PASSPHRASE};
use keyward_core::wire::{
    ChangeResult, Conflict, Entity, GroupRecord, KeyRecord, Outcome, PulledChange, PulledRecord,
    Verifier,
};
use keyward_core::{
    AccessType, AccountChanges, AuditEntry, AuditFilter, AuditLine, GroupChanges, KeySelection,
    KeyStatus, Keychain, NewAccount, NewGroup, NewKey, SecretString, Settings, Vault,
};
use serde_json::{json, Value};
use time::macros::datetime;

const SAMPLE: &str = "../../../ui/src/testing/audit-sample.json";
const PULLED_GROUP: &str = "0193a5b0-0000-7000-8000-00000000a001";
const PULLED_KEY: &str = "0193a5b0-0000-7000-8000-00000000b001";

fn scopes(list: &[&str]) -> Vec<keyward_core::Scope> {
    list.iter().map(|scope| scope.parse().unwrap()).collect()
}

fn group(name: &str, scope_list: &[&str]) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: None,
        scopes: scopes(scope_list),
    }
}

/// A vault that went through every change the core audits, and its entries oldest first.
fn every_kind_of_change() -> (TempVault, Vault, Vec<AuditEntry>) {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault.set_actor("jane").unwrap();
    let account = Some("Fleet");
    vault
        .create_account(
            "Fleet",
            NewAccount {
                prefix: Some("fl".into()),
                key_limit: Some(10),
            },
        )
        .unwrap();
    vault
        .update_account(
            "Fleet",
            AccountChanges {
                key_limit: Some(20),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_group(account, group("gates", &["devices:write"]))
        .unwrap();
    vault
        .create_group(account, group("readers", &["devices:read"]))
        .unwrap();
    vault
        .update_group(
            account,
            "readers",
            GroupChanges {
                rename: Some("dashboards".into()),
                description: Some("Read-only screens".into()),
                scopes: Some(scopes(&["devices:read", "sessions:read"])),
            },
        )
        .unwrap();
    vault
        .create_key(
            account,
            "old kiosk",
            &NewKey {
                access: Some(AccessType::Write),
                groups: vec!["gates".into()],
                expires_at: Some(datetime!(2099-12-04 00:00 UTC)),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_key(
            account,
            "gate 1",
            &NewKey {
                expires_at: Some(datetime!(2099-06-30 12:30 UTC)),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .create_key(
            account,
            "lobby",
            &NewKey {
                groups: vec!["gates".into()],
                ..Default::default()
            },
        )
        .unwrap();
    vault.rename_key(account, "gate 1", "gate north").unwrap();
    vault
        .set_key_groups(
            account,
            "gate north",
            &["gates".to_string(), "dashboards".to_string()],
        )
        .unwrap();
    vault
        .set_key_status(account, "old kiosk", KeyStatus::Inactive)
        .unwrap();
    vault
        .set_key_status(account, "old kiosk", KeyStatus::Active)
        .unwrap();
    vault.delete_key(account, "old kiosk").unwrap();
    // "lobby" had only "gates": it is deactivated, never widened.
    vault.delete_group(account, "gates", true).unwrap();
    vault
        .update_settings(Settings {
            clipboard_clear_seconds: 8,
            ..Settings::default()
        })
        .unwrap();
    vault.rotate_shared_secret(account).unwrap();
    vault
        .change_passphrase(
            &SecretString::from(PASSPHRASE),
            &SecretString::from(PASSPHRASE),
            fast_kdf(),
        )
        .unwrap();
    let keychain = Keychain::in_memory();
    vault.remember_in(&keychain).unwrap();
    vault.forget_in(&keychain).unwrap();

    // Sync: a remote, the queue acknowledged, then a pull and a conflict from elsewhere.
    vault
        .set_remote(
            account,
            "http://127.0.0.1:9",
            &SecretString::from("token-1234"),
            false,
        )
        .unwrap();
    let queued = vault.outbox(account).unwrap();
    let applied: Vec<ChangeResult> = queued
        .iter()
        .map(|entry| ChangeResult {
            idempotency_id: entry.idempotency_id,
            outcome: Outcome::Applied,
            revision: Some(1),
            reason: None,
            conflicts: Vec::new(),
        })
        .collect();
    vault.acknowledge(account, &queued, &applied, &[]).unwrap();
    let north = vault.key(account, "gate north").unwrap();
    let dashboards = vault.group(account, "dashboards").unwrap();
    let pulled_key = KeyRecord {
        name: "made elsewhere".into(),
        description: None,
        access: AccessType::Read,
        allow_unbind: false,
        groups: vec![PULLED_GROUP.parse().unwrap()],
        status: KeyStatus::Active,
        hint: "fl_Abcd…wxyz".into(),
        verifier: Verifier([7; 32]),
        created_at: datetime!(2026-11-30 08:00 UTC),
        created_by: "sam".into(),
        updated_at: datetime!(2026-11-30 08:00 UTC),
        last_used_at: None,
        expires_at: None,
    };
    let north_now = KeyRecord {
        name: "gate north".into(),
        description: Some("North entrance".into()),
        access: AccessType::ReadWrite,
        allow_unbind: true,
        groups: vec![PULLED_GROUP.parse().unwrap()],
        status: KeyStatus::Inactive,
        hint: north.hint.clone(),
        verifier: Verifier([8; 32]),
        created_at: north.created_at,
        created_by: north.created_by.clone(),
        updated_at: north.created_at,
        last_used_at: None,
        expires_at: Some(datetime!(2099-12-04 00:00 UTC)),
    };
    let conflict = Conflict {
        entity: Entity::Key,
        id: north.id.parse().unwrap(),
        name: "gate north".into(),
        field: "status".into(),
        yours: "active".into(),
        kept: "inactive".into(),
        rule: "inactive beats active".into(),
    };
    let access_conflict = Conflict {
        entity: Entity::Key,
        id: north.id.parse().unwrap(),
        name: "gate north".into(),
        field: "access".into(),
        yours: format!(
            "READ_WRITE, groups: dashboards, deleted group {}",
            dashboards.id
        ),
        kept: "READ".into(),
        rule: "the narrower permissions win".into(),
    };
    vault
        .apply_pull(
            account,
            &[
                PulledChange {
                    revision: 1,
                    id: PULLED_GROUP.parse().unwrap(),
                    record: PulledRecord::Group(GroupRecord {
                        name: "night shift".into(),
                        description: "Keys for the night".into(),
                        scopes: scopes(&["passings:read"]),
                        updated_at: datetime!(2026-11-30 08:00 UTC),
                    }),
                },
                PulledChange {
                    revision: 2,
                    id: PULLED_KEY.parse().unwrap(),
                    record: PulledRecord::Key(Box::new(pulled_key)),
                },
                PulledChange {
                    revision: 3,
                    id: north.id.parse().unwrap(),
                    record: PulledRecord::Key(Box::new(north_now)),
                },
            ],
            3,
            &[conflict, access_conflict],
        )
        .unwrap();
    vault
        .apply_pull(
            account,
            &[
                PulledChange {
                    revision: 4,
                    id: PULLED_GROUP.parse().unwrap(),
                    record: PulledRecord::Group(GroupRecord {
                        name: "late shift".into(),
                        description: "Keys for the evening".into(),
                        scopes: scopes(&["passings:read", "sessions:read"]),
                        updated_at: datetime!(2026-11-30 08:00 UTC),
                    }),
                },
                PulledChange {
                    revision: 5,
                    id: PULLED_KEY.parse().unwrap(),
                    record: PulledRecord::KeyDeleted,
                },
                PulledChange {
                    revision: 6,
                    id: dashboards.id.parse().unwrap(),
                    record: PulledRecord::GroupDeleted,
                },
            ],
            6,
            &[],
        )
        .unwrap();
    vault.remove_remote(account, true).unwrap();
    vault
        .create_key(
            account,
            "scanner",
            &NewKey {
                expires_at: Some(datetime!(2099-06-30 12:30 UTC)),
                ..Default::default()
            },
        )
        .unwrap();
    vault
        .roll_keys(
            account,
            &KeySelection::Keys(vec!["scanner".into()]),
            time::Duration::hours(24),
        )
        .unwrap();

    let mut entries = vault.audit_entries(&AuditFilter::default()).unwrap();
    entries.reverse();
    (temp, vault, entries)
}

/// The lines of each entry as the CLI prints them, by entry.
fn printed(vault: &Vault, entries: &[AuditEntry]) -> Vec<(String, Vec<String>)> {
    let lines = vault.describe_audit(entries).unwrap();
    entries
        .iter()
        .zip(lines)
        .map(|(entry, lines)| {
            (
                entry.action.clone(),
                lines.iter().map(AuditLine::to_string).collect(),
            )
        })
        .collect()
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn contains_uuid(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(36)
        .any(|window| is_uuid(&window.iter().collect::<String>()))
}

fn has_epoch_number(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|digits| digits.len() >= 10)
}

/// The lines of the first entry with `action` (and `target`, when given).
fn lines_of<'a>(
    printed: &'a [(String, Vec<String>)],
    entries: &[AuditEntry],
    action: &str,
    target: Option<&str>,
) -> &'a [String] {
    let index = entries
        .iter()
        .position(|entry| {
            entry.action == action
                && target.is_none_or(|name| entry.target_name.as_deref() == Some(name))
        })
        .unwrap_or_else(|| panic!("no {action} entry for {target:?}"));
    &printed[index].1
}

#[test]
fn every_entry_the_core_writes_reads_as_text() {
    let (_temp, vault, entries) = every_kind_of_change();
    let printed = printed(&vault, &entries);
    let actions: BTreeSet<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "vault.create",
        "account.create",
        "account.update",
        "group.create",
        "group.update",
        "group.delete",
        "key.create",
        "key.rename",
        "key.set_groups",
        "key.activate",
        "key.deactivate",
        "key.delete",
        "key.roll",
        "settings.update",
        "secret.rotate",
        "passphrase.change",
        "keychain.remember",
        "keychain.forget",
        "remote.set",
        "remote.remove",
        "sync.conflict",
        "sync.group.create",
        "sync.group.update",
        "sync.group.delete",
        "sync.key.create",
        "sync.key.update",
        "sync.key.delete",
    ]
    .into();
    assert_eq!(actions, expected, "the scenario covers every kind of entry");

    for ((action, lines), entry) in printed.iter().zip(&entries) {
        for line in lines {
            for raw in ['{', '}', '[', ']', '"'] {
                assert!(!line.contains(raw), "{action}: {raw} in {line:?}");
            }
            assert!(
                !has_epoch_number(line),
                "{action}: a raw number in {line:?}"
            );
            assert!(!contains_uuid(line), "{action}: an id in {line:?}");
            assert!(line.contains(": "), "{action}: {line:?} names its field");
        }
        // Every recorded field is read, except what the target column already says
        // and a passphrase change's header digest (a marker for the vault itself).
        let fields = entry.details.as_object().map_or(0, |d| {
            d.len() - usize::from(action == "passphrase.change" && d.contains_key("header"))
        });
        if !matches!(
            action.as_str(),
            "sync.conflict" | "settings.update" | "sync.key.update"
        ) {
            assert_eq!(
                lines.len(),
                fields,
                "{action}: {lines:?} for {}",
                entry.details
            );
        }
    }

    let lines = |action, target| lines_of(&printed, &entries, action, target).to_vec();
    assert_eq!(
        lines("vault.create", None),
        ["key derivation: argon2id, 19 MiB, 2 passes, 1 lane"]
    );
    assert_eq!(
        lines("account.create", None),
        ["prefix: fl", "key limit: 10"]
    );
    assert_eq!(lines("account.update", None), ["key limit: 10 → 20"]);
    assert_eq!(
        lines("group.create", Some("gates")),
        ["scopes: devices:write", "description: —"]
    );
    assert_eq!(
        lines("group.update", Some("dashboards")),
        [
            "name: readers → dashboards",
            "scopes: devices:read, sessions:read",
            "description: Read-only screens"
        ]
    );
    let hint = entries
        .iter()
        .find(|entry| entry.action == "key.create")
        .unwrap()
        .details["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        lines("key.create", Some("old kiosk")),
        [
            "access: WRITE".to_string(),
            "allow unbind: no".into(),
            "groups: gates".into(),
            format!("hint: {hint}"),
            // Stored as the midnight that ends the day: read as the day.
            "expires: 2099-12-03".into(),
        ]
    );
    let gate = lines("key.create", Some("gate 1"));
    assert_eq!(gate[2], "groups: none");
    assert_eq!(gate[4], "expires: 2099-06-30 12:30", "{gate:?}");
    let lobby = lines("key.create", Some("lobby"));
    assert_eq!(lobby[4], "expires: —", "{lobby:?}");
    assert_eq!(lines("key.rename", None), ["name: gate 1 → gate north"]);
    assert_eq!(
        lines("key.set_groups", None),
        ["groups: none → gates, dashboards"]
    );
    assert_eq!(
        lines("key.deactivate", Some("old kiosk")),
        ["status: active → inactive"]
    );
    assert_eq!(lines("key.activate", None), ["status: inactive → active"]);
    let deleted = lines("key.delete", None);
    assert_eq!(deleted[0], "groups: gates", "{deleted:?}");
    assert!(deleted[1].starts_with("hint: fl_"), "{deleted:?}");
    assert_eq!(deleted[2], "last used: —");
    let rolled = lines("key.roll", None);
    assert_eq!(rolled[0], "name: scanner → scanner (replaced)");
    assert!(
        rolled[1].starts_with("expires: 2099-06-30 12:30 → 20"),
        "{rolled:?}"
    );
    assert_eq!(rolled[2], "grace: 1 d");
    assert!(rolled[3].starts_with("successor: fl_"), "{rolled:?}");
    assert_eq!(
        lines("key.deactivate", Some("lobby")),
        [
            "status: active → inactive",
            "reason: its only group gates was deleted"
        ]
    );
    assert_eq!(lines("group.delete", None), ["keys affected: 2"]);
    assert_eq!(
        lines("settings.update", None),
        ["clipboard cleared after: 30 s → 8 s"]
    );
    assert_eq!(lines("secret.rotate", None), Vec::<String>::new());
    assert_eq!(
        lines("remote.set", None),
        [
            "url: http://127.0.0.1:9",
            "sync token: …1234",
            "insecure: no",
            "new remote: yes"
        ]
    );
    assert_eq!(
        lines("remote.remove", None),
        ["url: http://127.0.0.1:9", "changes dropped: 0"]
    );
    assert_eq!(
        lines("sync.conflict", None),
        [
            "status (yours → kept): active → inactive",
            "why: inactive beats active"
        ]
    );
    assert_eq!(
        printed
            .iter()
            .filter(|(action, _)| action == "sync.conflict")
            .nth(1)
            .unwrap()
            .1,
        [
            "access (yours → kept): READ_WRITE, groups: dashboards, a deleted group → READ",
            "why: the narrower permissions win"
        ]
    );
    assert_eq!(lines("sync.group.create", None), ["scopes: passings:read"]);
    assert_eq!(
        lines("sync.group.update", None),
        [
            "name: night shift → late shift",
            "scopes: passings:read, sessions:read",
            "description: Keys for the evening"
        ]
    );
    assert_eq!(
        lines("sync.key.create", None),
        ["access: READ", "hint: fl_Abcd…wxyz"]
    );
    // Pulled key records name their groups by id: read by name, the group's name as now.
    assert_eq!(
        lines("sync.key.update", None),
        [
            "status: active → inactive",
            "access: READ_WRITE",
            "allow unbind: yes",
            "groups: late shift",
            "description: North entrance",
            "expires: 2099-12-03"
        ]
    );
    assert_eq!(lines("sync.key.delete", None), Vec::<String>::new());
    assert_eq!(lines("sync.group.delete", None), ["keys affected: 0"]);
}

#[test]
fn a_group_deleted_since_is_named_as_the_log_last_knew_it() {
    let (_temp, mut vault, _) = every_kind_of_change();
    vault
        .delete_group(Some("Fleet"), "late shift", true)
        .unwrap();
    let entries = vault
        .audit_entries(&AuditFilter {
            action: Some("sync.key.update".into()),
            ..Default::default()
        })
        .unwrap();
    let printed = printed(&vault, &entries);
    assert!(
        printed[0].1.contains(&"groups: late shift".to_string()),
        "{printed:?}"
    );
}

// ---- The UI's sample ------------------------------------------------------------------

/// Replaces what changes from run to run (ids, hints, times) with stable stand-ins, the
/// same stand-in for the same original.
struct Stable {
    ids: HashMap<String, String>,
    hints: HashMap<String, String>,
}

impl Stable {
    fn text(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        let chars: Vec<char> = text.chars().collect();
        for start in 0..chars.len().saturating_sub(35) {
            let window: String = chars[start..start + 36].iter().collect();
            if is_uuid(&window) {
                let next = self.ids.len() + 1;
                let stand_in = self
                    .ids
                    .entry(window.clone())
                    .or_insert_with(|| format!("00000000-0000-7000-8000-{next:012}"))
                    .clone();
                out = out.replace(&window, &stand_in);
            }
        }
        if let Some((prefix, rest)) = out.split_once('_') {
            if rest.chars().count() == 9 && rest.chars().nth(4) == Some('…') && prefix.len() <= 12
            {
                let next = self.hints.len() + 1;
                return self
                    .hints
                    .entry(out.clone())
                    .or_insert_with(|| format!("{prefix}_Hint…{next:04}"))
                    .clone();
            }
        }
        out
    }

    fn value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.text(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(field, v)| (field.clone(), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The entries as the desktop's `list_audit` sends them (each with its lines), newest first,
/// made stable.
fn sample(vault: &Vault, entries: &[AuditEntry]) -> Value {
    let lines = vault.describe_audit(entries).unwrap();
    let mut stable = Stable {
        ids: HashMap::new(),
        hints: HashMap::new(),
    };
    let mut out = Vec::new();
    for (index, (entry, lines)) in entries.iter().zip(lines).enumerate() {
        let mut view = serde_json::to_value(entry).unwrap();
        view["at"] = json!(format!("2026-12-01T09:{index:02}:00Z"));
        if let Some(header) = view["details"].get_mut("header") {
            // A passphrase change's header digest differs in every run.
            *header = json!("0".repeat(64));
        }
        view["lines"] = serde_json::to_value(lines).unwrap();
        if entry.action == "key.roll" {
            // The end of the grace is a day after the run: a day after the entry here.
            let end = format!("2026-12-02T09:{index:02}:00Z");
            view["details"]["expires_at"]["to"] =
                json!(1_796_202_000_000i64 + index as i64 * 60_000);
            for line in view["lines"].as_array_mut().unwrap() {
                if line["field"] == "expires" {
                    line["to"]["at"] = json!(end);
                }
            }
        }
        out.push(stable.value(&view));
    }
    out.reverse();
    Value::Array(out)
}

#[test]
fn the_ui_sample_is_what_the_core_writes() {
    let (_temp, vault, entries) = every_kind_of_change();
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&sample(&vault, &entries)).unwrap()
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: the audit entries or their lines changed. Refresh it with\n  \
         UPDATE_BINDINGS=1 cargo test -p keyward-core --test audit_text\nand commit it.",
        path.display()
    );
}
