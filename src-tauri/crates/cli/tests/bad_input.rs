//! Bad input, table by table: each case runs the real `keyward` on a fresh
//! copy of one prepared vault and must end with exit 2 (bad input, not found,
//! refused) or 3 (vault problem), a one-line message on stderr that names
//! what was wrong, no panic, and the vault unchanged — compared through the
//! CLI's own JSON (accounts, groups, keys, audit log), not the file bytes,
//! which a WAL checkpoint may rewrite. Damaged vaults cannot be opened, so
//! for them the files themselves must be left exactly as they were.
//!
//! Every table runs all its cases and then reports every failing case.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

/// The prepared vault: account `acme` (prefix `ac`, key limit 4) holding the
/// group `gates` and three keys, so one more key fits and two do not.
struct Template {
    kw: Kw,
    before: Value,
    /// The full key of "North Gate" (active, READ, group gates).
    secret: String,
}

fn template() -> Template {
    let kw = Kw::with_account("acme", &["--prefix", "ac", "--key-limit", "4"]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    let (_, secret) = kw.create_key("North Gate", &["--group", "gates"]);
    kw.create_key("kiosk", &["--access", "WRITE"]);
    kw.create_key("spare", &[]);
    let before = kw.snapshot("acme");
    Template { kw, before, secret }
}

/// One bad input: the arguments (`{dir}` stands for the copy's directory),
/// environment changes, standard input, files to write first, the expected
/// exit code and fragments the message must hold (case-insensitive).
struct Case {
    label: String,
    args: Vec<String>,
    env: Vec<(&'static str, Option<String>)>,
    stdin: Option<Vec<u8>>,
    files: Vec<(&'static str, Vec<u8>)>,
    setup: Vec<Vec<String>>,
    code: i32,
    fragments: Vec<String>,
    /// Instead of a message: what stdout must say (verification results).
    stdout: Option<&'static str>,
}

fn case(label: &str, args: &[&str], code: i32, fragments: &[&str]) -> Case {
    Case {
        label: label.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        stdin: None,
        files: Vec::new(),
        setup: Vec::new(),
        code,
        fragments: fragments.iter().map(|f| f.to_string()).collect(),
        stdout: None,
    }
}

impl Case {
    fn env(mut self, name: &'static str, value: Option<&str>) -> Case {
        self.env.push((name, value.map(str::to_string)));
        self
    }
    fn stdin(mut self, bytes: &[u8]) -> Case {
        self.stdin = Some(bytes.to_vec());
        self
    }
    fn file(mut self, name: &'static str, content: &[u8]) -> Case {
        self.files.push((name, content.to_vec()));
        self
    }
    fn setup(mut self, args: &[&str]) -> Case {
        self.setup
            .push(args.iter().map(|a| a.to_string()).collect());
        self
    }
    fn prints(mut self, stdout: &'static str) -> Case {
        self.stdout = Some(stdout);
        self
    }
}

/// Runs every case on its own copy of the template; returns what went wrong.
fn run_table(template: &Template, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(problem) = run_case(template, &case) {
            failures.push(format!("[{}] {problem}", case.label));
        }
    }
    assert!(
        failures.is_empty(),
        "{} bad-input case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn run_case(template: &Template, case: &Case) -> Result<(), String> {
    let kw = Kw::copy_of(&template.kw);
    let dir = kw.dir.path().to_str().unwrap().to_string();
    for (name, content) in &case.files {
        std::fs::write(kw.path(name), content).unwrap();
    }
    for step in &case.setup {
        kw.ok(step);
    }
    let before = if case.setup.is_empty() {
        template.before.clone()
    } else {
        kw.snapshot("acme")
    };
    let args: Vec<String> = case.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
    let mut call = kw.cmd(&args);
    for (name, value) in &case.env {
        call = match value {
            Some(value) => call.env(name, value.replace("{dir}", &dir)),
            None => call.env_remove(name),
        };
    }
    if let Some(bytes) = &case.stdin {
        call = call.stdin(bytes);
    }
    let out = call.run_unchecked();
    let shown = format!(
        "{}\n    exit {}, stdout {:?}, stderr {:?}",
        out.command, out.code, out.stdout, out.stderr
    );
    if out.panicked() {
        return Err(format!("panicked: {shown}"));
    }
    if out.code != case.code {
        return Err(format!("expected exit {}: {shown}", case.code));
    }
    match case.stdout {
        Some(expected) => {
            if out.stdout.trim() != expected {
                return Err(format!("expected stdout {expected:?}: {shown}"));
            }
        }
        None => {
            let fragments: Vec<&str> = case.fragments.iter().map(String::as_str).collect();
            out.check_error_message(&fragments)
                .map_err(|problem| format!("{problem}: {shown}"))?;
            if !out.stdout.trim().is_empty() {
                return Err(format!("a failed command printed on stdout: {shown}"));
            }
        }
    }
    let after = kw.snapshot("acme");
    if after != before {
        return Err(format!(
            "the vault changed: {shown}\n    before {before}\n    after  {after}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- names

#[test]
fn bad_names_are_refused() {
    let t = template();
    let long = "x".repeat(65);
    let names_file = b"fine-1\nbell\x07name\nfine-2\n";
    run_table(
        &t,
        vec![
            case("empty key name", &["key", "create", ""], 2, &["name"]),
            case(
                "whitespace key name",
                &["key", "create", "  \t "],
                2,
                &["name"],
            ),
            case(
                "65-character key name",
                &["key", "create", &long],
                2,
                &["64"],
            ),
            case(
                "key name with a bell",
                &["key", "create", "bell\u{7}name"],
                2,
                &["control"],
            ),
            case(
                "key name with a tab inside",
                &["key", "create", "tab\tname"],
                2,
                &["control"],
            ),
            case(
                "key name with an escape",
                &["key", "create", "esc\u{1b}[31m"],
                2,
                &["control"],
            ),
            case(
                "duplicate key name, other case",
                &["key", "create", "NORTH GATE"],
                2,
                &["north gate"],
            ),
            case(
                "duplicate key name, extra spaces",
                &["key", "create", "  kiosk  "],
                2,
                &["kiosk"],
            ),
            case(
                "rename to an empty name",
                &["key", "rename", "kiosk", " "],
                2,
                &["name"],
            ),
            case(
                "rename to a 65-character name",
                &["key", "rename", "kiosk", &long],
                2,
                &["64"],
            ),
            case(
                "rename onto another key's name",
                &["key", "rename", "kiosk", "north GATE"],
                2,
                &["north gate"],
            ),
            case(
                "--names-from with a control character",
                &["key", "create", "--names-from", "{dir}/names.txt"],
                2,
                &["control"],
            )
            .file("names.txt", names_file),
            case(
                "--names-from with a 65-character line",
                &["key", "create", "--names-from", "{dir}/long.txt"],
                2,
                &["64"],
            )
            .file("long.txt", format!("ok-1\n{long}\n").as_bytes()),
            case(
                "--names-from naming a key twice",
                &["key", "create", "--names-from", "{dir}/twice.txt"],
                2,
                &["twin"],
            )
            .file("twice.txt", b"twin\nTWIN\n"),
            case(
                "--names-from with no names",
                &["key", "create", "--names-from", "{dir}/blank.txt"],
                2,
                &["blank.txt"],
            )
            .file("blank.txt", b"\n  \n"),
            case(
                "--names-from a missing file",
                &["key", "create", "--names-from", "{dir}/none.txt"],
                2,
                &["none.txt"],
            ),
            case("empty group name", &["group", "create", ""], 2, &["name"]),
            case(
                "65-character group name",
                &["group", "create", &long],
                2,
                &["64"],
            ),
            case(
                "duplicate group name, other case",
                &["group", "create", "GATES"],
                2,
                &["gates"],
            ),
            case(
                "group name with a control character",
                &["group", "create", "g\u{7}"],
                2,
                &["control"],
            ),
            case(
                "empty account name",
                &["account", "create", ""],
                2,
                &["name"],
            ),
            case(
                "duplicate account name, other case",
                &["account", "create", "ACME"],
                2,
                &["acme"],
            ),
            case(
                "65-character account name",
                &["account", "create", &long],
                2,
                &["64"],
            ),
            case(
                "rename an account to empty",
                &["account", "set", "acme", "--rename", ""],
                2,
                &["name"],
            ),
        ],
    );
}

// ---------------------------------------------------------------- groups and scopes

#[test]
fn unknown_groups_and_bad_scopes_are_refused() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "unknown group on create",
                &["key", "create", "new", "--group", "nope"],
                2,
                &["nope"],
            ),
            case(
                "one unknown group among known",
                &[
                    "key", "create", "new", "--group", "gates", "--group", "nope",
                ],
                2,
                &["nope"],
            ),
            case(
                "unknown group on set-groups",
                &["key", "set-groups", "kiosk", "--group", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown group to delete",
                &["group", "delete", "nope"],
                2,
                &["nope"],
            ),
            case(
                "group in use, no --force",
                &["group", "delete", "gates"],
                2,
                &["--force"],
            ),
            case(
                "unknown scope resource",
                &["group", "create", "new", "--scope", "printers:read"],
                2,
                &["printers"],
            ),
            case(
                "scope without an action",
                &["group", "create", "new", "--scope", "devices"],
                2,
                &["devices"],
            ),
            case(
                "scope with an unknown action",
                &["group", "create", "new", "--scope", "devices:admin"],
                2,
                &["devices:admin"],
            ),
            case(
                "scope without a resource",
                &["group", "create", "new", "--scope", ":read"],
                2,
                &["resource"],
            ),
            case(
                "scope with three parts",
                &["group", "create", "new", "--scope", "devices:read:x"],
                2,
                &["devices:read:x"],
            ),
            case(
                "empty scope",
                &["group", "create", "new", "--scope", ""],
                2,
                &["scope"],
            ),
            case(
                "upper-case scope resource",
                &["group", "create", "new", "--scope", "Devices:read"],
                2,
                &["devices"],
            ),
        ],
    );
}

// ---------------------------------------------------------------- key settings

#[test]
fn bad_key_settings_are_refused() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "unknown access type",
                &["key", "create", "new", "--access", "ADMIN"],
                2,
                &["ADMIN"],
            ),
            case(
                "empty access type",
                &["key", "create", "new", "--access", ""],
                2,
                &["access"],
            ),
            case(
                "unknown preset",
                &["key", "create", "new", "--preset", "boss"],
                2,
                &["boss"],
            ),
            case(
                "--expires-in without a unit",
                &["key", "create", "new", "--expires-in", "90"],
                2,
                &["90"],
            ),
            case(
                "--expires-in with an unknown unit",
                &["key", "create", "new", "--expires-in", "5y"],
                2,
                &["5y"],
            ),
            case(
                "--expires-in negative",
                &["key", "create", "new", "--expires-in=-1d"],
                2,
                &["-1d"],
            ),
            case(
                "--expires-in zero",
                &["key", "create", "new", "--expires-in", "0d"],
                2,
                &["0d"],
            ),
            case(
                "--expires-in huge",
                &[
                    "key",
                    "create",
                    "new",
                    "--expires-in",
                    "99999999999999999999d",
                ],
                2,
                &["99999999999999999999d"],
            ),
            case(
                "--expires in the past",
                &["key", "create", "new", "--expires", "2020-01-01"],
                2,
                &["past"],
            ),
            case(
                "--expires not a date",
                &["key", "create", "new", "--expires", "tomorrow"],
                2,
                &["tomorrow"],
            ),
            case(
                "--expires an impossible date",
                &["key", "create", "new", "--expires", "2099-02-30"],
                2,
                &["2099-02-30"],
            ),
            case(
                "READ key with --allow-unbind (default access)",
                &["key", "create", "new", "--allow-unbind"],
                2,
                &["READ", "unbind"],
            ),
            case(
                "READ key with --allow-unbind",
                &["key", "create", "new", "--access", "READ", "--allow-unbind"],
                2,
                &["READ", "unbind"],
            ),
            case(
                "classification preset with --allow-unbind",
                &[
                    "key",
                    "create",
                    "new",
                    "--preset",
                    "classification",
                    "--allow-unbind",
                ],
                2,
                &["READ", "unbind"],
            ),
            case(
                "unknown status filter",
                &["key", "list", "--status", "sleeping"],
                2,
                &["sleeping"],
            ),
        ],
    );
}

