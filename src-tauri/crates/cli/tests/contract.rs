//! The `keyward` command-line contract (issue 3, section 3), checked by
//! running the real binary on temporary vaults: a tour of every command and
//! flag, the JSON shapes, the exit codes and the access rules of DESIGN.md.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::*;

const FAST_KDF: [&str; 4] = ["--kdf-memory-mib", "19", "--kdf-passes", "2"];

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|k| s(k, "name").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn find<'v>(list: &'v Value, name: &str) -> &'v Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

// ---------------------------------------------------------------- init

#[test]
fn init_refuses_to_overwrite_an_existing_vault_and_names_the_file() {
    let kw = Kw::with_account("acme", &[]);
    kw.create_key("gate", &[]);
    let before = kw.snapshot("acme");

    let out = kw
        .cmd(&["init", FAST_KDF[0], FAST_KDF[1], FAST_KDF[2], FAST_KDF[3]])
        .env("KEYWARD_PASSPHRASE", "another passphrase")
        .run();
    assert!(
        out.code == 2 || out.code == 3,
        "init over a vault: expected exit 2 or 3, got {}: {}",
        out.code,
        out.stderr
    );
    out.check_error_message(&[&kw.vault.display().to_string()])
        .unwrap();
    assert_eq!(
        kw.snapshot("acme"),
        before,
        "the existing vault must be untouched and still open with its passphrase"
    );
}

#[test]
fn init_refuses_to_overwrite_a_file_that_is_not_a_vault() {
    let kw = Kw::empty();
    std::fs::write(&kw.vault, b"precious notes").unwrap();
    let out = kw.run(&["init", FAST_KDF[0], FAST_KDF[1], FAST_KDF[2], FAST_KDF[3]]);
    assert!(
        out.code == 2 || out.code == 3,
        "expected exit 2 or 3, got {}: {}",
        out.code,
        out.stderr
    );
    out.check_error_message(&[&kw.vault.display().to_string()])
        .unwrap();
    assert_eq!(std::fs::read(&kw.vault).unwrap(), b"precious notes");
    assert!(
        !kw.header().exists(),
        "init must not leave a header next to a file it refused"
    );
}

#[test]
fn init_refuses_when_only_the_header_file_exists() {
    let kw = Kw::empty();
    std::fs::write(kw.header(), b"{}").unwrap();
    let out = kw.run(&["init", FAST_KDF[0], FAST_KDF[1], FAST_KDF[2], FAST_KDF[3]]);
    assert!(
        out.code == 2 || out.code == 3,
        "expected exit 2 or 3, got {}: {}",
        out.code,
        out.stderr
    );
    out.check_error_message(&[&kw.header().display().to_string()])
        .unwrap();
    assert_eq!(std::fs::read(kw.header()).unwrap(), b"{}");
}

/// The one test on the default argon2id parameters (64 MiB, 3 passes, 4 lanes).
#[test]
fn init_with_default_kdf_parameters_creates_a_working_vault() {
    let kw = Kw::empty();
    let created = kw.json(&["init"]);
    assert_eq!(created["kdf"]["memory_kib"], 64 * 1024, "{created}");
    assert_eq!(created["kdf"]["passes"], 3, "{created}");
    assert_eq!(created["kdf"]["lanes"], 4, "{created}");
    kw.ok(&["account", "create", "acme"]);
    let (_, secret) = kw.create_key("gate", &[]);
    kw.verify(&secret, &[]).expect_code(0);
    assert_eq!(names(&kw.json(&["key", "list"])), set(&["gate"]));
    kw.cmd(&["key", "list"])
        .env("KEYWARD_PASSPHRASE", "not the passphrase")
        .run()
        .expect_error(3, &["wrong passphrase"]);
}

#[test]
fn the_vault_flag_wins_over_the_environment() {
    let kw = Kw::empty();
    let elsewhere = kw.path("elsewhere.db");
    kw.cmd(&[
        "--vault",
        elsewhere.to_str().unwrap(),
        "init",
        "--kdf-memory-mib",
        "19",
        "--kdf-passes",
        "2",
    ])
    .run()
    .expect_code(0);
    assert!(
        elsewhere.exists() && !kw.vault.exists(),
        "--vault must choose the file, not $KEYWARD_VAULT"
    );
    kw.ok(&[
        "--vault",
        elsewhere.to_str().unwrap(),
        "account",
        "create",
        "acme",
    ]);
    kw.run(&["account", "list"]).expect_error(3, &[]);
}

// ---------------------------------------------------------------- accounts

#[test]
fn account_create_list_and_set() {
    let kw = Kw::init();
    let acme = kw.json(&[
        "account",
        "create",
        "acme",
        "--prefix",
        "ac",
        "--key-limit",
        "5",
    ]);
    assert_eq!(
        (
            s(&acme, "name"),
            s(&acme, "prefix"),
            acme["key_limit"].as_u64()
        ),
        ("acme", "ac", Some(5))
    );
    let defaults = kw.json(&["account", "create", "beta"]);
    assert_eq!(
        (s(&defaults, "prefix"), defaults["key_limit"].as_u64()),
        ("kw", Some(10)),
        "defaults: prefix kw, key limit 10"
    );

    let list = kw.json(&["account", "list"]);
    assert_eq!(names(&list), set(&["acme", "beta"]));
    assert_eq!(find(&list, "acme")["prefix"], "ac");
    assert_eq!(find(&list, "acme")["key_limit"], 5);

    let (_, old_key) = kw.create_key("gate", &["--account", "acme"]);
    assert!(
        old_key.starts_with("ac_"),
        "a key starts with its account's prefix: {old_key}"
    );

    let set_out = kw.json(&[
        "account",
        "set",
        "acme",
        "--rename",
        "Acme Timing",
        "--prefix",
        "zz9",
        "--key-limit",
        "7",
    ]);
    assert_eq!(
        (
            s(&set_out, "name"),
            s(&set_out, "prefix"),
            set_out["key_limit"].as_u64()
        ),
        ("Acme Timing", "zz9", Some(7))
    );
    let list = kw.json(&["account", "list"]);
    assert_eq!(names(&list), set(&["Acme Timing", "beta"]));
    assert_eq!(find(&list, "Acme Timing")["key_limit"], 7);
    kw.run(&["key", "list", "--account", "acme"])
        .expect_error(2, &["acme"]);

    let (key, new_key) = kw.create_key("door", &["--account", "Acme Timing"]);
    assert!(
        new_key.starts_with("zz9_"),
        "after a prefix change new keys use it: {new_key}"
    );
    assert_eq!(key["account"], "Acme Timing");
    // Existing keys keep working after the prefix changes.
    kw.verify(&old_key, &[]).expect_code(0);
    // The account name is matched ignoring case, like every name.
    assert_eq!(
        names(&kw.json(&["key", "list", "--account", "acme timing"])),
        set(&["gate", "door"])
    );
}

