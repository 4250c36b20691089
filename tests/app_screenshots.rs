//! The screenshots in docs/screenshots, taken from the real app under Xvfb through WebDriver:
//! the keys table of a small, realistic vault, and the creation dialog's one-time display
//! of a throwaway key (the picture shows a full key by design; the vault is thrown away).
//! Run by `scripts/bench-app.sh --screenshots`; not part of `make test-e2e`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::key::Key;
use serde_json::Value;
use support::{new_workdir, vault_path_in, App, Cli, Launch};

const PASSPHRASE: &str = "correct horse battery staple";

/// (name, description, preset, groups, actor, expiry)
type KeySpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
);

const KEYS: [KeySpec; 10] = [
    (
        "gate north 1",
        "North entrance, lane 1",
        "device",
        &["gates"],
        "anna",
        None,
    ),
    (
        "gate north 2",
        "North entrance, lane 2",
        "device",
        &["gates"],
        "anna",
        None,
    ),
    (
        "gate south 1",
        "Replaced in May",
        "device",
        &["gates"],
        "anna",
        None,
    ),
    (
        "finish line reader",
        "Transponder mat at the finish",
        "timing-app",
        &["timing"],
        "marc",
        None,
    ),
    (
        "results kiosk",
        "Public results screen",
        "classification",
        &["readers"],
        "marc",
        None,
    ),
    (
        "scoreboard hall B",
        "Temporary, for the indoor meet",
        "classification",
        &["readers"],
        "marc",
        Some("30d"),
    ),
    (
        "timing laptop Marc",
        "Backup timing station",
        "timing-app",
        &["timing", "readers"],
        "marc",
        Some("365d"),
    ),
    (
        "admin console",
        "Operations team",
        "admin",
        &[],
        "anna",
        None,
    ),
    (
        "warehouse scanner 3",
        "Stock room, dock 3",
        "device",
        &[],
        "lena",
        Some("90d"),
    ),
    (
        "classification feed",
        "Live results for the website",
        "classification",
        &["readers"],
        "lena",
        None,
    ),
];

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    dir
}

/// A vault an administrator could have after a few weeks: groups, keys of every preset,
/// one inactive, some used, some expiring.
fn realistic_vault(cli: &Cli) {
    cli.ok(&["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"]);
    cli.ok(&[
        "account",
        "create",
        "Acme Timing",
        "--prefix",
        "acme",
        "--key-limit",
        "25",
    ]);
    for (name, description, scopes) in [
        ("gates", "Entry and finish gates", &["devices:write"][..]),
        (
            "readers",
            "Dashboards and displays",
            &["devices:read", "sessions:read", "passings:read"][..],
        ),
        (
            "timing",
            "Timing software",
            &["sessions:read", "sessions:write", "passings:write"][..],
        ),
    ] {
        let mut args = vec!["group", "create", name, "--description", description];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        cli.ok(&args);
    }
    for (name, description, preset, groups, actor, expiry) in KEYS {
        let mut args = vec![
            "key",
            "create",
            name,
            "--description",
            description,
            "--preset",
            preset,
        ];
        for group in groups {
            args.extend(["--group", group]);
        }
        if let Some(expiry) = expiry {
            args.extend(["--expires-in", expiry]);
        }
        let created: Value = cli.as_actor(actor).json(&args);
        let secret = created["secret"].as_str().expect("the new key").to_string();
        // A few keys have been used by their devices.
        let request: Option<&[&str]> = match name {
            "gate north 1" | "gate north 2" => Some(&["--method", "POST", "--resource", "devices"]),
            "finish line reader" => Some(&["--method", "POST", "--resource", "passings"]),
            "results kiosk" | "classification feed" => {
                Some(&["--method", "GET", "--resource", "sessions"])
            }
            _ => None,
        };
        if let Some(request) = request {
            let mut args = vec!["key", "verify"];
            args.extend_from_slice(request);
            let run = cli.run(&args, Some(&format!("{secret}\n")));
            assert_eq!(run.stdout.trim(), "VALID", "{name}: {run:?}");
        }
    }
    cli.ok(&["key", "disable", "gate south 1"]);
}

async fn save_screenshot(app: &App, file: &str) {
    // Let the last change paint.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let png = app.client.screenshot().await.expect("take a screenshot");
    let path = screenshots_dir().join(file);
    std::fs::write(&path, png).expect("write the screenshot");
    println!("wrote {}", path.display());
}

#[tokio::test]
#[ignore = "writes docs/screenshots: run by `scripts/bench-app.sh --screenshots`"]
async fn screenshots_of_the_keys_table_and_the_one_time_display() {
    let workdir = new_workdir();
    let cli = Cli::new(&vault_path_in(&workdir), PASSPHRASE);
    realistic_vault(&cli);

    let app = App::launch_with(Launch::app().in_workdir(workdir)).await;
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    app.wait_for_text("[data-testid='key-counts']", "the keys", |text| {
        text == "Showing 10 of 10 keys · limit 25"
    })
    .await;
    // A selected row, as when the administrator is about to act on it.
    let row = app.key_row("finish line reader").await;
    row.find(fantoccini::Locator::Css("td"))
        .await
        .expect("a cell")
        .click()
        .await
        .expect("select a key");
    save_screenshot(&app, "keys-table.png").await;

    app.click("Add API key").await;
    app.dialog("Add API key").await;
    app.fill("Name", "gate south 2").await;
    app.fill("Description", "South entrance, replaces gate south 1")
        .await;
    app.click("Device").await;
    app.field("Groups")
        .await
        .send_keys(&format!("gates{}", &*Key::Enter))
        .await
        .expect("pick the group");
    app.click("Create API key").await;
    app.dialog("API key created").await;
    app.click("Copy to clipboard").await;
    app.wait_for_text("[role='timer']", "the countdown", |text| {
        text.contains("Clipboard clears in")
    })
    .await;
    save_screenshot(&app, "one-time-display.png").await;
    app.click("Done").await;

    app.close().await;
}
