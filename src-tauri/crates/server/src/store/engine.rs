//! The server's storage logic, once for every backend: a push applied in one
//! transaction holding the account's lock — each idempotency id once, a
//! replay answering its first result, each change in a savepoint of its own
//! so a refused one undoes only itself, patches merged field by field
//! (`patch.rs`), notices kept for the desktops a merge overrode — and pulls
//! paged by revision with their notices.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use keyward_model::key_format::Verifier;
use keyward_model::wire::{
    AuditHead, Change, ChangeAction, ChangeResult, Conflict, Entity, GroupFields, KeyFields,
    Outcome, PullResponse,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::backend::{Applied, Backend, WriteTx};
use super::grants::GrantCache;
use super::patch::{self, GroupInfo, Lookup, Notice, RecordMeta};
use super::{
    to_millis, AccountId, GrantsStatus, KeyGrant, PoolStatus, Result, Store, StoreError,
    SyncClient, TokenInfo, LAST_USED_PUBLISH_MS,
};

/// The [`Store`] over a backend, with the grants of known keys kept in
/// memory (`grants.rs`).
pub struct Engine<B: Backend> {
    backend: Arc<B>,
    grants: Arc<GrantCache>,
}

impl<B: Backend> Clone for Engine<B> {
    fn clone(&self) -> Self {
        Engine {
            backend: Arc::clone(&self.backend),
            grants: Arc::clone(&self.grants),
        }
    }
}

impl<B: Backend> Engine<B> {
    /// `hearing`: whether this process makes every commit (one instance on
    /// its own database); otherwise grants are kept only once the backend
    /// hears every commit ([`GrantCache::hear`]).
    pub fn new(backend: B, hearing: bool) -> Engine<B> {
        Engine::with_grants(backend, Arc::new(GrantCache::new(hearing)))
    }

    pub fn with_grants(backend: B, grants: Arc<GrantCache>) -> Engine<B> {
        Engine {
            backend: Arc::new(backend),
            grants,
        }
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    pub fn grants(&self) -> &Arc<GrantCache> {
        &self.grants
    }
}

/// Drops every kept grant when a push ends, however it ends: answered,
/// failed, or abandoned by its request (a commit may land all the same).
struct DropGrantsAfter(Arc<GrantCache>);

impl Drop for DropGrantsAfter {
    fn drop(&mut self) {
        self.0.drop_all();
    }
}

/// What became of one change: its outcome, the revision it gave its record
/// (when it changed it), the fields that merged, and the values the merges
/// overrode for other desktops.
struct Settled {
    outcome: Outcome,
    revision: Option<u64>,
    conflicts: Vec<Conflict>,
    notices: Vec<Notice>,
}

impl Settled {
    fn changed(revision: u64, conflicts: Vec<Conflict>, notices: Vec<Notice>) -> Settled {
        Settled {
            outcome: Outcome::Applied,
            revision: Some(revision),
            conflicts,
            notices,
        }
    }

    /// Nothing changed in the record, so nothing was overridden.
    fn already_deleted(conflict: Option<Conflict>) -> Settled {
        Settled {
            outcome: Outcome::AlreadyDeleted,
            revision: None,
            conflicts: conflict.into_iter().collect(),
            notices: Vec::new(),
        }
    }
}

/// What a patch looks up in the push's transaction: names in use, live groups.
struct TxLookup<'a, T: WriteTx> {
    tx: &'a mut T,
    entity: Entity,
    id: Uuid,
}

#[async_trait]
impl<T: WriteTx> Lookup for TxLookup<'_, T> {
    async fn name_taken(&mut self, name: &str) -> Result<bool> {
        let fold = keyward_model::validate::fold(name);
        self.tx.name_taken(self.entity, &fold, &self.id).await
    }

    async fn groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.tx.live_groups(ids).await
    }
}

/// `Some(true)` when live, `Some(false)` when a tombstone, `None` when new;
/// an id of another account is a conflict.
async fn existing<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
) -> Result<Option<bool>> {
    let (entity, id) = (change.action.entity(), change.action.id());
    match tx.owner(entity, &id).await? {
        None => Ok(None),
        Some((holder, _)) if holder != account.0 => Err(StoreError::Conflict(format!(
            "change {}: {} {id} belongs to another account",
            change.idempotency_id,
            entity_name(entity)
        ))),
        Some((_, deleted)) => Ok(Some(!deleted)),
    }
}

fn entity_name(entity: Entity) -> &'static str {
    match entity {
        Entity::Group => "group",
        Entity::Key => "key",
    }
}

