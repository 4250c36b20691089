//! Rolling keys: each key gets a successor with its name, description, access
//! type, unbind flag, groups and expiry — a new key, shown once like any other
//! — while the key it replaces keeps working for a grace period, so no device
//! is locked out between the two.
//!
//! The replaced key's end is an expiry: the roll sets it to the earlier of its
//! own and the end of the grace. Every verifier (the vault, the server) then
//! answers EXPIRED after the grace without knowing about rolls, and the sync
//! merge rule "the earlier expiry wins" keeps that under concurrent edits.
//! Names stay unique: the replaced key is renamed "NAME (replaced)" and its
//! successor takes NAME, in that order in the outbox too (the rename narrows
//! the key's expiry, or was queued first), so the remote never sees two keys
//! named alike. The link between the two is this vault's own
//! (`key_rolls`); a replaced key no longer counts toward the key limit, so a
//! roll never fails for the limit. A roll of many keys is one transaction.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::accounts::{resolve, AccountRow};
use crate::audit::NewEntry;
use crate::keys::{find, insert_key, KeyFilter, KeyTemplate};
use crate::model::{from_millis, to_millis, ApiKey, CreatedKey, KeyStatus};
use crate::vault::{Change, Vault};
use crate::wire::KeyFields;
use crate::{outbox, validate, AccessType, Error, Result};

/// Which keys an action on many keys is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelection {
    /// These keys, by id or name: each must qualify, or nothing happens.
    Keys(Vec<String>),
    /// The group's keys that qualify (the others are skipped and named).
    Group(String),
    /// The keys matching the text filter of the keys list that qualify.
    Filter(String),
}

/// One key rolled: the key it replaced (now rolling out) and its successor,
/// whose full key exists only here.
#[derive(Debug)]
pub struct RolledKey {
    pub replaced: ApiKey,
    pub successor: CreatedKey,
}

/// A key of a group or filter selection that was not rolled, and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedKey {
    pub id: String,
    pub name: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct RollOutcome {
    pub rolled: Vec<RolledKey>,
    pub skipped: Vec<SkippedKey>,
}

/// The id of the key that replaced `key_id`, if a roll did.
pub(crate) fn successor(conn: &Connection, key_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT new_id FROM key_rolls WHERE old_id = ?1")?
        .query_row([key_id], |row| row.get(0))
        .optional()?)
}

/// Every replaced key of the account, with its successor's id.
pub(crate) fn successors(conn: &Connection, account_id: &str) -> Result<HashMap<String, String>> {
    Ok(conn
        .prepare_cached("SELECT old_id, new_id FROM key_rolls WHERE account_id = ?1")?
        .query_map([account_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// A key as a roll needs it, read inside the roll's transaction.
struct Outgoing {
    id: String,
    name: String,
    status: KeyStatus,
    description: Option<String>,
    access: AccessType,
    allow_unbind: bool,
    expires_at: Option<OffsetDateTime>,
    groups: Vec<(String, String)>,
    replaced_by: Option<String>,
}

fn outgoing(conn: &Connection, id: &str) -> Result<Option<Outgoing>> {
    let found = conn
        .prepare_cached(
            "SELECT name, status, description, access, allow_unbind, expires_at FROM api_keys WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(Outgoing {
                id: id.to_string(),
                name: row.get(0)?,
                status: KeyStatus::parse(&row.get::<_, String>(1)?),
                description: row.get(2)?,
                access: row
                    .get::<_, String>(3)?
                    .parse()
                    .unwrap_or(AccessType::Read),
                allow_unbind: row.get(4)?,
                expires_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
                groups: Vec::new(),
                replaced_by: None,
            })
        })
        .optional()?;
    let Some(mut key) = found else {
        return Ok(None);
    };
    key.groups = conn
        .prepare_cached(
            "SELECT g.id, g.name FROM key_groups kg JOIN groups g ON g.id = kg.group_id
             WHERE kg.key_id = ?1 ORDER BY g.name_fold",
        )?
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    key.replaced_by = successor(conn, id)?;
    Ok(Some(key))
}

/// Why `key` cannot be rolled now, if it cannot.
fn refusal(conn: &Connection, key: &Outgoing, now: OffsetDateTime) -> Result<Option<String>> {
    if let Some(successor_id) = &key.replaced_by {
        let successor: Option<String> = conn
            .prepare_cached("SELECT name FROM api_keys WHERE id = ?1")?
            .query_row([successor_id], |row| row.get(0))
            .optional()?;
        let by = successor.map_or_else(String::new, |name| format!(" by {name:?}"));
        return Ok(Some(format!(
            "key {:?} was already replaced{by} in a roll: roll its successor instead",
            key.name
        )));
    }
    if key.status == KeyStatus::Inactive {
        return Ok(Some(format!(
            "key {:?} is inactive: a roll would hand out a working key for it — enable it first, or create a new key",
            key.name
        )));
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Ok(Some(format!(
            "key {:?} has expired: its successor would be born expired — create a new key instead",
            key.name
        )));
    }
    Ok(None)
}

/// "NAME (replaced)", or "NAME (replaced 2)", … — a free name within the
/// 64-character limit for the key a roll replaces.
fn replaced_name(conn: &Connection, account: &AccountRow, name: &str) -> Result<String> {
    let mut taken = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE account_id = ?1 AND name_fold = ?2)",
    )?;
    for n in 1u32.. {
        let suffix = match n {
            1 => " (replaced)".to_string(),
            n => format!(" (replaced {n})"),
        };
        let room = validate::NAME_MAX_CHARS - suffix.chars().count();
        let base: String = name.chars().take(room).collect();
        let candidate = format!("{}{suffix}", base.trim_end());
        let exists: bool = taken
            .query_row(params![account.id, validate::fold(&candidate)], |r| {
                r.get(0)
            })?;
        if !exists {
            return Ok(candidate);
        }
    }
    unreachable!("some suffix is free")
}

