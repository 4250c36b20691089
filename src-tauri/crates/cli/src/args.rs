//! The command-line contract (see README.md): commands, flags and defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Manage API keys in an encrypted local vault"
)]
pub struct Cli {
    /// The vault file (default: $KEYWARD_VAULT, else the platform data directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is recorded as "created by" and in the audit log (default: the OS user name).
    #[arg(long, global = true, env = "KEYWARD_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// The account a group, key or secret command acts on (may be left out when the vault holds one).
    #[arg(long, global = true, value_name = "NAME")]
    pub account: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault (never overwrites an existing file).
    Init(InitArgs),
    /// Accounts: a company or a fleet, with its key prefix and key limit.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Permission groups: named sets of RESOURCE:ACTION scopes.
    #[command(subcommand)]
    Group(GroupCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The account's shared secret for request signing.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The vault passphrase.
    #[command(subcommand)]
    Passphrase(PassphraseCommand),
    /// Remembering the vault key in the OS keychain.
    #[command(subcommand)]
    Keychain(KeychainCommand),
    /// The remote API an account syncs with.
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Push the account's changes to its remote, then pull the remote's.
    Sync,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// argon2id memory in MiB (default 64, at least 19).
    #[arg(long, value_name = "MIB")]
    pub kdf_memory_mib: Option<u32>,
    /// argon2id passes (default 3, at least 2).
    #[arg(long, value_name = "N")]
    pub kdf_passes: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create {
        name: String,
        /// Key prefix, 2–12 of [a-z0-9] (default kw).
        #[arg(long)]
        prefix: Option<String>,
        /// How many keys may exist at once (default 10).
        #[arg(long, value_name = "N")]
        key_limit: Option<u32>,
    },
    /// List accounts.
    List,
    /// Change an account.
    Set {
        name: String,
        #[arg(long, value_name = "NEW")]
        rename: Option<String>,
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long, value_name = "N")]
        key_limit: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a permission group.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// RESOURCE:ACTION, e.g. devices:read (repeatable).
        #[arg(long = "scope", value_name = "RESOURCE:ACTION")]
        scopes: Vec<String>,
    },
    /// List the account's groups.
    List,
    /// Delete a group (refused while keys use it unless --force).
    Delete {
        name: String,
        /// Delete even though keys use it; keys left with no group are deactivated.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct KeySettings {
    /// READ, WRITE or READ_WRITE (default READ, or the preset's).
    #[arg(long)]
    pub access: Option<String>,
    /// Allow unbinding devices (not for READ keys).
    #[arg(long)]
    pub allow_unbind: bool,
    /// A permission group (repeatable).
    #[arg(long = "group", value_name = "G")]
    pub groups: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Expire after a duration: 90d, 12h, 2w.
    #[arg(long, value_name = "DURATION", conflicts_with = "expires")]
    pub expires_in: Option<String>,
    /// Expire at a date (YYYY-MM-DD, through that day UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// device, timing-app, classification or admin.
    #[arg(long)]
    pub preset: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write each new key to its own file in DIR (a new folder, readable by you
    /// only): JSON with name, key and the remote's verify URL, for the device.
    /// The keys are then not printed.
    #[arg(long, value_name = "DIR")]
    pub export_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it, once.
    Create {
        /// The key's name (alias).
        #[arg(required_unless_present = "names_from", conflicts_with = "names_from")]
        name: Option<String>,
        /// Create one key per line of FILE ('-' for standard input), all or none.
        #[arg(long, value_name = "FILE")]
        names_from: Option<PathBuf>,
        #[command(flatten)]
        settings: KeySettings,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// List keys.
    List {
        #[arg(long, value_name = "active|inactive")]
        status: Option<String>,
        #[arg(long, value_name = "G")]
        group: Option<String>,
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// Only keys that expire within DURATION (e.g. 14d), not those a roll replaced.
        #[arg(long, value_name = "DURATION")]
        expiring: Option<String>,
        /// Only keys unused for DURATION or more (e.g. 90d; never used: since their creation).
        #[arg(long, value_name = "DURATION")]
        unused_for: Option<String>,
    },
    /// Roll keys: each gets a successor with its name and settings (printed once);
    /// the old key keeps working until the grace ends, then answers EXPIRED.
    Roll {
        /// The key to roll (id or name).
        #[arg(required_unless_present_any = ["group", "filter"], conflicts_with_all = ["group", "filter"])]
        key: Option<String>,
        /// Roll the group's keys, in one transaction (inactive or replaced ones are skipped).
        #[arg(long, value_name = "G", conflicts_with = "filter")]
        group: Option<String>,
        /// Roll the keys `key list --filter TEXT` shows, in one transaction.
        #[arg(long, value_name = "TEXT")]
        filter: Option<String>,
        /// How long the old key keeps working: 0 (it ends now), 30s, 15m, 24h, 7d; at most 30d.
        #[arg(
            long,
            value_name = "DURATION",
            default_value = "24h",
            allow_hyphen_values = true
        )]
        grace: String,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Show one key (by id or name).
    Show { key: String },
    /// Rename a key.
    Rename { key: String, new_name: String },
    /// Activate a key.
    Enable { key: String },
    /// Deactivate a key.
    Disable { key: String },
    /// Replace a key's groups (none: the access type alone limits it).
    SetGroups {
        key: String,
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
    },
    /// Delete a key for good.
    Delete {
        key: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Verify a key read from standard input.
    Verify {
        #[arg(long, value_name = "M")]
        method: Option<String>,
        #[arg(long, value_name = "R")]
        resource: Option<String>,
        /// The request unbinds a device (a DELETE on devices).
        #[arg(long)]
        unbind: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Reveal the shared secret (asks for the passphrase again).
    Show,
    /// Replace the shared secret with a new random one.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries, newest first.
    List {
        /// Only entries whose action starts with this, e.g. key. or key.delete.
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this key (id or name).
        #[arg(long)]
        key: Option<String>,
        /// Only entries made by this actor (ignoring case). (`--actor`, before the command,
        /// is who makes a change.)
        #[arg(long = "by", value_name = "ACTOR")]
        by: Option<String>,
        /// Only entries made on or after this day (YYYY-MM-DD, UTC) or time (RFC 3339).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only entries made up to this day, inclusive (YYYY-MM-DD, UTC), or before this time (RFC 3339).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Check the hash chain; exit 1 when it is broken.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum PassphraseCommand {
    /// Change the passphrase (new one from $KEYWARD_NEW_PASSPHRASE or a prompt)
    /// and re-encrypt the vault with a new key; the KDF parameters may be raised too.
    Change(InitArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeychainCommand {
    /// Remember the vault key in the OS keychain.
    Remember,
    /// Forget the remembered vault key.
    Forget,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Set the account's remote; the sync token comes from $KEYWARD_REMOTE_TOKEN or a prompt.
    Set {
        /// https://HOST[:PORT] (http:// only to this machine, unless --insecure).
        url: String,
        /// Allow plain http:// to another machine (the token then crosses the network in clear).
        #[arg(long)]
        insecure: bool,
    },
    /// Show the account's remote, pending changes and last sync.
    Show,
    /// Stop syncing the account; its keys stay in the vault.
    Remove {
        /// Also when changes have not reached the remote yet (they are then never sent).
        #[arg(long)]
        force: bool,
    },
}
