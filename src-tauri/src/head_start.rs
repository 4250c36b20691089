//! The app's head start: while the web view starts (a few hundred milliseconds in which the
//! shell has nothing else to do), connect to the OS keychain, unlock the vault with the key
//! remembered there and read the first account's keys (as `list_key_columns` answers them),
//! so that the page's first commands find that work done instead of starting it one round
//! trip after the other.
//!
//! It does nothing the page would not have done: the page still asks `vault_status`, and
//! finds the vault unlocked as `unlock_from_keychain` would have left it. The keys read are
//! handed to the first `list_key_columns` of that account only while the vault's content is
//! still what was read (see `Session::key_columns_json`).

use std::sync::{Condvar, Mutex, PoisonError};

use keyward_core::{ApiKey, ContentVersion, KeyFilter, Vault};

use crate::error::CommandError;
use crate::views::KeyColumns;

/// Whether the head start is under way: the commands that read or change the vault's state
/// wait for it to end, so none sees a vault half opened or races the unlock.
#[derive(Debug, Default)]
pub struct Gate {
    running: Mutex<bool>,
    ended: Condvar,
}

impl Gate {
    pub fn begin(&self) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    pub fn end(&self) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.ended.notify_all();
    }

    /// Returns at once unless the head start is under way.
    pub fn wait(&self) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.ended
                .wait_while(running, |running| *running)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
}

/// The first account's keys as `list_key_columns` answers them (JSON), and the vault's
/// content version when they were read.
#[derive(Debug)]
pub struct EarlyKeys {
    pub account: String,
    pub json: String,
    pub version: ContentVersion,
}

impl EarlyKeys {
    /// Reads the keys of the vault's first account (the one the window shows first); `None`
    /// for a vault without accounts.
    pub fn read(vault: &Vault) -> Result<Option<EarlyKeys>, CommandError> {
        let version = vault.content_version()?;
        let Some(first) = vault.list_accounts()?.into_iter().next() else {
            return Ok(None);
        };
        let keys = vault.list_keys(Some(&first.name), &KeyFilter::default())?;
        Ok(Some(EarlyKeys {
            json: key_columns_json(&first.name, keys)?,
            account: first.name,
            version,
        }))
    }
}

/// The answer of `list_key_columns`: the keys as JSON, the same whether read early or on
/// demand.
pub fn key_columns_json(account: &str, keys: Vec<ApiKey>) -> Result<String, CommandError> {
    serde_json::to_string(&KeyColumns::of(account, keys))
        .map_err(|error| CommandError::Internal(format!("the keys could not be sent: {error}")))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::{keys_from_columns, TestApp, PASSPHRASE};

    /// A vault remembered in the keychain, with account `acme` and two keys, then locked.
    fn remembered_vault_with_keys() -> TestApp {
        let app = TestApp::new();
        app.call(
            "create_vault",
            json!({ "passphrase": PASSPHRASE, "remember": true }),
        )
        .unwrap();
        app.call("create_account", json!({ "name": "acme" }))
            .unwrap();
        for name in ["gate 1", "gate 2"] {
            create_key(&app, name);
        }
        app
    }

    fn create_key(app: &TestApp, name: &str) {
        app.call(
            "create_key",
            json!({ "account": "acme", "name": name, "access": "READ", "allowUnbind": false, "groups": [] }),
        )
        .unwrap();
    }

    /// The keys as the window reads them (which the head start's read may answer).
    fn key_names(app: &TestApp) -> Vec<String> {
        let columns = app
            .call("list_key_columns", json!({ "account": "acme" }))
            .unwrap();
        keys_from_columns(&columns)
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn at_start_a_remembered_vault_is_open_before_the_window_asks_and_its_keys_are_read() {
        let app = remembered_vault_with_keys();
        let listed: Value = app.call("list_keys", json!({ "account": "acme" })).unwrap();

        let app = app.restarted();
        let status = app.call("vault_status", json!({})).unwrap();
        assert_eq!(
            status["unlocked"], true,
            "unlocked without the window asking"
        );
        assert!(
            app.session.has_early_keys(),
            "the first account's keys were read"
        );
        let columns = app
            .call("list_key_columns", json!({ "account": "acme" }))
            .unwrap();
        assert_eq!(
            keys_from_columns(&columns),
            listed,
            "the keys read early are the keys list_keys answers"
        );
        assert!(!app.session.has_early_keys(), "handed out once");
        assert_eq!(key_names(&app), ["gate 1", "gate 2"]);
    }

    #[test]
    fn a_list_asked_while_the_head_start_is_under_way_gets_its_read() {
        let app = remembered_vault_with_keys();
        let listed: Value = app.call("list_keys", json!({ "account": "acme" })).unwrap();
        // Asked at once after the start, without `vault_status` first.
        let app = app.restarted();
        let columns = app
            .call("list_key_columns", json!({ "account": "acme" }))
            .unwrap();
        assert_eq!(keys_from_columns(&columns), listed);
        assert!(
            !app.session.has_early_keys(),
            "the head start's read answered, not left behind"
        );
    }

    #[test]
    fn a_change_made_before_the_first_list_is_in_it() {
        let app = remembered_vault_with_keys().restarted();
        app.call("vault_status", json!({})).unwrap();
        create_key(&app, "gate 3");
        assert_eq!(key_names(&app), ["gate 1", "gate 2", "gate 3"]);

        let app = app.restarted();
        app.call("vault_status", json!({})).unwrap();
        app.call(
            "rename_key",
            json!({ "account": "acme", "key": "gate 1", "newName": "gate one" }),
        )
        .unwrap();
        assert_eq!(key_names(&app), ["gate one", "gate 2", "gate 3"]);
    }

    #[test]
    fn a_change_made_by_another_process_before_the_first_list_is_in_it() {
        let app = remembered_vault_with_keys().restarted();
        app.call("vault_status", json!({})).unwrap();
        let mut cli = app.open_vault_directly();
        cli.delete_key(Some("acme"), "gate 2").unwrap();
        drop(cli);
        assert_eq!(key_names(&app), ["gate 1"]);
    }

    #[test]
    fn a_lock_before_the_first_list_drops_the_keys_read_early() {
        let app = remembered_vault_with_keys().restarted();
        app.call("lock", json!({})).unwrap();
        assert!(!app.session.has_early_keys());
        assert_eq!(
            app.call("list_key_columns", json!({ "account": "acme" }))
                .unwrap_err()["kind"],
            "vault_locked"
        );
    }

    #[test]
    fn without_a_remembered_key_the_vault_stays_locked_until_the_passphrase() {
        let app = TestApp::new();
        app.call(
            "create_vault",
            json!({ "passphrase": PASSPHRASE, "remember": false }),
        )
        .unwrap();
        let app = app.restarted();
        let status = app.call("vault_status", json!({})).unwrap();
        assert_eq!(
            (status["exists"].clone(), status["unlocked"].clone()),
            (json!(true), json!(false))
        );
        assert!(!app.session.has_early_keys());
        assert_eq!(app.call("unlock_from_keychain", json!({})).unwrap(), false);
    }
}
