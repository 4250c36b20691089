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

use keyward_core::key_format::Verifier;
use keyward_core::{AccessType, Scope};
use keyward_sync::{Change, ChangeResult, PullResponse};
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

    /// The account of a live (unrevoked) token, by the token's SHA-256.
    fn account_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<AccountId>>;

    /// Applies a batch in one transaction, each idempotency id once; a
    /// replayed id answers its first result. Any error leaves nothing changed.
    /// A merge that overrode another desktop's pushed value is kept, in the
    /// same transaction, for that desktop's [`Store::pull`].
    fn push(&self, account: &AccountId, changes: &[Change]) -> Result<Vec<ChangeResult>>;

    /// Records changed after revision `since`, in revision order, at most
    /// `limit`. With `origin`, also the merges that overrode a value that
    /// desktop had pushed, kept by `push` with the revision the merged record
    /// got, whose revision is in `(since, cursor]`: read in the same snapshot
    /// as the records, so paging from cursor to cursor hands each out once.
    fn pull(
        &self,
        account: &AccountId,
        since: u64,
        limit: u32,
        origin: Option<Uuid>,
    ) -> Result<PullResponse>;

    /// Stores a new token's hash and hint for `account_name`, creating the account if needed.
    fn create_token(
        &self,
        account_name: &str,
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
