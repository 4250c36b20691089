//! The embedded store: one plain SQLite file (WAL, `synchronous=FULL`), one
//! writer connection and a few readers, so verifications and pulls read while
//! a push writes.
//!
//! Revisions come from one counter in `meta`, bumped inside the write
//! transaction; SQLite has a single writer, so revisions commit in order and a
//! pull never sees revision n+1 before n.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use keyward_model::key_format::Verifier as CoreVerifier;
use keyward_model::wire::{
    AuditHead, Change, ChangeAction, ChangeResult, Conflict, Entity, GroupFields, GroupRecord,
    KeyFields, KeyRecord, Outcome, PullResponse, PulledChange, PulledRecord, Verifier,
};
use keyward_model::{validate, AccessType, KeyStatus, Scope};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::patch::{self, GroupInfo, GroupRow, KeyRow, Lookup, Notice, RecordMeta};
use super::{
    from_millis, to_millis, AccountId, KeyGrant, Result, Store, StoreError, SyncClient, TokenInfo,
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

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
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

impl SqliteStore {
    /// Opens (creating owner-only if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
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
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take a free reader if there is one, else wait for the next in turn.
        for offset in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + offset) % self.readers.len()].try_lock() {
                return work(&conn);
            }
        }
        let conn = self.readers[start % self.readers.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        work(&conn)
    }

    /// Runs `work` in one IMMEDIATE transaction, committed only if it succeeds.
    fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

