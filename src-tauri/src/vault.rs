//! Vault commands: status, create, unlock (by passphrase or from the keychain), lock and
//! summary. Argon2 and disk I/O run on the blocking pool, never on the UI thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use keyward_core::{KdfParams, SecretString, Vault, VaultSummary};
use serde::Serialize;
use tauri::State;

use crate::error::CommandError;

/// The vault the window works on: where it lives, and the open vault while unlocked.
/// Locking drops the open `Vault`, and with it the key.
#[derive(Debug)]
pub struct VaultSlot {
    path: Result<PathBuf, CommandError>,
    vault: Mutex<Option<Vault>>,
}

/// What the lock screen needs to know; answered by `vault_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaultStatus {
    pub exists: bool,
    pub unlocked: bool,
    pub path: String,
}

impl VaultSlot {
    pub fn new(path: PathBuf) -> Self {
        VaultSlot {
            path: Ok(path),
            vault: Mutex::new(None),
        }
    }

    /// `$KEYWARD_VAULT`, else the platform data directory: the same vault the CLI uses.
    /// When neither exists every command reports why, so the window can show it.
    pub fn at_default_path() -> Self {
        let path = keyward_core::default_vault_path().map_err(CommandError::from);
        VaultSlot {
            path,
            vault: Mutex::new(None),
        }
    }

    fn path(&self) -> Result<&Path, CommandError> {
        self.path.as_deref().map_err(Clone::clone)
    }

    // A panic while the lock was held cannot leave an `Option<Vault>` half-written.
    fn open_vault(&self) -> MutexGuard<'_, Option<Vault>> {
        self.vault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> Result<VaultStatus, CommandError> {
        let path = self.path()?;
        Ok(VaultStatus {
            exists: Vault::exists(path),
            unlocked: self.open_vault().is_some(),
            path: path.display().to_string(),
        })
    }

    pub fn create(&self, passphrase: &SecretString) -> Result<(), CommandError> {
        let vault = Vault::create(self.path()?, passphrase, KdfParams::default())?;
        self.open_vault().replace(vault);
        Ok(())
    }

    pub fn unlock(&self, passphrase: &SecretString) -> Result<(), CommandError> {
        let vault = Vault::open(self.path()?, passphrase)?;
        self.open_vault().replace(vault);
        Ok(())
    }

    /// Unlocks with the key remembered in the OS keychain; false when none is remembered.
    pub fn unlock_from_keychain(&self) -> Result<bool, CommandError> {
        let Some(vault) = Vault::open_from_keychain(self.path()?)? else {
            return Ok(false);
        };
        self.open_vault().replace(vault);
        Ok(true)
    }

    pub fn lock(&self) {
        let vault = self.open_vault().take();
        // Closing flushes to disk: do it after releasing the mutex.
        drop(vault);
    }

    pub fn summary(&self) -> Result<VaultSummary, CommandError> {
        let open_vault = self.open_vault();
        let vault = open_vault.as_ref().ok_or(CommandError::VaultLocked)?;
        Ok(vault.summary()?)
    }
}

