//! Leak test: a scripted session with the real `keyward`, syncing with the
//! real `keyward-server`, collects every full key and every shared secret
//! that was printed. Afterwards each one is searched for in the vault file,
//! its WAL and SHM (also as a SIGKILL left them), its header, every other file
//! of the session's directory, and the stdout/stderr of every command other
//! than the one that legitimately printed it (the key's creation, or `secret
//! show` for the shared secret). None may appear — neither whole nor as a
//! 16-character piece of its middle. The passphrases and the sync token must
//! not appear in any output or file either.
//!
//! Finding nothing in an encrypted file proves encryption, not absence; so the
//! vault is also opened with its passphrase and every row of every table
//! (the audit log included) is searched: no key and no passphrase anywhere,
//! the shared secret only where it is kept (and no rotated-away one), the sync
//! token only in its remote's row. And every file the server wrote, read
//! after a SIGKILL (its WAL included), holds none of them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// A secret that was printed, and what it is.
struct Secret {
    label: String,
    value: String,
}

struct Session {
    kw: Kw,
    server: RemoteServer,
    /// This desktop's sync token: never printed, stored only in its remote's row.
    token: String,
    /// Every command's output, with the secrets it was allowed to print.
    log: Vec<(Out, BTreeSet<String>)>,
    secrets: Vec<Secret>,
    /// File contents captured mid-session (a WAL left by a killed process).
    captured_files: Vec<(String, Vec<u8>)>,
    passphrases: Vec<String>,
}

