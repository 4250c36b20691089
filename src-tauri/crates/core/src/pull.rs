//! Applying what a pull brought: the remote's groups and key records, in one
//! transaction with the new cursor.
//!
//! Groups come first (keys name them), then keys. A record with changes still
//! queued here is left for the next round (they go out, merged, next time);
//! deletes always apply; a record this vault deleted never comes back (its
//! delete is queued again instead). A record that breaks the vault's rules — a
//! name holding something shaped like a key, a name too long, unbind on a READ
//! key — is stored repaired (the key-shaped text removed, the name cut, the
//! unbind dropped), the repair is queued for the remote and audited: a pull
//! never stores what the vault refuses, and never jams on it either.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use crate::access::AccessType;
use crate::accounts::AccountRow;
use crate::audit::NewEntry;
use crate::key_format;
use crate::model::{to_millis, KeyStatus};
use crate::outbox;
use crate::vault::Change;
use crate::wire::{
    ChangeAction, Conflict, Entity, GroupFields, GroupRecord, KeyFields, KeyPermissions, KeyRecord,
    PulledChange, PulledRecord,
};
use crate::{validate, Result, Scope};

/// The fields of a local key a pull may change.
struct KeyNow {
    name: String,
    description: Option<String>,
    access: String,
    allow_unbind: bool,
    status: String,
    expires_at: Option<i64>,
}

/// A pulled text that breaks a rule, stored repaired: what changed, for the
/// audit log and the remote.
#[derive(Default)]
struct Repairs {
    fields: Vec<&'static str>,
}

impl Repairs {
    fn name(&mut self, what: &str, raw: &str) -> String {
        if let Ok(name) = validate::name(what, raw) {
            return name;
        }
        self.fields.push("name");
        validate::repaired_name(raw).unwrap_or_else(|| format!("{what} (renamed)"))
    }

    fn description(&mut self, raw: Option<&str>) -> Option<String> {
        if let Ok(description) = validate::description(raw) {
            return description;
        }
        self.fields.push("description");
        let text: String = raw
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        let text = key_format::redact(&text).replace("<redacted>", "[key removed]");
        let text: String = text
            .trim()
            .chars()
            .take(validate::DESCRIPTION_MAX_CHARS)
            .collect();
        (!text.trim().is_empty()).then(|| text.trim().to_string())
    }

