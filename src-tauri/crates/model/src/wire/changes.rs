//! `POST /v1/sync/push` and `GET /v1/sync/pull`: how desktops exchange groups
//! and key records with the server.
//!
//! A push carries changes as the desktop's outbox recorded them, each with an
//! idempotency id: the server applies a batch in one transaction and each id
//! exactly once; a replayed id answers the result of its first application.
//! An upsert is a *patch*: it names only the fields the change touched, so two
//! desktops editing different fields of one key never undo each other. A pull
//! returns the current state of every record changed since a cursor — deletes
//! as tombstones, last-used times included — in cursor order.

use crate::{AccessType, KeyStatus, Scope};
use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Group,
    Key,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Upsert,
    Delete,
}

/// SHA-256 of a full key, as 64 hex digits: what the server looks keys up by.
/// It is not the key and cannot be turned back into one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verifier(pub [u8; 32]);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({})", hex::encode(self.0))
    }
}

impl Serialize for Verifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Verifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(|_| {
            serde::de::Error::custom("a verifier is 64 hex digits: the SHA-256 of the key")
        })?;
        Ok(Verifier(bytes))
    }
}

/// The fields of a group an upsert sets; absent ones stay as they are. A
/// group the server does not hold yet needs at least `name`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the group's scopes (`resource:read|write|delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::scopes))]
    pub scopes: Option<Vec<Scope>>,
}

/// What a key may do, judged as one: its access type, unbind flag and groups.
/// They travel together on the wire (all three fields or none), because the
/// server judges them together and a patch of one of them would be read
/// against another desktop's values of the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPermissions {
    pub access: AccessType,
    pub allow_unbind: bool,
    /// By group id (ids survive a rename); none = the access type alone
    /// limits the key. On the wire, a sorted array.
    pub groups: BTreeSet<Uuid>,
}

/// The message of a patch that names some of `access`, `allow_unbind` and
/// `groups` but not all (the server answers it with 400).
pub const PARTIAL_PERMISSIONS: &str =
    "a key's access, allow_unbind and groups travel together: send all three or none";

/// The fields of a key record an upsert sets; absent ones stay as they are.
/// A key the server does not hold yet needs `name`, `access` (with
/// `allow_unbind` and `groups`), `verifier` and `hint`; the rest default to
/// the least (active, no expiry). `description` and `expires_at` are cleared
/// with `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeyFieldsOnWire", into = "KeyFieldsOnWire")]
pub struct KeyFields {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub permissions: Option<KeyPermissions>,
    pub status: Option<KeyStatus>,
    /// `Some(None)` clears it.
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// Set when the key is created; a key's verifier never changes.
    pub verifier: Option<Verifier>,
    pub hint: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub created_by: Option<String>,
}

/// [`KeyFields`] as written in JSON: the permissions flat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = KeyFields))]
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFieldsOnWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    description: Option<Option<String>>,
    /// With `allow_unbind` and `groups`: the three travel together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::access_type))]
    access: Option<AccessType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow_unbind: Option<bool>,
    /// Replaces the key's groups, by group id (ids survive a rename).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<BTreeSet<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::key_status))]
    status: Option<KeyStatus>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "nullable_time"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    expires_at: Option<Option<OffsetDateTime>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::verifier))]
    verifier: Option<Verifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    created_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
}

impl TryFrom<KeyFieldsOnWire> for KeyFields {
    type Error = String;
    fn try_from(wire: KeyFieldsOnWire) -> Result<KeyFields, String> {
        let permissions = match (wire.access, wire.allow_unbind, wire.groups) {
            (Some(access), Some(allow_unbind), Some(groups)) => Some(KeyPermissions {
                access,
                allow_unbind,
                groups,
            }),
            (None, None, None) => None,
            _ => return Err(PARTIAL_PERMISSIONS.into()),
        };
        Ok(KeyFields {
            name: wire.name,
            description: wire.description,
            permissions,
            status: wire.status,
            expires_at: wire.expires_at,
            verifier: wire.verifier,
            hint: wire.hint,
            created_at: wire.created_at,
            created_by: wire.created_by,
        })
    }
}

