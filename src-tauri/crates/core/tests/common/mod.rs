//! Temporary vaults for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use keyward_core::{KdfParams, NewAccount, SecretString, Vault};

pub const PASSPHRASE: &str = "correct horse battery";

/// The cheapest parameters the vault accepts, so tests stay quick.
pub fn fast_kdf() -> KdfParams {
    KdfParams::WEAKEST
}

pub struct TempVault {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempVault {
    pub fn new() -> TempVault {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        TempVault { dir, path }
    }

    pub fn create(&self) -> Vault {
        Vault::create(&self.path, &SecretString::from(PASSPHRASE), fast_kdf()).unwrap()
    }

    pub fn open(&self) -> Vault {
        Vault::open(&self.path, &SecretString::from(PASSPHRASE)).unwrap()
    }
}

/// A vault with one account "Acme" (limit `limit`).
pub fn vault_with_account(limit: u32) -> (TempVault, Vault) {
    let temp = TempVault::new();
    let mut vault = temp.create();
    vault
        .create_account(
            "Acme",
            NewAccount {
                key_limit: Some(limit),
                ..Default::default()
            },
        )
        .unwrap();
    (temp, vault)
}

/// Everything readable of a vault, to check that a failed change changed nothing.
pub fn snapshot(vault: &Vault) -> String {
    let accounts = vault.list_accounts().unwrap();
    let mut out = serde_json::to_string(&accounts).unwrap();
    for account in &accounts {
        out += &serde_json::to_string(&vault.list_groups(Some(&account.name)).unwrap()).unwrap();
        out += &serde_json::to_string(
            &vault
                .list_keys(Some(&account.name), &Default::default())
                .unwrap(),
        )
        .unwrap();
    }
    out += &serde_json::to_string(&vault.audit_entries(&Default::default()).unwrap()).unwrap();
    out
}
