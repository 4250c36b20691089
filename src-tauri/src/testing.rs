//! Test support: the real commands on a temporary vault, invoked through Tauri's mock
//! runtime exactly as the window invokes them (JSON in, JSON or `{ kind, message }` out).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward_core::{KdfParams, Keychain, SecretString, Vault};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

use crate::clipboard::testing::{fake_clipboard, FakeClipboard};
use crate::error::CommandError;
use crate::events::{Events, Recorder};
use crate::session::{Session, SessionParts};

pub const PASSPHRASE: &str = "correct horse battery";

/// The cheapest argon2 the core accepts: tests are about the commands, not the KDF.
const TEST_KDF: KdfParams = KdfParams::WEAKEST;

pub struct TestApp {
    pub session: Arc<Session>,
    pub clipboard: FakeClipboard,
    recorder: Recorder,
    window: WebviewWindow<MockRuntime>,
    _app: App<MockRuntime>,
    dir: tempfile::TempDir,
    /// The in-memory keychain, kept for `restarted`.
    keychain: Option<Keychain>,
}

impl TestApp {
    /// No vault yet; an in-memory keychain.
    pub fn new() -> Self {
        TestApp::with_keychain(Ok(Keychain::in_memory()))
    }

    /// No vault yet, and no keychain on this "machine".
    pub fn without_keychain() -> Self {
        let missing = keyward_core::Error::Keychain(
            "no OS keychain is available (no D-Bus in this test)".into(),
        );
        TestApp::with_keychain(Err(CommandError::from(missing)))
    }

    /// A new vault, unlocked.
    pub fn unlocked() -> Self {
        let app = TestApp::new();
        app.call(
            "create_vault",
            json!({ "passphrase": PASSPHRASE, "remember": false }),
        )
        .unwrap();
        app
    }

    /// An unlocked vault with account `acme` (the default prefix `kw`, a limit of 10).
    pub fn with_account() -> Self {
        let app = TestApp::unlocked();
        app.call("create_account", json!({ "name": "acme" }))
            .unwrap();
        app
    }

    fn with_keychain(keychain: Result<Keychain, CommandError>) -> Self {
        TestApp::in_dir(tempfile::tempdir().unwrap(), keychain)
    }

    /// The app quit and started again on the same vault and keychain, with the head start
    /// the real app begins at start-up (see `head_start`).
    pub fn restarted(self) -> Self {
        self.session.shut_down();
        let keychain =
            self.keychain.clone().ok_or(()).map_err(|()| {
                CommandError::from(keyward_core::Error::Keychain("no keychain".into()))
            });
        let app = TestApp::in_dir(self.dir, keychain);
        app.session.begin_head_start();
        app
    }

    fn in_dir(dir: tempfile::TempDir, keychain: Result<Keychain, CommandError>) -> Self {
        let kept_keychain = keychain.as_ref().ok().cloned();
        let events = Events::new();
        let recorder = Recorder::default();
        events.connect(recorder.clone());
        let clipboard = FakeClipboard::default();
        let session = Session::new(SessionParts {
            path: Ok(dir.path().join("vault.db")),
            keychain: Some(keychain),
            kdf: TEST_KDF,
            clipboard: fake_clipboard(Arc::clone(&events), &clipboard),
            events,
            watch_interval: Some(Duration::from_millis(50)),
        });
        let app = crate::with_commands(mock_builder())
            .manage(Arc::clone(&session))
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        TestApp {
            session,
            clipboard,
            recorder,
            window,
            _app: app,
            dir,
            keychain: kept_keychain,
        }
    }

    pub fn vault_path(&self) -> String {
        self.path().display().to_string()
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("vault.db")
    }

    /// Opens the same vault file directly with the core, to check what a command did.
    pub fn open_vault_directly(&self) -> Vault {
        Vault::open(&self.path(), &SecretString::from(PASSPHRASE)).unwrap()
    }

    /// Invokes `command` with `args` (camelCase, as the window sends them).
    pub fn call(&self, command: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: command.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|body| body.deserialize::<Value>().unwrap())
    }

    /// The events emitted so far, as `{ "event", "payload" }`.
    pub fn events(&self) -> Vec<Value> {
        self.recorder.events()
    }

    /// Waits (at most a few seconds) until `done` holds.
    pub fn wait_for(&self, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `list_key_columns`'s answer put back together as `list_keys` answers the same keys: one
/// object per key, `replaced_by` left out where it is null.
pub fn keys_from_columns(columns: &Value) -> Value {
    let table = columns.as_object().expect("an object of columns");
    let ids = table["id"].as_array().expect("the id column");
    let keys = (0..ids.len())
        .map(|row| {
            let mut key = serde_json::Map::new();
            for (field, column) in table {
                if field == "account" {
                    key.insert(field.clone(), column.clone());
                    continue;
                }
                let column = column.as_array().expect("a column");
                assert_eq!(
                    column.len(),
                    ids.len(),
                    "column {field} has a value per key"
                );
                if !(field == "replaced_by" && column[row].is_null()) {
                    key.insert(field.clone(), column[row].clone());
                }
            }
            Value::Object(key)
        })
        .collect();
    Value::Array(keys)
}