// ---------------------------------------------------------------- groups

#[test]
fn group_create_with_scopes_list_and_delete() {
    let kw = Kw::with_account("acme", &[]);
    let g = kw.json(&[
        "group",
        "create",
        "gates",
        "--description",
        "gate readers",
        "--scope",
        "devices:read",
        "--scope",
        "sessions:write",
    ]);
    assert_eq!(s(&g, "name"), "gates");
    assert_eq!(s(&g, "description"), "gate readers");
    assert_eq!(
        strings(&g["scopes"]),
        set(&["devices:read", "sessions:write"])
    );
    kw.ok(&["group", "create", "empty"]);

    let list = kw.json(&["group", "list"]);
    assert_eq!(names(&list), set(&["gates", "empty"]));
    assert_eq!(
        strings(&find(&list, "gates")["scopes"]),
        set(&["devices:read", "sessions:write"])
    );

    kw.ok(&["group", "delete", "EMPTY"]);
    assert_eq!(names(&kw.json(&["group", "list"])), set(&["gates"]));
}

#[test]
fn group_delete_is_refused_while_keys_use_it_and_force_deactivates_keys_left_without_a_group() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.ok(&["group", "create", "office", "--scope", "sessions:read"]);
    let (_, only_gates) = kw.create_key("only-gates", &["--group", "gates"]);
    kw.create_key("both", &["--group", "gates", "--group", "office"]);
    kw.create_key("none", &[]);
    let before = kw.snapshot("acme");

    kw.run(&["group", "delete", "gates"])
        .expect_error(2, &["gates", "--force"]);
    assert_eq!(
        kw.snapshot("acme"),
        before,
        "a refused group delete changes nothing"
    );

    kw.ok(&["group", "delete", "gates", "--force"]);
    assert_eq!(names(&kw.json(&["group", "list"])), set(&["office"]));
    let keys = kw.json(&["key", "list"]);
    let orphan = find(&keys, "only-gates");
    assert_eq!(
        orphan["status"], "inactive",
        "a key left with no group is deactivated: {orphan}"
    );
    assert_eq!(orphan["groups"], serde_json::json!([]));
    let both = find(&keys, "both");
    assert_eq!(both["status"], "active", "{both}");
    assert_eq!(strings(&both["groups"]), set(&["office"]));
    assert_eq!(find(&keys, "none")["status"], "active");
    // The deactivated key no longer verifies.
    let out = kw.verify(&only_gates, &[]).expect_code(1);
    assert_eq!(out.stdout.trim(), "DISABLED");
}

// ---------------------------------------------------------------- key create

#[test]
fn key_create_defaults_to_the_least() {
    let kw = Kw::with_account("acme", &[]);
    let (key, secret) = kw.create_key("gate", &[]);
    assert_eq!(key["access"], "READ");
    assert_eq!(key["allow_unbind"], false);
    assert_eq!(key["groups"], serde_json::json!([]));
    assert_eq!(key["expires_at"], Value::Null);
    assert_eq!(key["description"], Value::Null);
    assert_eq!(key["status"], "active");
    assert_eq!(key["last_used_at"], Value::Null);
    assert_eq!(key["account"], "acme");
    assert_eq!(key["name"], "gate");
    assert_eq!(key["created_by"], ACTOR);

    // Format: prefix, '_', base62; the hint shows the beginning and the end only.
    let body = secret
        .strip_prefix("kw_")
        .unwrap_or_else(|| panic!("key without the kw_ prefix: {secret}"));
    assert!(
        body.len() >= 43 && body.chars().all(|c| c.is_ascii_alphanumeric()),
        "{secret}"
    );
    let hint = s(&key, "hint");
    assert!(
        hint.starts_with(&secret[..7]) && hint.ends_with(&secret[secret.len() - 4..]),
        "hint {hint} of {secret}"
    );
    assert!(hint.chars().count() < 16, "the hint is short: {hint}");
    // The id is a UUIDv7.
    let id = s(&key, "id");
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "7", "not a UUIDv7: {id}");
}

#[test]
fn key_create_flags_each_land_in_the_record() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.ok(&["group", "create", "office", "--scope", "sessions:write"]);

    let (k, _) = kw.create_key("w", &["--access", "WRITE"]);
    assert_eq!(
        (s(&k, "access"), k["allow_unbind"].as_bool()),
        ("WRITE", Some(false))
    );
    let (k, _) = kw.create_key("wu", &["--access", "WRITE", "--allow-unbind"]);
    assert_eq!(
        (s(&k, "access"), k["allow_unbind"].as_bool()),
        ("WRITE", Some(true))
    );
    let (k, _) = kw.create_key("rw", &["--access", "READ_WRITE"]);
    assert_eq!(
        (s(&k, "access"), k["allow_unbind"].as_bool()),
        ("READ_WRITE", Some(false))
    );
    let (k, _) = kw.create_key("r", &["--access", "READ"]);
    assert_eq!(s(&k, "access"), "READ");

    let (k, _) = kw.create_key("grouped", &["--group", "gates", "--group", "office"]);
    assert_eq!(strings(&k["groups"]), set(&["gates", "office"]));
    let (k, _) = kw.create_key("described", &["--description", "the north gate"]);
    assert_eq!(s(&k, "description"), "the north gate");

    let (k, _) = kw.create_key("ninety", &["--expires-in", "90d"]);
    let created = rfc3339_utc(s(&k, "created_at"));
    let expires = rfc3339_utc(s(&k, "expires_at"));
    let drift = (expires - created - time::Duration::days(90)).abs();
    assert!(
        drift < time::Duration::minutes(1),
        "--expires-in 90d: created {created}, expires {expires}"
    );

    let (k, _) = kw.create_key("dated", &["--expires", "2099-01-31"]);
    let expires = rfc3339_utc(s(&k, "expires_at"));
    let day = time::macros::datetime!(2099-01-31 00:00 UTC);
    assert!(
        expires > day && expires <= day + time::Duration::days(1),
        "--expires 2099-01-31 gave {expires}"
    );
}

