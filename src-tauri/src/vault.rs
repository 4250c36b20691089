//! Vault commands: status, create, unlock (by passphrase or from the keychain), lock,
//! summary and `touch`, which keeps the auto-lock at bay while the administrator works.

use std::sync::Arc;

use keyward_core::{SecretString, VaultSummary};
use tauri::State;

use crate::error::CommandError;
use crate::session::{off_ui_thread, on_vault, Session};
use crate::views::{LockReason, UnlockOutcome, VaultStatus};

#[tauri::command]
pub async fn vault_status(session: State<'_, Arc<Session>>) -> Result<VaultStatus, CommandError> {
    off_ui_thread(&session, Session::status).await
}

#[tauri::command]
pub async fn create_vault(
    session: State<'_, Arc<Session>>,
    passphrase: String,
    remember: bool,
) -> Result<UnlockOutcome, CommandError> {
    let passphrase = SecretString::new(passphrase);
    off_ui_thread(&session, move |session| {
        session.create(&passphrase, remember)
    })
    .await
}

#[tauri::command]
pub async fn unlock(
    session: State<'_, Arc<Session>>,
    passphrase: String,
    remember: bool,
) -> Result<UnlockOutcome, CommandError> {
    let passphrase = SecretString::new(passphrase);
    off_ui_thread(&session, move |session| {
        session.unlock(&passphrase, remember)
    })
    .await
}

#[tauri::command]
pub async fn unlock_from_keychain(session: State<'_, Arc<Session>>) -> Result<bool, CommandError> {
    off_ui_thread(&session, Session::unlock_from_keychain).await
}

/// Forgets the vault key remembered in the OS keychain: from now on the passphrase is
/// asked for. False when nothing was remembered.
#[tauri::command]
pub async fn forget_keychain(session: State<'_, Arc<Session>>) -> Result<bool, CommandError> {
    off_ui_thread(&session, Session::forget_keychain).await
}

