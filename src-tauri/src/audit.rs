//! Audit log commands: the entries, newest first, and the integrity check of the chain.

use std::sync::Arc;

use keyward_core::{AuditEntry, AuditFilter, AuditReport};
use tauri::State;

use crate::error::CommandError;
use crate::session::{on_vault, Session};

/// Entries newest first; `action` matches a prefix (`key.` for every key change), `key` a
/// target's id or name.
#[tauri::command]
pub async fn list_audit(
    session: State<'_, Arc<Session>>,
    action: Option<String>,
    key: Option<String>,
    limit: Option<usize>,
) -> Result<Vec<AuditEntry>, CommandError> {
    let filter = AuditFilter {
        action,
        target: key,
        limit,
    };
    on_vault(&session, move |vault| vault.audit_entries(&filter)).await
}

#[tauri::command]
pub async fn verify_audit(session: State<'_, Arc<Session>>) -> Result<AuditReport, CommandError> {
    on_vault(&session, |vault| vault.verify_audit()).await
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use serde_json::json;

    #[test]
    fn entries_come_newest_first_and_filter_by_action_key_and_limit() {
        let app = TestApp::with_account();
        let key = json!({ "account": "acme", "name": "kiosk", "access": "READ", "allowUnbind": false, "groups": [] });
        app.call("create_key", key).unwrap();
        app.call(
            "rename_key",
            json!({ "account": "acme", "key": "kiosk", "newName": "kiosk 2" }),
        )
        .unwrap();

        let all = app.call("list_audit", json!({})).unwrap();
        let actions: Vec<_> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].clone())
            .collect();
        assert_eq!(
            actions,
            vec![
                json!("key.rename"),
                json!("key.create"),
                json!("account.create"),
                json!("vault.create")
            ]
        );
        assert!(all[0]["details"].is_object(), "{all}");

        let keys = app.call("list_audit", json!({ "action": "key." })).unwrap();
        assert_eq!(keys.as_array().unwrap().len(), 2);
        let by_name = app.call("list_audit", json!({ "key": "kiosk 2" })).unwrap();
        assert_eq!(
            by_name.as_array().unwrap().len(),
            1,
            "the rename is recorded under the new name: {by_name}"
        );
        let newest = app.call("list_audit", json!({ "limit": 1 })).unwrap();
        assert_eq!(newest.as_array().unwrap().len(), 1);
        assert_eq!(newest[0]["action"], "key.rename");
    }

    #[test]
    fn the_log_verifies() {
        let app = TestApp::with_account();
        let report = app.call("verify_audit", json!({})).unwrap();
        assert_eq!(
            report,
            json!({ "ok": true, "entries": 2, "broken_at": null, "problem": null })
        );
    }

    #[test]
    fn the_log_is_locked_with_the_vault() {
        let app = TestApp::with_account();
        app.call("lock", json!({})).unwrap();
        assert_eq!(
            app.call("list_audit", json!({})).unwrap_err()["kind"],
            "vault_locked"
        );
    }
}
