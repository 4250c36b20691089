//! The real app as a desktop app, driven through WebDriver under Xvfb with a real D-Bus
//! session bus: a second launch leaves one window and one vault session; Ctrl+L locks; the
//! screensaver's `ActiveChanged` and logind's `PrepareForSleep` (sent with `dbus-send`) lock
//! and clear the clipboard; the window comes back at the size it was closed at; the log file
//! holds no key and no passphrase after a session that created a key.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::Locator;
use support::{
    app_binary, clipboard_text, new_workdir, processes_running, vault_path_in, App, Cli, Launch,
};

const PASSPHRASE: &str = "correct horse battery staple";
const WRONG_PASSPHRASE: &str = "incorrect horse battery staple";
const ACCOUNT: &str = "Fleet";
const KEY_COUNTS: &str = "[data-testid='key-counts']";

/// A vault with one account and one key, made by the CLI, in a fresh working directory.
fn prepared_vault() -> tempfile::TempDir {
    let workdir = new_workdir();
    let cli = Cli::new(&vault_path_in(&workdir), PASSPHRASE);
    cli.init_fast_vault(ACCOUNT, 10);
    cli.ok(&["key", "create", "gate-north"]);
    workdir
}

async fn unlock(app: &App) {
    app.fill("Passphrase", PASSPHRASE).await;
    app.click("Unlock").await;
    app.wait_for_text(KEY_COUNTS, "the keys table", |text| {
        text.starts_with("Showing ")
    })
    .await;
}

async fn wait_locked(app: &App, notice: Option<&str>) {
    app.field("Passphrase").await;
    if let Some(notice) = notice {
        app.wait_for_text("[role='status']", "why the vault locked", |text| {
            text.contains(notice)
        })
        .await;
    }
}

/// Sends a D-Bus signal with one boolean argument on the test's session bus.
fn send_signal(path: &str, member: &str, value: bool) {
    let status = Command::new("dbus-send")
        .args([
            "--session",
            "--type=signal",
            path,
            member,
            &format!("boolean:{value}"),
        ])
        .status()
        .expect("run dbus-send (package dbus)");
    assert!(status.success(), "dbus-send {member}");
}

/// The windows of the app that the X server shows, and the app's processes.
fn app_windows(app: &App) -> usize {
    app.native_window_titles()
        .iter()
        .filter(|title| *title == "Keyward")
        .count()
}

