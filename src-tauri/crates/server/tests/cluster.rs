//! Several keyward-server instances on one PostgreSQL: two real server
//! processes on a throwaway cluster, behind a small round-robin balancer; two
//! desktops (real vaults, the real sync client) sync through whichever
//! instance the balancer picks; one instance is killed in the middle of a
//! push. Both desktops converge, every change is applied exactly once (each
//! application takes one revision of its account), and devices verifying
//! against either instance get the same answers. Bad database input is
//! answered clearly: a URL that is not one, a database that does not answer,
//! one of a newer schema.

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keyward_core::{KeyStatus, NewKey, SecretString, Vault};
use keyward_sync::{sync, SyncOptions, SyncReport};
use support::postgres::Cluster;
use support::Server;

const ACCOUNT: &str = "Acme";

/// A `keyward-server` process on the cluster's database.
/// A TCP balancer on loopback: each connection goes to the next instance in
/// turn, or to the one pinned.
struct Balancer {
    addr: SocketAddr,
    upstreams: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    turn: Arc<AtomicUsize>,
    pinned: Arc<std::sync::Mutex<Option<usize>>>,
}

impl Balancer {
    fn start(runtime: &tokio::runtime::Runtime, upstreams: Vec<SocketAddr>) -> Balancer {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let balancer = Balancer {
            addr: listener.local_addr().unwrap(),
            upstreams: Arc::new(std::sync::Mutex::new(upstreams)),
            turn: Arc::default(),
            pinned: Arc::default(),
        };
        let (upstreams, turn, pinned) = (
            Arc::clone(&balancer.upstreams),
            Arc::clone(&balancer.turn),
            Arc::clone(&balancer.pinned),
        );
        runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = {
                    let upstreams = upstreams.lock().unwrap();
                    let index = pinned
                        .lock()
                        .unwrap()
                        .unwrap_or_else(|| turn.fetch_add(1, Ordering::Relaxed));
                    upstreams[index % upstreams.len()]
                };
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        balancer
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pin(&self, index: Option<usize>) {
        *self.pinned.lock().unwrap() = index;
    }

    fn replace(&self, index: usize, addr: SocketAddr) {
        self.upstreams.lock().unwrap()[index] = addr;
    }
}

struct Desktop {
    _dir: tempfile::TempDir,
    vault: Vault,
}

impl Desktop {
    fn new(remote: &str, token: &str) -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = support::desktop_vault(dir.path(), ACCOUNT, 100_000);
        vault
            .set_remote(Some(ACCOUNT), remote, &SecretString::from(token), false)
            .unwrap();
        Desktop { _dir: dir, vault }
    }

    fn sync(&mut self) -> Result<SyncReport, keyward_sync::SyncError> {
        sync(
            &RefCell::new(&mut self.vault),
            Some(ACCOUNT),
            &SyncOptions::default(),
        )
    }

    fn state(&self) -> Vec<String> {
        let mut keys = self
            .vault
            .list_keys(Some(ACCOUNT), &Default::default())
            .unwrap();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        keys.iter()
            .map(|k| format!("{} {} {} {:?}", k.id, k.name, k.status.as_str(), k.groups))
            .collect()
    }

    fn queued_ids(&self, into: &mut BTreeSet<String>) {
        for entry in self.vault.outbox(Some(ACCOUNT)).unwrap() {
            into.insert(entry.idempotency_id.to_string());
        }
    }
}

