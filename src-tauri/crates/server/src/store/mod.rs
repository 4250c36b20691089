//! The storage seam: everything the server keeps goes through [`Store`], so a
//! PostgreSQL backend serving several instances can replace the embedded
//! SQLite one (ARCHITECTURE.md lists what such a backend must guarantee).
//!
//! A store holds accounts, sync tokens (as SHA-256 only), groups and key
//! records (verifiers and metadata, never a key). Its methods block; the HTTP
//! handlers call them on tokio's blocking threads — except `key_by_verifier`,
//! which verification calls on the request's worker: it must be one quick read.

mod patch;
mod sqlite;

use std::collections::{BTreeSet, HashMap};

use keyward_model::key_format::Verifier;
use keyward_model::wire::{AuditHead, Change, ChangeResult, PullResponse};
use keyward_model::{AccessType, Scope};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use sqlite::SqliteStore;

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

pub trait Store: Send + Sync + 'static {
    /// The key record with this verifier, unless deleted. The lookup is by
    /// hash: no secret is ever compared.
    fn key_by_verifier(&self, verifier: &Verifier) -> Result<Option<KeyGrant>>;

    /// Writes coalesced uses (key id → latest use) in one transaction. A time
    /// only ever moves forward; each key whose time moved gets a new revision,
    /// so the next pull brings it.
    fn record_last_used(&self, uses: &HashMap<String, OffsetDateTime>) -> Result<()>;

    /// The account and desktop of a live (unrevoked) token, by the token's SHA-256.
    fn client_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<SyncClient>>;

    /// Applies a batch in one transaction, each idempotency id once; a
    /// replayed id answers its first result. Each change's origin is the
    /// client's. A change a rule refuses is answered `refused` and changes
    /// nothing; the others apply. A storage error leaves nothing changed.
    /// A merge that overrode another desktop's pushed value is kept, in the
    /// same transaction, for that desktop's [`Store::pull`].
    fn push(&self, client: &SyncClient, changes: &[Change]) -> Result<Vec<ChangeResult>>;

    /// Records changed after revision `since`, in revision order, at most
    /// `limit`; and the merges that overrode a value the client's desktop had
    /// pushed, kept by `push` with the revision the merged record got, whose
    /// revision is in `(since, cursor]`: read in the same snapshot as the
    /// records, so paging from cursor to cursor hands each out once.
    fn pull(&self, client: &SyncClient, since: u64, limit: u32) -> Result<PullResponse>;

    /// The highest audit head the client's desktop has shown, if any.
    fn audit_head(&self, client: &SyncClient) -> Result<Option<AuditHead>>;

    /// Keeps `head` if it is higher than the one recorded; returns the one kept.
    fn record_audit_head(&self, client: &SyncClient, head: &AuditHead) -> Result<AuditHead>;

    /// Stores a new token's hash, hint and label for `account_name`, creating
    /// the account if needed.
    fn create_token(
        &self,
        account_name: &str,
        label: &str,
        token_hash: &[u8; 32],
        hint: &str,
    ) -> Result<TokenInfo>;

    fn list_tokens(&self) -> Result<Vec<TokenInfo>>;

    /// Revokes a token by id; revoking a revoked token changes nothing.
    fn revoke_token(&self, id: &str) -> Result<TokenInfo>;

    /// Whether the database answers (for `/healthz`).
    fn check(&self) -> Result<()>;
}

pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
