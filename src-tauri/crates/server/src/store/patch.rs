//! A pushed patch applied to a group or key record, field by field, whatever
//! the backend. A field no other desktop set since the change's base revision
//! takes the patch's value; a field another desktop set too merges by
//! [`keyward_model::merge`] and is reported to the change as a [`Conflict`].
//!
//! Each record keeps, per tracked field, the revision, origin, time and
//! change that last set it ([`FieldMeta`]), so a conflict is told from a
//! plain sequential edit. A merge that replaces the value another desktop
//! had pushed also yields a [`Notice`] for that desktop, which pushed first
//! and so never sees the merge in its own push's results.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use keyward_model::merge::{self, rule, GroupScopes, Side, Stamp};
use keyward_model::wire::{Change, Conflict, Entity, GroupFields, KeyFields, KeyPermissions};
use keyward_model::{access, validate, AccessType, KeyStatus, Scope};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{from_millis, to_millis, Result, StoreError};

/// The tracked fields, as `Conflict::field` names them.
pub mod field {
    pub const NAME: &str = "name";
    pub const DESCRIPTION: &str = "description";
    pub const STATUS: &str = "status";
    pub const EXPIRES_AT: &str = "expires_at";
    /// A key's access type, unbind flag and groups, judged as one.
    pub const ACCESS: &str = "access";
    pub const SCOPES: &str = "scopes";
    /// On a tombstone: who deleted the record.
    pub const DELETED: &str = "deleted";
}

/// Who last set one field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMeta {
    pub revision: u64,
    /// The change's `at`, in milliseconds (the precision the store keeps).
    pub at: i64,
    pub origin: Uuid,
    pub change: Uuid,
    /// The value is a merge no desktop asked for (an intersection, a forced
    /// deactivation, a renamed duplicate): every desktop that has not pulled
    /// it conflicts with it, its origin too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
    /// On `deleted` only: the record's name before the delete, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_name: Option<String>,
}

impl FieldMeta {
    /// What `change` sets, at `revision`.
    pub fn of(change: &Change, revision: u64) -> FieldMeta {
        FieldMeta {
            revision,
            at: to_millis(change.at),
            origin: change.origin,
            change: change.idempotency_id,
            merged: false,
            former_name: None,
        }
    }

    pub fn stamp(&self) -> Stamp {
        Stamp {
            at: from_millis(self.at),
            origin: self.origin,
            idempotency_id: self.change,
        }
    }

    /// Whether the field changed on the server after `change`'s base, by
    /// another desktop (or by a merge): then both sides changed it.
    pub fn changed_before_seen_by(&self, change: &Change) -> bool {
        self.revision > change.base_revision && (self.merged || self.origin != change.origin)
    }
}

/// Per tracked field of a record, who last set it (the `field_meta` column).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordMeta(pub BTreeMap<String, FieldMeta>);

impl RecordMeta {
    pub fn parse(text: &str) -> Result<RecordMeta> {
        serde_json::from_str(text)
            .map_err(|err| StoreError::Storage(format!("unreadable field metadata: {err}")))
    }

    pub fn to_text(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|err| StoreError::Storage(err.to_string()))
    }

    fn conflicting(&self, field: &str, change: &Change) -> Option<&FieldMeta> {
        self.0
            .get(field)
            .filter(|meta| meta.changed_before_seen_by(change))
    }
}

/// A live group as a key's permissions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub scopes: BTreeSet<Scope>,
}

/// What applying a patch needs to know beyond the record itself.
#[async_trait]
pub trait Lookup: Send {
    /// Whether another live record of the same entity and account has this
    /// name, ignoring case.
    async fn name_taken(&mut self, name: &str) -> Result<bool>;
    /// The live groups of the account among `ids`.
    async fn groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub name: String,
    pub description: Option<String>,
    pub access: AccessType,
    pub allow_unbind: bool,
    pub groups: BTreeSet<Uuid>,
    pub status: KeyStatus,
    pub hint: String,
    pub verifier: Vec<u8>,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
}

