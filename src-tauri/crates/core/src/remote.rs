//! Sync's side of the vault: an account's remote, the outbox of changes not
//! yet pushed, and applying what a pull brought.
//!
//! Once an account has a remote, every change to its groups and keys writes an
//! outbox entry in the same transaction as the change — so a change is never
//! made without being queued, nor queued without being made. An entry is the
//! patch the remote API applies: the fields the change touched, in the wire's
//! field names, with an idempotency id and the record's revision as last
//! pulled. Entries leave the outbox only when the remote has acknowledged them.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::access::{validate_unbind, AccessType, Scope};
use crate::accounts::{resolve, AccountRow};
use crate::audit::NewEntry;
use crate::model::{from_millis, to_millis, KeyStatus};
use crate::secret::SecretString;
use crate::vault::{Change, Vault};
use crate::{validate, Error, Result};

/// An account's remote as the UI and `keyward remote show` describe it: never the token.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RemoteInfo {
    pub url: String,
    /// The last four characters of the sync token.
    pub token_hint: String,
    /// Plain HTTP to a non-loopback host was allowed explicitly.
    pub insecure: bool,
}

/// What the sync client needs to talk to an account's remote.
pub struct RemoteSession {
    pub account: String,
    pub url: String,
    pub token: SecretString,
    /// This vault's id towards the remote (a change's `origin`).
    pub client_id: String,
    /// Where the next pull starts.
    pub cursor: u64,
}

/// An account's sync state, for the UI and `keyward remote show`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncState {
    pub remote: Option<RemoteInfo>,
    pub pending_changes: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync_at: Option<OffsetDateTime>,
    /// The last sync's report as the sync client wrote it (JSON).
    pub last_report: Option<String>,
    pub last_error: Option<String>,
}

/// One outbox entry: a patch for the remote API.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub idempotency_id: String,
    pub at: OffsetDateTime,
    /// `group` or `key`.
    pub entity: String,
    /// `upsert` or `delete`.
    pub op: String,
    pub record_id: String,
    pub base_revision: u64,
    /// The fields an upsert sets, named as on the wire.
    pub fields: Option<Value>,
}

/// A group as a pull brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteGroup {
    pub name: String,
    pub description: String,
    pub scopes: Vec<Scope>,
}

/// A key record as a pull brought it: everything but the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKey {
    pub name: String,
    pub description: Option<String>,
    pub access: AccessType,
    pub allow_unbind: bool,
    pub groups: Vec<String>,
    pub status: KeyStatus,
    pub hint: String,
    pub verifier: [u8; 32],
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub last_used_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PulledRecord {
    Group(RemoteGroup),
    Key(Box<RemoteKey>),
    GroupDeleted,
    KeyDeleted,
}

/// One record changed on the remote since the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub revision: u64,
    pub id: String,
    pub record: PulledRecord,
}

fn rfc3339(at: OffsetDateTime) -> Value {
    Value::String(at.format(&Rfc3339).unwrap_or_default())
}

fn token_hint(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// Whether `host` (as in a URL, IPv6 in brackets) is this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a remote's URL: `https://` anywhere, `http://` only to this machine
/// unless `insecure` (the token would cross the network in clear).
pub fn check_remote_url(url: &str, insecure: bool) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let bad = |why: &str| Error::invalid(format!("invalid remote URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("write it as https://HOST[:PORT]"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad(
            "the scheme must be https:// (or http:// on this machine)",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            "leave credentials out of the URL; the token is given separately",
        ));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("a remote URL has no query, fragment or spaces"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(host, _)| host).unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    if let Some(port) = authority.rsplit_once(']').map_or_else(
        || authority.split_once(':').map(|(_, port)| port),
        |(_, after)| after.strip_prefix(':'),
    ) {
        if port.parse::<u16>().map_or(true, |port| port == 0) {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
    }
    if scheme == "http" && !insecure && !is_loopback(host) {
        return Err(Error::invalid(format!(
            "refusing plain http:// to {host}: the sync token would cross the network in clear — use https://, or allow it explicitly (--insecure)"
        )));
    }
    Ok(format!("{scheme}://{rest}"))
}

fn check_token(token: &SecretString) -> Result<()> {
    let text = token.expose();
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "the sync token is empty: paste the token keyward-server printed",
        ));
    }
    if text.len() > 512 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "that is not a sync token (printable characters without spaces, at most 512)",
        ));
    }
    Ok(())
}