impl From<KeyFields> for KeyFieldsOnWire {
    fn from(fields: KeyFields) -> KeyFieldsOnWire {
        let (access, allow_unbind, groups) = match fields.permissions {
            Some(p) => (Some(p.access), Some(p.allow_unbind), Some(p.groups)),
            None => (None, None, None),
        };
        KeyFieldsOnWire {
            name: fields.name,
            description: fields.description,
            access,
            allow_unbind,
            groups,
            status: fields.status,
            expires_at: fields.expires_at,
            verifier: fields.verifier,
            hint: fields.hint,
            created_at: fields.created_at,
            created_by: fields.created_by,
        }
    }
}

impl KeyFields {
    /// This patch with `later`'s fields laid over it: what applying both in
    /// order sets, as one patch.
    pub fn then(mut self, later: KeyFields) -> KeyFields {
        macro_rules! over {
            ($($field:ident),*) => { $( if later.$field.is_some() { self.$field = later.$field; } )* };
        }
        over!(
            name,
            description,
            permissions,
            status,
            expires_at,
            verifier,
            hint,
            created_at,
            created_by
        );
        self
    }
}

impl GroupFields {
    /// This patch with `later`'s fields laid over it.
    pub fn then(mut self, later: GroupFields) -> GroupFields {
        if later.name.is_some() {
            self.name = later.name;
        }
        if later.description.is_some() {
            self.description = later.description;
        }
        if later.scopes.is_some() {
            self.scopes = later.scopes;
        }
        self
    }
}

/// One change from a desktop's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChangeOnWire", into = "ChangeOnWire")]
pub struct Change {
    /// Unique per change, forever: the server applies a change once per id.
    pub idempotency_id: Uuid,
    /// When the administrator made the change (the desktop's clock).
    pub at: OffsetDateTime,
    /// The desktop that made the change: a change never conflicts with its
    /// own desktop's earlier ones. The server does not take a desktop's word
    /// for it: it sets this from the sync token the push came with (one token
    /// per desktop), whatever the change says.
    pub origin: Uuid,
    /// The revision of the record as the desktop last pulled it when the
    /// change was made (0: never pulled). A field the server changed after
    /// this revision, from another desktop, changed on both sides: it merges
    /// by the conservative rules instead of being overwritten.
    pub base_revision: u64,
    pub action: ChangeAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeAction {
    UpsertGroup { id: Uuid, fields: GroupFields },
    DeleteGroup { id: Uuid },
    UpsertKey { id: Uuid, fields: Box<KeyFields> },
    DeleteKey { id: Uuid },
}

impl ChangeAction {
    pub fn entity(&self) -> Entity {
        match self {
            ChangeAction::UpsertGroup { .. } | ChangeAction::DeleteGroup { .. } => Entity::Group,
            ChangeAction::UpsertKey { .. } | ChangeAction::DeleteKey { .. } => Entity::Key,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            ChangeAction::UpsertGroup { id, .. }
            | ChangeAction::DeleteGroup { id }
            | ChangeAction::UpsertKey { id, .. }
            | ChangeAction::DeleteKey { id } => *id,
        }
    }
}

/// A change as it is written in JSON: flat, with the fields of its entity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Change))]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeOnWire {
    idempotency_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    at: OffsetDateTime,
    /// Ignored by the server, which takes the origin from the sync token.
    #[serde(default)]
    origin: Uuid,
    #[serde(default)]
    base_revision: u64,
    entity: Entity,
    op: Op,
    /// The group's or the key's id.
    id: Uuid,
    /// With `entity: group, op: upsert` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<GroupFields>,
    /// With `entity: key, op: upsert` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<KeyFieldsOnWire>))]
    key: Option<KeyFields>,
}

impl TryFrom<ChangeOnWire> for Change {
    type Error = String;
    fn try_from(wire: ChangeOnWire) -> Result<Change, String> {
        let id = wire.id;
        let action = match (wire.entity, wire.op, wire.group, wire.key) {
            (Entity::Group, Op::Upsert, Some(fields), None) => {
                ChangeAction::UpsertGroup { id, fields }
            }
            (Entity::Key, Op::Upsert, None, Some(fields)) => ChangeAction::UpsertKey {
                id,
                fields: Box::new(fields),
            },
            (Entity::Group, Op::Delete, None, None) => ChangeAction::DeleteGroup { id },
            (Entity::Key, Op::Delete, None, None) => ChangeAction::DeleteKey { id },
            (_, Op::Delete, _, _) => {
                return Err("a delete carries no `group` or `key` fields".into())
            }
            (Entity::Group, Op::Upsert, _, _) => {
                return Err("a group upsert carries `group` fields and no `key`".into())
            }
            (Entity::Key, Op::Upsert, _, _) => {
                return Err("a key upsert carries `key` fields and no `group`".into())
            }
        };
        Ok(Change {
            idempotency_id: wire.idempotency_id,
            at: wire.at,
            origin: wire.origin,
            base_revision: wire.base_revision,
            action,
        })
    }
}