impl KeyRow {
    fn permissions(&self) -> KeyPermissions {
        KeyPermissions {
            access: self.access,
            allow_unbind: self.allow_unbind,
            groups: self.groups.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub name: String,
    pub description: String,
    pub scopes: BTreeSet<Scope>,
}

/// A merge that overrode a value the desktop `origin` had pushed, told to
/// that desktop when it pulls: `yours` is its value, `kept` the record's now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub origin: Uuid,
    pub conflict: Conflict,
}

/// A record after a patch: its new fields, its new field metadata, the
/// fields that merged (for the change) and the values the merges overrode
/// (for the desktops that had pushed them).
#[derive(Debug)]
pub struct Patched<R> {
    pub row: R,
    pub meta: RecordMeta,
    pub conflicts: Vec<Conflict>,
    pub notices: Vec<Notice>,
}

pub fn invalid(change: &Change, message: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("change {}: {message}", change.idempotency_id))
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
    // The vault's own rule: a key pasted by mistake never reaches the database.
    validate::refuse_keys(&format!("the {field}"), text).map_err(|err| invalid(change, err))?;
    Ok(text.to_string())
}

/// One field's merge as reported: (field, yours, kept, rule).
type Report = (&'static str, String, String, &'static str);

/// Builds a record's new metadata, its conflicts and its notices, field by field.
struct Merger<'a> {
    change: &'a Change,
    revision: u64,
    meta: RecordMeta,
    conflicts: Vec<Report>,
    /// For other desktops, by origin: `yours` is the value they had pushed.
    notices: Vec<(Uuid, Report)>,
}