/// An account's row in `remotes`.
struct RemoteRow {
    url: String,
    token: String,
    insecure: bool,
    client_id: String,
    cursor: i64,
}

fn remote_of(conn: &Connection, account_id: &str) -> Result<Option<RemoteRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT url, token, insecure, client_id, cursor FROM remotes WHERE account_id = ?1",
        )?
        .query_row([account_id], |row| {
            Ok(RemoteRow {
                url: row.get(0)?,
                token: row.get(1)?,
                insecure: row.get(2)?,
                client_id: row.get(3)?,
                cursor: row.get(4)?,
            })
        })
        .optional()?)
}

/// Queues a change of `record_id` for the account's remote, if it has one.
/// Runs inside the change's transaction.
pub(crate) fn record(
    change: &Change<'_>,
    account_id: &str,
    entity: &str,
    record_id: &str,
    fields: Option<Value>,
) -> Result<()> {
    let synced = change
        .tx
        .prepare_cached("SELECT 1 FROM remotes WHERE account_id = ?1")?
        .exists([account_id])?;
    if !synced {
        return Ok(());
    }
    let base: i64 = change
        .tx
        .prepare_cached("SELECT revision FROM remote_revisions WHERE record_id = ?1")?
        .query_row([record_id], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let op = if fields.is_some() { "upsert" } else { "delete" };
    change
        .tx
        .prepare_cached(
            "INSERT INTO outbox (account_id, idempotency_id, at, entity, op, record_id, base_revision, fields)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            account_id,
            uuid::Uuid::now_v7().to_string(),
            to_millis(change.now),
            entity,
            op,
            record_id,
            base,
            fields.map(|fields| fields.to_string()),
        ])?;
    Ok(())
}

/// Every field of a key, as a patch that creates it on the remote.
pub(crate) fn key_fields(conn: &Connection, key_id: &str) -> Result<Value> {
    let mut fields = conn
        .prepare_cached(
            "SELECT name, description, access, allow_unbind, status, hint, verifier, created_at, created_by, expires_at
             FROM api_keys WHERE id = ?1",
        )?
        .query_row([key_id], |row| {
            Ok(json!({
                "name": row.get::<_, String>(0)?,
                "description": row.get::<_, Option<String>>(1)?,
                "access": row.get::<_, String>(2)?,
                "allow_unbind": row.get::<_, bool>(3)?,
                "status": row.get::<_, String>(4)?,
                "hint": row.get::<_, String>(5)?,
                "verifier": hex::encode(row.get::<_, Vec<u8>>(6)?),
                "created_at": rfc3339(from_millis(row.get(7)?)),
                "created_by": row.get::<_, String>(8)?,
                "expires_at": row.get::<_, Option<i64>>(9)?.map(|ms| rfc3339(from_millis(ms))),
            }))
        })?;
    fields["groups"] = key_group_ids(conn, key_id)?;
    Ok(fields)
}

