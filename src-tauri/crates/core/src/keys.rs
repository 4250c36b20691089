//! API keys: creation (the only moment a full key exists), listing and the
//! changes an administrator makes afterwards.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;
use time::OffsetDateTime;

use crate::access::{validate_unbind, AccessType};
use crate::accounts::{resolve, AccountRow};
use crate::audit::NewEntry;
use crate::key_format;
use crate::model::{from_millis, now, to_millis, ApiKey, CreatedKey, KeyStatus};
use crate::review::Review;
use crate::vault::{Change, Vault};
use crate::wire::{Entity, KeyFields};
use crate::{groups, outbox, roll, validate, Error, Result};

/// Settings for a new key. The default is the least: READ, no unbind, no groups, no expiry.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub description: Option<String>,
    pub access: Option<AccessType>,
    pub allow_unbind: bool,
    pub groups: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Which keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub status: Option<KeyStatus>,
    pub group: Option<String>,
    /// Case-insensitive text matched against name, description, hint, id and creator.
    pub text: Option<String>,
    /// Only keys that expire within this long from now (and have not yet); never
    /// one a roll replaced (its expiry is the roll's doing).
    pub expiring_within: Option<time::Duration>,
    /// Only keys unused for at least this long (a key never used counts from its
    /// creation); never one a roll replaced.
    pub unused_for: Option<time::Duration>,
}

const KEY_COLUMNS: &str = "k.id, k.name, k.description, k.access, k.allow_unbind, k.status, k.hint,
     k.created_at, k.created_by, k.updated_at, k.last_used_at, k.expires_at";

fn key_from_row(row: &Row<'_>, account: &str) -> rusqlite::Result<ApiKey> {
    let access: String = row.get(3)?;
    Ok(ApiKey {
        id: row.get(0)?,
        account: account.to_string(),
        name: row.get(1)?,
        description: row.get(2)?,
        access: access.parse().unwrap_or(AccessType::Read),
        allow_unbind: row.get(4)?,
        groups: Vec::new(),
        status: KeyStatus::parse(&row.get::<_, String>(5)?),
        hint: row.get(6)?,
        created_at: from_millis(row.get(7)?),
        created_by: row.get(8)?,
        updated_at: from_millis(row.get(9)?),
        last_used_at: row.get::<_, Option<i64>>(10)?.map(from_millis),
        expires_at: row.get::<_, Option<i64>>(11)?.map(from_millis),
        replaced_by: None,
    })
}

/// The id and name of a key found by id or by name within an account.
pub(crate) struct KeyRow {
    pub id: String,
    pub name: String,
}

pub(crate) fn find(conn: &Connection, account: &AccountRow, id_or_name: &str) -> Result<KeyRow> {
    let wanted = id_or_name.trim();
    conn.prepare_cached(
        "SELECT id, name FROM api_keys WHERE account_id = ?1 AND (id = ?2 OR name_fold = ?3)
         ORDER BY id = ?2 DESC LIMIT 1",
    )?
    .query_row(params![account.id, wanted, validate::fold(wanted)], |row| {
        Ok(KeyRow {
            id: row.get(0)?,
            name: row.get(1)?,
        })
    })
    .optional()?
    .ok_or_else(|| missing(conn, account, wanted))
}

/// The error for a key that is not there. A key asked for by the id of one that was deleted
/// (a window or a script still holding it) is named as the audit log last knew it, so the
/// message never shows only an internal id.
fn missing(conn: &Connection, account: &AccountRow, wanted: &str) -> Error {
    let former: Option<String> = conn
        .prepare_cached(
            "SELECT target_name FROM audit_log
             WHERE target_id = ?1 AND (action LIKE 'key.%' OR action LIKE 'sync.key.%')
               AND NOT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)
             ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut statement| statement.query_row([wanted], |row| row.get(0)).optional())
        .ok()
        .flatten();
    match former {
        Some(name) => Error::not_found_hint(
            "key",
            &name,
            &format!("it was deleted from account {}", account.name),
        ),
        None => Error::not_found_hint(
            "key",
            wanted,
            &format!("account {} has no key with that id or name", account.name),
        ),
    }
}

pub(crate) fn group_ids(
    conn: &Connection,
    account: &AccountRow,
    names: &[String],
) -> Result<Vec<(String, String)>> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for name in names {
        let group = groups::find(conn, account, name)?;
        if seen.insert(group.id.clone()) {
            ids.push((group.id, group.name));
        }
    }
    Ok(ids)
}

