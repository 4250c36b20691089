//! The embedded store: one plain SQLite file (WAL, `synchronous=FULL`), one
//! writer connection and a few readers, so verifications and pulls read while
//! a push writes.
//!
//! Revisions come from one counter in `meta`, bumped inside the write
//! transaction; SQLite has a single writer, so revisions commit in order and a
//! pull never sees revision n+1 before n.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use keyward_core::key_format::{self, Verifier as CoreVerifier};
use keyward_core::{access, validate, AccessType, KeyStatus, Scope};
use keyward_sync::{
    Change, ChangeAction, ChangeResult, Entity, GroupFields, GroupRecord, KeyFields, KeyRecord, Op,
    Outcome, PullResponse, PulledChange, Verifier,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{from_millis, to_millis, AccountId, KeyGrant, Result, Store, StoreError, TokenInfo};

const MIGRATIONS: &[&str] = &[r#"
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
"#];

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

fn scopes_text(scopes: &[Scope]) -> String {
    let set: BTreeSet<&Scope> = scopes.iter().collect();
    set.iter()
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

fn invalid(change: &Change, message: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("change {}: {message}", change.idempotency_id))
}

/// Refuses text that holds something shaped like a full key, so a key pasted
/// into a name or a hint by mistake never reaches the database.
fn refuse_key_like(change: &Change, field: &str, text: &str) -> Result<()> {
    if text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .any(|word| key_format::check(word).is_ok())
    {
        return Err(invalid(
            change,
            format!("the {field} holds what looks like a full key: it was not stored"),
        ));
    }
    Ok(())
}

fn checked_text(change: &Change, field: &str, text: &str, max_chars: usize) -> Result<String> {
    let text = text.trim();
    if text.chars().count() > max_chars || text.chars().any(char::is_control) {
        return Err(invalid(
            change,
            format!(
                "the {field} must be at most {max_chars} characters, without control characters"
            ),
        ));
    }
    refuse_key_like(change, field, text)?;
    Ok(text.to_string())
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

struct GroupRow {
    name: String,
    description: String,
    scopes: String,
}

fn apply_group_upsert(
    tx: &Transaction<'_>,
    account: &AccountId,
    change: &Change,
    fields: &GroupFields,
) -> Result<Outcome> {
    let id = change.action.id().to_string();
    let current = match existing(tx, change, "groups", "group", account)? {
        Some(false) => return Ok(Outcome::AlreadyDeleted),
        Some(true) => Some(tx.query_row(
            "SELECT name, description, scopes FROM groups WHERE id = ?1",
            [&id],
            |row| {
                Ok(GroupRow {
                    name: row.get(0)?,
                    description: row.get(1)?,
                    scopes: row.get(2)?,
                })
            },
        )?),
        None => None,
    };
    let name = match (&fields.name, &current) {
        (Some(name), _) => validate::name("group", name).map_err(|err| invalid(change, err))?,
        (None, Some(row)) => row.name.clone(),
        (None, None) => return Err(invalid(change, "a new group needs a name")),
    };
    refuse_key_like(change, "group name", &name)?;
    let description = match (&fields.description, &current) {
        (Some(text), _) => validate::description(Some(text))
            .map_err(|err| invalid(change, err))?
            .unwrap_or_default(),
        (None, Some(row)) => row.description.clone(),
        (None, None) => String::new(),
    };
    refuse_key_like(change, "group description", &description)?;
    let scopes = match (&fields.scopes, &current) {
        (Some(scopes), _) => scopes_text(scopes),
        (None, Some(row)) => row.scopes.clone(),
        (None, None) => String::new(),
    };
    let revision = next_revision(tx)?;
    let at = to_millis(change.at);
    tx.prepare_cached(
        "INSERT INTO groups (id, account_id, revision, name, description, scopes, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, scopes = ?6,
             updated_at = max(updated_at, ?7)",
    )?
    .execute(params![
        id,
        account.0,
        revision,
        name,
        description,
        scopes,
        at
    ])?;
    Ok(Outcome::Applied)
}

fn apply_delete(tx: &Transaction<'_>, account: &AccountId, change: &Change) -> Result<Outcome> {
    let (table, what) = match change.action.entity() {
        Entity::Group => ("groups", "group"),
        Entity::Key => ("keys", "key"),
    };
    let id = change.action.id().to_string();
    if existing(tx, change, table, what, account)? == Some(false) {
        return Ok(Outcome::AlreadyDeleted);
    }
    let revision = next_revision(tx)?;
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
        "UPDATE {table} SET deleted = 1, revision = ?2, updated_at = max(updated_at, ?3), {clear} WHERE id = ?1"
    ))?
    .execute(params![id, revision, at])?;
    Ok(Outcome::Applied)
}

struct KeyRow {
    name: String,
    description: Option<String>,
    access: AccessType,
    allow_unbind: bool,
    status: KeyStatus,
    hint: String,
    verifier: Vec<u8>,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
}

fn load_key(tx: &Transaction<'_>, id: &str) -> Result<KeyRow> {
    let row = tx.query_row(
        "SELECT name, description, access, allow_unbind, status, hint, verifier, created_at, created_by, expires_at
         FROM keys WHERE id = ?1",
        [id],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, bool>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Vec<u8>>(6)?,
                row.get::<_, i64>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, Option<i64>>(9)?,
            ))
        },
    )?;
    let (
        name,
        description,
        access,
        allow_unbind,
        status,
        hint,
        verifier,
        created_at,
        created_by,
        expires_at,
    ) = row;
    Ok(KeyRow {
        name,
        description,
        access: parse_access(&access)?,
        allow_unbind,
        status: if status == "active" {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        },
        hint,
        verifier,
        created_at,
        created_by,
        expires_at,
    })
}