#[test]
fn each_preset_sets_its_access_type() {
    let kw = Kw::with_account("acme", &[]);
    for (preset, access, unbind) in [
        ("device", "WRITE", false),
        ("timing-app", "READ_WRITE", false),
        ("classification", "READ", false),
        ("admin", "READ_WRITE", true),
    ] {
        let (k, _) = kw.create_key(&format!("{preset}-key"), &["--preset", preset]);
        assert_eq!(s(&k, "access"), access, "--preset {preset}: {k}");
        assert_eq!(
            k["allow_unbind"].as_bool(),
            Some(unbind),
            "--preset {preset}: {k}"
        );
    }
}

#[test]
fn key_records_have_exactly_the_contract_fields_and_the_secret_only_at_creation() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);

    let created = kw.json(&["key", "create", "gate", "--group", "gates"]);
    assert_key_fields(&created, true);
    let id = s(&created, "id").to_string();

    for key in kw.json(&["key", "list"]).as_array().unwrap() {
        assert_key_fields(key, false);
    }
    assert_key_fields(&kw.json(&["key", "show", "gate"]), false);
    assert_key_fields(&kw.json(&["key", "rename", "gate", "door"]), false);
    assert_key_fields(&kw.json(&["key", "disable", "door"]), false);
    assert_key_fields(&kw.json(&["key", "enable", "door"]), false);
    assert_key_fields(&kw.json(&["key", "set-groups", "door"]), false);
    for args in [
        vec!["key", "list", "--status", "active"],
        vec!["key", "list", "--filter", "door"],
        vec!["key", "show", id.as_str()],
        vec!["audit", "list"],
        vec!["account", "list"],
        vec!["group", "list"],
    ] {
        let out = kw.json(&args);
        assert!(
            !out.to_string().contains("\"secret\""),
            "{args:?} prints a secret field: {out}"
        );
    }
    let deleted = kw.json(&["key", "delete", "door", "--yes"]);
    assert!(
        deleted.get("secret").is_none(),
        "key delete prints a secret: {deleted}"
    );

    std::fs::write(kw.path("names"), "a\nb\n").unwrap();
    let out = kw.ok(&[
        "key",
        "create",
        "--names-from",
        kw.path("names").to_str().unwrap(),
        "--json",
    ]);
    for line in out.json_lines() {
        assert_key_fields(&line, true);
    }
}

#[test]
fn times_are_rfc3339_utc_and_last_used_is_set_by_a_valid_verification_only() {
    let kw = Kw::with_account("acme", &[]);
    let (key, secret) = kw.create_key("gate", &["--expires-in", "2w"]);
    let created = rfc3339_utc(s(&key, "created_at"));
    rfc3339_utc(s(&key, "updated_at"));
    rfc3339_utc(s(&key, "expires_at"));
    let now = time::OffsetDateTime::now_utc();
    assert!(
        (now - created).abs() < time::Duration::minutes(5),
        "created_at {created} is not now ({now})"
    );
    assert_eq!(key["last_used_at"], Value::Null);

    // Not VALID (READ key, POST) does not count as a use.
    kw.verify(&secret, &["--method", "POST"]).expect_code(1);
    assert_eq!(
        kw.json(&["key", "show", "gate"])["last_used_at"],
        Value::Null,
        "a FORBIDDEN verification is not a use"
    );

    kw.verify(&secret, &[]).expect_code(0);
    let shown = kw.json(&["key", "show", "gate"]);
    let used = rfc3339_utc(
        shown["last_used_at"]
            .as_str()
            .unwrap_or_else(|| panic!("last_used_at still null after VALID: {shown}")),
    );
    assert!(
        used >= created,
        "last used {used} before creation {created}"
    );
    assert_eq!(
        find(&kw.json(&["key", "list"]), "gate")["last_used_at"],
        shown["last_used_at"]
    );
    for entry in kw.json(&["audit", "list"]).as_array().unwrap() {
        rfc3339_utc(s(entry, "at"));
    }
    for account in kw.json(&["account", "list"]).as_array().unwrap() {
        rfc3339_utc(s(account, "created_at"));
    }
}

#[test]
fn created_by_is_the_actor_from_the_flag_or_the_environment() {
    let kw = Kw::with_account("acme", &[]);
    let by_env = kw
        .cmd(&["key", "create", "one", "--json"])
        .env("KEYWARD_ACTOR", "env-actor")
        .run()
        .expect_code(0)
        .json();
    assert_eq!(by_env["created_by"], "env-actor");
    let by_flag = kw
        .cmd(&["--actor", "flag-actor", "key", "create", "two", "--json"])
        .env("KEYWARD_ACTOR", "env-actor")
        .run()
        .expect_code(0)
        .json();
    assert_eq!(
        by_flag["created_by"], "flag-actor",
        "--actor wins over $KEYWARD_ACTOR"
    );
    let audit = kw.json(&["audit", "list", "--action", "key.create"]);
    let actors: BTreeSet<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "actor").to_string())
        .collect();
    assert_eq!(actors, set(&["env-actor", "flag-actor"]), "{audit}");
}

#[test]
fn every_audit_entry_records_the_actor_including_the_vault_creation() {
    let kw = Kw::with_account("acme", &[]);
    kw.create_key("gate", &[]);
    let entries = kw.json(&["audit", "list"]);
    let wrong: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] != ACTOR)
        .map(|e| format!("{} by {}", s(e, "action"), e["actor"]))
        .collect();
    assert!(
        wrong.is_empty(),
        "entries not recorded as $KEYWARD_ACTOR={ACTOR:?}: {wrong:?}"
    );
}

// ---------------------------------------------------------------- key list / show / change / delete