pub(crate) fn ensure_name_free(
    conn: &Connection,
    account: &AccountRow,
    name: &str,
    except: Option<&str>,
) -> Result<()> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys WHERE account_id = ?1 AND name_fold = ?2 AND id <> ?3)")?
        .query_row(params![account.id, validate::fold(name), except.unwrap_or("")], |r| r.get(0))?;
    if taken {
        return Err(Error::Conflict(format!(
            "account {} already has a key named {name:?}: names are unique, ignoring case — choose another",
            account.name
        )));
    }
    Ok(())
}

/// The account's keys that count toward its limit: all but those a roll replaced.
pub(crate) fn key_count(conn: &Connection, account: &AccountRow) -> Result<u32> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT key_count - (SELECT count(*) FROM key_rolls WHERE account_id = ?1)
             FROM accounts WHERE id = ?1",
        )?
        .query_row([&account.id], |r| r.get(0))?;
    Ok(count as u32)
}

/// A validated template shared by every key of one creation.
#[derive(Clone)]
pub(crate) struct KeyTemplate {
    pub description: Option<String>,
    pub access: AccessType,
    pub allow_unbind: bool,
    pub expires_at: Option<OffsetDateTime>,
}

impl KeyTemplate {
    pub(crate) fn from(new: &NewKey) -> Result<KeyTemplate> {
        let access = new.access.unwrap_or(AccessType::Read);
        validate_unbind(access, new.allow_unbind)?;
        if let Some(at) = new.expires_at {
            if at <= crate::model::now() {
                return Err(Error::invalid(
                    "the expiry is in the past: choose a later date",
                ));
            }
        }
        Ok(KeyTemplate {
            description: validate::description(new.description.as_deref())?,
            access,
            allow_unbind: new.allow_unbind,
            expires_at: new.expires_at,
        })
    }
}

pub(crate) fn insert_key(
    change: &Change<'_>,
    account: &AccountRow,
    name: &str,
    template: &KeyTemplate,
    groups: &[(String, String)],
) -> Result<CreatedKey> {
    let generated = key_format::generate(&account.prefix)?;
    let id = uuid::Uuid::now_v7().to_string();
    let at = to_millis(change.now);
    change.tx.prepare_cached(
        "INSERT INTO api_keys (id, account_id, name, name_fold, description, access, allow_unbind, status, hint,
                               verifier, created_at, created_by, updated_at, last_used_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?9, ?10, ?11, ?10, NULL, ?12)",
    )?
    .execute(params![
        id, account.id, name, validate::fold(name), template.description, template.access.as_str(),
        template.allow_unbind, generated.hint, generated.verifier.to_vec(), at, change.actor,
        template.expires_at.map(to_millis)
    ])?;
    let mut link = change
        .tx
        .prepare_cached("INSERT INTO key_groups (key_id, group_id) VALUES (?1, ?2)")?;
    for (group_id, _) in groups {
        link.execute(params![id, group_id])?;
    }
    outbox::queue_key(
        change,
        &account.id,
        &id,
        outbox::key_fields(change.tx, &id)?,
        false,
    )?;
    let group_names: Vec<String> = groups.iter().map(|(_, name)| name.clone()).collect();
    change.audit(NewEntry::target(
        "key.create",
        &account.name,
        &id,
        name,
        json!({
            "access": template.access, "allow_unbind": template.allow_unbind, "groups": group_names,
            "hint": generated.hint, "expires_at": template.expires_at.map(to_millis),
        }),
    ))?;
    let key = ApiKey {
        id,
        account: account.name.clone(),
        name: name.to_string(),
        description: template.description.clone(),
        access: template.access,
        allow_unbind: template.allow_unbind,
        groups: group_names,
        status: KeyStatus::Active,
        hint: generated.hint,
        created_at: change.now,
        created_by: change.actor.to_string(),
        updated_at: change.now,
        last_used_at: None,
        expires_at: template.expires_at,
        replaced_by: None,
    };
    Ok(CreatedKey {
        key,
        secret: generated.secret,
    })
}

impl Vault {
    /// Creates a key. The result holds the full key: show it once, then drop it.
    pub fn create_key(
        &mut self,
        account: Option<&str>,
        name: &str,
        new: &NewKey,
    ) -> Result<CreatedKey> {
        let mut created = self.create_keys(account, &[name.to_string()], new)?;
        Ok(created.remove(0))
    }

