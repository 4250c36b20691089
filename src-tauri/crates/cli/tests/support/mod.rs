//! Shared plumbing for the CLI's integration tests: they run the real
//! `keyward` binary on temporary vaults, each test in its own directory.
//!
//! Every command runs in a new session (no controlling terminal), with stdin
//! null unless the test pipes into it, and with `KEYWARD_VAULT`,
//! `KEYWARD_PASSPHRASE` and `KEYWARD_ACTOR` set explicitly (the parent's
//! `KEYWARD_*` variables never leak in).

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");
pub const PASSPHRASE: &str = "correct horse battery staple";
pub const ACTOR: &str = "test-actor";

/// The fields of a key in JSON, exactly (issue 3, section 3); `secret` is
/// added only by `key create`.
pub const KEY_FIELDS: [&str; 14] = [
    "id",
    "account",
    "name",
    "description",
    "access",
    "allow_unbind",
    "groups",
    "status",
    "hint",
    "created_at",
    "created_by",
    "updated_at",
    "last_used_at",
    "expires_at",
];

/// Every environment variable the CLI reads; cleared before each command.
const KEYWARD_ENV: [&str; 6] = [
    "KEYWARD_VAULT",
    "KEYWARD_PASSPHRASE",
    "KEYWARD_NEW_PASSPHRASE",
    "KEYWARD_ACTOR",
    "KEYWARD_REMOTE_TOKEN",
    "KEYWARD_REMOTE_CA",
];

/// One test's vault: a temporary directory holding `vault.db` (and its header).
pub struct Kw {
    pub dir: tempfile::TempDir,
    pub vault: PathBuf,
    pub passphrase: String,
    pub actor: String,
}

/// What a finished command left: its output and exit code.
#[derive(Debug, Clone)]
pub struct Out {
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    /// The exit code; -1 when the process died of a signal.
    pub code: i32,
}

/// A command being prepared: environment changes and standard input.
pub struct Call<'a> {
    kw: &'a Kw,
    args: Vec<OsString>,
    env: Vec<(String, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
}

impl Kw {
    /// An empty directory and a vault path in it; no vault yet.
    pub fn empty() -> Kw {
        let dir = tempfile::Builder::new()
            .prefix("keyward-cli-test")
            .tempdir()
            .expect("temp dir");
        let vault = dir.path().join("vault.db");
        Kw {
            dir,
            vault,
            passphrase: PASSPHRASE.to_string(),
            actor: ACTOR.to_string(),
        }
    }

    /// A fresh vault with cheap argon2id parameters (8 MiB, 1 pass) so tests stay fast.
    pub fn init() -> Kw {
        let kw = Kw::empty();
        kw.ok(&["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"]);
        kw
    }

    /// A fresh (fast) vault holding one account.
    pub fn with_account(name: &str, extra: &[&str]) -> Kw {
        let kw = Kw::init();
        let mut args = vec!["account", "create", name];
        args.extend_from_slice(extra);
        kw.ok(&args);
        kw
    }

    /// A copy of another test vault's files (vault, header, WAL, SHM) in a new directory.
    pub fn copy_of(template: &Kw) -> Kw {
        let kw = Kw::empty();
        for (from, to) in vault_files(&template.vault)
            .iter()
            .zip(vault_files(&kw.vault))
        {
            if from.exists() {
                std::fs::copy(from, &to).expect("copy vault file");
            }
        }
        Kw {
            passphrase: template.passphrase.clone(),
            actor: template.actor.clone(),
            ..kw
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn header(&self) -> PathBuf {
        header_of(&self.vault)
    }

    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Call<'_> {
        Call {
            kw: self,
            args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.cmd(args).run()
    }

    /// Runs a command that must succeed (exit 0).
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.run(args).expect_code(0)
    }

    /// Runs a command with `--json` that must succeed, and parses its output.
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        let mut all: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
        all.push("--json".into());
        self.ok(&all).json()
    }

