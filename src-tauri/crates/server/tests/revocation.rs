//! Revocation is final, through the real binaries: the `keyward` CLI (built
//! beside this crate's binary by `cargo test --workspace`) against the real
//! `keyward-server` on a loopback port. The three ways a revoked key used to
//! live on, each replayed as an administrator would:
//! 1. a key deleted while sync is off came back when sync was turned on again;
//! 2. one change the remote refused held back every later change;
//! 3. ten failed verifications from one address locked out valid keys from it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use support::Server;

/// The `keyward` CLI next to `keyward-server`.
fn cli_binary() -> PathBuf {
    let path = Path::new(support::BIN).with_file_name("keyward");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p keyward-cli` (`cargo test --workspace` does)",
        path.display()
    );
    path
}

/// One desktop: a vault driven by the real CLI, syncing with its own token.
struct Desktop {
    dir: tempfile::TempDir,
    token: String,
}

impl Desktop {
    fn new(server: &Server, account: &str) -> Desktop {
        let desktop = Desktop {
            dir: tempfile::tempdir().unwrap(),
            token: server.token_labelled(account, "desktop"),
        };
        desktop.ok(&["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"]);
        desktop.ok(&["account", "create", account]);
        desktop
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(cli_binary())
            .args(args)
            .env("KEYWARD_VAULT", self.dir.path().join("vault.db"))
            .env("KEYWARD_PASSPHRASE", "correct horse battery")
            .env("KEYWARD_REMOTE_TOKEN", &self.token)
            .env("KEYWARD_ACTOR", "admin")
            .env_remove("KEYWARD_REMOTE_CA")
            .stdin(Stdio::null())
            .output()
            .expect("run keyward")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "keyward {args:?} exited {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Creates a key; its full key.
    fn create_key(&self, name: &str, preset: &str) -> String {
        let created = self.json(&["key", "create", name, "--preset", preset]);
        created["secret"].as_str().unwrap().to_string()
    }

    fn key_names(&self) -> Vec<String> {
        self.json(&["key", "list"])
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["name"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn verify(server: &Server, key: &str) -> (u16, Value) {
    let reply = server
        .post_json(
            "/v1/verify",
            None,
            &json!({"key": key, "method": "POST", "resource": "passings"}),
        )
        .await;
    let body = if reply.status == 200 {
        reply.json()["result"].clone()
    } else {
        json!(reply.kind())
    };
    (reply.status, body)
}

#[tokio::test]
async fn a_key_deleted_while_sync_is_off_stays_deleted_when_sync_is_turned_on_again() {
    let server = Server::start(&[]);
    let admin = Desktop::new(&server, "Acme");
    let gate = admin.create_key("gate1", "device");
    admin.ok(&["remote", "set", &server.url]);
    admin.ok(&["sync"]);
    assert_eq!(verify(&server, &gate).await, (200, json!("VALID")));

    admin.ok(&["remote", "remove"]);
    admin.ok(&["key", "delete", "gate1", "--yes"]);
    admin.ok(&["remote", "set", &server.url]);
    let report = admin.json(&["sync"]);
    assert_eq!(report["refused"], json!([]), "{report}");

    assert!(
        !admin.key_names().contains(&"gate1".into()),
        "not brought back"
    );
    assert_eq!(verify(&server, &gate).await, (200, json!("NOT_FOUND")));
    // Another desktop that had the key loses it with its next sync.
    let other = Desktop::new(&server, "Acme");
    other.ok(&["remote", "set", &server.url]);
    other.ok(&["sync"]);
    assert!(!other.key_names().contains(&"gate1".into()));
}

#[tokio::test]
async fn no_change_is_held_back_by_a_name_the_rules_refuse() {
    let server = Server::start(&[]);
    let admin = Desktop::new(&server, "Acme");
    admin.ok(&["remote", "set", &server.url]);
    let gate = admin.create_key("gate2", "device");
    let other_key = admin.create_key("kiosk", "device");
    admin.ok(&["sync"]);

    // A full key pasted into a name is refused where it is typed: nothing is stored or queued.
    let pasted = format!("copy of {other_key}");
    let refused = admin.run(&["key", "create", &pasted]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("shaped like a full key"), "{message}");
    assert!(
        !message.contains(&other_key[3..]),
        "the key is never repeated: {message}"
    );
    assert_eq!(admin.key_names(), ["gate2", "kiosk"]);

    // The next sync goes through, and so does the deactivation after it.
    admin.ok(&["sync"]);
    admin.ok(&["key", "disable", "gate2"]);
    let report = admin.json(&["sync"]);
    assert_eq!(report["refused"], json!([]), "{report}");
    assert_eq!(verify(&server, &gate).await, (200, json!("DISABLED")));

    // A name the server must number ("NAME (2)") stays within the name rules,
    // on the server and on every desktop, and holds nothing back either.
    let long = "n".repeat(64);
    let other = Desktop::new(&server, "Acme");
    other.ok(&["remote", "set", &server.url]);
    admin.create_key(&long, "device");
    other.create_key(&long, "device");
    admin.ok(&["sync"]);
    let report = other.json(&["sync"]);
    assert_eq!(report["refused"], json!([]), "{report}");
    admin.ok(&["sync"]);
    let mut names = other.key_names();
    names.sort();
    assert_eq!(admin.key_names().len(), names.len());
    let numbered: Vec<&String> = names.iter().filter(|n| n.ends_with(" (2)")).collect();
    assert_eq!(numbered.len(), 1, "{names:?}");
    assert_eq!(numbered[0].chars().count(), 64, "{names:?}");
    other.ok(&["key", "disable", numbered[0]]);
    assert_eq!(other.json(&["sync"])["refused"], json!([]));
}

#[tokio::test]
async fn failed_verifications_never_lock_out_a_valid_key_from_the_same_address() {
    let server = Server::start(&["--verify-failure-burst", "10"]);
    let admin = Desktop::new(&server, "Acme");
    admin.ok(&["remote", "set", &server.url]);
    let gate = admin.create_key("gate3", "device");
    admin.ok(&["sync"]);
    for _ in 0..10 {
        assert_eq!(
            verify(&server, "kw_not-a-key").await,
            (200, json!("MALFORMED"))
        );
    }
    assert_eq!(
        verify(&server, "kw_still-not-a-key").await,
        (429, json!("rate_limited")),
        "the eleventh failure is refused"
    );
    for _ in 0..20 {
        assert_eq!(
            verify(&server, &gate).await,
            (200, json!("VALID")),
            "a working device behind the same address is never refused"
        );
    }
}
