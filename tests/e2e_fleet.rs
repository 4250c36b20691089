//! Fleet work in the real app, checked from outside with the `keyward` CLI on the same vault
//! and with the X clipboard: the review badge filters the table to the key that expires
//! soon; two keys selected with the keyboard are rolled with a grace chosen in the dialog,
//! the one-time display lists both new keys with a copy button (the copied key verifies)
//! and a QR code each, and the table shows the old keys rolling out; a bad grace is refused;
//! two keys are deactivated in one action after its preview; a selection deleted by another
//! program while the preview is open is said and nothing changes; many keys are added from
//! CSV rows, a bad row refused by its line, and handed over in an export folder. On the
//! first unlock of the day the app warns about the expiring key with a desktop notification,
//! received here by a stand-in org.freedesktop.Notifications service on the test's D-Bus
//! session bus.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::Value;
use support::{clipboard_text, new_workdir, vault_path_in, App, Cli, Launch};

const PASSPHRASE: &str = "correct horse battery staple";

/// A notification server on the session bus that keeps what it is sent (summary, body).
struct Notifications {
    seen: Received,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)] // the D-Bus method's signature
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<&str>,
        _hints: HashMap<&str, zbus::zvariant::Value<'_>>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.seen.lock().unwrap();
        seen.push((summary.to_string(), body.to_string()));
        seen.len() as u32
    }
}

/// The notifications received: (summary, body) each.
type Received = Arc<Mutex<Vec<(String, String)>>>;

fn notification_server() -> (zbus::blocking::Connection, Received) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connection = zbus::blocking::connection::Builder::session()
        .and_then(|builder| builder.name("org.freedesktop.Notifications"))
        .and_then(|builder| {
            builder.serve_at(
                "/org/freedesktop/Notifications",
                Notifications {
                    seen: Arc::clone(&seen),
                },
            )
        })
        .and_then(|builder| builder.build())
        .expect("own org.freedesktop.Notifications on the test's session bus");
    (connection, seen)
}

fn key_of(listed: &Value, name: &str) -> Value {
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {listed}"))
        .clone()
}

async fn click_row(app: &App, name: &str) {
    app.key_row(name)
        .await
        .find(Locator::Css("td"))
        .await
        .expect("the name cell")
        .click()
        .await
        .unwrap_or_else(|error| panic!("click the row {name:?}: {error}"));
}

/// Shift+Down on the table: the selection grows by one row.
async fn extend_down(app: &App) {
    let table = app
        .wait_for(Locator::Css("table[role='grid']"), "the keys table")
        .await;
    let keys = format!("{}{}{}", &*Key::Shift, &*Key::Down, &*Key::Null);
    table.send_keys(&keys).await.expect("Shift+Down");
}

async fn by_label(app: &App, label: &str) -> fantoccini::elements::Element {
    app.wait_for(
        Locator::XPath(&format!("//button[@aria-label='{label}']")),
        label,
    )
    .await
}

async fn selected_count(app: &App, count: &str) {
    app.wait_for_text(
        "[data-testid='selection-count']",
        &format!("{count} selected"),
        |text| text.starts_with(count),
    )
    .await;
}

async fn status_cell(app: &App, name: &str) -> String {
    app.key_row(name).await;
    app.key_rows()
        .await
        .into_iter()
        .find(|cells| cells[0] == name)
        .map(|cells| cells[1].clone())
        .unwrap_or_default()
}

/// Lines for a textarea: WebDriver types a line break as Enter (a "\n" is dropped).
fn lines(rows: &[&str]) -> String {
    rows.join(&*Key::Enter)
}

