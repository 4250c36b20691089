//! The embedded backend: one plain SQLite file (WAL, `synchronous=FULL`), one
//! writer connection and a few readers, so verifications and pulls read while
//! a push writes. SQLite has a single writer: a push's IMMEDIATE transaction
//! is the account's write lock, and revisions commit in order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use keyward_model::wire::{
    AuditHead, Conflict, Entity, GroupRecord, KeyRecord, PulledChange, PulledRecord, Verifier,
};
use keyward_model::{validate, AccessType, KeyStatus, Scope};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use time::OffsetDateTime;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::backend::{Applied, Backend, PullRows, WriteTx};
use super::patch::{GroupInfo, GroupRow, KeyRow, Notice, RecordMeta};
use super::{
    from_millis, to_millis, AccountId, Engine, KeyGrant, PoolStatus, Result, StoreError,
    SyncClient, TokenInfo,
};

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO meta (name, value) VALUES ('revision', 0);
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_fold TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    ) STRICT;
    -- Only the SHA-256 of a token is kept; the token is shown once at creation.
    CREATE TABLE sync_tokens (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        hash BLOB NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    -- A deleted record stays as a tombstone (deleted = 1, fields NULL), so a
    -- late edit cannot bring it back and a pull can report the delete.
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        revision INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        name TEXT,
        description TEXT,
        scopes TEXT,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX groups_by_revision ON groups (account_id, revision);
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        revision INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        name TEXT,
        description TEXT,
        access TEXT,
        allow_unbind INTEGER,
        status TEXT,
        hint TEXT,
        verifier BLOB UNIQUE,
        created_at INTEGER,
        created_by TEXT,
        updated_at INTEGER NOT NULL,
        last_used_at INTEGER,
        expires_at INTEGER
    ) STRICT;
    CREATE INDEX keys_by_revision ON keys (account_id, revision);
    -- Group ids need not exist (yet): an unknown or deleted group grants nothing.
    CREATE TABLE key_groups (
        key_id TEXT NOT NULL REFERENCES keys(id),
        group_id TEXT NOT NULL,
        PRIMARY KEY (key_id, group_id)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE applied_changes (
        idempotency_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        fingerprint BLOB NOT NULL,
        result TEXT NOT NULL,
        applied_at INTEGER NOT NULL
    ) STRICT;
"#,
    r#"
    -- Per tracked field, who last set it (store/patch.rs, FieldMeta): a change
    -- that had not seen another desktop's edit of a field merges with it.
    ALTER TABLE groups ADD COLUMN field_meta TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE keys ADD COLUMN field_meta TEXT NOT NULL DEFAULT '{}';
    -- Names are unique per account among live records of an entity, ignoring
    -- case (validate::fold, filled in by `fold_names` below).
    ALTER TABLE groups ADD COLUMN name_fold TEXT;
    ALTER TABLE keys ADD COLUMN name_fold TEXT;
    CREATE INDEX groups_by_name ON groups (account_id, name_fold) WHERE deleted = 0;
    CREATE INDEX keys_by_name ON keys (account_id, name_fold) WHERE deleted = 0;
"#,
    r#"
    -- A merge that overrode a value the desktop `origin` had pushed
    -- (store/patch.rs, Notice), for that desktop's pulls. `revision` is the
    -- record's revision in the change that merged, so the notice falls in the
    -- pull range (since, cursor] that brings the merged record; `seq` keeps
    -- the order within one revision. Written with the change, never on a replay.
    CREATE TABLE conflict_notices (
        seq INTEGER PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        origin TEXT NOT NULL,
        revision INTEGER NOT NULL,
        conflict TEXT NOT NULL
    ) STRICT;
    CREATE INDEX conflict_notices_by_origin ON conflict_notices (account_id, origin, revision);
"#,
    r#"
    -- One token per desktop: its label says which, and its id is the origin of
    -- the desktop's changes (the server's word, not the desktop's).
    ALTER TABLE sync_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
    -- The highest audit head each desktop (token) has shown.
    CREATE TABLE audit_heads (
        token_id TEXT PRIMARY KEY REFERENCES sync_tokens(id),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    ) STRICT;
"#,
    r#"
    -- Revisions per account, as the PostgreSQL backend hands them out: the
    -- account's row is its write lock. Each starts at the global counter, so
    -- every cursor a desktop holds stays valid.
    ALTER TABLE accounts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    UPDATE accounts SET revision = (SELECT value FROM meta WHERE name = 'revision');
    -- The last-used time a key's revision last carried: a busy key takes a new
    -- revision only when its time moved on by more than a few minutes.
    ALTER TABLE keys ADD COLUMN last_used_published INTEGER;
    UPDATE keys SET last_used_published = last_used_at;
"#,
];

