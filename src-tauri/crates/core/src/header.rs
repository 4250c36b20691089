//! The vault header: a small file next to the vault (`<vault>.header`) with
//! the argon2id parameters and the vault key wrapped under the key derived
//! from the passphrase.
//!
//! The database is encrypted with a random 256-bit vault key, not with the
//! passphrase-derived key itself. A passphrase change draws a new vault key
//! too (an old header and the old passphrase must not open the database
//! after it), so it writes the new header beside the current one first
//! (`<vault>.header.next`), re-keys the database in one transaction, then
//! renames the new header over the old: at every moment one of the two
//! headers opens the database, and opening finishes or undoes a change that
//! was cut short (`vault.rs`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::{SecretString, VaultKey};
use crate::{Error, Result};

const FORMAT: &str = "keyward-vault-header";
const FORMAT_VERSION: u32 = 1;

/// argon2id cost parameters, recorded with the vault and upgradable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 4 lanes.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            passes: 3,
            lanes: 4,
        }
    }
}

impl KdfParams {
    /// The least memory accepted (OWASP's argon2id minimum, 19 MiB): below
    /// this a stolen header is too cheap to attack.
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    /// The fewest passes accepted (OWASP's argon2id minimum with 19 MiB).
    pub const MIN_PASSES: u32 = 2;
    /// The most memory accepted: more is no protection, only a way to make
    /// opening a vault (or a header someone crafted) take minutes or fail.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    pub const MAX_PASSES: u32 = 16;
    pub const MAX_LANES: u32 = 16;

    /// The cheapest parameters accepted (for tests and quick trials).
    pub const WEAKEST: KdfParams = KdfParams {
        memory_kib: Self::MIN_MEMORY_KIB,
        passes: Self::MIN_PASSES,
        lanes: 1,
    };

    pub fn validate(&self) -> Result<()> {
        if !(Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return Err(Error::invalid(
                "argon2 memory must be between 19 MiB and 1 GiB",
            ));
        }
        if !(Self::MIN_PASSES..=Self::MAX_PASSES).contains(&self.passes)
            || !(1..=Self::MAX_LANES).contains(&self.lanes)
        {
            return Err(Error::invalid(
                "argon2 passes must be between 2 and 16, and lanes between 1 and 16",
            ));
        }
        Ok(())
    }

