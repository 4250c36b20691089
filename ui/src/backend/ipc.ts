// The one module that talks to the Rust backend. Every Tauri call goes through here,
// so the rest of the UI is plain TypeScript and tests drive it with the IPC mocked.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import {
  CLIPBOARD_CLEARED,
  SYNC_STATUS,
  VAULT_CHANGED,
  VAULT_LOCKED,
  type AccessType,
  type Account,
  type ApiKey,
  type AuditEntry,
  type AuditLine,
  type AuditValue,
  type AuditView,
  type AuditReport,
  type ClipboardCleared,
  type Commands,
  type CommandErrorKind,
  type Conflict,
  type CopyReceipt,
  type CreatedKeyView,
  type DailyReview,
  type Group,
  type GroupDeletion,
  type KeyColumns,
  type KeyFile,
  type KeyPresetView,
  type KeysChange,
  type KeyStatus,
  type LockReason,
  type ManyCreatedView,
  type ManyKeysFormat,
  type RefusedChange,
  type RemoteInfo,
  type ReviewCounts,
  type RolledKeyView,
  type RollView,
  type Settings,
  type SkippedKey,
  type SyncReport,
  type SyncStatus,
  type UnlockOutcome,
  type VaultLocked,
  type VaultStatus,
  type VaultSummary,
} from '../bindings';

// The records, answers and events are generated from the Rust types (ui/src/bindings).
export type {
  AccessType,
  Account,
  ApiKey,
  AuditEntry,
  AuditLine,
  AuditReport,
  AuditValue,
  AuditView,
  ClipboardCleared,
  Commands,
  Conflict,
  CopyReceipt,
  CreatedKeyView,
  DailyReview,
  Group,
  GroupDeletion,
  KeyFile,
  KeyColumns,
  KeyPresetView,
  KeysChange,
  KeyStatus,
  LockReason,
  ManyCreatedView,
  ManyKeysFormat,
  RefusedChange,
  RemoteInfo,
  ReviewCounts,
  RolledKeyView,
  RollView,
  Settings,
  SkippedKey,
  SyncReport,
  SyncStatus,
  UnlockOutcome,
  VaultLocked,
  VaultStatus,
  VaultSummary,
};

/**
 * Error kinds the UI branches on: the backend's (generated), plus `unexpected` for a
 * rejection that was not a `{ kind, message }`. A kind the UI does not know is still shown.
 */
export type ErrorKind = CommandErrorKind | 'unexpected' | (string & {});

/** An error from the backend, as `{ kind, message }`; `message` is safe to show. */
export class BackendError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'BackendError';
    this.kind = kind;
  }
}

/** Turns whatever a rejected `invoke` carried into a `BackendError`. */
export function toBackendError(raw: unknown): BackendError {
  if (raw instanceof BackendError) return raw;
  if (typeof raw === 'object' && raw !== null) {
    const { kind, message } = raw as Record<string, unknown>;
    if (typeof kind === 'string' && typeof message === 'string') {
      return new BackendError(kind, message);
    }
  }
  const message = raw instanceof Error ? raw.message : String(raw);
  return new BackendError('unexpected', message);
}

// Whoever shows the unlocked vault learns here when a command found it locked
// (after an idle lock the window may still be showing the vault).
const lockedListeners = new Set<() => void>();

/** Calls `listener` whenever a command fails because the vault is locked. */
export function onVaultLockedError(listener: () => void): () => void {
  lockedListeners.add(listener);
  return () => lockedListeners.delete(listener);
}

/** A command's name (src-tauri/commands.rs, generated into the bindings). */
export type CommandName = keyof Commands;
/** What a command takes, as the window sends it (generated). */
export type ArgsOf<C extends CommandName> = Commands[C]['args'];
/** What a command answers (generated). */
export type AnswerOf<C extends CommandName> = Commands[C]['answer'];

// Typed by the generated map: a wrong name, argument or answer type fails `npm run check`.
async function call<C extends CommandName>(
  command: C,
  ...[args]: ArgsOf<C> extends Record<string, never> ? [] : [ArgsOf<C>]
): Promise<AnswerOf<C>> {
  try {
    return await invoke<AnswerOf<C>>(command, args);
  } catch (raw) {
    const error = toBackendError(raw);
    if (error.kind === 'vault_locked') {
      for (const listener of [...lockedListeners]) listener();
    }
    throw error;
  }
}

// ---- Vault -------------------------------------------------------------------------

export function vaultStatus(): Promise<VaultStatus> {
  return call('vault_status');
}

/** Creates the vault and opens it; `remember` asks the OS keychain to keep its key. */
export function createVault(passphrase: string, remember: boolean): Promise<UnlockOutcome> {
  return call('create_vault', { passphrase, remember });
}

export function unlock(passphrase: string, remember: boolean): Promise<UnlockOutcome> {
  return call('unlock', { passphrase, remember });
}

/** Opens the vault with a key remembered in the OS keychain; false when there is none. */
export function unlockFromKeychain(): Promise<boolean> {
  return call('unlock_from_keychain');
}

