//! Account commands: list, create, change (name, prefix, key limit), and the shared secret
//! (reveal or copy after the passphrase is entered again, rotate).

use std::sync::Arc;

use keyward_core::{Account, AccountChanges, NewAccount, SecretString};
use tauri::State;

use crate::error::CommandError;
use crate::session::{off_ui_thread, on_vault, Session};
use crate::views::CopyReceipt;

#[tauri::command]
pub async fn list_accounts(session: State<'_, Arc<Session>>) -> Result<Vec<Account>, CommandError> {
    on_vault(&session, |vault| vault.list_accounts()).await
}

#[tauri::command]
pub async fn create_account(
    session: State<'_, Arc<Session>>,
    name: String,
    prefix: Option<String>,
    key_limit: Option<u32>,
) -> Result<Account, CommandError> {
    on_vault(&session, move |vault| {
        vault.create_account(&name, NewAccount { prefix, key_limit })
    })
    .await
}

#[tauri::command]
pub async fn update_account(
    session: State<'_, Arc<Session>>,
    name: String,
    rename: Option<String>,
    prefix: Option<String>,
    key_limit: Option<u32>,
) -> Result<Account, CommandError> {
    let changes = AccountChanges {
        rename,
        prefix,
        key_limit,
    };
    on_vault(&session, move |vault| vault.update_account(&name, changes)).await
}

/// The shared secret, after the passphrase is checked again (argon2: off the UI thread).
#[tauri::command]
pub async fn reveal_shared_secret(
    session: State<'_, Arc<Session>>,
    account: String,
    passphrase: String,
) -> Result<String, CommandError> {
    let passphrase = SecretString::new(passphrase);
    let secret = on_vault(&session, move |vault| {
        vault.reveal_shared_secret(Some(&account), &passphrase)
    })
    .await?;
    Ok(secret.expose().to_string())
}

/// Copies the shared secret to the clipboard without it passing through the window.
#[tauri::command]
pub async fn copy_shared_secret(
    session: State<'_, Arc<Session>>,
    account: String,
    passphrase: String,
) -> Result<CopyReceipt, CommandError> {
    let passphrase = SecretString::new(passphrase);
    off_ui_thread(&session, move |session| {
        let secret = session
            .with_vault(|vault| Ok(vault.reveal_shared_secret(Some(&account), &passphrase)?))?;
        session.copy_secret(secret)
    })
    .await
}

#[tauri::command]
pub async fn rotate_shared_secret(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<(), CommandError> {
    on_vault(&session, move |vault| {
        vault.rotate_shared_secret(Some(&account))
    })
    .await
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, PASSPHRASE};
    use serde_json::json;

    #[test]
    fn an_account_is_created_with_defaults_or_given_values_and_listed() {
        let app = TestApp::unlocked();
        let acme = app
            .call("create_account", json!({ "name": "acme" }))
            .unwrap();
        assert_eq!(
            (acme["prefix"].clone(), acme["key_limit"].clone()),
            (json!("kw"), json!(10))
        );
        assert_eq!(
            acme["resources"],
            json!(["devices", "sessions", "passings"])
        );
        app.call(
            "create_account",
            json!({ "name": "fleet", "prefix": "fl", "keyLimit": 3 }),
        )
        .unwrap();

        let accounts = app.call("list_accounts", json!({})).unwrap();
        let summary: Vec<_> = accounts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].clone(),
                    a["prefix"].clone(),
                    a["key_limit"].clone(),
                    a["key_count"].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (json!("acme"), json!("kw"), json!(10), json!(0)),
                (json!("fleet"), json!("fl"), json!(3), json!(0))
            ]
        );
        assert!(
            accounts[0]["created_at"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 in UTC: {accounts}"
        );
    }

    #[test]
    fn bad_or_duplicate_accounts_are_refused_with_a_kind() {
        let app = TestApp::with_account();
        let duplicate = app
            .call("create_account", json!({ "name": "ACME" }))
            .unwrap_err();
        assert_eq!(duplicate["kind"], "conflict");
        let bad_prefix = app
            .call(
                "create_account",
                json!({ "name": "other", "prefix": "NO!" }),
            )
            .unwrap_err();
        assert_eq!(bad_prefix["kind"], "invalid_input");
    }

    #[test]
    fn an_account_is_renamed_and_its_limit_changed() {
        let app = TestApp::with_account();
        let updated = app
            .call(
                "update_account",
                json!({ "name": "acme", "rename": "Acme Corp", "keyLimit": 25 }),
            )
            .unwrap();
        assert_eq!(
            (updated["name"].clone(), updated["key_limit"].clone()),
            (json!("Acme Corp"), json!(25))
        );
        assert_eq!(updated["prefix"], "kw", "left as it was");
        let gone = app
            .call("update_account", json!({ "name": "acme", "keyLimit": 5 }))
            .unwrap_err();
        assert_eq!(gone["kind"], "not_found");
    }

    #[test]
    fn the_shared_secret_needs_the_passphrase_and_changes_when_rotated() {
        let app = TestApp::with_account();
        let wrong = app.call(
            "reveal_shared_secret",
            json!({ "account": "acme", "passphrase": "nope nope nope" }),
        );
        assert_eq!(wrong.unwrap_err()["kind"], "wrong_passphrase");

        let first = app
            .call(
                "reveal_shared_secret",
                json!({ "account": "acme", "passphrase": PASSPHRASE }),
            )
            .unwrap();
        assert!(first.as_str().unwrap().len() >= 32, "{first}");
        app.call("rotate_shared_secret", json!({ "account": "acme" }))
            .unwrap();
        let second = app
            .call(
                "reveal_shared_secret",
                json!({ "account": "acme", "passphrase": PASSPHRASE }),
            )
            .unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn copying_the_shared_secret_puts_it_on_the_clipboard_not_in_the_response() {
        let app = TestApp::with_account();
        let wrong = app.call(
            "copy_shared_secret",
            json!({ "account": "acme", "passphrase": "nope nope nope" }),
        );
        assert_eq!(wrong.unwrap_err()["kind"], "wrong_passphrase");
        assert_eq!(app.clipboard.text(), None);

        let receipt = app
            .call(
                "copy_shared_secret",
                json!({ "account": "acme", "passphrase": PASSPHRASE }),
            )
            .unwrap();
        assert_eq!(receipt, json!({ "clears_in_seconds": 30 }));
        let secret = app
            .call(
                "reveal_shared_secret",
                json!({ "account": "acme", "passphrase": PASSPHRASE }),
            )
            .unwrap();
        assert_eq!(app.clipboard.text().as_deref(), secret.as_str());
    }
}
