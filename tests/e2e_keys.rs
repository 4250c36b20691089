//! The keys of the real app, driven through WebDriver the way an administrator works, and
//! checked from outside with the `keyward` CLI on the same vault and with the X clipboard:
//! create a vault, an account and two groups; create a key with a preset and a group; copy it
//! and verify it; see only its hint afterwards; deactivate, rename, regroup and delete it;
//! lock and unlock; the clipboard is cleared on lock and after the configured delay.

mod support;

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};
use support::{clipboard_text, xclip_answer, App, Cli};

const PASSPHRASE: &str = "correct horse battery staple";
const ACCOUNT: &str = "Acme Timing";
const PREFIX: &str = "acme";
const KEY_COUNTS: &str = "[data-testid='key-counts']";
const HEADERS: [&str; 10] = [
    "Name",
    "Status",
    "Key",
    "Access",
    "Allow unbind",
    "Groups",
    "Created",
    "Created by",
    "Last used",
    "Expires",
];
/// The shortest clipboard delay the settings accept.
const SHORT_CLIPBOARD_SECONDS: u64 = 5;

/// The hint the vault keeps for `key`: the prefix and four characters, "…", the last four.
fn hint_of(key: &str) -> String {
    let (prefix, body) = key.split_once('_').expect("a key has a prefix");
    let chars: Vec<char> = body.chars().collect();
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}_{head}…{tail}")
}

/// The column of `header` in the keys table.
fn column(header: &str) -> usize {
    HEADERS
        .iter()
        .position(|candidate| *candidate == header)
        .unwrap_or_else(|| panic!("no column {header:?}"))
}

async fn row_cells(app: &App, name: &str) -> Vec<String> {
    app.key_row(name).await;
    app.key_rows()
        .await
        .into_iter()
        .find(|cells| cells[column("Name")] == name)
        .unwrap_or_else(|| panic!("the key {name:?} is not in the table"))
}

