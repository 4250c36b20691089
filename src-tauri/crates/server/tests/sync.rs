//! The sync client against the real `keyward-server` on a loopback port with
//! a real database file: two desktops (two vaults), each with its own sync token,
//! change keys offline, sync in various orders and end up the same; a key
//! made on one desktop verifies on the server and its use reaches both.

#[path = "../../sync/tests/support/fault_proxy.rs"]
mod fault_proxy;
mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fault_proxy::{Fault, FaultProxy};
use keyward_core::{AccessType, GroupChanges, KeyStatus, NewGroup, NewKey, SecretString, Vault};
use keyward_sync::{sync, SyncError, SyncOptions, SyncReport};
use support::Server;
use tempfile::TempDir;

const ACCOUNT: &str = "Acme";

struct Desktop {
    _dir: TempDir,
    path: PathBuf,
    vault: Vault,
}

impl Desktop {
    /// A vault with account Acme, its remote set to `server` with `token`.
    fn new(server: &Server, token: &str) -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let mut vault = support::desktop_vault(dir.path(), ACCOUNT, 100);
        vault
            .set_remote(
                Some(ACCOUNT),
                &server.url,
                &SecretString::from(token),
                false,
            )
            .unwrap();
        Desktop {
            _dir: dir,
            path,
            vault,
        }
    }

    fn sync(&mut self) -> Result<SyncReport, SyncError> {
        self.sync_with(&SyncOptions::default())
    }

    fn sync_with(&mut self, options: &SyncOptions) -> Result<SyncReport, SyncError> {
        sync(&RefCell::new(&mut self.vault), Some(ACCOUNT), options)
    }

    fn synced(&mut self) -> SyncReport {
        self.sync()
            .unwrap_or_else(|err| panic!("sync failed: {err}"))
    }

    fn pending(&self) -> u64 {
        self.vault
            .sync_state(Some(ACCOUNT))
            .unwrap()
            .pending_changes
    }

    /// Everything the two desktops must agree on, in a comparable form.
    fn state(&self) -> String {
        let mut out = String::new();
        for group in self.vault.list_groups(Some(ACCOUNT)).unwrap() {
            out += &format!(
                "group {} {:?} {:?} {:?}\n",
                group.id, group.name, group.description, group.scopes
            );
        }
        let mut keys = self
            .vault
            .list_keys(Some(ACCOUNT), &Default::default())
            .unwrap();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        for key in keys {
            out += &format!(
                "key {} {:?} {:?} {} {} {:?} {} {} {:?}\n",
                key.id,
                key.name,
                key.description,
                key.access,
                key.allow_unbind,
                key.groups,
                key.status.as_str(),
                key.hint,
                key.expires_at
            );
        }
        out
    }
}

fn new_key(access: AccessType, groups: &[&str]) -> NewKey {
    NewKey {
        access: Some(access),
        allow_unbind: access != AccessType::Read,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..NewKey::default()
    }
}

fn group(name: &str, scopes: &[&str]) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: Some(format!("{name} team")),
        scopes: scopes.iter().map(|s| s.parse().unwrap()).collect(),
    }
}

/// Syncs both desktops until a whole round changes nothing and nothing is
/// pending (at most four rounds: a pull may queue a consequence, such as a
/// key deactivated because its only group went away).
fn settle(a: &mut Desktop, b: &mut Desktop) {
    for _ in 0..4 {
        let ra = a.synced();
        let rb = b.synced();
        eprintln!(
            "round: a {ra:?} pending {}; b {rb:?} pending {}",
            a.pending(),
            b.pending()
        );
        if ra.pulled == 0 && rb.pulled == 0 && a.pending() == 0 && b.pending() == 0 {
            return;
        }
    }
    panic!("the desktops did not settle in four rounds");
}

fn key_status(desktop: &Desktop, name: &str) -> KeyStatus {
    desktop.vault.key(Some(ACCOUNT), name).unwrap().status
}

/// Both desktops start from the same synced state: two groups and three keys.
fn two_desktops() -> (Server, Desktop, Desktop) {
    let server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let mut a = Desktop::new(&server, &token);
    let mut b = Desktop::new(&server, &server.token(ACCOUNT));
    a.vault
        .create_group(
            Some(ACCOUNT),
            group("ops", &["devices:read", "devices:write"]),
        )
        .unwrap();
    a.vault
        .create_group(Some(ACCOUNT), group("gate", &["passings:write"]))
        .unwrap();
    for (name, access, groups) in [
        ("gate 1", AccessType::Write, &["gate"][..]),
        ("timing", AccessType::ReadWrite, &["ops"][..]),
        ("dashboard", AccessType::Read, &[][..]),
    ] {
        a.vault
            .create_key(Some(ACCOUNT), name, &new_key(access, groups))
            .unwrap();
    }
    let pushed = a.synced();
    assert_eq!(pushed.pushed, 5, "two groups and three keys go out");
    assert_eq!(a.pending(), 0);
    let first = b.synced();
    assert_eq!(first.pulled, 5, "b receives everything a made");
    assert_eq!(a.state(), b.state());
    (server, a, b)
}