fn app_processes() -> usize {
    processes_running(&app_binary())
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver, D-Bus and a display; run by `make test-e2e`"]
async fn a_second_launch_leaves_one_window_and_one_session() {
    let workdir = prepared_vault();
    let vault = vault_path_in(&workdir);
    let app = App::launch_with(Launch::app().in_workdir(workdir)).await;
    unlock(&app).await;
    assert_eq!(app_windows(&app), 1);
    assert_eq!(app_processes(), 1);

    // A second launch as from the application menu: same user, same session bus.
    let started = Instant::now();
    let mut second = Command::new(app_binary())
        .env("KEYWARD_VAULT", &vault)
        .env("GDK_BACKEND", "x11")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the app a second time");
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait for the second launch") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = second.kill();
            let _ = second.wait();
            panic!(
                "the second launch kept running (windows: {:?})",
                app.native_window_titles()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "the second launch hands over and exits: {status}"
    );
    assert_eq!(app_windows(&app), 1, "one window");
    assert_eq!(app_processes(), 1, "one app process, so one vault session");

    // The first window's session goes on, unlocked, as it was.
    app.wait_for_text(KEY_COUNTS, "the keys table, still", |text| {
        text.starts_with("Showing 1 of 1 key")
    })
    .await;
    assert!(!app.is_shown("input[type='password']").await, "not locked");
    app.close().await;
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn ctrl_l_locks_the_vault() {
    let app = App::launch_with(Launch::app().in_workdir(prepared_vault())).await;
    unlock(&app).await;
    let body = app
        .client
        .find(Locator::Css("body"))
        .await
        .expect("the page");
    body.send_keys(&format!("{}l{}", &*Key::Control, &*Key::Null))
        .await
        .expect("press Ctrl+L");
    wait_locked(&app, None).await;
    app.close().await;
}

/// Creates a key in the unlocked app, copies it to the clipboard and returns it (the
/// one-time display stays open), with the moment before the copy was asked for.
async fn copy_a_new_key(app: &App, name: &str) -> (String, Instant) {
    app.click("Add API key").await;
    app.dialog("Add API key").await;
    app.fill("Name", name).await;
    app.click("Create API key").await;
    app.dialog("API key created").await;
    let key = app.value_of(&app.field("API key").await).await;
    let copy_clicked = Instant::now();
    app.click("Copy to clipboard").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while clipboard_text().as_deref() != Some(key.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the key never reached the clipboard"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (key, copy_clicked)
}

/// Waits until the lock clears `key` from the clipboard: before the copy's own delay
/// (the vault's 30 s) could have, however slow the machine — an order, not a duration.
async fn wait_clipboard_cleared(key: &str, copy_clicked: Instant) {
    let delay_ends = copy_clicked + Duration::from_secs(30);
    while clipboard_text().as_deref() == Some(key) {
        assert!(
            Instant::now() < delay_ends,
            "the key stayed on the clipboard after the lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        Instant::now() < delay_ends,
        "cleared by the copy's delay, not by the lock"
    );
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver, xclip, dbus-send and a display; run by `make test-e2e`"]
async fn the_screen_lock_and_suspend_signals_lock_the_vault_and_clear_the_clipboard() {
    // logind lives on the system bus, which a test machine may not have: the app is pointed
    // at the session bus for it, where the test can send logind's signal itself.
    let session_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS")
        .expect("a D-Bus session bus (scripts/e2e-session.sh starts one)");
    let app = App::launch_with(
        Launch::app()
            .in_workdir(prepared_vault())
            .env("DBUS_SYSTEM_BUS_ADDRESS", session_bus),
    )
    .await;

    // A screensaver that turns off (false) locks nothing.
    unlock(&app).await;
    send_signal(
        "/org/freedesktop/ScreenSaver",
        "org.freedesktop.ScreenSaver.ActiveChanged",
        false,
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        app.is_shown("[data-testid='key-counts']").await,
        "still unlocked"
    );

    // The freedesktop screensaver turns on: locked, the copied key gone from the clipboard.
    let (key, copy_clicked) = copy_a_new_key(&app, "kiosk-1").await;
    send_signal(
        "/org/freedesktop/ScreenSaver",
        "org.freedesktop.ScreenSaver.ActiveChanged",
        true,
    );
    wait_locked(&app, Some("The vault locked when the screen locked.")).await;
    wait_clipboard_cleared(&key, copy_clicked).await;

    // GNOME's screensaver.
    unlock(&app).await;
    send_signal(
        "/org/gnome/ScreenSaver",
        "org.gnome.ScreenSaver.ActiveChanged",
        true,
    );
    wait_locked(&app, Some("The vault locked when the screen locked.")).await;

    // logind: the machine is about to sleep.
    unlock(&app).await;
    let (key, copy_clicked) = copy_a_new_key(&app, "kiosk-2").await;
    send_signal(
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager.PrepareForSleep",
        true,
    );
    wait_locked(
        &app,
        Some("The vault locked when the computer went to sleep."),
    )
    .await;
    wait_clipboard_cleared(&key, copy_clicked).await;
    app.close().await;
}

/// The page's window size (CSS pixels = device pixels here).
async fn inner_size(app: &App) -> (u64, u64) {
    let size = app
        .client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .expect("read the window size");
    (
        size[0].as_u64().expect("a width"),
        size[1].as_u64().expect("a height"),
    )
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn the_window_comes_back_at_the_size_it_was_closed_at() {
    // One configuration directory for both launches: where the window state is kept.
    let config = new_workdir();
    let launch = |config: &Path| {
        Launch::app()
            .in_workdir(prepared_vault())
            .env("XDG_CONFIG_HOME", config.as_os_str())
    };

    let app = App::launch_with(launch(config.path())).await;
    app.field("Passphrase").await;
    let first = inner_size(&app).await;
    assert_eq!(
        first,
        (1200, 760),
        "the configured size at the first launch"
    );
    app.client
        .set_window_size(900, 640)
        .await
        .expect("resize the window");
    let deadline = Instant::now() + Duration::from_secs(10);
    let resized = loop {
        let size = inner_size(&app).await;
        if size != first {
            break size;
        }
        assert!(Instant::now() < deadline, "the window was not resized");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Saved a moment after the resize settles, without waiting for a clean exit.
    let state = window_state_file(config.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.exists() {
        assert!(
            Instant::now() < deadline,
            "no window state in {}",
            state.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.close().await;

    let again = App::launch_with(launch(config.path())).await;
    again.field("Passphrase").await;
    assert_eq!(
        inner_size(&again).await,
        resized,
        "the window comes back at the size it was closed at"
    );
    again.close().await;
}

fn window_state_file(config: &Path) -> PathBuf {
    config
        .join("dev.keyward.desktop")
        .join(".window-state.json")
}

#[tokio::test]
#[ignore = "end-to-end: needs the built UI, tauri-driver and a display; run by `make test-e2e`"]
async fn the_log_file_holds_no_key_and_no_passphrase_after_a_session_that_created_a_key() {
    let data = new_workdir();
    let app = App::launch_with(
        Launch::app()
            .in_workdir(prepared_vault())
            .env("XDG_DATA_HOME", data.path().as_os_str()),
    )
    .await;
    // A refused command is logged with its kind and message: a wrong passphrase first.
    app.fill("Passphrase", WRONG_PASSPHRASE).await;
    app.click("Unlock").await;
    app.wait_for_text("[role='alert']", "the refusal", |text| {
        text.to_lowercase().contains("wrong passphrase")
    })
    .await;
    unlock(&app).await;
    let (key, _) = copy_a_new_key(&app, "kiosk-log").await;
    app.client
        .find(Locator::Css("body"))
        .await
        .expect("the page")
        .send_keys(&format!("{}l{}", &*Key::Control, &*Key::Null))
        .await
        .expect("press Ctrl+L");
    wait_locked(&app, None).await;
    app.close().await;

    let log = data
        .path()
        .join("dev.keyward.desktop")
        .join("logs")
        .join("keyward.log");
    let text = std::fs::read_to_string(&log)
        .unwrap_or_else(|error| panic!("read the log {}: {error}", log.display()));
    for expected in [
        "started",
        // src-tauri/src/webview.rs: the filter's frame budget depends on it (BENCHMARKS.md).
        "web view: overflow areas scroll on the page's thread",
        "refused (wrong_passphrase): wrong passphrase",
        "vault opened",
        "vault locked (asked)",
    ] {
        assert!(text.contains(expected), "{expected:?} in the log:\n{text}");
    }
    assert!(!text.contains(&key), "the key is in the log:\n{text}");
    assert!(!text.contains(&key[3..20]), "part of the key is in the log");
    assert!(!text.contains(PASSPHRASE), "the passphrase is in the log");
    assert!(
        !text.contains(WRONG_PASSPHRASE),
        "the wrong passphrase is in the log"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log)
            .expect("the log")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the log is its owner's only: {mode:o}");
    }
}