impl From<Change> for ChangeOnWire {
    fn from(change: Change) -> ChangeOnWire {
        let entity = change.action.entity();
        let id = change.action.id();
        let (op, group, key) = match change.action {
            ChangeAction::UpsertGroup { fields, .. } => (Op::Upsert, Some(fields), None),
            ChangeAction::UpsertKey { fields, .. } => (Op::Upsert, None, Some(*fields)),
            ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => {
                (Op::Delete, None, None)
            }
        };
        ChangeOnWire {
            idempotency_id: change.idempotency_id,
            at: change.at,
            origin: change.origin,
            base_revision: change.base_revision,
            entity,
            op,
            id,
            group,
            key,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Applied in order, all or none; at most [`crate::PUSH_MAX_CHANGES`].
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ChangeOnWire>))]
    pub changes: Vec<Change>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change is now part of the record (with the revision it got).
    Applied,
    /// The record was deleted before (deleted beats edited): nothing changed.
    AlreadyDeleted,
    /// A rule refused the change (see `reason`): nothing changed, and the
    /// other changes of the push were applied without it.
    Refused,
}

/// What became of one change. A replayed idempotency id gets this same answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeResult {
    pub idempotency_id: Uuid,
    pub outcome: Outcome,
    /// The record's revision after this change, when it changed anything.
    pub revision: Option<u64>,
    /// Why a rule refused the change (`outcome: refused`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields of this change that another desktop had changed too, and how
    /// each merged: where `kept` is not `yours`, this change was overridden.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

/// One field changed on two desktops, and the value the merge kept.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub entity: Entity,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub id: Uuid,
    /// The record's name after the merge, for people.
    pub name: String,
    /// `name`, `description`, `status`, `expires_at`, `access` (access type,
    /// unbind and groups judged together), `scopes`, or `deleted`.
    pub field: String,
    /// The value this desktop's change asked for, as text.
    pub yours: String,
    /// The value the record has now, as text.
    pub kept: String,
    /// The rule that decided, e.g. "inactive beats active".
    pub rule: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One per change, in the order of the request.
    pub results: Vec<ChangeResult>,
}

/// `GET /v1/sync/pull?since=CURSOR&limit=N`.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// The `cursor` of the previous pull; 0 (the default) for everything.
    #[serde(default)]
    pub since: u64,
    /// At most this many changes (default [`crate::PULL_DEFAULT_LIMIT`], at most [`crate::PULL_MAX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The pulling desktop's `origin`: the answer then also carries the
    /// merges that overrode a change of this desktop after it was pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Uuid>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::scopes))]
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// A key record as the server holds it: everything but the key itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub name: String,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::access_type))]
    pub access: AccessType,
    pub allow_unbind: bool,
    pub groups: Vec<Uuid>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::key_status))]
    pub status: KeyStatus,
    pub hint: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::verifier))]
    pub verifier: Verifier,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    /// The time of the last change pushed for this key.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    /// The last VALID verification on the server; none = never used.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
}

/// A record changed since the cursor: its current state, or a tombstone once
/// deleted. On the wire: `revision`, `entity`, `op`, `id` and the record under
/// `group` or `key`; a change of any other shape fails the pull as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PulledChangeOnWire", into = "PulledChangeOnWire")]
pub struct PulledChange {
    /// Strictly increasing along a pull and across pulls.
    pub revision: u64,
    pub id: Uuid,
    pub record: PulledRecord,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PulledRecord {
    Group(GroupRecord),
    Key(Box<KeyRecord>),
    GroupDeleted,
    KeyDeleted,
}

impl PulledRecord {
    pub fn entity(&self) -> Entity {
        match self {
            PulledRecord::Group(_) | PulledRecord::GroupDeleted => Entity::Group,
            PulledRecord::Key(_) | PulledRecord::KeyDeleted => Entity::Key,
        }
    }

