//! Build script of the desktop app (the root package): runs tauri-build, whose files sit
//! in src-tauri/ rather than next to Cargo.toml, and requires the built UI.

use std::path::Path;

// Every command of the app: the same list as `with_commands` in src/lib.rs and the
// permissions in capabilities/default.json (a test in src/lib.rs checks all three agree).
const APP_COMMANDS: &[&str] = &[
    "vault_status",
    "create_vault",
    "unlock",
    "unlock_from_keychain",
    "lock",
    "vault_summary",
    "touch",
    "list_accounts",
    "create_account",
    "update_account",
    "reveal_shared_secret",
    "copy_shared_secret",
    "rotate_shared_secret",
    "list_groups",
    "create_group",
    "update_group",
    "delete_group",
    "key_presets",
    "list_keys",
    "create_key",
    "copy_created_key",
    "forget_created_key",
    "rename_key",
    "set_key_status",
    "set_key_groups",
    "delete_key",
    "roll_keys",
    "change_keys",
    "add_many_keys",
    "review_counts",
    "daily_review",
    "created_key_qr",
    "list_audit",
    "verify_audit",
    "get_settings",
    "update_settings",
    "sync_status",
    "set_remote",
    "sync_now",
    "remove_remote",
];

fn main() {
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/icons");
    // The UI is embedded into the binary: rebuild it when `make ui` produced a new one.
    println!("cargo:rerun-if-changed=ui/dist");

    if !Path::new("ui/dist/index.html").exists() {
        panic!("ui/dist/index.html is missing: build the UI first with `make ui`");
    }

    // Generating the command permissions makes them opt-in: the window may invoke only
    // what src-tauri/capabilities grants.
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(APP_COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri-build failed: {error:#}");
    }
}
