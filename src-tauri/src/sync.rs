//! Sync commands: an account's remote, its sync status, and "Sync now". A sync runs on
//! the blocking pool and borrows the vault only between network steps, so the window
//! stays usable while it runs; `sync-status` tells the window when one starts and ends.

use std::sync::Arc;

use keyward_core::{SecretString, Vault};
use keyward_sync::{SyncError, SyncOptions, SyncReport, VaultAccess};
use tauri::State;

use crate::error::{CommandError, ShellErrorKind};
use crate::session::{off_ui_thread, Session};
use crate::views::SyncStatus;

/// The session lent to the sync client, one step at a time.
struct SessionVault<'a>(&'a Session);

impl VaultAccess for SessionVault<'_> {
    fn with_vault<T>(
        &self,
        work: impl FnOnce(&mut Vault) -> keyward_core::Result<T>,
    ) -> Result<T, SyncError> {
        // The core's own error goes back to the client as it was.
        let mut failure = None;
        let result = self.0.with_vault(|vault| {
            work(vault).map_err(|err| {
                failure = Some(err);
                CommandError::VaultLocked
            })
        });
        result.map_err(|_| failure.map_or(SyncError::VaultLocked, SyncError::Vault))
    }
}

impl From<SyncError> for CommandError {
    fn from(error: SyncError) -> Self {
        let message = error.to_string();
        let kind = match error {
            SyncError::Vault(err) => return CommandError::from(err),
            SyncError::VaultLocked => return CommandError::VaultLocked,
            SyncError::Unreachable { .. } => ShellErrorKind::RemoteUnreachable,
            SyncError::Unauthorized(_) => ShellErrorKind::Unauthorized,
            SyncError::Misbehaving { .. } => ShellErrorKind::RemoteRefused,
        };
        CommandError::Sync { kind, message }
    }
}

pub fn status(session: &Session, account: &str) -> Result<SyncStatus, CommandError> {
    let state = session.with_vault(|vault| Ok(vault.sync_state(Some(account))?))?;
    Ok(SyncStatus {
        account: account.to_string(),
        remote: state.remote,
        pending_changes: state.pending_changes,
        last_sync_at: state.last_sync_at,
        last_report: state
            .last_report
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok()),
        last_error: state.last_error,
        refused: state.refused,
        syncing: session.is_syncing(account),
    })
}

fn announce(session: &Session, account: &str) {
    if let Ok(status) = status(session, account) {
        session.events().sync_status(status);
    }
}

#[tauri::command]
pub async fn sync_status(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<SyncStatus, CommandError> {
    off_ui_thread(&session, move |session| status(session, &account)).await
}

#[tauri::command]
pub async fn set_remote(
    session: State<'_, Arc<Session>>,
    account: String,
    url: String,
    token: String,
    insecure: bool,
) -> Result<SyncStatus, CommandError> {
    let token = SecretString::new(token);
    off_ui_thread(&session, move |session| {
        session
            .with_vault(|vault| Ok(vault.set_remote(Some(&account), &url, &token, insecure)?))?;
        let status = status(session, &account)?;
        session.events().sync_status(status.clone());
        Ok(status)
    })
    .await
}

#[tauri::command]
pub async fn remove_remote(
    session: State<'_, Arc<Session>>,
    account: String,
    force: bool,
) -> Result<SyncStatus, CommandError> {
    off_ui_thread(&session, move |session| {
        let account = session.with_vault(|vault| Ok(vault.account(&account)?.name))?;
        if session.is_syncing(&account) {
            return Err(already_syncing(&account));
        }
        session.with_vault(|vault| Ok(vault.remove_remote(Some(&account), force)?))?;
        let status = status(session, &account)?;
        session.events().sync_status(status.clone());
        Ok(status)
    })
    .await
}

fn already_syncing(account: &str) -> CommandError {
    CommandError::Core {
        kind: keyward_core::ErrorKind::Conflict,
        message: format!("account {account} is already syncing"),
    }
}

#[tauri::command]
pub async fn sync_now(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<SyncReport, CommandError> {
    off_ui_thread(&session, move |session| {
        // The account's real name (and a clear error for an unknown one) before starting.
        let account = session.with_vault(|vault| Ok(vault.account(&account)?.name))?;
        if !session.start_sync(&account) {
            return Err(already_syncing(&account));
        }
        announce(session, &account);
        let outcome = keyward_sync::sync(
            &SessionVault(session),
            Some(&account),
            &SyncOptions::default(),
        );
        session.end_sync(&account);
        announce(session, &account);
        Ok(outcome?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use serde_json::json;

    fn app_with_account() -> TestApp {
        let app = TestApp::unlocked();
        app.call("create_account", json!({ "name": "Acme" }))
            .unwrap();
        app
    }

    #[test]
    fn with_no_remote_the_status_says_so_and_sync_now_is_refused() {
        let app = app_with_account();
        let status = app
            .call("sync_status", json!({ "account": "Acme" }))
            .unwrap();
        assert_eq!(status["remote"], serde_json::Value::Null);
        assert_eq!(status["pending_changes"], 0);
        assert_eq!(status["syncing"], false);
        let refused = app
            .call("sync_now", json!({ "account": "Acme" }))
            .unwrap_err();
        assert_eq!(refused["kind"], "not_found", "{refused}");
    }

    #[test]
    fn setting_a_remote_queues_the_account_and_an_unreachable_one_keeps_it() {
        let app = app_with_account();
        app.call(
            "create_group",
            json!({ "account": "Acme", "name": "ops", "description": null, "scopes": ["devices:read"] }),
        )
        .unwrap();
        let refused = app
            .call(
                "set_remote",
                json!({ "account": "Acme", "url": "http://keys.example.com", "token": "t0ken-abcd", "insecure": false }),
            )
            .unwrap_err();
        assert_eq!(refused["kind"], "invalid_input");
        // Nothing listens on port 9 of this machine.
        let status = app
            .call(
                "set_remote",
                json!({ "account": "Acme", "url": "http://127.0.0.1:9", "token": "t0ken-abcd", "insecure": false }),
            )
            .unwrap();
        assert_eq!(status["remote"]["token_hint"], "…abcd");
        assert_eq!(status["pending_changes"], 1);
        let unreachable = app
            .call("sync_now", json!({ "account": "Acme" }))
            .unwrap_err();
        assert_eq!(unreachable["kind"], "remote_unreachable", "{unreachable}");
        assert!(unreachable["message"]
            .as_str()
            .unwrap()
            .starts_with("remote unreachable — 1 changes kept for the next sync"));
        let status = app
            .call("sync_status", json!({ "account": "Acme" }))
            .unwrap();
        assert_eq!(status["pending_changes"], 1);
        assert_eq!(status["syncing"], false);
        assert!(status["last_error"]
            .as_str()
            .unwrap()
            .starts_with("remote unreachable"));
        let events: Vec<_> = app
            .events()
            .into_iter()
            .filter(|e| e["event"] == "sync-status")
            .map(|e| e["payload"]["syncing"].clone())
            .collect();
        assert_eq!(
            events,
            [json!(false), json!(true), json!(false)],
            "set, started, ended"
        );
    }
}