// ---------------------------------------------------------------- limits and accounts

#[test]
fn limits_prefixes_and_key_limits_are_enforced() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "one key past the limit",
                &["key", "create", "fifth"],
                2,
                &["4", "acme", "--key-limit"],
            )
            .setup(&["key", "create", "fourth"]),
            case(
                "a batch past the limit",
                &["key", "create", "--names-from", "{dir}/two.txt"],
                2,
                &["4", "acme"],
            )
            .file("two.txt", b"one-more\ntwo-more\n"),
            case(
                "invalid prefix: upper case",
                &["account", "set", "acme", "--prefix", "KW"],
                2,
                &["KW"],
            ),
            case(
                "invalid prefix: one character",
                &["account", "set", "acme", "--prefix", "a"],
                2,
                &["prefix"],
            ),
            case(
                "invalid prefix: 13 characters",
                &["account", "set", "acme", "--prefix", "abcdefghijklm"],
                2,
                &["prefix"],
            ),
            case(
                "invalid prefix: underscore",
                &["account", "create", "other", "--prefix", "a_b"],
                2,
                &["prefix"],
            ),
            case(
                "invalid prefix: empty",
                &["account", "create", "other", "--prefix", ""],
                2,
                &["prefix"],
            ),
            case(
                "key limit 0 on set",
                &["account", "set", "acme", "--key-limit", "0"],
                2,
                &["limit"],
            ),
            case(
                "key limit 0 on create",
                &["account", "create", "other", "--key-limit", "0"],
                2,
                &["limit"],
            ),
        ],
    );
}