#[tauri::command]
pub async fn lock(session: State<'_, Arc<Session>>) -> Result<(), CommandError> {
    off_ui_thread(&session, |session| {
        session.lock(LockReason::User);
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn vault_summary(session: State<'_, Arc<Session>>) -> Result<VaultSummary, CommandError> {
    on_vault(&session, |vault| vault.summary()).await
}

/// The window saw the administrator act: the auto-lock delay starts over. Cheap: no vault
/// access, no thread hop.
#[tauri::command]
pub fn touch(session: State<'_, Arc<Session>>) {
    session.touch();
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, PASSPHRASE};
    use serde_json::json;

    #[test]
    fn status_reports_a_missing_vault_its_path_and_the_keychain() {
        let app = TestApp::new();
        let status = app.call("vault_status", json!({})).unwrap();
        assert_eq!(
            status,
            json!({ "exists": false, "unlocked": false, "path": app.vault_path(), "keychain_available": true })
        );
    }

    #[test]
    fn creating_leaves_the_new_vault_unlocked_and_empty() {
        let app = TestApp::new();
        let outcome = app
            .call(
                "create_vault",
                json!({ "passphrase": PASSPHRASE, "remember": false }),
            )
            .unwrap();
        assert_eq!(
            outcome,
            json!({ "remembered": false, "keychain_problem": null })
        );

        let status = app.call("vault_status", json!({})).unwrap();
        assert_eq!(
            (status["exists"].clone(), status["unlocked"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(
            app.call("vault_summary", json!({})).unwrap(),
            json!({ "accounts": 0, "keys": 0 })
        );
    }

    #[test]
    fn a_short_passphrase_is_refused_with_the_rule_and_creates_nothing() {
        let app = TestApp::new();
        let error = app
            .call(
                "create_vault",
                json!({ "passphrase": "short", "remember": false }),
            )
            .unwrap_err();
        assert_eq!(error["kind"], "invalid_input");
        assert!(
            error["message"].as_str().unwrap().contains('8'),
            "the message names the rule: {error}"
        );
        let status = app.call("vault_status", json!({})).unwrap();
        assert_eq!(
            (status["exists"].clone(), status["unlocked"].clone()),
            (json!(false), json!(false))
        );
    }

    #[test]
    fn creating_over_an_existing_vault_is_refused() {
        let app = TestApp::unlocked();
        let error = app
            .call(
                "create_vault",
                json!({ "passphrase": PASSPHRASE, "remember": false }),
            )
            .unwrap_err();
        assert_eq!(error["kind"], "vault_exists");
    }

    #[test]
    fn locking_closes_the_vault_tells_the_window_and_only_the_right_passphrase_reopens_it() {
        let app = TestApp::unlocked();
        app.call("lock", json!({})).unwrap();
        assert_eq!(
            app.events(),
            vec![json!({ "event": "vault-locked", "payload": { "reason": "user" } })]
        );
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["unlocked"],
            false
        );
        assert_eq!(
            app.call("vault_summary", json!({})).unwrap_err()["kind"],
            "vault_locked"
        );

        let wrong = app
            .call(
                "unlock",
                json!({ "passphrase": "incorrect horse", "remember": false }),
            )
            .unwrap_err();
        assert_eq!(
            wrong,
            json!({ "kind": "wrong_passphrase", "message": "wrong passphrase" })
        );
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["unlocked"],
            false
        );

        app.call(
            "unlock",
            json!({ "passphrase": PASSPHRASE, "remember": false }),
        )
        .unwrap();
        assert_eq!(app.call("vault_summary", json!({})).unwrap()["keys"], 0);
    }

    #[test]
    fn unlocking_a_missing_vault_says_so() {
        let app = TestApp::new();
        let error = app
            .call(
                "unlock",
                json!({ "passphrase": PASSPHRASE, "remember": false }),
            )
            .unwrap_err();
        assert_eq!(error["kind"], "vault_missing");
    }

    #[test]
    fn a_remembered_vault_unlocks_from_the_keychain_and_a_forgotten_one_does_not() {
        let app = TestApp::unlocked();
        assert_eq!(
            app.call("unlock_from_keychain", json!({})).unwrap(),
            false,
            "nothing remembered yet"
        );

        app.call("lock", json!({})).unwrap();
        let outcome = app
            .call(
                "unlock",
                json!({ "passphrase": PASSPHRASE, "remember": true }),
            )
            .unwrap();
        assert_eq!(
            outcome,
            json!({ "remembered": true, "keychain_problem": null })
        );
        app.call("lock", json!({})).unwrap();

        assert_eq!(app.call("unlock_from_keychain", json!({})).unwrap(), true);
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["unlocked"],
            true
        );
    }

    #[test]
    fn without_a_keychain_the_vault_still_opens_and_says_why_it_was_not_remembered() {
        let app = TestApp::without_keychain();
        let outcome = app
            .call(
                "create_vault",
                json!({ "passphrase": PASSPHRASE, "remember": true }),
            )
            .unwrap();
        assert_eq!(outcome["remembered"], false);
        assert!(
            outcome["keychain_problem"]
                .as_str()
                .unwrap()
                .contains("keychain"),
            "{outcome}"
        );
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["keychain_available"],
            false
        );
        app.call("lock", json!({})).unwrap();
        assert_eq!(app.call("unlock_from_keychain", json!({})).unwrap(), false);
    }

    #[test]
    fn the_vault_locks_itself_after_the_idle_delay_and_touch_postpones_it() {
        let app = TestApp::unlocked();
        app.session
            .set_auto_lock_delay(std::time::Duration::from_millis(1000));
        for _ in 0..6 {
            std::thread::sleep(std::time::Duration::from_millis(250));
            app.call("touch", json!({})).unwrap();
        }
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["unlocked"],
            true,
            "kept open by touch"
        );
        assert!(app.events().is_empty());

        app.wait_for(|| !app.events().is_empty());
        assert_eq!(
            app.events(),
            vec![json!({ "event": "vault-locked", "payload": { "reason": "idle" } })]
        );
        assert_eq!(
            app.call("vault_status", json!({})).unwrap()["unlocked"],
            false
        );
    }
}