/// The same offline edits on both desktops, synced in the order given.
fn offline_edits_then_sync(order: &[char]) -> (Desktop, Desktop, Vec<SyncReport>) {
    let (_server, mut a, mut b) = two_desktops();
    // Desktop a, offline.
    a.vault
        .rename_key(Some(ACCOUNT), "gate 1", "gate north")
        .unwrap();
    a.vault
        .set_key_status(Some(ACCOUNT), "timing", KeyStatus::Inactive)
        .unwrap();
    a.vault
        .update_group(
            Some(ACCOUNT),
            "ops",
            GroupChanges {
                description: Some("operations".into()),
                ..GroupChanges::default()
            },
        )
        .unwrap();
    a.vault
        .create_key(Some(ACCOUNT), "kiosk", &new_key(AccessType::Read, &[]))
        .unwrap();
    // Desktop b, offline: edits of other fields, a delete, and the same name.
    b.vault
        .set_key_groups(Some(ACCOUNT), "gate 1", &["gate".into(), "ops".into()])
        .unwrap();
    b.vault.delete_key(Some(ACCOUNT), "dashboard").unwrap();
    b.vault
        .set_key_status(Some(ACCOUNT), "timing", KeyStatus::Inactive)
        .unwrap();
    b.vault
        .set_key_status(Some(ACCOUNT), "timing", KeyStatus::Active)
        .unwrap();
    b.vault
        .create_key(Some(ACCOUNT), "kiosk", &new_key(AccessType::Read, &[]))
        .unwrap();
    let mut reports = Vec::new();
    for desktop in order {
        reports.push(match desktop {
            'a' => a.synced(),
            _ => b.synced(),
        });
    }
    settle(&mut a, &mut b);
    (a, b, reports)
}

#[test]
fn two_desktops_converge_whatever_order_they_sync_in() {
    for order in [
        &['a', 'b'][..],
        &['b', 'a'],
        &['a', 'a', 'b'],
        &['b', 'b', 'a'],
    ] {
        let (a, b, _) = offline_edits_then_sync(order);
        assert_eq!(a.state(), b.state(), "order {order:?}");
        // Edits of different fields both survive.
        let gate = a.vault.key(Some(ACCOUNT), "gate north").unwrap();
        assert_eq!(gate.groups, ["gate", "ops"], "order {order:?}");
        // Deactivated on one side, reactivated on the other: inactive wins.
        assert_eq!(
            key_status(&a, "timing"),
            KeyStatus::Inactive,
            "order {order:?}"
        );
        // A delete on one side is a delete everywhere.
        assert!(a.vault.key(Some(ACCOUNT), "dashboard").is_err());
        assert_eq!(
            a.vault.group(Some(ACCOUNT), "ops").unwrap().description,
            "operations"
        );
        // Two keys named "kiosk" made offline: both kept, one renamed.
        let names: Vec<String> = a
            .vault
            .list_keys(Some(ACCOUNT), &Default::default())
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .filter(|n| n.starts_with("kiosk"))
            .collect();
        assert_eq!(names.len(), 2, "order {order:?}: {names:?}");
        assert!(names.contains(&"kiosk".to_string()) && names.contains(&"kiosk (2)".to_string()));
    }
}

#[test]
fn an_overridden_change_is_reported_and_audited() {
    let (a, b, reports) = offline_edits_then_sync(&['a', 'b']);
    let b_report = &reports[1];
    let overridden: Vec<_> = b_report
        .conflicts
        .iter()
        .filter(|c| c.field == "status" && c.yours == "active")
        .collect();
    assert_eq!(overridden.len(), 1, "{:?}", b_report.conflicts);
    assert_eq!(overridden[0].kept, "inactive");
    assert_eq!(overridden[0].name, "timing");
    let audited = b
        .vault
        .audit_entries(&keyward_core::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "sync.conflict")
        .count();
    assert!(audited >= 1, "the override is in b's audit log");
    assert!(b.vault.verify_audit().unwrap().ok);
    assert!(a.vault.verify_audit().unwrap().ok);
}