/// "5 s", "30 min", "24 h", "2 d 6 h": a grace as people read it.
pub(crate) fn grace_text(grace: Duration) -> String {
    let seconds = grace.whole_seconds();
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours, minutes, seconds % 60) {
        (0, 0, 0, s) => format!("{s} s"),
        (0, 0, m, 0) => format!("{m} min"),
        (0, h, 0, 0) => format!("{h} h"),
        (d, 0, 0, 0) => format!("{d} d"),
        (d, h, _, _) if d > 0 => format!("{d} d {h} h"),
        (_, h, m, _) if h > 0 => format!("{h} h {m} min"),
        (_, _, m, s) => format!("{m} min {s} s"),
    }
}

/// Rolls one key inside the roll's transaction; returns the successor.
fn roll_one(
    change: &Change<'_>,
    account: &AccountRow,
    key: &Outgoing,
    grace: Duration,
) -> Result<CreatedKey> {
    let grace_ends = change.now + grace;
    let ends = key.expires_at.map_or(grace_ends, |at| at.min(grace_ends));
    let renamed = replaced_name(change.tx, account, &key.name)?;
    change.tx.execute(
        "UPDATE api_keys SET name = ?1, name_fold = ?2, expires_at = ?3, updated_at = ?4 WHERE id = ?5",
        params![renamed, validate::fold(&renamed), to_millis(ends), to_millis(change.now), key.id],
    )?;
    // Queued before the successor: the remote frees the name before it is taken again.
    let narrows = key.expires_at != Some(ends);
    let fields = KeyFields {
        name: Some(renamed.clone()),
        expires_at: narrows.then_some(Some(ends)),
        ..KeyFields::default()
    };
    outbox::queue_key(change, &account.id, &key.id, fields, narrows)?;
    let template = KeyTemplate {
        description: key.description.clone(),
        access: key.access,
        allow_unbind: key.allow_unbind,
        expires_at: key.expires_at,
    };
    let successor = insert_key(change, account, &key.name, &template, &key.groups)?;
    change
        .tx
        .prepare_cached(
            "INSERT INTO key_rolls (old_id, account_id, new_id, rolled_at, grace_ends_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            key.id,
            account.id,
            successor.key.id,
            to_millis(change.now),
            to_millis(grace_ends)
        ])?;
    change.audit(NewEntry::target(
        "key.roll",
        &account.name,
        &key.id,
        &renamed,
        json!({
            "name": { "from": key.name, "to": renamed },
            "expires_at": { "from": key.expires_at.map(to_millis), "to": to_millis(ends) },
            "successor": successor.key.hint,
            "grace": grace_text(grace),
        }),
    ))?;
    Ok(successor)
}

impl Vault {
    /// Rolls the selected keys in one transaction, all or none: each gets a
    /// successor (returned with its full key: show it once), and keeps working
    /// for `grace` (zero ends it now), never past its own expiry. A key named
    /// in [`KeySelection::Keys`] that was already replaced, is inactive or has
    /// expired refuses the whole roll; in a group or filter selection such keys
    /// are skipped and named.
    pub fn roll_keys(
        &mut self,
        account: Option<&str>,
        selection: &KeySelection,
        grace: Duration,
    ) -> Result<RollOutcome> {
        self.roll_keys_then(account, selection, grace, |_, _, _| Ok(()))
    }

