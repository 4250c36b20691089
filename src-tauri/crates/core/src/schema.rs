//! Numbered schema migrations, applied in one transaction when a vault opens.
//! `PRAGMA user_version` records the last one applied.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Error, Result};

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Never edit one that shipped; add another.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, groups, keys, audit log.
    r#"
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_fold TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        key_limit INTEGER NOT NULL,
        resources TEXT NOT NULL,
        shared_secret TEXT NOT NULL,
        -- Kept by the triggers below, so the key-limit check costs O(1).
        key_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        name_fold TEXT NOT NULL,
        description TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (account_id, name_fold)
    ) STRICT;
    CREATE TABLE group_scopes (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        action TEXT NOT NULL,
        PRIMARY KEY (group_id, resource, action)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        name_fold TEXT NOT NULL,
        description TEXT,
        access TEXT NOT NULL,
        allow_unbind INTEGER NOT NULL,
        status TEXT NOT NULL,
        hint TEXT NOT NULL,
        verifier BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        last_used_at INTEGER,
        expires_at INTEGER,
        UNIQUE (account_id, name_fold)
    ) STRICT, WITHOUT ROWID;
    CREATE TRIGGER api_keys_count_insert AFTER INSERT ON api_keys BEGIN
        UPDATE accounts SET key_count = key_count + 1 WHERE id = NEW.account_id;
    END;
    CREATE TRIGGER api_keys_count_delete AFTER DELETE ON api_keys BEGIN
        UPDATE accounts SET key_count = key_count - 1 WHERE id = OLD.account_id;
    END;
    CREATE TABLE key_groups (
        key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id),
        PRIMARY KEY (key_id, group_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX key_groups_by_group ON key_groups(group_id);
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        account TEXT,
        target_id TEXT,
        target_name TEXT,
        details TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    ) STRICT;
    "#,
    // 2: sync — an account's remote, the outbox, the revisions last pulled.
    r#"
    CREATE TABLE remotes (
        account_id TEXT PRIMARY KEY REFERENCES accounts(id),
        url TEXT NOT NULL,
        -- The sync token, in the encrypted vault like every other secret here.
        token TEXT NOT NULL,
        insecure INTEGER NOT NULL,
        -- This vault's id towards the remote: the origin of its changes.
        client_id TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        last_sync_at INTEGER,
        last_report TEXT,
        last_error TEXT
    ) STRICT;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        idempotency_id TEXT NOT NULL UNIQUE,
        at INTEGER NOT NULL,
        entity TEXT NOT NULL,
        op TEXT NOT NULL,
        record_id TEXT NOT NULL,
        base_revision INTEGER NOT NULL,
        fields TEXT
    ) STRICT;
    CREATE INDEX outbox_by_record ON outbox (record_id);
    CREATE TABLE remote_revisions (
        record_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    "#,
    // 3: revocation is final — tombstones of every delete, an outbox that
    // knows what it may have sent and what narrows, the changes a remote
    // refused, and the audit head the remote recorded.
    r#"
    CREATE TABLE tombstones (
        record_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        entity TEXT NOT NULL,
        name TEXT NOT NULL,
        deleted_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX tombstones_by_account ON tombstones (account_id);
    -- Sent in a push that may have been applied: never changed again.
    ALTER TABLE outbox ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 1;
    -- Narrows what a key may do: sent before the rest.
    ALTER TABLE outbox ADD COLUMN restrictive INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE refused_changes (
        idempotency_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        entity TEXT NOT NULL,
        record_id TEXT NOT NULL,
        name TEXT NOT NULL,
        fields TEXT NOT NULL,
        reason TEXT NOT NULL,
        refused_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX refused_changes_by_record ON refused_changes (record_id);
    ALTER TABLE remotes ADD COLUMN audit_seq INTEGER;
    ALTER TABLE remotes ADD COLUMN audit_hash TEXT;
    "#,
    // 4: rolls — the keys a roll replaced, each with its successor. A replaced key
    // keeps working until its expiry (set by the roll to the end of the grace) and
    // no longer counts toward the key limit; the row goes with the key.
    r#"
    CREATE TABLE key_rolls (
        old_id TEXT PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        -- No reference: the successor may be deleted while its predecessor rolls out.
        new_id TEXT NOT NULL,
        rolled_at INTEGER NOT NULL,
        grace_ends_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX key_rolls_by_account ON key_rolls (account_id);
    "#,
];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > latest_version() {
        return Err(Error::VaultDamaged(format!(
            "it was written by a newer Keyward (schema {current}, this one knows {}) — update Keyward",
            latest_version()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
