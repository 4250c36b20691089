//! API key commands: the presets, list, create (the one response that carries a key),
//! copy and forget the key just created, rename, activate/deactivate, regroup, delete.

use std::sync::Arc;

use keyward_core::{validate, AccessType, ApiKey, KeyFilter, KeyStatus, NewKey, Preset};
use tauri::ipc::Response;
use tauri::State;

use crate::error::CommandError;
use crate::session::{off_ui_thread, on_vault, Session};
use crate::views::{CopyReceipt, CreatedKeyView, KeyPresetView};

const PRESETS: [Preset; 4] = [
    Preset::Device,
    Preset::TimingApp,
    Preset::Classification,
    Preset::Admin,
];

fn preset_label(preset: Preset) -> &'static str {
    match preset {
        Preset::Device => "Device",
        Preset::TimingApp => "Timing app",
        Preset::Classification => "Classification app",
        Preset::Admin => "Admin",
    }
}

#[tauri::command]
pub fn key_presets() -> Vec<KeyPresetView> {
    PRESETS
        .into_iter()
        .map(|preset| KeyPresetView {
            id: preset,
            label: preset_label(preset).to_string(),
            access: preset.access(),
            allow_unbind: preset.allow_unbind(),
        })
        .collect()
}

/// Every key of the account, oldest first.
#[tauri::command]
pub async fn list_keys(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<Vec<ApiKey>, CommandError> {
    on_vault(&session, move |vault| {
        vault.list_keys(Some(&account), &KeyFilter::default())
    })
    .await
}

/// The keys of `list_keys` in columns (`KeyColumns` as JSON), which is what the window reads;
/// it filters and sorts in memory. Sent as the JSON text the session made, which may be the
/// head start's.
#[tauri::command]
pub async fn list_key_columns(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<Response, CommandError> {
    let json = off_ui_thread(&session, move |session| session.key_columns_json(&account)).await?;
    Ok(Response::new(json))
}

#[allow(clippy::too_many_arguments)] // the dialog's fields, one argument each, as the window sends them
#[tauri::command]
pub async fn create_key(
    session: State<'_, Arc<Session>>,
    account: String,
    name: String,
    description: Option<String>,
    access: AccessType,
    allow_unbind: bool,
    groups: Vec<String>,
    expires_at: Option<String>,
) -> Result<CreatedKeyView, CommandError> {
    let expires_at = expires_at
        .map(|text| validate::expires_at(&text, keyward_core::now()))
        .transpose()?;
    let new = NewKey {
        description,
        access: Some(access),
        allow_unbind,
        groups,
        expires_at,
    };
    off_ui_thread(&session, move |session| {
        session.create_key(|vault| vault.create_key(Some(&account), &name, &new))
    })
    .await
}

/// Copies the key just created (still held by the shell) to the clipboard.
#[tauri::command]
pub async fn copy_created_key(
    session: State<'_, Arc<Session>>,
    key_id: String,
) -> Result<CopyReceipt, CommandError> {
    off_ui_thread(&session, move |session| session.copy_created_key(&key_id)).await
}

/// The one-time display closed: the shell drops its copy of the key.
#[tauri::command]
pub fn forget_created_key(session: State<'_, Arc<Session>>, key_id: String) {
    session.forget_created_key(&key_id);
}

#[tauri::command]
pub async fn rename_key(
    session: State<'_, Arc<Session>>,
    account: String,
    key: String,
    new_name: String,
) -> Result<ApiKey, CommandError> {
    on_vault(&session, move |vault| {
        vault.rename_key(Some(&account), &key, &new_name)
    })
    .await
}

#[tauri::command]
pub async fn set_key_status(
    session: State<'_, Arc<Session>>,
    account: String,
    key: String,
    status: String,
) -> Result<ApiKey, CommandError> {
    let status: KeyStatus = status.parse()?;
    on_vault(&session, move |vault| {
        vault.set_key_status(Some(&account), &key, status)
    })
    .await
}

#[tauri::command]
pub async fn set_key_groups(
    session: State<'_, Arc<Session>>,
    account: String,
    key: String,
    groups: Vec<String>,
) -> Result<ApiKey, CommandError> {
    on_vault(&session, move |vault| {
        vault.set_key_groups(Some(&account), &key, &groups)
    })
    .await
}

/// Deletes the key; answers with the record as it was.
#[tauri::command]
pub async fn delete_key(
    session: State<'_, Arc<Session>>,
    account: String,
    key: String,
) -> Result<ApiKey, CommandError> {
    on_vault(&session, move |vault| {
        vault.delete_key(Some(&account), &key)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_key_is_serialized_once_but_never_printed() {
        let app = TestApp::with_account();
        let mut vault = app.open_vault_directly();
        let created = vault.create_key(None, "kiosk", &NewKey::default()).unwrap();
        let view = CreatedKeyView {
            key: created.key,
            secret: crate::views::ShownOnce(keyward_core::SecretString::from("kw_thesecretitself")),
        };
        assert!(!format!("{view:?}").contains("thesecretitself"));
        assert_eq!(
            serde_json::to_value(&view).unwrap()["secret"],
            "kw_thesecretitself"
        );
    }
    use crate::testing::TestApp;
    use keyward_core::{Method, Request, VerifyResult};
    use serde_json::{json, Value};

    fn new_key(name: &str) -> Value {
        json!({ "account": "acme", "name": name, "access": "READ", "allowUnbind": false, "groups": [] })
    }

    fn create(app: &TestApp, args: Value) -> Value {
        app.call("create_key", args).unwrap()
    }

    #[test]
    fn the_presets_carry_their_labels_and_what_they_fill_in() {
        let presets = serde_json::to_value(key_presets()).unwrap();
        assert_eq!(
            presets,
            json!([
                { "id": "device", "label": "Device", "access": "WRITE", "allow_unbind": false },
                { "id": "timing-app", "label": "Timing app", "access": "READ_WRITE", "allow_unbind": false },
                { "id": "classification", "label": "Classification app", "access": "READ", "allow_unbind": false },
                { "id": "admin", "label": "Admin", "access": "READ_WRITE", "allow_unbind": true },
            ])
        );
        assert_eq!(
            TestApp::new().call("key_presets", json!({})).unwrap(),
            presets,
            "no vault needed"
        );
    }

    #[test]
    fn a_created_key_comes_back_once_in_full_and_verifies() {
        let app = TestApp::with_account();
        app.call(
            "create_group",
            json!({ "account": "acme", "name": "devices", "scopes": ["devices:write"] }),
        )
        .unwrap();
        let created = create(
            &app,
            json!({ "account": "acme", "name": "gate 1", "description": "North gate", "access": "WRITE",
                    "allowUnbind": true, "groups": ["devices"], "expiresAt": "2999-01-01T00:00:00Z" }),
        );
        let secret = created["secret"].as_str().unwrap();
        let key = &created["key"];
        assert!(secret.starts_with("kw_"), "{secret}");
        assert_eq!(
            key["hint"].as_str().unwrap().split('…').next().unwrap(),
            &secret[..7]
        );
        assert_eq!(
            (
                key["name"].clone(),
                key["description"].clone(),
                key["access"].clone(),
                key["allow_unbind"].clone()
            ),
            (
                json!("gate 1"),
                json!("North gate"),
                json!("WRITE"),
                json!(true)
            )
        );
        assert_eq!(
            (key["groups"].clone(), key["status"].clone()),
            (json!(["devices"]), json!("active"))
        );
        assert_eq!(
            (key["expires_at"].clone(), key["last_used_at"].clone()),
            (json!("2999-01-01T00:00:00Z"), Value::Null)
        );

        let listed = app.call("list_keys", json!({ "account": "acme" })).unwrap();
        assert_eq!(listed, json!([key]), "the list has the record");
        assert!(!listed.to_string().contains(secret), "and never the key");

        let mut vault = app.open_vault_directly();
        let request = Request {
            method: Method::Post,
            resource: "devices".into(),
            unbind: false,
        };
        assert_eq!(
            vault
                .verify_key(&keyward_core::SecretString::from(secret), &request)
                .unwrap()
                .result,
            VerifyResult::Valid
        );
    }

    #[test]
    fn the_key_columns_are_the_listed_keys_field_by_field() {
        let app = TestApp::with_account();
        assert_eq!(
            app.call("list_key_columns", json!({ "account": "acme" }))
                .unwrap()["id"],
            json!([]),
            "no keys, empty columns"
        );
        app.call(
            "create_group",
            json!({ "account": "acme", "name": "devices", "scopes": ["devices:write"] }),
        )
        .unwrap();
        // Every field set on one key or another: a description, groups, an expiry, a use, a
        // deactivation, and a roll (the replaced key names its successor).
        let used = create(
            &app,
            json!({ "account": "acme", "name": "gate 1", "description": "North gate", "access": "WRITE",
                    "allowUnbind": true, "groups": ["devices"], "expiresAt": "2999-01-01T00:00:00Z" }),
        );
        let rolled = create(&app, new_key("gate 2"));
        create(&app, new_key("gate 3"));
        app.call(
            "set_key_status",
            json!({ "account": "acme", "key": "gate 3", "status": "inactive" }),
        )
        .unwrap();
        app.call(
            "roll_keys",
            json!({ "account": "acme", "keys": [rolled["key"]["id"]], "grace": "2h" }),
        )
        .unwrap();
        let mut vault = app.open_vault_directly();
        let request = Request {
            method: Method::Post,
            resource: "devices".into(),
            unbind: false,
        };
        let secret = keyward_core::SecretString::from(used["secret"].as_str().unwrap());
        vault.verify_key(&secret, &request).unwrap();
        vault.flush_last_used().unwrap();
        drop(vault);

        let listed = app.call("list_keys", json!({ "account": "acme" })).unwrap();
        let columns = app
            .call("list_key_columns", json!({ "account": "acme" }))
            .unwrap();
        assert_eq!(crate::testing::keys_from_columns(&columns), listed);
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 4, "gate 2 and its successor");
        assert!(listed.iter().any(|key| key["last_used_at"].is_string()));
        assert!(listed.iter().any(|key| key["status"] == "inactive"));
        let replaced = listed
            .iter()
            .find(|key| key["replaced_by"].is_string())
            .expect("the rolled key");
        let fields: Vec<&String> = replaced.as_object().unwrap().keys().collect();
        let column_names: Vec<&String> = columns.as_object().unwrap().keys().collect();
        assert_eq!(column_names, fields, "a column for every field of a key");
    }

    #[test]
    fn bad_key_input_is_refused_with_its_kind() {
        let app = TestApp::with_account();
        create(&app, new_key("kiosk"));
        let cases = [
            (new_key("KIOSK"), "conflict"),
            (new_key(""), "invalid_input"),
            (new_key(&"x".repeat(65)), "invalid_input"),
            (
                json!({ "account": "acme", "name": "r", "access": "READ", "allowUnbind": true, "groups": [] }),
                "refused",
            ),
            (
                json!({ "account": "acme", "name": "g", "access": "READ", "allowUnbind": false, "groups": ["nope"] }),
                "not_found",
            ),
            (
                json!({ "account": "acme", "name": "e", "access": "READ", "allowUnbind": false, "groups": [], "expiresAt": "2001-01-01" }),
                "invalid_input",
            ),
            (
                json!({ "account": "acme", "name": "e", "access": "READ", "allowUnbind": false, "groups": [], "expiresAt": "soon" }),
                "invalid_input",
            ),
            (
                json!({ "account": "nope", "name": "n", "access": "READ", "allowUnbind": false, "groups": [] }),
                "not_found",
            ),
        ];
        for (args, kind) in cases {
            let error = app.call("create_key", args.clone()).unwrap_err();
            assert_eq!(error["kind"], kind, "{args}: {error}");
        }
    }

    #[test]
    fn the_key_limit_is_reported_as_limit_reached() {
        let app = TestApp::unlocked();
        app.call("create_account", json!({ "name": "acme", "keyLimit": 1 }))
            .unwrap();
        create(&app, new_key("one"));
        let error = app.call("create_key", new_key("two")).unwrap_err();
        assert_eq!(error["kind"], "limit_reached");
    }

    #[test]
    fn the_created_key_is_copied_by_id_until_forgotten() {
        let app = TestApp::with_account();
        let created = create(&app, new_key("kiosk"));
        let id = created["key"]["id"].clone();

        let receipt = app
            .call("copy_created_key", json!({ "keyId": id }))
            .unwrap();
        assert_eq!(receipt, json!({ "clears_in_seconds": 30 }));
        assert_eq!(app.clipboard.text().as_deref(), created["secret"].as_str());

        app.call("forget_created_key", json!({ "keyId": id }))
            .unwrap();
        let gone = app
            .call("copy_created_key", json!({ "keyId": id }))
            .unwrap_err();
        assert_eq!(gone["kind"], "not_found");
        assert!(
            gone["message"]
                .as_str()
                .unwrap()
                .contains("shown only once"),
            "{gone}"
        );
    }

    #[test]
    fn locking_forgets_the_created_key_and_clears_the_clipboard() {
        let app = TestApp::with_account();
        let created = create(&app, new_key("kiosk"));
        let id = created["key"]["id"].clone();
        app.call("copy_created_key", json!({ "keyId": id }))
            .unwrap();

        app.call("lock", json!({})).unwrap();
        assert_eq!(app.clipboard.text(), None);
        assert!(app
            .events()
            .contains(&json!({ "event": "clipboard-cleared", "payload": { "reason": "locked" } })));
        for event in app.events() {
            assert!(
                !event
                    .to_string()
                    .contains(created["secret"].as_str().unwrap()),
                "no secret in {event}"
            );
        }
        app.call(
            "unlock",
            json!({ "passphrase": crate::testing::PASSPHRASE, "remember": false }),
        )
        .unwrap();
        let gone = app
            .call("copy_created_key", json!({ "keyId": id }))
            .unwrap_err();
        assert_eq!(gone["kind"], "not_found");
    }

    #[test]
    fn copying_while_locked_says_locked() {
        let app = TestApp::new();
        let error = app
            .call("copy_created_key", json!({ "keyId": "whatever" }))
            .unwrap_err();
        assert_eq!(error["kind"], "vault_locked");
    }

    #[test]
    fn keys_are_renamed_deactivated_regrouped_and_deleted_by_id_or_name() {
        let app = TestApp::with_account();
        app.call(
            "create_group",
            json!({ "account": "acme", "name": "devices", "scopes": ["devices:read"] }),
        )
        .unwrap();
        let id = create(&app, new_key("kiosk"))["key"]["id"].clone();

        let renamed = app
            .call(
                "rename_key",
                json!({ "account": "acme", "key": "kiosk", "newName": "kiosk 2" }),
            )
            .unwrap();
        assert_eq!(renamed["name"], "kiosk 2");
        let inactive = app
            .call(
                "set_key_status",
                json!({ "account": "acme", "key": id, "status": "inactive" }),
            )
            .unwrap();
        assert_eq!(inactive["status"], "inactive");
        let regrouped = app
            .call(
                "set_key_groups",
                json!({ "account": "acme", "key": "kiosk 2", "groups": ["devices"] }),
            )
            .unwrap();
        assert_eq!(regrouped["groups"], json!(["devices"]));

        let deleted = app
            .call("delete_key", json!({ "account": "acme", "key": id }))
            .unwrap();
        assert_eq!(deleted["name"], "kiosk 2");
        assert_eq!(
            app.call("list_keys", json!({ "account": "acme" })).unwrap(),
            json!([])
        );
        let again = app
            .call("delete_key", json!({ "account": "acme", "key": id }))
            .unwrap_err();
        assert_eq!(again["kind"], "not_found");
    }
}
