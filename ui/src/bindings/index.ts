// GENERATED from the Rust types by ts-rs (src-tauri/src/bindings.rs) — do not edit.
// Refresh: UPDATE_BINDINGS=1 cargo test -p keyward-desktop bindings
// Times are RFC 3339 strings; a Scope is the text "resource:action".

export type Account = { id: string, name: string, prefix: string, key_limit: number, key_count: number, resources: Array<string>, created_at: string, updated_at: string, };

export type Group = { id: string, account: string, name: string, description: string, scopes: Array<Scope>, key_count: number, created_at: string, updated_at: string, };

/**
 * An API key as the vault describes it: everything but the key itself.
 */
export type ApiKey = { id: string, account: string, name: string, description: string | null, access: AccessType, allow_unbind: boolean, groups: Array<string>, status: KeyStatus, hint: string, created_at: string, created_by: string, updated_at: string, last_used_at: string | null, expires_at: string | null, 
/**
 * The id of the key that replaced this one in a roll. A replaced key keeps
 * working until its expiry (the end of the roll's grace), then answers
 * EXPIRED; it no longer counts toward the key limit. Left out of the JSON
 * of a key no roll replaced, so every other key's fields stay as they were.
 */
replaced_by?: string, };

export type KeyStatus = "active" | "inactive";

export type AccessType = "READ" | "WRITE" | "READ_WRITE";

export type Action = "read" | "write" | "delete";

/**
 * `resource:action`, e.g. `devices:write`.
 */
export type Scope = string;

/**
 * Key creation presets offered by the desktop dialog and `--preset`.
 */
export type Preset = "device" | "timing-app" | "classification" | "admin";

export type AuditEntry = { seq: number, at: string, actor: string, action: string, account: string | null, target_id: string | null, target_name: string | null, details: Record<string, unknown> | null, };

/**
 * One field of an audit entry: what changed, from what (when recorded), to what.
 */
export type AuditLine = { 
/**
 * The field in words: "status", "expires", "groups", "allow unbind".
 */
field: string, 
/**
 * The value before the change, when the entry records one.
 */
from: AuditValue | null, 
/**
 * The value after the change; for a field with no "before", its value.
 */
to: AuditValue, };

/**
 * A value of an [`AuditLine`]: text, or a time each front end writes its own way.
 */
export type AuditValue = { "kind": "text", text: string, } | { "kind": "day", day: string, } | { "kind": "time", at: string, };

/**
 * The outcome of `audit verify`.
 */
export type AuditReport = { ok: boolean, entries: number, 
/**
 * The first entry that does not fit the chain, when one does not.
 */
broken_at: number | null, problem: string | null, };

export type VaultSummary = { accounts: number, keys: number, };

export type Settings = { 
/**
 * Seconds until a copied secret is cleared from the clipboard (if it is still there).
 */
clipboard_clear_seconds: number, 
/**
 * Minutes of inactivity before the app locks the vault.
 */
auto_lock_minutes: number, 
/**
 * Days ahead in which an expiring key is counted by the review badge and
 * the daily warning. (Settings stored before it existed read as the default.)
 */
expiry_warning_days: number, };

/**
 * What deleting a group did to the keys that had it.
 */
export type GroupDeletion = { group: string, keys_affected: number, 
/**
 * Keys left with no group would fall back to their access type alone —
 * more than they were given — so they are deactivated instead.
 */
keys_deactivated: Array<string>, };

/**
 * How a command error reaches the window: `{ kind, message }` (the TypeScript `CommandError`).
 */
export type CommandError = { kind: CommandErrorKind, 
/**
 * Safe to show the administrator; never holds a secret.
 */
message: string, };

/**
 * What the UI branches on: one of the core's kinds or one of the shell's.
 */
export type CommandErrorKind = ErrorKind | ShellErrorKind;

/**
 * What kind of failure an [`Error`] is, so callers (the CLI's exit codes, the
 * desktop UI) branch on a kind rather than on message text.
 */
export type ErrorKind = "invalid_input" | "not_found" | "conflict" | "limit_reached" | "refused" | "wrong_passphrase" | "vault_missing" | "vault_exists" | "vault_damaged" | "storage" | "keychain";

/**
 * The kinds only the shell produces; on the wire they sit beside the core's `ErrorKind`.
 */
export type ShellErrorKind = "vault_locked" | "clipboard" | "internal" | "remote_unreachable" | "unauthorized" | "remote_refused";

/**
 * What the lock screen needs to know; answered by `vault_status`.
 */
export type VaultStatus = { exists: boolean, unlocked: boolean, path: string, 
/**
 * Whether an OS keychain answered, so "remember on this computer" can work.
 */
keychain_available: boolean, };

/**
 * Answer to `create_vault` and `unlock`: the vault is open; whether it was remembered.
 */
