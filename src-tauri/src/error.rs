//! The error every command returns. It crosses IPC as `{ "kind": "...", "message": "..." }`:
//! the UI branches on `kind` and shows `message`, which never holds a secret.

use keyward_core::ErrorKind;
use serde::ser::{Serialize, SerializeStruct, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The core refused or failed; `kind` is its `ErrorKind` (snake_case on the wire).
    #[error("{message}")]
    Core { kind: ErrorKind, message: String },
    /// A command that needs the open vault ran while it was locked.
    #[error("the vault is locked — unlock it first")]
    VaultLocked,
    /// The shell itself failed (a background task died); not the user's doing.
    #[error("{0}")]
    Internal(String),
}

impl CommandError {
    /// The `kind` the UI branches on: the core's kinds, plus `vault_locked` and `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            CommandError::Core { kind, .. } => kind.as_str(),
            CommandError::VaultLocked => "vault_locked",
            CommandError::Internal(_) => "internal",
        }
    }
}

impl From<keyward_core::Error> for CommandError {
    fn from(error: keyward_core::Error) -> Self {
        CommandError::Core {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl Serialize for CommandError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut error = serializer.serialize_struct("CommandError", 2)?;
        error.serialize_field("kind", self.kind())?;
        error.serialize_field("message", &self.to_string())?;
        error.end()
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
    fn the_shell_errors_have_their_own_kinds() {
        assert_eq!(
            serde_json::to_value(CommandError::VaultLocked).unwrap(),
            json!({ "kind": "vault_locked", "message": "the vault is locked — unlock it first" })
        );
        assert_eq!(
            serde_json::to_value(CommandError::Internal("the task panicked".into())).unwrap(),
            json!({ "kind": "internal", "message": "the task panicked" })
        );
    }
}