/// Migration 2's folded names, written by the same rule as new records get
/// (`validate::fold`; SQLite's `lower` only folds ASCII).
fn fold_names(tx: &Transaction<'_>) -> Result<()> {
    for table in ["groups", "keys"] {
        let names = tx
            .prepare(&format!("SELECT id, name FROM {table} WHERE deleted = 0"))?
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut update = tx.prepare(&format!("UPDATE {table} SET name_fold = ?2 WHERE id = ?1"))?;
        for (id, name) in names {
            update.execute(params![id, validate::fold(&name)])?;
        }
    }
    Ok(())
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|err| StoreError::Storage(format!("cannot open {}: {err}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A vault (SQLCipher) or any other file fails here, before anything is written.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|err| {
            StoreError::Storage(format!(
                "{} is not a keyward-server database: {err}",
                path.display()
            ))
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Storage(format!(
            "{}: cannot switch to WAL (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

fn create_owner_only(path: &Path) -> Result<()> {
    let io = |err: std::io::Error| {
        StoreError::Storage(format!("cannot create {}: {err}", path.display()))
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
    }
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io(err)),
        }
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let tables: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if version == 0 && tables > 0 {
        return Err(StoreError::Storage(
            "the database file holds other tables: it is not a keyward-server database — pass another --db".into(),
        ));
    }
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Storage(format!(
            "the database is of a newer keyward-server (schema {version}): upgrade keyward-server"
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration)?;
        if index + 1 == 2 {
            fold_names(&tx)?;
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// The schema version this build knows (`PRAGMA user_version`).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// keyward-server on SQLite: the [`Engine`] over [`SqliteBackend`].
pub type SqliteStore = Engine<SqliteBackend>;

pub struct SqliteBackend {
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Arc<Readers>,
    /// Held while serving: one instance per file (see [`SqliteStore::open_to_serve`]).
    _serving: Option<std::fs::File>,
}

/// A few read-only connections, taken in turn.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // Take a free reader if there is one, else wait for the next in turn.
        for offset in 0..self.conns.len() {
            if let Ok(conn) = self.conns[(start + offset) % self.conns.len()].try_lock() {
                return work(&conn);
            }
        }
        let conn = self.conns[start % self.conns.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        work(&conn)
    }
}

impl Engine<SqliteBackend> {
    /// Opens (creating owner-only if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_with(path, None)
    }

    /// Opens the database to serve it, holding an exclusive lock on the file
    /// until the store is dropped: this instance then makes every commit
    /// (and may keep grants in memory); a second instance on the same file
    /// is refused. `token` and `migrate` commands still open it meanwhile.
    pub fn open_to_serve(path: &Path) -> Result<SqliteStore> {
        create_owner_only(path)?;
        let file = std::fs::File::open(path)
            .map_err(|err| StoreError::Storage(format!("cannot open {}: {err}", path.display())))?;
        if let Err(err) = file.try_lock() {
            return Err(match err {
                std::fs::TryLockError::WouldBlock => StoreError::Conflict(format!(
                    "another keyward-server is serving {}: one instance per SQLite database (several instances share a PostgreSQL database, see docs/server.md)",
                    path.display()
                )),
                std::fs::TryLockError::Error(err) => StoreError::Storage(format!(
                    "cannot lock {}: {err}",
                    path.display()
                )),
            });
        }
        Self::open_with(path, Some(file))
    }

    fn open_with(path: &Path, serving: Option<std::fs::File>) -> Result<SqliteStore> {
        create_owner_only(path)?;
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        let count = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let readers = (0..count)
            .map(|_| {
                let conn = connect(path)?;
                conn.execute_batch("PRAGMA query_only = ON;")?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>>>()?;
        // The instance serving the file makes every commit that can change
        // a grant (`token` and `migrate` commands change none).
        Ok(Engine::new(
            SqliteBackend {
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers: Arc::new(Readers {
                    conns: readers,
                    next: AtomicUsize::new(0),
                }),
                _serving: serving,
            },
            true,
        ))
    }
}

impl SqliteBackend {
    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.readers.read(work)
    }

    /// Runs `work` in one IMMEDIATE transaction on the blocking pool,
    /// committed only if it succeeds.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.blocking_lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|err| StoreError::Storage(format!("a write stopped: {err}")))?
    }

    /// Runs a read on the blocking pool.
    async fn read_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.read(work))
            .await
            .map_err(|err| StoreError::Storage(format!("a read stopped: {err}")))?
    }
}

fn table(entity: Entity) -> &'static str {
    match entity {
        Entity::Group => "groups",
        Entity::Key => "keys",
    }
}

/// One push: the writer connection, in an IMMEDIATE transaction until `commit`.
pub struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    account: AccountId,
    open: bool,
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl SqliteTx {
    fn key_groups(&self, id: &str) -> Result<BTreeSet<Uuid>> {
        self.conn
            .prepare_cached("SELECT group_id FROM key_groups WHERE key_id = ?1")?
            .query_map([id], |row| row.get::<_, String>(0))?
            .map(|group| parse_uuid(&group?))
            .collect()
    }
}

#[async_trait]
impl WriteTx for SqliteTx {
    async fn applied(&mut self, idempotency_id: &Uuid) -> Result<Option<Applied>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT account_id, fingerprint, result FROM applied_changes WHERE idempotency_id = ?1",
            )?
            .query_row([idempotency_id.to_string()], |row| {
                Ok(Applied {
                    account: row.get(0)?,
                    fingerprint: row.get(1)?,
                    result: row.get(2)?,
                })
            })
            .optional()?)
    }

    async fn record_applied(&mut self, idempotency_id: &Uuid, applied: &Applied) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO applied_changes (idempotency_id, account_id, fingerprint, result, applied_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                idempotency_id.to_string(),
                applied.account,
                applied.fingerprint,
                applied.result,
                to_millis(OffsetDateTime::now_utc())
            ])?;
        Ok(())
    }

    async fn next_revision(&mut self) -> Result<u64> {
        let revision: i64 = self
            .conn
            .prepare_cached(
                "UPDATE accounts SET revision = revision + 1 WHERE id = ?1 RETURNING revision",
            )?
            .query_row([&self.account.0], |row| row.get(0))?;
        Ok(revision as u64)
    }

    async fn owner(&mut self, entity: Entity, id: &Uuid) -> Result<Option<(String, bool)>> {
        let sql = format!(
            "SELECT account_id, deleted FROM {} WHERE id = ?1",
            table(entity)
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    async fn load_key(&mut self, id: &Uuid) -> Result<(KeyRow, RecordMeta)> {
        let id = id.to_string();
        let (row, meta) = self.conn.query_row(
            "SELECT name, description, access, allow_unbind, status, hint, verifier, created_at, created_by,
                    expires_at, field_meta
             FROM keys WHERE id = ?1",
            [&id],
            |row| {
                Ok((
                    (
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, bool>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                    ),
                    (
                        row.get::<_, Vec<u8>>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, String>(8)?,
                        row.get::<_, Option<i64>>(9)?,
                        row.get::<_, String>(10)?,
                    ),
                ))
            },
        )?;
        let (
            (name, description, access, allow_unbind, status, hint),
            (verifier, created_at, created_by, expires_at, meta),
        ) = (row, meta);
        let row = KeyRow {
            name,
            description,
            access: parse_access(&access)?,
            allow_unbind,
            groups: self.key_groups(&id)?,
            status: parse_status(&status),
            hint,
            verifier,
            created_at,
            created_by,
            expires_at,
        };
        Ok((row, RecordMeta::parse(&meta)?))
    }

    async fn load_group(&mut self, id: &Uuid) -> Result<(GroupRow, RecordMeta)> {
        let (row, meta) = self.conn.query_row(
            "SELECT name, description, scopes, field_meta FROM groups WHERE id = ?1",
            [id.to_string()],
            |row| {
                Ok((
                    GroupRow {
                        name: row.get(0)?,
                        description: row.get(1)?,
                        scopes: parse_scopes(&row.get::<_, String>(2)?),
                    },
                    row.get::<_, String>(3)?,
                ))
            },
        )?;
        Ok((row, RecordMeta::parse(&meta)?))
    }

    async fn load_meta(&mut self, entity: Entity, id: &Uuid) -> Result<RecordMeta> {
        let sql = format!("SELECT field_meta FROM {} WHERE id = ?1", table(entity));
        let text: String = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.to_string()], |row| row.get(0))?;
        RecordMeta::parse(&text)
    }

    async fn name_of(&mut self, entity: Entity, id: &Uuid) -> Result<String> {
        let sql = format!("SELECT name FROM {} WHERE id = ?1", table(entity));
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.to_string()], |row| row.get(0))?)
    }

    async fn write_key(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &KeyRow,
        meta: &RecordMeta,
        at: i64,
        groups_changed: bool,
    ) -> Result<()> {
        let id = id.to_string();
        self.conn
            .prepare_cached(
                "INSERT INTO keys (id, account_id, revision, name, description, access, allow_unbind, status, hint, verifier,
                                   created_at, created_by, updated_at, expires_at, name_fold, field_meta)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, access = ?6, allow_unbind = ?7,
                     status = ?8, hint = ?9, created_at = ?11, created_by = ?12, updated_at = max(updated_at, ?13),
                     expires_at = ?14, name_fold = ?15, field_meta = ?16",
            )?
            .execute(params![
                id,
                self.account.0,
                revision as i64,
                row.name,
                row.description,
                row.access.as_str(),
                row.allow_unbind,
                row.status.as_str(),
                row.hint,
                row.verifier,
                row.created_at,
                row.created_by,
                at,
                row.expires_at,
                validate::fold(&row.name),
                meta.to_text()?
            ])?;
        if groups_changed {
            self.conn
                .prepare_cached("DELETE FROM key_groups WHERE key_id = ?1")?
                .execute([&id])?;
            let mut link = self
                .conn
                .prepare_cached("INSERT INTO key_groups (key_id, group_id) VALUES (?1, ?2)")?;
            for group in &row.groups {
                link.execute(params![id, group.to_string()])?;
            }
        }
        Ok(())
    }

    async fn write_group(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &GroupRow,
        meta: &RecordMeta,
        at: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO groups (id, account_id, revision, name, description, scopes, updated_at, name_fold, field_meta)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, scopes = ?6,
                     updated_at = max(updated_at, ?7), name_fold = ?8, field_meta = ?9",
            )?
            .execute(params![
                id.to_string(),
                self.account.0,
                revision as i64,
                row.name,
                row.description,
                scopes_column(&row.scopes),
                at,
                validate::fold(&row.name),
                meta.to_text()?
            ])?;
        Ok(())
    }

    async fn write_tombstone(
        &mut self,
        entity: Entity,
        id: &Uuid,
        revision: u64,
        at: i64,
        meta: &RecordMeta,
    ) -> Result<()> {
        let (table, id) = (table(entity), id.to_string());
        self.conn
            .prepare_cached(&format!(
                "INSERT OR IGNORE INTO {table} (id, account_id, revision, deleted, updated_at) VALUES (?1, ?2, ?3, 1, ?4)"
            ))?
            .execute(params![id, self.account.0, revision as i64, at])?;
        let clear = match entity {
            Entity::Group => "name = NULL, description = NULL, scopes = NULL",
            Entity::Key => {
                self.conn
                    .prepare_cached("DELETE FROM key_groups WHERE key_id = ?1")?
                    .execute([&id])?;
                "name = NULL, description = NULL, access = NULL, allow_unbind = NULL, status = NULL, hint = NULL,
                 verifier = NULL, created_at = NULL, created_by = NULL, last_used_at = NULL, expires_at = NULL"
            }
        };
        self.conn
            .prepare_cached(&format!(
                "UPDATE {table} SET deleted = 1, revision = ?2, updated_at = max(updated_at, ?3), name_fold = NULL,
                     field_meta = ?4, {clear} WHERE id = ?1"
            ))?
            .execute(params![id, revision as i64, at, meta.to_text()?])?;
        Ok(())
    }

    async fn verifier_taken(&mut self, verifier: &[u8], except: &Uuid) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM keys WHERE verifier = ?1 AND id <> ?2")?
            .exists(params![verifier, except.to_string()])?)
    }

    async fn name_taken(&mut self, entity: Entity, name_fold: &str, except: &Uuid) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE account_id = ?1 AND deleted = 0 AND name_fold = ?2 AND id <> ?3 LIMIT 1",
            table(entity)
        );
        Ok(self.conn.prepare_cached(&sql)?.exists(params![
            self.account.0,
            name_fold,
            except.to_string()
        ])?)
    }

    async fn live_groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT name, scopes FROM groups WHERE id = ?1 AND account_id = ?2 AND deleted = 0",
        )?;
        let mut groups = BTreeMap::new();
        for id in ids {
            let found = statement
                .query_row(params![id.to_string(), self.account.0], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .optional()?;
            if let Some((name, scopes)) = found {
                groups.insert(
                    *id,
                    GroupInfo {
                        name,
                        scopes: parse_scopes(&scopes),
                    },
                );
            }
        }
        Ok(groups)
    }

    async fn write_notices(&mut self, revision: u64, notices: &[Notice]) -> Result<()> {
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO conflict_notices (account_id, origin, revision, conflict) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for notice in notices {
            let conflict = serde_json::to_string(&notice.conflict)
                .map_err(|err| StoreError::Storage(err.to_string()))?;
            insert.execute(params![
                self.account.0,
                notice.origin.to_string(),
                revision as i64,
                conflict
            ])?;
        }
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("SAVEPOINT change")?)
    }

    async fn release_savepoint(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("RELEASE change")?)
    }

    async fn rollback_to_savepoint(&mut self) -> Result<()> {
        Ok(self
            .conn
            .execute_batch("ROLLBACK TO change; RELEASE change")?)
    }

    async fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