#[test]
fn key_list_filters_by_status_group_and_text() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.create_key("North Gate", &["--group", "gates"]);
    kw.create_key("South Gate", &[]);
    kw.create_key("Kiosk", &["--group", "gates"]);
    kw.ok(&["key", "disable", "south gate"]);

    assert_eq!(
        names(&kw.json(&["key", "list"])),
        set(&["North Gate", "South Gate", "Kiosk"])
    );
    assert_eq!(
        names(&kw.json(&["key", "list", "--status", "inactive"])),
        set(&["South Gate"])
    );
    assert_eq!(
        names(&kw.json(&["key", "list", "--status", "active"])),
        set(&["North Gate", "Kiosk"])
    );
    assert_eq!(
        names(&kw.json(&["key", "list", "--group", "gates"])),
        set(&["North Gate", "Kiosk"])
    );
    assert_eq!(
        names(&kw.json(&["key", "list", "--filter", "gate"])),
        set(&["North Gate", "South Gate"])
    );
    assert_eq!(
        names(
            &kw.json(&[
                "key", "list", "--filter", "gate", "--status", "active", "--group", "gates"
            ])
        ),
        set(&["North Gate"])
    );
    kw.run(&["key", "list", "--status", "sleeping"])
        .expect_error(2, &["sleeping"]);
}

#[test]
fn key_show_by_id_and_by_name_ignoring_case() {
    let kw = Kw::with_account("acme", &[]);
    let (key, _) = kw.create_key("North Gate", &[]);
    kw.create_key("other", &[]);
    let id = s(&key, "id");
    for reference in [id, "North Gate", "north gate", "NORTH GATE"] {
        let shown = kw.json(&["key", "show", reference]);
        assert_eq!(shown, key, "key show {reference:?}");
    }
    // Without --json: readable text naming the key, never the key itself.
    let text = kw.ok(&["key", "show", "north gate"]);
    assert!(
        text.stdout.contains("North Gate") && text.stdout.contains(s(&key, "hint")),
        "{}",
        text.stdout
    );
}

#[test]
fn key_rename_enable_disable_and_set_groups() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.ok(&["group", "create", "office", "--scope", "sessions:read"]);
    let (key, secret) = kw.create_key("gate", &[]);

    let renamed = kw.json(&["key", "rename", "GATE", "North Gate"]);
    assert_eq!(
        (s(&renamed, "name"), s(&renamed, "id")),
        ("North Gate", s(&key, "id"))
    );
    kw.run(&["key", "show", "gate"]).expect_error(2, &["gate"]);
    // Renaming to the same name in another case is allowed (it is the same key).
    assert_eq!(
        s(
            &kw.json(&["key", "rename", "north gate", "NORTH GATE"]),
            "name"
        ),
        "NORTH GATE"
    );

    let disabled = kw.json(&["key", "disable", "north gate"]);
    assert_eq!(disabled["status"], "inactive");
    assert_eq!(
        kw.verify(&secret, &[]).expect_code(1).stdout.trim(),
        "DISABLED"
    );
    let enabled = kw.json(&["key", "enable", "north gate"]);
    assert_eq!(enabled["status"], "active");
    kw.verify(&secret, &[]).expect_code(0);

    let grouped = kw.json(&[
        "key",
        "set-groups",
        "north gate",
        "--group",
        "gates",
        "--group",
        "office",
    ]);
    assert_eq!(strings(&grouped["groups"]), set(&["gates", "office"]));
    let regrouped = kw.json(&["key", "set-groups", "north gate", "--group", "office"]);
    assert_eq!(strings(&regrouped["groups"]), set(&["office"]));
    let cleared = kw.json(&["key", "set-groups", "north gate"]);
    assert_eq!(cleared["groups"], serde_json::json!([]));
    assert_eq!(
        kw.json(&["key", "show", s(&key, "id")])["groups"],
        serde_json::json!([])
    );
}

#[test]
fn key_delete_without_yes_and_without_a_terminal_refuses_and_deletes_nothing() {
    let kw = Kw::with_account("acme", &[]);
    let (_, secret) = kw.create_key("gate", &[]);
    let before = kw.snapshot("acme");
    kw.run(&["key", "delete", "gate"])
        .expect_error(2, &["--yes"]);
    // Even with something on stdin, a pipe is not a terminal: no confirmation.
    kw.cmd(&["key", "delete", "gate"])
        .stdin(b"yes\n")
        .run()
        .expect_error(2, &["--yes"]);
    assert_eq!(kw.snapshot("acme"), before);
    kw.verify(&secret, &[]).expect_code(0);
}

#[test]
fn key_delete_with_yes_deletes() {
    let kw = Kw::with_account("acme", &[]);
    let (key, secret) = kw.create_key("gate", &[]);
    kw.create_key("other", &[]);
    kw.ok(&["key", "delete", s(&key, "id"), "--yes"]);
    assert_eq!(names(&kw.json(&["key", "list"])), set(&["other"]));
    kw.run(&["key", "show", "gate"]).expect_error(2, &["gate"]);
    assert_eq!(
        kw.verify(&secret, &[]).expect_code(1).stdout.trim(),
        "NOT_FOUND"
    );
    kw.ok(&["key", "delete", "OTHER", "--yes"]);
    assert_eq!(kw.json(&["key", "list"]), serde_json::json!([]));
}

// ---------------------------------------------------------------- fleets: --names-from

#[test]
fn names_from_creates_one_key_per_line_printed_as_json_lines() {
    let kw = Kw::with_account("acme", &[]);
    let file = kw.path("fleet.txt");
    std::fs::write(&file, "reader-01\nreader-02\n  reader-03  \n").unwrap();
    let out = kw.ok(&[
        "key",
        "create",
        "--names-from",
        file.to_str().unwrap(),
        "--preset",
        "device",
        "--json",
    ]);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 3, "one JSON line per key:\n{}", out.stdout);
    let mut secrets = BTreeSet::new();
    for line in &lines {
        assert_eq!(
            line["access"], "WRITE",
            "the settings apply to every key: {line}"
        );
        secrets.insert(s(line, "secret").to_string());
    }
    assert_eq!(secrets.len(), 3, "each key has its own secret");
    assert_eq!(
        names(&Value::Array(lines.clone())),
        set(&["reader-01", "reader-02", "reader-03"])
    );
    assert_eq!(
        names(&kw.json(&["key", "list"])),
        set(&["reader-01", "reader-02", "reader-03"])
    );
    for secret in &secrets {
        kw.verify(secret, &["--method", "POST"]).expect_code(0);
    }
}

