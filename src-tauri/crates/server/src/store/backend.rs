//! The row-level operations a database gives the [`Engine`](super::Engine):
//! all that SQLite and PostgreSQL each implement. The rules (idempotency,
//! replay, merges, notices, paging) are the engine's, written once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use keyward_model::wire::{AuditHead, Conflict, Entity, PulledChange};
use time::OffsetDateTime;
use uuid::Uuid;

use super::patch::{GroupInfo, GroupRow, KeyRow, Notice, RecordMeta};
use super::{AccountId, KeyGrant, PoolStatus, Result, SyncClient, TokenInfo};

/// A change applied before, as `applied_changes` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub account: String,
    /// SHA-256 of the change's content (its origin left out).
    pub fingerprint: Vec<u8>,
    /// Its `ChangeResult`, as JSON.
    pub result: String,
}

/// What one pull reads in one snapshot: the records of the account changed
/// after `since` (groups and keys, each at most `limit + 1`), and the
/// notices for the client's desktop with a revision after `since` up to the
/// highest revision read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullRows {
    pub changes: Vec<PulledChange>,
    pub notices: Vec<(u64, Conflict)>,
}

/// A storage backend. Reads answer from committed state; a [`WriteTx`] is
/// one push.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    type Tx: WriteTx;

    /// The backend's calls block the thread (SQLite, in process): the engine
    /// runs a push on the blocking pool. A network backend's calls only wait.
    const BLOCKING: bool;

    /// A write transaction for `account`, holding its write lock until it
    /// ends: an account's pushes (and revisions) go one at a time, whichever
    /// instance serves them. Dropped without `commit`, it changes nothing.
    async fn begin(&self, account: &AccountId) -> Result<Self::Tx>;

    async fn key_by_verifier(&self, verifier: &[u8; 32]) -> Result<Option<KeyGrant>>;

    async fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>>;

    /// See [`PullRows`].
    async fn pull_rows(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullRows>;

    /// Moves last-used times forward (never back); a key whose time moved by
    /// more than `publish_after_ms` since its last revision takes a new one
    /// (in its account's order, as a push does).
    async fn record_last_used(
        &self,
        uses: &HashMap<String, OffsetDateTime>,
        publish_after_ms: i64,
    ) -> Result<()>;

    async fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>>;
    async fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead>;

    async fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    async fn revoke_token(&self, id: &str) -> Result<TokenInfo>;

    async fn check(&self) -> Result<()>;
    fn pool_status(&self) -> PoolStatus;
}

/// One push's transaction, for the account it was begun for.
#[async_trait]
pub trait WriteTx: Send {
    /// Told the whole push before its changes are applied, so a backend may
    /// read in one go what it would otherwise read change by change.
    async fn prepare(&mut self, _changes: &[keyward_model::wire::Change]) -> Result<()> {
        Ok(())
    }

    async fn applied(&mut self, idempotency_id: &Uuid) -> Result<Option<Applied>>;
    async fn record_applied(&mut self, idempotency_id: &Uuid, applied: &Applied) -> Result<()>;

    /// The account's next revision (revisions of one account commit in order).
    async fn next_revision(&mut self) -> Result<u64>;

    /// Which account holds the record, and whether it is a tombstone.
    async fn owner(&mut self, entity: Entity, id: &Uuid) -> Result<Option<(String, bool)>>;
    async fn load_key(&mut self, id: &Uuid) -> Result<(KeyRow, RecordMeta)>;
    async fn load_group(&mut self, id: &Uuid) -> Result<(GroupRow, RecordMeta)>;
    async fn load_meta(&mut self, entity: Entity, id: &Uuid) -> Result<RecordMeta>;
    /// A live record's name.
    async fn name_of(&mut self, entity: Entity, id: &Uuid) -> Result<String>;

    /// Writes a key record (created if new); its group links only when `groups_changed`.
    async fn write_key(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &KeyRow,
        meta: &RecordMeta,
        at: i64,
        groups_changed: bool,
    ) -> Result<()>;
    async fn write_group(
        &mut self,
        id: &Uuid,
        revision: u64,
        row: &GroupRow,
        meta: &RecordMeta,
        at: i64,
    ) -> Result<()>;
    /// Makes the record a tombstone (created as one if unseen): fields and
    /// group links cleared, the verifier gone.
    async fn write_tombstone(
        &mut self,
        entity: Entity,
        id: &Uuid,
        revision: u64,
        at: i64,
        meta: &RecordMeta,
    ) -> Result<()>;

    /// Whether another key record has this verifier.
    async fn verifier_taken(&mut self, verifier: &[u8], except: &Uuid) -> Result<bool>;
    /// Whether another live record of the entity in the account has this folded name.
    async fn name_taken(&mut self, entity: Entity, name_fold: &str, except: &Uuid) -> Result<bool>;
    /// The account's live groups among `ids`.
    async fn live_groups(&mut self, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, GroupInfo>>;
    async fn write_notices(&mut self, revision: u64, notices: &[Notice]) -> Result<()>;

    /// A change's own savepoint, so a refused change undoes only itself.
    async fn savepoint(&mut self) -> Result<()>;
    async fn release_savepoint(&mut self) -> Result<()>;
    async fn rollback_to_savepoint(&mut self) -> Result<()>;

    async fn commit(self) -> Result<()>;
}