fn token(url: &str, label: &str) -> String {
    let output = Command::new(support::BIN)
        .args([
            "--database-url",
            url,
            "token",
            "create",
            "--account",
            ACCOUNT,
            "--label",
            label,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// `POST /v1/verify` to one instance: the result.
fn verify(runtime: &tokio::runtime::Runtime, addr: SocketAddr, key: &str) -> String {
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = serde_json::json!({"key": key, "method": "GET", "resource": "devices"});
        let reply = support::exchange(
            hyper_util::rt::TokioIo::new(stream),
            "POST",
            "/v1/verify",
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await;
        reply.json()["result"].as_str().unwrap().to_string()
    })
}

#[test]
fn two_instances_on_one_database_answer_as_one_and_survive_a_kill_mid_push() {
    let cluster = Cluster::start();
    let url = cluster.database("keyward");
    // Instances starting together migrate once, one after the other.
    let migrations: Vec<_> = (0..3)
        .map(|_| {
            Command::new(support::BIN)
                .args(["--database-url", &url, "migrate"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for migration in migrations {
        let output = migration.wait_with_output().unwrap();
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).contains("schema 1"));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut instances = [
        Server::start_postgres(&url, &[]),
        Server::start_postgres(&url, &[]),
    ];
    let balancer = Balancer::start(&runtime, instances.iter().map(|i| i.addr).collect());
    let mut a = Desktop::new(&balancer.url(), &token(&url, "desk A"));
    let mut b = Desktop::new(&balancer.url(), &token(&url, "desk B"));

    // Both desktops work, syncing through whichever instance answers.
    let mut secrets = std::collections::BTreeMap::new();
    for round in 0..3 {
        for (desktop, name) in [(&mut a, "a"), (&mut b, "b")] {
            let created = desktop
                .vault
                .create_key(
                    Some(ACCOUNT),
                    &format!("{name} {round}"),
                    &NewKey::default(),
                )
                .unwrap();
            secrets.insert(
                created.key.name.clone(),
                created.secret.expose().to_string(),
            );
        }
        a.sync().unwrap();
        b.sync().unwrap();
    }
    let gate = b
        .vault
        .list_keys(Some(ACCOUNT), &Default::default())
        .unwrap()[0]
        .clone();
    a.vault
        .set_key_status(Some(ACCOUNT), &gate.id, KeyStatus::Inactive)
        .unwrap();

    // A big push from A goes to instance 0, which is killed while it applies.
    let mut queued = BTreeSet::new();
    let names: Vec<String> = (0..3000).map(|i| format!("bulk {i}")).collect();
    let bulk = a
        .vault
        .create_keys(Some(ACCOUNT), &names, &NewKey::default())
        .unwrap();
    secrets.extend(
        bulk.iter()
            .map(|k| (k.key.name.clone(), k.secret.expose().to_string())),
    );
    a.queued_ids(&mut queued);
    b.queued_ids(&mut queued);
    balancer.pin(Some(0));
    let outcome = std::thread::scope(|scope| {
        let syncing = scope.spawn(|| a.sync());
        // Until the push is being applied (a transaction that has written):
        // then kill the instance applying it.
        let applying = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'keyward' AND backend_xid IS NOT NULL";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cluster.sql("keyward", applying) == "0"
            && std::time::Instant::now() < deadline
            && !syncing.is_finished()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        instances[0].kill();
        syncing.join().unwrap()
    });
    assert!(
        outcome.is_err(),
        "the kill landed while the push was being applied"
    );
    assert_eq!(
        cluster.sql(
            "keyward",
            "SELECT count(*) FROM keys WHERE name LIKE 'bulk %'"
        ),
        "0",
        "nothing of the cut push was kept half-written"
    );
    // Instance 0 comes back; the balancer sends to both again.
    instances[0] = Server::start_postgres(&url, &[]);
    balancer.replace(0, instances[0].addr);
    balancer.pin(None);

    // Both converge; every change applied exactly once.
    for _ in 0..4 {
        a.sync().unwrap();
        b.sync().unwrap();
    }
    let (state_a, state_b) = (a.state(), b.state());
    let differ: Vec<_> = state_a
        .iter()
        .zip(&state_b)
        .filter(|(x, y)| x != y)
        .take(5)
        .collect();
    assert!(
        state_a.len() == state_b.len() && differ.is_empty(),
        "the desktops converge: {} and {} keys, first differences {differ:?}",
        state_a.len(),
        state_b.len()
    );
    assert_eq!(
        a.vault.sync_state(Some(ACCOUNT)).unwrap().pending_changes,
        0
    );
    let applied: usize = cluster
        .sql("keyward", "SELECT count(*) FROM applied_changes")
        .parse()
        .unwrap();
    let revision: usize = cluster
        .sql(
            "keyward",
            "SELECT revision FROM accounts WHERE name = 'Acme'",
        )
        .parse()
        .unwrap();
    let published_uses: usize = cluster
        .sql(
            "keyward",
            "SELECT count(*) FROM keys WHERE last_used_published IS NOT NULL",
        )
        .parse()
        .unwrap();
    assert!(
        applied >= queued.len(),
        "every queued change reached the server"
    );
    assert_eq!(
        revision,
        applied + published_uses,
        "each change took exactly one revision: none was applied twice"
    );

    // Devices get the same answer from either instance.
    for (name, secret) in secrets.iter().step_by(97) {
        let answers: Vec<String> = instances
            .iter()
            .map(|instance| verify(&runtime, instance.addr, secret))
            .collect();
        let expected = if *name == gate.name {
            "DISABLED"
        } else {
            "VALID"
        };
        assert_eq!(answers, [expected, expected], "{name}");
    }
    let deactivated = &secrets[&gate.name];
    for instance in &instances {
        assert_eq!(verify(&runtime, instance.addr, deactivated), "DISABLED");
    }
}

#[test]
fn a_bad_database_is_refused_clearly_and_changes_nothing() {
    let run = |args: &[&str]| {
        Command::new(support::BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let not_a_url = run(&["--database-url", "mysql://db/keys", "migrate"]);
    assert_eq!(not_a_url.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_url.stderr).contains("postgres://"));

    // Nobody listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = run(&[
        "--database-url",
        &format!("postgres://kw:s3cret-password@127.0.0.1:{port}/keyward"),
        "migrate",
    ]);
    assert_eq!(unreachable.status.code(), Some(3));
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(
        !message.contains("s3cret-password"),
        "the password never shows: {message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    let cluster = Cluster::start();
    let url = cluster.database("keyward");
    assert!(run(&["--database-url", &url, "migrate"]).status.success());
    cluster.sql("keyward", "UPDATE keyward_schema SET version = 99");
    for command in [&["migrate"][..], &["--listen", "127.0.0.1:0"][..]] {
        let mut args = vec!["--database-url", url.as_str()];
        args.extend_from_slice(command);
        let newer = run(&args);
        assert_eq!(newer.status.code(), Some(3), "{command:?}");
        let message = String::from_utf8_lossy(&newer.stderr);
        assert!(message.contains("newer keyward-server"), "{message}");
    }
    assert_eq!(
        cluster.sql("keyward", "SELECT version FROM keyward_schema"),
        "99",
        "left as it was"
    );

    let other = cluster.database("other");
    cluster.sql("other", "CREATE TABLE invoices (id INTEGER)");
    let foreign = run(&["--database-url", &other, "migrate"]);
    assert_eq!(foreign.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("not a keyward-server database"));
    assert_eq!(
        cluster.sql(
            "other",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        "1"
    );
}

#[test]
fn a_connection_dropped_mid_push_answers_503_and_writes_nothing_half() {
    let cluster = Cluster::start();
    let url = cluster.database("keyward");
    let instance = Server::start_postgres(&url, &[]);
    let remote = format!("http://{}", instance.addr);
    let mut desktop = Desktop::new(&remote, &token(&url, "desk"));
    let names: Vec<String> = (0..3000).map(|i| format!("bulk {i}")).collect();
    desktop
        .vault
        .create_keys(Some(ACCOUNT), &names, &NewKey::default())
        .unwrap();
    let outcome = std::thread::scope(|scope| {
        let syncing = scope.spawn(|| desktop.sync());
        let applying = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'keyward' AND backend_xid IS NOT NULL";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cluster.sql("keyward", applying) == "0"
            && std::time::Instant::now() < deadline
            && !syncing.is_finished()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // The database drops the connection applying the push.
        cluster.sql(
            "keyward",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'keyward' AND backend_xid IS NOT NULL",
        );
        syncing.join().unwrap()
    });
    let err = outcome.expect_err("the push was cut");
    assert!(
        err.to_string().contains("503"),
        "the server answered 503: {err}"
    );
    assert_eq!(
        cluster.sql("keyward", "SELECT count(*) FROM keys"),
        "0",
        "nothing half-written"
    );
    // The next sync applies everything, once.
    desktop.sync().unwrap();
    assert_eq!(cluster.sql("keyward", "SELECT count(*) FROM keys"), "3000");
    assert_eq!(
        cluster.sql("keyward", "SELECT revision FROM accounts"),
        "3000",
        "each change took one revision"
    );
}
