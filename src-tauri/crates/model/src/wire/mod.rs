//! The remote API on the wire: the JSON requests and responses that
//! `keyward-server` answers and the sync client sends, and the outbox entries
//! a vault queues for it. Types only, no I/O; their fields are the model's own
//! types (access types, scopes, statuses, verification results), so the wire
//! cannot drift from the vault, and a change or a pulled record of the wrong
//! shape is refused by the parser rather than skipped.

mod audit;
mod changes;
mod error;
#[cfg(feature = "openapi")]
pub mod schema;
mod verify;

pub use audit::AuditHead;
pub use changes::{
    Change, ChangeAction, ChangeResult, Conflict, Entity, GroupFields, GroupRecord, KeyFields,
    KeyPermissions, KeyRecord, Op, Outcome, PullQuery, PullResponse, PulledChange, PulledRecord,
    PushRequest, PushResponse, Verifier, PARTIAL_PERMISSIONS,
};
pub use error::{ErrorBody, ErrorKind};
pub use verify::{PresentedKey, VerifyRequest, VerifyResponse};

/// The most changes one push may carry; a client sends more in several pushes.
pub const PUSH_MAX_CHANGES: usize = 10_000;
/// The largest push body the server reads (10,000 key records fit with room to spare).
pub const PUSH_MAX_BYTES: usize = 8 * 1024 * 1024;
/// The largest verification body the server reads.
pub const VERIFY_MAX_BYTES: usize = 4 * 1024;
/// Changes per pull unless `limit` says otherwise, and the most `limit` may ask for.
pub const PULL_DEFAULT_LIMIT: u32 = 1_000;
pub const PULL_MAX_LIMIT: u32 = 10_000;

/// The paths of the API, for the server's router and the client's requests.
pub mod paths {
    pub const VERIFY: &str = "/v1/verify";
    /// Forward authentication for gateways (nginx, Caddy, Traefik).
    pub const AUTHORIZE: &str = "/v1/authorize";
    pub const PUSH: &str = "/v1/sync/push";
    pub const PULL: &str = "/v1/sync/pull";
    /// The audit head the server last recorded for the token's desktop (GET),
    /// and a newer one to record (POST).
    pub const AUDIT: &str = "/v1/sync/audit";
    /// Liveness: the process answers.
    pub const HEALTH: &str = "/healthz";
    /// Readiness: not draining, and the database answers.
    pub const READY: &str = "/readyz";
    /// Counters and latencies, in the Prometheus text format.
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
}