fn next_revision(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx
        .prepare_cached(
            "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value",
        )?
        .query_row([], |row| row.get(0))?)
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
fn owner(tx: &Transaction<'_>, table: &str, id: &str) -> Result<Option<(String, bool)>> {
    let sql = format!("SELECT account_id, deleted FROM {table} WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// `Some(true)` when live, `Some(false)` when a tombstone, `None` when new;
/// an id of another account is a conflict.
fn existing(
    tx: &Transaction<'_>,
    change: &Change,
    table: &str,
    what: &str,
    account: &AccountId,
) -> Result<Option<bool>> {
    let id = change.action.id().to_string();
    match owner(tx, table, &id)? {
        None => Ok(None),
        Some((holder, _)) if holder != account.0 => Err(StoreError::Conflict(format!(
            "change {}: {what} {id} belongs to another account",
            change.idempotency_id
        ))),
        Some((_, deleted)) => Ok(Some(!deleted)),
    }
}

fn load_meta(tx: &Transaction<'_>, table: &str, id: &str) -> Result<RecordMeta> {
    let text: String = tx
        .prepare_cached(&format!("SELECT field_meta FROM {table} WHERE id = ?1"))?
        .query_row([id], |row| row.get(0))?;
    RecordMeta::parse(&text)
}

/// What a patch looks up in the write transaction: names in use, live groups.
struct TxLookup<'a, 't> {
    tx: &'a Transaction<'t>,
    account: &'a AccountId,
    table: &'static str,
    id: &'a str,
}

impl Lookup for TxLookup<'_, '_> {
    fn name_taken(&mut self, name: &str) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE account_id = ?1 AND deleted = 0 AND name_fold = ?2 AND id <> ?3 LIMIT 1",
            self.table
        );
        Ok(self
            .tx
            .prepare_cached(&sql)?
            .query_row(
                params![self.account.0, validate::fold(name), self.id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>> {
        let mut statement = self.tx.prepare_cached(
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
}

/// The result of one change: its outcome, the fields that merged, and the
/// values the merges overrode for other desktops.
struct Applied {
    outcome: Outcome,
    conflicts: Vec<Conflict>,
    notices: Vec<Notice>,
}

impl Applied {
    /// The change is now part of the record.
    fn changed(conflicts: Vec<Conflict>, notices: Vec<Notice>) -> Applied {
        Applied {
            outcome: Outcome::Applied,
            conflicts,
            notices,
        }
    }

    /// Nothing changed in the record, so nothing was overridden.
    fn already_deleted(conflict: Option<Conflict>) -> Applied {
        Applied {
            outcome: Outcome::AlreadyDeleted,
            conflicts: conflict.into_iter().collect(),
            notices: Vec::new(),
        }
    }
}

/// An edit of a record deleted before: nothing changes, and the edit is
/// reported as a conflict when another desktop's delete dropped it.
fn edit_of_deleted(
    tx: &Transaction<'_>,
    change: &Change,
    table: &str,
    named: &[&'static str],
) -> Result<Applied> {
    let tombstone = load_meta(tx, table, &change.action.id().to_string())?;
    let conflict = patch::edit_of_deleted(change, &tombstone, named);
    Ok(Applied::already_deleted(conflict))
}

fn apply_group_upsert(
    tx: &Transaction<'_>,
    account: &AccountId,
    change: &Change,
    fields: &GroupFields,
) -> Result<Applied> {
    let id = change.action.id().to_string();
    let current = match existing(tx, change, "groups", "group", account)? {
        Some(false) => {
            return edit_of_deleted(tx, change, "groups", &patch::group_fields_named(fields));
        }
        Some(true) => Some(tx.query_row(
            "SELECT name, description, scopes, field_meta FROM groups WHERE id = ?1",
            [&id],
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
        )?),
        None => None,
    };
    let current = match current {
        Some((row, meta)) => Some((row, RecordMeta::parse(&meta)?)),
        None => None,
    };
    let revision = next_revision(tx)?;
    let mut lookup = TxLookup {
        tx,
        account,
        table: "groups",
        id: &id,
    };
    let patched = patch::patch_group(change, fields, current, revision as u64, &mut lookup)?;
    let row = &patched.row;
    tx.prepare_cached(
        "INSERT INTO groups (id, account_id, revision, name, description, scopes, updated_at, name_fold, field_meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, scopes = ?6,
             updated_at = max(updated_at, ?7), name_fold = ?8, field_meta = ?9",
    )?
    .execute(params![
        id,
        account.0,
        revision,
        row.name,
        row.description,
        scopes_column(&row.scopes),
        to_millis(change.at),
        validate::fold(&row.name),
        patched.meta.to_text()?
    ])?;
    Ok(Applied::changed(patched.conflicts, patched.notices))
}

fn apply_delete(tx: &Transaction<'_>, account: &AccountId, change: &Change) -> Result<Applied> {
    let (table, what) = match change.action.entity() {
        Entity::Group => ("groups", "group"),
        Entity::Key => ("keys", "key"),
    };
    let id = change.action.id().to_string();
    let (meta, name) = match existing(tx, change, table, what, account)? {
        Some(false) => return Ok(Applied::already_deleted(None)),
        Some(true) => {
            let name: String = tx
                .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))?
                .query_row([&id], |row| row.get(0))?;
            (load_meta(tx, table, &id)?, Some(name))
        }
        None => (RecordMeta::default(), None),
    };
    let revision = next_revision(tx)?;
    let deletion = patch::delete(change, &meta, name, revision as u64);
    let at = to_millis(change.at);
    // A delete of a record never seen still leaves a tombstone: deleted beats
    // an edit that arrives later.
    tx.prepare_cached(&format!("INSERT OR IGNORE INTO {table} (id, account_id, revision, deleted, updated_at) VALUES (?1, ?2, ?3, 1, ?4)"))?
        .execute(params![id, account.0, revision, at])?;
    let clear = match change.action.entity() {
        Entity::Group => "name = NULL, description = NULL, scopes = NULL",
        Entity::Key => {
            tx.prepare_cached("DELETE FROM key_groups WHERE key_id = ?1")?
                .execute([&id])?;
            "name = NULL, description = NULL, access = NULL, allow_unbind = NULL, status = NULL, hint = NULL,
             verifier = NULL, created_at = NULL, created_by = NULL, last_used_at = NULL, expires_at = NULL"
        }
    };
    tx.prepare_cached(&format!(
        "UPDATE {table} SET deleted = 1, revision = ?2, updated_at = max(updated_at, ?3), name_fold = NULL,
             field_meta = ?4, {clear} WHERE id = ?1"
    ))?
    .execute(params![id, revision, at, deletion.tombstone.to_text()?])?;
    Ok(Applied::changed(
        deletion.conflict.into_iter().collect(),
        deletion.notices,
    ))
}

fn load_key(tx: &Transaction<'_>, id: &str) -> Result<(KeyRow, RecordMeta)> {
    let row = tx.query_row(
        "SELECT name, description, access, allow_unbind, status, hint, verifier, created_at, created_by, expires_at,
                field_meta
         FROM keys WHERE id = ?1",
        [id],
        |row| {
            Ok((
                (
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, String>(4)?,
                ),
                (
                    row.get::<_, String>(5)?,
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
        (name, description, access, allow_unbind, status),
        (hint, verifier, created_at, created_by, expires_at, meta),
    ) = row;
    let groups = tx
        .prepare_cached("SELECT group_id FROM key_groups WHERE key_id = ?1")?
        .query_map([id], |row| row.get::<_, String>(0))?
        .map(|group| parse_uuid(&group?))
        .collect::<Result<BTreeSet<Uuid>>>()?;
    let row = KeyRow {
        name,
        description,
        access: parse_access(&access)?,
        allow_unbind,
        groups,
        status: parse_status(&status),
        hint,
        verifier,
        created_at,
        created_by,
        expires_at,
    };
    Ok((row, RecordMeta::parse(&meta)?))
}

fn apply_key_upsert(
    tx: &Transaction<'_>,
    account: &AccountId,
    change: &Change,
    fields: &KeyFields,
) -> Result<Applied> {
    let id = change.action.id().to_string();
    let current = match existing(tx, change, "keys", "key", account)? {
        Some(false) => {
            return edit_of_deleted(tx, change, "keys", &patch::key_fields_named(fields));
        }
        Some(true) => Some(load_key(tx, &id)?),
        None => None,
    };
    let old_groups = current.as_ref().map(|(row, _)| row.groups.clone());
    let revision = next_revision(tx)?;
    let mut lookup = TxLookup {
        tx,
        account,
        table: "keys",
        id: &id,
    };
    let patched = patch::patch_key(change, fields, current, revision as u64, &mut lookup)?;
    let row = &patched.row;
    let taken: Option<String> = tx
        .prepare_cached("SELECT id FROM keys WHERE verifier = ?1 AND id <> ?2")?
        .query_row(params![row.verifier, id], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "change {}: another key record already has this verifier",
            change.idempotency_id
        )));
    }
    tx.prepare_cached(
        "INSERT INTO keys (id, account_id, revision, name, description, access, allow_unbind, status, hint, verifier,
                           created_at, created_by, updated_at, expires_at, name_fold, field_meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, access = ?6, allow_unbind = ?7,
             status = ?8, hint = ?9, created_at = ?11, created_by = ?12, updated_at = max(updated_at, ?13),
             expires_at = ?14, name_fold = ?15, field_meta = ?16",
    )?
    .execute(params![
        id,
        account.0,
        revision,
        row.name,
        row.description,
        row.access.as_str(),
        row.allow_unbind,
        row.status.as_str(),
        row.hint,
        row.verifier,
        row.created_at,
        row.created_by,
        to_millis(change.at),
        row.expires_at,
        validate::fold(&row.name),
        patched.meta.to_text()?
    ])?;
    if old_groups.as_ref() != Some(&row.groups) {
        tx.prepare_cached("DELETE FROM key_groups WHERE key_id = ?1")?
            .execute([&id])?;
        let mut link =
            tx.prepare_cached("INSERT INTO key_groups (key_id, group_id) VALUES (?1, ?2)")?;
        for group in &row.groups {
            link.execute(params![id, group.to_string()])?;
        }
    }
    Ok(Applied::changed(patched.conflicts, patched.notices))
}

fn apply(tx: &Transaction<'_>, account: &AccountId, change: &Change) -> Result<ChangeResult> {
    let applied = match &change.action {
        ChangeAction::UpsertGroup { fields, .. } => {
            apply_group_upsert(tx, account, change, fields)?
        }
        ChangeAction::UpsertKey { fields, .. } => apply_key_upsert(tx, account, change, fields)?,
        ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => {
            apply_delete(tx, account, change)?
        }
    };
    let revision = match applied.outcome {
        Outcome::Applied => Some(tx.query_row(
            "SELECT value FROM meta WHERE name = 'revision'",
            [],
            |row| row.get::<_, i64>(0),
        )?),
        Outcome::AlreadyDeleted | Outcome::Refused => None,
    };
    if let Some(revision) = revision {
        store_notices(tx, account, revision, &applied.notices)?;
    }
    Ok(ChangeResult {
        idempotency_id: change.idempotency_id,
        outcome: applied.outcome,
        revision: revision.map(|revision| revision as u64),
        reason: None,
        conflicts: applied.conflicts,
    })
}

/// Keeps the notices of a change applied as `revision` (the record's new
/// revision) for their desktops' pulls.
fn store_notices(
    tx: &Transaction<'_>,
    account: &AccountId,
    revision: i64,
    notices: &[Notice],
) -> Result<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO conflict_notices (account_id, origin, revision, conflict) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for notice in notices {
        let conflict = serde_json::to_string(&notice.conflict)
            .map_err(|err| StoreError::Storage(err.to_string()))?;
        insert.execute(params![
            account.0,
            notice.origin.to_string(),
            revision,
            conflict
        ])?;
    }
    Ok(())
}

/// The notices for `origin` with `since < revision <= cursor`, in revision order.
fn pull_notices(
    conn: &Connection,
    account: &AccountId,
    origin: Uuid,
    since: i64,
    cursor: i64,
) -> Result<Vec<Conflict>> {
    let mut statement = conn.prepare_cached(
        "SELECT conflict FROM conflict_notices
         WHERE account_id = ?1 AND origin = ?2 AND revision > ?3 AND revision <= ?4
         ORDER BY revision, seq",
    )?;
    let texts = statement
        .query_map(
            params![account.0, origin.to_string(), since, cursor],
            |row| row.get::<_, String>(0),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    texts
        .iter()
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|err| StoreError::Storage(format!("unreadable conflict notice: {err}")))
        })
        .collect()
}

/// What identifies a change's content, so a reused idempotency id with
/// different content is caught rather than silently answered. The origin is
/// the token's, not the content's: left out.
fn fingerprint(change: &Change) -> Result<Vec<u8>> {
    let content = Change {
        origin: Uuid::nil(),
        ..change.clone()
    };
    let bytes = serde_json::to_vec(&content).map_err(|err| StoreError::Storage(err.to_string()))?;
    Ok(Sha256::digest(bytes).to_vec())
}

fn push_one(tx: &Transaction<'_>, account: &AccountId, change: &Change) -> Result<ChangeResult> {
    let id = change.idempotency_id.to_string();
    let print = fingerprint(change)?;
    let earlier: Option<(String, Vec<u8>, String)> = tx
        .prepare_cached(
            "SELECT account_id, fingerprint, result FROM applied_changes WHERE idempotency_id = ?1",
        )?
        .query_row([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    if let Some((holder, earlier_print, result)) = earlier {
        if holder != account.0 || earlier_print != print {
            return Err(StoreError::Conflict(format!(
                "idempotency id {id} was already used for a different change: give every change its own id"
            )));
        }
        return serde_json::from_str(&result)
            .map_err(|err| StoreError::Storage(format!("stored result of {id}: {err}")));
    }
    let result = apply(tx, account, change)?;
    let stored =
        serde_json::to_string(&result).map_err(|err| StoreError::Storage(err.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO applied_changes (idempotency_id, account_id, fingerprint, result, applied_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, account.0, print, stored, to_millis(OffsetDateTime::now_utc())])?;
    Ok(result)
}

/// One change of a push in a savepoint of its own: a change a rule refuses
/// changes nothing and is answered `refused` with the reason, and the rest of
/// the push goes on without it. A refusal by the rules of the records is kept
/// with the idempotency id like any result; one by what the request
/// contradicts (an id reused, another account's record) is not.
fn push_or_refuse(
    tx: &Transaction<'_>,
    account: &AccountId,
    change: &Change,
) -> Result<ChangeResult> {
    tx.execute_batch("SAVEPOINT change")?;
    match push_one(tx, account, change) {
        Ok(result) => {
            tx.execute_batch("RELEASE change")?;
            Ok(result)
        }
        Err(err @ (StoreError::Invalid(_) | StoreError::Conflict(_))) => {
            tx.execute_batch("ROLLBACK TO change; RELEASE change")?;
            let result = ChangeResult {
                idempotency_id: change.idempotency_id,
                outcome: Outcome::Refused,
                revision: None,
                reason: Some(err.to_string()),
                conflicts: Vec::new(),
            };
            if matches!(err, StoreError::Invalid(_)) {
                let stored = serde_json::to_string(&result)
                    .map_err(|err| StoreError::Storage(err.to_string()))?;
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO applied_changes (idempotency_id, account_id, fingerprint, result, applied_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    change.idempotency_id.to_string(),
                    account.0,
                    fingerprint(change)?,
                    stored,
                    to_millis(OffsetDateTime::now_utc())
                ])?;
            }
            Ok(result)
        }
        Err(err) => Err(err),
    }
}

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

impl Store for SqliteStore {
    fn key_by_verifier(&self, verifier: &CoreVerifier) -> Result<Option<KeyGrant>> {
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

    fn record_last_used(&self, uses: &HashMap<String, OffsetDateTime>) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut update = tx.prepare_cached(
                "UPDATE keys SET last_used_at = ?2, revision = (SELECT value + 1 FROM meta WHERE name = 'revision')
                 WHERE id = ?1 AND deleted = 0 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?;
            let mut bump = tx.prepare_cached("UPDATE meta SET value = value + 1 WHERE name = 'revision'")?;
            for (id, at) in uses {
                if update.execute(params![id, to_millis(*at)])? == 1 {
                    bump.execute([])?;
                }
            }
            Ok(())
        })
    }

    fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>> {
        self.read(|conn| {
            let found: Option<(String, String)> = conn
                .prepare_cached(
                    "SELECT account_id, id FROM sync_tokens WHERE hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([token_hash.as_slice()], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
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
    }

    fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT seq, hash FROM audit_heads WHERE token_id = ?1")?
                .query_row([client.origin.to_string()], |row| {
                    Ok(AuditHead {
                        seq: row.get::<_, i64>(0)? as u64,
                        hash: row.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead> {
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO audit_heads (token_id, seq, hash, recorded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (token_id) DO UPDATE SET seq = ?2, hash = ?3, recorded_at = ?4 WHERE ?2 > seq",
            )?
            .execute(params![client.origin.to_string(), head.seq as i64, head.hash, now])?;
            Ok(tx
                .prepare_cached("SELECT seq, hash FROM audit_heads WHERE token_id = ?1")?
                .query_row([client.origin.to_string()], |row| {
                    Ok(AuditHead {
                        seq: row.get::<_, i64>(0)? as u64,
                        hash: row.get(1)?,
                    })
                })?)
        })
    }

    fn push(&self, client: &SyncClient, changes: &[Change]) -> Result<Vec<ChangeResult>> {
        self.write(|tx| {
            changes
                .iter()
                .map(|change| {
                    // The desktop is the token's, whatever the change claims.
                    let change = Change {
                        origin: client.origin,
                        ..change.clone()
                    };
                    push_or_refuse(tx, &client.account, &change)
                })
                .collect()
        })
    }

    fn pull(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullResponse> {
        let (account, origin) = (&client.account, client.origin);
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let fetch = limit as i64 + 1;
        self.read(|conn| {
            // One snapshot for all three tables (read-only: dropping it just ends it).
            let snapshot = conn.unchecked_transaction()?;
            let groups = pull_groups(&snapshot, account, since, fetch)?;
            let keys = pull_keys(&snapshot, account, since, fetch)?;
            let mut changes: Vec<PulledChange> = groups.into_iter().chain(keys).collect();
            changes.sort_by_key(|change| change.revision);
            let more = changes.len() > limit;
            changes.truncate(limit);
            let cursor = changes
                .last()
                .map_or(since as u64, |change| change.revision);
            let conflicts = if cursor > since as u64 {
                pull_notices(&snapshot, account, origin, since, cursor as i64)?
            } else {
                Vec::new()
            };
            drop(snapshot);
            Ok(PullResponse {
                changes,
                cursor,
                more,
                conflicts,
            })
        })
    }

    fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo> {
        let name = validate::name("account", account_name)
            .map_err(|err| StoreError::Invalid(err.to_string()))?;
        let label = match label.trim() {
            "" => String::new(),
            text => validate::name("token label", text)
                .map_err(|err| StoreError::Invalid(err.to_string()))?,
        };
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(|tx| {
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
                params![id, account_id, token_hash.as_slice(), hint, now, label],
            )?;
            Ok(tx.query_row(&format!("{TOKEN_COLUMNS} WHERE t.id = ?1"), [&id], token_info)?)
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(|conn| {
            let mut statement =
                conn.prepare(&format!("{TOKEN_COLUMNS} ORDER BY t.created_at, t.id"))?;
            let tokens = statement
                .query_map([], token_info)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(tokens)
        })
    }

    fn revoke_token(&self, id: &str) -> Result<TokenInfo> {
        let now = to_millis(OffsetDateTime::now_utc());
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE sync_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id.trim(), now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!(
                    "no sync token with id {:?} — see `keyward-server token list`",
                    id.trim()
                )));
            }
            Ok(tx.query_row(
                &format!("{TOKEN_COLUMNS} WHERE t.id = ?1"),
                [id.trim()],
                token_info,
            )?)
        })
    }

    fn check(&self) -> Result<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_model::key_format;
    use keyward_model::wire::{Change, ChangeAction, KeyFields, KeyPermissions};

    fn read_only() -> KeyPermissions {
        KeyPermissions {
            access: AccessType::Read,
            allow_unbind: false,
            groups: BTreeSet::new(),
        }
    }

    fn store_with_key() -> (tempfile::TempDir, SqliteStore, SyncClient, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        store
            .create_token("Acme", "desk", &[9; 32], "kwsync_x…y")
            .unwrap();
        let account = store.client_by_token(&[9; 32]).unwrap().unwrap();
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
        store.push(&account, &[change]).unwrap();
        (dir, store, account, id.to_string())
    }

    #[test]
    fn last_used_only_moves_forward_and_takes_a_revision_only_when_it_moves() {
        let (_dir, store, account, id) = store_with_key();
        let head = |store: &SqliteStore| store.pull(&account, 0, 100).unwrap().cursor;
        let at = OffsetDateTime::now_utc();
        let before = head(&store);
        store
            .record_last_used(&HashMap::from([(id.clone(), at)]))
            .unwrap();
        let after_use = head(&store);
        assert_eq!(after_use, before + 1);
        store
            .record_last_used(&HashMap::from([(
                id.clone(),
                at - time::Duration::hours(1),
            )]))
            .unwrap();
        store
            .record_last_used(&HashMap::from([(id.clone(), at)]))
            .unwrap();
        assert_eq!(
            head(&store),
            after_use,
            "an older or equal time changes nothing"
        );
        let pulled = store.pull(&account, 0, 100).unwrap();
        assert_eq!(
            match &pulled.changes[0].record {
                PulledRecord::Key(key) => key.last_used_at,
                other => panic!("{other:?}"),
            },
            Some(from_millis(to_millis(at)))
        );
        store
            .record_last_used(&HashMap::from([("no-such-key".to_string(), at)]))
            .unwrap();
        assert_eq!(head(&store), after_use);
    }

    #[test]
    fn a_deleted_key_keeps_no_verifier() {
        let (_dir, store, account, id) = store_with_key();
        let delete = Change {
            idempotency_id: Uuid::now_v7(),
            origin: Uuid::nil(),
            base_revision: 0,
            at: OffsetDateTime::now_utc(),
            action: ChangeAction::DeleteKey {
                id: Uuid::parse_str(&id).unwrap(),
            },
        };
        store.push(&account, &[delete]).unwrap();
        let kept: i64 = store
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

    #[test]
    fn a_schema_1_database_gets_field_metadata_and_folded_names() {
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
            .unwrap();
        let account = store.client_by_token(&[9; 32]).unwrap().unwrap();
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
            .unwrap();
        assert_eq!(results[0].conflicts[0].kept, "KIOSK ä (2)");
        assert!(results[1].conflicts.is_empty());
    }
}