/// Merges a patch into the current record (or makes a new one) and checks the
/// result by keyward-core's rules.
fn patched_key(change: &Change, fields: &KeyFields, current: Option<KeyRow>) -> Result<KeyRow> {
    let required = |what: &str| invalid(change, format!("a new key needs `{what}`"));
    let mut row = match current {
        Some(row) => {
            if let Some(verifier) = &fields.verifier {
                if verifier.0.as_slice() != row.verifier.as_slice() {
                    return Err(invalid(
                        change,
                        "a key's verifier never changes: a new key is a new record with a new id",
                    ));
                }
            }
            row
        }
        None => KeyRow {
            name: fields.name.clone().ok_or_else(|| required("name"))?,
            description: None,
            access: fields.access.ok_or_else(|| required("access"))?,
            allow_unbind: false,
            status: KeyStatus::Active,
            hint: fields.hint.clone().ok_or_else(|| required("hint"))?,
            verifier: fields
                .verifier
                .ok_or_else(|| required("verifier"))?
                .0
                .to_vec(),
            created_at: to_millis(fields.created_at.unwrap_or(change.at)),
            created_by: String::new(),
            expires_at: None,
        },
    };
    if let Some(name) = &fields.name {
        row.name = name.clone();
    }
    row.name = validate::name("key", &row.name).map_err(|err| invalid(change, err))?;
    refuse_key_like(change, "key name", &row.name)?;
    if let Some(description) = &fields.description {
        row.description =
            validate::description(description.as_deref()).map_err(|err| invalid(change, err))?;
    }
    if let Some(description) = &row.description {
        refuse_key_like(change, "key description", description)?;
    }
    if let Some(access) = fields.access {
        row.access = access;
    }
    if let Some(allow_unbind) = fields.allow_unbind {
        row.allow_unbind = allow_unbind;
    }
    access::validate_unbind(row.access, row.allow_unbind).map_err(|err| invalid(change, err))?;
    if let Some(status) = fields.status {
        row.status = status;
    }
    if let Some(hint) = &fields.hint {
        row.hint = hint.clone();
    }
    row.hint = checked_text(change, "hint", &row.hint, 32)?;
    if let Some(created_by) = &fields.created_by {
        row.created_by = checked_text(change, "creator", created_by, 128)?;
    }
    if let Some(created_at) = fields.created_at {
        row.created_at = to_millis(created_at);
    }
    if let Some(expires_at) = fields.expires_at {
        row.expires_at = expires_at.map(to_millis);
    }
    Ok(row)
}

fn apply_key_upsert(
    tx: &Transaction<'_>,
    account: &AccountId,
    change: &Change,
    fields: &KeyFields,
) -> Result<Outcome> {
    let id = change.action.id().to_string();
    let current = match existing(tx, change, "keys", "key", account)? {
        Some(false) => return Ok(Outcome::AlreadyDeleted),
        Some(true) => Some(load_key(tx, &id)?),
        None => None,
    };
    let row = patched_key(change, fields, current)?;
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
    let revision = next_revision(tx)?;
    tx.prepare_cached(
        "INSERT INTO keys (id, account_id, revision, name, description, access, allow_unbind, status, hint, verifier,
                           created_at, created_by, updated_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET revision = ?3, name = ?4, description = ?5, access = ?6, allow_unbind = ?7,
             status = ?8, hint = ?9, created_at = ?11, created_by = ?12, updated_at = max(updated_at, ?13),
             expires_at = ?14",
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
        row.expires_at
    ])?;
    if let Some(groups) = &fields.groups {
        tx.prepare_cached("DELETE FROM key_groups WHERE key_id = ?1")?
            .execute([&id])?;
        let mut link = tx.prepare_cached(
            "INSERT OR IGNORE INTO key_groups (key_id, group_id) VALUES (?1, ?2)",
        )?;
        for group in groups {
            link.execute(params![id, group.to_string()])?;
        }
    }
    Ok(Outcome::Applied)
}