    /// Creates one key per name in one transaction: all of them or none.
    pub fn create_keys(
        &mut self,
        account: Option<&str>,
        names: &[String],
        new: &NewKey,
    ) -> Result<Vec<CreatedKey>> {
        self.create_keys_then(account, names, new, |_, _, _| Ok(()))
    }

    /// [`Vault::create_keys`], with `hand_over` given the new keys inside the
    /// transaction, before it commits: when it fails, no key is created.
    pub(crate) fn create_keys_then(
        &mut self,
        account: Option<&str>,
        names: &[String],
        new: &NewKey,
        hand_over: impl FnOnce(&Change<'_>, &AccountRow, &[&CreatedKey]) -> Result<()>,
    ) -> Result<Vec<CreatedKey>> {
        if names.is_empty() {
            return Err(Error::invalid("no key names given"));
        }
        let template = KeyTemplate::from(new)?;
        let mut clean = Vec::with_capacity(names.len());
        let mut seen = HashMap::new();
        for (index, raw) in names.iter().enumerate() {
            let name = validate::name("key", raw).map_err(|err| match names.len() {
                1 => Error::from(err),
                _ => Error::invalid(format!("name {} of {}: {err}", index + 1, names.len())),
            })?;
            if let Some(first) = seen.insert(validate::fold(&name), index) {
                return Err(Error::Conflict(format!(
                    "the name {name:?} is given twice (names {} and {}): names are unique, ignoring case",
                    first + 1, index + 1
                )));
            }
            clean.push(name);
        }
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let existing = key_count(change.tx, &account)?;
            if existing as usize + clean.len() > account.key_limit as usize {
                return Err(Error::KeyLimitReached {
                    account: account.name.clone(),
                    limit: account.key_limit,
                });
            }
            let groups = group_ids(change.tx, &account, &new.groups)?;
            let created = clean
                .iter()
                .map(|name| {
                    ensure_name_free(change.tx, &account, name, None)?;
                    insert_key(change, &account, name, &template, &groups)
                })
                .collect::<Result<Vec<_>>>()?;
            hand_over(change, &account, &created.iter().collect::<Vec<_>>())?;
            Ok(created)
        })
    }

    pub fn key(&self, account: Option<&str>, id_or_name: &str) -> Result<ApiKey> {
        let account = resolve(&self.conn, account)?;
        let row = find(&self.conn, &account, id_or_name)?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = ?1");
        let mut key = self
            .conn
            .prepare_cached(&sql)?
            .query_row([&row.id], |r| key_from_row(r, &account.name))?;
        key.groups = self
            .conn
            .prepare_cached(
                "SELECT g.name FROM key_groups kg JOIN groups g ON g.id = kg.group_id
                 WHERE kg.key_id = ?1 ORDER BY g.name_fold",
            )?
            .query_map([&key.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        key.replaced_by = roll::successor(&self.conn, &key.id)?;
        self.last_used.overlay(&mut key);
        Ok(key)
    }

    /// Fills in the group names of `keys` (sorted by id) in one ordered pass over
    /// `key_groups` — a merge join, instead of one index lookup per key.
    fn attach_groups(&self, account: &AccountRow, keys: &mut [ApiKey]) -> Result<()> {
        let names: HashMap<String, String> = self
            .conn
            .prepare_cached("SELECT id, name FROM groups WHERE account_id = ?1")?
            .query_map([&account.id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if names.is_empty() || keys.is_empty() {
            return Ok(());
        }
        let mut statement = self
            .conn
            .prepare_cached("SELECT key_id, group_id FROM key_groups ORDER BY key_id")?;
        let mut rows = statement.query([])?;
        let mut index = 0;
        while let Some(row) = rows.next()? {
            let key_id = row.get_ref(0)?.as_str()?;
            while index < keys.len() && keys[index].id.as_str() < key_id {
                index += 1;
            }
            let Some(key) = keys.get_mut(index) else {
                break;
            };
            if key.id == key_id {
                if let Some(name) = names.get(row.get_ref(1)?.as_str()?) {
                    key.groups.push(name.clone());
                }
            }
        }
        for key in keys.iter_mut().filter(|k| k.groups.len() > 1) {
            key.groups.sort_by_cached_key(|name| validate::fold(name));
        }
        Ok(())
    }

    /// The account's keys, oldest first (ids are UUIDv7, ordered by creation time), narrowed by `filter` (status and group in SQL).
    pub fn list_keys(&self, account: Option<&str>, filter: &KeyFilter) -> Result<Vec<ApiKey>> {
        let account = resolve(&self.conn, account)?;
        let group_id = match &filter.group {
            Some(group) => Some(groups::find(&self.conn, &account, group)?.id),
            None => None,
        };
        // `+k.account_id` keeps SQLite off the (account_id, name_fold) index: one ordered
        // scan of the clustered table beats an index search, a lookup per row and a sort.
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k
             WHERE +k.account_id = ?1 AND (?2 IS NULL OR k.status = ?2)
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM key_groups f WHERE f.key_id = k.id AND f.group_id = ?3))
             ORDER BY k.id"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let text = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(validate::fold);
        let status = filter.status.map(|s| s.as_str());
        let successors = roll::successors(&self.conn, &account.id)?;
        let review = Review::new(filter, now());
        let mut keys = Vec::new();
        let mut rows = statement.query(params![account.id, status, group_id])?;
        while let Some(row) = rows.next()? {
            if let Some(text) = &text {
                // Name, description, hint, id, creator: checked before building the record.
                let mut matched = false;
                for column in [1, 2, 6, 0, 8] {
                    if row
                        .get_ref(column)?
                        .as_str_or_null()?
                        .is_some_and(|field| contains_folded(field, text))
                    {
                        matched = true;
                        break;
                    }
                }
                if !matched {
                    continue;
                }
            }
            let mut key = key_from_row(row, &account.name)?;
            self.last_used.overlay(&mut key);
            key.replaced_by = successors.get(&key.id).cloned();
            if review.admits(&key) {
                keys.push(key);
            }
        }
        self.attach_groups(&account, &mut keys)?;
        Ok(keys)
    }

    pub fn rename_key(
        &mut self,
        account: Option<&str>,
        id_or_name: &str,
        new_name: &str,
    ) -> Result<ApiKey> {
        let new_name = validate::name("key", new_name)?;
        let (account_name, id) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let key = find(change.tx, &account, id_or_name)?;
            if key.name == new_name {
                return Err(Error::invalid(format!(
                    "the key is already named {new_name:?}"
                )));
            }
            ensure_name_free(change.tx, &account, &new_name, Some(&key.id))?;
            change.tx.execute(
                "UPDATE api_keys SET name = ?1, name_fold = ?2, updated_at = ?3 WHERE id = ?4",
                params![
                    new_name,
                    validate::fold(&new_name),
                    to_millis(change.now),
                    key.id
                ],
            )?;
            let fields = KeyFields {
                name: Some(new_name.clone()),
                ..KeyFields::default()
            };
            outbox::queue_key(change, &account.id, &key.id, fields, false)?;
            change.audit(NewEntry::target(
                "key.rename",
                &account.name,
                &key.id,
                &new_name,
                json!({
                    "name": { "from": key.name, "to": new_name }
                }),
            ))?;
            Ok((account.name, key.id))
        })?;
        self.key(Some(&account_name), &id)
    }

    /// Activates or deactivates a key. Setting the status it already has changes nothing.
    pub fn set_key_status(
        &mut self,
        account: Option<&str>,
        id_or_name: &str,
        status: KeyStatus,
    ) -> Result<ApiKey> {
        let (account_name, id) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let key = find(change.tx, &account, id_or_name)?;
            set_status_in(change, &account, &key, status)?;
            Ok((account.name, key.id))
        })?;
        self.key(Some(&account_name), &id)
    }

    /// Replaces a key's groups. No groups means the access type alone limits the key.
    pub fn set_key_groups(
        &mut self,
        account: Option<&str>,
        id_or_name: &str,
        group_names: &[String],
    ) -> Result<ApiKey> {
        let (account_name, id) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let key = find(change.tx, &account, id_or_name)?;
            let groups = group_ids(change.tx, &account, group_names)?;
            set_groups_in(change, &account, &key, &groups)?;
            Ok((account.name, key.id))
        })?;
        self.key(Some(&account_name), &id)
    }

    /// Deletes a key for good; returns what it was.
    pub fn delete_key(&mut self, account: Option<&str>, id_or_name: &str) -> Result<ApiKey> {
        let key = self.key(account, id_or_name)?;
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let row = find(change.tx, &account, &key.id)?;
            delete_in(change, &account, &row, &key)
        })?;
        self.last_used.forget(&key.id);
        Ok(key)
    }
}