/// The notices for `origin` with `since < revision <= upto`, in revision order.
fn pull_notices(
    conn: &Connection,
    account: &AccountId,
    origin: Uuid,
    since: i64,
    upto: i64,
) -> Result<Vec<(u64, Conflict)>> {
    let mut statement = conn.prepare_cached(
        "SELECT revision, conflict FROM conflict_notices
         WHERE account_id = ?1 AND origin = ?2 AND revision > ?3 AND revision <= ?4
         ORDER BY revision, seq",
    )?;
    let rows = statement
        .query_map(params![account.0, origin.to_string(), since, upto], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(revision, text)| {
            let conflict = serde_json::from_str(&text)
                .map_err(|err| StoreError::Storage(format!("unreadable conflict notice: {err}")))?;
            Ok((revision as u64, conflict))
        })
        .collect()
}

fn audit_head_of(conn: &Connection, token_id: &str) -> Result<Option<AuditHead>> {
    Ok(conn
        .prepare_cached("SELECT seq, hash FROM audit_heads WHERE token_id = ?1")?
        .query_row([token_id], |row| {
            Ok(AuditHead {
                seq: row.get::<_, i64>(0)? as u64,
                hash: row.get(1)?,
            })
        })
        .optional()?)
}

#[async_trait]
impl Backend for SqliteBackend {
    type Tx = SqliteTx;
    const BLOCKING: bool = true;

