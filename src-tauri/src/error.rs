//! The error every command returns. It crosses IPC as `{ "kind": "...", "message": "..." }`:
//! the UI branches on `kind` and shows `message`, which never holds a secret.

use keyward_core::ErrorKind;
use serde::ser::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The core refused or failed; `kind` is its `ErrorKind` (snake_case on the wire).
    #[error("{message}")]
    Core { kind: ErrorKind, message: String },
    /// A command that needs the open vault ran while it was locked.
    #[error("the vault is locked — unlock it first")]
    VaultLocked,
    /// The system clipboard could not be used (no display, another program holds it...).
    #[error("the clipboard is not available: {0}")]
    Clipboard(String),
    /// The shell itself failed (a background task died); not the user's doing.
    #[error("{0}")]
    Internal(String),
    /// A sync could not finish: the remote was unreachable, refused the token or the changes.
    #[error("{message}")]
    Sync {
        kind: ShellErrorKind,
        message: String,
    },
}

/// The kinds only the shell produces; on the wire they sit beside the core's `ErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ShellErrorKind {
    VaultLocked,
    Clipboard,
    Internal,
    /// The remote could not be reached; the changes stay queued.
    RemoteUnreachable,
    /// The remote refused the sync token.
    Unauthorized,
    /// The remote refused the changes; they stay queued.
    RemoteRefused,
}

/// What the UI branches on: one of the core's kinds or one of the shell's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub enum CommandErrorKind {
    Core(ErrorKind),
    Shell(ShellErrorKind),
}

impl CommandErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            CommandErrorKind::Core(kind) => kind.as_str(),
            CommandErrorKind::Shell(ShellErrorKind::VaultLocked) => "vault_locked",
            CommandErrorKind::Shell(ShellErrorKind::Clipboard) => "clipboard",
            CommandErrorKind::Shell(ShellErrorKind::Internal) => "internal",
            CommandErrorKind::Shell(ShellErrorKind::RemoteUnreachable) => "remote_unreachable",
            CommandErrorKind::Shell(ShellErrorKind::Unauthorized) => "unauthorized",
            CommandErrorKind::Shell(ShellErrorKind::RemoteRefused) => "remote_refused",
        }
    }
}

/// How a command error reaches the window: `{ kind, message }` (the TypeScript `CommandError`).
#[derive(serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "CommandError"))]
pub struct CommandErrorBody {
    pub kind: CommandErrorKind,
    /// Safe to show the administrator; never holds a secret.
    pub message: String,
}

impl CommandError {
    pub fn kind(&self) -> CommandErrorKind {
        match self {
            CommandError::Core { kind, .. } => CommandErrorKind::Core(*kind),
            CommandError::VaultLocked => CommandErrorKind::Shell(ShellErrorKind::VaultLocked),
            CommandError::Clipboard(_) => CommandErrorKind::Shell(ShellErrorKind::Clipboard),
            CommandError::Internal(_) => CommandErrorKind::Shell(ShellErrorKind::Internal),
            CommandError::Sync { kind, .. } => CommandErrorKind::Shell(*kind),
        }
    }

    /// A bad argument caught by the shell (an unparsable scope or date), reported like the
    /// core's own invalid input so the UI shows it the same way.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        CommandError::Core {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        CommandError::Core {
            kind: ErrorKind::NotFound,
            message: message.into(),
        }
    }
}

impl From<keyward_core::Error> for CommandError {
    fn from(error: keyward_core::Error) -> Self {
        // The core's messages are worded for every front end; the window's own advice here.
        let advice = match &error {
            keyward_core::Error::PlainHttpRefused { .. } => {
                " (tick “Allow insecure HTTP” only behind a proxy that terminates TLS)"
            }
            _ => "",
        };
        CommandError::Core {
            kind: error.kind(),
            message: keyward_core::key_format::redact(&format!("{error}{advice}")),
        }
    }
}

impl From<keyward_core::RuleError> for CommandError {
    fn from(error: keyward_core::RuleError) -> Self {
        CommandError::from(keyward_core::Error::from(error))
    }
}

impl Serialize for CommandError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CommandErrorBody {
            kind: self.kind(),
            message: self.to_string(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_core_error_keeps_its_kind_and_message() {
        let error = CommandError::from(keyward_core::Error::WrongPassphrase);
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({ "kind": "wrong_passphrase", "message": "wrong passphrase" })
        );
    }

    #[test]
    fn every_core_kind_crosses_in_snake_case() {
        let error = CommandError::from(keyward_core::Error::KeyLimitReached {
            account: "acme".into(),
            limit: 3,
        });
        let wire = serde_json::to_value(&error).unwrap();
        assert_eq!(wire["kind"], "limit_reached");
        assert!(
            wire["message"].as_str().unwrap().contains("key limit of 3"),
            "{wire}"
        );
        let not_found = CommandError::from(keyward_core::Error::NotFound {
            what: "key",
            name: "x".into(),
            hint: String::new(),
        });
        assert_eq!(
            serde_json::to_value(&not_found).unwrap()["kind"],
            "not_found"
        );
    }

    #[test]
    fn the_shell_errors_have_their_own_kinds() {
        assert_eq!(
            serde_json::to_value(CommandError::VaultLocked).unwrap(),
            json!({ "kind": "vault_locked", "message": "the vault is locked — unlock it first" })
        );
        assert_eq!(
            serde_json::to_value(CommandError::Clipboard("no display".into())).unwrap(),
            json!({ "kind": "clipboard", "message": "the clipboard is not available: no display" })
        );
        assert_eq!(
            serde_json::to_value(CommandError::Internal("the task panicked".into())).unwrap(),
            json!({ "kind": "internal", "message": "the task panicked" })
        );
    }

    #[test]
    fn as_str_names_what_goes_on_the_wire() {
        for error in [
            CommandError::VaultLocked,
            CommandError::Clipboard(String::new()),
            CommandError::Internal(String::new()),
            CommandError::invalid_input("bad"),
            CommandError::not_found("gone"),
        ] {
            assert_eq!(
                serde_json::to_value(&error).unwrap()["kind"],
                error.kind().as_str()
            );
        }
    }
}
