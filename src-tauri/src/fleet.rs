//! Fleet commands: roll keys (each successor kept for copying and shown once), one action
//! on many keys, add many keys from a pasted list or a CSV, hand new keys over in a folder,
//! the review counts and the once-a-day warning, and the QR code of a key just created.

use std::path::PathBuf;
use std::sync::Arc;

use keyward_core::{
    validate, AccessType, ApiKey, CreatedKey, KeySelection, KeysChange, NewKey, ReviewCounts,
};
use tauri::State;

use crate::error::CommandError;
use crate::session::{off_ui_thread, on_vault, Session};
use crate::views::{
    CreatedKeyView, DailyReview, ManyCreatedView, ManyKeysFormat, RollView, RolledKeyView,
    ShownOnce,
};

fn view(created: &CreatedKey) -> CreatedKeyView {
    CreatedKeyView {
        key: created.key.clone(),
        secret: ShownOnce(created.secret.clone()),
    }
}

fn export_dir(text: Option<String>) -> Option<PathBuf> {
    text.map(|dir| dir.trim().to_string())
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// Rolls the keys (by id) with `grace` ("24h", "0", …); the successors are kept for
/// `copy_created_key` and `created_key_qr` until forgotten or the vault locks.
#[tauri::command]
pub async fn roll_keys(
    session: State<'_, Arc<Session>>,
    account: String,
    keys: Vec<String>,
    grace: String,
    export_dir: Option<String>,
) -> Result<RollView, CommandError> {
    let grace = validate::roll_grace(&grace)?;
    let folder = self::export_dir(export_dir);
    off_ui_thread(&session, move |session| {
        session.with_vault(|vault| {
            let selection = KeySelection::Keys(keys);
            let (outcome, files) = match &folder {
                Some(dir) => vault.roll_keys_exported(Some(&account), &selection, grace, dir)?,
                None => (
                    vault.roll_keys(Some(&account), &selection, grace)?,
                    Vec::new(),
                ),
            };
            session.keep_created_keys(outcome.rolled.iter().map(|rolled| &rolled.successor));
            Ok(RollView {
                rolled: outcome
                    .rolled
                    .iter()
                    .map(|rolled| RolledKeyView {
                        replaced: rolled.replaced.clone(),
                        created: view(&rolled.successor),
                    })
                    .collect(),
                skipped: outcome.skipped,
                files,
            })
        })
    })
    .await
}

/// One action on the selected keys (by id), in one transaction: all of them or none.
#[tauri::command]
pub async fn change_keys(
    session: State<'_, Arc<Session>>,
    account: String,
    keys: Vec<String>,
    change: KeysChange,
) -> Result<Vec<ApiKey>, CommandError> {
    on_vault(&session, move |vault| {
        vault.change_keys(Some(&account), &keys, &change)
    })
    .await
}

/// Adds one key per line of `text` (names, or CSV rows) with the dialog's settings, all
/// or none; each kept for copying like `create_key`'s.
#[allow(clippy::too_many_arguments)] // the dialog's fields, one argument each, as the window sends them
#[tauri::command]
pub async fn add_many_keys(
    session: State<'_, Arc<Session>>,
    account: String,
    text: String,
    format: ManyKeysFormat,
    access: AccessType,
    allow_unbind: bool,
    groups: Vec<String>,
    expires_at: Option<String>,
    export_dir: Option<String>,
) -> Result<ManyCreatedView, CommandError> {
    let rows = match format {
        ManyKeysFormat::Names => keyward_core::parse_key_names(&text)?,
        ManyKeysFormat::Csv => keyward_core::parse_key_csv(&text)?,
    };
    let expires_at = expires_at
        .map(|text| validate::expires_at(&text, keyward_core::now()))
        .transpose()?;
    let settings = NewKey {
        description: None,
        access: Some(access),
        allow_unbind,
        groups,
        expires_at,
    };
    let folder = self::export_dir(export_dir);
    off_ui_thread(&session, move |session| {
        session.with_vault(|vault| {
            let (created, files) = match &folder {
                Some(dir) => {
                    vault.create_key_rows_exported(Some(&account), &rows, &settings, dir)?
                }
                None => (
                    vault.create_key_rows(Some(&account), &rows, &settings)?,
                    Vec::new(),
                ),
            };
            session.keep_created_keys(created.iter());
            Ok(ManyCreatedView {
                created: created.iter().map(view).collect(),
                files,
            })
        })
    })
    .await
}

/// How many of the account's keys expire within the warning period, and how many went
/// unused for 90 days: the badge of the keys page.
#[tauri::command]
pub async fn review_counts(
    session: State<'_, Arc<Session>>,
    account: String,
) -> Result<ReviewCounts, CommandError> {
    on_vault(&session, move |vault| vault.review_counts(Some(&account))).await
}

/// The once-a-day warning, asked on start with the administrator's calendar day
/// (`YYYY-MM-DD`): the first call of a day answers the accounts whose keys need a look
/// and sends a desktop notification about them; later calls that day answer nothing.
#[tauri::command]
pub async fn daily_review(
    session: State<'_, Arc<Session>>,
    today: String,
) -> Result<DailyReview, CommandError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(today.trim(), &format).map_err(|_| CommandError::Core {
        kind: keyward_core::ErrorKind::InvalidInput,
        message: format!("{today:?} is not a day: send YYYY-MM-DD"),
    })?;
    let due = on_vault(&session, move |vault| vault.daily_review(day)).await?;
    let notified = !due.is_empty() && crate::notify::review(&due);
    Ok(DailyReview { due, notified })
}