/// Waits until the row of `name` shows `text` in the column `header`.
async fn wait_cell(app: &App, name: &str, header: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cells = row_cells(app, name).await;
        if cells[column(header)] == text {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the {header} of {name:?} stayed {:?}, not {text:?}",
            cells[column(header)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the clipboard no longer holds `key`; returns when that happened.
async fn wait_clipboard_cleared(key: &str, within: Duration, why: &str) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if clipboard_text().as_deref() != Some(key) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the key was still on the clipboard {within:?} later ({why})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the clipboard holds text, which it returns.
async fn wait_clipboard_text() -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(text) = clipboard_text() {
            return text;
        }
        assert!(Instant::now() < deadline, "nothing reached the clipboard");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `keyward key verify` with the key on standard input: (exit code, printed result).
fn verify(cli: &Cli, key: &str, request: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["key", "verify"];
    args.extend_from_slice(request);
    let run = cli.run(&args, Some(&format!("{key}\n")));
    (run.code(), run.stdout.trim().to_string())
}

fn key_record(cli: &Cli, name_or_id: &str) -> Value {
    cli.json(&["key", "show", name_or_id])
}

/// Clicks the key's name in the table, which selects its row for the toolbar's actions.
async fn select_key(app: &App, name: &str) {
    let row = app.key_row(name).await;
    row.find(Locator::Css("td"))
        .await
        .expect("the row's first cell")
        .click()
        .await
        .unwrap_or_else(|error| panic!("select the key {name:?}: {error}"));
    let selected = format!("Selected: {name}");
    app.wait_for_text(
        "[role='toolbar'] .selection-name",
        "the selection",
        |text| text == selected,
    )
    .await;
}

async fn click_checkbox(app: &App, label: &str) {
    let xpath = format!("//input[@type='checkbox'][@aria-label='{label}']");
    app.wait_for(Locator::XPath(&xpath), &format!("the checkbox {label:?}"))
        .await
        .click()
        .await
        .unwrap_or_else(|error| panic!("tick {label:?}: {error}"));
}

/// "New group" on the Groups page, with the scopes ticked in the grid.
async fn create_group(app: &App, name: &str, description: &str, scopes: &[&str]) {
    app.click("New group").await;
    app.dialog("New group").await;
    app.fill("Name", name).await;
    app.fill("Description", description).await;
    for scope in scopes {
        click_checkbox(app, scope).await;
    }
    app.click("Create group").await;
    app.wait_dialog_closed("New group").await;
    let row =
        format!("//table[@aria-label='Groups']//th[@scope='row'][normalize-space(.)='{name}']");
    app.wait_for(
        Locator::XPath(&row),
        &format!("the group {name:?} in the list"),
    )
    .await;
}

/// The chips of the group picker in the open dialog.
async fn chosen_groups(app: &App) -> Vec<String> {
    let chips = app
        .client
        .find_all(Locator::Css(
            "[role='dialog'] ul[aria-label='Chosen groups'] li > span",
        ))
        .await
        .expect("find the chosen groups");
    let mut names = Vec::new();
    for chip in chips {
        names.push(chip.text().await.expect("read a chip").trim().to_string());
    }
    names
}

async fn wait_chosen_groups(app: &App, wanted: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let chosen = chosen_groups(app).await;
        if chosen == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the picker chose {chosen:?}, not {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fills "Add API key" and creates the key; returns the full key from the one-time display,
/// which stays open.
async fn add_key(
    app: &App,
    name: &str,
    description: &str,
    preset: &str,
    group_search: Option<&str>,
) -> String {
    app.click("Add API key").await;
    app.dialog("Add API key").await;
    app.fill("Name", name).await;
    app.fill("Description", description).await;
    app.click(preset).await;
    if let Some(search) = group_search {
        // The picker from the keyboard: type to search, Enter picks the first match.
        let picker = app.field("Groups").await;
        picker
            .send_keys(&format!("{search}{}", &*Key::Enter))
            .await
            .expect("pick a group");
    }
    app.click("Create API key").await;
    app.dialog("API key created").await;
    let shown = app.field("API key").await;
    app.value_of(&shown).await
}

async fn unlock(app: &App) {
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver, xclip and a display; run by `make test-e2e`"]
async fn keys_are_created_copied_verified_changed_and_deleted_through_the_app() {
    let app = App::launch().await;
    let cli = app.cli(PASSPHRASE);

    // --- A vault and its first account, through the UI.
    app.fill("Passphrase", PASSPHRASE).await;
    app.fill("Repeat passphrase", PASSPHRASE).await;
    app.click("Create vault").await;
    app.wait_for(
        Locator::XPath("//h1[normalize-space(.)='Create your first account']"),
        "the first-account form",
    )
    .await;
    app.fill("Name", ACCOUNT).await;
    app.fill("Key prefix", PREFIX).await;
    app.fill("Key limit", "10").await;
    app.click("Create account").await;
    app.wait_for_text(KEY_COUNTS, "the empty keys page", |text| {
        text == "Showing 0 of 0 keys · limit 10"
    })
    .await;
    let accounts = cli.json(&["account", "list"]);
    assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
    assert_eq!(
        (
            &accounts[0]["name"],
            &accounts[0]["prefix"],
            &accounts[0]["key_limit"]
        ),
        (&json!(ACCOUNT), &json!(PREFIX), &json!(10))
    );

    // --- Two groups, through the Groups page and its scope grid.
    app.go_to("Groups").await;
    create_group(
        &app,
        "gates",
        "Entry gates that register devices",
        &["devices: write"],
    )
    .await;
    create_group(
        &app,
        "readers",
        "Dashboards that only read",
        &["devices: read", "sessions: read"],
    )
    .await;
    let groups = cli.json(&["group", "list"]);
    let scopes: Vec<(Value, Value)> = groups
        .as_array()
        .expect("a list of groups")
        .iter()
        .map(|group| (group["name"].clone(), group["scopes"].clone()))
        .collect();
    assert_eq!(
        scopes,
        vec![
            (json!("gates"), json!(["devices:write"])),
            (json!("readers"), json!(["devices:read", "sessions:read"])),
        ]
    );

    // --- A key with the Device preset and the group "gates".
    app.go_to("Keys").await;
    let gate = "gate north 1";
    app.click("Add API key").await;
    app.dialog("Add API key").await;
    app.fill("Name", gate).await;
    app.fill("Description", "North gate reader").await;
    app.click("Device").await;
    let access = app.field("Access type").await;
    assert_eq!(
        app.value_of(&access).await,
        "WRITE",
        "the Device preset fills in WRITE"
    );
    let unbind = app.field("Allow unbind device").await;
    assert!(
        unbind.is_enabled().await.expect("read the checkbox"),
        "WRITE may unbind"
    );
    assert!(
        !unbind.is_selected().await.expect("read the checkbox"),
        "Device does not unbind"
    );
    let picker = app.field("Groups").await;
    picker
        .send_keys(&format!("gat{}", &*Key::Enter))
        .await
        .expect("pick a group from the keyboard");
    wait_chosen_groups(&app, &["gates"]).await;
    app.click("Create API key").await;

    // The one-time display: the full key, once, and the warning that it will not come back.
    let display = app.dialog("API key created").await;
    let notice = display.text().await.expect("read the display");
    assert!(notice.contains("will not be shown again"), "{notice}");
    let key = app.value_of(&app.field("API key").await).await;
    assert!(
        key.starts_with("acme_") && key.len() > 40,
        "a full key: {key:?}"
    );

    // Copied by Rust; the X clipboard holds it while the app runs. The app copies after
    // the click began: its 30 s delay cannot end before `copy_clicked` + 30 s.
    let copy_clicked = Instant::now();
    app.click("Copy to clipboard").await;
    app.wait_for_text("[role='timer']", "the clipboard countdown", |text| {
        text.contains("Clipboard clears in")
    })
    .await;
    assert_eq!(
        wait_clipboard_text().await,
        key,
        "the clipboard holds the key"
    );

    // The copied key works on the same vault: WRITE (the preset) within "gates" (devices:write).
    assert_eq!(
        verify(&cli, &key, &["--method", "POST", "--resource", "devices"]),
        (Some(0), "VALID".to_string())
    );
    assert_eq!(
        verify(&cli, &key, &["--method", "GET", "--resource", "devices"]),
        (Some(1), "FORBIDDEN".to_string()),
        "a WRITE key may not read"
    );

    app.click("Done").await;
    app.wait_dialog_closed("API key created").await;

    // Afterwards: the table shows the hint, never the key, and nothing in the page has it.
    let headers = app
        .client
        .execute(
            "return [...document.querySelectorAll(\"table[role='grid'] thead th\")].map((th) => th.textContent.trim());",
            vec![],
        )
        .await
        .expect("read the table's headers");
    assert_eq!(headers, json!(HEADERS), "the keys table's column headers");
    let cells = row_cells(&app, gate).await;
    assert_eq!(
        cells[column("Key")],
        hint_of(&key),
        "the Key column shows the hint"
    );
    assert_eq!(cells[column("Status")], "active");
    assert_eq!(cells[column("Access")], "WRITE");
    assert_eq!(cells[column("Allow unbind")], "No");
    assert_eq!(cells[column("Groups")], "gates");
    assert!(!cells.iter().any(|cell| cell.contains(&key)), "{cells:?}");
    let body = &key[PREFIX.len() + 1..];
    assert_eq!(
        app.places_showing(&key).await,
        Vec::<String>::new(),
        "the key in the page"
    );
    assert_eq!(
        app.places_showing(&body[4..body.len() - 4]).await,
        Vec::<String>::new(),
        "the middle of the key in the page"
    );
    let record = key_record(&cli, gate);
    assert_eq!(
        (
            &record["access"],
            &record["allow_unbind"],
            &record["groups"],
            &record["status"]
        ),
        (
            &json!("WRITE"),
            &json!(false),
            &json!(["gates"]),
            &json!("active")
        )
    );
    assert_eq!(record["description"], "North gate reader");
    assert_eq!(record["hint"], json!(hint_of(&key)));
    let key_id = record["id"].as_str().expect("an id").to_string();

    // --- Locking clears the key from the clipboard: before its 30 s ran out, so the
    // clear came from the lock (an order, not a duration: a slow machine only waits longer).
    let delay_ends = copy_clicked + Duration::from_secs(30);
    let margin = Duration::from_secs(2);
    assert!(
        Instant::now() + margin < delay_ends,
        "too slow to tell a clear on lock from the 30 s delay: {:?} since the copy",
        copy_clicked.elapsed()
    );
    app.click("Lock").await;
    app.button("Unlock").await;
    let cleared_at = wait_clipboard_cleared(
        &key,
        delay_ends.saturating_duration_since(Instant::now()),
        "locking clears it",
    )
    .await;
    assert!(
        cleared_at < delay_ends,
        "cleared by the delay, not by the lock"
    );
    unlock(&app).await;
    wait_cell(&app, gate, "Status", "active").await;

    // --- Deactivate: the confirmation says what it affects.
    select_key(&app, gate).await;
    app.click("Deactivate").await;
    let title = format!("Deactivate key “{gate}”?");
    let confirm = app.dialog(&title).await;
    let impact = confirm.text().await.expect("read the confirmation");
    assert!(
        impact.contains(&hint_of(&key)) && impact.contains("gates"),
        "{impact}"
    );
    assert!(
        !impact.contains("Never"),
        "the key was used by the verification: {impact}"
    );
    app.click("Deactivate key").await;
    app.wait_dialog_closed(&title).await;
    wait_cell(&app, gate, "Status", "inactive").await;
    assert_eq!(key_record(&cli, &key_id)["status"], "inactive");
    assert_eq!(
        verify(&cli, &key, &["--method", "POST", "--resource", "devices"]),
        (Some(1), "DISABLED".to_string())
    );

    // --- Rename.
    let renamed = "gate north 2";
    select_key(&app, gate).await;
    app.click("Rename").await;
    let title = format!("Rename key “{gate}”");
    app.dialog(&title).await;
    app.fill("New name", renamed).await;
    app.click("Save name").await;
    app.wait_dialog_closed(&title).await;
    app.key_row(renamed).await;
    let record = key_record(&cli, renamed);
    assert_eq!(
        (&record["id"], &record["name"]),
        (&json!(key_id), &json!(renamed))
    );
    let old_name = cli.run(&["key", "show", gate], None);
    assert_eq!(
        old_name.code(),
        Some(2),
        "the old name is gone: {old_name:?}"
    );

    // --- Change groups, from the keyboard: Backspace drops "gates", Enter picks "readers".
    select_key(&app, renamed).await;
    app.click("Change groups").await;
    let title = format!("Change groups of “{renamed}”");
    app.dialog(&title).await;
    wait_chosen_groups(&app, &["gates"]).await;
    let picker = app.field("Groups").await;
    picker
        .send_keys(&Key::Backspace)
        .await
        .expect("press Backspace");
    wait_chosen_groups(&app, &[]).await;
    picker
        .send_keys(&format!("read{}", &*Key::Enter))
        .await
        .expect("pick a group");
    wait_chosen_groups(&app, &["readers"]).await;
    app.click("Save groups").await;
    app.wait_dialog_closed(&title).await;
    wait_cell(&app, renamed, "Groups", "readers").await;
    assert_eq!(key_record(&cli, &key_id)["groups"], json!(["readers"]));

    // --- Delete: the confirmation names the key.
    select_key(&app, renamed).await;
    app.click("Delete").await;
    let title = format!("Delete key “{renamed}”?");
    let confirm = app.dialog(&title).await;
    let text = confirm.text().await.expect("read the confirmation");
    assert!(
        text.contains(&format!("Deleting {renamed} cannot be undone")),
        "{text}"
    );
    app.click("Delete key").await;
    app.wait_dialog_closed(&title).await;
    app.wait_for_text(KEY_COUNTS, "no key left", |text| {
        text.starts_with("Showing 0 of 0 keys")
    })
    .await;
    assert_eq!(
        cli.json(&["key", "list"]),
        json!([]),
        "the vault has no key left"
    );
    assert_eq!(cli.run(&["key", "show", &key_id], None).code(), Some(2));
    assert_eq!(
        verify(&cli, &key, &["--method", "POST", "--resource", "devices"]),
        (Some(1), "NOT_FOUND".to_string())
    );

    // --- A shorter clipboard delay, set on the Settings page (stored in the vault).
    app.go_to("Settings").await;
    app.fill(
        "Clear the clipboard after (seconds)",
        &SHORT_CLIPBOARD_SECONDS.to_string(),
    )
    .await;
    app.click("Save preferences").await;
    app.wait_for_text(".ok[role='status']", "the settings saved", |text| {
        text == "Saved."
    })
    .await;
    app.go_to("Keys").await;

    // A second key, READ (Classification app), no group. Closing before copying asks first.
    let kiosk = "kiosk 1";
    let kiosk_key = add_key(
        &app,
        kiosk,
        "Results kiosk at the finish",
        "Classification app",
        None,
    )
    .await;
    app.click("Close").await;
    app.wait_for(
        Locator::XPath(
            "//*[@role='alertdialog']//h3[normalize-space(.)='You have not copied this key']",
        ),
        "the question about an uncopied key",
    )
    .await;
    app.click("Back to the key").await;
    // The app copies after the click began, so its delay ends after `copy_clicked` + delay.
    let copy_clicked = Instant::now();
    app.click("Copy to clipboard").await;
    app.wait_for_text("[role='timer']", "the short countdown", |text| {
        text.contains(&format!("Clipboard clears in {SHORT_CLIPBOARD_SECONDS} s"))
            || text.contains(&format!(
                "Clipboard clears in {} s",
                SHORT_CLIPBOARD_SECONDS - 1
            ))
    })
    .await;
    assert_eq!(wait_clipboard_text().await, kiosk_key);
    let cleared_at = wait_clipboard_cleared(
        &kiosk_key,
        Duration::from_secs(SHORT_CLIPBOARD_SECONDS + 10),
        "the configured delay",
    )
    .await;
    let after = cleared_at.duration_since(copy_clicked);
    assert!(
        after >= Duration::from_secs(SHORT_CLIPBOARD_SECONDS),
        "cleared {after:?} after the click, before the {SHORT_CLIPBOARD_SECONDS} s delay"
    );
    app.wait_for_text(
        "[role='dialog'] .countdown",
        "the countdown's end",
        |text| text == "Clipboard cleared.",
    )
    .await;
    assert_eq!(
        verify(&cli, &kiosk_key, &[]),
        (Some(0), "VALID".to_string())
    );
    app.click("Done").await;
    app.wait_dialog_closed("API key created").await;
    assert_eq!(app.places_showing(&kiosk_key).await, Vec::<String>::new());
    let cells = row_cells(&app, kiosk).await;
    assert_eq!(
        (
            cells[column("Key")].as_str(),
            cells[column("Access")].as_str(),
            cells[column("Groups")].as_str()
        ),
        (hint_of(&kiosk_key).as_str(), "READ", "—")
    );

    // The vault as the CLI sees it at the end: the one key, unchanged by the round trip.
    let listed = cli.json(&["key", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .expect("a list of keys")
        .iter()
        .filter_map(|record| record["name"].as_str())
        .collect();
    assert_eq!(names, vec![kiosk]);

    // Lock and unlock once more: the key is still there, its secret still nowhere.
    app.click("Lock").await;
    unlock(&app).await;
    app.key_row(kiosk).await;
    assert_eq!(app.places_showing(&kiosk_key).await, Vec::<String>::new());

    app.close().await;
}

/// Runs without a display: the clipboard checks above rest on telling these apart.
#[test]
fn a_failing_xclip_is_not_read_as_an_empty_clipboard() {
    // What xclip 0.13 prints when nothing owns the clipboard, or its owner has no text.
    for empty in [
        "Error: target STRING not available\n",
        "Error: target UTF8_STRING not available\n",
    ] {
        assert_eq!(xclip_answer(false, String::new(), empty), None, "{empty:?}");
    }
    assert_eq!(
        xclip_answer(true, "a copied key".into(), ""),
        Some("a copied key".to_string())
    );
    assert_eq!(xclip_answer(true, String::new(), ""), None);
    for broken in [
        "Error: Can't open display: :98\n",
        "xclip: error while loading shared libraries: libXmu.so.6: cannot open shared object file\n",
        "",
    ] {
        let answer = std::panic::catch_unwind(|| xclip_answer(false, String::new(), broken));
        assert!(answer.is_err(), "{broken:?} was read as an empty clipboard");
    }
}
