//! Settings commands: the clipboard clear delay and the auto-lock delay, stored in the vault.
//! A change to the auto-lock delay takes effect at once.

use std::sync::Arc;

use keyward_core::Settings;
use tauri::State;

use crate::error::CommandError;
use crate::session::{off_ui_thread, on_vault, Session};

#[tauri::command]
pub async fn get_settings(session: State<'_, Arc<Session>>) -> Result<Settings, CommandError> {
    on_vault(&session, |vault| vault.settings()).await
}

#[tauri::command]
pub async fn update_settings(
    session: State<'_, Arc<Session>>,
    settings: Settings,
) -> Result<Settings, CommandError> {
    off_ui_thread(&session, move |session| session.update_settings(settings)).await
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use serde_json::json;

    #[test]
    fn settings_start_at_the_defaults_and_persist() {
        let app = TestApp::unlocked();
        assert_eq!(
            app.call("get_settings", json!({})).unwrap(),
            json!({ "clipboard_clear_seconds": 30, "auto_lock_minutes": 5, "expiry_warning_days": 14 })
        );
        let chosen = json!({ "clipboard_clear_seconds": 10, "auto_lock_minutes": 15, "expiry_warning_days": 30 });
        assert_eq!(
            app.call("update_settings", json!({ "settings": chosen }))
                .unwrap(),
            chosen
        );
        // A window that does not know the warning period leaves it at its default.
        let older = json!({ "clipboard_clear_seconds": 10, "auto_lock_minutes": 15 });
        assert_eq!(
            app.call("update_settings", json!({ "settings": older }))
                .unwrap()["expiry_warning_days"],
            14
        );
        assert_eq!(
            app.open_vault_directly()
                .settings()
                .unwrap()
                .clipboard_clear_seconds,
            10
        );
    }

    #[test]
    fn out_of_range_settings_are_invalid_input_and_change_nothing() {
        let app = TestApp::unlocked();
        let bad = json!({ "settings": { "clipboard_clear_seconds": 1, "auto_lock_minutes": 5 } });
        assert_eq!(
            app.call("update_settings", bad).unwrap_err()["kind"],
            "invalid_input"
        );
        assert_eq!(
            app.call("get_settings", json!({})).unwrap()["clipboard_clear_seconds"],
            30
        );
    }

    #[test]
    fn the_clipboard_delay_comes_from_the_settings() {
        let app = TestApp::with_account();
        app.call(
            "update_settings",
            json!({ "settings": { "clipboard_clear_seconds": 7, "auto_lock_minutes": 5 } }),
        )
        .unwrap();
        let key = json!({ "account": "acme", "name": "kiosk", "access": "READ", "allowUnbind": false, "groups": [] });
        let id = app.call("create_key", key).unwrap()["key"]["id"].clone();
        assert_eq!(
            app.call("copy_created_key", json!({ "keyId": id }))
                .unwrap(),
            json!({ "clears_in_seconds": 7 })
        );
    }
}
