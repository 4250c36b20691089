//! keyward-core: Keyward's domain without any user interface — the encrypted
//! vault, accounts, permission groups, API keys, verification, the audit log
//! and the OS keychain. The desktop app and the `keyward` CLI are thin layers
//! over [`Vault`].

mod accounts;
mod audit;
mod audit_text;
mod bulk;
mod error;
mod fsutil;
mod groups;
mod header;
mod keychain;
mod keys;
mod last_used;
mod many;
mod model;
mod outbox;
mod provision;
mod pull;
mod remote;
mod review;
mod roll;
mod schema;
mod secret;
mod settings;
mod vault;
mod verify;
mod watch;

// The rules and records the vault shares with the sync client and the server.
pub use accounts::{AccountChanges, NewAccount};
pub use audit::AuditFilter;
pub use audit_text::{describe as describe_audit_entry, AuditLine, AuditValue};
pub use bulk::KeysChange;
pub use error::{Error, ErrorKind, Result};
pub use groups::{GroupChanges, GroupDeletion, NewGroup};
pub use header::{header_path, KdfParams};
pub use keychain::Keychain;
pub use keys::{KeyFilter, NewKey};
pub(crate) use keyward_model::random;
pub use keyward_model::{access, key_format, validate, wire};
pub use keyward_model::{AccessType, Action, Error as RuleError, Method, Request, Scope};
pub use many::{parse_key_csv, parse_key_names, NewKeyRow};
pub use model::{
    now, Account, ApiKey, AuditEntry, AuditReport, CreatedKey, Group, KeyStatus, Preset,
    VaultSummary, Verification, VerifyResult,
};
pub use outbox::{OutboxEntry, RefusedChange};
pub use provision::{check_export_dir, KeyFile};
pub use remote::{check_remote_url, RemoteInfo, RemoteSession, SyncState};
pub use review::{ReviewCounts, UNUSED_DAYS};
pub use roll::{KeySelection, RollOutcome, RolledKey, SkippedKey};
pub use secret::SecretString;
pub use settings::Settings;
pub use vault::{default_vault_path, Vault};
pub use watch::ContentVersion;
