//! Sync in the real app, against the real `keyward-server` on a loopback port: the status
//! indicator with no remote, setting the remote in the settings, "Sync now" pushing a key
//! that another desktop (the `keyward` CLI on a second vault) then receives, a change made
//! on that desktop coming back, and a remote that went away keeping the change for later.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fantoccini::Locator;
use support::{app_binary, new_workdir, vault_path_in, App, Cli, Launch};

const PASSPHRASE: &str = "correct horse battery staple";
const ACCOUNT: &str = "Acme";

/// `keyward-server`, built next to the app, on a free loopback port.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        let mut child = Command::new(app_binary().with_file_name("keyward-server"))
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keyward-server (built by `cargo test --workspace`)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("keyward-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, url }
    }

    fn token(db: &Path) -> String {
        let output = Command::new(app_binary().with_file_name("keyward-server"))
            .arg("--db")
            .arg(db)
            .args(["token", "create", "--account", ACCOUNT])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_indicator(app: &App, label: &str) {
    let xpath = format!("//button[starts-with(normalize-space(.), 'Sync status: {label}')]");
    app.wait_for(
        Locator::XPath(&xpath),
        &format!("the sync indicator saying {label:?}"),
    )
    .await;
}

async fn wait_summary(app: &App, summary: &str) {
    let xpath = format!("//p[@role='status' and normalize-space(.)='{summary}']");
    app.wait_for(Locator::XPath(&xpath), &format!("the summary {summary:?}"))
        .await;
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn the_app_syncs_with_a_real_server_and_another_desktop() {
    let server_dir = tempfile::tempdir().unwrap();
    let db = server_dir.path().join("server.db");
    let token = Server::token(&db);
    let server = Server::start(&db);

    // This desktop's vault, with one key, made by the CLI before the app opens it.
    let workdir = new_workdir();
    let cli = Cli::new(&vault_path_in(&workdir), PASSPHRASE);
    cli.init_fast_vault(ACCOUNT, 50);
    cli.ok(&["key", "create", "gate 1", "--preset", "device"]);
    // The other desktop: a second vault synced with the CLI.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Cli::new(&other_dir.path().join("vault.db"), PASSPHRASE);
    other.init_fast_vault(ACCOUNT, 50);

    let app = App::launch_with(Launch::app().in_workdir(workdir)).await;
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    wait_indicator(&app, "Sync off").await;

    // The indicator leads to the sync settings; set the remote there.
    app.button("Sync status: Sync off")
        .await
        .click()
        .await
        .unwrap();
    app.fill("Remote URL", &server.url).await;
    app.fill("Sync token", &token).await;
    app.click("Save remote").await;
    wait_indicator(&app, "1 change pending").await;
    app.click("Sync now").await;
    wait_summary(&app, "Pushed 1, pulled 0, 0 conflicts").await;
    wait_indicator(&app, "Synced").await;

    // The other desktop receives the key, deactivates it and syncs.
    let set = Command::new(Cli::program())
        .args(["remote", "set", &server.url])
        .env("KEYWARD_VAULT", other_dir.path().join("vault.db"))
        .env("KEYWARD_PASSPHRASE", PASSPHRASE)
        .env("KEYWARD_REMOTE_TOKEN", &token)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let first = other.json(&["sync"]);
    assert_eq!(first["pulled"], 1, "{first}");
    let listed = other.json(&["key", "list"]);
    assert_eq!(listed[0]["name"], "gate 1");
    other.ok(&["key", "disable", "gate 1"]);
    assert_eq!(other.json(&["sync"])["pushed"], 1);

    // Back in the app: the change arrives with the next sync.
    app.click("Sync now").await;
    wait_summary(&app, "Pushed 0, pulled 1, 0 conflicts").await;
    let status = cli.json(&["key", "show", "gate 1"]);
    assert_eq!(status["status"], "inactive", "{status}");

    // The remote goes away: a change made now waits, and the app says so.
    drop(server);
    cli.ok(&["key", "rename", "gate 1", "gate north"]);
    app.go_to("Keys").await;
    app.go_to("Settings").await;
    app.click("Sync now").await;
    app.wait_for(
        Locator::XPath(
            "//*[@role='alert' and contains(normalize-space(.), 'remote unreachable — 1 changes kept for the next sync')]",
        ),
        "the unreachable remote's message",
    )
    .await;
    wait_indicator(&app, "Sync failed").await;
    let shown = cli.json(&["remote", "show"]);
    assert_eq!(shown["pending_changes"], 1, "{shown}");

    // Turning sync off warns about the change that will not be sent; the key stays.
    app.click("Turn sync off").await;
    let dialog = app.dialog("Turn sync off?").await;
    let warning = dialog.text().await.unwrap();
    assert!(warning.contains("1 change"), "{warning}");
    dialog
        .find(Locator::XPath(
            ".//button[normalize-space(.)='Turn sync off']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_dialog_closed("Turn sync off?").await;
    wait_indicator(&app, "Sync off").await;
    let off = cli.json(&["remote", "show"]);
    assert_eq!(off["remote"], serde_json::Value::Null, "{off}");
    assert_eq!(
        cli.json(&["key", "show", "gate north"])["name"],
        "gate north"
    );
    app.close().await;
}
