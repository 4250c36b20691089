//! Keyward's desktop shell: Tauri commands that adapt keyward-core for the web UI in `ui/`.
//! `session` holds the state they share; each other module holds the commands of one area;
//! `error` is what they all return.

mod accounts;
mod audit;
#[cfg(test)]
mod bindings;
mod clipboard;
mod error;
mod events;
mod fleet;
mod groups;
mod idle;
mod keys;
mod notify;
mod qr;
mod session;
mod settings;
mod sync;
#[cfg(test)]
mod testing;
mod vault;
mod watch;

use std::sync::Arc;

use tauri::{Manager, RunEvent, Runtime};

pub use error::CommandError;
pub use session::Session;

/// Registers every command of the app (the same list as `APP_COMMANDS` in build.rs and
/// the permissions in src-tauri/capabilities).
fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        vault::vault_status,
        vault::create_vault,
        vault::unlock,
        vault::unlock_from_keychain,
        vault::lock,
        vault::vault_summary,
        vault::touch,
        accounts::list_accounts,
        accounts::create_account,
        accounts::update_account,
        accounts::reveal_shared_secret,
        accounts::copy_shared_secret,
        accounts::rotate_shared_secret,
        groups::list_groups,
        groups::create_group,
        groups::update_group,
        groups::delete_group,
        keys::key_presets,
        keys::list_keys,
        keys::create_key,
        keys::copy_created_key,
        keys::forget_created_key,
        keys::rename_key,
        keys::set_key_status,
        keys::set_key_groups,
        keys::delete_key,
        fleet::roll_keys,
        fleet::change_keys,
        fleet::add_many_keys,
        fleet::review_counts,
        fleet::daily_review,
        fleet::created_key_qr,
        audit::list_audit,
        audit::verify_audit,
        settings::get_settings,
        settings::update_settings,
        sync::sync_status,
        sync::set_remote,
        sync::sync_now,
        sync::remove_remote,
    ])
}

/// Builds and runs the app until its last window closes.
pub fn run() -> tauri::Result<()> {
    let events = events::Events::new();
    let session = Session::for_app(Arc::clone(&events));
    let app = with_commands(tauri::Builder::default())
        .manage(session)
        .setup(move |app| {
            events.connect(events::WindowEvents(app.handle().clone()));
            Ok(())
        })
        .build(tauri::generate_context!())?;

    app.run(|app, event| {
        // On quit: the vault's pending writes reach the disk, its key is wiped, and a key
        // still on the clipboard is cleared.
        if let RunEvent::Exit = event {
            app.state::<Arc<Session>>().shut_down();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::TestApp;

    /// The command names in build.rs's `APP_COMMANDS`.
    fn build_rs_commands() -> Vec<String> {
        let build_rs = include_str!("../build.rs");
        let list = build_rs
            .split("const APP_COMMANDS: &[&str] = &[")
            .nth(1)
            .unwrap()
            .split("];")
            .next()
            .unwrap();
        list.split(',')
            .map(|name| name.trim().trim_matches('"').to_string())
            .filter(|name| !name.is_empty())
            .collect()
    }

    #[test]
    fn build_rs_capabilities_and_the_handler_list_the_same_commands() {
        let commands = build_rs_commands();
        assert_eq!(commands.len(), 40, "{commands:?}");

        let capability: Value =
            serde_json::from_str(include_str!("../capabilities/default.json")).unwrap();
        let granted: Vec<String> = capability["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        let mut expected: Vec<String> = vec![
            "core:event:allow-listen".into(),
            "core:event:allow-unlisten".into(),
        ];
        expected.extend(
            commands
                .iter()
                .map(|name| format!("allow-{}", name.replace('_', "-"))),
        );
        assert_eq!(
            granted, expected,
            "the window gets exactly the app's commands and event listening"
        );

        let app = TestApp::new();
        let unknown = app.call("no_such_command", json!({})).unwrap_err();
        for command in &commands {
            // Called with no arguments, while locked: each answers, but not "unknown command".
            let answer = app.call(command, json!({}));
            let unknown_message = unknown
                .as_str()
                .unwrap()
                .replace("no_such_command", command);
            assert_ne!(
                answer.as_ref().err().and_then(Value::as_str),
                Some(unknown_message.as_str()),
                "{command} is not registered"
            );
        }
    }

    #[test]
    fn the_window_gets_a_strict_csp_no_plugins_and_no_devtools_in_release() {
        let config: Value = serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let csp = config["app"]["security"]["csp"].as_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "connect-src ipc: http://ipc.localhost",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        for loose in ["unsafe-eval", "https:", "http://*", " * "] {
            assert!(!csp.contains(loose), "{loose} in {csp}");
        }
        assert!(config["plugins"]
            .as_object()
            .is_none_or(|plugins| plugins.is_empty()));

        // Devtools exist only in debug builds unless tauri's `devtools` feature is on.
        let manifest = include_str!("../../Cargo.toml");
        assert!(
            !manifest.contains("devtools"),
            "the devtools feature must stay off"
        );
        for plugin in ["tauri-plugin-shell", "tauri-plugin-fs", "tauri-plugin-http"] {
            assert!(
                !manifest.contains(plugin),
                "{plugin} must not be a dependency"
            );
        }
    }
}
