//! The main window as a desktop app's: one per session (a second launch brings it forward
//! instead of opening the vault twice), and back at the size and place it was closed at.
//! The window-state plugin restores the state and saves it at a clean exit; this module also
//! saves it shortly after each move or resize, so a session that ends without a clean exit
//! (logout, the process killed) still comes back as it was.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

use crate::applog;

pub const MAIN: &str = "main";
/// What is remembered: size, position and maximised (not visibility: the app always shows).
pub const REMEMBERED: StateFlags = StateFlags::SIZE
    .union(StateFlags::POSITION)
    .union(StateFlags::MAXIMIZED);
/// Moves and resizes come in bursts: save once the burst is over.
const SETTLE: Duration = Duration::from_millis(400);

/// A second launch: bring the running window forward (its vault session is untouched).
pub fn focus_main<R: Runtime>(app: &AppHandle<R>) {
    applog::info("a second launch: the running window is brought forward");
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Saves the window state a moment after the last move or resize.
pub struct StateSaver(Mutex<Sender<()>>);

impl StateSaver {
    pub fn start<R: Runtime>(app: AppHandle<R>) -> StateSaver {
        let (changed, changes) = mpsc::channel::<()>();
        let spawned = thread::Builder::new()
            .name("window-state".into())
            .spawn(move || loop {
                if changes.recv().is_err() {
                    return;
                }
                // Wait until no change came for SETTLE.
                loop {
                    match changes.recv_timeout(SETTLE) {
                        Ok(()) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                // The plugin reads the window on the main thread, where its own handlers
                // run: saving from here could deadlock on its cache.
                let handle = app.clone();
                let _ = app.run_on_main_thread(move || {
                    if let Err(error) = handle.save_window_state(REMEMBERED) {
                        applog::warn(&format!("cannot save the window's size: {error}"));
                    }
                });
            });
        if let Err(error) = spawned {
            applog::warn(&format!("cannot start the window-state thread: {error}"));
        }
        StateSaver(Mutex::new(changed))
    }

    pub fn on_window_event(&self, event: &WindowEvent) {
        if matches!(event, WindowEvent::Moved(_) | WindowEvent::Resized(_)) {
            let sender = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let _ = sender.send(());
        }
    }
}
