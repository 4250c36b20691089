//! What the shell tells the window without being asked: the vault locked, the clipboard was
//! cleared, a sync started or ended, another process changed the vault. Payloads carry
//! reasons only, never a secret.

use std::sync::{Arc, OnceLock};

use tauri::{Emitter, Runtime};

use crate::views::{ClipboardClearReason, ClipboardCleared, LockReason, SyncStatus, VaultLocked};

/// Emitted when the vault locks; payload [`VaultLocked`].
pub const VAULT_LOCKED: &str = "vault-locked";
/// Emitted when a copy's countdown ends; payload [`ClipboardCleared`].
pub const CLIPBOARD_CLEARED: &str = "clipboard-cleared";
/// Emitted when a sync starts or ends and when a remote is set; payload [`SyncStatus`].
pub const SYNC_STATUS: &str = "sync-status";
/// Emitted when another process (the CLI, another window, a sync elsewhere) committed a change
/// to the open vault; no payload. The window reads again what it shows.
pub const VAULT_CHANGED: &str = "vault-changed";

/// Where events go: the window in the app, a recorder in tests.
pub trait EventSink: Send + Sync {
    fn vault_locked(&self, event: VaultLocked);
    fn clipboard_cleared(&self, event: ClipboardCleared);
    fn sync_status(&self, event: SyncStatus);
    fn vault_changed(&self);
}

/// The events of one session. The sink is connected once the app exists; until then (and
/// in tests that do not connect one) events go nowhere.
#[derive(Default)]
pub struct Events {
    sink: OnceLock<Box<dyn EventSink>>,
}

impl Events {
    pub fn new() -> Arc<Self> {
        Arc::new(Events::default())
    }

    /// Connects the sink; a second call is ignored (there is one window).
    pub fn connect(&self, sink: impl EventSink + 'static) {
        let _ = self.sink.set(Box::new(sink));
    }

    pub fn vault_locked(&self, reason: LockReason) {
        if let Some(sink) = self.sink.get() {
            sink.vault_locked(VaultLocked { reason });
        }
    }

    pub fn clipboard_cleared(&self, reason: ClipboardClearReason) {
        if let Some(sink) = self.sink.get() {
            sink.clipboard_cleared(ClipboardCleared { reason });
        }
    }

    pub fn sync_status(&self, status: SyncStatus) {
        if let Some(sink) = self.sink.get() {
            sink.sync_status(status);
        }
    }

    pub fn vault_changed(&self) {
        if let Some(sink) = self.sink.get() {
            sink.vault_changed();
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("connected", &self.sink.get().is_some())
            .finish()
    }
}

/// Sends events to every window of the app.
pub struct WindowEvents<R: Runtime>(pub tauri::AppHandle<R>);

impl<R: Runtime> EventSink for WindowEvents<R> {
    fn vault_locked(&self, event: VaultLocked) {
        // Emitting fails only when the app is shutting down: nobody is left to tell.
        let _ = self.0.emit(VAULT_LOCKED, event);
    }

    fn clipboard_cleared(&self, event: ClipboardCleared) {
        let _ = self.0.emit(CLIPBOARD_CLEARED, event);
    }

    fn sync_status(&self, event: SyncStatus) {
        let _ = self.0.emit(SYNC_STATUS, event);
    }

    fn vault_changed(&self) {
        let _ = self.0.emit(VAULT_CHANGED, ());
    }
}

/// Records events, for tests.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Recorder(Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

#[cfg(test)]
impl Recorder {
    /// Every event so far as `{ "event": name, "payload": ... }`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, name: &str, payload: impl serde::Serialize) {
        let payload = serde_json::to_value(payload).unwrap();
        self.0
            .lock()
            .unwrap()
            .push(serde_json::json!({ "event": name, "payload": payload }));
    }
}

#[cfg(test)]
impl EventSink for Recorder {
    fn vault_locked(&self, event: VaultLocked) {
        self.push(VAULT_LOCKED, event);
    }

    fn clipboard_cleared(&self, event: ClipboardCleared) {
        self.push(CLIPBOARD_CLEARED, event);
    }

    fn sync_status(&self, event: SyncStatus) {
        self.push(SYNC_STATUS, event);
    }

    fn vault_changed(&self) {
        self.push(VAULT_CHANGED, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_reasons_in_lowercase() {
        assert_eq!(
            serde_json::to_value(VaultLocked {
                reason: LockReason::Idle
            })
            .unwrap(),
            json!({ "reason": "idle" })
        );
        assert_eq!(
            serde_json::to_value(ClipboardCleared {
                reason: ClipboardClearReason::Overwritten
            })
            .unwrap(),
            json!({ "reason": "overwritten" })
        );
    }

    #[test]
    fn events_before_a_sink_is_connected_go_nowhere_then_reach_it() {
        let events = Events::new();
        events.vault_locked(LockReason::User);
        let recorder = Recorder::default();
        events.connect(recorder.clone());
        events.clipboard_cleared(ClipboardClearReason::Expired);
        assert_eq!(
            recorder.events(),
            vec![json!({ "event": "clipboard-cleared", "payload": { "reason": "expired" } })]
        );
    }
}
