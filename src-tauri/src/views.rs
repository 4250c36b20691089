//! The shapes the shell's modules share and the window sees: the answers of the commands
//! and the payloads of the events. They live here, apart from the modules that produce
//! them, so `session` depends on no command module and the bindings have one source.

use keyward_core::{
    AccessType, ApiKey, AuditEntry, AuditLine, KeyFile, KeyStatus, Preset, RefusedChange,
    RemoteInfo, ReviewCounts, SecretString, SkippedKey,
};
use keyward_sync::SyncReport;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the lock screen needs to know; answered by `vault_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VaultStatus {
    pub exists: bool,
    pub unlocked: bool,
    pub path: String,
    /// Whether an OS keychain answered, so "remember on this computer" can work.
    pub keychain_available: bool,
}

/// Answer to `create_vault` and `unlock`: the vault is open; whether it was remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UnlockOutcome {
    /// True when `remember` was asked and the key is now in the OS keychain.
    pub remembered: bool,
    /// Why remembering failed (the vault is open all the same); null otherwise.
    pub keychain_problem: Option<String>,
}

/// Answer to `list_key_columns`: an account's keys as `list_keys` answers them, field by
/// field: one array per field of `ApiKey`, each in the same order (oldest key first), and
/// the account's name once. The same records in about half the JSON of one object per key,
/// and JSON is most of what opening 10,000 keys costs the window (BENCHMARKS.md, "Desktop
/// app"). `replaced_by` holds null where `list_keys` leaves the field out.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeyColumns {
    pub account: String,
    pub id: Vec<String>,
    pub name: Vec<String>,
    pub description: Vec<Option<String>>,
    pub access: Vec<AccessType>,
    pub allow_unbind: Vec<bool>,
    pub groups: Vec<Vec<String>>,
    pub status: Vec<KeyStatus>,
    pub hint: Vec<String>,
    #[cfg_attr(test, ts(type = "Array<string>"))]
    pub created_at: Vec<Stamp>,
    pub created_by: Vec<String>,
    #[cfg_attr(test, ts(type = "Array<string>"))]
    pub updated_at: Vec<Stamp>,
    #[cfg_attr(test, ts(type = "Array<string | null>"))]
    pub last_used_at: Vec<Option<Stamp>>,
    #[cfg_attr(test, ts(type = "Array<string | null>"))]
    pub expires_at: Vec<Option<Stamp>>,
    pub replaced_by: Vec<Option<String>>,
}

impl KeyColumns {
    /// The keys of `account` (as the vault listed them), taken apart into columns.
    pub fn of(account: &str, keys: Vec<ApiKey>) -> KeyColumns {
        let mut columns = KeyColumns {
            account: keys
                .first()
                .map_or_else(|| account.to_string(), |key| key.account.clone()),
            ..KeyColumns::default()
        };
        for key in keys {
            columns.id.push(key.id);
            columns.name.push(key.name);
            columns.description.push(key.description);
            columns.access.push(key.access);
            columns.allow_unbind.push(key.allow_unbind);
            columns.groups.push(key.groups);
            columns.status.push(key.status);
            columns.hint.push(key.hint);
            columns.created_at.push(Stamp(key.created_at));
            columns.created_by.push(key.created_by);
            columns.updated_at.push(Stamp(key.updated_at));
            columns.last_used_at.push(key.last_used_at.map(Stamp));
            columns.expires_at.push(key.expires_at.map(Stamp));
            columns.replaced_by.push(key.replaced_by);
        }
        columns
    }
}

/// A time as `ApiKey` writes it: RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Stamp(#[serde(with = "time::serde::rfc3339")] pub OffsetDateTime);

/// Answer to `create_key`: the record, and the full key, shown once. The shell keeps the
/// key until `forget_created_key` or lock, for `copy_created_key`; nothing shows it again.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CreatedKeyView {
    pub key: ApiKey,
    #[cfg_attr(test, ts(type = "string"))]
    pub secret: ShownOnce,
}

/// The full key in the one answer that carries it: serialized for the window,
/// `<redacted>` in `Debug` (a log or a panic never shows it), zeroed on drop.
#[derive(Clone)]
pub struct ShownOnce(pub SecretString);

impl Serialize for ShownOnce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose())
    }
}

impl std::fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One key rolled: the key it replaced (rolling out now) and its successor, whose full
/// key this answer carries once, like `create_key`'s.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RolledKeyView {
    pub replaced: ApiKey,
    pub created: CreatedKeyView,
}

/// Answer to `roll_keys`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RollView {
    pub rolled: Vec<RolledKeyView>,
    pub skipped: Vec<SkippedKey>,
    /// The files the successors were written to, when a folder was given.
    pub files: Vec<KeyFile>,
}

/// Answer to `add_many_keys`: every new key once, and their files when a folder was given.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ManyCreatedView {
    pub created: Vec<CreatedKeyView>,
    pub files: Vec<KeyFile>,
}

/// How `add_many_keys` reads its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ManyKeysFormat {
    /// One name a line.
    Names,
    /// `name,description,groups` a line (groups separated by `;`), an optional header.
    Csv,
}

/// Answer to `daily_review`: the accounts whose keys need a look (none after the first
/// call of the day), and whether the desktop notification went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DailyReview {
    pub due: Vec<ReviewCounts>,
    pub notified: bool,
}

/// A preset of the creation dialog, with what it fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KeyPresetView {
    pub id: Preset,
    pub label: String,
    pub access: AccessType,
    pub allow_unbind: bool,
}

/// Answer to a copy: how long until the clipboard is cleared, for the UI's countdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CopyReceipt {
    pub clears_in_seconds: u32,
}

/// An audit entry as the audit page shows it: the entry as stored, and its details as lines
/// of text (one a field, times left to the window to write in the administrator's locale).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuditView {
    #[serde(flatten)]
    #[cfg_attr(test, ts(flatten))]
    pub entry: AuditEntry,
    pub lines: Vec<AuditLine>,
}

/// An account's sync state as the window shows it; payload of `sync-status` too.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SyncStatus {
    pub account: String,
    pub remote: Option<RemoteInfo>,
    /// Changes made here that the remote does not hold yet.
    pub pending_changes: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(test, ts(type = "string | null"))]
    pub last_sync_at: Option<OffsetDateTime>,
    pub last_report: Option<SyncReport>,
    pub last_error: Option<String>,
    /// Changes the remote refused, kept aside with its reasons (the rest went through).
    pub refused: Vec<RefusedChange>,
    pub syncing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum LockReason {
    /// Nothing happened in the window for `auto_lock_minutes`.
    Idle,
    /// The administrator asked (the `lock` command, "Lock", Ctrl+L).
    User,
    /// The session's screen locked (the screensaver's `ActiveChanged`, logind's `Lock`).
    Screen,
    /// The machine is about to suspend (logind's `PrepareForSleep`).
    Suspend,
}

/// Payload of `vault-locked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct VaultLocked {
    pub reason: LockReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ClipboardClearReason {
    /// The delay passed and the clipboard still held the copy: it was cleared.
    Expired,
    /// The vault locked while the copy was pending: it was cleared.
    Locked,
    /// The clipboard already held something else (the administrator copied over it), so it
    /// was left alone. The countdown is over all the same.
    Overwritten,
}

/// Payload of `clipboard-cleared`: the countdown of the last copy is over. A new copy
/// replaces the previous one's countdown without this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ClipboardCleared {
    pub reason: ClipboardClearReason,
}
