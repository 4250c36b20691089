//! `/v1/sync/audit`: a desktop's audit head (the last entry's sequence number
//! and hash), which the server keeps per desktop so that a vault whose audit
//! log was cut short or rewritten is caught by the next sync.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// The sequence number of the last entry of the audit log.
    pub seq: u64,
    /// That entry's chain hash, 64 hex digits.
    pub hash: String,
}

impl AuditHead {
    /// Refuses a head that is not a sequence number and a SHA-256 in hex.
    pub fn check(&self) -> Result<(), String> {
        if self.hash.len() != 64 || !self.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("an audit head's hash is 64 hex digits".into());
        }
        Ok(())
    }
}