    fn derive(&self, passphrase: &SecretString, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|err| Error::invalid(format!("invalid argon2 parameters: {err}")))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.expose().as_bytes(), salt, out.as_mut())
            .map_err(|err| Error::Storage(format!("argon2 failed: {err}")))?;
        Ok(out)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct KdfRecord {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct WrappedKey {
    algorithm: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VaultHeader {
    format: String,
    version: u32,
    pub vault_id: String,
    kdf: KdfRecord,
    wrapped_key: WrappedKey,
}

pub fn header_path(vault: &Path) -> PathBuf {
    let mut name = vault.as_os_str().to_owned();
    name.push(".header");
    PathBuf::from(name)
}

/// Where a passphrase change keeps the new header until the database is re-keyed.
pub(crate) fn next_header_path(vault: &Path) -> PathBuf {
    let mut name = header_path(vault).into_os_string();
    name.push(".next");
    PathBuf::from(name)
}

impl VaultHeader {
    /// Wraps `key` under a key derived from `passphrase` with fresh salt and nonce.
    pub fn seal(
        vault_id: &str,
        key: &VaultKey,
        passphrase: &SecretString,
        params: KdfParams,
    ) -> Result<VaultHeader> {
        params.validate()?;
        let mut salt = [0u8; 16];
        crate::random::fill(&mut salt)?;
        let mut nonce = [0u8; 24];
        crate::random::fill(&mut nonce)?;
        let kdf = KdfRecord {
            algorithm: "argon2id".into(),
            params,
            salt: hex::encode(salt),
        };
        let wrapping_key = params.derive(passphrase, &salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(wrapping_key.as_ref()));
        let aad = associated_data(vault_id, &kdf);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Storage("could not wrap the vault key".into()))?;
        Ok(VaultHeader {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            vault_id: vault_id.to_string(),
            kdf,
            wrapped_key: WrappedKey {
                algorithm: "xchacha20poly1305".into(),
                nonce: hex::encode(nonce),
                ciphertext: hex::encode(ciphertext),
            },
        })
    }

    /// Recovers the vault key; a wrong passphrase fails authentication.
    pub fn unseal(&self, passphrase: &SecretString) -> Result<VaultKey> {
        let damaged =
            |detail: &str| Error::VaultDamaged(format!("its header is unusable ({detail})"));
        let salt = hex::decode(&self.kdf.salt).map_err(|_| damaged("salt"))?;
        let nonce = hex::decode(&self.wrapped_key.nonce).map_err(|_| damaged("nonce"))?;
        let ciphertext =
            hex::decode(&self.wrapped_key.ciphertext).map_err(|_| damaged("wrapped key"))?;
        if nonce.len() != 24 || salt.len() < 16 {
            return Err(damaged("nonce or salt length"));
        }
        // Checked before deriving: a header asking for absurd work is refused, not run.
        self.kdf
            .params
            .validate()
            .map_err(|_| damaged("argon2 parameters outside the accepted range"))?;
        let wrapping_key = self.kdf.params.derive(passphrase, &salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(wrapping_key.as_ref()));
        let aad = associated_data(&self.vault_id, &self.kdf);
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| Error::WrongPassphrase)?,
        );
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| damaged("key length"))?;
        Ok(VaultKey::from_bytes(bytes))
    }

    pub fn params(&self) -> KdfParams {
        self.kdf.params
    }

    pub fn read(vault: &Path) -> Result<VaultHeader> {
        Self::read_file(&header_path(vault))
    }

    /// The header of a passphrase change that was cut short, if there is one.
    pub(crate) fn read_next(vault: &Path) -> Result<Option<VaultHeader>> {
        let path = next_header_path(vault);
        if !path.exists() {
            return Ok(None);
        }
        Self::read_file(&path).map(Some)
    }

    fn read_file(path: &Path) -> Result<VaultHeader> {
        let path = path.to_path_buf();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::VaultDamaged(format!(
                    "its header file {} is missing; a vault cannot be opened without it — restore it from a backup",
                    path.display()
                )))
            }
            Err(err) => return Err(Error::Storage(format!("cannot read {}: {err}", path.display()))),
        };
        let header: VaultHeader = serde_json::from_str(&text).map_err(|_| {
            Error::VaultDamaged(format!(
                "its header file {} is not a Keyward vault header",
                path.display()
            ))
        })?;
        if header.format != FORMAT
            || header.version != FORMAT_VERSION
            || header.kdf.algorithm != "argon2id"
        {
            return Err(Error::VaultDamaged(format!(
                "its header file {} has an unknown format or version",
                path.display()
            )));
        }
        Ok(header)
    }

    /// Replaces the header file atomically: write a temporary file, fsync,
    /// rename over the old one, fsync the directory.
    pub fn write(&self, vault: &Path) -> Result<()> {
        self.write_file(&header_path(vault))
    }

    /// Writes the header of a passphrase change beside the current one.
    pub(crate) fn write_next(&self, vault: &Path) -> Result<()> {
        self.write_file(&next_header_path(vault))
    }

    /// The next header becomes the header (one rename, then the directory synced).
    pub(crate) fn promote_next(vault: &Path) -> Result<()> {
        let (next, path) = (next_header_path(vault), header_path(vault));
        let io =
            |err: std::io::Error| Error::Storage(format!("cannot write {}: {err}", path.display()));
        fs::rename(&next, &path).map_err(io)?;
        crate::fsutil::sync_parent(&path).map_err(io)
    }

    /// Drops the header of a passphrase change that did not happen.
    pub(crate) fn discard_next(vault: &Path) -> Result<()> {
        let next = next_header_path(vault);
        match fs::remove_file(&next) {
            Ok(()) => crate::fsutil::sync_parent(&next)
                .map_err(|err| Error::Storage(format!("cannot remove {}: {err}", next.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(Error::Storage(format!(
                "cannot remove {}: {err}",
                next.display()
            ))),
        }
    }

    fn write_file(&self, path: &Path) -> Result<()> {
        let path = path.to_path_buf();
        let mut temp_name = path.as_os_str().to_owned();
        temp_name.push(".tmp");
        let temp = PathBuf::from(temp_name);
        let text =
            serde_json::to_string_pretty(self).map_err(|err| Error::Storage(err.to_string()))?;
        let io =
            |err: std::io::Error| Error::Storage(format!("cannot write {}: {err}", path.display()));
        let _ = fs::remove_file(&temp);
        let mut file = crate::fsutil::create_private(&temp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&temp, &path).map_err(io)?;
        crate::fsutil::sync_parent(&path).map_err(io)
    }
}

fn associated_data(vault_id: &str, kdf: &KdfRecord) -> String {
    format!(
        "{FORMAT}/{FORMAT_VERSION}/{vault_id}/{}/{}/{}/{}/{}",
        kdf.algorithm, kdf.params.memory_kib, kdf.params.passes, kdf.params.lanes, kdf.salt
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::WEAKEST
    }

    #[test]
    fn unseal_with_the_right_passphrase_returns_the_key() {
        let key = VaultKey::random().unwrap();
        let header = VaultHeader::seal("v1", &key, &"correct horse".into(), fast()).unwrap();
        assert_eq!(header.unseal(&"correct horse".into()).unwrap(), key);
        assert!(matches!(
            header.unseal(&"wrong horse!".into()),
            Err(Error::WrongPassphrase)
        ));
    }

    #[test]
    fn tampered_parameters_fail_like_a_wrong_passphrase() {
        let key = VaultKey::random().unwrap();
        let mut header = VaultHeader::seal("v1", &key, &"correct horse".into(), fast()).unwrap();
        header.vault_id = "v2".into();
        assert!(header.unseal(&"correct horse".into()).is_err());
    }

    #[test]
    fn parameters_outside_the_range_are_refused() {
        for params in [
            KdfParams {
                memory_kib: 8 * 1024,
                passes: 3,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 19 * 1024,
                passes: 1,
                lanes: 1,
            },
            KdfParams {
                memory_kib: 4 * 1024 * 1024,
                passes: 3,
                lanes: 4,
            },
            KdfParams {
                memory_kib: 64 * 1024,
                passes: 64,
                lanes: 4,
            },
            KdfParams {
                memory_kib: 64 * 1024,
                passes: 3,
                lanes: 0,
            },
        ] {
            let sealed = VaultHeader::seal(
                "v",
                &VaultKey::random().unwrap(),
                &"correct horse".into(),
                params,
            );
            assert!(sealed.is_err(), "{params:?}");
        }
        assert!(KdfParams::WEAKEST.validate().is_ok());
        assert!(KdfParams::default().validate().is_ok());
    }

    #[test]
    fn a_header_asking_for_absurd_work_is_refused_before_deriving() {
        let mut header = VaultHeader::seal(
            "v",
            &VaultKey::random().unwrap(),
            &"correct horse".into(),
            fast(),
        )
        .unwrap();
        // 4 GiB and 64 passes would take minutes, if the allocation did not fail first.
        header.kdf.params = KdfParams {
            memory_kib: 4 * 1024 * 1024,
            passes: 64,
            lanes: 1,
        };
        // Run, it would answer "wrong passphrase" (the parameters are in the
        // authenticated data) after minutes; refused, it says why at once.
        let refused = header.unseal(&"correct horse".into()).unwrap_err();
        assert!(matches!(refused, Error::VaultDamaged(_)), "{refused}");
        assert!(
            refused.to_string().contains("argon2 parameters"),
            "{refused}"
        );
    }
}