    pub fn is_delete(&self) -> bool {
        matches!(self, PulledRecord::GroupDeleted | PulledRecord::KeyDeleted)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PulledChange))]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PulledChangeOnWire {
    revision: u64,
    entity: Entity,
    op: Op,
    id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<GroupRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<KeyRecord>,
}

impl TryFrom<PulledChangeOnWire> for PulledChange {
    type Error = String;
    fn try_from(wire: PulledChangeOnWire) -> Result<PulledChange, String> {
        let record = match (wire.entity, wire.op, wire.group, wire.key) {
            (Entity::Group, Op::Upsert, Some(group), None) => PulledRecord::Group(group),
            (Entity::Key, Op::Upsert, None, Some(key)) => PulledRecord::Key(Box::new(key)),
            (Entity::Group, Op::Delete, None, None) => PulledRecord::GroupDeleted,
            (Entity::Key, Op::Delete, None, None) => PulledRecord::KeyDeleted,
            (entity, op, _, _) => {
                return Err(format!(
                    "pulled record {} at revision {}: a {op:?} of a {entity:?} of the wrong shape",
                    wire.id, wire.revision
                ))
            }
        };
        Ok(PulledChange {
            revision: wire.revision,
            id: wire.id,
            record,
        })
    }
}

impl From<PulledChange> for PulledChangeOnWire {
    fn from(change: PulledChange) -> PulledChangeOnWire {
        let entity = change.record.entity();
        let (op, group, key) = match change.record {
            PulledRecord::Group(group) => (Op::Upsert, Some(group), None),
            PulledRecord::Key(key) => (Op::Upsert, None, Some(*key)),
            PulledRecord::GroupDeleted | PulledRecord::KeyDeleted => (Op::Delete, None, None),
        };
        PulledChangeOnWire {
            revision: change.revision,
            entity,
            op,
            id: change.id,
            group,
            key,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<PulledChangeOnWire>))]
    pub changes: Vec<PulledChange>,
    /// Pass as `since` next time: the revision of the last change returned
    /// (or `since` itself when there was none).
    pub cursor: u64,
    /// More changes wait beyond `limit`: pull again from `cursor`.
    pub more: bool,
    /// With `origin`: merges in this page's revisions that overrode a value
    /// this desktop had pushed (another desktop's change won), so it learns
    /// what happened to its change even though it pushed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

