//! The vault: one SQLCipher database file, opened with a raw 256-bit key that
//! the header wraps under the passphrase. Every change runs in one IMMEDIATE
//! transaction together with its audit entry; WAL with `synchronous=FULL`
//! makes a committed change survive a crash or a power loss.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use time::OffsetDateTime;

use crate::audit;
use crate::header::{header_path, KdfParams, VaultHeader};
use crate::keychain::Keychain;
use crate::last_used::LastUsedBuffer;
use crate::model::{now, VaultSummary};
use crate::secret::{SecretString, VaultKey};
use crate::{fsutil, schema, validate, Error, Result};

pub struct Vault {
    pub(crate) conn: Connection,
    path: PathBuf,
    header: VaultHeader,
    key: VaultKey,
    actor: String,
    pub(crate) last_used: LastUsedBuffer,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One change in progress: the transaction, who makes it and when.
pub(crate) struct Change<'a> {
    pub tx: &'a Transaction<'a>,
    pub actor: &'a str,
    pub now: OffsetDateTime,
}

impl Change<'_> {
    pub fn audit(&self, entry: audit::NewEntry<'_>) -> Result<()> {
        audit::append(self.tx, self.actor, self.now, entry)
    }
}

impl Vault {
    pub fn exists(path: &Path) -> bool {
        path.exists()
    }

    /// Creates a new vault at `path` (refusing to overwrite anything).
    pub fn create(path: &Path, passphrase: &SecretString, params: KdfParams) -> Result<Vault> {
        Vault::create_as(path, passphrase, params, &default_actor())
    }