#[test]
fn names_from_past_the_key_limit_creates_none() {
    let kw = Kw::with_account("acme", &["--key-limit", "3"]);
    kw.create_key("existing", &[]);
    let before = kw.snapshot("acme");
    let file = kw.path("fleet.txt");
    std::fs::write(&file, "a\nb\nc\n").unwrap();
    let out = kw.run(&[
        "key",
        "create",
        "--names-from",
        file.to_str().unwrap(),
        "--json",
    ]);
    let out = out.expect_error(2, &["3", "acme"]);
    assert!(
        out.stdout.trim().is_empty(),
        "nothing printed for keys not created: {}",
        out.stdout
    );
    assert_eq!(kw.snapshot("acme"), before);
    // Exactly up to the limit works.
    std::fs::write(&file, "a\nb\n").unwrap();
    let out = kw.ok(&[
        "key",
        "create",
        "--names-from",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.json_lines().len(), 2);
}

#[test]
fn names_from_with_one_bad_line_creates_none() {
    let kw = Kw::with_account("acme", &[]);
    kw.create_key("taken", &[]);
    let before = kw.snapshot("acme");
    let file = kw.path("fleet.txt");
    for content in [
        format!("ok-1\n{}\nok-2\n", "x".repeat(65)),
        "ok-1\nTAKEN\n".to_string(),
        "ok-1\nOK-1\n".to_string(),
    ] {
        std::fs::write(&file, &content).unwrap();
        let out = kw.run(&[
            "key",
            "create",
            "--names-from",
            file.to_str().unwrap(),
            "--json",
        ]);
        out.expect_error(2, &[]);
        assert_eq!(
            kw.snapshot("acme"),
            before,
            "a batch with a bad line ({content:?}) creates nothing"
        );
    }
}

// ---------------------------------------------------------------- --account

#[test]
fn account_is_required_when_the_vault_holds_two() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["account", "create", "globex", "--prefix", "gx"]);
    for args in [
        vec!["key", "list"],
        vec!["key", "create", "gate"],
        vec!["group", "list"],
        vec!["group", "create", "gates"],
        vec!["secret", "show"],
        vec!["secret", "rotate"],
    ] {
        kw.run(&args).expect_error(2, &["--account"]);
    }
    let (acme_key, acme_secret) = kw.create_key("gate", &["--account", "acme"]);
    let (globex_key, globex_secret) = kw.create_key("gate", &["--account", "globex"]);
    assert!(globex_secret.starts_with("gx_"));
    assert_eq!(
        names(&kw.json(&["key", "list", "--account", "acme"])),
        set(&["gate"])
    );
    assert_eq!(
        kw.json(&["key", "show", "gate", "--account", "globex"])["id"],
        globex_key["id"]
    );
    assert_eq!(
        kw.json(&["key", "show", "gate", "--account", "acme"])["id"],
        acme_key["id"]
    );
    kw.ok(&["key", "disable", "gate", "--account", "globex"]);
    assert_eq!(
        kw.json(&["key", "show", "gate", "--account", "acme"])["status"],
        "active"
    );
    kw.verify(&acme_secret, &[]).expect_code(0);
    kw.verify(&globex_secret, &[]).expect_code(1);
    // A key of one account is not found through the other.
    kw.run(&["key", "show", s(&acme_key, "id"), "--account", "globex"])
        .expect_error(2, &[]);
    kw.ok(&["group", "create", "gates", "--account", "globex"]);
    assert_eq!(
        kw.json(&["group", "list", "--account", "acme"]),
        serde_json::json!([])
    );
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_prints_each_result_with_its_exit_code() {
    let kw = Kw::with_account("acme", &[]);
    let (key, secret) = kw.create_key("gate", &[]);
    let (_, disabled) = kw.create_key("off", &[]);
    kw.ok(&["key", "disable", "off"]);
    let (_, deleted) = kw.create_key("gone", &[]);
    kw.ok(&["key", "delete", "gone", "--yes"]);

    let out = kw.verify(&secret, &[]).expect_code(0);
    assert_eq!(out.stdout.trim(), "VALID");
    let out = kw
        .verify(&format!("{secret}\n"), &["--json"])
        .expect_code(0);
    let json = out.json();
    assert_eq!(fields(&json), vec!["key_id", "result"], "{json}");
    assert_eq!(
        json,
        serde_json::json!({ "result": "VALID", "key_id": key["id"] })
    );

    for (presented, extra, result) in [
        ("not a key".to_string(), vec![], "MALFORMED"),
        (deleted.clone(), vec![], "NOT_FOUND"),
        (disabled.clone(), vec![], "DISABLED"),
        (
            secret.clone(),
            vec!["--method", "DELETE", "--resource", "sessions"],
            "FORBIDDEN",
        ),
    ] {
        let out = kw.verify(&presented, &extra).expect_code(1);
        assert_eq!(out.stdout.trim(), result, "{extra:?}");
        let mut with_json = extra.clone();
        with_json.push("--json");
        let json = kw.verify(&presented, &with_json).expect_code(1).json();
        assert_eq!(fields(&json), vec!["key_id", "result"], "{json}");
        assert_eq!(json["result"], result, "{json}");
    }
    assert_eq!(
        kw.verify("not a key", &["--json"]).json()["key_id"],
        Value::Null
    );
    assert_eq!(
        kw.verify(&deleted, &["--json"]).json()["key_id"],
        Value::Null
    );
}

#[test]
fn verify_reads_the_key_from_stdin_never_from_an_argument() {
    let kw = Kw::with_account("acme", &[]);
    let (_, secret) = kw.create_key("gate", &[]);
    kw.run(&["key", "verify", secret.as_str()]).expect_code(2);
    // With stdin null nothing is presented: not VALID.
    let out = kw.run(&["key", "verify"]).expect_code(1);
    assert_eq!(out.stdout.trim(), "MALFORMED");
}