export type UnlockOutcome = { 
/**
 * True when `remember` was asked and the key is now in the OS keychain.
 */
remembered: boolean, 
/**
 * Why remembering failed (the vault is open all the same); null otherwise.
 */
keychain_problem: string | null, };

/**
 * Answer to `list_key_columns`: an account's keys as `list_keys` answers them, field by
 * field: one array per field of `ApiKey`, each in the same order (oldest key first), and
 * the account's name once. The same records in about half the JSON of one object per key,
 * and JSON is most of what opening 10,000 keys costs the window (BENCHMARKS.md, "Desktop
 * app"). `replaced_by` holds null where `list_keys` leaves the field out.
 */
export type KeyColumns = { account: string, id: Array<string>, name: Array<string>, description: Array<string | null>, access: Array<AccessType>, allow_unbind: Array<boolean>, groups: Array<Array<string>>, status: Array<KeyStatus>, hint: Array<string>, created_at: Array<string>, created_by: Array<string>, updated_at: Array<string>, last_used_at: Array<string | null>, expires_at: Array<string | null>, replaced_by: Array<string | null>, };

/**
 * Answer to `create_key`: the record, and the full key, shown once. The shell keeps the
 * key until `forget_created_key` or lock, for `copy_created_key`; nothing shows it again.
 */
export type CreatedKeyView = { key: ApiKey, secret: string, };

/**
 * A preset of the creation dialog, with what it fills in.
 */
export type KeyPresetView = { id: Preset, label: string, access: AccessType, allow_unbind: boolean, };

/**
 * One key rolled: the key it replaced (rolling out now) and its successor, whose full
 * key this answer carries once, like `create_key`'s.
 */
export type RolledKeyView = { replaced: ApiKey, created: CreatedKeyView, };

/**
 * Answer to `roll_keys`.
 */
export type RollView = { rolled: Array<RolledKeyView>, skipped: Array<SkippedKey>, 
/**
 * The files the successors were written to, when a folder was given.
 */
files: Array<KeyFile>, };

/**
 * Answer to `add_many_keys`: every new key once, and their files when a folder was given.
 */
export type ManyCreatedView = { created: Array<CreatedKeyView>, files: Array<KeyFile>, };

/**
 * What to do to every key of a selection (as the desktop sends it:
 * `{"kind": "groups", "add": [...], "remove": [...]}`).
 */
export type KeysChange = { "kind": "activate" } | { "kind": "deactivate" } | { "kind": "groups", add: Array<string>, remove: Array<string>, } | { "kind": "delete" };

/**
 * How `add_many_keys` reads its text.
 */
export type ManyKeysFormat = "names" | "csv";

/**
 * Answer to `daily_review`: the accounts whose keys need a look (none after the first
 * call of the day), and whether the desktop notification went out.
 */
export type DailyReview = { due: Array<ReviewCounts>, notified: boolean, };

/**
 * How many of an account's keys need a look.
 */
export type ReviewCounts = { account: string, 
/**
 * Keys that expire within `expiring_days` (the warning period, a setting).
 */
expiring: number, expiring_days: number, 
/**
 * Keys unused for `unused_days` or more (never used: since their creation).
 */
unused: number, unused_days: number, };

/**
 * A key of a group or filter selection that was not rolled, and why.
 */
export type SkippedKey = { id: string, name: string, reason: string, };

/**
 * A file written for one new key.
 */
export type KeyFile = { key_id: string, name: string, path: string, };

/**
 * Answer to a copy: how long until the clipboard is cleared, for the UI's countdown.
 */
export type CopyReceipt = { clears_in_seconds: number, };

/**
 * An audit entry as the audit page shows it: the entry as stored, and its details as lines
 * of text (one a field, times left to the window to write in the administrator's locale).
 */
export type AuditView = { lines: Array<AuditLine>, seq: number, at: string, actor: string, action: string, account: string | null, target_id: string | null, target_name: string | null, details: Record<string, unknown> | null, };

export type Entity = "group" | "key";

/**
 * One field changed on two desktops, and the value the merge kept.
 */
export type Conflict = { entity: Entity, id: string, 
/**
 * The record's name after the merge, for people.
 */
name: string, 
/**
 * `name`, `description`, `status`, `expires_at`, `access` (access type,
 * unbind and groups judged together), `scopes`, or `deleted`.
 */
field: string, 
/**
 * The value this desktop's change asked for, as text.
 */
yours: string, 
/**
 * The value the record has now, as text.
 */
kept: string, 
/**
 * The rule that decided, e.g. "inactive beats active".
 */
rule: string, };

/**
 * A change the remote refused, kept aside with its reason.
 */
