//! Keyward's desktop shell: Tauri commands that adapt keyward-core for the web UI in `ui/`.
//! `session` holds the state they share; each other module holds the commands of one area;
//! `error` is what they all return.

mod accounts;
mod applog;
mod audit;
#[cfg(test)]
mod bindings;
mod clipboard;
mod error;
mod events;
mod fleet;
mod groups;
mod head_start;
mod idle;
mod keys;
mod notify;
mod qr;
#[cfg(test)]
mod scenarios;
mod screen_lock;
mod session;
mod settings;
mod sync;
#[cfg(test)]
mod testing;
mod vault;
mod views;
mod watch;
mod webview;
mod window;

use std::sync::Arc;

use tauri::{Manager, RunEvent, Runtime};

pub use error::CommandError;
pub use session::Session;

/// Turns the one list of commands (src-tauri/commands.rs) into the handler list and, for
/// tests, into each command's name, arguments and answer as TypeScript.
macro_rules! app_commands {
    ($($module:ident :: $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $answer:ty;)*) => {
        /// Registers every command of the app.
        fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
            builder.invoke_handler(tauri::generate_handler![$($module::$name),*])
        }

        /// Every command with its arguments and answer, for the bindings and the checks.
        #[cfg(test)]
        pub(crate) fn command_signatures(config: &ts_rs::Config) -> Vec<bindings::CommandSignature> {
            #[allow(unused_imports)]
            use keyward_core::{
                AccessType, Account, ApiKey, AuditReport, Group, GroupDeletion, KeyStatus,
                KeysChange, ReviewCounts, Settings, VaultSummary,
            };
            #[allow(unused_imports)]
            use keyward_sync::SyncReport;
            #[allow(unused_imports)]
            use crate::views::*;
            vec![$(bindings::CommandSignature {
                name: stringify!($name),
                args: vec![$(bindings::Argument::of::<$ty>(stringify!($arg), config)),*],
                answer: <$answer as ts_rs::TS>::name(config),
            }),*]
        }
    };
}
include!("../commands.rs");

/// Builds and runs the app until its last window closes.
pub fn run() -> tauri::Result<()> {
    let events = events::Events::new();
    let session = Session::for_app(Arc::clone(&events));
    let app = with_commands(tauri::Builder::default())
        // First: a second launch hands over to this process before doing anything else.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::focus_main(app)
        }))
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(window::REMEMBERED)
                .build(),
        )
        .manage(Arc::clone(&session))
        .setup(move |app| {
            match app.path().app_log_dir() {
                Ok(dir) => match applog::open(&dir) {
                    Ok(path) => applog::info(&format!(
                        "Keyward {} started; log {}",
                        env!("CARGO_PKG_VERSION"),
                        path.display()
                    )),
                    Err(error) => {
                        eprintln!("keyward-desktop: no log file in {}: {error}", dir.display())
                    }
                },
                Err(error) => eprintln!("keyward-desktop: no log directory: {error}"),
            }
            if let Some(main) = app.get_webview_window(window::MAIN) {
                webview::tune(&main);
            }
            // The window is being made: its web view takes a few hundred milliseconds to
            // start, in which the vault is unlocked and its first keys read.
            session.begin_head_start();
            events.connect(events::WindowEvents(app.handle().clone()));
            let saver = window::StateSaver::start(app.handle().clone());
            if let Some(main) = app.get_webview_window(window::MAIN) {
                main.on_window_event(move |event| saver.on_window_event(event));
            }
            let weak = Arc::downgrade(&session);
            screen_lock::listen(move |reason| {
                if let Some(session) = weak.upgrade() {
                    session.lock_if_open(reason);
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!())?;

    app.run(|app, event| {
        // On quit: the vault's pending writes reach the disk, its key is wiped, and a key
        // still on the clipboard is cleared.
        if let RunEvent::Exit = event {
            app.state::<Arc<Session>>().shut_down();
            applog::info("Keyward quit");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::testing::TestApp;

    fn commands() -> Vec<crate::bindings::CommandSignature> {
        crate::command_signatures(&ts_rs::Config::new().with_large_int("number"))
    }

    #[test]
    fn the_capability_grants_exactly_the_listed_commands_and_each_is_registered() {
        let commands = commands();
        assert_eq!(commands.len(), 42);

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
                .map(|command| format!("allow-{}", command.name.replace('_', "-"))),
        );
        assert_eq!(
            granted, expected,
            "the window gets exactly the app's commands and event listening"
        );

        let app = TestApp::new();
        let unknown = app.call("no_such_command", json!({})).unwrap_err();
        for command in &commands {
            // Called with no arguments, while locked: each answers, but not "unknown command".
            let answer = app.call(command.name, json!({}));
            let unknown_message = unknown
                .as_str()
                .unwrap()
                .replace("no_such_command", command.name);
            assert_ne!(
                answer.as_ref().err().and_then(Value::as_str),
                Some(unknown_message.as_str()),
                "{} is not registered",
                command.name
            );
        }
    }

    /// A value of the argument's TypeScript type that Tauri can deserialize.
    fn sample(ts_type: &str) -> Value {
        match ts_type {
            "string" => json!("x"),
            "boolean" => json!(false),
            "number" => json!(1),
            "AccessType" => json!("READ"),
            "KeyStatus" => json!("active"),
            "Settings" => json!({ "clipboard_clear_seconds": 30, "auto_lock_minutes": 5 }),
            "KeysChange" => json!({ "kind": "activate" }),
            "ManyKeysFormat" => json!("names"),
            array if array.starts_with("Array<") => json!([]),
            other => panic!("no sample for {other}: add one"),
        }
    }

    #[test]
    fn each_command_asks_for_exactly_the_required_arguments_the_list_gives() {
        let app = TestApp::new();
        for command in commands() {
            let required: Vec<&str> = command
                .args
                .iter()
                .filter(|arg| !arg.optional)
                .map(|arg| arg.js_name.as_str())
                .collect();
            let mut given = serde_json::Map::new();
            // Tauri names the first required argument missing: give it, ask again.
            loop {
                let answer = app.call(command.name, Value::Object(given.clone()));
                let message = answer
                    .err()
                    .map(|error| error.to_string())
                    .unwrap_or_default();
                let Some(missing) = message.split("missing required key ").nth(1) else {
                    break;
                };
                let missing = missing.trim_end_matches('"').to_string();
                let arg = command
                    .args
                    .iter()
                    .find(|arg| arg.js_name == missing && !arg.optional)
                    .unwrap_or_else(|| {
                        panic!(
                            "{} needs {missing}, which the list does not give as required",
                            command.name
                        )
                    });
                assert!(!given.contains_key(&missing), "{}: {message}", command.name);
                given.insert(missing, sample(&arg.ts_type));
            }
            let asked: Vec<&str> = given.keys().map(String::as_str).collect();
            let mut required_sorted = required.clone();
            required_sorted.sort_unstable();
            assert_eq!(
                asked, required_sorted,
                "{}: required arguments",
                command.name
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