/// What DESIGN.md's access table allows a key with no groups.
fn allowed_by_access(access: &str, allow_unbind: bool, method: &str, resource: &str) -> bool {
    let unbind = method == "DELETE" && resource == "devices";
    let by_method = match access {
        "READ" => matches!(method, "GET" | "HEAD"),
        "WRITE" => matches!(method, "POST" | "PATCH" | "PUT") || unbind,
        "READ_WRITE" => true,
        other => panic!("unknown access {other}"),
    };
    by_method && (!unbind || (allow_unbind && access != "READ"))
}

fn action(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" => "read",
        "POST" | "PATCH" | "PUT" => "write",
        "DELETE" => "delete",
        other => panic!("unknown method {other}"),
    }
}

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"];
const RESOURCES: [&str; 3] = ["devices", "sessions", "passings"];

/// Runs `key verify` for every method and resource and compares with `expected`.
fn check_matrix(
    kw: &Kw,
    label: &str,
    secret: &str,
    expected: impl Fn(&str, &str) -> bool,
    wrong: &mut Vec<String>,
) {
    for method in METHODS {
        for resource in RESOURCES {
            let out = kw.verify(secret, &["--method", method, "--resource", resource]);
            let want = if expected(method, resource) {
                (0, "VALID")
            } else {
                (1, "FORBIDDEN")
            };
            if (out.code, out.stdout.trim()) != want {
                wrong.push(format!(
                    "{label}: {method} {resource}: expected {want:?}, got ({}, {:?}) {}",
                    out.code,
                    out.stdout.trim(),
                    out.stderr.trim()
                ));
            }
        }
    }
    // `--unbind` alone is a DELETE on devices.
    let out = kw.verify(secret, &["--unbind"]);
    let want = if expected("DELETE", "devices") {
        (0, "VALID")
    } else {
        (1, "FORBIDDEN")
    };
    if (out.code, out.stdout.trim()) != want {
        wrong.push(format!(
            "{label}: --unbind: expected {want:?}, got ({}, {:?}) {}",
            out.code,
            out.stdout.trim(),
            out.stderr.trim()
        ));
    }
}

#[test]
fn verify_follows_the_access_table_for_keys_without_groups() {
    let kw = Kw::with_account("acme", &[]);
    let mut wrong = Vec::new();
    for (access, allow_unbind) in [
        ("READ", false),
        ("WRITE", false),
        ("WRITE", true),
        ("READ_WRITE", false),
        ("READ_WRITE", true),
    ] {
        let name = format!("{access}-{allow_unbind}");
        let mut args = vec!["--access", access];
        if allow_unbind {
            args.push("--allow-unbind");
        }
        let (_, secret) = kw.create_key(&name, &args);
        check_matrix(
            &kw,
            &name,
            &secret,
            |m, r| allowed_by_access(access, allow_unbind, m, r),
            &mut wrong,
        );
    }
    assert!(
        wrong.is_empty(),
        "verification disagrees with the access table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn verify_limits_a_key_with_groups_to_its_groups_scopes_too() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&[
        "group",
        "create",
        "gates",
        "--scope",
        "devices:read",
        "--scope",
        "devices:delete",
    ]);
    kw.ok(&[
        "group",
        "create",
        "timing",
        "--scope",
        "sessions:write",
        "--scope",
        "passings:read",
    ]);
    let gates = [("devices", "read"), ("devices", "delete")];
    let timing = [("sessions", "write"), ("passings", "read")];
    let mut wrong = Vec::new();
    for (label, access, allow_unbind, groups, scopes) in [
        (
            "rw-admin-gates",
            "READ_WRITE",
            true,
            vec!["gates"],
            gates.to_vec(),
        ),
        (
            "rw-both",
            "READ_WRITE",
            false,
            vec!["gates", "timing"],
            [gates, timing].concat(),
        ),
        (
            "read-timing",
            "READ",
            false,
            vec!["timing"],
            timing.to_vec(),
        ),
        (
            "write-both-unbind",
            "WRITE",
            true,
            vec!["gates", "timing"],
            [gates, timing].concat(),
        ),
    ] {
        let mut args = vec!["--access", access];
        if allow_unbind {
            args.push("--allow-unbind");
        }
        for g in &groups {
            args.extend(["--group", g]);
        }
        let (_, secret) = kw.create_key(label, &args);
        let expected = |m: &str, r: &str| {
            allowed_by_access(access, allow_unbind, m, r) && scopes.contains(&(r, action(m)))
        };
        check_matrix(&kw, label, &secret, expected, &mut wrong);
    }
    assert!(wrong.is_empty(), "verification gives a key with groups more or less than its access type AND its scopes:\n{}", wrong.join("\n"));
}

// ---------------------------------------------------------------- secret, audit, passphrase

#[test]
fn secret_show_prints_the_secret_and_rotate_changes_it() {
    let kw = Kw::with_account("acme", &[]);
    let first = kw.ok(&["secret", "show"]).stdout.trim().to_string();
    assert!(
        first.len() >= 32 && !first.contains(char::is_whitespace),
        "a shared secret on one line: {first:?}"
    );
    assert_eq!(
        kw.ok(&["secret", "show"]).stdout.trim(),
        first,
        "showing it again shows the same secret"
    );
    let json = kw.json(&["secret", "show"]);
    assert_eq!(json["secret"], first.as_str());

    kw.ok(&["secret", "rotate"]);
    let second = kw.ok(&["secret", "show"]).stdout.trim().to_string();
    assert_ne!(second, first, "secret rotate must change the secret");
    assert_eq!(second.len(), first.len());
    // Revealing asks for the passphrase: a wrong one reveals nothing.
    let out = kw
        .cmd(&["secret", "show"])
        .env("KEYWARD_PASSPHRASE", "not the passphrase")
        .run()
        .expect_error(3, &["wrong passphrase"]);
    assert!(!out.stdout.contains(&second));
}