export type RefusedChange = { idempotency_id: string, 
/**
 * `group` or `key`.
 */
entity: string, record_id: string, 
/**
 * The record's name in this vault (or as it was, for a deleted one).
 */
name: string, 
/**
 * The fields the change set, as the wire names them (`deleted` for a delete).
 */
fields: Array<string>, 
/**
 * What the remote said.
 */
reason: string, refused_at: string, };

/**
 * What one sync did, as `keyward sync --json` prints it.
 */
export type SyncReport = { 
/**
 * Changes of this vault the remote now holds.
 */
pushed: number, 
/**
 * Records that changed here because of the remote.
 */
pulled: number, 
/**
 * Fields changed on both sides, and how each merged.
 */
conflicts: Array<Conflict>, 
/**
 * Changes the remote refused in this sync, set aside with their reasons
 * (the rest went through; what of them narrowed was sent on its own).
 */
refused: Array<RefusedChange>, 
/**
 * The audit log is shorter than, or differs from, what the remote
 * recorded for this desktop: what is wrong.
 */
audit_problem?: string | null, };

/**
 * An account's remote as the UI and `keyward remote show` describe it: never the token.
 */
export type RemoteInfo = { url: string, 
/**
 * The last four characters of the sync token.
 */
token_hint: string, 
/**
 * Plain HTTP to a non-loopback host was allowed explicitly.
 */
insecure: boolean, };

/**
 * An account's sync state as the window shows it; payload of `sync-status` too.
 */
export type SyncStatus = { account: string, remote: RemoteInfo | null, 
/**
 * Changes made here that the remote does not hold yet.
 */
pending_changes: number, last_sync_at: string | null, last_report: SyncReport | null, last_error: string | null, 
/**
 * Changes the remote refused, kept aside with its reasons (the rest went through).
 */
refused: Array<RefusedChange>, syncing: boolean, };

/**
 * Payload of `vault-locked`.
 */
export type VaultLocked = { reason: LockReason, };

export type LockReason = "idle" | "user" | "screen" | "suspend";

/**
 * Payload of `clipboard-cleared`: the countdown of the last copy is over. A new copy
 * replaces the previous one's countdown without this event.
 */
export type ClipboardCleared = { reason: ClipboardClearReason, };

export type ClipboardClearReason = "expired" | "locked" | "overwritten";

/** Every command: what it takes (as the window sends it) and what it answers. */
export type Commands = {
  vault_status: { args: Record<string, never>; answer: VaultStatus };
  create_vault: { args: { passphrase: string; remember: boolean }; answer: UnlockOutcome };
  unlock: { args: { passphrase: string; remember: boolean }; answer: UnlockOutcome };
  unlock_from_keychain: { args: Record<string, never>; answer: boolean };
  forget_keychain: { args: Record<string, never>; answer: boolean };
  lock: { args: Record<string, never>; answer: null };
  vault_summary: { args: Record<string, never>; answer: VaultSummary };
  touch: { args: Record<string, never>; answer: null };
  list_accounts: { args: Record<string, never>; answer: Array<Account> };
  create_account: { args: { name: string; prefix?: string | null; keyLimit?: number | null }; answer: Account };
  update_account: { args: { name: string; rename?: string | null; prefix?: string | null; keyLimit?: number | null }; answer: Account };
  reveal_shared_secret: { args: { account: string; passphrase: string }; answer: string };
  copy_shared_secret: { args: { account: string; passphrase: string }; answer: CopyReceipt };
  rotate_shared_secret: { args: { account: string }; answer: null };
  list_groups: { args: { account: string }; answer: Array<Group> };
  create_group: { args: { account: string; name: string; description?: string | null; scopes: Array<string> }; answer: Group };
  update_group: { args: { account: string; name: string; rename?: string | null; description?: string | null; scopes?: Array<string> | null }; answer: Group };
  delete_group: { args: { account: string; name: string; force: boolean }; answer: GroupDeletion };
  key_presets: { args: Record<string, never>; answer: Array<KeyPresetView> };
  list_keys: { args: { account: string }; answer: Array<ApiKey> };
  list_key_columns: { args: { account: string }; answer: KeyColumns };
  create_key: { args: { account: string; name: string; description?: string | null; access: AccessType; allowUnbind: boolean; groups: Array<string>; expiresAt?: string | null }; answer: CreatedKeyView };
  copy_created_key: { args: { keyId: string }; answer: CopyReceipt };
  forget_created_key: { args: { keyId: string }; answer: null };
  rename_key: { args: { account: string; key: string; newName: string }; answer: ApiKey };
  set_key_status: { args: { account: string; key: string; status: KeyStatus }; answer: ApiKey };
  set_key_groups: { args: { account: string; key: string; groups: Array<string> }; answer: ApiKey };
  delete_key: { args: { account: string; key: string }; answer: ApiKey };
  roll_keys: { args: { account: string; keys: Array<string>; grace: string; exportDir?: string | null }; answer: RollView };
  change_keys: { args: { account: string; keys: Array<string>; change: KeysChange }; answer: Array<ApiKey> };
  add_many_keys: { args: { account: string; text: string; format: ManyKeysFormat; access: AccessType; allowUnbind: boolean; groups: Array<string>; expiresAt?: string | null; exportDir?: string | null }; answer: ManyCreatedView };
  review_counts: { args: { account: string }; answer: ReviewCounts };
  daily_review: { args: { today: string }; answer: DailyReview };
  created_key_qr: { args: { keyId: string }; answer: string };
  list_audit: { args: { action?: string | null; key?: string | null; actor?: string | null; since?: string | null; until?: string | null; limit?: number | null }; answer: Array<AuditView> };
  verify_audit: { args: Record<string, never>; answer: AuditReport };
  get_settings: { args: Record<string, never>; answer: Settings };
  update_settings: { args: { settings: Settings }; answer: Settings };
  sync_status: { args: { account: string }; answer: SyncStatus };
  set_remote: { args: { account: string; url: string; token: string; insecure: boolean }; answer: SyncStatus };
  sync_now: { args: { account: string }; answer: SyncReport };
  remove_remote: { args: { account: string; force: boolean }; answer: SyncStatus };
};

