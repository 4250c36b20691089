// No console window next to the app in release builds on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(error) = keyward_desktop::run() {
        eprintln!("keyward-desktop: {error}");
        std::process::exit(1);
    }
}