/// `Option<Option<T>>` for a patch: absent = unchanged, `null` = cleared.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// [`nullable`] for RFC 3339 times.
mod nullable_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    #[derive(Deserialize)]
    struct Rfc3339(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

    pub fn serialize<S: Serializer>(
        value: &Option<Option<OffsetDateTime>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(&value.flatten(), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
        Option::<Rfc3339>::deserialize(deserializer).map(|at| Some(at.map(|Rfc3339(at)| at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_change_round_trips_through_its_flat_form() {
        let change = Change {
            idempotency_id: Uuid::now_v7(),
            at: at(),
            origin: Uuid::now_v7(),
            base_revision: 4,
            action: ChangeAction::UpsertKey {
                id: Uuid::now_v7(),
                fields: Box::new(KeyFields {
                    name: Some("gate 1".into()),
                    description: Some(None),
                    expires_at: Some(None),
                    permissions: Some(KeyPermissions {
                        access: AccessType::Write,
                        allow_unbind: false,
                        groups: BTreeSet::from([Uuid::now_v7()]),
                    }),
                    verifier: Some(Verifier([7; 32])),
                    ..KeyFields::default()
                }),
            },
        };
        let value = serde_json::to_value(&change).unwrap();
        assert_eq!(value["entity"], "key");
        assert_eq!(value["op"], "upsert");
        assert_eq!(value["key"]["description"], serde_json::Value::Null);
        assert_eq!(
            value["key"]["access"], "WRITE",
            "the permissions travel flat"
        );
        assert_eq!(value["key"]["allow_unbind"], false);
        assert!(
            value["key"].get("status").is_none(),
            "absent fields stay absent"
        );
        assert_eq!(serde_json::from_value::<Change>(value).unwrap(), change);
    }

    #[test]
    fn absent_null_and_set_are_three_different_patches() {
        let patch = |key: serde_json::Value| serde_json::from_value::<KeyFields>(key).unwrap();
        assert_eq!(patch(json!({})).expires_at, None);
        assert_eq!(patch(json!({"expires_at": null})).expires_at, Some(None));
        assert_eq!(
            patch(json!({"expires_at": "2027-01-15T08:00:00Z"}))
                .expires_at
                .unwrap()
                .unwrap()
                .year(),
            2027
        );
    }

    #[test]
    fn changes_of_the_wrong_shape_are_refused() {
        let base = || json!({"idempotency_id": Uuid::now_v7(), "at": "2027-01-15T08:00:00Z", "origin": Uuid::now_v7(), "id": Uuid::now_v7()});
        let with = |extra: serde_json::Value| {
            let mut value = base();
            value
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<Change>(value)
        };
        assert!(with(json!({"entity": "group", "op": "delete"})).is_ok());
        for partial in [
            json!({"access": "READ"}),
            json!({"access": "READ", "allow_unbind": false}),
            json!({"groups": []}),
            json!({"allow_unbind": true, "groups": []}),
        ] {
            let err = with(json!({"entity": "key", "op": "upsert", "key": partial}))
                .expect_err("a partial permission patch is refused");
            assert!(err.to_string().contains(PARTIAL_PERMISSIONS), "{err}");
        }
        assert!(with(json!({"entity": "key", "op": "upsert", "key": {"access": "READ", "allow_unbind": false, "groups": []}})).is_ok());
        assert!(with(json!({"entity": "group", "op": "delete", "group": {}})).is_err());
        assert!(with(json!({"entity": "key", "op": "upsert", "group": {}})).is_err());
        assert!(with(json!({"entity": "key", "op": "upsert"})).is_err());
        assert!(with(json!({"entity": "key", "op": "upsert", "key": {"colour": "red"}})).is_err());
        assert!(with(json!({"entity": "key", "op": "upsert", "key": {}, "extra": 1})).is_err());
        assert!(with(json!({"entity": "user", "op": "delete"})).is_err());
        assert!(
            with(json!({"entity": "key", "op": "upsert", "key": {"verifier": "abc"}})).is_err()
        );
        assert!(with(
            json!({"entity": "group", "op": "upsert", "group": {"scopes": ["devices:admin"]}})
        )
        .is_err());
    }
}

#[cfg(test)]
mod pulled_tests {
    use super::*;
    use serde_json::json;

    fn pulled(value: serde_json::Value) -> Result<PulledChange, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn a_pulled_change_is_typed_by_its_entity_and_op() {
        let id = Uuid::now_v7();
        let deleted =
            pulled(json!({"revision": 3, "entity": "key", "op": "delete", "id": id})).unwrap();
        assert_eq!(deleted.record, PulledRecord::KeyDeleted);
        let group = pulled(json!({"revision": 4, "entity": "group", "op": "upsert", "id": id,
            "group": {"name": "ops", "description": "", "scopes": ["devices:read"], "updated_at": "2027-01-15T08:00:00Z"}}))
        .unwrap();
        assert!(matches!(group.record, PulledRecord::Group(ref g) if g.name == "ops"));
        let back = serde_json::to_value(&group).unwrap();
        assert_eq!(back["entity"], "group");
        assert_eq!(back["op"], "upsert");
        assert_eq!(pulled(back).unwrap(), group);
    }

    #[test]
    fn a_pulled_change_of_the_wrong_shape_fails_instead_of_being_skipped() {
        let id = Uuid::now_v7();
        for bad in [
            json!({"revision": 1, "entity": "key", "op": "upsert", "id": id}),
            json!({"revision": 1, "entity": "group", "op": "delete", "id": id, "group": {"name": "x", "description": "", "scopes": [], "updated_at": "2027-01-15T08:00:00Z"}}),
            json!({"revision": 1, "entity": "key", "op": "upsert", "id": id, "key": {"name": "x"}}),
            json!({"revision": 1, "entity": "key", "op": "delete", "id": id, "colour": "red"}),
        ] {
            assert!(pulled(bad.clone()).is_err(), "{bad} was accepted");
        }
    }
}