/// The QR code (SVG) of a key just created, while the shell still holds it: for a device
/// or phone with a camera. Made on request, never stored; gone when the key is forgotten.
#[tauri::command]
pub async fn created_key_qr(
    session: State<'_, Arc<Session>>,
    key_id: String,
) -> Result<String, CommandError> {
    off_ui_thread(&session, move |session| session.created_key_qr(&key_id)).await
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use serde_json::{json, Value};

    fn add_names(app: &TestApp, names: &str) -> Value {
        app.call(
            "add_many_keys",
            json!({ "account": "acme", "text": names, "format": "names", "access": "WRITE",
                    "allowUnbind": false, "groups": [] }),
        )
        .unwrap()
    }

    fn ids(created: &Value) -> Vec<Value> {
        created["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"]["id"].clone())
            .collect()
    }

    fn names(app: &TestApp) -> Vec<String> {
        app.call("list_keys", json!({ "account": "acme" }))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_roll_answers_every_successor_once_and_keeps_it_for_copy_and_qr() {
        let app = TestApp::with_account();
        let ids = ids(&add_names(&app, "gate-1\ngate-2"));
        let rolled = app
            .call(
                "roll_keys",
                json!({ "account": "acme", "keys": ids, "grace": "2h" }),
            )
            .unwrap();
        let rolled = rolled["rolled"].as_array().unwrap().clone();
        assert_eq!(rolled.len(), 2);
        assert_eq!(rolled[0]["replaced"]["name"], "gate-1 (replaced)");
        assert_eq!(rolled[0]["created"]["key"]["name"], "gate-1");
        let successor = rolled[1]["created"]["key"]["id"].clone();
        let secret = rolled[1]["created"]["secret"].as_str().unwrap().to_string();
        app.call("copy_created_key", json!({ "keyId": successor }))
            .unwrap();
        assert_eq!(app.clipboard.text().as_deref(), Some(secret.as_str()));
        let qr = app
            .call("created_key_qr", json!({ "keyId": successor }))
            .unwrap();
        assert!(qr.as_str().unwrap().contains("<svg"));
        assert!(!qr.as_str().unwrap().contains(&secret[3..]));
        app.call("forget_created_key", json!({ "keyId": successor }))
            .unwrap();
        let gone = app
            .call("created_key_qr", json!({ "keyId": successor }))
            .unwrap_err();
        assert_eq!(gone["kind"], "not_found");

        for (args, kind) in [
            (
                json!({ "account": "acme", "keys": ids, "grace": "-1h" }),
                "invalid_input",
            ),
            (
                json!({ "account": "acme", "keys": ids, "grace": "1y" }),
                "invalid_input",
            ),
            (
                json!({ "account": "acme", "keys": [ids[0]], "grace": "1h" }),
                "refused",
            ),
        ] {
            let before = names(&app);
            let error = app.call("roll_keys", args.clone()).unwrap_err();
            assert_eq!(error["kind"], kind, "{args}: {error}");
            assert_eq!(names(&app), before);
        }
    }

    #[test]
    fn one_action_changes_the_whole_selection_or_nothing() {
        let app = TestApp::with_account();
        app.call(
            "create_group",
            json!({ "account": "acme", "name": "gates", "scopes": ["devices:write"] }),
        )
        .unwrap();
        let ids = ids(&add_names(&app, "a\nb\nc"));
        let change = |keys: &[Value], change: Value| {
            app.call(
                "change_keys",
                json!({ "account": "acme", "keys": keys, "change": change }),
            )
        };
        let off = change(&ids[..2], json!({ "kind": "deactivate" })).unwrap();
        assert_eq!(off[0]["status"], "inactive");
        assert_eq!(off[1]["status"], "inactive");
        let grouped = change(
            &ids,
            json!({ "kind": "groups", "add": ["gates"], "remove": [] }),
        )
        .unwrap();
        assert!(grouped
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["groups"] == json!(["gates"])));
        change(&ids[2..], json!({ "kind": "delete" })).unwrap();
        assert_eq!(names(&app), ["a", "b"]);
        let error = change(&ids, json!({ "kind": "activate" })).unwrap_err();
        assert_eq!(error["kind"], "not_found", "{error}");
        assert!(
            error["message"].as_str().unwrap().contains("\"c\""),
            "{error}"
        );
        let statuses: Vec<Value> = app
            .call("list_keys", json!({ "account": "acme" }))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["status"].clone())
            .collect();
        assert_eq!(
            statuses,
            [json!("inactive"), json!("inactive")],
            "nothing changed"
        );
    }

    #[test]
    fn many_keys_from_csv_or_names_all_or_none() {
        let app = TestApp::with_account();
        let bad = app
            .call(
                "add_many_keys",
                json!({ "account": "acme", "text": "name,description,groups\nok,,\nbad,,nope\n",
                        "format": "csv", "access": "READ", "allowUnbind": false, "groups": [] }),
            )
            .unwrap_err();
        assert_eq!(bad["kind"], "invalid_input");
        assert!(
            bad["message"].as_str().unwrap().starts_with("line 3:"),
            "{bad}"
        );
        assert!(names(&app).is_empty(), "nothing created");
        let created = app
            .call(
                "add_many_keys",
                json!({ "account": "acme", "text": "ok,North gate,\n\"b, 2\",,\n",
                        "format": "csv", "access": "READ", "allowUnbind": false, "groups": [] }),
            )
            .unwrap();
        assert_eq!(created["created"][0]["key"]["description"], "North gate");
        assert_eq!(names(&app), ["ok", "b, 2"]);
        let dir = tempfile::tempdir().unwrap();
        let exists = app
            .call(
                "add_many_keys",
                json!({ "account": "acme", "text": "c", "format": "names", "access": "READ",
                        "allowUnbind": false, "groups": [], "exportDir": dir.path() }),
            )
            .unwrap_err();
        assert_eq!(exists["kind"], "invalid_input");
        let folder = dir.path().join("handover");
        let exported = app
            .call(
                "add_many_keys",
                json!({ "account": "acme", "text": "c", "format": "names", "access": "READ",
                        "allowUnbind": false, "groups": [], "exportDir": folder }),
            )
            .unwrap();
        assert_eq!(exported["files"][0]["path"], json!(folder.join("c.json")));
    }

    #[test]
    fn the_review_is_counted_and_warned_about_once_a_day() {
        let app = TestApp::with_account();
        app.call(
            "create_key",
            json!({ "account": "acme", "name": "soon", "access": "READ", "allowUnbind": false,
                    "groups": [], "expiresAt": (keyward_core::now() + time::Duration::days(3))
                        .format(&time::format_description::well_known::Rfc3339).unwrap() }),
        )
        .unwrap();
        let counts = app
            .call("review_counts", json!({ "account": "acme" }))
            .unwrap();
        assert_eq!(
            (
                counts["expiring"].clone(),
                counts["expiring_days"].clone(),
                counts["unused"].clone()
            ),
            (json!(1), json!(14), json!(0))
        );
        let first = app
            .call("daily_review", json!({ "today": "2026-12-01" }))
            .unwrap();
        assert_eq!(first["due"][0]["account"], "acme");
        assert_eq!(
            app.call("daily_review", json!({ "today": "2026-12-01" }))
                .unwrap()["due"],
            json!([])
        );
        let error = app
            .call("daily_review", json!({ "today": "tomorrow" }))
            .unwrap_err();
        assert_eq!(error["kind"], "invalid_input");
    }
}
