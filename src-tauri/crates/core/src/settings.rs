//! Per-vault preferences of the desktop app: how long a copied key stays on
//! the clipboard, how long the app may sit idle before it locks itself, and
//! how far ahead an expiring key is worth a warning.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::NewEntry;
use crate::vault::Vault;
use crate::{Error, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Seconds until a copied secret is cleared from the clipboard (if it is still there).
    pub clipboard_clear_seconds: u32,
    /// Minutes of inactivity before the app locks the vault.
    pub auto_lock_minutes: u32,
    /// Days ahead in which an expiring key is counted by the review badge and
    /// the daily warning. (Settings stored before it existed read as the default.)
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
}

fn default_expiry_warning_days() -> u32 {
    14
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clipboard_clear_seconds: 30,
            auto_lock_minutes: 5,
            expiry_warning_days: default_expiry_warning_days(),
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<()> {
        if !(5..=600).contains(&self.clipboard_clear_seconds) {
            return Err(Error::invalid(
                "the clipboard clear delay must be between 5 and 600 seconds",
            ));
        }
        if !(1..=240).contains(&self.auto_lock_minutes) {
            return Err(Error::invalid(
                "the auto-lock delay must be between 1 and 240 minutes",
            ));
        }
        if !(1..=365).contains(&self.expiry_warning_days) {
            return Err(Error::invalid(
                "the expiry warning period must be between 1 and 365 days",
            ));
        }
        Ok(())
    }
}

impl Vault {
    pub fn settings(&self) -> Result<Settings> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'settings'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let Some(text) = stored else {
            return Ok(Settings::default());
        };
        // A row that does not parse, or holds what the rules refuse, is damage to
        // report like any other, not a reason to quietly use other delays.
        let settings: Settings = serde_json::from_str(&text).map_err(|err| {
            Error::VaultDamaged(format!("its settings record is unreadable ({err})"))
        })?;
        settings.validate().map_err(|err| {
            Error::VaultDamaged(format!("its settings record is out of range ({err})"))
        })?;
        Ok(settings)
    }

    pub fn update_settings(&mut self, settings: Settings) -> Result<Settings> {
        settings.validate()?;
        let before = self.settings()?;
        if before == settings {
            return Ok(settings);
        }
        let text =
            serde_json::to_string(&settings).map_err(|err| Error::Storage(err.to_string()))?;
        self.write(|change| {
            change.tx.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('settings', ?1)",
                params![text],
            )?;
            change.audit(NewEntry::vault(
                "settings.update",
                json!({ "from": before, "to": settings }),
            ))
        })?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KdfParams, SecretString};

    #[test]
    fn settings_default_persist_and_reject_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let params = KdfParams::WEAKEST;
        let mut vault = Vault::create(&path, &SecretString::from("correct horse"), params).unwrap();
        assert_eq!(vault.settings().unwrap(), Settings::default());
        let bad = Settings {
            clipboard_clear_seconds: 0,
            ..Settings::default()
        };
        assert!(vault.update_settings(bad).is_err());
        let chosen = Settings {
            clipboard_clear_seconds: 8,
            auto_lock_minutes: 15,
            expiry_warning_days: 30,
        };
        vault.update_settings(chosen).unwrap();
        drop(vault);
        let vault = Vault::open(&path, &SecretString::from("correct horse")).unwrap();
        assert_eq!(vault.settings().unwrap(), chosen);
        assert!(vault
            .audit_entries(&Default::default())
            .unwrap()
            .iter()
            .any(|e| e.action == "settings.update"));
    }

    #[test]
    fn settings_stored_before_the_expiry_warning_keep_their_values() {
        let dir = tempfile::tempdir().unwrap();
        let params = KdfParams::WEAKEST;
        let mut vault = Vault::create(
            &dir.path().join("v.db"),
            &SecretString::from("correct horse"),
            params,
        )
        .unwrap();
        vault
            .conn
            .execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('settings', ?1)",
                [r#"{"clipboard_clear_seconds":8,"auto_lock_minutes":15}"#],
            )
            .unwrap();
        let read = vault.settings().unwrap();
        assert_eq!(
            (
                read.clipboard_clear_seconds,
                read.auto_lock_minutes,
                read.expiry_warning_days
            ),
            (8, 15, 14)
        );
        for days in [0, 366] {
            let bad = Settings {
                expiry_warning_days: days,
                ..read
            };
            assert!(vault.update_settings(bad).is_err(), "{days}");
        }
    }

    #[test]
    fn a_settings_record_that_does_not_parse_or_is_out_of_range_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let passphrase = SecretString::from("correct horse");
        let mut vault = Vault::create(&path, &passphrase, KdfParams::WEAKEST).unwrap();
        vault.update_settings(Settings::default()).unwrap();
        for (stored, says) in [
            (
                r#"{"clipboard_clear_seconds": "thirty", "auto_lock_minutes": 5}"#,
                "unreadable",
            ),
            (r#"{"auto_lock_minutes": 5}"#, "unreadable"),
            ("not json", "unreadable"),
            (
                r#"{"clipboard_clear_seconds": 0, "auto_lock_minutes": 5}"#,
                "out of range",
            ),
            (
                r#"{"clipboard_clear_seconds": 30, "auto_lock_minutes": 100000}"#,
                "out of range",
            ),
            (
                r#"{"clipboard_clear_seconds": 30, "auto_lock_minutes": 5, "expiry_warning_days": 0}"#,
                "out of range",
            ),
        ] {
            vault
                .conn
                .execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('settings', ?1)",
                    [stored],
                )
                .unwrap();
            let err = vault.settings().expect_err(stored);
            assert!(matches!(err, Error::VaultDamaged(_)), "{stored}: {err:?}");
            assert!(err.to_string().contains(says), "{stored}: {err}");
            assert!(
                vault.update_settings(Settings::default()).is_err(),
                "{stored}: not silently replaced"
            );
        }
        // No row at all is a vault that never changed its settings.
        vault
            .conn
            .execute("DELETE FROM meta WHERE name = 'settings'", [])
            .unwrap();
        assert_eq!(vault.settings().unwrap(), Settings::default());
    }
}