/** Forgets the vault key remembered in the OS keychain; false when none was remembered. */
export function forgetKeychain(): Promise<boolean> {
  return call('forget_keychain');
}

export async function lock(): Promise<void> {
  await call('lock');
}

export function vaultSummary(): Promise<VaultSummary> {
  return call('vault_summary');
}

/** Tells the backend the admin is active, so the idle auto-lock starts over. */
export async function touch(): Promise<void> {
  await call('touch');
}

// ---- Accounts ----------------------------------------------------------------------

export function listAccounts(): Promise<Account[]> {
  return call('list_accounts');
}

export function createAccount(name: string, prefix?: string, keyLimit?: number): Promise<Account> {
  return call('create_account', { name, prefix, keyLimit });
}

export type AccountChanges = Omit<ArgsOf<'update_account'>, 'name'>;

export function updateAccount(name: string, changes: AccountChanges): Promise<Account> {
  return call('update_account', { name, ...changes });
}

export function revealSharedSecret(account: string, passphrase: string): Promise<string> {
  return call('reveal_shared_secret', { account, passphrase });
}

export function copySharedSecret(account: string, passphrase: string): Promise<CopyReceipt> {
  return call('copy_shared_secret', { account, passphrase });
}

export async function rotateSharedSecret(account: string): Promise<void> {
  await call('rotate_shared_secret', { account });
}

// ---- Groups ------------------------------------------------------------------------

export function listGroups(account: string): Promise<Group[]> {
  return call('list_groups', { account });
}

export type NewGroup = Omit<ArgsOf<'create_group'>, 'account'>;

export function createGroup(account: string, group: NewGroup): Promise<Group> {
  return call('create_group', { account, ...group });
}

export type GroupChanges = Omit<ArgsOf<'update_group'>, 'account' | 'name'>;

export function updateGroup(account: string, name: string, changes: GroupChanges): Promise<Group> {
  return call('update_group', { account, name, ...changes });
}

export function deleteGroup(account: string, name: string, force: boolean): Promise<GroupDeletion> {
  return call('delete_group', { account, name, force });
}

// ---- Keys --------------------------------------------------------------------------

/**
 * Every key of the account; the UI filters and sorts in memory. Read in columns (about half
 * the JSON of one object per key: most of what opening 10,000 keys costs) and put back
 * together here as the records `list_keys` answers.
 */
export async function listKeys(account: string): Promise<ApiKey[]> {
  return keysFromColumns(await call('list_key_columns', { account }));
}

/** `list_key_columns`' answer as one record per key, `replaced_by` only where it is set. */
export function keysFromColumns(columns: KeyColumns): ApiKey[] {
  const { account } = columns;
  const keys = new Array<ApiKey>(columns.id.length);
  for (let row = 0; row < keys.length; row++) {
    const key: ApiKey = {
      id: columns.id[row],
      account,
      name: columns.name[row],
      description: columns.description[row],
      access: columns.access[row],
      allow_unbind: columns.allow_unbind[row],
      groups: columns.groups[row],
      status: columns.status[row],
      hint: columns.hint[row],
      created_at: columns.created_at[row],
      created_by: columns.created_by[row],
      updated_at: columns.updated_at[row],
      last_used_at: columns.last_used_at[row],
      expires_at: columns.expires_at[row],
    };
    const replacedBy = columns.replaced_by[row];
    if (replacedBy !== null) key.replaced_by = replacedBy;
    keys[row] = key;
  }
  return keys;
}

export function keyPresets(): Promise<KeyPresetView[]> {
  return call('key_presets');
}

/** `expiresAt`: RFC 3339 (or YYYY-MM-DD, through that day UTC); leave out for a key that never expires. */
export type NewKey = Omit<ArgsOf<'create_key'>, 'account'>;

/** Creates a key. The result is the only time the full key exists in the UI. */
export function createKey(account: string, key: NewKey): Promise<CreatedKeyView> {
  return call('create_key', { account, ...key });
}

/** Copies the just-created key to the clipboard, from Rust: it never enters the web view's clipboard. */
export function copyCreatedKey(keyId: string): Promise<CopyReceipt> {
  return call('copy_created_key', { keyId });
}

/** The one-time display closed: the backend drops its copy of the key. */
export async function forgetCreatedKey(keyId: string): Promise<void> {
  await call('forget_created_key', { keyId });
}

export function renameKey(account: string, key: string, newName: string): Promise<ApiKey> {
  return call('rename_key', { account, key, newName });
}

export function setKeyStatus(account: string, key: string, status: KeyStatus): Promise<ApiKey> {
  return call('set_key_status', { account, key, status });
}

export function setKeyGroups(account: string, key: string, groups: string[]): Promise<ApiKey> {
  return call('set_key_groups', { account, key, groups });
}

/** Deletes a key; the answer is the record as it was. */
export function deleteKey(account: string, key: string): Promise<ApiKey> {
  return call('delete_key', { account, key });
}

// ---- Fleet: many keys at once --------------------------------------------------------