/// Runs `job` on the blocking pool so the UI thread stays responsive.
async fn off_ui_thread<T, F>(slot: &State<'_, Arc<VaultSlot>>, job: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce(&VaultSlot) -> Result<T, CommandError> + Send + 'static,
{
    let slot = Arc::clone(slot.inner());
    tauri::async_runtime::spawn_blocking(move || job(&slot))
        .await
        .map_err(|error| CommandError::Internal(format!("a vault task failed: {error}")))?
}

#[tauri::command]
pub async fn vault_status(slot: State<'_, Arc<VaultSlot>>) -> Result<VaultStatus, CommandError> {
    off_ui_thread(&slot, VaultSlot::status).await
}

#[tauri::command]
pub async fn create_vault(
    slot: State<'_, Arc<VaultSlot>>,
    passphrase: String,
) -> Result<(), CommandError> {
    let passphrase = SecretString::new(passphrase);
    off_ui_thread(&slot, move |slot| slot.create(&passphrase)).await
}

#[tauri::command]
pub async fn unlock(
    slot: State<'_, Arc<VaultSlot>>,
    passphrase: String,
) -> Result<(), CommandError> {
    let passphrase = SecretString::new(passphrase);
    off_ui_thread(&slot, move |slot| slot.unlock(&passphrase)).await
}

#[tauri::command]
pub async fn unlock_from_keychain(slot: State<'_, Arc<VaultSlot>>) -> Result<bool, CommandError> {
    off_ui_thread(&slot, VaultSlot::unlock_from_keychain).await
}

#[tauri::command]
pub async fn lock(slot: State<'_, Arc<VaultSlot>>) -> Result<(), CommandError> {
    off_ui_thread(&slot, |slot| {
        slot.lock();
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn vault_summary(slot: State<'_, Arc<VaultSlot>>) -> Result<VaultSummary, CommandError> {
    off_ui_thread(&slot, VaultSlot::summary).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::ErrorKind;

    const PASSPHRASE: &str = "correct horse battery";

    fn slot_in(dir: &tempfile::TempDir) -> VaultSlot {
        VaultSlot::new(dir.path().join("vault.db"))
    }

    fn secret(text: &str) -> SecretString {
        SecretString::new(text.to_string())
    }

    fn core_kind(error: CommandError) -> ErrorKind {
        match error {
            CommandError::Core { kind, .. } => kind,
            other => panic!("expected an error from the core, got {other:?}"),
        }
    }

    #[test]
    fn status_reports_a_missing_vault_and_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let status = slot_in(&dir).status().unwrap();
        assert_eq!(
            status,
            VaultStatus {
                exists: false,
                unlocked: false,
                path: dir.path().join("vault.db").display().to_string(),
            }
        );
    }

    #[test]
    fn creating_leaves_the_new_vault_unlocked_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let slot = slot_in(&dir);
        slot.create(&secret(PASSPHRASE)).unwrap();

        let status = slot.status().unwrap();
        assert!(status.exists && status.unlocked);
        let summary = slot.summary().unwrap();
        assert_eq!((summary.accounts, summary.keys), (0, 0));
    }

    #[test]
    fn a_short_passphrase_is_refused_with_the_rule_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let slot = slot_in(&dir);
        let error = slot.create(&secret("short")).unwrap_err();

        assert_eq!(error.kind(), "invalid_input");
        assert!(
            error.to_string().contains('8'),
            "the message names the rule: {error}"
        );
        let status = slot.status().unwrap();
        assert!(!status.exists && !status.unlocked, "{status:?}");
    }

    #[test]
    fn creating_over_an_existing_vault_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        slot_in(&dir).create(&secret(PASSPHRASE)).unwrap();

        let error = slot_in(&dir).create(&secret(PASSPHRASE)).unwrap_err();
        assert_eq!(core_kind(error), ErrorKind::VaultExists);
    }

    #[test]
    fn locking_closes_the_vault_and_only_the_right_passphrase_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let slot = slot_in(&dir);
        slot.create(&secret(PASSPHRASE)).unwrap();

        slot.lock();
        assert!(!slot.status().unwrap().unlocked);
        assert_eq!(slot.summary().unwrap_err(), CommandError::VaultLocked);

        let wrong = slot.unlock(&secret("incorrect horse")).unwrap_err();
        assert_eq!(wrong.kind(), "wrong_passphrase");
        assert_eq!(wrong.to_string(), "wrong passphrase");
        assert!(!slot.status().unwrap().unlocked);

        slot.unlock(&secret(PASSPHRASE)).unwrap();
        assert!(slot.status().unwrap().unlocked);
        assert_eq!(slot.summary().unwrap().keys, 0);
    }

    #[test]
    fn unlocking_a_missing_vault_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let error = slot_in(&dir).unlock(&secret(PASSPHRASE)).unwrap_err();
        assert_eq!(core_kind(error), ErrorKind::VaultMissing);
    }
}