impl<'a> Merger<'a> {
    fn new(change: &'a Change, revision: u64, meta: RecordMeta) -> Merger<'a> {
        Merger {
            change,
            revision,
            meta,
            conflicts: Vec::new(),
            notices: Vec::new(),
        }
    }

    fn incoming(&self) -> FieldMeta {
        FieldMeta::of(self.change, self.revision)
    }

    /// The value `field` ends with when this change asks for `asked` and the
    /// record holds `current`: `asked`, unless another desktop set the field
    /// since the change's base and the values differ; then `merge` decides.
    /// A patch's `name` for a `what` ("key" or "group"), checked and merged
    /// into `merged` (later change wins); returns the name the change asked for.
    fn name(
        &mut self,
        what: &str,
        current: &String,
        asked: Option<&String>,
        merged: &mut String,
    ) -> Result<String> {
        let Some(name) = asked else {
            return Ok(current.clone());
        };
        let change = self.change;
        let name = validate::name(what, name).map_err(|err| invalid(change, err))?;
        *merged = self.field(
            field::NAME,
            current,
            name.clone(),
            |a, b| (merge::later(a, b), rule::LATER_CHANGE_WINS),
            String::clone,
        );
        Ok(name)
    }

    fn field<T: Clone + PartialEq>(
        &mut self,
        field: &'static str,
        current: &T,
        asked: T,
        merge: impl FnOnce(&Side<T>, &Side<T>) -> (T, &'static str),
        text: impl Fn(&T) -> String,
    ) -> T {
        let Some(theirs) = self.meta.conflicting(field, self.change).cloned() else {
            self.meta.0.insert(field.into(), self.incoming());
            return asked;
        };
        if asked == *current {
            // Both sides want the same value: nothing to merge or report.
            return asked;
        }
        let (merged, rule) = merge(
            &Side::new(current.clone(), theirs.stamp()),
            &Side::new(asked.clone(), self.incoming().stamp()),
        );
        self.settle(field, &theirs, merged == asked, merged == *current);
        if merged != *current {
            self.overrode(&theirs, (field, text(current), text(&merged), rule));
        }
        self.conflicts
            .push((field, text(&asked), text(&merged), rule));
        merged
    }

    /// Tells the desktop that last set a field (`theirs`) that this change's
    /// merge replaced its value. A merged value is no desktop's own: there is
    /// nobody to tell (its desktops were told when it was merged).
    fn overrode(&mut self, theirs: &FieldMeta, report: Report) {
        if theirs.merged || theirs.origin == self.change.origin {
            return;
        }
        self.notices.push((theirs.origin, report));
    }

    /// The metadata of a field that merged: this change's when its value won,
    /// unchanged when the stored value stayed, a merge's otherwise.
    fn settle(
        &mut self,
        field: &'static str,
        theirs: &FieldMeta,
        ours_kept: bool,
        theirs_kept: bool,
    ) {
        if ours_kept {
            self.meta.0.insert(field.into(), self.incoming());
        } else if !theirs_kept {
            self.mark_merged(field, theirs);
        }
    }

    fn mark_merged(&mut self, field: &'static str, theirs: &FieldMeta) {
        let ours = self.incoming();
        let later = if theirs.stamp() > ours.stamp() {
            theirs.clone()
        } else {
            ours
        };
        self.meta.0.insert(
            field.into(),
            FieldMeta {
                revision: self.revision,
                merged: true,
                former_name: None,
                ..later
            },
        );
    }

    /// A name another live record holds becomes "NAME (2)", "NAME (3)", …
    async fn unique_name(
        &mut self,
        asked: &str,
        name: String,
        unchanged: bool,
        lookup: &mut dyn Lookup,
    ) -> Result<String> {
        if unchanged || !lookup.name_taken(&name).await? {
            return Ok(name);
        }
        let mut free = name.clone();
        for n in 2u64.. {
            free = validate::numbered_name(&name, n);
            if !lookup.name_taken(&free).await? {
                break;
            }
        }
        let theirs = self.incoming();
        self.mark_merged(field::NAME, &theirs);
        // A merge that already reported the name now reports where it ended.
        let reports = self.conflicts.iter_mut();
        let noticed = self.notices.iter_mut().map(|(_, report)| report);
        for report in reports.chain(noticed).filter(|r| r.0 == field::NAME) {
            report.2 = free.clone();
        }
        self.conflicts.push((
            field::NAME,
            asked.to_string(),
            free.clone(),
            rule::NAME_TAKEN,
        ));
        Ok(free)
    }

    fn finish<R>(self, entity: Entity, id: Uuid, name: &str, row: R) -> Patched<R> {
        let conflict = |(field, yours, kept, rule): Report| Conflict {
            entity,
            id,
            name: name.to_string(),
            field: field.into(),
            yours,
            kept,
            rule: rule.into(),
        };
        Patched {
            row,
            meta: self.meta,
            conflicts: self.conflicts.into_iter().map(conflict).collect(),
            notices: self
                .notices
                .into_iter()
                .map(|(origin, report)| Notice {
                    origin,
                    conflict: conflict(report),
                })
                .collect(),
        }
    }
}

pub fn status_text(status: &KeyStatus) -> String {
    status.as_str().to_string()
}

pub fn expiry_text(at: &Option<i64>) -> String {
    match at {
        Some(ms) => from_millis(*ms)
            .format(&Rfc3339)
            .unwrap_or_else(|_| ms.to_string()),
        None => "never".into(),
    }
}

fn description_text(text: &Option<String>) -> String {
    text.clone().unwrap_or_else(|| "(none)".into())
}

pub fn scopes_text(scopes: &BTreeSet<Scope>) -> String {
    if scopes.is_empty() {
        return "no scopes".into();
    }
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "WRITE, unbind, groups: gate, ops": groups by name (an unknown or deleted
/// group by its id).
pub fn permissions_text(
    permissions: &KeyPermissions,
    groups: &BTreeMap<Uuid, GroupInfo>,
) -> String {
    let mut text = permissions.access.as_str().to_string();
    if permissions.allow_unbind {
        text.push_str(", unbind");
    }
    if !permissions.groups.is_empty() {
        let mut names: Vec<String> = permissions
            .groups
            .iter()
            .map(|id| match groups.get(id) {
                Some(group) => group.name.clone(),
                None => format!("deleted group {id}"),
            })
            .collect();
        names.sort();
        text.push_str(", groups: ");
        text.push_str(&names.join(", "));
    }
    text
}

/// A key upsert applied to the current record (`None` for a new key), as
/// revision `revision`.
pub async fn patch_key(
    change: &Change,
    fields: &KeyFields,
    current: Option<(KeyRow, RecordMeta)>,
    revision: u64,
    lookup: &mut dyn Lookup,
) -> Result<Patched<KeyRow>> {
    let (current, meta) = match current {
        Some((row, meta)) => {
            if let Some(verifier) = &fields.verifier {
                if verifier.0.as_slice() != row.verifier.as_slice() {
                    return Err(invalid(
                        change,
                        "a key's verifier never changes: a new key is a new record with a new id",
                    ));
                }
            }
            (Some(row), meta)
        }
        None => (None, RecordMeta::default()),
    };
    let is_new = current.is_none();
    let required = |what: &str| invalid(change, format!("a new key needs `{what}`"));
    let current = match current {
        Some(row) => row,
        None => KeyRow {
            name: fields.name.clone().ok_or_else(|| required("name"))?,
            description: None,
            access: fields
                .permissions
                .as_ref()
                .ok_or_else(|| required("access"))?
                .access,
            allow_unbind: false,
            groups: BTreeSet::new(),
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
    let mut merger = Merger::new(change, revision, meta);
    let mut row = current.clone();

    let asked_name = merger.name("key", &current.name, fields.name.as_ref(), &mut row.name)?;
    if let Some(description) = &fields.description {
        let description =
            validate::description(description.as_deref()).map_err(|err| invalid(change, err))?;
        row.description = merger.field(
            field::DESCRIPTION,
            &current.description,
            description,
            |a, b| (merge::later(a, b), rule::LATER_CHANGE_WINS),
            description_text,
        );
    }
    if let Some(status) = fields.status {
        row.status = merger.field(
            field::STATUS,
            &current.status,
            status,
            |a, b| (merge::status(a.value, b.value), rule::INACTIVE_BEATS_ACTIVE),
            status_text,
        );
    }
    if let Some(expires_at) = fields.expires_at {
        row.expires_at = merger.field(
            field::EXPIRES_AT,
            &current.expires_at,
            expires_at.map(to_millis),
            |a, b| {
                let merged = merge::expires_at(a.value.map(from_millis), b.value.map(from_millis));
                (merged.map(to_millis), rule::EARLIER_EXPIRY_WINS)
            },
            expiry_text,
        );
    }
    if let Some(asked) = &fields.permissions {
        access::validate_unbind(asked.access, asked.allow_unbind)
            .map_err(|err| invalid(change, err))?;
        let asked = asked.clone();
        let merged = merge_permissions(&mut merger, &current, asked, &row.status, lookup).await?;
        row.access = merged.access;
        row.allow_unbind = merged.allow_unbind;
        row.groups = merged.groups;
        if let Some(status) = merged.status {
            row.status = status;
        }
    }
    access::validate_unbind(row.access, row.allow_unbind).map_err(|err| invalid(change, err))?;

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
    if is_new {
        // Every field of a new record is this change's.
        for name in [
            field::NAME,
            field::DESCRIPTION,
            field::STATUS,
            field::EXPIRES_AT,
            field::ACCESS,
        ] {
            merger.meta.0.insert(name.into(), merger.incoming());
        }
    }
    let unchanged = !is_new && row.name == current.name;
    row.name = merger
        .unique_name(&asked_name, row.name, unchanged, lookup)
        .await?;
    let name = row.name.clone();
    Ok(merger.finish(Entity::Key, change.action.id(), &name, row))
}

struct MergedAccess {
    access: AccessType,
    allow_unbind: bool,
    groups: BTreeSet<Uuid>,
    /// Set when the merge deactivated the key.
    status: Option<KeyStatus>,
}

async fn merge_permissions(
    merger: &mut Merger<'_>,
    current: &KeyRow,
    asked: KeyPermissions,
    status: &KeyStatus,
    lookup: &mut dyn Lookup,
) -> Result<MergedAccess> {
    let done = |p: KeyPermissions, status| MergedAccess {
        access: p.access,
        allow_unbind: p.allow_unbind,
        groups: p.groups,
        status,
    };
    let ours = current.permissions();
    let theirs = match merger
        .meta
        .conflicting(field::ACCESS, merger.change)
        .cloned()
    {
        Some(theirs) if asked != ours => theirs,
        Some(_) => return Ok(done(asked, None)),
        None => {
            merger
                .meta
                .0
                .insert(field::ACCESS.into(), merger.incoming());
            return Ok(done(asked, None));
        }
    };
    let ids: BTreeSet<Uuid> = ours.groups.union(&asked.groups).copied().collect();
    let groups = lookup.groups(&ids).await?;
    let scopes: GroupScopes = groups
        .iter()
        .map(|(id, group)| (*id, group.scopes.clone()))
        .collect();
    let merged = merge::permissions(
        &Side::new(ours.clone(), theirs.stamp()),
        &Side::new(asked.clone(), merger.incoming().stamp()),
        &scopes,
    );
    merger.settle(
        field::ACCESS,
        &theirs,
        merged.value == asked,
        merged.value == ours,
    );
    if merged.value != ours {
        merger.overrode(
            &theirs,
            (
                field::ACCESS,
                permissions_text(&ours, &groups),
                permissions_text(&merged.value, &groups),
                merged.rule,
            ),
        );
    }
    merger.conflicts.push((
        field::ACCESS,
        permissions_text(&asked, &groups),
        permissions_text(&merged.value, &groups),
        merged.rule,
    ));
    let deactivated = merged.deactivate && *status == KeyStatus::Active;
    if deactivated {
        let status_meta = merger
            .meta
            .0
            .get(field::STATUS)
            .cloned()
            .unwrap_or_else(|| merger.incoming());
        merger.mark_merged(field::STATUS, &status_meta);
        let report = (
            field::STATUS,
            status_text(status),
            status_text(&KeyStatus::Inactive),
            rule::INCOMPARABLE_PERMISSIONS,
        );
        // The desktop whose permissions met this change's learns its key
        // was made inactive, even where its permissions were kept.
        merger.overrode(&theirs, report.clone());
        merger.conflicts.push(report);
    }
    Ok(done(
        merged.value,
        deactivated.then_some(KeyStatus::Inactive),
    ))
}

/// A group upsert applied to the current record (`None` for a new group).
pub async fn patch_group(
    change: &Change,
    fields: &GroupFields,
    current: Option<(GroupRow, RecordMeta)>,
    revision: u64,
    lookup: &mut dyn Lookup,
) -> Result<Patched<GroupRow>> {
    let is_new = current.is_none();
    let (current, meta) = match current {
        Some(found) => found,
        None => (
            GroupRow {
                name: fields
                    .name
                    .clone()
                    .ok_or_else(|| invalid(change, "a new group needs a name"))?,
                description: String::new(),
                scopes: BTreeSet::new(),
            },
            RecordMeta::default(),
        ),
    };
    let mut merger = Merger::new(change, revision, meta);
    let mut row = current.clone();
    let asked_name = merger.name("group", &current.name, fields.name.as_ref(), &mut row.name)?;
    if let Some(text) = &fields.description {
        let description = validate::description(Some(text))
            .map_err(|err| invalid(change, err))?
            .unwrap_or_default();
        row.description = merger.field(
            field::DESCRIPTION,
            &current.description,
            description,
            |a, b| (merge::later(a, b), rule::LATER_CHANGE_WINS),
            |text| {
                if text.is_empty() {
                    "(none)".into()
                } else {
                    text.clone()
                }
            },
        );
    }
    if let Some(scopes) = &fields.scopes {
        row.scopes = merger.field(
            field::SCOPES,
            &current.scopes,
            scopes.iter().cloned().collect(),
            |a, b| (merge::scopes(&a.value, &b.value), rule::SCOPES_INTERSECT),
            scopes_text,
        );
    }
    if is_new {
        for name in [field::NAME, field::DESCRIPTION, field::SCOPES] {
            merger.meta.0.insert(name.into(), merger.incoming());
        }
    }
    let unchanged = !is_new && row.name == current.name;
    row.name = merger
        .unique_name(&asked_name, row.name, unchanged, lookup)
        .await?;
    let name = row.name.clone();
    Ok(merger.finish(Entity::Group, change.action.id(), &name, row))
}

/// An upsert of a record another desktop deleted after the change's base:
/// deleted beats edited, and the change is told.
pub fn edit_of_deleted(
    change: &Change,
    tombstone: &RecordMeta,
    edited: &[&str],
) -> Option<Conflict> {
    let deleted = tombstone.conflicting(field::DELETED, change)?;
    Some(Conflict {
        entity: change.action.entity(),
        id: change.action.id(),
        name: deleted.former_name.clone().unwrap_or_default(),
        field: field::DELETED.into(),
        yours: edited_text(edited),
        kept: "deleted".into(),
        rule: rule::DELETED_BEATS_EDITED.into(),
    })
}

/// "edited: status, name", for an edit a delete beat.
fn edited_text(fields: &[&str]) -> String {
    if fields.is_empty() {
        "edited".into()
    } else {
        format!("edited: {}", fields.join(", "))
    }
}

/// A delete applied to a record: the tombstone's metadata, the report to the
/// deleting change, and the notices to the desktops whose edits it dropped.
#[derive(Debug)]
pub struct Deletion {
    pub tombstone: RecordMeta,
    pub conflict: Option<Conflict>,
    pub notices: Vec<Notice>,
}

/// A delete of a record another desktop edited after the change's base: the
/// delete still wins, the change is told which edits it dropped, and each
/// desktop whose own edit it dropped is told too (a merged value is no
/// desktop's own, as in [`Merger::overrode`]).
pub fn delete(
    change: &Change,
    current: &RecordMeta,
    name: Option<String>,
    revision: u64,
) -> Deletion {
    let edited: Vec<&str> = current
        .0
        .iter()
        .filter(|(_, meta)| meta.changed_before_seen_by(change))
        .map(|(field, _)| field.as_str())
        .collect();
    let mut dropped: BTreeMap<Uuid, Vec<&str>> = BTreeMap::new();
    for (field, meta) in &current.0 {
        if meta.changed_before_seen_by(change) && !meta.merged && meta.origin != change.origin {
            dropped.entry(meta.origin).or_default().push(field.as_str());
        }
    }
    let notices = dropped
        .into_iter()
        .map(|(origin, fields)| Notice {
            origin,
            conflict: Conflict {
                entity: change.action.entity(),
                id: change.action.id(),
                name: name.clone().unwrap_or_default(),
                field: field::DELETED.into(),
                yours: edited_text(&fields),
                kept: "deleted".into(),
                rule: rule::DELETED_BEATS_EDITED.into(),
            },
        })
        .collect();
    let conflict = (!edited.is_empty()).then(|| Conflict {
        entity: change.action.entity(),
        id: change.action.id(),
        name: name.clone().unwrap_or_default(),
        field: field::DELETED.into(),
        yours: "deleted".into(),
        kept: "deleted".into(),
        rule: format!(
            "{} (dropped edits made on another desktop: {})",
            rule::DELETED_BEATS_EDITED,
            edited.join(", ")
        ),
    });
    let tombstone = FieldMeta {
        former_name: name,
        ..FieldMeta::of(change, revision)
    };
    Deletion {
        tombstone: RecordMeta(BTreeMap::from([(field::DELETED.to_string(), tombstone)])),
        conflict,
        notices,
    }
}

/// The tracked fields an upsert names, for reports.
pub fn key_fields_named(fields: &KeyFields) -> Vec<&'static str> {
    let mut named = Vec::new();
    if fields.name.is_some() {
        named.push(field::NAME);
    }
    if fields.description.is_some() {
        named.push(field::DESCRIPTION);
    }
    if fields.status.is_some() {
        named.push(field::STATUS);
    }
    if fields.expires_at.is_some() {
        named.push(field::EXPIRES_AT);
    }
    if fields.permissions.is_some() {
        named.push(field::ACCESS);
    }
    named
}

pub fn group_fields_named(fields: &GroupFields) -> Vec<&'static str> {
    let mut named = Vec::new();
    if fields.name.is_some() {
        named.push(field::NAME);
    }
    if fields.description.is_some() {
        named.push(field::DESCRIPTION);
    }
    if fields.scopes.is_some() {
        named.push(field::SCOPES);
    }
    named
}