/// An edit of a record deleted before: nothing changes, and the edit is
/// reported as a conflict when another desktop's delete dropped it.
async fn edit_of_deleted<T: WriteTx>(
    tx: &mut T,
    change: &Change,
    named: &[&'static str],
) -> Result<Settled> {
    let tombstone = tx
        .load_meta(change.action.entity(), &change.action.id())
        .await?;
    let conflict = patch::edit_of_deleted(change, &tombstone, named);
    Ok(Settled::already_deleted(conflict))
}

async fn apply_group_upsert<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
    fields: &GroupFields,
) -> Result<Settled> {
    let id = change.action.id();
    let current = match existing(tx, account, change).await? {
        Some(false) => {
            return edit_of_deleted(tx, change, &patch::group_fields_named(fields)).await;
        }
        Some(true) => Some(tx.load_group(&id).await?),
        None => None,
    };
    let revision = tx.next_revision().await?;
    let mut lookup = TxLookup {
        tx: &mut *tx,
        entity: Entity::Group,
        id,
    };
    let patched = patch::patch_group(change, fields, current, revision, &mut lookup).await?;
    tx.write_group(
        &id,
        revision,
        &patched.row,
        &patched.meta,
        to_millis(change.at),
    )
    .await?;
    Ok(Settled::changed(
        revision,
        patched.conflicts,
        patched.notices,
    ))
}

async fn apply_key_upsert<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
    fields: &KeyFields,
) -> Result<Settled> {
    let id = change.action.id();
    let current = match existing(tx, account, change).await? {
        Some(false) => {
            return edit_of_deleted(tx, change, &patch::key_fields_named(fields)).await;
        }
        Some(true) => Some(tx.load_key(&id).await?),
        None => None,
    };
    let old_groups = current.as_ref().map(|(row, _)| row.groups.clone());
    let revision = tx.next_revision().await?;
    let mut lookup = TxLookup {
        tx: &mut *tx,
        entity: Entity::Key,
        id,
    };
    let patched = patch::patch_key(change, fields, current, revision, &mut lookup).await?;
    let row = &patched.row;
    if tx.verifier_taken(&row.verifier, &id).await? {
        return Err(StoreError::Conflict(format!(
            "change {}: another key record already has this verifier",
            change.idempotency_id
        )));
    }
    let groups_changed = old_groups.as_ref() != Some(&row.groups);
    tx.write_key(
        &id,
        revision,
        row,
        &patched.meta,
        to_millis(change.at),
        groups_changed,
    )
    .await?;
    Ok(Settled::changed(
        revision,
        patched.conflicts,
        patched.notices,
    ))
}

async fn apply_delete<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
) -> Result<Settled> {
    let (entity, id) = (change.action.entity(), change.action.id());
    let (meta, name) = match existing(tx, account, change).await? {
        Some(false) => return Ok(Settled::already_deleted(None)),
        Some(true) => {
            let name = tx.name_of(entity, &id).await?;
            (tx.load_meta(entity, &id).await?, Some(name))
        }
        None => (RecordMeta::default(), None),
    };
    let revision = tx.next_revision().await?;
    let deletion = patch::delete(change, &meta, name, revision);
    // A delete of a record never seen still leaves a tombstone: deleted beats
    // an edit that arrives later.
    tx.write_tombstone(
        entity,
        &id,
        revision,
        to_millis(change.at),
        &deletion.tombstone,
    )
    .await?;
    Ok(Settled::changed(
        revision,
        deletion.conflict.into_iter().collect(),
        deletion.notices,
    ))
}

async fn apply<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
) -> Result<ChangeResult> {
    let applied = match &change.action {
        ChangeAction::UpsertGroup { fields, .. } => {
            apply_group_upsert(tx, account, change, fields).await?
        }
        ChangeAction::UpsertKey { fields, .. } => {
            apply_key_upsert(tx, account, change, fields).await?
        }
        ChangeAction::DeleteGroup { .. } | ChangeAction::DeleteKey { .. } => {
            apply_delete(tx, account, change).await?
        }
    };
    if let Some(revision) = applied.revision {
        tx.write_notices(revision, &applied.notices).await?;
    }
    Ok(ChangeResult {
        idempotency_id: change.idempotency_id,
        outcome: applied.outcome,
        revision: applied.revision,
        reason: None,
        conflicts: applied.conflicts,
    })
}

/// What identifies a change's content, so a reused idempotency id with
/// different content is caught rather than silently answered. The origin is
/// the token's, not the content's: left out.
fn fingerprint(change: &Change) -> Result<Vec<u8>> {
    let content = Change {
        origin: Uuid::nil(),
        ..change.clone()
    };
    let bytes = serde_json::to_vec(&content).map_err(|err| StoreError::Storage(err.to_string()))?;
    Ok(Sha256::digest(bytes).to_vec())
}

async fn push_one<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
) -> Result<ChangeResult> {
    let print = fingerprint(change)?;
    if let Some(earlier) = tx.applied(&change.idempotency_id).await? {
        if earlier.account != account.0 || earlier.fingerprint != print {
            return Err(StoreError::Conflict(format!(
                "idempotency id {} was already used for a different change: give every change its own id",
                change.idempotency_id
            )));
        }
        return serde_json::from_str(&earlier.result).map_err(|err| {
            StoreError::Storage(format!("stored result of {}: {err}", change.idempotency_id))
        });
    }
    let result = apply(tx, account, change).await?;
    let stored =
        serde_json::to_string(&result).map_err(|err| StoreError::Storage(err.to_string()))?;
    let applied = Applied {
        account: account.0.clone(),
        fingerprint: print,
        result: stored,
    };
    tx.record_applied(&change.idempotency_id, &applied).await?;
    Ok(result)
}

