//! The outbox: changes to an account's groups and keys waiting for its remote,
//! and the tombstones that remember every delete.
//!
//! Once an account has a remote, every change to its groups and keys is queued
//! in the same transaction as the change, as the typed wire change the remote
//! applies (`wire::ChangeAction`): a change is never made without being
//! queued, nor queued without being made. A record has at most one entry that
//! has not been sent yet: a later change is laid over it, so what reaches the
//! remote goes from the record's state before to its state after in one step
//! and never passes through a wider state in between (clearing a key's groups
//! and then deactivating it travels as one change). An entry that may have
//! been sent (`in_flight`) is never changed again, so its idempotency id always
//! names the same change. Entries leave the outbox when the remote has
//! answered them: applied, or refused and set aside with the reason.
//!
//! A delete also leaves a tombstone, whether or not the account syncs: turning
//! sync on again sends every tombstone, and a pull never brings back a record
//! this vault deleted.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{from_millis, to_millis, KeyStatus};
use crate::vault::Change;
use crate::wire::{
    ChangeAction, ChangeResult, Entity, GroupFields, KeyFields, KeyPermissions, Outcome, Verifier,
};
use crate::{AccessType, Error, Result, Scope};
use keyward_model::merge;

/// One outbox entry: a change for the remote API.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub idempotency_id: Uuid,
    /// When the change (the last one laid over this entry) was made.
    pub at: OffsetDateTime,
    /// The record's revision as last pulled when the entry was first queued.
    pub base_revision: u64,
    pub action: ChangeAction,
    /// The change narrows what a key may do (a delete, a deactivation, fewer
    /// permissions or scopes, an earlier expiry): sent before the others.
    pub restrictive: bool,
    /// Marked before a push that carries it: it may have been applied.
    pub in_flight: bool,
}

/// A change the remote refused, kept aside with its reason.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefusedChange {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub idempotency_id: Uuid,
    /// `group` or `key`.
    pub entity: String,
    pub record_id: String,
    /// The record's name in this vault (or as it was, for a deleted one).
    pub name: String,
    /// The fields the change set, as the wire names them (`deleted` for a delete).
    pub fields: Vec<String>,
    /// What the remote said.
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub refused_at: OffsetDateTime,
}

fn entity_text(entity: Entity) -> &'static str {
    match entity {
        Entity::Group => "group",
        Entity::Key => "key",
    }
}

fn damaged(seq: i64, what: impl std::fmt::Display) -> Error {
    Error::VaultDamaged(format!("outbox entry {seq}: {what}"))
}

fn parse_uuid(text: &str, seq: i64) -> Result<Uuid> {
    text.parse().map_err(|_| damaged(seq, "bad id"))
}

/// Whether the account has a remote (and so queues its changes).
fn syncs(conn: &Connection, account_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM remotes WHERE account_id = ?1")?
        .exists([account_id])?)
}

