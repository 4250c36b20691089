//! Build script of the desktop app (the root package): runs tauri-build, whose files sit
//! in src-tauri/ rather than next to Cargo.toml, and requires the built UI.

use std::path::Path;

// The app's commands come from the one list in commands.rs: here only their names matter.
macro_rules! app_commands {
    ($($module:ident :: $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $answer:ty;)*) => {
        const APP_COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}
include!("commands.rs");

fn main() {
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=src-tauri/commands.rs");
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