/// A key's access type, unbind flag and groups: what the remote judges
/// together as the key's permissions, so they always travel together.
pub(crate) fn key_grant_fields(conn: &Connection, key_id: &str) -> Result<Value> {
    let (access, allow_unbind): (String, bool) = conn
        .prepare_cached("SELECT access, allow_unbind FROM api_keys WHERE id = ?1")?
        .query_row([key_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(
        json!({ "access": access, "allow_unbind": allow_unbind, "groups": key_group_ids(conn, key_id)? }),
    )
}

pub(crate) fn key_group_ids(conn: &Connection, key_id: &str) -> Result<Value> {
    let ids = conn
        .prepare_cached("SELECT group_id FROM key_groups WHERE key_id = ?1 ORDER BY group_id")?
        .query_map([key_id], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(json!(ids))
}

/// Every field of a group, as a patch that creates it on the remote.
pub(crate) fn group_fields(conn: &Connection, group_id: &str) -> Result<Value> {
    let (name, description): (String, String) = conn
        .prepare_cached("SELECT name, description FROM groups WHERE id = ?1")?
        .query_row([group_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(json!({ "name": name, "description": description, "scopes": group_scopes(conn, group_id)? }))
}

pub(crate) fn group_scopes(conn: &Connection, group_id: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT resource || ':' || action FROM group_scopes WHERE group_id = ?1 ORDER BY resource, action",
        )?
        .query_map([group_id], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn ids_of(conn: &Connection, sql: &str, account_id: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare(sql)?
        .query_map([account_id], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Writes each reported merge that overrode this desktop's change
/// (`sync.conflict`; each a JSON object with `entity`, `id`, `name`, `field`,
/// `yours`, `kept` and `rule`) to the audit log.
fn audit_conflicts(change: &Change<'_>, account: &AccountRow, conflicts: &[Value]) -> Result<()> {
    for conflict in conflicts {
        let text = |field: &str| {
            conflict
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        change.audit(NewEntry::target(
            "sync.conflict",
            &account.name,
            text("id"),
            text("name"),
            conflict.clone(),
        ))?;
    }
    Ok(())
}

/// The fields of a local key a pull may change.
struct KeyNow {
    name: String,
    description: Option<String>,
    access: String,
    allow_unbind: bool,
    status: String,
    expires_at: Option<i64>,
}

/// Applying one pull inside one transaction.
struct Applier<'c, 'a> {
    change: &'c Change<'a>,
    account: &'c AccountRow,
    /// Records given a stand-in name while another record held theirs, and
    /// the name each should end up with.
    renamed: HashMap<(&'static str, String), String>,
    changed: u64,
}

impl Applier<'_, '_> {
    fn table(entity: &'static str) -> &'static str {
        if entity == "key" {
            "api_keys"
        } else {
            "groups"
        }
    }

    /// Frees `name` for `id`: a different record holding it gets a stand-in
    /// name until the pull gives it its own (names are unique, and a pull may
    /// swap two names).
    fn free_name(&mut self, entity: &'static str, id: &str, name: &str) -> Result<()> {
        let table = Self::table(entity);
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
            let table = Self::table(entity);
            let mut name = wanted.clone();
            let mut n = 2;
            while self.change.tx.query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = ?1 AND name_fold = ?2 AND id <> ?3)"),
                params![self.account.id, validate::fold(&name), id],
                |row| row.get::<_, bool>(0),
            )? {
                name = format!("{wanted} ({n})");
                n += 1;
            }
            self.change.tx.execute(
                &format!("UPDATE {table} SET name = ?1, name_fold = ?2 WHERE id = ?3"),
                params![name, validate::fold(&name), id],
            )?;
            if name != wanted {
                record(
                    self.change,
                    &self.account.id,
                    entity,
                    &id,
                    Some(json!({ "name": name })),
                )?;
            }
        }
        Ok(())
    }

    /// The name of this account's `entity` with `id`, if this vault holds it.
    fn local_name(&self, entity: &'static str, id: &str) -> Result<Option<String>> {
        let table = Self::table(entity);
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

    fn group(&mut self, id: &str, group: &RemoteGroup) -> Result<()> {
        let tx = self.change.tx;
        let name = validate::name("group", &group.name)?;
        let at = to_millis(self.change.now);
        let current: Option<(String, String)> = tx
            .query_row(
                "SELECT name, description FROM groups WHERE id = ?1 AND account_id = ?2",
                params![id, self.account.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let mut scopes: Vec<String> = group.scopes.iter().map(Scope::to_string).collect();
        scopes.sort();
        let mut details = Map::new();
        match &current {
            None => {
                self.free_name("group", id, &name)?;
                tx.execute(
                    "INSERT INTO groups (id, account_id, name, name_fold, description, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![id, self.account.id, name, validate::fold(&name), group.description, at],
                )?;
                details.insert("scopes".into(), json!(scopes));
            }
            Some((old_name, old_description)) => {
                if *old_name != name || self.renamed.contains_key(&("group", id.to_string())) {
                    self.free_name("group", id, &name)?;
                    details.insert("name".into(), json!({ "from": old_name, "to": name }));
                }
                if *old_description != group.description {
                    details.insert("description".into(), json!(group.description));
                }
                let mut before = group_scopes(tx, id)?;
                before.sort();
                if before != scopes {
                    details.insert("scopes".into(), json!(scopes));
                }
                if details.is_empty() {
                    return Ok(());
                }
                tx.execute(
                    "UPDATE groups SET name = ?1, name_fold = ?2, description = ?3, updated_at = ?4 WHERE id = ?5",
                    params![name, validate::fold(&name), group.description, at, id],
                )?;
            }
        }
        tx.execute("DELETE FROM group_scopes WHERE group_id = ?1", [id])?;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO group_scopes (group_id, resource, action) VALUES (?1, ?2, ?3)",
        )?;
        for scope in &group.scopes {
            insert.execute(params![id, scope.resource, scope.action.as_str()])?;
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
        tx.execute("DELETE FROM key_groups WHERE group_id = ?1", [id])?;
        tx.execute("DELETE FROM groups WHERE id = ?1", [id])?;
        for key_id in &users {
            record(
                self.change,
                &self.account.id,
                "key",
                key_id,
                Some(key_grant_fields(tx, key_id)?),
            )?;
        }
        for (key_id, key_name) in &orphans {
            self.deactivate(
                key_id,
                key_name,
                &format!("its only group {name} was deleted on another desktop"),
            )?;
        }
        tx.execute("DELETE FROM remote_revisions WHERE record_id = ?1", [id])?;
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
        record(
            self.change,
            &self.account.id,
            "key",
            key_id,
            Some(json!({ "status": "inactive" })),
        )?;
        self.change.audit(NewEntry::target(
            "key.deactivate",
            &self.account.name,
            key_id,
            key_name,
            json!({ "status": { "from": "active", "to": "inactive" }, "reason": reason }),
        ))
    }

    fn key(&mut self, id: &str, key: &RemoteKey) -> Result<()> {
        let tx = self.change.tx;
        let name = validate::name("key", &key.name)?;
        let description = validate::description(key.description.as_deref())?;
        validate_unbind(key.access, key.allow_unbind)?;
        let at = to_millis(self.change.now);
        // Groups this vault does not hold grant nothing on the remote either.
        let known: BTreeSet<String> = {
            let mut statement =
                tx.prepare_cached("SELECT 1 FROM groups WHERE id = ?1 AND account_id = ?2")?;
            let mut known = BTreeSet::new();
            for group in &key.groups {
                if statement.exists(params![group, self.account.id])? {
                    known.insert(group.clone());
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
            Some(_) => serde_json::from_value(key_group_ids(tx, id)?).unwrap_or_default(),
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
                        key.allow_unbind, status.as_str(), key.hint, key.verifier.to_vec(),
                        to_millis(key.created_at), key.created_by, at, key.last_used_at.map(to_millis), expires_at
                    ],
                )?;
                details.insert("access".into(), json!(key.access));
                details.insert("hint".into(), json!(key.hint));
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
                if old_access != key.access.as_str() || *old_unbind != key.allow_unbind {
                    details.insert(
                        "access".into(),
                        json!({ "access": key.access, "allow_unbind": key.allow_unbind }),
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
                if details.is_empty() {
                    return Ok(());
                }
                tx.execute(
                    "UPDATE api_keys SET name = ?1, name_fold = ?2, description = ?3, access = ?4, allow_unbind = ?5,
                         status = ?6, expires_at = ?7, updated_at = ?8 WHERE id = ?9",
                    params![
                        name, validate::fold(&name), description, key.access.as_str(), key.allow_unbind,
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
        if lost_all_groups && key.status == KeyStatus::Active {
            record(
                self.change,
                &self.account.id,
                "key",
                id,
                Some(json!({ "status": "inactive" })),
            )?;
            details.insert(
                "reason".into(),
                json!("none of its groups exists any more: deactivated"),
            );
        }
        self.audit_upsert("key", current.is_some(), id, &name, details)
    }

    fn key_deleted(&mut self, id: &str) -> Result<()> {
        let tx = self.change.tx;
        let Some(name) = self.local_name("key", id)? else {
            return Ok(());
        };
        tx.execute("DELETE FROM api_keys WHERE id = ?1", [id])?;
        tx.execute("DELETE FROM remote_revisions WHERE record_id = ?1", [id])?;
        self.renamed.remove(&("key", id.to_string()));
        self.audit("sync.key.delete", id, &name, json!({}))
    }
}

impl Vault {
    /// Sets the account's remote. A new remote (or a new URL) starts afresh:
    /// every group and key of the account is queued, so the first sync sends
    /// them all. The same URL again only replaces the token.
    pub fn set_remote(
        &mut self,
        account: Option<&str>,
        url: &str,
        token: &SecretString,
        insecure: bool,
    ) -> Result<RemoteInfo> {
        let url = check_remote_url(url, insecure)?;
        // A pasted token often brings a space or a line break along.
        let token = &token.trimmed();
        check_token(token)?;
        let hint = token_hint(token.expose());
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let before = remote_of(change.tx, &account.id)?;
            let same_remote = before.as_ref().is_some_and(|old| old.url == url);
            if same_remote {
                change.tx.execute(
                    "UPDATE remotes SET token = ?1, insecure = ?2 WHERE account_id = ?3",
                    params![token.expose(), insecure, account.id],
                )?;
            } else {
                change.tx.execute("DELETE FROM remotes WHERE account_id = ?1", [&account.id])?;
                change.tx.execute("DELETE FROM outbox WHERE account_id = ?1", [&account.id])?;
                change.tx.execute(
                    "DELETE FROM remote_revisions WHERE record_id IN
                       (SELECT id FROM groups WHERE account_id = ?1 UNION ALL SELECT id FROM api_keys WHERE account_id = ?1)",
                    [&account.id],
                )?;
                change.tx.execute(
                    "INSERT INTO remotes (account_id, url, token, insecure, client_id, cursor) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                    params![account.id, url, token.expose(), insecure, uuid::Uuid::now_v7().to_string()],
                )?;
                for id in ids_of(change.tx, "SELECT id FROM groups WHERE account_id = ?1 ORDER BY id", &account.id)? {
                    record(change, &account.id, "group", &id, Some(group_fields(change.tx, &id)?))?;
                }
                for id in ids_of(change.tx, "SELECT id FROM api_keys WHERE account_id = ?1 ORDER BY id", &account.id)? {
                    record(change, &account.id, "key", &id, Some(key_fields(change.tx, &id)?))?;
                }
            }
            change.audit(NewEntry {
                action: "remote.set",
                account: Some(&account.name),
                target_id: None,
                target_name: None,
                details: json!({ "url": url, "token": hint, "insecure": insecure, "new_remote": !same_remote }),
            })?;
            Ok(RemoteInfo { url: url.clone(), token_hint: hint.clone(), insecure })
        })
    }

    /// Stops syncing the account: forgets its remote, its outbox and the
    /// revisions last pulled; its groups and keys stay as they are. Refused
    /// while changes wait for the remote, unless `force`. Returns how many
    /// queued changes were dropped; an account with no remote is not found.
    pub fn remove_remote(&mut self, account: Option<&str>, force: bool) -> Result<u64> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let remote = remote_of(change.tx, &account.id)?.ok_or_else(|| {
                Error::not_found_hint("remote of account", &account.name, "it does not sync")
            })?;
            let pending: i64 = change.tx.query_row(
                "SELECT count(*) FROM outbox WHERE account_id = ?1",
                [&account.id],
                |row| row.get(0),
            )?;
            if pending > 0 && !force {
                return Err(Error::Refused(format!(
                    "{pending} changes have not reached the remote yet: sync first, or turn sync off anyway (they stay in this vault, only the remote will not get them)"
                )));
            }
            change.tx.execute("DELETE FROM outbox WHERE account_id = ?1", [&account.id])?;
            change.tx.execute(
                "DELETE FROM remote_revisions WHERE record_id IN
                   (SELECT id FROM groups WHERE account_id = ?1 UNION ALL SELECT id FROM api_keys WHERE account_id = ?1)",
                [&account.id],
            )?;
            change.tx.execute("DELETE FROM remotes WHERE account_id = ?1", [&account.id])?;
            change.audit(NewEntry {
                action: "remote.remove",
                account: Some(&account.name),
                target_id: None,
                target_name: None,
                details: json!({ "url": remote.url, "dropped_changes": pending }),
            })?;
            Ok(pending as u64)
        })
    }

    /// The account's remote, if it has one.
    pub fn remote(&self, account: Option<&str>) -> Result<Option<RemoteInfo>> {
        let account = resolve(&self.conn, account)?;
        Ok(remote_of(&self.conn, &account.id)?.map(|row| RemoteInfo {
            token_hint: token_hint(&row.token),
            url: row.url,
            insecure: row.insecure,
        }))
    }

    /// What sync needs to talk to the account's remote.
    pub fn remote_session(&self, account: Option<&str>) -> Result<RemoteSession> {
        let account = resolve(&self.conn, account)?;
        let row = remote_of(&self.conn, &account.id)?.ok_or_else(|| {
            Error::not_found_hint(
                "remote of account",
                &account.name,
                "set one with `keyward remote set URL`",
            )
        })?;
        Ok(RemoteSession {
            account: account.name,
            url: row.url,
            token: SecretString::new(row.token),
            client_id: row.client_id,
            cursor: row.cursor as u64,
        })
    }

    pub fn sync_state(&self, account: Option<&str>) -> Result<SyncState> {
        let account = resolve(&self.conn, account)?;
        let remote = self.remote(Some(&account.name))?;
        let pending: i64 = self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE account_id = ?1",
            [&account.id],
            |row| row.get(0),
        )?;
        let (last_sync_at, last_report, last_error) = self
            .conn
            .query_row(
                "SELECT last_sync_at, last_report, last_error FROM remotes WHERE account_id = ?1",
                [&account.id],
                |row| Ok((row.get::<_, Option<i64>>(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?
            .unwrap_or((None, None, None));
        Ok(SyncState {
            remote,
            pending_changes: pending as u64,
            last_sync_at: last_sync_at.map(from_millis),
            last_report,
            last_error,
        })
    }

    /// The account's outbox, oldest first.
    pub fn outbox(&self, account: Option<&str>) -> Result<Vec<OutboxEntry>> {
        let account = resolve(&self.conn, account)?;
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, idempotency_id, at, entity, op, record_id, base_revision, fields
             FROM outbox WHERE account_id = ?1 ORDER BY seq",
        )?;
        let entries = statement
            .query_map([&account.id], |row| {
                Ok((
                    OutboxEntry {
                        seq: row.get(0)?,
                        idempotency_id: row.get(1)?,
                        at: from_millis(row.get(2)?),
                        entity: row.get(3)?,
                        op: row.get(4)?,
                        record_id: row.get(5)?,
                        base_revision: row.get::<_, i64>(6)? as u64,
                        fields: None,
                    },
                    row.get::<_, Option<String>>(7)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        entries
            .into_iter()
            .map(|(mut entry, fields)| {
                entry.fields = fields
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|err| {
                        Error::VaultDamaged(format!("unreadable outbox entry: {err}"))
                    })?;
                Ok(entry)
            })
            .collect()
    }

    /// Removes the entries the remote acknowledged (by `seq`) from the outbox
    /// and records, in
    /// the audit log, each merge that overrode one of this vault's changes
    /// (`conflicts`: the remote's reports, as JSON objects with `entity`, `id`,
    /// `name`, `field`, `yours`, `kept` and `rule`).
    pub fn acknowledge(
        &mut self,
        account: Option<&str>,
        acknowledged: &[i64],
        conflicts: &[Value],
    ) -> Result<()> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let mut remove = change
                .tx
                .prepare_cached("DELETE FROM outbox WHERE seq = ?1 AND account_id = ?2")?;
            for seq in acknowledged {
                remove.execute(params![seq, account.id])?;
            }
            audit_conflicts(change, &account, conflicts)
        })
    }

    /// Applies a pull in one transaction and moves the cursor: groups first
    /// (keys refer to them), then keys. A record this vault already holds at
    /// that revision (its own change coming back) or with changes still
    /// queued (they go out, merged, next time) is left as it is; deletes
    /// always apply. Returns how many records changed here.
    /// `conflicts`: the merges the remote reports overrode this desktop's
    /// changes, audited in the same transaction (so once per cursor move).
    pub fn apply_pull(
        &mut self,
        account: Option<&str>,
        pulled: &[Pulled],
        cursor: u64,
        conflicts: &[Value],
    ) -> Result<u64> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            audit_conflicts(change, &account, conflicts)?;
            let mut applier = Applier {
                change,
                account: &account,
                renamed: HashMap::new(),
                changed: 0,
            };
            let is_group = |p: &&Pulled| matches!(p.record, PulledRecord::Group(_) | PulledRecord::GroupDeleted);
            let ordered = pulled.iter().filter(is_group).chain(pulled.iter().filter(|p| !is_group(p)));
            for item in ordered {
                let known: Option<i64> = change
                    .tx
                    .prepare_cached("SELECT revision FROM remote_revisions WHERE record_id = ?1")?
                    .query_row([&item.id], |row| row.get(0))
                    .optional()?;
                let queued = change
                    .tx
                    .prepare_cached("SELECT 1 FROM outbox WHERE record_id = ?1 AND account_id = ?2")?
                    .exists(params![item.id, account.id])?;
                let own = known.is_some_and(|rev| rev as u64 >= item.revision);
                match &item.record {
                    PulledRecord::GroupDeleted => applier.group_deleted(&item.id)?,
                    PulledRecord::KeyDeleted => applier.key_deleted(&item.id)?,
                    PulledRecord::Group(_) | PulledRecord::Key(_) if own || queued => {
                        if let PulledRecord::Key(key) = &item.record {
                            change.tx.execute(
                                "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?1) WHERE id = ?2 AND ?1 IS NOT NULL",
                                params![key.last_used_at.map(to_millis), item.id],
                            )?;
                        }
                    }
                    PulledRecord::Group(group) => applier.group(&item.id, group)?,
                    PulledRecord::Key(key) => applier.key(&item.id, key)?,
                }
                if !matches!(item.record, PulledRecord::GroupDeleted | PulledRecord::KeyDeleted) {
                    change
                        .tx
                        .prepare_cached(
                            "INSERT INTO remote_revisions (record_id, revision) VALUES (?1, ?2)
                             ON CONFLICT (record_id) DO UPDATE SET revision = max(revision, ?2)",
                        )?
                        .execute(params![item.id, item.revision as i64])?;
                }
            }
            applier.restore_names()?;
            change.tx.execute(
                "UPDATE remotes SET cursor = max(cursor, ?1) WHERE account_id = ?2",
                params![cursor as i64, account.id],
            )?;
            Ok(applier.changed)
        })
    }

    /// Records how the last sync ended: its report (JSON) or its error.
    pub fn record_sync_outcome(
        &mut self,
        account: Option<&str>,
        report: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let account = resolve(&self.conn, account)?;
        let now = to_millis(crate::model::now());
        if let Some(report) = report {
            self.conn.execute(
                "UPDATE remotes SET last_sync_at = ?1, last_report = ?2, last_error = NULL WHERE account_id = ?3",
                params![now, report, account.id],
            )?;
        } else {
            self.conn.execute(
                "UPDATE remotes SET last_error = ?1 WHERE account_id = ?2",
                params![error, account.id],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_refuse_plain_http_off_this_machine() {
        assert_eq!(
            check_remote_url("https://keys.example.com/", false).unwrap(),
            "https://keys.example.com"
        );
        assert!(check_remote_url("http://127.0.0.1:8420", false).is_ok());
        assert!(check_remote_url("http://localhost:8420", false).is_ok());
        assert!(check_remote_url("http://[::1]:8420", false).is_ok());
        let refused = check_remote_url("http://keys.example.com", false).unwrap_err();
        assert!(refused.to_string().contains("--insecure"), "{refused}");
        assert!(check_remote_url("http://keys.example.com", true).is_ok());
        assert!(check_remote_url("http://127.0.0.2.example.com", false).is_err());
        for bad in [
            "keys.example.com",
            "ftp://keys.example.com",
            "https://",
            "https://user:pw@keys.example.com",
            "https://keys.example.com:99999",
            "https://keys.example.com:0",
            "https://keys.example.com/?token=x",
            "https://keys example.com",
        ] {
            assert!(check_remote_url(bad, true).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_token_hint_shows_only_its_last_four_characters() {
        assert_eq!(token_hint("kws_abcdefgh1234"), "…1234");
        assert_eq!(token_hint("ab"), "…ab");
    }
}
