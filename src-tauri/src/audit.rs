//! Audit log commands: the entries, newest first, each with its details as lines of text,
//! and the integrity check of the chain.

use std::sync::Arc;

use keyward_core::{AuditFilter, AuditReport};
use tauri::State;
use time::OffsetDateTime;

use crate::error::CommandError;
use crate::session::{on_vault, Session};
use crate::views::AuditView;

/// An RFC 3339 bound of the time range, as the window sends it.
fn time_bound(what: &str, text: Option<String>) -> Result<Option<OffsetDateTime>, CommandError> {
    text.map(|text| {
        OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).map_err(
            |_| {
                CommandError::invalid_input(format!(
                    "invalid {what} time {text:?}: give an RFC 3339 time like 2026-12-01T00:00:00Z"
                ))
            },
        )
    })
    .transpose()
}

/// Entries newest first; `action` matches a prefix (`key.` for every key change), `key` a
/// target's id or name, `actor` who made the change (ignoring case), `since` (inclusive) and
/// `until` (exclusive) the time range.
#[allow(clippy::too_many_arguments)] // the page's filters, one argument each, as the window sends them
#[tauri::command]
pub async fn list_audit(
    session: State<'_, Arc<Session>>,
    action: Option<String>,
    key: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
) -> Result<Vec<AuditView>, CommandError> {
    let filter = AuditFilter {
        action,
        target: key,
        limit,
        actor,
        since: time_bound("since", since)?,
        until: time_bound("until", until)?,
    };
    on_vault(&session, move |vault| {
        let entries = vault.audit_entries(&filter)?;
        let lines = vault.describe_audit(&entries)?;
        Ok(entries
            .into_iter()
            .zip(lines)
            .map(|(entry, lines)| AuditView { entry, lines })
            .collect())
    })
    .await
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
    fn entries_come_with_their_details_as_lines_of_text() {
        let app = TestApp::with_account();
        let key = json!({ "account": "acme", "name": "kiosk", "access": "WRITE", "allowUnbind": false,
                          "groups": [], "expiresAt": "2099-12-03" });
        let id = app.call("create_key", key).unwrap()["key"]["id"].clone();
        app.call(
            "set_key_status",
            json!({ "account": "acme", "key": id, "status": "inactive" }),
        )
        .unwrap();

        let entries = app.call("list_audit", json!({ "key": "kiosk" })).unwrap();
        let deactivated = &entries[0];
        assert_eq!(deactivated["action"], "key.deactivate");
        assert_eq!(
            deactivated["details"],
            json!({ "status": { "from": "active", "to": "inactive" } }),
            "the details as stored"
        );
        assert_eq!(
            deactivated["lines"],
            json!([{ "field": "status", "from": { "kind": "text", "text": "active" },
                     "to": { "kind": "text", "text": "inactive" } }])
        );
        let created = &entries[1]["lines"];
        assert!(
            created
                .as_array()
                .unwrap()
                .contains(&json!({ "field": "expires", "from": null, "to": { "kind": "day", "day": "2099-12-03" } })),
            "{created}"
        );
    }

    #[test]
    fn entries_filter_by_actor_and_time_range_and_bad_times_are_refused() {
        let app = TestApp::with_account();
        let all = app.call("list_audit", json!({})).unwrap();
        let newest = all[0]["at"].as_str().unwrap().to_string();
        let count = |args| {
            app.call("list_audit", args)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(count(json!({ "since": newest })), 1);
        assert_eq!(
            count(json!({ "until": newest })),
            all.as_array().unwrap().len() - 1
        );
        let actor = all[0]["actor"].as_str().unwrap().to_uppercase();
        assert_eq!(
            count(json!({ "actor": actor })),
            all.as_array().unwrap().len()
        );
        assert_eq!(count(json!({ "actor": "nobody" })), 0);
        for bad in [
            json!({ "since": "yesterday" }),
            json!({ "until": "2026-13-01T00:00:00Z" }),
        ] {
            let refused = app.call("list_audit", bad.clone()).unwrap_err();
            assert_eq!(refused["kind"], "invalid_input", "{bad}: {refused}");
            assert!(
                refused["message"].as_str().unwrap().contains("RFC 3339"),
                "{refused}"
            );
        }
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
