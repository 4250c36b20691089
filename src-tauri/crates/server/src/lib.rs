//! keyward-server: Keyward's reference remote API. Devices verify keys
//! (`POST /v1/verify`), gateways ask on behalf of the API they protect
//! (`GET /v1/authorize`); desktops push and pull groups and key records
//! (`/v1/sync/*`) with a sync token. It holds verifiers and metadata, never a
//! key, and decides by keyward-model's rules (it needs neither the vault nor
//! SQLCipher nor a keychain).
//!
//! The `keyward-server` binary (`main.rs`) is a thin command line over
//! [`serve::start`] and the token commands.

pub mod api;
pub mod authorize;
pub mod client_addr;
pub mod error;
pub mod idle;
pub mod last_used;
pub mod metrics;
pub mod rate_limit;
pub mod serve;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod verify;

pub use serve::{start, RunningServer, ServerOptions, StartError, TlsFiles};
pub use store::{SqliteStore, Store, StoreError, SyncClient};

/// `<data dir>/keyward/server.db` (`~/.local/share/keyward/server.db` on Linux).
pub fn default_db_path() -> Option<std::path::PathBuf> {
    dirs::data_dir().map(|dir| dir.join("keyward").join("server.db"))
}
