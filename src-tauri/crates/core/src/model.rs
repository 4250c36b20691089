//! The records the vault hands out. They serialize to the JSON the CLI prints
//! (and the desktop UI receives); none of them holds a secret.

use serde::Serialize;
use time::OffsetDateTime;

use crate::access::{AccessType, Scope};
use crate::secret::SecretString;

/// Milliseconds since the Unix epoch, as stored in the vault.
pub(crate) fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn now() -> OffsetDateTime {
    // Truncated to milliseconds so what is returned equals what is stored.
    from_millis(to_millis(OffsetDateTime::now_utc()))
}

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

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Inactive => "inactive",
        }
    }

    pub(crate) fn parse(text: &str) -> KeyStatus {
        if text == "active" {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        }
    }
}

impl std::str::FromStr for KeyStatus {
    type Err = crate::Error;
    fn from_str(text: &str) -> crate::Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(KeyStatus::Active),
            "inactive" => Ok(KeyStatus::Inactive),
            _ => Err(crate::Error::invalid(format!(
                "unknown status {text:?}: use active or inactive"
            ))),
        }
    }
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
}

/// The one place a full key exists: the result of creating it.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyResult {
    Valid,
    Malformed,
    NotFound,
    Disabled,
    Expired,
    Forbidden,
}

impl VerifyResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifyResult::Valid => "VALID",
            VerifyResult::Malformed => "MALFORMED",
            VerifyResult::NotFound => "NOT_FOUND",
            VerifyResult::Disabled => "DISABLED",
            VerifyResult::Expired => "EXPIRED",
            VerifyResult::Forbidden => "FORBIDDEN",
        }
    }
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

/// Key creation presets offered by the desktop dialog and `--preset`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Device,
    TimingApp,
    Classification,
    Admin,
}

impl Preset {
    pub fn access(&self) -> AccessType {
        match self {
            Preset::Device => AccessType::Write,
            Preset::TimingApp => AccessType::ReadWrite,
            Preset::Classification => AccessType::Read,
            Preset::Admin => AccessType::ReadWrite,
        }
    }

    pub fn allow_unbind(&self) -> bool {
        matches!(self, Preset::Admin)
    }
}

impl std::str::FromStr for Preset {
    type Err = crate::Error;
    fn from_str(text: &str) -> crate::Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "device" => Ok(Preset::Device),
            "timing-app" => Ok(Preset::TimingApp),
            "classification" | "classification-app" => Ok(Preset::Classification),
            "admin" => Ok(Preset::Admin),
            _ => Err(crate::Error::invalid(format!(
                "unknown preset {text:?}: use device, timing-app, classification or admin"
            ))),
        }
    }
}