/** The names of the commands, in the order of src-tauri/commands.rs. */
export const COMMANDS = [
  "vault_status",
  "create_vault",
  "unlock",
  "unlock_from_keychain",
  "forget_keychain",
  "lock",
  "vault_summary",
  "touch",
  "list_accounts",
  "create_account",
  "update_account",
  "reveal_shared_secret",
  "copy_shared_secret",
  "rotate_shared_secret",
  "list_groups",
  "create_group",
  "update_group",
  "delete_group",
  "key_presets",
  "list_keys",
  "list_key_columns",
  "create_key",
  "copy_created_key",
  "forget_created_key",
  "rename_key",
  "set_key_status",
  "set_key_groups",
  "delete_key",
  "roll_keys",
  "change_keys",
  "add_many_keys",
  "review_counts",
  "daily_review",
  "created_key_qr",
  "list_audit",
  "verify_audit",
  "get_settings",
  "update_settings",
  "sync_status",
  "set_remote",
  "sync_now",
  "remove_remote",
] as const;

/** The arguments each command takes, as the window names them: the fake backend refuses any other. */
export const COMMAND_ARGUMENTS = {
  vault_status: [],
  create_vault: ["passphrase", "remember"],
  unlock: ["passphrase", "remember"],
  unlock_from_keychain: [],
  forget_keychain: [],
  lock: [],
  vault_summary: [],
  touch: [],
  list_accounts: [],
  create_account: ["name", "prefix", "keyLimit"],
  update_account: ["name", "rename", "prefix", "keyLimit"],
  reveal_shared_secret: ["account", "passphrase"],
  copy_shared_secret: ["account", "passphrase"],
  rotate_shared_secret: ["account"],
  list_groups: ["account"],
  create_group: ["account", "name", "description", "scopes"],
  update_group: ["account", "name", "rename", "description", "scopes"],
  delete_group: ["account", "name", "force"],
  key_presets: [],
  list_keys: ["account"],
  list_key_columns: ["account"],
  create_key: ["account", "name", "description", "access", "allowUnbind", "groups", "expiresAt"],
  copy_created_key: ["keyId"],
  forget_created_key: ["keyId"],
  rename_key: ["account", "key", "newName"],
  set_key_status: ["account", "key", "status"],
  set_key_groups: ["account", "key", "groups"],
  delete_key: ["account", "key"],
  roll_keys: ["account", "keys", "grace", "exportDir"],
  change_keys: ["account", "keys", "change"],
  add_many_keys: ["account", "text", "format", "access", "allowUnbind", "groups", "expiresAt", "exportDir"],
  review_counts: ["account"],
  daily_review: ["today"],
  created_key_qr: ["keyId"],
  list_audit: ["action", "key", "actor", "since", "until", "limit"],
  verify_audit: [],
  get_settings: [],
  update_settings: ["settings"],
  sync_status: ["account"],
  set_remote: ["account", "url", "token", "insecure"],
  sync_now: ["account"],
  remove_remote: ["account", "force"],
} as const satisfies { [C in keyof Commands]: readonly (keyof Commands[C]["args"])[] };

/** The events the backend emits, by name, with their payloads. */
export type BackendEvents = { "vault-locked": VaultLocked, "clipboard-cleared": ClipboardCleared, "sync-status": SyncStatus, "vault-changed": null, };

export const VAULT_LOCKED = "vault-locked";
export const CLIPBOARD_CLEARED = "clipboard-cleared";
export const SYNC_STATUS = "sync-status";
export const VAULT_CHANGED = "vault-changed";