/**
 * Rolls the keys (by id): each gets a successor with its name and settings (the answer is
 * the only time their full keys exist in the UI), the old ones keep working for `grace`
 * ("24h", "0", …). With `exportDir`, each successor is also written to a file there.
 */
export function rollKeys(account: string, keys: string[], grace: string, exportDir?: string): Promise<RollView> {
  return call('roll_keys', { account, keys, grace, exportDir });
}

/** One action on the selected keys (by id), in one transaction: all of them or none. */
export function changeKeys(account: string, keys: string[], change: KeysChange): Promise<ApiKey[]> {
  return call('change_keys', { account, keys, change });
}

/**
 * `text`: one name a line, or CSV rows of name,description,groups (groups separated by ;);
 * `groups`: groups every key gets (besides a CSV row's own); `exportDir`: a new folder to
 * write one file per key into.
 */
export type ManyKeys = Omit<ArgsOf<'add_many_keys'>, 'account'>;

/** Adds one key per line, all or none; the answer is the only time their full keys exist in the UI. */
export function addManyKeys(account: string, keys: ManyKeys): Promise<ManyCreatedView> {
  return call('add_many_keys', { account, ...keys });
}

export function reviewCounts(account: string): Promise<ReviewCounts> {
  return call('review_counts', { account });
}

/** The once-a-day warning: the first call of `today` (YYYY-MM-DD) answers what needs a look. */
export function dailyReview(today: string): Promise<DailyReview> {
  return call('daily_review', { today });
}

/** The QR code (SVG text) of a key just created, while the backend still holds it. */
export function createdKeyQr(keyId: string): Promise<string> {
  return call('created_key_qr', { keyId });
}

// ---- Audit log ---------------------------------------------------------------------

/**
 * `action`: a prefix (`key.` for every key change); `key`: a key's (or other target's) name or
 * id; `actor`: who made the change, ignoring case; `since` (inclusive) and `until` (exclusive):
 * RFC 3339.
 */
export type AuditQuery = ArgsOf<'list_audit'>;

/** Entries newest first, each with its details as lines of text. */
export function listAudit(query: AuditQuery = {}): Promise<AuditView[]> {
  return call('list_audit', { ...query });
}

export function verifyAudit(): Promise<AuditReport> {
  return call('verify_audit');
}

// ---- Settings ----------------------------------------------------------------------

export function getSettings(): Promise<Settings> {
  return call('get_settings');
}

export function updateSettings(settings: Settings): Promise<Settings> {
  return call('update_settings', { settings });
}

// ---- Sync --------------------------------------------------------------------------

export function syncStatus(account: string): Promise<SyncStatus> {
  return call('sync_status', { account });
}

/**
 * Points the account at a remote API with its sync token (kept encrypted in the vault).
 * `insecure` allows a plain http:// URL that is not on this computer.
 */
export function setRemote(account: string, url: string, token: string, insecure: boolean): Promise<SyncStatus> {
  return call('set_remote', { account, url, token, insecure });
}

/**
 * Stops syncing the account: the remote is forgotten, the keys stay in this vault. While changes
 * wait for the remote the backend refuses (kind `refused`) unless `force`, which drops them.
 */
export function removeRemote(account: string, force: boolean): Promise<SyncStatus> {
  return call('remove_remote', { account, force });
}

/** Pushes the account's pending changes, then pulls the remote's; may take seconds. */
export function syncNow(account: string): Promise<SyncReport> {
  return call('sync_now', { account });
}

// ---- Events ------------------------------------------------------------------------

// Stopping a listener while the window goes away may fail; there is nothing left to stop then.
function quietly(unlisten: UnlistenFn): () => void {
  return () => {
    Promise.resolve()
      .then(unlisten)
      .catch(() => undefined);
  };
}

/** The backend locked the vault (idle or on request); the key is gone from memory. */
export async function onVaultLocked(handler: (event: VaultLocked) => void): Promise<() => void> {
  return quietly(await listen<VaultLocked>(VAULT_LOCKED, (event) => handler(event.payload)));
}

/** The countdown of the last copy is over: cleared, or left alone because it held something else. */
export async function onClipboardCleared(handler: (event: ClipboardCleared) => void): Promise<() => void> {
  return quietly(await listen<ClipboardCleared>(CLIPBOARD_CLEARED, (event) => handler(event.payload)));
}

/**
 * An account's sync status changed: a sync started or ended, or its remote was set or removed.
 * The payload's `account` is the name that command was given (compare it ignoring case).
 */
export async function onSyncStatus(handler: (status: SyncStatus) => void): Promise<() => void> {
  return quietly(await listen<SyncStatus>(SYNC_STATUS, (event) => handler(event.payload)));
}

/**
 * Another process (the CLI, another window, a sync run elsewhere) committed a change to the
 * open vault: whatever the window shows may be stale.
 */
export async function onVaultChanged(handler: () => void): Promise<() => void> {
  return quietly(await listen<null>(VAULT_CHANGED, () => handler()));
}