fn apply(tx: &Transaction<'_>, account: &AccountId, change: &Change) -> Result<ChangeResult> {
    let outcome = match &change.action {
        ChangeAction::UpsertGroup { fields, .. } => {
            apply_group_upsert(tx, account, change, fields)?
        }
        ChangeAction::UpsertKey { fields, .. } => apply_key_upsert(tx, account, change, fields)?,
        ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => {
            apply_delete(tx, account, change)?
        }
    };
    let revision = match outcome {
        Outcome::Applied => Some(tx.query_row(
            "SELECT value FROM meta WHERE name = 'revision'",
            [],
            |row| row.get::<_, i64>(0),
        )? as u64),
        Outcome::AlreadyDeleted => None,
    };
    Ok(ChangeResult {
        idempotency_id: change.idempotency_id,
        outcome,
        revision,
        conflicts: Vec::new(),
    })
}

/// What identifies a change's content, so a reused idempotency id with
/// different content is caught rather than silently answered.
fn fingerprint(change: &Change) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(change).map_err(|err| StoreError::Storage(err.to_string()))?;
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
        let group = if deleted {
            None
        } else {
            Some(GroupRecord {
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
            entity: Entity::Group,
            op: if group.is_some() {
                Op::Upsert
            } else {
                Op::Delete
            },
            id: parse_uuid(&id)?,
            group,
            key: None,
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
        let key = if deleted {
            None
        } else {
            let verifier: Vec<u8> = row.get(9)?;
            let groups: Option<String> = row.get(15)?;
            Some(KeyRecord {
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
            })
        };
        changes.push(PulledChange {
            revision: row.get::<_, i64>(1)? as u64,
            entity: Entity::Key,
            op: if key.is_some() {
                Op::Upsert
            } else {
                Op::Delete
            },
            id: parse_uuid(&id)?,
            group: None,
            key,
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
    })
}

const TOKEN_COLUMNS: &str = "SELECT t.id, a.name, t.hint, t.created_at, t.revoked_at FROM sync_tokens t JOIN accounts a ON a.id = t.account_id";

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

    fn account_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<AccountId>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT account_id FROM sync_tokens WHERE hash = ?1 AND revoked_at IS NULL",
                )?
                .query_row([token_hash.as_slice()], |row| row.get(0))
                .optional()?
                .map(AccountId))
        })
    }

    fn push(&self, account: &AccountId, changes: &[Change]) -> Result<Vec<ChangeResult>> {
        self.write(|tx| {
            changes
                .iter()
                .map(|change| push_one(tx, account, change))
                .collect()
        })
    }

    fn pull(&self, account: &AccountId, since: u64, limit: u32) -> Result<PullResponse> {
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let fetch = limit as i64 + 1;
        self.read(|conn| {
            // One snapshot for both tables (read-only: dropping it just ends it).
            let snapshot = conn.unchecked_transaction()?;
            let groups = pull_groups(&snapshot, account, since, fetch)?;
            let keys = pull_keys(&snapshot, account, since, fetch)?;
            drop(snapshot);
            let mut changes: Vec<PulledChange> = groups.into_iter().chain(keys).collect();
            changes.sort_by_key(|change| change.revision);
            let more = changes.len() > limit;
            changes.truncate(limit);
            let cursor = changes
                .last()
                .map_or(since as u64, |change| change.revision);
            Ok(PullResponse {
                changes,
                cursor,
                more,
            })
        })
    }

    fn create_token(
        &self,
        account_name: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo> {
        let name = validate::name("account", account_name)
            .map_err(|err| StoreError::Invalid(err.to_string()))?;
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
                "INSERT INTO sync_tokens (id, account_id, hash, hint, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, account_id, token_hash.as_slice(), hint, now],
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
    use keyward_sync::{Change, ChangeAction, KeyFields};

    fn store_with_key() -> (tempfile::TempDir, SqliteStore, AccountId, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        store.create_token("Acme", &[9; 32], "kwsync_x…y").unwrap();
        let account = store.account_by_token(&[9; 32]).unwrap().unwrap();
        let id = Uuid::now_v7();
        let key = key_format::generate("kw").unwrap();
        let fields = KeyFields {
            name: Some("kiosk".into()),
            access: Some(AccessType::Read),
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
            pulled.changes[0].key.as_ref().unwrap().last_used_at,
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
}