async fn wait_alert(app: &App, containing: &str) -> String {
    app.wait_for_text("[role='alert']", containing, |text| {
        text.contains(containing)
    })
    .await
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn fleet_work_in_the_real_app() {
    let workdir = new_workdir();
    let cli = Cli::new(&vault_path_in(&workdir), PASSPHRASE);
    cli.init_fast_vault("Fleet", 20);
    cli.ok(&["group", "create", "gates", "--scope", "devices:write"]);
    for name in ["gate-1", "gate-2", "gate-3"] {
        cli.ok(&[
            "key", "create", name, "--preset", "device", "--group", "gates",
        ]);
    }
    cli.ok(&["key", "create", "kiosk", "--expires-in", "3d"]);
    let export_parent = workdir.path().join("handover");
    std::fs::create_dir(&export_parent).unwrap();

    let (_bus, notifications) = notification_server();
    let app = App::launch_with(Launch::app().in_workdir(workdir)).await;
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    app.key_row("gate-1").await;

    // The first start of the day warns: in the window and with a desktop notification.
    app.wait_for_text("[data-testid='daily-review']", "the daily review", |text| {
        text.contains("Fleet: 1 key expires within 14 days.")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no desktop notification");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        notifications.lock().unwrap()[0],
        (
            "Keyward: keys to review".to_string(),
            "Fleet: 1 key expires within 14 days.".to_string()
        )
    );

    // The review badge: one key expires within the warning period; a click filters to it.
    app.click("1 key expires within 14 days").await;
    app.wait_for_text("[data-testid='key-counts']", "one key shown", |text| {
        text.starts_with("Showing 1 of 4")
    })
    .await;
    assert_eq!(app.key_rows().await[0][0], "kiosk");
    app.click("Clear filters").await;

    // Two keys selected from the keyboard, rolled with a grace of one hour.
    click_row(&app, "gate-1").await;
    extend_down(&app).await;
    selected_count(&app, "2 keys").await;
    app.click("Roll keys").await;
    let dialog = app.dialog("Roll keys").await;
    app.field("How long the old keys keep working")
        .await
        .select_by_value("1h")
        .await
        .expect("choose one hour");
    app.click("Roll 2 keys").await;
    drop(dialog);
    app.dialog("Keys rolled").await;
    let secret_field = app.field("gate-1").await;
    let new_gate_1 = app.value_of(&secret_field).await;
    assert!(new_gate_1.starts_with("kw_"), "{new_gate_1}");
    by_label(&app, "Copy the key “gate-1”")
        .await
        .click()
        .await
        .expect("copy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while clipboard_text().as_deref() != Some(new_gate_1.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the new key reached the clipboard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verified = cli.run(
        &["key", "verify", "--method", "POST"],
        Some(new_gate_1.as_str()),
    );
    assert_eq!(verified.stdout.trim(), "VALID");
    by_label(&app, "QR code of “gate-2”")
        .await
        .click()
        .await
        .expect("show the QR code");
    let qr = app
        .wait_for(Locator::Css("img[data-testid='key-qr']"), "the QR code")
        .await;
    let source = qr.attr("src").await.expect("read src").unwrap_or_default();
    assert!(
        source.starts_with("data:image/svg+xml"),
        "{}",
        &source[..40.min(source.len())]
    );
    app.click("Done").await;
    app.click("Close without copying").await;
    app.wait_dialog_closed("Keys rolled").await;
    let listed = cli.json(&["key", "list"]);
    let old = key_of(&listed, "gate-1 (replaced)");
    assert_eq!(old["replaced_by"], key_of(&listed, "gate-1")["id"]);
    let status = status_cell(&app, "gate-1 (replaced)").await;
    assert!(
        status == "rolling out, ends in 59 min" || status == "rolling out, ends in 1 h",
        "{status}"
    );

    // A bad grace is refused and rolls nothing.
    click_row(&app, "kiosk").await;
    app.click("Roll key").await;
    app.dialog("Roll key “kiosk”").await;
    app.field("How long the old keys keep working")
        .await
        .select_by_value("custom")
        .await
        .expect("choose another grace");
    app.fill("Grace", "-5s").await;
    app.click("Roll 1 key").await;
    wait_alert(&app, "invalid grace").await;
    app.click("Cancel").await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|key| key["name"] != "kiosk (replaced)"));

    // Two keys deactivated in one action, after its preview.
    click_row(&app, "gate-3").await;
    extend_down(&app).await;
    selected_count(&app, "2 keys").await;
    app.click("Deactivate").await;
    app.dialog("Deactivate keys").await;
    app.wait_for_text("[data-testid='bulk-preview']", "the preview", |text| {
        text.contains("2 keys will be deactivated.")
    })
    .await;
    app.click("Deactivate 2 keys").await;
    app.wait_dialog_closed("Deactivate keys").await;
    let listed = cli.json(&["key", "list", "--status", "inactive"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gate-3", "kiosk"]);
    let audit = cli.json(&["audit", "list", "--action", "key.deactivate"]);
    assert_eq!(audit.as_array().unwrap().len(), 2);

    // The selection deleted elsewhere while the preview is open: said, nothing changed.
    app.click("Delete").await;
    app.dialog("Delete keys").await;
    cli.ok(&["key", "delete", "gate-3", "--yes"]);
    cli.ok(&["key", "delete", "kiosk", "--yes"]);
    app.wait_for(
        Locator::Css("[data-testid='selection-gone']"),
        "the dialog to say the selection is gone",
    )
    .await;
    app.click("Close").await;
    let audit = cli.json(&["audit", "list", "--action", "key.delete"]);
    assert_eq!(
        audit.as_array().unwrap().len(),
        2,
        "only the CLI's deletions"
    );

    // Many keys from CSV rows: a bad row refused by its line, then handed over in a folder.
    app.click("Add many keys").await;
    app.dialog("Add many keys").await;
    app.wait_for(
        Locator::XPath("//label[contains(., 'CSV: name,description,groups')]/input"),
        "the CSV choice",
    )
    .await
    .click()
    .await
    .expect("choose CSV");
    app.fill(
        "CSV rows",
        &lines(&[
            "name,description,groups",
            "reader-1,North,gates",
            "reader-2,,doors",
        ]),
    )
    .await;
    app.click("Add 3 keys").await;
    wait_alert(&app, "line 3: group \"doors\" not found").await;
    app.fill("CSV rows", &lines(&["reader-1,North,gates", "reader-2,,"]))
        .await;
    app.field("Preset")
        .await
        .select_by_value("device")
        .await
        .expect("choose the Device preset");
    let folder = export_parent.join("readers");
    app.fill(
        "Also write each new key to a file in this new folder (optional)",
        folder.to_str().unwrap(),
    )
    .await;
    app.click("Add 2 keys").await;
    app.dialog("API keys created").await;
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("reader-1.json")).unwrap())
            .unwrap();
    assert_eq!(file["name"], "reader-1");
    let verified = cli.run(&["key", "verify", "--method", "POST"], file["key"].as_str());
    assert_eq!(verified.stdout.trim(), "VALID");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(folder.join("reader-2.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    app.click("Done").await;
    app.wait_dialog_closed("API keys created").await;
    let reader = key_of(&cli.json(&["key", "list"]), "reader-1");
    assert_eq!(reader["description"], "North");
    assert_eq!(reader["groups"], serde_json::json!(["gates"]));

    // Locked and unlocked again the same day: no second warning.
    app.click("Lock").await;
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    app.key_row("reader-1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!app.is_shown("[data-testid='daily-review']").await);
    app.close().await;
    assert_eq!(notifications.lock().unwrap().len(), 1, "once a day");
}