    /// Creates a key with `--json`; returns its record (without the secret) and the secret.
    pub fn create_key(&self, name: &str, extra: &[&str]) -> (Value, String) {
        let mut args = vec!["key", "create", name];
        args.extend_from_slice(extra);
        let mut record = self.json(&args);
        let secret = record
            .as_object_mut()
            .and_then(|o| o.remove("secret"))
            .and_then(|s| s.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("key create printed no secret: {record}"));
        (record, secret)
    }

    /// `key verify` with the key on standard input.
    pub fn verify(&self, key: &str, extra: &[&str]) -> Out {
        let mut args = vec!["key", "verify"];
        args.extend_from_slice(extra);
        self.cmd(&args).stdin(key.as_bytes()).run()
    }

    /// The vault's state as the CLI reports it (not its bytes, which a WAL
    /// checkpoint may rewrite): accounts, and the groups, keys and audit log of `account`.
    pub fn snapshot(&self, account: &str) -> Value {
        serde_json::json!({
            "accounts": self.json(&["account", "list"]),
            "groups": self.json(&["group", "list", "--account", account]),
            "keys": self.json(&["key", "list", "--account", account]),
            "audit": self.json(&["audit", "list"]),
        })
    }
}

impl<'a> Call<'a> {
    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((name.to_string(), Some(value.as_ref().to_os_string())));
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.env.push((name.to_string(), None));
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// The prepared `Command`: own session, explicit environment, stdin null.
    pub fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command.args(&self.args);
        for name in KEYWARD_ENV {
            command.env_remove(name);
        }
        command
            .env("KEYWARD_VAULT", &self.kw.vault)
            .env("KEYWARD_PASSPHRASE", &self.kw.passphrase)
            .env("KEYWARD_ACTOR", &self.kw.actor)
            .env("NO_COLOR", "1");
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        no_terminal(&mut command);
        command
    }

    pub fn run(self) -> Out {
        let out = self.run_unchecked();
        out.assert_no_panic();
        out
    }

    /// Runs the command without asserting that it did not panic.
    pub fn run_unchecked(self) -> Out {
        let mut command = self.command();
        let description = self.describe();
        if self.stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {BIN}: {err}"));
        if let Some(bytes) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // The command may exit before reading everything; that is its business.
            let _ = pipe.write_all(bytes);
        }
        let output = child.wait_with_output().expect("wait for keyward");
        let out = Out {
            command: description,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        };
        out
    }

    fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| format!("{:?}", a.to_string_lossy()))
            .collect();
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={:?}", v.to_string_lossy()),
                None => format!("-{k}"),
            })
            .collect();
        format!(
            "keyward {}{}",
            args.join(" "),
            if env.is_empty() {
                String::new()
            } else {
                format!(" [env {}]", env.join(" "))
            }
        )
    }
}

/// Starts the command in a new session, so it has no controlling terminal
/// and cannot prompt: "no terminal" is then true wherever the tests run.
pub fn no_terminal(command: &mut Command) {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Out {
    pub fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.code == 101
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.panicked(),
            "{} panicked (exit {}):\n{}",
            self.command,
            self.code,
            self.stderr
        );
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "{}: expected exit {code}, got {}\nstdout: {}\nstderr: {}",
            self.command, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts a failure: the exit code, a one-line message on stderr, and
    /// that it contains each fragment (case-insensitive).
    pub fn expect_error(self, code: i32, fragments: &[&str]) -> Out {
        let out = self.expect_code(code);
        if let Err(problem) = out.check_error_message(fragments) {
            panic!("{}: {problem}", out.command);
        }
        out
    }

    /// The checks of `expect_error` other than the code, as a result.
    pub fn check_error_message(&self, fragments: &[&str]) -> Result<(), String> {
        let message = self.stderr.trim();
        if message.is_empty() {
            return Err("stderr is empty: expected a one-line error".into());
        }
        if message.contains('\n') {
            return Err(format!("stderr is not one line:\n{}", self.stderr));
        }
        let lower = message.to_lowercase();
        for fragment in fragments {
            if !lower.contains(&fragment.to_lowercase()) {
                return Err(format!("stderr {message:?} does not mention {fragment:?}"));
            }
        }
        Ok(())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "{}: stdout is not JSON ({err}):\n{}",
                self.command, self.stdout
            )
        })
    }

    /// One JSON value per non-empty line.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|err| panic!("{}: line is not JSON ({err}): {l}", self.command))
            })
            .collect()
    }

    /// Standard output and standard error together, for searching.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn header_of(vault: &Path) -> PathBuf {
    let mut name = vault.as_os_str().to_os_string();
    name.push(".header");
    PathBuf::from(name)
}

