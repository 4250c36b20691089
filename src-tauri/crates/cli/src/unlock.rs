//! Where the passphrase comes from: `$KEYWARD_PASSPHRASE`, else the OS
//! keychain (if the vault key was remembered), else a prompt on the terminal.
//! With none of them the command fails with exit 3.

use std::path::{Path, PathBuf};

use keyward_core::{Keychain, SecretString, Vault};

use crate::Failure;

pub fn vault_path(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    match explicit {
        Some(path) => Ok(path.to_path_buf()),
        None => Ok(keyward_core::default_vault_path()?),
    }
}

fn from_env(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::new)
}

fn prompt(question: &str) -> Result<SecretString, Failure> {
    rpassword::prompt_password(question).map(SecretString::new).map_err(|_| {
        Failure::vault("no passphrase: set KEYWARD_PASSPHRASE, remember the vault in the keychain, or run in a terminal")
    })
}

/// A secret from the environment variable `env`, else asked on the terminal.
pub fn secret_from(env: &str, question: &str) -> Result<SecretString, Failure> {
    match from_env(env) {
        Some(secret) => Ok(secret),
        None => prompt(question),
    }
}

/// The passphrase itself, never the keychain (to create a vault, reveal a secret, change the passphrase).
pub fn passphrase(question: &str) -> Result<SecretString, Failure> {
    secret_from("KEYWARD_PASSPHRASE", question)
}

/// A new passphrase, typed twice when prompted.
pub fn new_passphrase(env: &str, what: &str) -> Result<SecretString, Failure> {
    if let Some(passphrase) = from_env(env) {
        return Ok(passphrase);
    }
    let first = prompt(&format!("{what}: "))?;
    let second = prompt(&format!("Repeat the {}: ", what.to_lowercase()))?;
    if first.expose() != second.expose() {
        return Err(Failure::input(
            "the two passphrases differ: nothing was changed",
        ));
    }
    Ok(first)
}

/// Opens the vault at `path` by the first source that is there.
pub fn open(path: &Path) -> Result<Vault, Failure> {
    if !path.exists() {
        return Err(keyward_core::Error::VaultMissing(path.display().to_string()).into());
    }
    if let Some(passphrase) = from_env("KEYWARD_PASSPHRASE") {
        return Ok(Vault::open(path, &passphrase)?);
    }
    // A missing or unusable keychain just means: ask for the passphrase.
    if let Ok(keychain) = Keychain::system() {
        if let Ok(Some(vault)) = Vault::open_with_keychain(path, &keychain) {
            return Ok(vault);
        }
    }
    let passphrase = prompt("Vault passphrase: ")?;
    Ok(Vault::open(path, &passphrase)?)
}
