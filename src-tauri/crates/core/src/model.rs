//! The records the vault hands out. They serialize to the JSON the CLI prints
//! (and the desktop UI receives); none of them holds a secret.

use serde::Serialize;
use time::OffsetDateTime;

use crate::access::{AccessType, Scope};
use crate::secret::SecretString;

pub use keyward_model::record::{from_millis, now, to_millis, KeyStatus, Preset, VerifyResult};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_limit: u32,
    pub key_count: u64,
    pub resources: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: OffsetDateTime,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    pub key_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: OffsetDateTime,
}

/// An API key as the vault describes it: everything but the key itself.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub account: String,
    pub name: String,
    pub description: Option<String>,
    pub access: AccessType,
    pub allow_unbind: bool,
    pub groups: Vec<String>,
    pub status: KeyStatus,
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub expires_at: Option<OffsetDateTime>,
    /// The id of the key that replaced this one in a roll. A replaced key keeps
    /// working until its expiry (the end of the roll's grace), then answers
    /// EXPIRED; it no longer counts toward the key limit. Left out of the JSON
    /// of a key no roll replaced, so every other key's fields stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub replaced_by: Option<String>,
}

/// The one place a full key exists: the result of creating it.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub result: VerifyResult,
    pub key_id: Option<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VaultSummary {
    pub accounts: u64,
    pub keys: u64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub account: Option<String>,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown> | null"))]
    pub details: serde_json::Value,
}

/// The outcome of `audit verify`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditReport {
    pub ok: bool,
    pub entries: u64,
    /// The first entry that does not fit the chain, when one does not.
    pub broken_at: Option<u64>,
    pub problem: Option<String>,
}