#[test]
fn a_desktop_whose_pushed_change_was_overridden_later_hears_of_it_on_its_next_pull() {
    let (_server, mut a, mut b) = two_desktops();
    // b renames first and pushes first; a renames the same key later, offline.
    b.vault
        .rename_key(Some(ACCOUNT), "dashboard", "board b")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    a.vault
        .rename_key(Some(ACCOUNT), "dashboard", "board a")
        .unwrap();
    assert!(
        b.synced().conflicts.is_empty(),
        "b pushed first: nothing to merge yet"
    );
    let a_report = a.synced();
    assert_eq!(a_report.conflicts.len(), 1, "{:?}", a_report.conflicts);
    assert_eq!(
        a_report.conflicts[0].kept, "board a",
        "the later change wins"
    );
    // b pushed first, so only its next pull can tell it its name was overridden.
    let b_report = b.synced();
    let told: Vec<_> = b_report
        .conflicts
        .iter()
        .map(|c| (c.field.as_str(), c.yours.as_str(), c.kept.as_str()))
        .collect();
    assert_eq!(told, [("name", "board b", "board a")]);
    let audited = b
        .vault
        .audit_entries(&keyward_core::AuditFilter {
            action: Some("sync.conflict".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audited.len(), 1, "b's audit log records the override");
    assert!(b.synced().conflicts.is_empty(), "told once");
    assert_eq!(a.state(), b.state());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_on_one_desktop_verifies_on_the_server_and_its_use_reaches_both() {
    let server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let mut a = Desktop::new(&server, &token);
    let mut b = Desktop::new(&server, &server.token(ACCOUNT));
    let created = a
        .vault
        .create_key(Some(ACCOUNT), "reader", &new_key(AccessType::Read, &[]))
        .unwrap();
    let secret = created.secret.expose().to_string();
    // Not on the server yet: the desktop works offline.
    assert_eq!(
        server.verify(&secret, "GET", "devices").await["result"],
        "NOT_FOUND"
    );
    // The client runs its requests on a thread of its own, so it may be
    // called from this async test directly.
    a.synced();
    b.synced();
    let verified = server.verify(&secret, "GET", "devices").await;
    assert_eq!(verified["result"], "VALID");
    assert_eq!(verified["key_id"], created.key.id.as_str());
    assert_eq!(
        server.verify(&secret, "POST", "devices").await["result"],
        "FORBIDDEN"
    );
    a.synced();
    b.synced();
    for desktop in [&a, &b] {
        let key = desktop.vault.key(Some(ACCOUNT), "reader").unwrap();
        assert!(
            key.last_used_at.is_some(),
            "the server's use reached {:?}",
            desktop.path
        );
    }
    // Deactivated on b: the server refuses it after b syncs.
    b.vault
        .set_key_status(Some(ACCOUNT), "reader", KeyStatus::Inactive)
        .unwrap();
    b.synced();
    assert_eq!(
        server.verify(&secret, "GET", "devices").await["result"],
        "DISABLED"
    );
}

#[test]
fn an_unreachable_remote_keeps_every_change_for_the_next_sync() {
    let mut server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let mut a = Desktop::new(&server, &token);
    a.vault
        .create_group(Some(ACCOUNT), group("ops", &["devices:read"]))
        .unwrap();
    for name in ["k1", "k2"] {
        a.vault
            .create_key(Some(ACCOUNT), name, &new_key(AccessType::Read, &["ops"]))
            .unwrap();
    }
    let outbox = a.vault.outbox(Some(ACCOUNT)).unwrap();
    assert_eq!(outbox.len(), 3);
    server.stop();
    let err = a.sync().unwrap_err();
    assert!(
        matches!(err, SyncError::Unreachable { pending: 3, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("remote unreachable — 3 changes kept for the next sync"),
        "{err}"
    );
    assert_eq!(
        a.vault.outbox(Some(ACCOUNT)).unwrap(),
        outbox,
        "nothing lost or changed"
    );
    let state = a.vault.sync_state(Some(ACCOUNT)).unwrap();
    assert!(state.last_error.unwrap().starts_with("remote unreachable"));
    assert_eq!(state.last_sync_at, None);
}

#[test]
fn a_revoked_token_is_reported_and_keeps_the_outbox() {
    let server = Server::start(&[]);
    let mut a = Desktop::new(&server, "kws_not-a-token-the-server-made");
    a.vault
        .create_key(Some(ACCOUNT), "k1", &new_key(AccessType::Read, &[]))
        .unwrap();
    let err = a.sync().unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized(_)), "{err:?}");
    assert_eq!(a.pending(), 1);
}

/// The idempotency ids of every change the desktop has queued so far.
fn queued_ids(desktop: &Desktop, seen: &mut BTreeSet<String>) {
    for entry in desktop.vault.outbox(Some(ACCOUNT)).unwrap() {
        seen.insert(entry.idempotency_id.to_string());
    }
}

fn read_only(db: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// The idempotency ids the server applied, read from its database file.
fn applied_ids(db: &std::path::Path) -> BTreeSet<String> {
    let conn = read_only(db);
    let mut statement = conn
        .prepare("SELECT idempotency_id FROM applied_changes")
        .unwrap();
    let ids = statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    ids
}

/// The server's revision counters (`accounts.revision` in its database file,
/// summed): every change it applies, and nothing else here, takes one new revision,
/// so a change applied twice under one idempotency id shows as one too many.
fn server_revision(db: &std::path::Path) -> usize {
    read_only(db)
        .query_row(
            "SELECT CAST(total(revision) AS INTEGER) FROM accounts",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap() as usize
}

fn server_key_count(db: &std::path::Path) -> i64 {
    read_only(db)
        .query_row("SELECT count(*) FROM keys WHERE deleted = 0", [], |row| {
            row.get(0)
        })
        .unwrap()
}

/// Every change applied exactly once: the server holds each queued id, no
/// other, and took one revision per change.
fn assert_each_applied_once(db: &std::path::Path, queued: &BTreeSet<String>) {
    assert_eq!(
        &applied_ids(db),
        queued,
        "every change the desktops made is on the server, and no other"
    );
    assert_eq!(
        server_revision(db),
        queued.len(),
        "one revision per change: none was applied twice"
    );
}

/// Small pushes and small pull pages, so that a sync of a few changes takes
/// several of each and a fault can hit the second.
fn small_batches() -> SyncOptions {
    SyncOptions {
        push_batch_changes: 2,
        pull_page: 2,
        ..SyncOptions::default()
    }
}

/// The live keys and groups as `name access unbind [groups] status` lines,
/// sorted: what the test expects, what a desktop holds, what the server holds.
fn listing(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut lines: Vec<String> = lines.into_iter().collect();
    lines.sort();
    lines
}

fn desktop_listing(desktop: &Desktop) -> Vec<String> {
    let groups = desktop.vault.list_groups(Some(ACCOUNT)).unwrap();
    let keys = desktop
        .vault
        .list_keys(Some(ACCOUNT), &Default::default())
        .unwrap();
    listing(
        groups
            .iter()
            .map(|g| {
                let scopes: Vec<String> = g.scopes.iter().map(|s| s.to_string()).collect();
                format!("group {} {scopes:?}", g.name)
            })
            .chain(keys.iter().map(|k| {
                format!(
                    "key {} {} {} {:?} {}",
                    k.name,
                    k.access,
                    k.allow_unbind,
                    k.groups,
                    k.status.as_str()
                )
            })),
    )
}

fn server_listing(pulled: &serde_json::Value) -> Vec<String> {
    let changes = pulled["changes"].as_array().unwrap();
    let group_names: std::collections::BTreeMap<String, String> = changes
        .iter()
        .filter(|c| c["entity"] == "group" && c["op"] == "upsert")
        .map(|c| {
            let name = c["group"]["name"].as_str().unwrap().to_string();
            (c["id"].as_str().unwrap().to_string(), name)
        })
        .collect();
    listing(changes.iter().filter(|c| c["op"] == "upsert").map(|c| {
        if c["entity"] == "group" {
            let scopes: Vec<&str> = c["group"]["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            return format!("group {} {scopes:?}", c["group"]["name"].as_str().unwrap());
        }
        let key = &c["key"];
        let groups: Vec<&str> = key["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| group_names[id.as_str().unwrap()].as_str())
            .collect();
        format!(
            "key {} {} {} {groups:?} {}",
            key["name"].as_str().unwrap(),
            key["access"].as_str().unwrap(),
            key["allow_unbind"],
            key["status"].as_str().unwrap()
        )
    }))
}

#[test]
fn dropped_delayed_duplicated_and_cut_requests_lose_no_change_and_apply_none_twice() {
    use keyward_sync::paths::{PULL, PUSH};
    let server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(FaultProxy::start(server.addr));
    // Desktop a talks through the proxy, in small pushes and pull pages;
    // desktop b straight to the server.
    let mut a = Desktop::new(&server, &token);
    a.vault
        .set_remote(
            Some(ACCOUNT),
            &proxy.url(),
            &SecretString::from(token.as_str()),
            false,
        )
        .unwrap();
    let small = small_batches();
    let mut b = Desktop::new(&server, &server.token(ACCOUNT));
    let mut queued = BTreeSet::new();
    a.vault
        .create_group(
            Some(ACCOUNT),
            group("ops", &["devices:read", "devices:write"]),
        )
        .unwrap();
    // A key both desktops rename every round: a conflict a is told of each time.
    let shared = a
        .vault
        .create_key(Some(ACCOUNT), "shared", &new_key(AccessType::Read, &[]))
        .unwrap()
        .key
        .id;
    a.vault
        .create_key(
            Some(ACCOUNT),
            "device start renamed",
            &new_key(AccessType::Read, &[]),
        )
        .unwrap();
    queued_ids(&a, &mut queued);
    a.sync_with(&small).unwrap();
    b.synced();
    let faults = [
        (Fault::DropRequest, false),
        (Fault::DropResponse, false),
        (Fault::CutRequest, false),
        (Fault::CutResponse, false),
        (Fault::Duplicate, true),
        (Fault::Delay(std::time::Duration::from_millis(300)), true),
        (
            Fault::DelayResponse(std::time::Duration::from_millis(300)),
            true,
        ),
    ];
    let mut reported = Vec::new();
    let mut expected_conflicts = Vec::new();
    for (round, (fault, survives)) in faults.into_iter().enumerate() {
        // Changes of every kind, made offline on a: two that narrow (sent
        // first), then the rename of `shared` and a new key.
        let name = format!("device {round}");
        a.vault
            .create_key(Some(ACCOUNT), &name, &new_key(AccessType::Write, &["ops"]))
            .unwrap();
        a.vault
            .set_key_status(Some(ACCOUNT), &name, KeyStatus::Inactive)
            .unwrap();
        a.vault
            .rename_key(Some(ACCOUNT), &name, &format!("{name} renamed"))
            .unwrap();
        let previous = match round {
            0 => "start".to_string(),
            _ => (round - 1).to_string(),
        };
        a.vault
            .delete_key(Some(ACCOUNT), &format!("device {previous} renamed"))
            .unwrap();
        let (ours, theirs) = (format!("shared a{round}"), format!("shared b{round}"));
        a.vault.rename_key(Some(ACCOUNT), &shared, &ours).unwrap();
        a.vault
            .create_key(
                Some(ACCOUNT),
                &format!("gate {round}"),
                &new_key(AccessType::Read, &[]),
            )
            .unwrap();
        queued_ids(&a, &mut queued);
        let outbox = a.vault.outbox(Some(ACCOUNT)).unwrap();
        assert_eq!(
            (outbox.len(), outbox[2].action.id().to_string()),
            (4, shared.clone()),
            "the rename of `shared` goes in the second push of two"
        );
        // b renames it later and pushes first: b's name wins, and a is told.
        b.synced();
        b.vault.rename_key(Some(ACCOUNT), &shared, &theirs).unwrap();
        queued_ids(&b, &mut queued);
        b.synced();
        expected_conflicts.push((shared.clone(), ours, theirs));

        // The fault hits a's second push.
        proxy.push_fault_on(PUSH, Fault::Pass);
        proxy.push_fault_on(PUSH, fault);
        let pushed = a.sync_with(&small);
        assert_eq!(pushed.is_ok(), survives, "{fault:?}: {pushed:?}");
        assert_eq!(
            proxy.faults_pending(),
            0,
            "{fault:?}: a second push was made and hit"
        );
        match pushed {
            Ok(report) => reported.push(report),
            Err(err) => {
                assert!(
                    matches!(err, SyncError::Unreachable { .. }),
                    "{fault:?}: {err:?}"
                );
                assert!(a.pending() > 0, "{fault:?}: the changes are kept");
            }
        }
        // b makes enough new records for a pull of several pages (and drops last round's).
        for i in 0..3 {
            b.vault
                .create_key(
                    Some(ACCOUNT),
                    &format!("b {round}.{i}"),
                    &new_key(AccessType::Read, &[]),
                )
                .unwrap();
            if round > 0 {
                b.vault
                    .delete_key(Some(ACCOUNT), &format!("b {}.{i}", round - 1))
                    .unwrap();
            }
        }
        queued_ids(&b, &mut queued);
        b.synced();
        // Then the same fault hits a's second pull page.
        proxy.push_fault_on(PULL, Fault::Pass);
        proxy.push_fault_on(PULL, fault);
        let pulled = a.sync_with(&small);
        assert_eq!(pulled.is_ok(), survives, "{fault:?} on a pull: {pulled:?}");
        assert_eq!(
            proxy.faults_pending(),
            0,
            "{fault:?}: a second pull page was asked for and hit"
        );
        if let Ok(report) = pulled {
            reported.push(report);
        }
    }
    proxy.clear();
    reported.push(a.sync_with(&small).unwrap());
    assert_eq!(a.pending(), 0);
    b.synced();

    // Each change on the server exactly once, one revision each.
    let db = support::db_path(server.dir.path());
    assert_each_applied_once(&db, &queued);
    // Each conflict told once: in a's audit log (also when the sync that
    // learnt it failed later), and in at most one report, never twice.
    let told: Vec<(String, String, String)> = a
        .vault
        .audit_entries(&keyward_core::AuditFilter {
            action: Some("sync.conflict".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .rev()
        .map(|entry| {
            let text = |field: &str| entry.details[field].as_str().unwrap().to_string();
            assert_eq!(
                (text("field"), text("rule")),
                ("name".into(), "the later change wins".into())
            );
            (text("id"), text("yours"), text("kept"))
        })
        .collect();
    assert_eq!(
        told, expected_conflicts,
        "a's audit log: each conflict once"
    );
    let in_reports: Vec<(String, String, String)> = reported
        .iter()
        .flat_map(|report| &report.conflicts)
        .map(|c| (c.id.to_string(), c.yours.clone(), c.kept.clone()))
        .collect();
    assert!(
        in_reports.iter().all(|c| expected_conflicts.contains(c)),
        "only the conflicts that happened are reported: {in_reports:?}"
    );
    let distinct: BTreeSet<_> = in_reports.iter().collect();
    assert_eq!(
        distinct.len(),
        in_reports.len(),
        "no conflict reported twice"
    );
    assert!(
        reported.iter().all(|report| report.refused.is_empty()),
        "nothing refused"
    );

    // The end state is the one expected, on both desktops and on the server.
    let last = faults.len() - 1;
    let expected = listing(
        [
            r#"group ops ["devices:read", "devices:write"]"#.to_string(),
            format!(r#"key device {last} renamed WRITE true ["ops"] inactive"#),
            format!("key shared b{last} READ false [] active"),
            format!("key b {last}.0 READ false [] active"),
            format!("key b {last}.1 READ false [] active"),
            format!("key b {last}.2 READ false [] active"),
        ]
        .into_iter()
        .chain((0..=last).map(|round| format!("key gate {round} READ false [] active"))),
    );
    assert_eq!(desktop_listing(&a), expected);
    assert_eq!(desktop_listing(&b), expected);
    assert_eq!(a.state(), b.state());
    let on_server = runtime.block_on(server.pull(&token, 0));
    assert_eq!(server_listing(&on_server), expected);
    assert_eq!(server_key_count(&db), 5 + faults.len() as i64);
}

/// `keyward-server` on a fixed loopback port, so it can be killed and
/// started again where the desktop expects it.
struct KillableServer {
    child: Child,
    port: u16,
    db: std::path::PathBuf,
}

impl KillableServer {
    fn start(db: &std::path::Path, port: u16) -> KillableServer {
        let mut child = Command::new(support::BIN)
            .arg("--db")
            .arg(db)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert!(line.starts_with("keyward-server listening on "), "{line:?}");
        KillableServer {
            child,
            port,
            db: db.to_path_buf(),
        }
    }

    fn kill(mut self) -> (std::path::PathBuf, u16) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        (self.db.clone(), self.port)
    }
}

/// A server the test did not kill (it ended, or failed) must not outlive it.
impl Drop for KillableServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_killed_in_the_middle_of_a_push_loses_nothing_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut server = KillableServer::start(&db, port);
    let token = {
        let output = Command::new(support::BIN)
            .arg("--db")
            .arg(&db)
            .args(["token", "create", "--account", ACCOUNT])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    // The desktop syncs through the proxy, which counts what reached the
    // server and what it answered: the kill's moment is known, not guessed.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], port))));
    let vault_dir = tempfile::tempdir().unwrap();
    let mut vault = support::desktop_vault(vault_dir.path(), ACCOUNT, 100_000);
    vault
        .set_remote(
            Some(ACCOUNT),
            &proxy.url(),
            &SecretString::from(token.as_str()),
            false,
        )
        .unwrap();
    let mut queued = BTreeSet::new();
    // The server's revision counter, watched while it works: a push's commit shows there.
    let watcher = read_only(&db);
    let revision = || -> i64 {
        watcher
            .query_row(
                "SELECT CAST(total(revision) AS INTEGER) FROM accounts",
                [],
                |row| row.get(0),
            )
            .unwrap()
    };
    // Kills that landed while a push was with the server, unanswered: before its commit, and after.
    let (mut before_commit, mut after_commit) = (0, 0);
    for round in 0..6u64 {
        let names: Vec<String> = (0..2500).map(|i| format!("r{round} k{i}")).collect();
        vault
            .create_keys(Some(ACCOUNT), &names, &NewKey::default())
            .unwrap();
        for entry in vault.outbox(Some(ACCOUNT)).unwrap() {
            queued.insert(entry.idempotency_id.to_string());
        }
        let (sent, answered, start) = (proxy.forwarded(), proxy.answered(), revision());
        let (result, killed) = std::thread::scope(|scope| {
            let syncing = scope.spawn(|| {
                sync(
                    &RefCell::new(&mut vault),
                    Some(ACCOUNT),
                    &SyncOptions::default(),
                )
            });
            // Once the push (2,500 keys fit in one) has reached the server;
            // every other round, once it has also committed.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while proxy.forwarded() == sent || (round % 2 == 1 && revision() == start) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: the push never reached the server or never committed"
                );
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let killed = server_kill(&mut server);
            (syncing.join().unwrap(), killed)
        });
        let committed = revision() > start;
        let unanswered = proxy.answered() == answered;
        if unanswered {
            assert!(
                matches!(result, Err(SyncError::Unreachable { .. })),
                "round {round}: a push that was never answered cannot succeed: {result:?}"
            );
            if committed {
                after_commit += 1;
            } else {
                before_commit += 1;
            }
        }
        eprintln!(
            "round {round}: killed with the push {}, {}",
            if committed {
                "committed"
            } else {
                "not committed"
            },
            if unanswered { "unanswered" } else { "answered" },
        );
        server = KillableServer::start(&killed.0, killed.1);
        let finished = sync(
            &RefCell::new(&mut vault),
            Some(ACCOUNT),
            &SyncOptions::default(),
        );
        assert!(finished.is_ok(), "round {round}: {finished:?}");
        assert_eq!(vault.sync_state(Some(ACCOUNT)).unwrap().pending_changes, 0);
    }
    assert!(
        before_commit > 0 && after_commit > 0,
        "the kills must land while a push was with the server, unanswered, both before its commit \
         ({before_commit} did) and after it ({after_commit} did)"
    );
    assert_each_applied_once(&db, &queued);
    assert_eq!(server_key_count(&db), 6 * 2500);
    drop(server);
}

/// Kills the running server, leaving a placeholder to be replaced.
fn server_kill(server: &mut KillableServer) -> (std::path::PathBuf, u16) {
    let placeholder = KillableServer {
        child: Command::new("true").spawn().unwrap(),
        port: server.port,
        db: server.db.clone(),
    };
    std::mem::replace(server, placeholder).kill()
}

/// A loopback relay that records every byte in each direction.
struct Capture {
    addr: SocketAddr,
    to_server: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    to_client: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Capture {
    async fn start(upstream: SocketAddr) -> Capture {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let capture = Capture {
            addr: listener.local_addr().unwrap(),
            to_server: Default::default(),
            to_client: Default::default(),
        };
        let (up, down) = (capture.to_server.clone(), capture.to_client.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let (up, down) = (up.clone(), down.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        up.lock().unwrap().extend_from_slice(&buf[..n]);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                });
                tokio::spawn(async move {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        down.lock().unwrap().extend_from_slice(&buf[..n]);
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = client_write.shutdown().await;
                });
            }
        });
        capture
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_shared_secret_or_passphrase_crosses_the_sync_wire_or_reaches_the_server() {
    let mut server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let capture = Capture::start(server.addr).await;
    let mut a = Desktop::new(&server, &token);
    a.vault
        .set_remote(
            Some(ACCOUNT),
            &format!("http://{}", capture.addr),
            &SecretString::from(token.as_str()),
            false,
        )
        .unwrap();
    a.vault
        .create_group(Some(ACCOUNT), group("ops", &["devices:read"]))
        .unwrap();
    let mut secrets: Vec<String> = ["k1", "k2", "k3"]
        .iter()
        .map(|name| {
            let created = a
                .vault
                .create_key(
                    Some(ACCOUNT),
                    name,
                    &new_key(AccessType::ReadWrite, &["ops"]),
                )
                .unwrap();
            created.secret.expose().to_string()
        })
        .collect();
    let shared = a
        .vault
        .reveal_shared_secret(Some(ACCOUNT), &SecretString::from("correct horse battery"))
        .unwrap();
    a.synced();
    a.vault
        .rename_key(Some(ACCOUNT), "k1", "k1 renamed")
        .unwrap();
    a.synced();
    // Devices present keys to the server: the key is in the request, never in an answer.
    for secret in &secrets {
        let verify = verify_through(capture.addr, secret).await;
        assert!(verify.contains("\"VALID\""), "{verify}");
    }
    let sync_requests = capture.to_server.lock().unwrap().clone();
    let answers = capture.to_client.lock().unwrap().clone();
    assert!(contains(&sync_requests, "/v1/sync/push") && contains(&answers, "\"results\""));
    let keys = secrets.len();
    secrets.push(shared.expose().to_string());
    secrets.push("correct horse battery".to_string());
    // Every file the server wrote, as a crash leaves them (the WAL included).
    server.kill();
    let files = server.files(&["server.db", "server.db-wal", "server.log"]);
    let stored: Vec<u8> = files.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
    assert!(
        contains(&stored, "k1 renamed"),
        "the server's files hold the records in the clear: the search reads them"
    );
    // The sync token travels in each sync request's header, and nowhere else.
    let token_body = &token[token.find('_').unwrap() + 1..];
    for (index, secret) in secrets
        .iter()
        .map(String::as_str)
        .chain([token_body])
        .enumerate()
    {
        assert!(!contains(&answers, secret), "secret {index} in an answer");
        for (name, bytes) in &files {
            assert!(
                !contains(bytes, secret),
                "secret {index} in the server's {name}"
            );
        }
    }
    // The sync requests carry no key and no shared secret (the verify requests do carry keys).
    let sync_part = &sync_requests[..sync_requests
        .windows(b"/v1/verify".len())
        .position(|w| w == b"/v1/verify")
        .unwrap()];
    for (index, secret) in secrets.iter().enumerate() {
        assert!(
            !contains(sync_part, secret),
            "secret {index} on the sync wire"
        );
    }
    // The desktop's vault, opened: no key or passphrase in any row of any
    // table (the audit log included); the shared secret and the token only
    // where they are kept.
    let cells = |text: &str| a.vault.cells_holding(text).unwrap();
    for (index, secret) in secrets.iter().enumerate() {
        if index != keys {
            assert_eq!(cells(secret), [], "secret {index} stored in the vault");
        }
    }
    let kept = |table: &str, column: &str| [(table.to_string(), column.to_string())];
    assert_eq!(cells(shared.expose()), kept("accounts", "shared_secret"));
    assert_eq!(cells(&token), kept("remotes", "token"));
    assert!(
        cells("k1 renamed").contains(&("audit_log".to_string(), "details".to_string())),
        "the audit log is among the rows searched"
    );
    drop(a);
}

/// POST /v1/verify (a GET on devices) over HTTP/1.1 through `addr`; the raw answer.
async fn verify_through(addr: SocketAddr, key: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body =
        serde_json::json!({"key": key, "method": "GET", "resource": "devices", "unbind": false})
            .to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn sync_runs_over_https_trusting_a_private_certificate_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = support::self_signed_cert(dir.path());
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let token = server.token(ACCOUNT);
    let url = server.url.replace("127.0.0.1", "localhost");
    assert!(url.starts_with("https://localhost:"), "{url}");
    let vault_dir = tempfile::tempdir().unwrap();
    let mut vault = support::desktop_vault(vault_dir.path(), ACCOUNT, 10);
    vault
        .set_remote(
            Some(ACCOUNT),
            &url,
            &SecretString::from(token.as_str()),
            false,
        )
        .unwrap();
    vault
        .create_key(Some(ACCOUNT), "k1", &new_key(AccessType::Read, &[]))
        .unwrap();
    // Without the private CA the server's certificate is not trusted: nothing is sent.
    let untrusted = SyncOptions {
        extra_roots: None,
        ..SyncOptions::default()
    };
    let refused = sync(&RefCell::new(&mut vault), Some(ACCOUNT), &untrusted).unwrap_err();
    assert!(
        matches!(&refused, SyncError::Unreachable { pending: 1, detail } if detail.contains("TLS")),
        "{refused:?}"
    );
    let trusted = SyncOptions {
        extra_roots: Some(cert.clone()),
        ..SyncOptions::default()
    };
    let report = sync(&RefCell::new(&mut vault), Some(ACCOUNT), &trusted).unwrap();
    assert_eq!(report.pushed, 1);
    assert_eq!(vault.sync_state(Some(ACCOUNT)).unwrap().pending_changes, 0);
}

#[test]
fn a_vault_restored_from_an_older_copy_is_caught_by_its_next_sync() {
    let server = Server::start(&[]);
    let token = server.token(ACCOUNT);
    let mut a = Desktop::new(&server, &token);
    a.vault
        .create_key(Some(ACCOUNT), "gate", &NewKey::default())
        .unwrap();
    a.synced();
    // An older copy of the vault: the log as it was before the last changes.
    let backup = a._dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    // A copy taken while the vault is open: its WAL holds what the file does not yet.
    for name in ["vault.db", "vault.db-wal", "vault.db.header"] {
        std::fs::copy(a._dir.path().join(name), backup.join(name)).unwrap();
    }
    for name in ["kiosk 1", "kiosk 2"] {
        a.vault
            .create_key(Some(ACCOUNT), name, &NewKey::default())
            .unwrap();
    }
    let report = a.synced();
    assert_eq!(report.audit_problem, None, "an honest log is not reported");
    assert!(a.vault.verify_audit().unwrap().ok);

    // The older copy comes back (a restore, or someone hiding the last changes).
    let Desktop { _dir, path, vault } = a;
    drop(vault);
    std::fs::remove_file(path.with_file_name("vault.db-shm")).ok();
    for name in ["vault.db", "vault.db-wal", "vault.db.header"] {
        std::fs::copy(backup.join(name), _dir.path().join(name)).unwrap();
    }
    let vault = Vault::open(&path, &SecretString::from("correct horse battery")).unwrap();
    assert!(
        vault.verify_audit().unwrap().ok,
        "alone, the copy looks whole"
    );
    let mut a = Desktop { _dir, path, vault };
    let report = a.synced();
    // Its log lacks what the remote saw (and the pull has since added other entries).
    let problem = report.audit_problem.expect("the sync reports it");
    assert!(
        problem.contains("older copy of the vault was restored"),
        "{problem}"
    );
    let verified = a.vault.verify_audit().unwrap();
    assert!(!verified.ok, "and so does audit verify from now on");
    assert!(verified.problem.unwrap().contains("the remote recorded"),);
    // The server keeps the higher head: syncing again does not wash it out.
    assert!(a.synced().audit_problem.is_some());
}

#[test]
fn a_remote_whose_pull_never_ends_makes_the_sync_fail_not_loop() {
    // A remote that answers every pull with "more" and never moves on: no
    // real keyward-server does, so a few lines of HTTP stand in for it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = std::thread::spawn(move || {
        let mut answered = 0;
        // Enough pulls to see the client stop; a looping client would ask for ever.
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { break };
            let mut request = [0u8; 4096];
            let read = std::io::Read::read(&mut stream, &mut request).unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..read]).to_string();
            let body = if head.starts_with("GET /v1/sync/pull") {
                r#"{"changes":[],"cursor":7,"more":true}"#
            } else {
                r#"{"results":[]}"#
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
            answered += 1;
        }
        answered
    });
    let dir = tempfile::tempdir().unwrap();
    let mut vault = support::desktop_vault(dir.path(), ACCOUNT, 10);
    vault
        .set_remote(
            Some(ACCOUNT),
            &url,
            &SecretString::from("kwsync_whatever"),
            false,
        )
        .unwrap();
    let err = sync(
        &RefCell::new(&mut vault),
        Some(ACCOUNT),
        &SyncOptions::default(),
    )
    .expect_err("the sync fails");
    assert!(matches!(err, SyncError::Misbehaving { .. }), "{err:?}");
    assert!(err.to_string().contains("does not move on"), "{err}");
    // Unblock the stand-in's accept loop, then count what it answered.
    for _ in 0..4 {
        let _ = TcpStream::connect(url.trim_start_matches("http://"));
    }
    // (A client that looped would have met a closed port after four requests:
    // unreachable, not this.)
    served.join().unwrap();
    assert_eq!(
        vault.sync_state(Some(ACCOUNT)).unwrap().remote.unwrap().url,
        url,
        "nothing else changed"
    );
}
