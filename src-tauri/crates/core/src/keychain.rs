//! Remembering the vault key in the OS keychain (through `keyring-core`), so
//! the vault opens without typing the passphrase. Everything keeps working
//! when no keychain exists: remembering is then refused with a clear message.

use std::path::Path;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use crate::secret::VaultKey;
use crate::{Error, Result};

const SERVICE: &str = "keyward";

#[derive(Clone)]
pub struct Keychain {
    store: Arc<CredentialStore>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keychain")
    }
}

fn unavailable(err: impl std::fmt::Display) -> Error {
    Error::Keychain(format!(
        "no OS keychain is available ({err}); the vault can still be opened with its passphrase"
    ))
}

impl Keychain {
    /// The platform's keychain: the Secret Service on Linux.
    pub fn system() -> Result<Keychain> {
        #[cfg(target_os = "linux")]
        {
            let store = zbus_secret_service_keyring_store::Store::new().map_err(unavailable)?;
            Ok(Keychain { store })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(unavailable("this platform's keychain is not supported yet"))
        }
    }

    /// An in-memory store, for tests on machines without a keychain.
    pub fn in_memory() -> Keychain {
        let store = keyring_core::mock::Store::new().expect("the mock store always builds");
        Keychain { store }
    }

    /// One entry per vault file, named by its absolute path.
    fn entry(&self, vault: &Path) -> Result<Entry> {
        let absolute = std::path::absolute(vault).unwrap_or_else(|_| vault.to_path_buf());
        self.store
            .build(SERVICE, &absolute.to_string_lossy(), None)
            .map_err(unavailable)
    }

    pub(crate) fn store(&self, vault: &Path, key: &VaultKey) -> Result<()> {
        self.entry(vault)?
            .set_password(key.to_hex().expose())
            .map_err(unavailable)
    }

    pub(crate) fn load(&self, vault: &Path) -> Result<Option<VaultKey>> {
        match self.entry(vault)?.get_password() {
            Ok(text) => Ok(VaultKey::from_hex(&zeroize::Zeroizing::new(text))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }

    pub(crate) fn forget(&self, vault: &Path) -> Result<bool> {
        match self.entry(vault)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }
}