#[test]
fn audit_list_has_an_entry_for_each_change_and_audit_verify_passes() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["account", "set", "acme", "--key-limit", "20"]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.ok(&["group", "create", "spare"]);
    kw.ok(&["group", "delete", "spare"]);
    kw.create_key("gate", &[]);
    kw.ok(&["key", "rename", "gate", "door"]);
    kw.ok(&["key", "set-groups", "door", "--group", "gates"]);
    kw.ok(&["key", "disable", "door"]);
    kw.ok(&["key", "enable", "door"]);
    kw.ok(&["key", "delete", "door", "--yes"]);
    kw.ok(&["secret", "rotate"]);
    kw.cmd(&["passphrase", "change"])
        .env("KEYWARD_NEW_PASSPHRASE", "a brand new passphrase")
        .run()
        .expect_code(0);

    let kw = Kw {
        passphrase: "a brand new passphrase".into(),
        ..kw
    };
    let entries = kw.json(&["audit", "list"]);
    let entries = entries.as_array().unwrap();
    let actions: Vec<String> = entries.iter().map(|e| s(e, "action").to_string()).collect();
    // Every change leaves an entry; match by what the change was, not the exact action names.
    let wanted: [(&str, &[&str]); 13] = [
        ("account create", &["account", "create"]),
        ("account set", &["account", "update"]),
        ("group create", &["group", "create"]),
        ("group delete", &["group", "delete"]),
        ("key create", &["key", "create"]),
        ("key rename", &["key", "rename"]),
        ("key set-groups", &["key", "group"]),
        ("key disable", &["key", "deactivate"]),
        ("key enable", &["key", "activate"]),
        ("key delete", &["key", "delete"]),
        ("secret rotate", &["secret", "rotate"]),
        ("passphrase change", &["passphrase"]),
        ("init", &["vault"]),
    ];
    let mut missing = Vec::new();
    for (change, words) in wanted {
        let found = actions.iter().any(|a| {
            let a = a.to_lowercase();
            words.iter().all(|w| a.contains(w))
                && !(change == "key enable" && a.contains("deactivate"))
        });
        if !found {
            missing.push(change);
        }
    }
    assert!(
        missing.is_empty(),
        "no audit entry for {missing:?}; actions: {actions:?}"
    );
    let out = kw.ok(&["audit", "verify"]);
    assert!(!out.stdout.trim().is_empty());
    let report = kw.json(&["audit", "verify"]);
    assert_eq!(report["ok"], true, "{report}");
}

#[test]
fn audit_list_reads_as_text_one_line_a_field_and_json_keeps_the_details() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:read"]);
    kw.create_key("kiosk", &["--group", "gates", "--expires", "2099-12-03"]);
    kw.ok(&["key", "disable", "kiosk"]);

    let table = kw.ok(&["audit", "list"]).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].ends_with("DETAILS"),
        "{table}"
    );
    let deactivated = lines
        .iter()
        .position(|line| line.contains("key.deactivate"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        lines[deactivated].ends_with("status: active → inactive"),
        "{table}"
    );
    // key.create: one printed line per field, the entry's other columns blank below the first.
    let created = lines
        .iter()
        .position(|line| line.contains("key.create"))
        .unwrap_or_else(|| panic!("{table}"));
    let details_at = lines[created]
        .find("access: READ")
        .unwrap_or_else(|| panic!("{table}"));
    let continuation: Vec<&str> = lines[created + 1..created + 5]
        .iter()
        .map(|line| {
            assert!(line[..details_at].trim().is_empty(), "{line:?} in\n{table}");
            line[details_at..].trim_end()
        })
        .collect();
    assert_eq!(continuation[0], "allow unbind: no");
    assert_eq!(continuation[1], "groups: gates");
    assert!(continuation[2].starts_with("hint: kw_"), "{table}");
    assert_eq!(continuation[3], "expires: 2099-12-03");
    for raw in ['{', '}', '"'] {
        assert!(!table.contains(raw), "{raw} in\n{table}");
    }
    assert!(
        !table
            .split(|c: char| !c.is_ascii_digit())
            .any(|digits| digits.len() >= 10),
        "an epoch number in\n{table}"
    );

    // --json: the details exactly as stored, no lines.
    let entries = kw.json(&["audit", "list", "--key", "kiosk"]);
    assert_eq!(
        entries[0]["details"],
        json!({ "status": { "from": "active", "to": "inactive" } })
    );
    assert!(entries[1]["details"]["expires_at"].is_i64(), "{entries}");
    assert_eq!(entries[1]["details"]["groups"], json!(["gates"]));
    assert!(entries[0].get("lines").is_none(), "{entries}");
}

#[test]
fn audit_list_filters_by_who_and_days_and_refuses_a_bad_date() {
    let kw = Kw::with_account("acme", &[]);
    kw.cmd(&["key", "create", "cron-made"])
        .env("KEYWARD_ACTOR", "cron")
        .run()
        .expect_code(0);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["audit", "list"];
        all.extend_from_slice(args);
        kw.json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| s(entry, "action").to_string())
            .collect()
    };
    assert_eq!(names(&["--by", "CRON"]), ["key.create"]);
    assert_eq!(
        names(&[]).len(),
        3,
        "no filter by the actor making the listing"
    );
    let today = kw.json(&["audit", "list", "--limit", "1"])[0]["at"]
        .as_str()
        .unwrap()[..10]
        .to_string();
    assert_eq!(
        names(&["--since", &today, "--until", &today]),
        names(&[]),
        "the whole day"
    );
    assert_eq!(names(&["--until", "2000-01-01"]), Vec::<String>::new());
    assert_eq!(
        names(&["--since", "2999-01-01T00:00:00Z"]),
        Vec::<String>::new()
    );
    for (flag, bad) in [("--since", "yesterday"), ("--until", "2026-02-30")] {
        kw.run(&["audit", "list", flag, bad])
            .expect_error(2, &[flag, "YYYY-MM-DD"]);
    }
}

