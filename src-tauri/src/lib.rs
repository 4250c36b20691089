//! Keyward's desktop shell: Tauri commands that adapt keyward-core for the web UI in `ui/`.
//! Each module holds the commands of one area; `error` is what they all return.

mod error;
mod vault;

use std::sync::Arc;

use tauri::{Manager, RunEvent};

pub use error::CommandError;
pub use vault::{VaultSlot, VaultStatus};

/// Builds and runs the app until its last window closes.
pub fn run() -> tauri::Result<()> {
    let app = tauri::Builder::default()
        .manage(Arc::new(VaultSlot::at_default_path()))
        .invoke_handler(tauri::generate_handler![
            vault::vault_status,
            vault::create_vault,
            vault::unlock,
            vault::unlock_from_keychain,
            vault::lock,
            vault::vault_summary,
        ])
        .build(tauri::generate_context!())?;

    app.run(|app, event| {
        // Close the vault cleanly on quit: its pending writes reach the disk, its key is wiped.
        if let RunEvent::Exit = event {
            app.state::<Arc<VaultSlot>>().lock();
        }
    });
    Ok(())
}
