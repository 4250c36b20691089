//! keyward-sync: the sync client. It pushes an account's outbox to its remote
//! (`keyward-server`), pulls what changed there and applies it to the vault.
//!
//! The wire types and the merge rules are keyward-model's (`wire`, `merge`),
//! re-exported here so callers name one crate for sync.

pub mod client;

pub use client::{sync, SyncError, SyncOptions, SyncReport, VaultAccess};
pub use keyward_model::merge;
pub use keyward_model::wire::*;