    async fn begin(&self, account: &AccountId) -> Result<SqliteTx> {
        let conn = Arc::clone(&self.writer).lock_owned().await;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTx {
            conn,
            account: account.clone(),
            open: true,
        })
    }

    async fn key_by_verifier(&self, verifier: &[u8; 32]) -> Result<Option<KeyGrant>> {
        // One lookup by a unique index on a pooled reader (tens of µs): done
        // here rather than hopping to the blocking pool, which would cost more.
        self.read(|conn| {
            let found = conn
                .prepare_cached(
                    "SELECT id, account_id, status, expires_at, access, allow_unbind FROM keys
                     WHERE verifier = ?1 AND deleted = 0",
                )?
                .query_row([verifier.as_slice()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, bool>(5)?,
                    ))
                })
                .optional()?;
            let Some((id, account_id, status, expires_at, access, allow_unbind)) = found else {
                return Ok(None);
            };
            let mut statement = conn.prepare_cached(
                "SELECT g.scopes FROM key_groups kg
                 LEFT JOIN groups g ON g.id = kg.group_id AND g.account_id = ?2 AND g.deleted = 0
                 WHERE kg.key_id = ?1",
            )?;
            let mut rows = statement.query(params![id, account_id])?;
            let mut scopes: Option<BTreeSet<Scope>> = None;
            while let Some(row) = rows.next()? {
                let set = scopes.get_or_insert_with(BTreeSet::new);
                if let Some(text) = row.get::<_, Option<String>>(0)? {
                    set.extend(parse_scopes(&text));
                }
            }
            Ok(Some(KeyGrant {
                id,
                active: status == "active",
                expires_at: expires_at.map(from_millis),
                access: parse_access(&access)?,
                allow_unbind,
                scopes,
            }))
        })
    }

    async fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>> {
        let hash = *token_hash;
        self.read_blocking(move |conn| {
            let found: Option<(String, String)> = conn
                .prepare_cached(
                    "SELECT account_id, id FROM sync_tokens WHERE hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([hash.as_slice()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            found
                .map(|(account, token)| {
                    Ok(SyncClient {
                        account: AccountId(account),
                        origin: parse_uuid(&token)?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn pull_rows(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullRows> {
        let client = client.clone();
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let fetch = i64::from(limit) + 1;
        self.read_blocking(move |conn| {
            // One snapshot for all three tables (read-only: dropping it just ends it).
            let snapshot = conn.unchecked_transaction()?;
            let mut changes = pull_groups(&snapshot, &client.account, since, fetch)?;
            changes.extend(pull_keys(&snapshot, &client.account, since, fetch)?);
            let upto = changes
                .iter()
                .map(|c| c.revision as i64)
                .max()
                .unwrap_or(since);
            let notices = pull_notices(&snapshot, &client.account, client.origin, since, upto)?;
            drop(snapshot);
            Ok(PullRows { changes, notices })
        })
        .await
    }

    async fn record_last_used(
        &self,
        uses: &HashMap<String, OffsetDateTime>,
        publish_after_ms: i64,
    ) -> Result<()> {
        let uses = uses.clone();
        self.write(move |tx| {
            let mut current = tx.prepare_cached(
                "SELECT account_id, last_used_at, last_used_published FROM keys WHERE id = ?1 AND deleted = 0",
            )?;
            let mut bump = tx.prepare_cached(
                "UPDATE accounts SET revision = revision + 1 WHERE id = ?1 RETURNING revision",
            )?;
            let mut publish = tx.prepare_cached(
                "UPDATE keys SET last_used_at = ?2, last_used_published = ?2, revision = ?3 WHERE id = ?1",
            )?;
            let mut quietly = tx.prepare_cached("UPDATE keys SET last_used_at = ?2 WHERE id = ?1")?;
            for (id, at) in &uses {
                let at = to_millis(*at);
                let Some((account, last, published)) = current
                    .query_row([id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?, row.get::<_, Option<i64>>(2)?))
                    })
                    .optional()?
                else {
                    continue;
                };
                if last.is_some_and(|last| last >= at) {
                    continue;
                }
                if published.is_none_or(|published| at - published > publish_after_ms) {
                    let revision: i64 = bump.query_row([&account], |row| row.get(0))?;
                    publish.execute(params![id, at, revision])?;
                } else {
                    quietly.execute(params![id, at])?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>> {
        let token = client.origin.to_string();
        self.read_blocking(move |conn| audit_head_of(conn, &token))
            .await
    }

    async fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead> {
        let (token, head) = (client.origin.to_string(), head.clone());
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO audit_heads (token_id, seq, hash, recorded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (token_id) DO UPDATE SET seq = ?2, hash = ?3, recorded_at = ?4 WHERE ?2 > seq",
            )?
            .execute(params![token, head.seq as i64, head.hash, now])?;
            audit_head_of(tx, &token)?
                .ok_or_else(|| StoreError::Storage("the audit head was not kept".into()))
        })
        .await
    }

    async fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo> {
        let (name, label) = super::token_names(account_name, label)?;
        let (hash, hint) = (*token_hash, hint.to_string());
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(move |tx| {
            let fold = validate::fold(&name);
            let account_id: Option<String> = tx
                .query_row("SELECT id FROM accounts WHERE name_fold = ?1", [&fold], |row| row.get(0))
                .optional()?;
            let account_id = match account_id {
                Some(id) => id,
                None => {
                    let id = Uuid::now_v7().to_string();
                    tx.execute(
                        "INSERT INTO accounts (id, name, name_fold, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![id, name, fold, now],
                    )?;
                    id
                }
            };
            let id = Uuid::now_v7().to_string();
            tx.execute(
                "INSERT INTO sync_tokens (id, account_id, hash, hint, created_at, label) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, account_id, hash.as_slice(), hint, now, label],
            )?;
            Ok(tx.query_row(&format!("{TOKEN_COLUMNS} WHERE t.id = ?1"), [&id], token_info)?)
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read_blocking(|conn| {
            let mut statement =
                conn.prepare(&format!("{TOKEN_COLUMNS} ORDER BY t.created_at, t.id"))?;
            let tokens = statement
                .query_map([], token_info)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(tokens)
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenInfo> {
        let id = id.trim().to_string();
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE sync_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            if changed == 0 {
                return Err(super::unknown_token(&id));
            }
            Ok(tx.query_row(
                &format!("{TOKEN_COLUMNS} WHERE t.id = ?1"),
                [&id],
                token_info,
            )?)
        })
        .await
    }

    async fn check(&self) -> Result<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    fn pool_status(&self) -> PoolStatus {
        let busy = self
            .readers
            .conns
            .iter()
            .filter(|reader| reader.try_lock().is_err())
            .count();
        let writing = usize::from(self.writer.try_lock().is_err());
        PoolStatus {
            size: self.readers.conns.len() + 1,
            in_use: busy + writing,
        }
    }
}

fn parse_scopes(text: &str) -> BTreeSet<Scope> {
    // Scopes were validated on the way in; an unreadable one grants nothing.
    text.split_whitespace()
        .filter_map(|scope| scope.parse().ok())
        .collect()
}

/// How the `scopes` column holds a set: space-separated, sorted.
fn scopes_column(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|scope| scope.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|_| StoreError::Storage(format!("unreadable id {text:?} in the database")))
}

fn parse_access(text: &str) -> Result<AccessType> {
    text.parse().map_err(|_| {
        StoreError::Storage(format!("unreadable access type {text:?} in the database"))
    })
}

fn parse_status(text: &str) -> KeyStatus {
    if text == "active" {
        KeyStatus::Active
    } else {
        KeyStatus::Inactive
    }
}

/// Which account holds a record, and whether it is a tombstone.
fn pull_groups(
    conn: &Connection,
    account: &AccountId,
    since: i64,
    limit: i64,
) -> Result<Vec<PulledChange>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, revision, deleted, name, description, scopes, updated_at FROM groups
         WHERE account_id = ?1 AND revision > ?2 ORDER BY revision LIMIT ?3",
    )?;
    let mut rows = statement.query(params![account.0, since, limit])?;
    let mut changes = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let deleted: bool = row.get(2)?;
        let record = if deleted {
            PulledRecord::GroupDeleted
        } else {
            PulledRecord::Group(GroupRecord {
                name: row.get(3)?,
                description: row.get(4)?,
                scopes: parse_scopes(&row.get::<_, String>(5)?)
                    .into_iter()
                    .collect(),
                updated_at: from_millis(row.get(6)?),
            })
        };
        changes.push(PulledChange {
            revision: row.get::<_, i64>(1)? as u64,
            id: parse_uuid(&id)?,
            record,
        });
    }
    Ok(changes)
}

fn pull_keys(
    conn: &Connection,
    account: &AccountId,
    since: i64,
    limit: i64,
) -> Result<Vec<PulledChange>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, revision, deleted, name, description, access, allow_unbind, status, hint, verifier, created_at,
                created_by, updated_at, last_used_at, expires_at,
                (SELECT group_concat(group_id, ' ') FROM (SELECT group_id FROM key_groups WHERE key_id = k.id ORDER BY group_id))
         FROM keys k WHERE account_id = ?1 AND revision > ?2 ORDER BY revision LIMIT ?3",
    )?;
    let mut rows = statement.query(params![account.0, since, limit])?;
    let mut changes = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let deleted: bool = row.get(2)?;
        let record = if deleted {
            PulledRecord::KeyDeleted
        } else {
            let verifier: Vec<u8> = row.get(9)?;
            let groups: Option<String> = row.get(15)?;
            PulledRecord::Key(Box::new(KeyRecord {
                name: row.get(3)?,
                description: row.get(4)?,
                access: parse_access(&row.get::<_, String>(5)?)?,
                allow_unbind: row.get(6)?,
                status: if row.get::<_, String>(7)? == "active" {
                    KeyStatus::Active
                } else {
                    KeyStatus::Inactive
                },
                hint: row.get(8)?,
                verifier: Verifier(verifier.try_into().map_err(|_| {
                    StoreError::Storage("a stored verifier is not 32 bytes".into())
                })?),
                created_at: from_millis(row.get(10)?),
                created_by: row.get(11)?,
                updated_at: from_millis(row.get(12)?),
                last_used_at: row.get::<_, Option<i64>>(13)?.map(from_millis),
                expires_at: row.get::<_, Option<i64>>(14)?.map(from_millis),
                groups: groups
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(parse_uuid)
                    .collect::<Result<_>>()?,
            }))
        };
        changes.push(PulledChange {
            revision: row.get::<_, i64>(1)? as u64,
            id: parse_uuid(&id)?,
            record,
        });
    }
    Ok(changes)
}

fn token_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.get(0)?,
        account: row.get(1)?,
        hint: row.get(2)?,
        created_at: from_millis(row.get(3)?),
        revoked_at: row.get::<_, Option<i64>>(4)?.map(from_millis),
        label: row.get(5)?,
    })
}

const TOKEN_COLUMNS: &str = "SELECT t.id, a.name, t.hint, t.created_at, t.revoked_at, t.label FROM sync_tokens t JOIN accounts a ON a.id = t.account_id";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use keyward_model::key_format;
    use keyward_model::wire::{Change, ChangeAction, KeyFields, KeyPermissions};

    fn read_only() -> KeyPermissions {
        KeyPermissions {
            access: AccessType::Read,
            allow_unbind: false,
            groups: BTreeSet::new(),
        }
    }

    async fn store_with_key() -> (tempfile::TempDir, SqliteStore, SyncClient, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        store
            .create_token("Acme", "desk", &[9; 32], "kwsync_x…y")
            .await
            .unwrap();
        let account = store.client_by_token(&[9; 32]).await.unwrap().unwrap();
        let id = Uuid::now_v7();
        let key = key_format::generate("kw").unwrap();
        let fields = KeyFields {
            name: Some("kiosk".into()),
            permissions: Some(read_only()),
            verifier: Some(Verifier(key.verifier)),
            hint: Some(key.hint),
            ..KeyFields::default()
        };
        let change = Change {
            idempotency_id: Uuid::now_v7(),
            origin: Uuid::nil(),
            base_revision: 0,
            at: OffsetDateTime::now_utc(),
            action: ChangeAction::UpsertKey {
                id,
                fields: Box::new(fields),
            },
        };
        store.push(&account, &[change]).await.unwrap();
        (dir, store, account, id.to_string())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn last_used_only_moves_forward_and_takes_a_revision_only_when_it_moved_far() {
        let (_dir, store, account, id) = store_with_key().await;
        let head = async |store: &SqliteStore| store.pull(&account, 0, 100).await.unwrap().cursor;
        let at = OffsetDateTime::now_utc();
        let before = head(&store).await;
        let used = async |at: OffsetDateTime| {
            store
                .record_last_used(&HashMap::from([(id.clone(), at)]))
                .await
                .unwrap()
        };
        used(at).await;
        let after_use = head(&store).await;
        assert_eq!(after_use, before + 1, "a first use is published");
        used(at - time::Duration::hours(1)).await;
        used(at).await;
        assert_eq!(
            head(&store).await,
            after_use,
            "an older or equal time changes nothing"
        );
        used(at + time::Duration::minutes(1)).await;
        assert_eq!(
            head(&store).await,
            after_use,
            "a busy key is not handed out again for every use"
        );
        let pulled = store.pull(&account, 0, 100).await.unwrap();
        assert_eq!(
            match &pulled.changes[0].record {
                PulledRecord::Key(key) => key.last_used_at,
                other => panic!("{other:?}"),
            },
            Some(from_millis(to_millis(at + time::Duration::minutes(1)))),
            "but its record holds the latest time"
        );
        used(at + time::Duration::minutes(10)).await;
        assert_eq!(
            head(&store).await,
            after_use + 1,
            "a time that moved far is published"
        );
        let pulled = store.pull(&account, 0, 100).await.unwrap();
        assert_eq!(
            match &pulled.changes[0].record {
                PulledRecord::Key(key) => key.last_used_at,
                other => panic!("{other:?}"),
            },
            Some(from_millis(to_millis(at + time::Duration::minutes(10))))
        );
        store
            .record_last_used(&HashMap::from([("no-such-key".to_string(), at)]))
            .await
            .unwrap();
        assert_eq!(head(&store).await, after_use + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deleted_key_keeps_no_verifier() {
        let (_dir, store, account, id) = store_with_key().await;
        let delete = Change {
            idempotency_id: Uuid::now_v7(),
            origin: Uuid::nil(),
            base_revision: 0,
            at: OffsetDateTime::now_utc(),
            action: ChangeAction::DeleteKey {
                id: Uuid::parse_str(&id).unwrap(),
            },
        };
        store.push(&account, &[delete]).await.unwrap();
        let kept: i64 = store
            .backend()
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM keys WHERE verifier IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(kept, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_1_database_gets_field_metadata_and_folded_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let old = Uuid::now_v7();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(&format!(
                "UPDATE meta SET value = 1 WHERE name = 'revision';
                 INSERT INTO accounts (id, name, name_fold, created_at) VALUES ('acme', 'Acme', 'acme', 0);
                 INSERT INTO keys (id, account_id, revision, name, access, allow_unbind, status, hint, verifier,
                                   created_at, created_by, updated_at)
                 VALUES ('{old}', 'acme', 1, 'Kiosk Ä', 'READ', 0, 'active', 'kw_x…y', x'{}', 0, 'test', 0);",
                "07".repeat(32)
            ))
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let (fold, meta): (String, String) = store
            .backend()
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT name_fold, field_meta FROM keys WHERE id = ?1",
                    [old.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!((fold.as_str(), meta.as_str()), ("kiosk ä", "{}"));

        store
            .create_token("Acme", "desk", &[9; 32], "kwsync_x…y")
            .await
            .unwrap();
        let account = store.client_by_token(&[9; 32]).await.unwrap().unwrap();
        assert_eq!(account.account.0, "acme");
        let key = key_format::generate("kw").unwrap();
        let change = |action| Change {
            idempotency_id: Uuid::now_v7(),
            origin: Uuid::now_v7(),
            base_revision: 0,
            at: OffsetDateTime::now_utc(),
            action,
        };
        let results = store
            .push(
                &account,
                &[
                    change(ChangeAction::UpsertKey {
                        id: Uuid::now_v7(),
                        fields: Box::new(KeyFields {
                            name: Some("KIOSK ä".into()),
                            permissions: Some(read_only()),
                            verifier: Some(Verifier(key.verifier)),
                            hint: Some(key.hint),
                            ..KeyFields::default()
                        }),
                    }),
                    // Nobody is known to have changed the old record's fields: no conflict.
                    change(ChangeAction::UpsertKey {
                        id: old,
                        fields: Box::new(KeyFields {
                            status: Some(KeyStatus::Inactive),
                            ..KeyFields::default()
                        }),
                    }),
                ],
            )
            .await
            .unwrap();
        assert_eq!(results[0].conflicts[0].kept, "KIOSK ä (2)");
        assert!(results[1].conflicts.is_empty());
    }
}