#[test]
fn unknown_accounts_and_keys_are_refused() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "unknown account for key list",
                &["key", "list", "--account", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown account for key create",
                &["key", "create", "new", "--account", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown account for group create",
                &["group", "create", "new", "--account", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown account to set",
                &["account", "set", "nope", "--key-limit", "5"],
                2,
                &["nope"],
            ),
            case(
                "unknown account for secret show",
                &["secret", "show", "--account", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to show",
                &["key", "show", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to rename",
                &["key", "rename", "nope", "new"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to delete",
                &["key", "delete", "nope", "--yes"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to delete, no --yes",
                &["key", "delete", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to enable",
                &["key", "enable", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to disable",
                &["key", "disable", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key to set-groups",
                &["key", "set-groups", "nope"],
                2,
                &["nope"],
            ),
            case(
                "unknown key id",
                &["key", "show", "01900000-0000-7000-8000-000000000000"],
                2,
                &["01900000-0000-7000-8000-000000000000"],
            ),
            case(
                "key delete without --yes, no terminal",
                &["key", "delete", "kiosk"],
                2,
                &["--yes"],
            ),
        ],
    );
}

/// Errors found while parsing the command line (unknown commands, flags,
/// values of the wrong type) follow the same contract: exit 2 and a one-line
/// message on stderr.
#[test]
fn argument_errors_are_one_line_messages() {
    let t = template();
    run_table(
        &t,
        vec![
            case("unknown command", &["key", "explode"], 2, &["explode"]),
            case(
                "unknown flag",
                &["key", "create", "new", "--colour", "red"],
                2,
                &["--colour"],
            ),
            case(
                "key limit not a number",
                &["account", "set", "acme", "--key-limit", "many"],
                2,
                &["many"],
            ),
            case(
                "key limit negative",
                &["account", "create", "other", "--key-limit=-5"],
                2,
                &["-5"],
            ),
            case("key create with no name", &["key", "create"], 2, &["name"]),
            case(
                "--expires with --expires-in",
                &[
                    "key",
                    "create",
                    "new",
                    "--expires-in",
                    "9d",
                    "--expires",
                    "2099-01-01",
                ],
                2,
                &["--expires"],
            ),
            case(
                "the key to verify as an argument",
                &["key", "verify", "kw_not_a_real_key"],
                2,
                &["kw_not_a_real_key"],
            ),
        ],
    );
}

// ---------------------------------------------------------------- verify

/// `secret` with the character in the middle replaced by another base62 character.
fn one_changed(secret: &str) -> String {
    let mut chars: Vec<char> = secret.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

#[test]
fn bad_verify_requests_and_malformed_keys() {
    let t = template();
    let key = t.secret.as_bytes();
    let changed = one_changed(&t.secret);
    let trailing = format!("{}!", t.secret);
    let trailing_alnum = format!("{}x", t.secret);
    let dropped = t.secret[..t.secret.len() - 1].to_string();
    let other_prefix = format!("zz{}", &t.secret[2..]);
    let inner_space = format!("{} {}", &t.secret[..10], &t.secret[10..]);
    let huge = "k".repeat(200_000);
    let malformed = |label: &str, presented: &[u8]| {
        case(label, &["key", "verify"], 1, &[])
            .stdin(presented)
            .prints("MALFORMED")
    };
    run_table(
        &t,
        vec![
            case(
                "bad --method",
                &["key", "verify", "--method", "FETCH"],
                2,
                &["FETCH"],
            )
            .stdin(key),
            case(
                "empty --method",
                &["key", "verify", "--method", ""],
                2,
                &["method"],
            )
            .stdin(key),
            case(
                "--unbind with GET",
                &["key", "verify", "--unbind", "--method", "GET"],
                2,
                &["unbind"],
            )
            .stdin(key),
            case(
                "--unbind on sessions",
                &["key", "verify", "--unbind", "--resource", "sessions"],
                2,
                &["unbind"],
            )
            .stdin(key),
            case(
                "bad --resource",
                &["key", "verify", "--resource", "Dev ices"],
                2,
                &["Dev ices"],
            )
            .stdin(key),
            malformed("empty key", b""),
            malformed("only a newline", b"\n"),
            malformed("garbage", b"hello world"),
            malformed("binary garbage", &[0xff, 0x00, 0xfe, 0x10, 0x80]),
            malformed("a real key with one character changed", changed.as_bytes()),
            malformed("a real key with a trailing '!'", trailing.as_bytes()),
            malformed("a real key with a trailing 'x'", trailing_alnum.as_bytes()),
            malformed("a real key missing its last character", dropped.as_bytes()),
            malformed("a real key with another prefix", other_prefix.as_bytes()),
            malformed("a real key with a space inside", inner_space.as_bytes()),
            malformed("200 kB of input", huge.as_bytes()),
        ],
    );
}

// ---------------------------------------------------------------- passphrase

#[test]
fn a_wrong_or_missing_passphrase_is_a_vault_problem() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "wrong passphrase",
                &["key", "list"],
                3,
                &["wrong passphrase"],
            )
            .env("KEYWARD_PASSPHRASE", Some("not the passphrase")),
            case(
                "wrong passphrase on a change",
                &["key", "create", "new"],
                3,
                &["wrong passphrase"],
            )
            .env("KEYWARD_PASSPHRASE", Some("not the passphrase")),
            case(
                "wrong passphrase for secret show",
                &["secret", "show"],
                3,
                &["wrong passphrase"],
            )
            .env("KEYWARD_PASSPHRASE", Some("not the passphrase")),
            case(
                "wrong passphrase for passphrase change",
                &["passphrase", "change"],
                3,
                &["wrong passphrase"],
            )
            .env("KEYWARD_PASSPHRASE", Some("not the passphrase"))
            .env("KEYWARD_NEW_PASSPHRASE", Some("a new passphrase here")),
            case(
                "no passphrase, no terminal",
                &["key", "list"],
                3,
                &["KEYWARD_PASSPHRASE"],
            )
            .env("KEYWARD_PASSPHRASE", None),
            case(
                "empty passphrase, no terminal",
                &["key", "list"],
                3,
                &["KEYWARD_PASSPHRASE"],
            )
            .env("KEYWARD_PASSPHRASE", Some("")),
            case(
                "no passphrase, a pipe on stdin",
                &["key", "list"],
                3,
                &["KEYWARD_PASSPHRASE"],
            )
            .env("KEYWARD_PASSPHRASE", None)
            .stdin(b"correct horse battery staple\n"),
            case(
                "no passphrase for key verify",
                &["key", "verify"],
                3,
                &["KEYWARD_PASSPHRASE"],
            )
            .env("KEYWARD_PASSPHRASE", None)
            .stdin(t.secret.as_bytes()),
            case(
                "too short a new passphrase",
                &["passphrase", "change"],
                2,
                &["passphrase"],
            )
            .env("KEYWARD_NEW_PASSPHRASE", Some("short")),
            case(
                "missing vault",
                &["--vault", "{dir}/missing.db", "key", "list"],
                3,
                &["missing.db"],
            ),
            case(
                "missing vault from the environment",
                &["key", "create", "new"],
                3,
                &["missing.db"],
            )
            .env("KEYWARD_VAULT", Some("{dir}/missing.db")),
        ],
    );
}

#[test]
fn a_missing_vault_is_not_created_by_a_command() {
    let kw = Kw::empty();
    for args in [
        vec!["key", "list"],
        vec!["account", "create", "acme"],
        vec!["audit", "verify"],
    ] {
        kw.run(&args)
            .expect_error(3, &[&kw.vault.display().to_string()]);
        assert_eq!(
            files_in(kw.dir.path()),
            BTreeMap::new(),
            "{args:?} created files"
        );
    }
}

// ---------------------------------------------------------------- damaged vault files

fn files_in(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

fn plain_sqlite_file(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('not a vault');")
        .unwrap();
    drop(conn);
    assert!(std::fs::read(path)
        .unwrap()
        .starts_with(b"SQLite format 3\0"));
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = Rng::from_env_or_time("KEYWARD_TEST_SEED");
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// The vault's files are damaged in place; the commands must fail with exit
/// 3 and a clear message, and leave every file exactly as it was.
#[test]
fn a_damaged_or_foreign_vault_is_a_vault_problem_and_is_left_alone() {
    let t = template();
    let vault_bytes = std::fs::read(&t.kw.vault).unwrap();
    let damaged = [
        "damaged",
        "not a keyward vault",
        "corrupt",
        "truncated",
        "not a vault",
    ];
    type Damage = Box<dyn Fn(&Kw)>;
    let cases: Vec<(&str, Damage, &[&str])> = vec![
        (
            "vault truncated to half",
            Box::new(move |kw: &Kw| {
                std::fs::write(&kw.vault, &vault_bytes[..vault_bytes.len() / 2]).unwrap()
            }),
            &damaged,
        ),
        (
            "vault truncated to one page",
            Box::new(|kw: &Kw| truncate(&kw.vault, 4096)),
            &damaged,
        ),
        (
            "vault truncated to 100 bytes",
            Box::new(|kw: &Kw| truncate(&kw.vault, 100)),
            &damaged,
        ),
        (
            "vault truncated to 0 bytes",
            Box::new(|kw: &Kw| truncate(&kw.vault, 0)),
            &damaged,
        ),
        (
            "random bytes at the vault path",
            Box::new(|kw: &Kw| std::fs::write(&kw.vault, random_bytes(64 * 1024)).unwrap()),
            &damaged,
        ),
        (
            "a plain SQLite file at the vault path",
            Box::new(|kw: &Kw| {
                std::fs::remove_file(&kw.vault).unwrap();
                plain_sqlite_file(&kw.vault);
            }),
            &damaged,
        ),
        (
            "a text file at the vault path",
            Box::new(|kw: &Kw| std::fs::write(&kw.vault, "hello\n").unwrap()),
            &damaged,
        ),
        (
            "missing header file",
            Box::new(|kw: &Kw| std::fs::remove_file(kw.header()).unwrap()),
            &["header"],
        ),
        (
            "empty header file",
            Box::new(|kw: &Kw| std::fs::write(kw.header(), b"").unwrap()),
            &["header"],
        ),
        (
            "random bytes as the header",
            Box::new(|kw: &Kw| std::fs::write(kw.header(), random_bytes(500)).unwrap()),
            &["header"],
        ),
        (
            "a JSON object as the header",
            Box::new(|kw: &Kw| std::fs::write(kw.header(), b"{}").unwrap()),
            &["header"],
        ),
        (
            "the header of another vault",
            Box::new(|kw: &Kw| {
                let other = Kw::init();
                std::fs::copy(other.header(), kw.header()).unwrap();
            }),
            &["header", "damaged", "not a keyward vault"],
        ),
    ];
    let mut failures = Vec::new();
    for (label, damage, fragments) in &cases {
        for args in [
            vec!["key", "list", "--json"],
            vec!["key", "create", "new", "--json"],
            vec!["audit", "verify"],
        ] {
            let kw = Kw::copy_of(&t.kw);
            damage(&kw);
            let files_before = files_in(kw.dir.path());
            let out = kw.cmd(&args).run_unchecked();
            let shown = format!(
                "{}: exit {}, stdout {:?}, stderr {:?}",
                out.command, out.code, out.stdout, out.stderr
            );
            if out.panicked() {
                failures.push(format!("[{label}] panicked: {shown}"));
                continue;
            }
            if out.code != 3 {
                failures.push(format!("[{label}] expected exit 3: {shown}"));
            }
            let message = out.stderr.trim().to_lowercase();
            if message.contains('\n') || message.is_empty() {
                failures.push(format!("[{label}] expected a one-line message: {shown}"));
            } else if !fragments.iter().any(|f| message.contains(f)) {
                failures.push(format!(
                    "[{label}] the message mentions none of {fragments:?}: {shown}"
                ));
            }
            if message.contains("file is not a database") {
                failures.push(format!(
                    "[{label}] a raw SQLite message, not a clear one: {shown}"
                ));
            }
            let files_after = files_in(kw.dir.path());
            if files_after != files_before {
                let changed: Vec<String> = files_before
                    .keys()
                    .chain(files_after.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .filter(|p| files_before.get(*p) != files_after.get(*p))
                    .map(|p| {
                        let size = |m: &BTreeMap<PathBuf, Vec<u8>>| {
                            m.get(p)
                                .map_or("absent".to_string(), |b| format!("{} bytes", b.len()))
                        };
                        format!(
                            "{} ({} -> {})",
                            p.file_name().unwrap().to_string_lossy(),
                            size(&files_before),
                            size(&files_after)
                        )
                    })
                    .collect();
                failures.push(format!(
                    "[{label}] the damaged vault's files were changed: {changed:?}: {shown}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} damaged-vault case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

// ---------------------------------------------------------------- no panics

/// `keyward key list --json | head -1` is ordinary scripting: when the reader
/// goes away the command must not panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let kw = Kw::with_account("acme", &[]);
    for i in 0..5 {
        kw.create_key(&format!("key-{i}"), &[]);
    }
    let mut failures = Vec::new();
    for args in [
        vec!["key", "list", "--json"],
        vec!["audit", "list"],
        vec!["key", "list"],
    ] {
        let mut command = kw.cmd(&args).command();
        let mut child = command.spawn().unwrap();
        // Close the read end before the command writes (it is still deriving the key).
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("panicked") || output.status.code() == Some(101) {
            failures.push(format!(
                "keyward {}: exit {:?}, stderr: {}",
                args.join(" "),
                output.status.code(),
                stderr.lines().take(3).collect::<Vec<_>>().join(" | ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "writing to a closed stdout panics:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- fleets: roll and review

#[test]
fn bad_rolls_and_review_windows_are_refused() {
    let t = template();
    run_table(
        &t,
        vec![
            case(
                "a negative grace",
                &["key", "roll", "kiosk", "--grace", "-5s"],
                2,
                &["-5s"],
            ),
            case(
                "a grace of 400 days",
                &["key", "roll", "kiosk", "--grace", "400d"],
                2,
                &["at most 30 days"],
            ),
            case(
                "a grace without a unit",
                &["key", "roll", "kiosk", "--grace", "24"],
                2,
                &["24"],
            ),
            case(
                "a grace in years",
                &["key", "roll", "kiosk", "--grace", "1y"],
                2,
                &["1y"],
            ),
            case(
                "a deleted key",
                &["key", "roll", "spare"],
                2,
                &["spare", "not found"],
            )
            .setup(&["key", "delete", "spare", "--yes"]),
            case(
                "a key already rolling out",
                &["key", "roll", "kiosk (replaced)"],
                2,
                &["already replaced"],
            )
            .setup(&["key", "roll", "kiosk"]),
            case(
                "an inactive key",
                &["key", "roll", "spare"],
                2,
                &["inactive"],
            )
            .setup(&["key", "disable", "spare"]),
            case(
                "a key a roll ended at once",
                &["key", "roll", "kiosk (replaced)"],
                2,
                &["already replaced"],
            )
            .setup(&["key", "roll", "kiosk", "--grace", "0"]),
            case(
                "a key and a group",
                &["key", "roll", "kiosk", "--group", "gates"],
                2,
                &["--group"],
            ),
            case("nothing to roll", &["key", "roll"], 2, &["KEY"]),
            case(
                "an unknown group",
                &["key", "roll", "--group", "doors"],
                2,
                &["doors"],
            ),
            case(
                "a filter that matches nothing",
                &["key", "roll", "--filter", "zzz"],
                2,
                &["no key to roll"],
            ),
            case(
                "a group of inactive keys",
                &["key", "roll", "--group", "gates"],
                2,
                &["no key to roll", "inactive"],
            )
            .setup(&["key", "disable", "North Gate"]),
            case(
                "--expiring without a unit",
                &["key", "list", "--expiring", "14"],
                2,
                &["--expiring"],
            ),
            case(
                "--expiring of zero",
                &["key", "list", "--expiring", "0"],
                2,
                &["--expiring"],
            ),
            case(
                "--unused-for negative",
                &["key", "list", "--unused-for=-90d"],
                2,
                &["-90d"],
            ),
            case(
                "--unused-for absurd",
                &["key", "list", "--unused-for", "99999d"],
                2,
                &["at most"],
            ),
            case(
                "an export folder that exists",
                &["key", "create", "new", "--export-dir", "{dir}"],
                2,
                &["already exists"],
            ),
            case(
                "an export folder inside a file",
                &[
                    "key",
                    "create",
                    "new",
                    "--export-dir",
                    "{dir}/vault.db/keys",
                ],
                2,
                &["not a folder"],
            ),
            case(
                "an export folder that cannot be written",
                &[
                    "key",
                    "create",
                    "new",
                    "--export-dir",
                    "/sys/keyward-export",
                ],
                2,
                &["cannot write", "/sys/keyward-export"],
            ),
            case(
                "a roll into an export folder that exists",
                &["key", "roll", "kiosk", "--export-dir", "{dir}"],
                2,
                &["already exists"],
            ),
        ],
    );
}