/// Sets a key's status inside a change (with its outbox entry and audit
/// entry); the status it already has changes nothing.
pub(crate) fn set_status_in(
    change: &Change<'_>,
    account: &AccountRow,
    key: &KeyRow,
    status: KeyStatus,
) -> Result<()> {
    let current: String = change.tx.query_row(
        "SELECT status FROM api_keys WHERE id = ?1",
        [&key.id],
        |r| r.get(0),
    )?;
    if current == status.as_str() {
        return Ok(());
    }
    change.tx.execute(
        "UPDATE api_keys SET status = ?1, updated_at = ?2 WHERE id = ?3",
        params![status.as_str(), to_millis(change.now), key.id],
    )?;
    let fields = KeyFields {
        status: Some(status),
        ..KeyFields::default()
    };
    let narrows = status == KeyStatus::Inactive;
    outbox::queue_key(change, &account.id, &key.id, fields, narrows)?;
    let action = match status {
        KeyStatus::Active => "key.activate",
        KeyStatus::Inactive => "key.deactivate",
    };
    change.audit(NewEntry::target(
        action,
        &account.name,
        &key.id,
        &key.name,
        json!({
            "status": { "from": current, "to": status.as_str() }
        }),
    ))
}

/// Replaces a key's groups inside a change (with its outbox and audit entries).
pub(crate) fn set_groups_in(
    change: &Change<'_>,
    account: &AccountRow,
    key: &KeyRow,
    groups: &[(String, String)],
) -> Result<()> {
    let permissions_before = outbox::key_permissions(change.tx, &key.id)?;
    let before: Vec<String> = change.tx
        .prepare_cached("SELECT g.name FROM key_groups kg JOIN groups g ON g.id = kg.group_id WHERE kg.key_id = ?1 ORDER BY g.name_fold")?
        .query_map([&key.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    change
        .tx
        .execute("DELETE FROM key_groups WHERE key_id = ?1", [&key.id])?;
    for (group_id, _) in groups {
        change.tx.execute(
            "INSERT INTO key_groups (key_id, group_id) VALUES (?1, ?2)",
            params![key.id, group_id],
        )?;
    }
    change.tx.execute(
        "UPDATE api_keys SET updated_at = ?1 WHERE id = ?2",
        params![to_millis(change.now), key.id],
    )?;
    let permissions = outbox::key_permissions(change.tx, &key.id)?;
    let narrows = outbox::narrows(change.tx, &permissions_before, &permissions)?;
    let fields = KeyFields {
        permissions: Some(permissions),
        ..KeyFields::default()
    };
    outbox::queue_key(change, &account.id, &key.id, fields, narrows)?;
    let after: Vec<&String> = groups.iter().map(|(_, name)| name).collect();
    change.audit(NewEntry::target(
        "key.set_groups",
        &account.name,
        &key.id,
        &key.name,
        json!({
            "groups": { "from": before, "to": after }
        }),
    ))
}

/// Deletes a key inside a change: its tombstone, outbox and audit entries;
/// `was` is the key as it was, for the audit log.
pub(crate) fn delete_in(
    change: &Change<'_>,
    account: &AccountRow,
    row: &KeyRow,
    was: &ApiKey,
) -> Result<()> {
    change
        .tx
        .execute("DELETE FROM api_keys WHERE id = ?1", [&row.id])?;
    outbox::delete(change, &account.id, Entity::Key, &row.id, &row.name)?;
    change.audit(NewEntry::target(
        "key.delete",
        &account.name,
        &row.id,
        &row.name,
        json!({
            "hint": was.hint, "groups": was.groups, "last_used_at": was.last_used_at.map(to_millis)
        }),
    ))
}

/// Whether `field` contains `folded` (already case-folded), ignoring case. ASCII
/// fields — nearly all — are searched without allocating.
fn contains_folded(field: &str, folded: &str) -> bool {
    if !field.is_ascii() {
        return validate::fold(field).contains(folded);
    }
    let (hay, needle) = (field.as_bytes(), folded.as_bytes());
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::contains_folded;

    #[test]
    fn text_search_ignores_case_in_ascii_and_unicode() {
        assert!(contains_folded("Gate NORTH", "north"));
        assert!(contains_folded("Zeitnahme ÄRGER", "ärger"));
        assert!(contains_folded("anything", ""));
        assert!(!contains_folded("Gate", "gates"));
        assert!(!contains_folded("Straße", "strasse"));
    }
}
