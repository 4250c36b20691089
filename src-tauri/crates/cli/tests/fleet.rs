//! The fleet commands of the `keyward` contract: `key roll` (one key, a group,
//! a filter; the grace; the key limit), the review filters of `key list`
//! (`--expiring`, `--unused-for`) and provisioning (`--export-dir`). Bad input
//! for them is in bad_input.rs with every other bad input.

mod support;

use serde_json::Value;
use support::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn at(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| s(k, "name").to_string())
        .collect()
}

#[test]
fn roll_makes_a_successor_alike_and_keeps_the_old_key_working_for_a_day() {
    // At its key limit: a roll still works, the replaced key does not count.
    let kw = Kw::with_account("acme", &["--key-limit", "2"]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:write"]);
    let (old, old_secret) = kw.create_key(
        "gate-north",
        &[
            "--preset",
            "device",
            "--group",
            "gates",
            "--description",
            "North gate",
            "--allow-unbind",
            "--expires-in",
            "30d",
        ],
    );
    kw.create_key("spare", &[]);
    let before = OffsetDateTime::now_utc();
    let rolled = kw.json(&["key", "roll", "gate-north"]);
    let after = OffsetDateTime::now_utc();
    let new_secret = s(&rolled, "secret").to_string();
    let mut record = rolled.clone();
    record.as_object_mut().unwrap().remove("replaces");
    assert_key_fields(&record, true);
    for field in [
        "name",
        "description",
        "access",
        "allow_unbind",
        "groups",
        "expires_at",
    ] {
        assert_eq!(rolled[field], old[field], "{field} carries over");
    }
    assert_ne!(rolled["id"], old["id"]);
    assert_ne!(new_secret, old_secret);
    assert_eq!(rolled["replaces"]["id"], old["id"]);
    assert_eq!(rolled["replaces"]["name"], "gate-north (replaced)");
    let ends = at(&rolled["replaces"]["expires_at"]);
    let day = time::Duration::hours(24);
    assert!(ends >= before + day - time::Duration::seconds(1) && ends <= after + day);

    let shown = kw.json(&["key", "show", "gate-north (replaced)"]);
    assert_eq!(shown["replaced_by"], rolled["id"]);
    assert_eq!(at(&shown["expires_at"]), ends);
    assert_eq!(kw.json(&["key", "show", "gate-north"])["id"], rolled["id"]);
    assert!(kw.ok(&["key", "list"]).stdout.contains("rolling out"));
    for secret in [&old_secret, &new_secret] {
        kw.verify(secret, &["--method", "POST"]).expect_code(0);
    }
    let accounts = kw.json(&["account", "list"]);
    assert_eq!(
        accounts[0]["key_count"], 2,
        "the replaced key does not count"
    );
    kw.run(&["key", "create", "third"])
        .expect_error(2, &["key limit"]);
    let audit = kw.json(&["audit", "list", "--action", "key.roll"]);
    assert_eq!(audit.as_array().unwrap().len(), 1);
}

#[test]
fn roll_with_no_grace_ends_the_old_key_now() {
    let kw = Kw::with_account("acme", &[]);
    let (_, old_secret) = kw.create_key("kiosk", &[]);
    let out = kw.ok(&["key", "roll", "kiosk", "--grace", "0"]);
    let new_secret = out.stdout.lines().nth(1).unwrap().trim().to_string();
    assert!(out.stderr.contains("only now"), "{}", out.stderr);
    kw.verify(&old_secret, &[]).expect_code(1);
    assert_eq!(kw.verify(&old_secret, &[]).stdout.trim(), "EXPIRED");
    assert_eq!(
        kw.verify(&new_secret, &[]).expect_code(0).stdout.trim(),
        "VALID"
    );
}

#[test]
fn roll_of_a_group_or_filter_prints_one_json_line_per_key_and_names_the_skipped() {
    let kw = Kw::with_account("acme", &[]);
    kw.ok(&["group", "create", "gates", "--scope", "devices:write"]);
    let file = kw.path("gates.txt");
    std::fs::write(&file, "gate-1\ngate-2\ngate-3\n").unwrap();
    let fleet = [
        "key",
        "create",
        "--names-from",
        file.to_str().unwrap(),
        "--preset",
        "device",
        "--group",
        "gates",
    ];
    kw.ok(&fleet);
    kw.create_key("lobby", &[]);
    kw.ok(&["key", "disable", "gate-3"]);
    let out = kw.ok(&["key", "roll", "--group", "gates", "--grace", "2h", "--json"]);
    let lines = out.json_lines();
    assert_eq!(names(&Value::Array(lines.clone())), ["gate-1", "gate-2"]);
    for line in &lines {
        assert!(s(line, "secret").starts_with("kw_"));
        assert_eq!(line["groups"], serde_json::json!(["gates"]));
        kw.verify(s(line, "secret"), &["--method", "POST"])
            .expect_code(0);
    }
    assert!(out.stderr.contains("gate-3") && out.stderr.contains("inactive"));
    let filtered = kw.ok(&["key", "roll", "--filter", "LOBBY"]);
    let printed: Vec<&str> = filtered.stdout.lines().collect();
    assert_eq!(printed.len(), 1, "{}", filtered.stdout);
    assert!(
        printed[0].starts_with("lobby\tkw_"),
        "NAME<tab>KEY: {printed:?}"
    );
}

#[test]
fn list_finds_expiring_and_stale_keys() {
    let kw = Kw::with_account("acme", &[]);
    kw.create_key("soon", &["--expires-in", "10d"]);
    kw.create_key("later", &["--expires-in", "3w"]);
    kw.create_key("never", &[]);
    let (_, used) = kw.create_key("used", &[]);
    kw.ok(&["key", "roll", "never", "--grace", "2d"]);
    let list = |args: &[&str]| {
        let mut all = vec!["key", "list"];
        all.extend_from_slice(args);
        names(&kw.json(&all))
    };
    assert_eq!(
        list(&["--expiring", "14d"]),
        ["soon"],
        "not the key rolling out"
    );
    assert_eq!(list(&["--expiring", "4w"]), ["soon", "later"]);
    assert!(
        list(&["--unused-for", "90d"]).is_empty(),
        "never used: counted from creation"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    kw.verify(&used, &[]).expect_code(0);
    assert_eq!(
        list(&["--unused-for", "1s"]),
        ["soon", "later", "never"],
        "the used key and the replaced one are not stale"
    );
    assert_eq!(list(&["--unused-for", "1s", "--expiring", "14d"]), ["soon"]);
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn export_dir_hands_each_new_key_over_in_its_own_owner_only_file() {
    let kw = Kw::with_account("acme", &[]);
    kw.cmd(&["remote", "set", "http://127.0.0.1:9"])
        .env("KEYWARD_REMOTE_TOKEN", "token-1234")
        .run()
        .expect_code(0);
    let names = kw.path("gates.txt");
    std::fs::write(&names, "gate 1\ngate/2\n").unwrap();
    let dir = kw.path("handover");
    let out = kw.ok(&[
        "key",
        "create",
        "--names-from",
        names.to_str().unwrap(),
        "--preset",
        "device",
        "--export-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2);
    #[cfg(unix)]
    assert_eq!(mode(&dir), 0o700);
    let mut keys = Vec::new();
    for line in &lines {
        assert!(
            line.get("secret").is_none(),
            "the key is in the file only: {line}"
        );
        let path = std::path::PathBuf::from(s(line, "file"));
        assert_eq!(path.parent(), Some(dir.as_path()));
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(file["name"], line["name"]);
        assert_eq!(file["key_id"], line["id"]);
        assert_eq!(file["account"], "acme");
        assert_eq!(file["verify_url"], "http://127.0.0.1:9/v1/verify");
        kw.verify(s(&file, "key"), &["--method", "POST"])
            .expect_code(0);
        keys.push(s(&file, "key").to_string());
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for key in &keys {
        assert!(!out.all().contains(&key[3..]), "no key printed");
    }

    // A roll hands over its successors the same way.
    let rolled = kw.path("rolled");
    let out = kw.ok(&[
        "key",
        "roll",
        "--filter",
        "gate",
        "--export-dir",
        rolled.to_str().unwrap(),
    ]);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert_eq!(std::fs::read_dir(&rolled).unwrap().count(), 2);
}

#[test]
fn export_dir_with_a_bad_name_creates_no_key_and_no_folder() {
    let kw = Kw::with_account("acme", &["--key-limit", "3"]);
    let before = kw.snapshot("acme");
    let names = kw.path("gates.txt");
    let dir = kw.path("handover");
    let too_long = format!("ok-1\n{}\n", "x".repeat(65));
    for content in [too_long.as_str(), "a\nb\nc\nd\n"] {
        std::fs::write(&names, content).unwrap();
        kw.run(&[
            "key",
            "create",
            "--names-from",
            names.to_str().unwrap(),
            "--export-dir",
            dir.to_str().unwrap(),
        ])
        .expect_error(2, &[]);
        assert!(
            !dir.exists(),
            "no folder for keys not created ({content:?})"
        );
        assert_eq!(kw.snapshot("acme"), before);
    }
}