/// Tokens of `text` shaped like a key: `prefix_` and a long base62 body.
fn key_tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| {
            t.find('_').is_some_and(|i| {
                (2..=12).contains(&i)
                    && t.len() - i > 40
                    && t[i + 1..].chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .map(str::to_string)
        .collect()
}

/// The pieces searched for: the secret and a 16-character piece of its middle.
fn needles(secret: &str) -> Vec<String> {
    let middle = secret.len() / 2;
    let mut needles = vec![
        secret.to_string(),
        secret[middle - 8..middle + 8].to_string(),
    ];
    if secret.chars().all(|c| c.is_ascii_hexdigit()) {
        needles.push(secret.to_uppercase());
    }
    needles
}

impl Session {
    fn new() -> Session {
        let kw = Kw::empty();
        let passphrases = vec![kw.passphrase.clone()];
        let server = RemoteServer::start();
        let token = server.token("acme", "the leak test's desktop");
        Session {
            kw,
            server,
            token,
            log: Vec::new(),
            secrets: Vec::new(),
            captured_files: Vec::new(),
            passphrases,
        }
    }

    fn record(&mut self, out: Out, allowed: BTreeSet<String>) -> Out {
        self.log.push((out.clone(), allowed));
        out
    }

    /// A command that prints no secret.
    fn run(&mut self, args: &[&str], code: i32) -> Out {
        let out = self.kw.run(args).expect_code(code);
        self.record(out, BTreeSet::new())
    }

    /// A command that prints no secret, with environment changes.
    fn run_env(&mut self, args: &[&str], env: &[(&str, &str)], code: i32) -> Out {
        let mut call = self.kw.cmd(args);
        for (name, value) in env {
            call = call.env(name, value);
        }
        let out = call.run().expect_code(code);
        self.record(out, BTreeSet::new())
    }

    /// `key create` (single or --names-from, JSON or text): the keys it printed are its own.
    fn create(&mut self, args: &[&str], expected: usize) -> Out {
        let out = self.kw.run(args).expect_code(0);
        let printed = key_tokens(&out.stdout);
        assert_eq!(
            printed.len(),
            expected,
            "{}: expected {expected} key(s) in:\n{}",
            out.command,
            out.stdout
        );
        if args.contains(&"--json") {
            let values: Vec<Value> = if args.contains(&"--names-from") {
                out.json_lines()
            } else {
                vec![out.json()]
            };
            let from_json: BTreeSet<String> =
                values.iter().map(|v| s(v, "secret").to_string()).collect();
            assert_eq!(from_json, printed, "the secrets of the JSON records");
        }
        for value in &printed {
            self.secrets.push(Secret {
                label: format!("key printed by {}", out.command),
                value: value.clone(),
            });
        }
        self.record(out, printed)
    }

    /// `secret show`: the shared secret it printed is its own to print.
    fn show_secret(&mut self, json: bool) -> String {
        let args: &[&str] = if json {
            &["secret", "show", "--json"]
        } else {
            &["secret", "show"]
        };
        let out = self.kw.run(args).expect_code(0);
        let secret = if json {
            s(&out.json(), "secret").to_string()
        } else {
            out.stdout.trim().to_string()
        };
        assert!(secret.len() >= 32, "a shared secret: {secret:?}");
        if !self.secrets.iter().any(|s| s.value == secret) {
            self.secrets.push(Secret {
                label: format!("shared secret shown by {}", out.command),
                value: secret.clone(),
            });
        }
        self.record(out, BTreeSet::from([secret.clone()]));
        secret
    }

    fn verify(&mut self, key: &str, extra: &[&str], code: i32, result: &str) {
        let out = self.kw.verify(key, extra).expect_code(code);
        if extra.contains(&"--json") {
            assert_eq!(out.json()["result"], result, "{}", out.command);
        } else {
            assert_eq!(out.stdout.trim(), result, "{}", out.command);
        }
        self.record(out, BTreeSet::new());
    }

    /// Runs a key-creating loop, kills it with SIGKILL mid-way and captures
    /// the vault's files as the kill left them (a WAL with fresh commits),
    /// before any other command can checkpoint it.
    fn killed_loop(&mut self) {
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(r#"i=0; while :; do "$KW_BIN" key create "loop-$i" --json || exit 1; i=$((i+1)); done"#)
            .env("KW_BIN", BIN)
            .env("KEYWARD_VAULT", &self.kw.vault)
            .env("KEYWARD_PASSPHRASE", &self.kw.passphrase)
            .env("KEYWARD_ACTOR", &self.kw.actor)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (sender, chunks) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        // Let at least two keys be reported (however slow the machine), then
        // kill it in the middle of the next ones.
        let mut printed = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while complete_records(&printed) < 2 && std::time::Instant::now() < deadline {
            if let Ok(chunk) = chunks.recv_timeout(Duration::from_millis(100)) {
                printed.extend(chunk);
            }
        }
        // Then kill it while a `keyward` holds fresh commits in the WAL.
        let wal = &vault_files(&self.kw.vault)[2];
        while std::fs::metadata(wal).map_or(0, |m| m.len()) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the loop never left a commit in the WAL"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: plain syscall on the process group we created.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = child.wait();
        reader.join().unwrap();
        printed.extend(chunks.try_iter().flatten());
        let printed = String::from_utf8(printed).unwrap();
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        // The vault, its header, the WAL and the shared memory: all must be there.
        for (name, bytes) in read_expected(&vault_files(&self.kw.vault)) {
            self.captured_files
                .push((format!("{name} right after a SIGKILL"), bytes));
        }
        let wal = &self.captured_files[self.captured_files.len() - 2];
        assert!(!wal.1.is_empty(), "{}: the WAL held commits", wal.0);
        let mut allowed = BTreeSet::new();
        for value in serde_json::Deserializer::from_str(&printed).into_iter::<Value>() {
            let Ok(record) = value else { break };
            let secret = s(&record, "secret").to_string();
            self.secrets.push(Secret {
                label: format!("key {} printed by the killed loop", s(&record, "name")),
                value: secret.clone(),
            });
            allowed.insert(secret);
        }
        assert!(
            allowed.len() >= 2,
            "the killed loop printed fewer than two keys in a minute:\n{printed}\n{stderr}"
        );
        let out = Out {
            command: "the killed key-creating loop".into(),
            stdout: printed,
            stderr,
            code: -1,
        };
        self.record(out, allowed);
    }
}

/// How many complete JSON records `printed` holds.
fn complete_records(printed: &[u8]) -> usize {
    serde_json::Deserializer::from_slice(printed)
        .into_iter::<Value>()
        .take_while(Result::is_ok)
        .count()
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_key_or_secret_appears_where_it_was_not_meant_to() {
    let mut session = Session::new();
    let fleet = session.kw.path("fleet.txt");
    let fleet2 = session.kw.path("fleet2.txt");
    std::fs::write(&fleet, "reader-01\nreader-02\nreader-03\n").unwrap();
    std::fs::write(&fleet2, "gate-a\ngate-b\n").unwrap();
    let (fleet, fleet2) = (
        fleet.to_str().unwrap().to_string(),
        fleet2.to_str().unwrap().to_string(),
    );

    session.run(&["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"], 0);
    session.run(&["account", "create", "acme", "--key-limit", "500"], 0);
    session.run(
        &[
            "group",
            "create",
            "gates",
            "--scope",
            "devices:read",
            "--scope",
            "devices:delete",
        ],
        0,
    );
    session.run(&["group", "create", "ops", "--scope", "sessions:write"], 0);
    let first = session.create(&["key", "create", "gate-1", "--json"], 1);
    let first = key_tokens(&first.stdout).into_iter().next().unwrap();
    let second = session.create(&["key", "create", "gate-2", "--access", "WRITE"], 1);
    let second = key_tokens(&second.stdout).into_iter().next().unwrap();
    let admin = session.create(
        &["key", "create", "admin-1", "--preset", "admin", "--json"],
        1,
    );
    let admin = key_tokens(&admin.stdout).into_iter().next().unwrap();
    let batch = session.create(
        &[
            "key",
            "create",
            "--names-from",
            &fleet,
            "--preset",
            "device",
            "--json",
        ],
        3,
    );
    let reader = key_tokens(&batch.stdout).into_iter().next().unwrap();
    let text_batch = session.create(
        &["key", "create", "--names-from", &fleet2, "--group", "gates"],
        2,
    );
    let gate_a = text_batch
        .stdout
        .lines()
        .find(|l| l.starts_with("gate-a"))
        .and_then(|l| key_tokens(l).into_iter().next())
        .unwrap_or_else(|| panic!("no line for gate-a in:\n{}", text_batch.stdout));

    // Verifications: VALID, FORBIDDEN, with and without JSON.
    session.verify(&first, &[], 0, "VALID");
    session.verify(&second, &["--method", "POST", "--json"], 0, "VALID");
    session.verify(&admin, &["--unbind"], 0, "VALID");
    session.verify(&reader, &["--method", "GET"], 1, "FORBIDDEN");
    session.verify(
        &gate_a,
        &["--method", "DELETE", "--resource", "devices"],
        1,
        "FORBIDDEN",
    );

    // Changes.
    session.run(&["key", "disable", "gate-2"], 0);
    session.verify(&second, &["--method", "POST"], 1, "DISABLED");
    session.verify(&second, &["--method", "POST", "--json"], 1, "DISABLED");
    session.run(&["key", "rename", "gate-1", "north-gate"], 0);
    session.run(
        &[
            "key",
            "set-groups",
            "north-gate",
            "--group",
            "gates",
            "--group",
            "ops",
        ],
        0,
    );
    session.run(&["key", "enable", "gate-2"], 0);
    // Sync: the token goes in with `remote set`, and out only to the server.
    let (url, token) = (session.server.url.clone(), session.token.clone());
    session.run_env(
        &["remote", "set", &url],
        &[("KEYWARD_REMOTE_TOKEN", &token)],
        0,
    );
    session.run(&["sync", "--json"], 0);
    session.run(&["remote", "show"], 0);
    session.run(&["remote", "show", "--json"], 0);
    session.run(&["key", "list"], 0);
    session.run(&["key", "list", "--json"], 0);
    session.run(&["key", "show", "north-gate"], 0);
    session.run(&["key", "show", "north-gate", "--json"], 0);
    session.run(&["account", "list", "--json"], 0);
    session.run(&["group", "list"], 0);

    // The shared secret: shown, rotated, shown again.
    let shared = session.show_secret(false);
    assert_eq!(session.show_secret(true), shared);
    session.run(&["secret", "rotate"], 0);
    session.run(&["secret", "rotate", "--json"], 0);
    let rotated = session.show_secret(false);
    assert_ne!(rotated, shared);

    // A loop killed mid-way leaves the WAL as it was.
    session.killed_loop();

    session.run(&["audit", "list"], 0);
    session.run(&["audit", "list", "--json"], 0);
    session.run(&["audit", "verify"], 0);
    session.run(&["key", "delete", "gate-a", "--yes"], 0);
    session.verify(&gate_a, &[], 1, "NOT_FOUND");

    // Error cases print no secret either.
    session.run_env(
        &["key", "list"],
        &[("KEYWARD_PASSPHRASE", "not the passphrase")],
        3,
    );
    session.run_env(
        &["secret", "show"],
        &[("KEYWARD_PASSPHRASE", "not the passphrase")],
        3,
    );
    let mut changed = first.clone().into_bytes();
    let middle = changed.len() / 2;
    changed[middle] = if changed[middle] == b'a' { b'b' } else { b'a' };
    let changed = String::from_utf8(changed).unwrap();
    session.verify(&changed, &[], 1, "MALFORMED");
    session.verify(&format!("{first}x"), &["--json"], 1, "MALFORMED");
    session.verify(&format!("{first}\n{second}"), &[], 1, "MALFORMED");
    session.run(&["key", "create", "NORTH-GATE"], 2);
    session.run(&["group", "delete", "gates"], 2);
    session.run(&["key", "delete", "north-gate"], 2);
    session.run(&["key", "create", "bad", "--allow-unbind"], 2);

    // A new passphrase; the old one no longer opens the vault.
    let new = "a completely new passphrase".to_string();
    session.passphrases.push(new.clone());
    session.run_env(
        &["passphrase", "change"],
        &[("KEYWARD_NEW_PASSPHRASE", &new)],
        0,
    );
    session.run(&["key", "list"], 3);
    session.kw.passphrase = new;
    session.run(&["key", "list", "--json"], 0);
    session.verify(&first, &[], 0, "VALID");
    assert_eq!(session.show_secret(true), rotated);
    session.run(&["sync"], 0);
    session.run(&["audit", "list", "--json"], 0);
    session.run(&["audit", "verify", "--json"], 0);
    // The server as a crash leaves it: what it last wrote still in its WAL.
    session.server.kill();

    // ---- the search
    let mut found = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = session.captured_files.clone();
    for path in all_files(session.kw.dir.path()) {
        if path.to_str() == Some(fleet.as_str()) || path.to_str() == Some(fleet2.as_str()) {
            continue;
        }
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    let file_names: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    assert!(
        file_names.iter().any(|n| n.ends_with("vault.db")),
        "the vault file was searched: {file_names:?}"
    );
    assert!(
        file_names.iter().any(|n| n.ends_with("vault.db.header")),
        "the header was searched: {file_names:?}"
    );
    eprintln!("searched files: {file_names:?}");

    let secret_needles: Vec<(String, Vec<String>, &str)> = session
        .secrets
        .iter()
        .map(|s| (s.label.clone(), needles(&s.value), s.value.as_str()))
        .collect();
    // Allowed in no output and no file: the passphrases and the sync token.
    let passphrase_needles: Vec<(String, Vec<String>, &str)> = session
        .passphrases
        .iter()
        .map(|p| ("a passphrase".to_string(), vec![p.clone()], ""))
        .chain([("the sync token".to_string(), needles(&session.token), "")])
        .collect();
    // Every file the server wrote; its database and WAL must be there.
    let server_dir = session.server.dir.path().to_path_buf();
    let server_files = read_expected(&[
        server_dir.join("server.db"),
        server_dir.join("server.db-wal"),
        server_dir.join("server.log"),
    ]);
    assert!(
        !server_files[1].1.is_empty(),
        "the server's WAL holds its last commits"
    );
    let others: Vec<PathBuf> = all_files(&server_dir)
        .into_iter()
        .filter(|path| {
            !server_files
                .iter()
                .any(|(name, _)| *name == path.display().to_string())
        })
        .collect();
    files.extend(server_files);
    files.extend(read_expected(&others));
    let server_bytes: Vec<u8> = files
        .iter()
        .filter(|(name, _)| name.starts_with(&server_dir.display().to_string()))
        .flat_map(|(_, bytes)| bytes.clone())
        .collect();
    assert!(
        contains(&server_bytes, "north-gate"),
        "the server's files hold the synced records in the clear: the search reads them"
    );
    assert!(
        session.secrets.len() >= 10,
        "the session printed too few secrets to prove much: {}",
        session.secrets.len()
    );

    for (label, needles, value) in secret_needles.iter().chain(&passphrase_needles) {
        for (name, bytes) in &files {
            for needle in needles {
                if contains(bytes, needle) {
                    found.push(format!("{label}: {needle:?} is in the file {name}"));
                }
            }
        }
        for (out, allowed) in &session.log {
            if !value.is_empty() && allowed.contains(*value) {
                continue;
            }
            for needle in needles {
                if out.stdout.contains(needle.as_str()) {
                    found.push(format!(
                        "{label}: {needle:?} is on the stdout of {}",
                        out.command
                    ));
                }
                if out.stderr.contains(needle.as_str()) {
                    found.push(format!(
                        "{label}: {needle:?} is on the stderr of {}",
                        out.command
                    ));
                }
            }
        }
    }
    // The search itself works: each secret is found where it was printed.
    for secret in &session.secrets {
        let shown = session.log.iter().any(|(out, allowed)| {
            allowed.contains(&secret.value) && out.stdout.contains(&secret.value)
        });
        assert!(
            shown,
            "{}: not found in the output that printed it — the search is broken",
            secret.label
        );
    }
    // Nothing that looks like a key is printed except by the commands allowed to.
    for (out, allowed) in &session.log {
        let stray: BTreeSet<String> = key_tokens(&out.all())
            .difference(allowed)
            .cloned()
            .collect();
        if !stray.is_empty() {
            found.push(format!(
                "{} printed key-shaped text it should not: {stray:?}",
                out.command
            ));
        }
    }
    let mut by_what: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &found {
        *by_what
            .entry(if line.contains("file") {
                "files"
            } else {
                "outputs"
            })
            .or_default() += 1;
    }
    assert!(
        found.is_empty(),
        "secrets found where they must not be ({by_what:?}):\n{}",
        found.join("\n")
    );
    search_the_open_vault(&session, &rotated);
}

/// Opens the vault with its passphrase and searches every row of every
/// table: no key or passphrase anywhere; the shared secret only as the
/// account's (and no rotated-away one); the sync token only as its remote's.
fn search_the_open_vault(session: &Session, current_shared_secret: &str) {
    let vault = keyward_core::Vault::open(
        &session.kw.vault,
        &keyward_core::SecretString::from(session.kw.passphrase.as_str()),
    )
    .expect("open the vault with its passphrase");
    let kept = |table: &str, column: &str| vec![(table.to_string(), column.to_string())];
    // The search reads the decrypted rows: it finds what is kept where it is kept.
    let where_kept = [
        (current_shared_secret, kept("accounts", "shared_secret")),
        (session.token.as_str(), kept("remotes", "token")),
    ];
    for (value, cells) in &where_kept {
        assert_eq!(
            &vault.cells_holding(value).unwrap(),
            cells,
            "the shared secret and the token are where they are kept, and nowhere else"
        );
    }
    let searched = session
        .secrets
        .iter()
        .map(|s| (s.label.as_str(), s.value.as_str()))
        .chain(
            session
                .passphrases
                .iter()
                .map(|p| ("a passphrase", p.as_str())),
        )
        .chain([("the sync token", session.token.as_str())]);
    let mut found = Vec::new();
    for (label, value) in searched {
        let allowed = where_kept
            .iter()
            .find(|(kept, _)| *kept == value)
            .map(|(_, cells)| cells.clone())
            .unwrap_or_default();
        for needle in needles(value) {
            for cell in vault.cells_holding(&needle).unwrap() {
                if !allowed.contains(&cell) {
                    found.push(format!("{label}: {needle:?} is in {}.{}", cell.0, cell.1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets stored in the vault where they must not be:\n{}",
        found.join("\n")
    );
    assert!(
        vault
            .cells_holding(&session.kw.actor)
            .unwrap()
            .contains(&("audit_log".to_string(), "actor".to_string())),
        "the audit log is among the rows searched"
    );
}