/// Queues `action` for the account's remote, if it has one, laying it over
/// the record's unsent entry. Runs inside the change's transaction.
pub(crate) fn queue(
    change: &Change<'_>,
    account_id: &str,
    action: ChangeAction,
    restrictive: bool,
) -> Result<()> {
    if !syncs(change.tx, account_id)? {
        return Ok(());
    }
    let record_id = action.id().to_string();
    let pending: Option<(i64, Option<String>, bool)> = change
        .tx
        .prepare_cached(
            "SELECT seq, fields, restrictive FROM outbox
             WHERE record_id = ?1 AND account_id = ?2 AND in_flight = 0
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![record_id, account_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let at = to_millis(change.now);
    match (pending, &action) {
        // A delete replaces whatever had not been sent.
        (Some((seq, _, _)), ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. }) => {
            change.tx.execute(
                "UPDATE outbox SET op = 'delete', fields = NULL, restrictive = 1, at = ?1 WHERE seq = ?2",
                params![at, seq],
            )?;
        }
        (
            Some((seq, Some(fields), was_restrictive)),
            ChangeAction::UpsertKey { fields: later, .. },
        ) => {
            let earlier: KeyFields =
                serde_json::from_str(&fields).map_err(|err| damaged(seq, err))?;
            let merged = earlier.then((**later).clone());
            update_fields(change, seq, &merged, at, was_restrictive || restrictive)?;
        }
        (
            Some((seq, Some(fields), was_restrictive)),
            ChangeAction::UpsertGroup { fields: later, .. },
        ) => {
            let earlier: GroupFields =
                serde_json::from_str(&fields).map_err(|err| damaged(seq, err))?;
            let merged = earlier.then(later.clone());
            update_fields(change, seq, &merged, at, was_restrictive || restrictive)?;
        }
        // An upsert after a delete cannot happen (ids are never reused): keep the delete.
        (Some((_, None, _)), _) => {}
        (None, _) => insert(change, account_id, &action, restrictive)?,
    }
    Ok(())
}

fn update_fields(
    change: &Change<'_>,
    seq: i64,
    fields: &impl serde::Serialize,
    at: i64,
    restrictive: bool,
) -> Result<()> {
    let text = serde_json::to_string(fields).map_err(|err| Error::Storage(err.to_string()))?;
    change.tx.execute(
        "UPDATE outbox SET fields = ?1, at = ?2, restrictive = ?3 WHERE seq = ?4",
        params![text, at, restrictive, seq],
    )?;
    Ok(())
}

fn insert(
    change: &Change<'_>,
    account_id: &str,
    action: &ChangeAction,
    restrictive: bool,
) -> Result<()> {
    let record_id = action.id().to_string();
    let base: i64 = change
        .tx
        .prepare_cached("SELECT revision FROM remote_revisions WHERE record_id = ?1")?
        .query_row([&record_id], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let (op, fields) = match action {
        ChangeAction::UpsertGroup { fields, .. } => ("upsert", Some(serde_json::to_string(fields))),
        ChangeAction::UpsertKey { fields, .. } => ("upsert", Some(serde_json::to_string(fields))),
        ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => ("delete", None),
    };
    let fields = fields
        .transpose()
        .map_err(|err| Error::Storage(err.to_string()))?;
    change
        .tx
        .prepare_cached(
            "INSERT INTO outbox (account_id, idempotency_id, at, entity, op, record_id, base_revision, fields, restrictive, in_flight)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
        )?
        .execute(params![
            account_id,
            Uuid::now_v7().to_string(),
            to_millis(change.now),
            entity_text(action.entity()),
            op,
            record_id,
            base,
            fields,
            restrictive,
        ])?;
    Ok(())
}

pub(crate) fn queue_key(
    change: &Change<'_>,
    account_id: &str,
    key_id: &str,
    fields: KeyFields,
    restrictive: bool,
) -> Result<()> {
    let id = key_id
        .parse()
        .map_err(|_| Error::Storage(format!("key id {key_id:?} is not a UUID")))?;
    queue(
        change,
        account_id,
        ChangeAction::UpsertKey {
            id,
            fields: Box::new(fields),
        },
        restrictive,
    )
}

pub(crate) fn queue_group(
    change: &Change<'_>,
    account_id: &str,
    group_id: &str,
    fields: GroupFields,
    restrictive: bool,
) -> Result<()> {
    let id = group_id
        .parse()
        .map_err(|_| Error::Storage(format!("group id {group_id:?} is not a UUID")))?;
    queue(
        change,
        account_id,
        ChangeAction::UpsertGroup { id, fields },
        restrictive,
    )
}

/// Remembers a delete (whether or not the account syncs) and queues it.
pub(crate) fn delete(
    change: &Change<'_>,
    account_id: &str,
    entity: Entity,
    id: &str,
    name: &str,
) -> Result<()> {
    change
        .tx
        .prepare_cached(
            "INSERT INTO tombstones (record_id, account_id, entity, name, deleted_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (record_id) DO NOTHING",
        )?
        .execute(params![id, account_id, entity_text(entity), name, to_millis(change.now)])?;
    change
        .tx
        .execute("DELETE FROM remote_revisions WHERE record_id = ?1", [id])?;
    let uuid: Uuid = id
        .parse()
        .map_err(|_| Error::Storage(format!("record id {id:?} is not a UUID")))?;
    let action = match entity {
        Entity::Group => ChangeAction::DeleteGroup { id: uuid },
        Entity::Key => ChangeAction::DeleteKey { id: uuid },
    };
    queue(change, account_id, action, true)
}

/// Whether this vault deleted the record with `id`.
pub(crate) fn is_tombstoned(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM tombstones WHERE record_id = ?1")?
        .exists([id])?)
}

/// Queues a delete for every record of the account this vault ever deleted
/// (a remote, new or set again, may still hold any of them).
pub(crate) fn queue_tombstones(change: &Change<'_>, account_id: &str) -> Result<()> {
    let tombstones = change
        .tx
        .prepare(
            "SELECT record_id, entity FROM tombstones WHERE account_id = ?1 ORDER BY record_id",
        )?
        .query_map([account_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, entity) in tombstones {
        let uuid: Uuid = id
            .parse()
            .map_err(|_| Error::VaultDamaged(format!("tombstone {id:?} is not a UUID")))?;
        let action = if entity == "group" {
            ChangeAction::DeleteGroup { id: uuid }
        } else {
            ChangeAction::DeleteKey { id: uuid }
        };
        queue(change, account_id, action, true)?;
    }
    Ok(())
}

/// Every field of a key, as a patch that creates it on the remote.
pub(crate) fn key_fields(conn: &Connection, key_id: &str) -> Result<KeyFields> {
    let mut fields = conn
        .prepare_cached(
            "SELECT name, description, status, hint, verifier, created_at, created_by, expires_at
             FROM api_keys WHERE id = ?1",
        )?
        .query_row([key_id], |row| {
            let verifier: Vec<u8> = row.get(4)?;
            Ok(KeyFields {
                name: Some(row.get(0)?),
                description: Some(row.get(1)?),
                status: Some(KeyStatus::parse(&row.get::<_, String>(2)?)),
                hint: Some(row.get(3)?),
                verifier: verifier.try_into().ok().map(Verifier),
                created_at: Some(from_millis(row.get(5)?)),
                created_by: Some(row.get(6)?),
                expires_at: Some(row.get::<_, Option<i64>>(7)?.map(from_millis)),
                ..KeyFields::default()
            })
        })?;
    fields.permissions = Some(key_permissions(conn, key_id)?);
    Ok(fields)
}

/// A key's access type, unbind flag and groups: what the remote judges
/// together as the key's permissions, so they always travel together.
pub(crate) fn key_permissions(conn: &Connection, key_id: &str) -> Result<KeyPermissions> {
    let (access, allow_unbind): (String, bool) = conn
        .prepare_cached("SELECT access, allow_unbind FROM api_keys WHERE id = ?1")?
        .query_row([key_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let groups = conn
        .prepare_cached("SELECT group_id FROM key_groups WHERE key_id = ?1")?
        .query_map([key_id], |row| row.get::<_, String>(0))?
        .map(|id| {
            let id = id?;
            id.parse::<Uuid>()
                .map_err(|_| Error::VaultDamaged(format!("group id {id:?} is not a UUID")))
        })
        .collect::<Result<BTreeSet<_>>>()?;
    Ok(KeyPermissions {
        access: access.parse().unwrap_or(AccessType::Read),
        allow_unbind,
        groups,
    })
}

/// Every field of a group, as a patch that creates it on the remote.
pub(crate) fn group_fields(conn: &Connection, group_id: &str) -> Result<GroupFields> {
    let (name, description): (String, String) = conn
        .prepare_cached("SELECT name, description FROM groups WHERE id = ?1")?
        .query_row([group_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(GroupFields {
        name: Some(name),
        description: Some(description),
        scopes: Some(group_scopes(conn, group_id)?.into_iter().collect()),
    })
}

pub(crate) fn group_scopes(conn: &Connection, group_id: &str) -> Result<BTreeSet<Scope>> {
    conn.prepare_cached("SELECT resource, action FROM group_scopes WHERE group_id = ?1")?
        .query_map([group_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .map(|row| {
            let (resource, action) = row?;
            Ok(format!("{resource}:{action}").parse::<Scope>()?)
        })
        .collect()
}

/// Whether `after` grants nothing `before` did not (by the model's own
/// decision over every method and resource, with the groups' scopes now).
pub(crate) fn narrows(
    conn: &Connection,
    before: &KeyPermissions,
    after: &KeyPermissions,
) -> Result<bool> {
    let mut scopes = merge::GroupScopes::new();
    for id in before.groups.union(&after.groups) {
        let exists = conn
            .prepare_cached("SELECT 1 FROM groups WHERE id = ?1")?
            .exists([id.to_string()])?;
        if exists {
            scopes.insert(*id, group_scopes(conn, &id.to_string())?);
        }
    }
    Ok(matches!(
        merge::compare_permissions(after, before, &scopes),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    ))
}

/// An outbox row as stored, before its fields are parsed.
struct StoredEntry {
    seq: i64,
    idempotency_id: String,
    at: i64,
    entity: String,
    op: String,
    record_id: String,
    base_revision: i64,
    fields: Option<String>,
    restrictive: bool,
    in_flight: bool,
}

fn read_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    Ok(StoredEntry {
        seq: row.get(0)?,
        idempotency_id: row.get(1)?,
        at: row.get(2)?,
        entity: row.get(3)?,
        op: row.get(4)?,
        record_id: row.get(5)?,
        base_revision: row.get(6)?,
        fields: row.get(7)?,
        restrictive: row.get(8)?,
        in_flight: row.get(9)?,
    })
}

impl StoredEntry {
    fn parse(self) -> Result<OutboxEntry> {
        let seq = self.seq;
        let id = parse_uuid(&self.record_id, seq)?;
        let action = match (self.entity.as_str(), self.op.as_str(), self.fields) {
            ("group", "upsert", Some(fields)) => ChangeAction::UpsertGroup {
                id,
                fields: serde_json::from_str(&fields).map_err(|err| damaged(seq, err))?,
            },
            ("key", "upsert", Some(fields)) => ChangeAction::UpsertKey {
                id,
                fields: Box::new(serde_json::from_str(&fields).map_err(|err| damaged(seq, err))?),
            },
            ("group", "delete", None) => ChangeAction::DeleteGroup { id },
            ("key", "delete", None) => ChangeAction::DeleteKey { id },
            _ => return Err(damaged(seq, "unknown entity or operation")),
        };
        Ok(OutboxEntry {
            seq,
            idempotency_id: parse_uuid(&self.idempotency_id, seq)?,
            at: from_millis(self.at),
            base_revision: self.base_revision as u64,
            action,
            restrictive: self.restrictive,
            in_flight: self.in_flight,
        })
    }
}

/// The account's outbox in the order it is sent: what may have been sent
/// already first, then what narrows, then the rest, each oldest first.
pub(crate) fn entries(conn: &Connection, account_id: &str) -> Result<Vec<OutboxEntry>> {
    let rows = conn
        .prepare_cached(
            "SELECT seq, idempotency_id, at, entity, op, record_id, base_revision, fields, restrictive, in_flight
             FROM outbox WHERE account_id = ?1 ORDER BY in_flight DESC, restrictive DESC, seq",
        )?
        .query_map([account_id], read_entry)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(StoredEntry::parse).collect()
}

/// The fields a change sets, as the wire names them, for people.
pub(crate) fn field_names(action: &ChangeAction) -> Vec<String> {
    let named = |pairs: &[(&str, bool)]| {
        pairs
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| name.to_string())
            .collect()
    };
    match action {
        ChangeAction::UpsertKey { fields, .. } => named(&[
            ("name", fields.name.is_some()),
            ("description", fields.description.is_some()),
            ("access", fields.permissions.is_some()),
            ("status", fields.status.is_some()),
            ("expires_at", fields.expires_at.is_some()),
        ]),
        ChangeAction::UpsertGroup { fields, .. } => named(&[
            ("name", fields.name.is_some()),
            ("description", fields.description.is_some()),
            ("scopes", fields.scopes.is_some()),
        ]),
        ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => vec!["deleted".into()],
    }
}

/// What of a refused change must still reach the remote: the parts that
/// narrow (a deactivation, an earlier expiry, permissions it marked as
/// narrowing), as a change of their own; `None` when it had nothing else.
pub(crate) fn salvage(entry: &OutboxEntry) -> Option<(ChangeAction, bool)> {
    let ChangeAction::UpsertKey { id, fields } = &entry.action else {
        return None;
    };
    let kept = KeyFields {
        status: fields
            .status
            .filter(|status| *status == KeyStatus::Inactive),
        expires_at: fields.expires_at.filter(Option::is_some),
        permissions: fields.permissions.clone().filter(|_| entry.restrictive),
        ..KeyFields::default()
    };
    let narrows = kept.status.is_some() || kept.expires_at.is_some() || kept.permissions.is_some();
    (narrows && kept != **fields).then(|| {
        (
            ChangeAction::UpsertKey {
                id: *id,
                fields: Box::new(kept),
            },
            true,
        )
    })
}

/// Marks entries as sent (before the push that carries them).
pub(crate) fn mark_in_flight(conn: &Connection, seqs: &[i64]) -> Result<()> {
    let mut mark = conn.prepare_cached("UPDATE outbox SET in_flight = 1 WHERE seq = ?1")?;
    for seq in seqs {
        mark.execute([seq])?;
    }
    Ok(())
}

/// Takes back [`mark_in_flight`] for entries that certainly never left (the
/// connection was never made). An entry unsent and untouched may be laid over again.
pub(crate) fn unmark_in_flight(conn: &Connection, seqs: &[i64]) -> Result<()> {
    let mut unmark = conn.prepare_cached("UPDATE outbox SET in_flight = 0 WHERE seq = ?1")?;
    for seq in seqs {
        unmark.execute([seq])?;
    }
    Ok(())
}

/// Takes the remote's answers to `entries` out of the outbox: applied ones are
/// gone, refused ones are kept aside with their reason (and what of them
/// narrows is queued anew). Returns the refused changes.
pub(crate) fn settle(
    change: &Change<'_>,
    account_id: &str,
    entries: &[OutboxEntry],
    results: &[ChangeResult],
) -> Result<Vec<RefusedChange>> {
    let mut refused = Vec::new();
    for (entry, result) in entries.iter().zip(results) {
        change
            .tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ?1 AND account_id = ?2")?
            .execute(params![entry.seq, account_id])?;
        let record_id = entry.action.id().to_string();
        if result.outcome != Outcome::Refused {
            // A later change of the record went through: an earlier refusal is moot.
            change
                .tx
                .prepare_cached(
                    "DELETE FROM refused_changes WHERE record_id = ?1 AND account_id = ?2",
                )?
                .execute(params![record_id, account_id])?;
            continue;
        }
        let name = record_name(change.tx, entry.action.entity(), &record_id)?;
        let kept = RefusedChange {
            idempotency_id: entry.idempotency_id,
            entity: entity_text(entry.action.entity()).into(),
            record_id: record_id.clone(),
            name,
            fields: field_names(&entry.action),
            reason: result
                .reason
                .clone()
                .unwrap_or_else(|| "refused by the remote".into()),
            refused_at: change.now,
        };
        change
            .tx
            .prepare_cached(
                "INSERT INTO refused_changes (idempotency_id, account_id, entity, record_id, name, fields, reason, refused_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (idempotency_id) DO NOTHING",
            )?
            .execute(params![
                kept.idempotency_id.to_string(),
                account_id,
                kept.entity,
                kept.record_id,
                kept.name,
                kept.fields.join(","),
                kept.reason,
                to_millis(change.now),
            ])?;
        if let Some((action, restrictive)) = salvage(entry) {
            queue(change, account_id, action, restrictive)?;
        }
        refused.push(kept);
    }
    Ok(refused)
}

fn record_name(conn: &Connection, entity: Entity, id: &str) -> Result<String> {
    let table = match entity {
        Entity::Group => "groups",
        Entity::Key => "api_keys",
    };
    let live: Option<String> = conn
        .query_row(
            &format!("SELECT name FROM {table} WHERE id = ?1"),
            [id],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(name) = live {
        return Ok(name);
    }
    Ok(conn
        .prepare_cached("SELECT name FROM tombstones WHERE record_id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .unwrap_or_default())
}

/// The changes the account's remote refused, oldest first.
pub(crate) fn refused(conn: &Connection, account_id: &str) -> Result<Vec<RefusedChange>> {
    let rows = conn
        .prepare_cached(
            "SELECT idempotency_id, entity, record_id, name, fields, reason, refused_at
             FROM refused_changes WHERE account_id = ?1 ORDER BY refused_at, idempotency_id",
        )?
        .query_map([account_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, entity, record_id, name, fields, reason, at)| {
            Ok(RefusedChange {
                idempotency_id: id
                    .parse()
                    .map_err(|_| Error::VaultDamaged(format!("refused change {id:?}: bad id")))?,
                entity,
                record_id,
                name,
                fields: fields
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect(),
                reason,
                refused_at: from_millis(at),
            })
        })
        .collect()
}

/// Forgets the account's outbox, refused changes and pulled revisions (its
/// remote changes or goes away); tombstones stay.
pub(crate) fn forget(change: &Change<'_>, account_id: &str) -> Result<()> {
    change
        .tx
        .execute("DELETE FROM outbox WHERE account_id = ?1", [account_id])?;
    change.tx.execute(
        "DELETE FROM refused_changes WHERE account_id = ?1",
        [account_id],
    )?;
    change.tx.execute(
        "DELETE FROM remote_revisions WHERE record_id IN
           (SELECT id FROM groups WHERE account_id = ?1 UNION ALL SELECT id FROM api_keys WHERE account_id = ?1)",
        [account_id],
    )?;
    Ok(())
}
