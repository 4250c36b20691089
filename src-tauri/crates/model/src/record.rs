//! The small records every part of Keyward speaks in: a key's status, the
//! verification results, the creation presets, and times as the stores keep
//! them (milliseconds since the Unix epoch).

use serde::Serialize;
use time::OffsetDateTime;

use crate::access::AccessType;

/// Milliseconds since the Unix epoch, as stored in the vault.
pub fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn now() -> OffsetDateTime {
    // Truncated to milliseconds so what is returned equals what is stored.
    from_millis(to_millis(OffsetDateTime::now_utc()))
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

    /// Reads a stored status; anything but `active` is inactive (never wider).
    pub fn parse(text: &str) -> KeyStatus {
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
