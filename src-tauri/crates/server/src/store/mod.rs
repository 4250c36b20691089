//! The storage seam: everything the server keeps goes through [`Store`], so a
//! PostgreSQL backend serving several instances can replace the embedded
//! SQLite one (ARCHITECTURE.md lists what such a backend must guarantee).
//!
//! A store holds accounts, sync tokens (as SHA-256 only), groups and key
//! records (verifiers and metadata, never a key). The logic every backend
//! needs — idempotency, replay, merging patches, notices, paging pulls — is
//! [`Engine`]'s, written once over [`Backend`], a small trait of row-level
//! operations that SQLite (`sqlite.rs`, the embedded default) and PostgreSQL
//! (`postgres.rs`, several instances on one database) each implement.

mod backend;
mod engine;
mod grants;
mod patch;
pub mod postgres;
mod sqlite;

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use keyward_model::key_format::Verifier;
use keyward_model::wire::{AuditHead, Change, ChangeResult, PullResponse};
use keyward_model::{AccessType, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use backend::{Applied, Backend, PullRows, WriteTx};
pub use engine::Engine;
pub use grants::GrantCache;
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, SCHEMA_VERSION as SQLITE_SCHEMA_VERSION};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A change breaks a rule of the records (a missing field, a READ key
    /// with unbind, a verifier that would change): the push is refused whole.
    #[error("{0}")]
    Invalid(String),
    /// The request contradicts what the store holds (an idempotency id reused
    /// for another change, an id of another account).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("server database: {0}")]
    Storage(String),
    /// The database cannot be reached now (a dropped connection, a pool
    /// exhausted, a server restarting): nothing was changed; try again (503).
    #[error("{0}")]
    Unavailable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        // SQLite's messages name tables and constraints, never bound values.
        StoreError::Storage(err.to_string())
    }
}

/// The server's id of an account, as a sync token resolves to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(pub String);

/// Who is syncing: the account of a sync token, and the desktop — the token's
/// own id, one token per desktop — which is the origin of its changes
/// whatever a change claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncClient {
    pub account: AccountId,
    pub origin: Uuid,
}

/// What verification needs of a key record found by its verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: String,
    pub active: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub access: AccessType,
    pub allow_unbind: bool,
    /// The union of the key's live groups' scopes; `None` for a key with no
    /// groups. A key whose groups were all deleted gets an empty set: it is
    /// never widened to its access type alone.
    pub scopes: Option<BTreeSet<Scope>>,
}

/// A sync token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub account: String,
    /// Which desktop the token is for (may be empty).
    pub label: String,
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What the HTTP API asks of storage: the server's operations, whatever the
/// backend. [`Engine`] implements it once, above a [`Backend`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The key record with this verifier, unless deleted. The lookup is by
    /// hash: no secret is ever compared.
    async fn key_by_verifier(&self, verifier: &Verifier) -> Result<Option<KeyGrant>>;

    /// Writes coalesced uses (key id → latest use). A time only ever moves
    /// forward; a key takes a new revision (so the next pull brings it) only
    /// when its time moved by more than [`LAST_USED_PUBLISH_MS`] since the
    /// time its last revision carried, so a busy key does not make every
    /// desktop download it again at every flush.
    async fn record_last_used(&self, uses: &HashMap<String, OffsetDateTime>) -> Result<()>;

    /// The account and desktop of a live (unrevoked) token, by the token's SHA-256.
    async fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>>;

    /// Applies a batch in one transaction that holds the account's write
    /// lock, each idempotency id once; a replayed id answers its first
    /// result. Each change's origin is the client's. A change a rule refuses
    /// is answered `refused` and changes nothing; the others apply. A storage
    /// error leaves nothing changed. A merge that overrode another desktop's
    /// pushed value is kept, in the same transaction, for that desktop's pull.
    async fn push(&self, client: &SyncClient, changes: &[Change]) -> Result<Vec<ChangeResult>>;

    /// Records changed after revision `since`, in revision order, at most
    /// `limit`; and the merges that overrode a value the client's desktop had
    /// pushed whose revision is in `(since, cursor]`: read in one snapshot,
    /// so paging from cursor to cursor hands each out once.
    async fn pull(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullResponse>;

    /// The highest audit head the client's desktop has shown, if any.
    async fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>>;

    /// Keeps `head` if it is higher than the one recorded; returns the one kept.
    async fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead>;

    /// Stores a new token's hash, hint and label for `account_name`, creating
    /// the account if needed.
    async fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo>;

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;

    /// Revokes a token by id; revoking a revoked token changes nothing.
    async fn revoke_token(&self, id: &str) -> Result<TokenInfo>;

    /// Whether the database answers (for `/readyz`).
    async fn check(&self) -> Result<()>;

    /// The connection pool's use, for `/metrics`.
    fn pool_status(&self) -> PoolStatus;

    /// The grants kept in memory, for `/metrics`.
    fn grants_status(&self) -> GrantsStatus;
}

/// How many grants an instance keeps, and whether it hears every commit
/// (and so may keep them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantsStatus {
    pub kept: usize,
    pub hearing: bool,
}

/// How many database connections exist and how many are in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    pub size: usize,
    pub in_use: usize,
}

/// A last-used time that moved less than this since the time a key's last
/// revision carried is written without a new revision (5 minutes).
pub const LAST_USED_PUBLISH_MS: i64 = 5 * 60 * 1000;

/// A token's account name and label, checked.
pub(crate) fn token_names(account_name: &str, label: &str) -> Result<(String, String)> {
    let name = keyward_model::validate::name("account", account_name)
        .map_err(|err| StoreError::Invalid(err.to_string()))?;
    let label = match label.trim() {
        "" => String::new(),
        text => keyward_model::validate::name("token label", text)
            .map_err(|err| StoreError::Invalid(err.to_string()))?,
    };
    Ok((name, label))
}

pub(crate) fn unknown_token(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no sync token with id {id:?} — see `keyward-server token list`"
    ))
}

pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