#[test]
fn passphrase_change_takes_the_new_passphrase_from_the_environment() {
    let kw = Kw::with_account("acme", &[]);
    let (_, secret) = kw.create_key("gate", &[]);
    let before = kw.snapshot("acme");
    let new = "the new passphrase, long enough";
    kw.cmd(&["passphrase", "change"])
        .env("KEYWARD_NEW_PASSPHRASE", new)
        .run()
        .expect_code(0);

    kw.run(&["key", "list"])
        .expect_error(3, &["wrong passphrase"]);
    let kw = Kw {
        passphrase: new.into(),
        ..kw
    };
    let after = kw.snapshot("acme");
    assert_eq!(
        after["keys"], before["keys"],
        "the keys survive a passphrase change"
    );
    assert_eq!(after["groups"], before["groups"]);
    kw.verify(&secret, &[]).expect_code(0);
    kw.ok(&["audit", "verify"]);
}

#[test]
fn the_key_limit_counts_inactive_keys_and_the_error_says_what_helps() {
    let kw = Kw::with_account("acme", &["--key-limit", "2"]);
    kw.create_key("one", &[]);
    kw.create_key("two", &[]);
    kw.ok(&["key", "disable", "two"]);
    let before = kw.snapshot("acme");
    let out = kw
        .run(&["key", "create", "three"])
        .expect_error(2, &["2", "acme", "--key-limit"]);
    assert_eq!(kw.snapshot("acme"), before);
    // Deactivating does not free a place (the limit counts every key that
    // exists), so the message must not send the administrator there.
    assert!(
        !out.stderr.to_lowercase().contains("deactivate"),
        "the key-limit error advises deactivating a key, which does not help: {}",
        out.stderr.trim()
    );
    kw.ok(&["key", "delete", "two", "--yes"]);
    kw.create_key("three", &[]);
}

#[test]
fn every_command_prints_json_with_the_json_flag() {
    let kw = Kw::empty();
    let new = "the new passphrase, long enough";
    let steps: Vec<Vec<&str>> = vec![
        vec!["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"],
        vec!["account", "create", "acme"],
        vec!["account", "list"],
        vec!["account", "set", "acme", "--key-limit", "12"],
        vec!["group", "create", "gates", "--scope", "devices:read"],
        vec!["group", "create", "spare"],
        vec!["group", "list"],
        vec!["group", "delete", "spare"],
        vec!["key", "create", "gate"],
        vec!["key", "list"],
        vec!["key", "show", "gate"],
        vec!["key", "rename", "gate", "door"],
        vec!["key", "disable", "door"],
        vec!["key", "enable", "door"],
        vec!["key", "set-groups", "door", "--group", "gates"],
        vec!["secret", "show"],
        vec!["secret", "rotate"],
        vec!["audit", "list"],
        vec!["audit", "verify"],
        vec!["key", "delete", "door", "--yes"],
    ];
    for step in steps {
        kw.json(&step);
    }
    let out = kw
        .cmd(&["passphrase", "change", "--json"])
        .env("KEYWARD_NEW_PASSPHRASE", new)
        .run()
        .expect_code(0);
    out.json();
}

#[test]
fn remote_set_show_and_sync_keep_their_contract_without_a_server() {
    let kw = Kw::with_account("Acme", &[]);
    kw.ok(&["group", "create", "ops", "--scope", "devices:read"]);
    let none = kw.json(&["remote", "show"]);
    assert_eq!(none["remote"], Value::Null);
    assert_eq!(none["pending_changes"], 0, "no remote, no outbox");
    // A token is required, and plain HTTP off this machine is refused.
    let no_token = kw.cmd(&["remote", "set", "http://127.0.0.1:9"]).run();
    assert_eq!(no_token.code, 2, "{no_token:?}");
    assert!(
        no_token.stderr.contains("KEYWARD_REMOTE_TOKEN"),
        "{no_token:?}"
    );
    let insecure = kw
        .cmd(&["remote", "set", "http://keys.example.com"])
        .env("KEYWARD_REMOTE_TOKEN", "token-abcd1234")
        .run();
    assert_eq!(insecure.code, 2, "{insecure:?}");
    assert!(insecure.stderr.contains("--insecure"), "{insecure:?}");
    assert_eq!(
        kw.json(&["remote", "show"])["remote"],
        Value::Null,
        "nothing changed"
    );
    let allowed = kw
        .cmd(&[
            "remote",
            "set",
            "http://keys.example.com",
            "--insecure",
            "--json",
        ])
        .env("KEYWARD_REMOTE_TOKEN", "token-abcd1234")
        .run();
    assert_eq!(allowed.code, 0, "{allowed:?}");
    // Nothing listens on port 9 here: the remote is unreachable, nothing is lost.
    let set = kw
        .cmd(&["remote", "set", "http://127.0.0.1:9", "--json"])
        .env("KEYWARD_REMOTE_TOKEN", "token-abcd1234")
        .run();
    assert_eq!(set.code, 0, "{set:?}");
    let set: Value = serde_json::from_str(&set.stdout).unwrap();
    assert_eq!(set["remote"]["token_hint"], "…1234");
    assert!(
        !set.to_string().contains("token-abcd1234"),
        "the token is never printed"
    );
    assert_eq!(
        set["pending_changes"], 1,
        "the group waits for the first sync"
    );
    kw.create_key("k1", &[]);
    let sync = kw.cmd(&["sync"]).run();
    assert_eq!(sync.code, 4, "{sync:?}");
    assert!(
        sync.stderr
            .contains("remote unreachable — 2 changes kept for the next sync"),
        "{sync:?}"
    );
    let shown = kw.json(&["remote", "show"]);
    assert_eq!(shown["pending_changes"], 2);
    assert_eq!(shown["remote"]["url"], "http://127.0.0.1:9");
    assert!(shown["last_error"]
        .as_str()
        .unwrap()
        .starts_with("remote unreachable"));
    assert_eq!(shown["last_sync_at"], Value::Null);
    // Turning sync off: refused while changes wait, then forced; the keys stay.
    let refused = kw.cmd(&["remote", "remove"]).run();
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("2 changes have not reached the remote"),
        "{refused:?}"
    );
    let removed = kw.json(&["remote", "remove", "--force"]);
    assert_eq!(removed["dropped_changes"], 2);
    let off = kw.json(&["remote", "show"]);
    assert_eq!(
        (off["remote"].clone(), off["pending_changes"].clone()),
        (Value::Null, 0.into())
    );
    assert_eq!(kw.json(&["key", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(
        kw.cmd(&["sync"]).run().code,
        2,
        "no remote: nothing to sync with"
    );
}