    /// [`Vault::roll_keys`], with `hand_over` given the successors inside the
    /// transaction, before it commits: when it fails, nothing is rolled.
    pub(crate) fn roll_keys_then(
        &mut self,
        account: Option<&str>,
        selection: &KeySelection,
        grace: Duration,
        hand_over: impl FnOnce(&Change<'_>, &AccountRow, &[&CreatedKey]) -> Result<()>,
    ) -> Result<RollOutcome> {
        let max = Duration::days(validate::ROLL_GRACE_MAX_DAYS);
        if grace.is_negative() || grace > max {
            let given = match grace.is_negative() {
                true => "a negative grace".to_string(),
                false => format!("a grace of {}", grace_text(grace)),
            };
            return Err(Error::invalid(format!(
                "{given} is out of range: give 0 (the old key ends now) up to {} days",
                max.whole_days()
            )));
        }
        // A group or filter is read as the keys list reads it; each key is read
        // again in the transaction, so a key changed meanwhile is judged as it is.
        let listed: Option<Vec<String>> = match selection {
            KeySelection::Keys(_) => None,
            KeySelection::Group(group) => Some(self.selection_ids(account, Some(group), None)?),
            KeySelection::Filter(text) => Some(self.selection_ids(account, None, Some(text))?),
        };
        let (account_name, rolled, skipped) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let mut chosen = Vec::new();
            let mut skipped = Vec::new();
            let mut seen = HashSet::new();
            match (selection, &listed) {
                (KeySelection::Keys(wanted), _) => {
                    for wanted in wanted {
                        let row = find(change.tx, &account, wanted)?;
                        if !seen.insert(row.id.clone()) {
                            continue;
                        }
                        let key = outgoing(change.tx, &row.id)?
                            .ok_or_else(|| Error::not_found("key", wanted))?;
                        if let Some(reason) = refusal(change.tx, &key, change.now)? {
                            return Err(Error::Refused(reason));
                        }
                        chosen.push(key);
                    }
                }
                (_, Some(ids)) => {
                    for id in ids {
                        let Some(key) = outgoing(change.tx, id)? else {
                            continue;
                        };
                        match refusal(change.tx, &key, change.now)? {
                            Some(reason) => skipped.push(SkippedKey {
                                id: key.id.clone(),
                                name: key.name.clone(),
                                reason,
                            }),
                            None => chosen.push(key),
                        }
                    }
                }
                (_, None) => unreachable!("a group or filter selection is listed first"),
            }
            if chosen.is_empty() {
                let why = match skipped.first() {
                    Some(first) => {
                        format!(" ({} skipped; the first: {})", skipped.len(), first.reason)
                    }
                    None => String::new(),
                };
                return Err(Error::invalid(format!(
                    "no key to roll: the selection holds none that can be rolled{why}"
                )));
            }
            let mut rolled = Vec::with_capacity(chosen.len());
            for key in &chosen {
                rolled.push((key.id.clone(), roll_one(change, &account, key, grace)?));
            }
            let successors: Vec<&CreatedKey> = rolled.iter().map(|(_, new)| new).collect();
            hand_over(change, &account, &successors)?;
            Ok((account.name, rolled, skipped))
        })?;
        // The replaced keys as they are now, in one pass over the account's keys.
        let mut replaced: HashMap<String, ApiKey> = self
            .list_keys(Some(&account_name), &KeyFilter::default())?
            .into_iter()
            .filter(|key| key.replaced_by.is_some())
            .map(|key| (key.id.clone(), key))
            .collect();
        let rolled = rolled
            .into_iter()
            .map(|(old_id, successor)| {
                let replaced = replaced
                    .remove(&old_id)
                    .ok_or_else(|| Error::not_found("key", &old_id))?;
                Ok(RolledKey {
                    replaced,
                    successor,
                })
            })
            .collect::<Result<_>>()?;
        Ok(RollOutcome { rolled, skipped })
    }

    fn selection_ids(
        &self,
        account: Option<&str>,
        group: Option<&String>,
        text: Option<&String>,
    ) -> Result<Vec<String>> {
        let filter = KeyFilter {
            group: group.cloned(),
            text: text.cloned(),
            ..KeyFilter::default()
        };
        Ok(self
            .list_keys(account, &filter)?
            .into_iter()
            .map(|key| key.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::grace_text;
    use time::Duration;

    #[test]
    fn a_grace_reads_in_its_largest_units() {
        assert_eq!(grace_text(Duration::ZERO), "0 s");
        assert_eq!(grace_text(Duration::seconds(5)), "5 s");
        assert_eq!(grace_text(Duration::minutes(30)), "30 min");
        assert_eq!(grace_text(Duration::hours(5)), "5 h");
        assert_eq!(grace_text(Duration::hours(24)), "1 d");
        assert_eq!(grace_text(Duration::days(3)), "3 d");
        assert_eq!(grace_text(Duration::hours(30)), "1 d 6 h");
        assert_eq!(grace_text(Duration::minutes(90)), "1 h 30 min");
        assert_eq!(grace_text(Duration::seconds(61)), "1 min 1 s");
    }
}