/// The vault file, its header, WAL and shared-memory file.
pub fn vault_files(vault: &Path) -> Vec<PathBuf> {
    ["", ".header", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = vault.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// A field of a JSON object as a string (panics with the object otherwise).
pub fn s<'v>(value: &'v Value, field: &str) -> &'v str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value}"))
}

/// The sorted field names of a JSON object.
pub fn fields(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

pub fn key_fields() -> Vec<String> {
    let mut names: Vec<String> = KEY_FIELDS.iter().map(|f| f.to_string()).collect();
    names.sort();
    names
}

/// Asserts a key record has exactly the contract's fields (plus `secret` when `with_secret`).
pub fn assert_key_fields(value: &Value, with_secret: bool) {
    let mut expected = key_fields();
    if with_secret {
        expected.push("secret".into());
        expected.sort();
    }
    assert_eq!(fields(value), expected, "fields of a key record: {value}");
}

/// Parses an RFC 3339 time and checks it is UTC.
pub fn rfc3339_utc(text: &str) -> time::OffsetDateTime {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|err| panic!("{text:?} is not RFC 3339: {err}"));
    assert!(at.offset().is_utc(), "{text:?} is not UTC");
    assert!(
        text.ends_with('Z') || text.ends_with("+00:00"),
        "{text:?} is not written as UTC"
    );
    at
}

/// A small PRNG (splitmix64) for tests that want varied but reproducible runs.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `$env_var` if set, else from the clock; prints the seed.
    pub fn from_env_or_time(env_var: &str) -> Rng {
        let seed = std::env::var(env_var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("seed: {seed} (rerun with {env_var}={seed})");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low)
    }
}

/// `keyward-server`, built next to `keyward` (`cargo test --workspace` builds both).
pub fn server_binary() -> PathBuf {
    let path = Path::new(BIN).with_file_name("keyward-server");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p keyward-server` (`cargo test --workspace` does)",
        path.display()
    );
    path
}

/// The real `keyward-server` on a loopback port, its database and log in a
/// directory of its own; killed (SIGKILL) when dropped.
pub struct RemoteServer {
    child: Option<std::process::Child>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl RemoteServer {
    pub fn start() -> RemoteServer {
        let dir = tempfile::tempdir().expect("a directory for the server");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("the server's log");
        let mut child = Command::new(server_binary())
            .arg("--db")
            .arg(dir.path().join("server.db"))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start keyward-server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("its stdout")),
            &mut line,
        )
        .expect("read the server's first line");
        let url = line
            .trim()
            .strip_prefix("keyward-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from keyward-server: {line:?}"))
            .to_string();
        RemoteServer {
            child: Some(child),
            url,
            dir,
        }
    }

    /// `keyward-server token create`: a new desktop's sync token for `account`.
    pub fn token(&self, account: &str, label: &str) -> String {
        let output = Command::new(server_binary())
            .arg("--db")
            .arg(self.dir.path().join("server.db"))
            .args(["token", "create", "--account", account, "--label", label])
            .stdin(Stdio::null())
            .output()
            .expect("run keyward-server token create");
        assert!(
            output.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("a token is text")
            .trim()
            .to_string()
    }

    /// Stops the server abruptly (SIGKILL): its files stay as a crash leaves them.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads each file the caller expects; a missing one fails the test instead
/// of being searched as if it were empty. `(path, bytes)`.
pub fn read_expected(paths: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .unwrap_or_else(|err| panic!("expected {} to exist: {err}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect()
}
