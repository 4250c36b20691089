//! Permission groups: named sets of `resource:action` scopes. A key with
//! groups is limited to the union of its groups' scopes.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::access::{Action, Scope};
use crate::accounts::{resolve, AccountRow};
use crate::audit::NewEntry;
use crate::model::KeyStatus;
use crate::model::{from_millis, to_millis, Group};
use crate::vault::{Change, Vault};
use crate::wire::{Entity, GroupFields, KeyFields};
use crate::{outbox, validate, Error, Result};

#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub rename: Option<String>,
    pub description: Option<String>,
    pub scopes: Option<Vec<Scope>>,
}

/// What deleting a group did to the keys that had it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupDeletion {
    pub group: String,
    pub keys_affected: u64,
    /// Keys left with no group would fall back to their access type alone —
    /// more than they were given — so they are deactivated instead.
    pub keys_deactivated: Vec<String>,
}

pub(crate) struct GroupRow {
    pub id: String,
    pub name: String,
}

fn account_resources(conn: &Connection, account: &AccountRow) -> Result<Vec<String>> {
    let resources: String = conn.query_row(
        "SELECT resources FROM accounts WHERE id = ?1",
        [&account.id],
        |r| r.get(0),
    )?;
    Ok(resources.split(',').map(str::to_string).collect())
}

fn check_scopes(
    conn: &Connection,
    account: &AccountRow,
    scopes: &[Scope],
) -> Result<BTreeSet<Scope>> {
    let resources = account_resources(conn, account)?;
    for scope in scopes {
        if !resources.contains(&scope.resource) {
            return Err(Error::invalid(format!(
                "unknown resource {:?} in scope {scope}: account {} has {}",
                scope.resource,
                account.name,
                resources.join(", ")
            )));
        }
    }
    Ok(scopes.iter().cloned().collect())
}

pub(crate) fn find(conn: &Connection, account: &AccountRow, name: &str) -> Result<GroupRow> {
    conn.prepare_cached("SELECT id, name FROM groups WHERE account_id = ?1 AND name_fold = ?2")?
        .query_row(params![account.id, validate::fold(name.trim())], |row| {
            Ok(GroupRow {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })
        .optional()?
        .ok_or_else(|| {
            Error::not_found_hint(
                "group",
                name.trim(),
                &format!("account {} has no group by that name", account.name),
            )
        })
}

fn ensure_name_free(
    conn: &Connection,
    account: &AccountRow,
    name: &str,
    except: Option<&str>,
) -> Result<()> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM groups WHERE account_id = ?1 AND name_fold = ?2 AND id <> ?3)",
        params![account.id, validate::fold(name), except.unwrap_or("")], |r| r.get(0))?;
    if taken {
        return Err(Error::Conflict(format!(
            "account {} already has a group named {name:?}: choose another name",
            account.name
        )));
    }
    Ok(())
}

fn replace_scopes(change: &Change<'_>, group_id: &str, scopes: &BTreeSet<Scope>) -> Result<()> {
    change
        .tx
        .execute("DELETE FROM group_scopes WHERE group_id = ?1", [group_id])?;
    let mut insert = change.tx.prepare_cached(
        "INSERT INTO group_scopes (group_id, resource, action) VALUES (?1, ?2, ?3)",
    )?;
    for scope in scopes {
        insert.execute(params![group_id, scope.resource, scope.action.as_str()])?;
    }
    Ok(())
}

fn scope_list(scopes: &BTreeSet<Scope>) -> Vec<String> {
    scopes.iter().map(Scope::to_string).collect()
}

