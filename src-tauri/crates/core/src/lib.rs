//! keyward-core: Keyward's domain without any user interface — the encrypted
//! vault, accounts, permission groups, API keys, verification, the audit log
//! and the OS keychain. The desktop app and the `keyward` CLI are thin layers
//! over [`Vault`].

pub mod access;
mod accounts;
mod audit;
mod audit_text;
mod error;
mod fsutil;
mod groups;
mod header;
pub mod key_format;
mod keychain;
mod keys;
mod last_used;
mod model;
mod random;
pub mod redact;
mod remote;
mod schema;
mod secret;
mod settings;
pub mod validate;
mod vault;
mod verify;
mod watch;

pub use access::{AccessType, Action, Method, Request, Scope};
pub use accounts::{AccountChanges, NewAccount};
pub use audit::AuditFilter;
pub use audit_text::{describe as describe_audit_entry, AuditLine, AuditValue};
pub use error::{Error, ErrorKind, Result};
pub use groups::{GroupChanges, GroupDeletion, NewGroup};
pub use header::{header_path, KdfParams};
pub use keychain::Keychain;
pub use keys::{KeyFilter, NewKey};
pub use model::{
    now, Account, ApiKey, AuditEntry, AuditReport, CreatedKey, Group, KeyStatus, Preset,
    VaultSummary, Verification, VerifyResult,
};
pub use remote::{
    check_remote_url, OutboxEntry, Pulled, PulledRecord, RemoteGroup, RemoteInfo, RemoteKey,
    RemoteSession, SyncState,
};
pub use secret::SecretString;
pub use settings::Settings;
pub use vault::{default_vault_path, Vault};