/// One change of a push in a savepoint of its own: a change a rule refuses
/// changes nothing and is answered `refused` with the reason, and the rest of
/// the push goes on without it. A refusal by the rules of the records is kept
/// with the idempotency id like any result; one by what the request
/// contradicts (an id reused, another account's record) is not.
async fn push_or_refuse<T: WriteTx>(
    tx: &mut T,
    account: &AccountId,
    change: &Change,
) -> Result<ChangeResult> {
    tx.savepoint().await?;
    match push_one(tx, account, change).await {
        Ok(result) => {
            tx.release_savepoint().await?;
            Ok(result)
        }
        Err(err @ (StoreError::Invalid(_) | StoreError::Conflict(_))) => {
            tx.rollback_to_savepoint().await?;
            let result = ChangeResult {
                idempotency_id: change.idempotency_id,
                outcome: Outcome::Refused,
                revision: None,
                reason: Some(err.to_string()),
                conflicts: Vec::new(),
            };
            if matches!(err, StoreError::Invalid(_)) {
                let stored = serde_json::to_string(&result)
                    .map_err(|err| StoreError::Storage(err.to_string()))?;
                let applied = Applied {
                    account: account.0.clone(),
                    fingerprint: fingerprint(change)?,
                    result: stored,
                };
                tx.record_applied(&change.idempotency_id, &applied).await?;
            }
            Ok(result)
        }
        Err(err) => Err(err),
    }
}

impl<B: Backend> Engine<B> {
    async fn push_in_one_transaction(
        backend: &B,
        grants: Arc<GrantCache>,
        client: &SyncClient,
        changes: &[Change],
    ) -> Result<Vec<ChangeResult>> {
        let _drop_grants = DropGrantsAfter(grants);
        let mut tx = backend.begin(&client.account).await?;
        tx.prepare(changes).await?;
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            // The desktop is the token's, whatever the change claims.
            let change = Change {
                origin: client.origin,
                ..change.clone()
            };
            results.push(push_or_refuse(&mut tx, &client.account, &change).await?);
        }
        tx.commit().await?;
        Ok(results)
    }
}

#[async_trait]
impl<B: Backend> Store for Engine<B> {
    async fn key_by_verifier(&self, verifier: &Verifier) -> Result<Option<KeyGrant>> {
        let ticket = match self.grants.get(verifier) {
            Ok(grant) => return Ok(Some(grant)),
            Err(ticket) => ticket,
        };
        let found = self.backend.key_by_verifier(verifier).await?;
        if let Some(grant) = &found {
            self.grants.keep(ticket, verifier, grant);
        }
        Ok(found)
    }

    async fn record_last_used(&self, uses: &HashMap<String, OffsetDateTime>) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.backend
            .record_last_used(uses, LAST_USED_PUBLISH_MS)
            .await
    }

    async fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>> {
        self.backend.client_by_token(token_hash).await
    }

    async fn push(&self, client: &SyncClient, changes: &[Change]) -> Result<Vec<ChangeResult>> {
        if !B::BLOCKING {
            let grants = Arc::clone(&self.grants);
            return Self::push_in_one_transaction(&self.backend, grants, client, changes).await;
        }
        // An in-process database blocks: the whole push runs on the blocking
        // pool (its futures never wait on anything but that thread).
        // The grants are dropped there too: abandoned, it still commits.
        let (backend, grants) = (Arc::clone(&self.backend), Arc::clone(&self.grants));
        let (client, changes) = (client.clone(), changes.to_vec());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(Self::push_in_one_transaction(
                &backend, grants, &client, &changes,
            ))
        })
        .await
        .map_err(|err| StoreError::Storage(format!("the push stopped: {err}")))?
    }

    async fn pull(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullResponse> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        let rows = self.backend.pull_rows(client, since, limit as u32).await?;
        let mut changes = rows.changes;
        changes.sort_by_key(|change| change.revision);
        let more = changes.len() > limit;
        changes.truncate(limit);
        let cursor = changes.last().map_or(since, |change| change.revision);
        let conflicts = rows
            .notices
            .into_iter()
            .filter(|(revision, _)| *revision > since && *revision <= cursor)
            .map(|(_, conflict)| conflict)
            .collect();
        Ok(PullResponse {
            changes,
            cursor,
            more,
            conflicts,
        })
    }

    async fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>> {
        self.backend.audit_head(client).await
    }

    async fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead> {
        self.backend.record_audit_head(client, head).await
    }

    async fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo> {
        self.backend
            .create_token(account_name, label, token_hash, hint)
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.backend.list_tokens().await
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenInfo> {
        self.backend.revoke_token(id).await
    }

    async fn check(&self) -> Result<()> {
        self.backend.check().await
    }

    fn pool_status(&self) -> PoolStatus {
        self.backend.pool_status()
    }

    fn grants_status(&self) -> GrantsStatus {
        GrantsStatus {
            kept: self.grants.len(),
            hearing: self.grants.is_hearing(),
        }
    }
}