    /// Creates a new vault, recording `actor` as its creator.
    pub fn create_as(
        path: &Path,
        passphrase: &SecretString,
        params: KdfParams,
        actor: &str,
    ) -> Result<Vault> {
        let actor = validate::name("actor", actor)?;
        validate::passphrase(passphrase)?;
        params.validate()?;
        for existing in [path.to_path_buf(), header_path(path)] {
            if existing.exists() {
                return Err(Error::VaultExists(existing.display().to_string()));
            }
        }
        let io = |err: std::io::Error| {
            Error::Storage(format!("cannot create {}: {err}", path.display()))
        };
        if let Some(parent) = path.parent() {
            fsutil::create_private_dir(parent).map_err(io)?;
        }
        let vault_id = uuid::Uuid::now_v7().to_string();
        let key = VaultKey::random()?;
        let header = VaultHeader::seal(&vault_id, &key, passphrase, params)?;
        fsutil::create_private(path).map_err(io)?;
        let created = (|| {
            let mut conn = connect(path, &key)?;
            schema::migrate(&mut conn)?;
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('vault_id', ?1)",
                [&vault_id],
            )?;
            header.write(path)?;
            Ok(conn)
        })();
        let conn = match created {
            Ok(conn) => conn,
            Err(err) => {
                remove_vault_files(path);
                return Err(err);
            }
        };
        let mut vault = Vault::assemble(conn, path, header, key);
        vault.actor = actor;
        vault.write(|change| {
            change.audit(audit::NewEntry::vault("vault.create", serde_json::json!({
                "kdf": { "memory_kib": params.memory_kib, "passes": params.passes, "lanes": params.lanes }
            })))
        })?;
        Ok(vault)
    }

    /// Opens the vault with the administrator's passphrase. A passphrase
    /// change that was cut short is finished (the database was re-keyed: the
    /// new header becomes the header) or undone (it was not: the new header
    /// is dropped), whichever the database says.
    pub fn open(path: &Path, passphrase: &SecretString) -> Result<Vault> {
        let header = read_header(path)?;
        let Some(next) = VaultHeader::read_next(path)? else {
            let key = header.unseal(passphrase)?;
            return Vault::open_with(path, header, key);
        };
        match header.unseal(passphrase) {
            Ok(key) => match Vault::open_with(path, header, key) {
                Ok(vault) => {
                    VaultHeader::discard_next(path)?;
                    Ok(vault)
                }
                Err(Error::VaultDamaged(_)) if next.unseal(passphrase).is_err() => {
                    Err(Error::VaultDamaged(
                        "its passphrase was being changed when Keyward stopped, and the change went through: open it with the new passphrase".into(),
                    ))
                }
                Err(err) => Err(err),
            },
            Err(Error::WrongPassphrase) => {
                let key = next.unseal(passphrase)?;
                match Vault::open_with(path, next, key) {
                    Ok(vault) => {
                        VaultHeader::promote_next(path)?;
                        Ok(vault)
                    }
                    // The change never reached the database: this passphrase never took effect.
                    Err(Error::VaultDamaged(_)) => {
                        VaultHeader::discard_next(path)?;
                        Err(Error::WrongPassphrase)
                    }
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Opens the vault with the key remembered in the OS keychain, if one is.
    pub fn open_from_keychain(path: &Path) -> Result<Option<Vault>> {
        Vault::open_with_keychain(path, &Keychain::system()?)
    }

    pub fn open_with_keychain(path: &Path, keychain: &Keychain) -> Result<Option<Vault>> {
        let header = read_header(path)?;
        let Some(key) = keychain.load(path)? else {
            return Ok(None);
        };
        match Vault::open_with(path, header, key) {
            Ok(vault) => Ok(Some(vault)),
            // A stale keychain entry (the vault was replaced): ask for the passphrase.
            Err(Error::VaultDamaged(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn open_with(path: &Path, header: VaultHeader, key: VaultKey) -> Result<Vault> {
        let conn = connect(path, &key)?;
        // An empty file would otherwise open as a brand-new database.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version == 0 {
            return Err(Error::VaultDamaged(
                "it holds no Keyward data (the file is empty or was replaced)".into(),
            ));
        }
        let mut conn = conn;
        schema::migrate(&mut conn)?;
        let stored_id: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'vault_id'",
                [],
                |row| row.get(0),
            )
            .ok();
        if stored_id.as_deref() != Some(header.vault_id.as_str()) {
            return Err(Error::VaultDamaged(format!(
                "its header {} belongs to another vault",
                header_path(path).display()
            )));
        }
        Ok(Vault::assemble(conn, path, header, key))
    }

    fn assemble(conn: Connection, path: &Path, header: VaultHeader, key: VaultKey) -> Vault {
        Vault {
            conn,
            path: path.to_path_buf(),
            header,
            key,
            actor: default_actor(),
            last_used: LastUsedBuffer::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who is recorded as "created by" and in the audit log.
    pub fn set_actor(&mut self, actor: &str) -> Result<()> {
        self.actor = validate::name("actor", actor)?;
        Ok(())
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn kdf_params(&self) -> KdfParams {
        self.header.params()
    }

    pub fn summary(&self) -> Result<VaultSummary> {
        let (accounts, keys) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM api_keys)",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )?;
        Ok(VaultSummary {
            accounts: accounts as u64,
            keys: keys as u64,
        })
    }

    /// Where `text` is stored: the `(table, column)` of every cell, in every
    /// row of every table (the audit log included), whose decrypted content
    /// holds it — a blob read as UTF-8 and as hex. For inspection only: the
    /// leak tests ask it for keys, tokens and secrets; the app never calls it.
    pub fn cells_holding(&self, text: &str) -> Result<Vec<(String, String)>> {
        use rusqlite::types::ValueRef;
        let tables: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut cells = Vec::new();
        for table in tables {
            let mut statement = self.conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
            let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                for (index, column) in columns.iter().enumerate() {
                    let holds = match row.get_ref(index)? {
                        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).contains(text),
                        ValueRef::Blob(bytes) => {
                            String::from_utf8_lossy(bytes).contains(text)
                                || hex::encode(bytes).contains(&text.to_lowercase())
                        }
                        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => false,
                    };
                    if holds {
                        cells.push((table.clone(), column.clone()));
                    }
                }
            }
        }
        Ok(cells)
    }

    /// Checks a passphrase against the header without changing anything
    /// (used before revealing a secret).
    pub fn check_passphrase(&self, passphrase: &SecretString) -> Result<()> {
        let key = self.header.unseal(passphrase)?;
        if key != self.key {
            return Err(Error::WrongPassphrase);
        }
        Ok(())
    }

    /// Changes the passphrase (with `params`, which upgrades old KDF
    /// parameters) and re-keys the database with a new vault key, so an old
    /// header and the old passphrase no longer open it. Crash-safe at every
    /// step: the new header is written beside the current one, the database
    /// re-keyed in one transaction, then the new header renamed over the old;
    /// [`Vault::open`] finishes or undoes a change cut short. Refused while
    /// another connection (the desktop app, another command) has the vault
    /// open: it would go on with the old key.
    pub fn change_passphrase(
        &mut self,
        old: &SecretString,
        new: &SecretString,
        params: KdfParams,
    ) -> Result<()> {
        self.check_passphrase(old)?;
        validate::passphrase(new)?;
        let key = VaultKey::random()?;
        let header = VaultHeader::seal(&self.header.vault_id, &key, new, params)?;
        self.flush_last_used()?;
        header.write_next(&self.path)?;
        if let Err(err) = self.rekey(&key) {
            // The database keeps its key: the new header must not stay beside it.
            let _ = VaultHeader::discard_next(&self.path);
            return Err(err);
        }
        VaultHeader::promote_next(&self.path)?;
        self.key = key;
        self.header = header;
        self.write(|change| {
            change.audit(audit::NewEntry::vault("passphrase.change", serde_json::json!({
                "kdf": { "memory_kib": params.memory_kib, "passes": params.passes, "lanes": params.lanes },
                "rekeyed": true
            })))
        })
    }

    /// Re-encrypts every page with `key` in one transaction. SQLCipher 4
    /// re-keys only outside WAL, and switching out of WAL needs the database
    /// to itself: the rollback journal of that transaction makes the re-key
    /// all or nothing; WAL comes back after it.
    fn rekey(&mut self, key: &VaultKey) -> Result<()> {
        let busy = || {
            Error::Refused(
                "the vault is open in another Keyward window or command: close it, then change the passphrase".into(),
            )
        };
        self.conn.busy_timeout(Duration::from_millis(500))?;
        let mode: rusqlite::Result<String> =
            self.conn
                .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0));
        let result = match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("delete") => {
                let statement = zeroize::Zeroizing::new(format!(
                    "PRAGMA rekey = \"{}\";",
                    key.pragma_literal().as_str()
                ));
                self.conn.execute_batch(&statement).map_err(Error::from)
            }
            Ok(_) => Err(busy()),
            Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                Err(busy())
            }
            Err(err) => Err(err.into()),
        };
        let wal: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        self.conn.busy_timeout(Duration::from_secs(10))?;
        if !wal.eq_ignore_ascii_case("wal") {
            return Err(Error::Storage(format!(
                "could not switch the vault back to WAL (got {wal})"
            )));
        }
        result
    }

    /// Remembers the vault key in `keychain` so the vault opens without the passphrase.
    pub fn remember_in(&mut self, keychain: &Keychain) -> Result<()> {
        keychain.store(&self.path, &self.key)?;
        self.write(|change| {
            change.audit(audit::NewEntry::vault(
                "keychain.remember",
                serde_json::json!({}),
            ))
        })
    }

    /// After a passphrase change: if `keychain` remembers this vault (its old
    /// key), remember the current key instead. True when it did.
    pub fn renew_in(&mut self, keychain: &Keychain) -> Result<bool> {
        if keychain.load(&self.path)?.is_none() {
            return Ok(false);
        }
        self.remember_in(keychain)?;
        Ok(true)
    }

    /// Forgets the vault key in `keychain`; true when one was remembered.
    pub fn forget_in(&mut self, keychain: &Keychain) -> Result<bool> {
        let forgotten = keychain.forget(&self.path)?;
        if forgotten {
            self.write(|change| {
                change.audit(audit::NewEntry::vault(
                    "keychain.forget",
                    serde_json::json!({}),
                ))
            })?;
        }
        Ok(forgotten)
    }

    /// Runs `action` in one IMMEDIATE transaction (so read-then-write checks
    /// such as the key limit cannot race another process) and commits it.
    pub(crate) fn write<T>(&mut self, action: impl FnOnce(&Change<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let change = Change {
            tx: &tx,
            actor: &self.actor,
            now: now(),
        };
        let out = action(&change)?;
        tx.commit()?;
        Ok(out)
    }

    /// An empty durable commit: the floor any change costs (benchmarks compare against it).
    pub fn commit_nothing(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('touched', '1')",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        // Coalesced last-used times reach the disk at the latest when the vault closes.
        let _ = self.flush_last_used();
    }
}

fn read_header(path: &Path) -> Result<VaultHeader> {
    match std::fs::metadata(path) {
        Err(_) => return Err(Error::VaultMissing(path.display().to_string())),
        Ok(meta) if meta.len() == 0 => {
            return Err(Error::VaultDamaged(
                "the file is empty (it may have been truncated)".into(),
            ))
        }
        Ok(_) => {}
    }
    VaultHeader::read(path)
}

fn remove_vault_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".header"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Opens the SQLCipher database with the raw key and sets the durability pragmas.
fn connect(path: &Path, key: &VaultKey) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // No HMAC noise on stderr, and SQLCipher wipes the memory it frees.
    conn.execute_batch("PRAGMA cipher_log_level = NONE; PRAGMA cipher_memory_security = ON;")?;
    let statement = zeroize::Zeroizing::new(format!(
        "PRAGMA key = \"{}\";",
        key.pragma_literal().as_str()
    ));
    conn.execute_batch(&statement)?;
    // The first read is where SQLCipher finds out whether the key fits.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .map_err(|err| match Error::from(err) {
        Error::VaultDamaged(_) => Error::VaultDamaged(
            "it cannot be read with its key (it may be truncated, replaced or not a Keyward vault)"
                .into(),
        ),
        other => other,
    })?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(format!(
            "could not switch the vault to WAL (got {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// The OS user name, the default actor.
fn default_actor() -> String {
    validate::name("actor", &whoami::username()).unwrap_or_else(|_| "unknown".to_string())
}

/// The vault path: `$KEYWARD_VAULT` if set, else `keyward/vault.db` in the
/// platform data directory (on Linux `~/.local/share/keyward/vault.db`).
pub fn default_vault_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("KEYWARD_VAULT").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    dirs::data_dir()
        .map(|dir| dir.join("keyward").join("vault.db"))
        .ok_or_else(|| {
            Error::VaultMissing("(this system has no data directory to keep it in)".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_is_wal_with_synchronous_full_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let params = KdfParams::WEAKEST;
        let vault =
            Vault::create(&dir.path().join("v.db"), &"correct horse".into(), params).unwrap();
        let pragma = |name: &str| -> i64 {
            vault
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        let mode: String = vault
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        assert_eq!(pragma("user_version"), schema::latest_version());
    }
}