impl Vault {
    pub fn create_group(&mut self, account: Option<&str>, group: NewGroup) -> Result<Group> {
        let name = validate::name("group", &group.name)?;
        let description = validate::description(group.description.as_deref())?.unwrap_or_default();
        let id = uuid::Uuid::now_v7().to_string();
        let account_name = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let scopes = check_scopes(change.tx, &account, &group.scopes)?;
            ensure_name_free(change.tx, &account, &name, None)?;
            let at = to_millis(change.now);
            change.tx.execute(
                "INSERT INTO groups (id, account_id, name, name_fold, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![id, account.id, name, validate::fold(&name), description, at],
            )?;
            replace_scopes(change, &id, &scopes)?;
            outbox::queue_group(change, &account.id, &id, outbox::group_fields(change.tx, &id)?, false)?;
            change.audit(NewEntry::target("group.create", &account.name, &id, &name, json!({
                "description": description, "scopes": scope_list(&scopes)
            })))?;
            Ok(account.name)
        })?;
        self.group(Some(&account_name), &name)
    }

    pub fn group(&self, account: Option<&str>, name: &str) -> Result<Group> {
        let account = resolve(&self.conn, account)?;
        let row = find(&self.conn, &account, name)?;
        self.load_groups(&account)?
            .into_iter()
            .find(|g| g.id == row.id)
            .ok_or_else(|| Error::not_found("group", name))
    }

    pub fn list_groups(&self, account: Option<&str>) -> Result<Vec<Group>> {
        let account = resolve(&self.conn, account)?;
        self.load_groups(&account)
    }

    fn load_groups(&self, account: &AccountRow) -> Result<Vec<Group>> {
        let mut scopes: HashMap<String, Vec<Scope>> = HashMap::new();
        let mut statement = self.conn.prepare_cached(
            "SELECT s.group_id, s.resource, s.action FROM group_scopes s JOIN groups g ON g.id = s.group_id
             WHERE g.account_id = ?1 ORDER BY s.resource, s.action",
        )?;
        let rows = statement.query_map([&account.id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (group_id, resource, action) = row?;
            // A stored action this version does not know grants nothing.
            let Some(action) = Action::parse(&action) else {
                continue;
            };
            scopes
                .entry(group_id)
                .or_default()
                .push(Scope::new(&resource, action));
        }
        let mut statement = self.conn.prepare_cached(
            "SELECT g.id, g.name, g.description, g.created_at, g.updated_at,
                    (SELECT count(*) FROM key_groups kg WHERE kg.group_id = g.id)
             FROM groups g WHERE g.account_id = ?1 ORDER BY g.name_fold",
        )?;
        let groups = statement
            .query_map([&account.id], |row| {
                let id: String = row.get(0)?;
                Ok(Group {
                    scopes: scopes.remove(&id).unwrap_or_default(),
                    id,
                    account: account.name.clone(),
                    name: row.get(1)?,
                    description: row.get(2)?,
                    created_at: from_millis(row.get(3)?),
                    updated_at: from_millis(row.get(4)?),
                    key_count: row.get::<_, i64>(5)? as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(groups)
    }

    pub fn update_group(
        &mut self,
        account: Option<&str>,
        name: &str,
        changes: GroupChanges,
    ) -> Result<Group> {
        let rename = changes
            .rename
            .as_deref()
            .map(|n| validate::name("group", n))
            .transpose()?;
        let description = changes
            .description
            .as_deref()
            .map(|d| validate::description(Some(d)))
            .transpose()?;
        let (account_name, final_name) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let group = find(change.tx, &account, name)?;
            let at = to_millis(change.now);
            let mut details = serde_json::Map::new();
            let mut fields = GroupFields::default();
            let mut narrows = false;
            if let Some(new_name) = &rename {
                ensure_name_free(change.tx, &account, new_name, Some(&group.id))?;
                change.tx.execute(
                    "UPDATE groups SET name = ?1, name_fold = ?2, updated_at = ?3 WHERE id = ?4",
                    params![new_name, validate::fold(new_name), at, group.id],
                )?;
                details.insert("name".into(), json!({ "from": group.name, "to": new_name }));
                fields.name = Some(new_name.clone());
            }
            if let Some(description) = &description {
                let text = description.clone().unwrap_or_default();
                change.tx.execute(
                    "UPDATE groups SET description = ?1, updated_at = ?2 WHERE id = ?3",
                    params![text, at, group.id],
                )?;
                details.insert("description".into(), json!(text));
                fields.description = Some(text);
            }
            if let Some(scopes) = &changes.scopes {
                let scopes = check_scopes(change.tx, &account, scopes)?;
                narrows = scopes.is_subset(&outbox::group_scopes(change.tx, &group.id)?);
                replace_scopes(change, &group.id, &scopes)?;
                change.tx.execute(
                    "UPDATE groups SET updated_at = ?1 WHERE id = ?2",
                    params![at, group.id],
                )?;
                details.insert("scopes".into(), json!(scope_list(&scopes)));
                fields.scopes = Some(scopes.into_iter().collect());
            }
            if details.is_empty() {
                return Err(Error::invalid(
                    "nothing to change: give a new name, description or scopes",
                ));
            }
            outbox::queue_group(change, &account.id, &group.id, fields, narrows)?;
            let final_name = rename.clone().unwrap_or(group.name.clone());
            change.audit(NewEntry::target(
                "group.update",
                &account.name,
                &group.id,
                &final_name,
                details.into(),
            ))?;
            Ok((account.name, final_name))
        })?;
        self.group(Some(&account_name), &final_name)
    }

    /// Deletes a group. Refused while keys use it unless `force`; with
    /// `force`, keys that would be left with no group are deactivated.
    pub fn delete_group(
        &mut self,
        account: Option<&str>,
        name: &str,
        force: bool,
    ) -> Result<GroupDeletion> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let group = find(change.tx, &account, name)?;
            let users: i64 = change.tx.query_row(
                "SELECT count(*) FROM key_groups WHERE group_id = ?1",
                [&group.id],
                |r| r.get(0),
            )?;
            if users > 0 && !force {
                return Err(Error::GroupInUse {
                    group: group.name,
                    keys: users as u64,
                });
            }
            let mut statement = change.tx.prepare(
                "SELECT k.id, k.name FROM api_keys k JOIN key_groups kg ON kg.key_id = k.id
                 WHERE kg.group_id = ?1 AND k.status = 'active'
                   AND (SELECT count(*) FROM key_groups other WHERE other.key_id = k.id) = 1",
            )?;
            let orphans = statement
                .query_map([&group.id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let holders: Vec<String> = change
                .tx
                .prepare("SELECT key_id FROM key_groups WHERE group_id = ?1")?
                .query_map([&group.id], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let at = to_millis(change.now);
            for (key_id, key_name) in &orphans {
                change.tx.execute(
                    "UPDATE api_keys SET status = 'inactive', updated_at = ?1 WHERE id = ?2",
                    params![at, key_id],
                )?;
                let fields = KeyFields {
                    status: Some(KeyStatus::Inactive),
                    ..KeyFields::default()
                };
                outbox::queue_key(change, &account.id, key_id, fields, true)?;
                change.audit(NewEntry::target(
                    "key.deactivate",
                    &account.name,
                    key_id,
                    key_name,
                    json!({
                        "status": { "from": "active", "to": "inactive" },
                        "reason": format!("its only group {} was deleted", group.name)
                    }),
                ))?;
            }
            change
                .tx
                .execute("DELETE FROM key_groups WHERE group_id = ?1", [&group.id])?;
            change
                .tx
                .execute("DELETE FROM groups WHERE id = ?1", [&group.id])?;
            for key_id in &holders {
                let fields = KeyFields {
                    permissions: Some(outbox::key_permissions(change.tx, key_id)?),
                    ..KeyFields::default()
                };
                outbox::queue_key(change, &account.id, key_id, fields, true)?;
            }
            outbox::delete(change, &account.id, Entity::Group, &group.id, &group.name)?;
            change.audit(NewEntry::target(
                "group.delete",
                &account.name,
                &group.id,
                &group.name,
                json!({
                    "keys_affected": users
                }),
            ))?;
            Ok(GroupDeletion {
                group: group.name,
                keys_affected: users as u64,
                keys_deactivated: orphans.into_iter().map(|(_, name)| name).collect(),
            })
        })
    }
}