    /// Text kept as it came but never with a key in it (a creator, a hint).
    fn plain(&mut self, raw: &str) -> String {
        if key_format::holds_full_key(raw) {
            self.fields.push("text");
            return key_format::redact(raw).replace("<redacted>", "[key removed]");
        }
        raw.to_string()
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Applying one pull inside one transaction.
pub(crate) struct Applier<'c, 'a> {
    pub change: &'c Change<'a>,
    pub account: &'c AccountRow,
    /// Records given a stand-in name while another record held theirs, and
    /// the name each should end up with.
    renamed: HashMap<(&'static str, String), String>,
    changed: u64,
}

fn table(entity: &'static str) -> &'static str {
    if entity == "key" {
        "api_keys"
    } else {
        "groups"
    }
}

impl<'c, 'a> Applier<'c, 'a> {
    pub fn new(change: &'c Change<'a>, account: &'c AccountRow) -> Self {
        Applier {
            change,
            account,
            renamed: HashMap::new(),
            changed: 0,
        }
    }

    /// Applies every pulled record, groups first; returns how many records
    /// changed here.
    pub fn apply(mut self, pulled: &[PulledChange], conflicts: &[Conflict]) -> Result<u64> {
        audit_conflicts(self.change, self.account, conflicts)?;
        let is_group = |p: &&PulledChange| p.record.entity() == Entity::Group;
        let ordered = pulled
            .iter()
            .filter(is_group)
            .chain(pulled.iter().filter(|p| !is_group(p)));
        for item in ordered {
            self.one(item)?;
        }
        self.restore_names()?;
        Ok(self.changed)
    }

    fn one(&mut self, item: &PulledChange) -> Result<()> {
        let tx = self.change.tx;
        let id = item.id.to_string();
        match &item.record {
            PulledRecord::GroupDeleted => return self.group_deleted(&id),
            PulledRecord::KeyDeleted => return self.key_deleted(&id),
            PulledRecord::Group(_) | PulledRecord::Key(_) => {}
        }
        if outbox::is_tombstoned(tx, &id)? {
            // Deleted here: never brought back. The remote still holds it, so
            // its delete goes out again unless it is on its way already.
            let queued = tx
                .prepare_cached("SELECT 1 FROM outbox WHERE record_id = ?1")?
                .exists([&id])?;
            if !queued {
                let action = match item.record.entity() {
                    Entity::Group => ChangeAction::DeleteGroup { id: item.id },
                    Entity::Key => ChangeAction::DeleteKey { id: item.id },
                };
                outbox::queue(self.change, &self.account.id, action, true)?;
            }
            return Ok(());
        }
        let known: Option<i64> = tx
            .prepare_cached("SELECT revision FROM remote_revisions WHERE record_id = ?1")?
            .query_row([&id], |row| row.get(0))
            .optional()?;
        let queued = tx
            .prepare_cached("SELECT 1 FROM outbox WHERE record_id = ?1 AND account_id = ?2")?
            .exists(params![id, self.account.id])?;
        let own = known.is_some_and(|rev| rev as u64 >= item.revision);
        // Seen at this revision from now on: a repair queued below builds on it.
        tx.prepare_cached(
            "INSERT INTO remote_revisions (record_id, revision) VALUES (?1, ?2)
             ON CONFLICT (record_id) DO UPDATE SET revision = max(revision, ?2)",
        )?
        .execute(params![id, item.revision as i64])?;
        match &item.record {
            PulledRecord::Key(key) if own || queued => {
                // A use the remote saw moves last used forward without being a change.
                tx.execute(
                    "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?1) WHERE id = ?2 AND ?1 IS NOT NULL",
                    params![key.last_used_at.map(to_millis), id],
                )?;
            }
            PulledRecord::Group(_) if own || queued => {}
            PulledRecord::Group(group) => self.group(&id, group)?,
            PulledRecord::Key(key) => self.key(&id, key)?,
            PulledRecord::GroupDeleted | PulledRecord::KeyDeleted => {}
        }
        Ok(())
    }

    /// Frees `name` for `id`: a different record holding it gets a stand-in
    /// name until the pull gives it its own (names are unique, and a pull may
    /// swap two names).
    fn free_name(&mut self, entity: &'static str, id: &str, name: &str) -> Result<()> {
        let table = table(entity);
        let holder: Option<(String, String)> = self
            .change
            .tx
            .query_row(
                &format!("SELECT id, name FROM {table} WHERE account_id = ?1 AND name_fold = ?2 AND id <> ?3"),
                params![self.account.id, validate::fold(name), id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((holder_id, holder_name)) = holder {
            let stand_in = format!("{holder_name} ~{holder_id}");
            self.change.tx.execute(
                &format!("UPDATE {table} SET name = ?1, name_fold = ?2 WHERE id = ?3"),
                params![stand_in, validate::fold(&stand_in), holder_id],
            )?;
            self.renamed
                .entry((entity, holder_id))
                .or_insert(holder_name);
        }
        self.renamed.remove(&(entity, id.to_string()));
        Ok(())
    }

    /// Gives every record still under a stand-in name its own name back, or
    /// the first free `NAME (n)`, queued for the remote.
    fn restore_names(&mut self) -> Result<()> {
        for ((entity, id), wanted) in std::mem::take(&mut self.renamed) {
            let table = table(entity);
            let mut name = wanted.clone();
            let mut n = 2;
            while self.change.tx.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = ?1 AND name_fold = ?2 AND id <> ?3)"),
                params![self.account.id, validate::fold(&name), id],
                |row| row.get::<_, bool>(0),
            )? {
                name = validate::numbered_name(&wanted, n);
                n += 1;
            }
            self.change.tx.execute(
                &format!("UPDATE {table} SET name = ?1, name_fold = ?2 WHERE id = ?3"),
                params![name, validate::fold(&name), id],
            )?;
            if name != wanted {
                if entity == "key" {
                    let fields = KeyFields {
                        name: Some(name),
                        ..KeyFields::default()
                    };
                    outbox::queue_key(self.change, &self.account.id, &id, fields, false)?;
                } else {
                    let fields = GroupFields {
                        name: Some(name),
                        ..GroupFields::default()
                    };
                    outbox::queue_group(self.change, &self.account.id, &id, fields, false)?;
                }
            }
        }
        Ok(())
    }

    /// The name of this account's `entity` with `id`, if this vault holds it.
    fn local_name(&self, entity: &'static str, id: &str) -> Result<Option<String>> {
        let table = table(entity);
        Ok(self
            .change
            .tx
            .query_row(
                &format!("SELECT name FROM {table} WHERE id = ?1 AND account_id = ?2"),
                params![id, self.account.id],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Audits a record a pull created (`existed` false) or updated.
    fn audit_upsert(
        &mut self,
        entity: &str,
        existed: bool,
        id: &str,
        name: &str,
        details: Map<String, Value>,
    ) -> Result<()> {
        let action = format!(
            "sync.{entity}.{}",
            if existed { "update" } else { "create" }
        );
        self.audit(&action, id, name, details.into())
    }

    fn audit(&mut self, action: &str, id: &str, name: &str, details: Value) -> Result<()> {
        self.changed += 1;
        self.change.audit(NewEntry::target(
            action,
            &self.account.name,
            id,
            name,
            details,
        ))
    }

    /// Audits what a pull stored repaired (the remote gets the repair too).
    fn audit_repairs(&mut self, id: &str, name: &str, repairs: &Repairs) -> Result<()> {
        if repairs.is_empty() {
            return Ok(());
        }
        self.change.audit(NewEntry::target(
            "sync.repair",
            &self.account.name,
            id,
            name,
            json!({ "fields": repairs.fields, "reason": "the remote's record broke the vault's rules: stored repaired" }),
        ))
    }

    fn group(&mut self, id: &str, group: &GroupRecord) -> Result<()> {
        let tx = self.change.tx;
        let mut repairs = Repairs::default();
        let name = repairs.name("group", &group.name);
        let description = repairs
            .description(Some(&group.description))
            .unwrap_or_default();
        let at = to_millis(self.change.now);
        let current: Option<(String, String)> = tx
            .query_row(
                "SELECT name, description FROM groups WHERE id = ?1 AND account_id = ?2",
                params![id, self.account.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let scopes: BTreeSet<Scope> = group.scopes.iter().cloned().collect();
        let scope_list: Vec<String> = scopes.iter().map(Scope::to_string).collect();
        let mut details = Map::new();
        match &current {
            None => {
                self.free_name("group", id, &name)?;
                tx.execute(
                    "INSERT INTO groups (id, account_id, name, name_fold, description, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![id, self.account.id, name, validate::fold(&name), description, at],
                )?;
                details.insert("scopes".into(), json!(scope_list));
            }
            Some((old_name, old_description)) => {
                if *old_name != name || self.renamed.contains_key(&("group", id.to_string())) {
                    self.free_name("group", id, &name)?;
                    details.insert("name".into(), json!({ "from": old_name, "to": name }));
                }
                if *old_description != description {
                    details.insert("description".into(), json!(description));
                }
                if outbox::group_scopes(tx, id)? != scopes {
                    details.insert("scopes".into(), json!(scope_list));
                }
                if details.is_empty() {
                    return Ok(());
                }
                tx.execute(
                    "UPDATE groups SET name = ?1, name_fold = ?2, description = ?3, updated_at = ?4 WHERE id = ?5",
                    params![name, validate::fold(&name), description, at, id],
                )?;
            }
        }
        tx.execute("DELETE FROM group_scopes WHERE group_id = ?1", [id])?;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO group_scopes (group_id, resource, action) VALUES (?1, ?2, ?3)",
        )?;
        for scope in &scopes {
            insert.execute(params![id, scope.resource, scope.action.as_str()])?;
        }
        if !repairs.is_empty() {
            let fields = GroupFields {
                name: Some(name.clone()),
                description: Some(description.clone()),
                scopes: None,
            };
            outbox::queue_group(self.change, &self.account.id, id, fields, false)?;
            self.audit_repairs(id, &name, &repairs)?;
        }
        self.audit_upsert("group", current.is_some(), id, &name, details)
    }

    fn group_deleted(&mut self, id: &str) -> Result<()> {
        let tx = self.change.tx;
        let Some(name) = self.local_name("group", id)? else {
            return Ok(());
        };
        // Keys left with no group would fall back to their access type alone:
        // deactivated instead, as when a group is deleted here.
        let orphans = tx
            .prepare(
                "SELECT k.id, k.name FROM api_keys k JOIN key_groups kg ON kg.key_id = k.id
                 WHERE kg.group_id = ?1 AND k.status = 'active'
                   AND (SELECT count(*) FROM key_groups other WHERE other.key_id = k.id) = 1",
            )?
            .query_map([id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let users: Vec<String> = tx
            .prepare("SELECT key_id FROM key_groups WHERE group_id = ?1")?
            .query_map([id], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (key_id, key_name) in &orphans {
            self.deactivate(
                key_id,
                key_name,
                &format!("its only group {name} was deleted on another desktop"),
            )?;
        }
        tx.execute("DELETE FROM key_groups WHERE group_id = ?1", [id])?;
        tx.execute("DELETE FROM groups WHERE id = ?1", [id])?;
        for key_id in &users {
            let fields = KeyFields {
                permissions: Some(outbox::key_permissions(tx, key_id)?),
                ..KeyFields::default()
            };
            outbox::queue_key(self.change, &self.account.id, key_id, fields, true)?;
        }
        remember_deleted(self, "group", id, &name)?;
        self.audit(
            "sync.group.delete",
            id,
            &name,
            json!({ "keys_affected": users.len() }),
        )
    }

    /// Deactivates a key here and queues that for the remote.
    fn deactivate(&mut self, key_id: &str, key_name: &str, reason: &str) -> Result<()> {
        self.change.tx.execute(
            "UPDATE api_keys SET status = 'inactive', updated_at = ?1 WHERE id = ?2",
            params![to_millis(self.change.now), key_id],
        )?;
        let fields = KeyFields {
            status: Some(KeyStatus::Inactive),
            ..KeyFields::default()
        };
        outbox::queue_key(self.change, &self.account.id, key_id, fields, true)?;
        self.change.audit(NewEntry::target(
            "key.deactivate",
            &self.account.name,
            key_id,
            key_name,
            json!({ "status": { "from": "active", "to": "inactive" }, "reason": reason }),
        ))
    }

    fn key(&mut self, id: &str, key: &KeyRecord) -> Result<()> {
        let tx = self.change.tx;
        let mut repairs = Repairs::default();
        let name = repairs.name("key", &key.name);
        let description = repairs.description(key.description.as_deref());
        let created_by = repairs.plain(&key.created_by);
        let hint = repairs.plain(&key.hint);
        // A READ key never unbinds: the flag is dropped (which only narrows).
        let allow_unbind = key.allow_unbind && key.access != AccessType::Read;
        if allow_unbind != key.allow_unbind {
            repairs.fields.push("access");
        }
        let at = to_millis(self.change.now);
        // Groups this vault does not hold grant nothing on the remote either.
        let known: BTreeSet<String> = {
            let mut statement =
                tx.prepare_cached("SELECT 1 FROM groups WHERE id = ?1 AND account_id = ?2")?;
            let mut known = BTreeSet::new();
            for group in &key.groups {
                let group = group.to_string();
                if statement.exists(params![group, self.account.id])? {
                    known.insert(group);
                }
            }
            known
        };
        let lost_all_groups = !key.groups.is_empty() && known.is_empty();
        let status = if lost_all_groups {
            KeyStatus::Inactive
        } else {
            key.status
        };
        let current: Option<KeyNow> = tx
            .query_row(
                "SELECT name, description, access, allow_unbind, status, expires_at FROM api_keys
                 WHERE id = ?1 AND account_id = ?2",
                params![id, self.account.id],
                |row| {
                    Ok(KeyNow {
                        name: row.get(0)?,
                        description: row.get(1)?,
                        access: row.get(2)?,
                        allow_unbind: row.get(3)?,
                        status: row.get(4)?,
                        expires_at: row.get(5)?,
                    })
                },
            )
            .optional()?;
        let groups_before: BTreeSet<String> = match current {
            Some(_) => tx
                .prepare_cached("SELECT group_id FROM key_groups WHERE key_id = ?1")?
                .query_map([id], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            None => BTreeSet::new(),
        };
        let expires_at = key.expires_at.map(to_millis);
        let mut details = Map::new();
        match &current {
            None => {
                self.free_name("key", id, &name)?;
                tx.execute(
                    "INSERT INTO api_keys (id, account_id, name, name_fold, description, access, allow_unbind, status, hint,
                                           verifier, created_at, created_by, updated_at, last_used_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        id, self.account.id, name, validate::fold(&name), description, key.access.as_str(),
                        allow_unbind, status.as_str(), hint, key.verifier.0.to_vec(),
                        to_millis(key.created_at), created_by, at, key.last_used_at.map(to_millis), expires_at
                    ],
                )?;
                details.insert("access".into(), json!(key.access));
                details.insert("hint".into(), json!(hint));
            }
            Some(KeyNow {
                name: old_name,
                description: old_description,
                access: old_access,
                allow_unbind: old_unbind,
                status: old_status,
                expires_at: old_expires,
            }) => {
                if *old_name != name || self.renamed.contains_key(&("key", id.to_string())) {
                    self.free_name("key", id, &name)?;
                    details.insert("name".into(), json!({ "from": old_name, "to": name }));
                }
                if *old_description != description {
                    details.insert("description".into(), json!(description));
                }
                if old_access != key.access.as_str() || *old_unbind != allow_unbind {
                    details.insert(
                        "access".into(),
                        json!({ "access": key.access, "allow_unbind": allow_unbind }),
                    );
                }
                if old_status != status.as_str() {
                    details.insert(
                        "status".into(),
                        json!({ "from": old_status, "to": status.as_str() }),
                    );
                }
                if *old_expires != expires_at {
                    details.insert("expires_at".into(), json!(expires_at));
                }
                if groups_before != known {
                    details.insert("groups".into(), json!(known));
                }
                // A use the remote saw moves last used forward without being a change.
                tx.execute(
                    "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?1) WHERE id = ?2 AND ?1 IS NOT NULL",
                    params![key.last_used_at.map(to_millis), id],
                )?;
                if details.is_empty() && repairs.is_empty() {
                    return Ok(());
                }
                tx.execute(
                    "UPDATE api_keys SET name = ?1, name_fold = ?2, description = ?3, access = ?4, allow_unbind = ?5,
                         status = ?6, expires_at = ?7, updated_at = ?8 WHERE id = ?9",
                    params![
                        name, validate::fold(&name), description, key.access.as_str(), allow_unbind,
                        status.as_str(), expires_at, at, id
                    ],
                )?;
            }
        }
        if groups_before != known {
            tx.execute("DELETE FROM key_groups WHERE key_id = ?1", [id])?;
            let mut link =
                tx.prepare_cached("INSERT INTO key_groups (key_id, group_id) VALUES (?1, ?2)")?;
            for group in &known {
                link.execute(params![id, group])?;
            }
        }
        let mut fields = KeyFields::default();
        if lost_all_groups && key.status == KeyStatus::Active {
            fields.status = Some(KeyStatus::Inactive);
            details.insert(
                "reason".into(),
                json!("none of its groups exists any more: deactivated"),
            );
        }
        if !repairs.is_empty() {
            fields.name = Some(name.clone());
            fields.description = Some(description.clone());
            fields.permissions = Some(KeyPermissions {
                access: key.access,
                allow_unbind,
                groups: key.groups.iter().copied().collect(),
            });
            self.audit_repairs(id, &name, &repairs)?;
        }
        if fields != KeyFields::default() {
            outbox::queue_key(self.change, &self.account.id, id, fields, true)?;
        }
        self.audit_upsert("key", current.is_some(), id, &name, details)
    }

    fn key_deleted(&mut self, id: &str) -> Result<()> {
        let tx = self.change.tx;
        let Some(name) = self.local_name("key", id)? else {
            return Ok(());
        };
        tx.execute("DELETE FROM api_keys WHERE id = ?1", [id])?;
        self.renamed.remove(&("key", id.to_string()));
        remember_deleted(self, "key", id, &name)?;
        self.audit("sync.key.delete", id, &name, json!({}))
    }
}

/// A record the remote deleted: remembered like a local delete, with nothing
/// queued (the remote knows), and whatever was queued for it dropped.
fn remember_deleted(applier: &Applier<'_, '_>, entity: &str, id: &str, name: &str) -> Result<()> {
    let tx = applier.change.tx;
    tx.prepare_cached(
        "INSERT INTO tombstones (record_id, account_id, entity, name, deleted_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (record_id) DO NOTHING",
    )?
    .execute(params![id, applier.account.id, entity, name, to_millis(applier.change.now)])?;
    tx.execute("DELETE FROM remote_revisions WHERE record_id = ?1", [id])?;
    tx.execute(
        "DELETE FROM outbox WHERE record_id = ?1 AND in_flight = 0",
        [id],
    )?;
    Ok(())
}

/// Writes each reported merge that overrode this desktop's change to the
/// audit log (`sync.conflict`).
pub(crate) fn audit_conflicts(
    change: &Change<'_>,
    account: &AccountRow,
    conflicts: &[Conflict],
) -> Result<()> {
    for conflict in conflicts {
        let id = conflict.id.to_string();
        change.audit(NewEntry::target(
            "sync.conflict",
            &account.name,
            &id,
            &conflict.name,
            serde_json::to_value(conflict).unwrap_or_default(),
        ))?;
    }
    Ok(())
}
