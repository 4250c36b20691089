//! The one error type of keyward-core. Every message is safe to show an
//! administrator: it says what went wrong and what to do, and never holds a secret.

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, so callers (the CLI's exit codes, the
/// desktop UI) branch on a kind rather than on message text.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidInput,
    NotFound,
    Conflict,
    LimitReached,
    Refused,
    WrongPassphrase,
    VaultMissing,
    VaultExists,
    VaultDamaged,
    Storage,
    Keychain,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::LimitReached => "limit_reached",
            ErrorKind::Refused => "refused",
            ErrorKind::WrongPassphrase => "wrong_passphrase",
            ErrorKind::VaultMissing => "vault_missing",
            ErrorKind::VaultExists => "vault_exists",
            ErrorKind::VaultDamaged => "vault_damaged",
            ErrorKind::Storage => "storage",
            ErrorKind::Keychain => "keychain",
        }
    }

    /// True for problems with the vault itself rather than with a request.
    pub fn is_vault_problem(&self) -> bool {
        matches!(
            self,
            ErrorKind::WrongPassphrase
                | ErrorKind::VaultMissing
                | ErrorKind::VaultExists
                | ErrorKind::VaultDamaged
                | ErrorKind::Storage
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{what} {name:?} not found{hint}")]
    NotFound {
        what: &'static str,
        name: String,
        hint: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "key limit of {limit} reached for account {account} (inactive keys count too) — delete a key, \
         or raise the account's key limit"
    )]
    KeyLimitReached { account: String, limit: u32 },
    #[error("{0}")]
    Refused(String),
    /// An account must be named: the vault holds several.
    #[error("the vault holds several accounts: say which one")]
    AccountNeeded,
    /// A plain `http://` remote on another machine, not allowed explicitly.
    #[error("refusing plain http:// to {host}: the sync token would cross the network in clear — use https://, or allow plain HTTP explicitly")]
    PlainHttpRefused { host: String },
    #[error("group {group} is used by {keys} key(s): reassign them first, or delete it anyway")]
    GroupInUse { group: String, keys: u64 },
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("no vault at {0}")]
    VaultMissing(String),
    #[error("a file already exists at {0}; Keyward will not overwrite it")]
    VaultExists(String),
    #[error("the vault is damaged or not a Keyward vault: {0}")]
    VaultDamaged(String),
    #[error("vault storage error: {0}")]
    Storage(String),
    #[error("keychain: {0}")]
    Keychain(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) | Error::AccountNeeded | Error::PlainHttpRefused { .. } => {
                ErrorKind::InvalidInput
            }
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::KeyLimitReached { .. } => ErrorKind::LimitReached,
            Error::Refused(_) | Error::GroupInUse { .. } => ErrorKind::Refused,
            Error::WrongPassphrase => ErrorKind::WrongPassphrase,
            Error::VaultMissing(_) => ErrorKind::VaultMissing,
            Error::VaultExists(_) => ErrorKind::VaultExists,
            Error::VaultDamaged(_) => ErrorKind::VaultDamaged,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Keychain(_) => ErrorKind::Keychain,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput(message.into())
    }

    /// `name` as typed, but never a key pasted where a name was meant.
    pub(crate) fn not_found(what: &'static str, name: &str) -> Error {
        Error::NotFound {
            what,
            name: keyward_model::key_format::redact(name),
            hint: String::new(),
        }
    }

    pub(crate) fn not_found_hint(what: &'static str, name: &str, hint: &str) -> Error {
        Error::NotFound {
            what,
            name: keyward_model::key_format::redact(name),
            hint: format!(" — {hint}"),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        // SQLite messages name tables and constraints, never bound values, so
        // they cannot carry a key or a secret.
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match err.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => Error::VaultDamaged(err.to_string()),
            _ => Error::Storage(err.to_string()),
        }
    }
}

impl From<rusqlite::types::FromSqlError> for Error {
    fn from(err: rusqlite::types::FromSqlError) -> Self {
        Error::Storage(format!("unexpected value in the vault: {err}"))
    }
}

impl From<keyward_model::Error> for Error {
    fn from(err: keyward_model::Error) -> Self {
        match err {
            keyward_model::Error::InvalidInput(message) => Error::InvalidInput(message),
            keyward_model::Error::Refused(message) => Error::Refused(message),
            keyward_model::Error::Random(_) => Error::Storage(err.to_string()),
        }
    }
}
