//! keyward-model: Keyward's rules and records, shared by the vault
//! (keyward-core), the sync client (keyward-sync) and the remote API
//! (keyward-server) — and nothing else: no storage, no network, no UI.
//!
//! - the key format and its verifier ([`key_format`]), the access decision
//!   ([`access`]), what administrators may type ([`validate`]), secrets in
//!   memory ([`SecretString`]) and the small shared records ([`record`]);
//! - the remote API on the wire ([`wire`]) and the merge rules the server
//!   applies to concurrent edits ([`merge`]).
//!
//! One rule, one place: the desktop, the CLI and the server refuse the same
//! input with the same message.

pub mod access;
mod error;
pub mod key_format;
pub mod merge;
pub mod random;
pub mod record;
mod secret;
pub mod validate;
pub mod wire;

pub use access::{AccessType, Action, Method, Request, Scope};
pub use error::{Error, Result};
pub use record::{KeyStatus, Preset, VerifyResult};
pub use secret::SecretString;
