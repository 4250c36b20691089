//! Permission group commands: list, create, change (name, description, scopes), delete.
//! Scopes arrive as `resource:action` text and are parsed here, so a bad one comes back
//! as `invalid_input` like any other bad input.

use std::sync::Arc;

use keyward_core::{Group, GroupChanges, GroupDeletion, NewGroup, Scope};
use tauri::State;

use crate::error::CommandError;
use crate::session::{on_vault, Session};

fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>, CommandError> {
    scopes
        .iter()
        .map(|scope| scope.parse().map_err(CommandError::from))
        .collect()
}

#[tauri::command]
pub async fn list_groups(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<Vec<Group>, CommandError> {
    on_vault(&session, move |vault| vault.list_groups(Some(&account))).await
}

#[tauri::command]
pub async fn create_group(
    session: State<'_, Arc<Session>>,
    account: String,
    name: String,
    description: Option<String>,
    scopes: Vec<String>,
) -> Result<Group, CommandError> {
    let group = NewGroup {
        name,
        description,
        scopes: parse_scopes(&scopes)?,
    };
    on_vault(&session, move |vault| {
        vault.create_group(Some(&account), group)
    })
    .await
}

#[tauri::command]
pub async fn update_group(
    session: State<'_, Arc<Session>>,
    account: String,
    name: String,
    rename: Option<String>,
    description: Option<String>,
    scopes: Option<Vec<String>>,
) -> Result<Group, CommandError> {
    let scopes = scopes.as_deref().map(parse_scopes).transpose()?;
    let changes = GroupChanges {
        rename,
        description,
        scopes,
    };
    on_vault(&session, move |vault| {
        vault.update_group(Some(&account), &name, changes)
    })
    .await
}

/// Refused while keys use the group, unless `force`; then keys left with no group are
/// deactivated (never widened), as the result lists.
#[tauri::command]
pub async fn delete_group(
    session: State<'_, Arc<Session>>,
    account: String,
    name: String,
    force: bool,
) -> Result<GroupDeletion, CommandError> {
    on_vault(&session, move |vault| {
        vault.delete_group(Some(&account), &name, force)
    })
    .await
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use serde_json::json;

    fn with_devices_group() -> TestApp {
        let app = TestApp::with_account();
        let group = json!({ "account": "acme", "name": "devices", "description": "Timing readers", "scopes": ["devices:read", "devices:write"] });
        app.call("create_group", group).unwrap();
        app
    }

    #[test]
    fn a_group_is_created_with_its_scopes_as_text_and_listed() {
        let app = with_devices_group();
        app.call(
            "create_group",
            json!({ "account": "acme", "name": "readers", "scopes": [] }),
        )
        .unwrap();
        let groups = app
            .call("list_groups", json!({ "account": "acme" }))
            .unwrap();
        let devices = groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "devices")
            .unwrap();
        assert_eq!(devices["scopes"], json!(["devices:read", "devices:write"]));
        assert_eq!(
            (devices["description"].clone(), devices["key_count"].clone()),
            (json!("Timing readers"), json!(0))
        );
        assert_eq!(groups.as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_bad_scope_is_invalid_input_with_the_rule() {
        let app = TestApp::with_account();
        for scope in ["devices", "devices:own", "planets:read"] {
            let error = app
                .call(
                    "create_group",
                    json!({ "account": "acme", "name": "g", "scopes": [scope] }),
                )
                .unwrap_err();
            assert_eq!(error["kind"], "invalid_input", "{scope}: {error}");
        }
        assert_eq!(
            app.call("list_groups", json!({ "account": "acme" }))
                .unwrap(),
            json!([])
        );
    }

    #[test]
    fn a_group_is_renamed_and_its_scopes_replaced_or_kept() {
        let app = with_devices_group();
        let renamed = app
            .call(
                "update_group",
                json!({ "account": "acme", "name": "devices", "rename": "readers" }),
            )
            .unwrap();
        assert_eq!(
            renamed["scopes"],
            json!(["devices:read", "devices:write"]),
            "scopes left as they were"
        );
        let changed = app
            .call("update_group", json!({ "account": "acme", "name": "readers", "scopes": ["sessions:read"], "description": "Read only" }))
            .unwrap();
        assert_eq!(
            (changed["scopes"].clone(), changed["description"].clone()),
            (json!(["sessions:read"]), json!("Read only"))
        );
    }

    #[test]
    fn deleting_a_group_in_use_is_refused_unless_forced_and_never_widens_a_key() {
        let app = with_devices_group();
        let key = json!({ "account": "acme", "name": "gate 1", "access": "WRITE", "allowUnbind": false, "groups": ["devices"] });
        app.call("create_key", key).unwrap();

        let refused = app
            .call(
                "delete_group",
                json!({ "account": "acme", "name": "devices", "force": false }),
            )
            .unwrap_err();
        assert_eq!(refused["kind"], "refused");
        assert!(
            refused["message"].as_str().unwrap().contains('1'),
            "names the count: {refused}"
        );

        let deletion = app
            .call(
                "delete_group",
                json!({ "account": "acme", "name": "devices", "force": true }),
            )
            .unwrap();
        assert_eq!(
            deletion,
            json!({ "group": "devices", "keys_affected": 1, "keys_deactivated": ["gate 1"] })
        );
        let keys = app.call("list_keys", json!({ "account": "acme" })).unwrap();
        assert_eq!(
            (keys[0]["status"].clone(), keys[0]["groups"].clone()),
            (json!("inactive"), json!([]))
        );
    }
}
