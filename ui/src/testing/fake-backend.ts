// An in-memory stand-in for the Rust commands, installed with Tauri's mockIPC, so UI tests
// exercise the real ipc module and components against the same command names, arguments
// and `{ kind, message }` errors. It follows the core's rules closely enough for the UI to
// be tested against them: the shared scenarios (scenarios.json) hold it to the real commands,
// which a Rust test runs them through. It refuses an argument a command does not take.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type {
  AccessType,
  Account,
  AnswerOf,
  CommandName,
  ApiKey,
  AuditLine,
  AuditView,
  Group,
  KeyColumns,
  KeyPresetView,
  RefusedChange,
  Settings,
  SyncReport,
  SyncStatus,
  UnlockOutcome,
  VaultSummary,
} from '../backend/ipc';
import { COMMAND_ARGUMENTS } from '../bindings';
import { makeKey } from './keys';

export interface FakeBackendOptions {
  /** The passphrase of an existing vault; leave out for "no vault yet". */
  passphrase?: string;
  /** What `unlock_from_keychain` does: unlock, find nothing, or fail. */
  keychain?: 'remembered' | 'empty' | 'unavailable';
  /** Starts unlocked (as after a keychain unlock), without going through the lock screen. */
  unlocked?: boolean;
  /** Why the keychain refuses to remember the key, when it does. */
  rememberProblem?: string;
}

interface StoredAccount extends Omit<Account, 'key_count'> {
  secret: string;
}

type Args = Record<string, unknown>;

/** One account's side of sync, as the vault would hold it. */
export interface FakeSync {
  remote: { url: string; token: string; insecure: boolean } | null;
  pending: number;
  lastSyncAt: string | null;
  lastReport: SyncReport | null;
  lastError: string | null;
  /** Changes the remote refused, as `sync_status` lists them. */
  refused: RefusedChange[];
  syncing: boolean;
  /** The records with a change waiting, as the vault's outbox holds one entry a record. */
  queued: Set<string>;
}

/**
 * Calls that named an argument their command does not take (the real IPC ignores one
 * silently): test-setup fails the test that made one.
 */
export const staleArgumentCalls: string[] = [];

/** Refuses an argument the command does not take, as src-tauri/commands.rs lists them. */
export function checkArguments(command: string, args: Args): void {
  if (!(command in COMMAND_ARGUMENTS)) return;
  const known: readonly string[] = COMMAND_ARGUMENTS[command as CommandName];
  const stale = Object.keys(args).filter((name) => !known.includes(name));
  if (stale.length > 0) {
    const problem = `${command} takes no argument ${stale.join(', ')} (it takes ${known.join(', ') || 'none'})`;
    staleArgumentCalls.push(problem);
    throw new Error(problem);
  }
}

type FakeError = { kind: string; message: string };

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

const T0 = Date.parse('2025-01-01T09:00:00Z');
export const PRESETS: KeyPresetView[] = [
  { id: 'device', label: 'Device', access: 'WRITE', allow_unbind: false },
  { id: 'timing-app', label: 'Timing app', access: 'READ_WRITE', allow_unbind: false },
  { id: 'classification', label: 'Classification app', access: 'READ', allow_unbind: false },
  { id: 'admin', label: 'Admin', access: 'READ_WRITE', allow_unbind: true },
];

/** `list_key_columns`' answer: the keys field by field (src-tauri/src/views.rs, `KeyColumns`). */
export function keyColumns(account: string, keys: readonly ApiKey[]): KeyColumns {
  const column = <T>(field: (key: ApiKey) => T): T[] => keys.map(field);
  return {
    account,
    id: column((key) => key.id),
    name: column((key) => key.name),
    description: column((key) => key.description),
    access: column((key) => key.access),
    allow_unbind: column((key) => key.allow_unbind),
    groups: column((key) => key.groups),
    status: column((key) => key.status),
    hint: column((key) => key.hint),
    created_at: column((key) => key.created_at),
    created_by: column((key) => key.created_by),
    updated_at: column((key) => key.updated_at),
    last_used_at: column((key) => key.last_used_at),
    expires_at: column((key) => key.expires_at),
    replaced_by: column((key) => key.replaced_by ?? null),
  };
}

function fail(kind: string, message: string): never {
  throw { kind, message };
}

function fold(name: string): string {
  return name.trim().toLowerCase();
}

export class FakeBackend {
  passphrase: string | undefined;
  unlocked: boolean;
  keychain: NonNullable<FakeBackendOptions['keychain']>;
  /** Every command called, in order, with its arguments. */
  readonly calls: { command: string; args: Args }[] = [];
  readonly path = '/home/admin/.local/share/keyward/vault.db';
  accounts: StoredAccount[] = [];
  groups: Group[] = [];
  keys: ApiKey[] = [];
  audit: AuditView[] = [];
  settings: Settings = { clipboard_clear_seconds: 30, auto_lock_minutes: 5, expiry_warning_days: 14 };
  /** The last day `daily_review` answered (it answers once a day). */
  reviewedOn: string | null = null;
  /** What the desktop notification would have said, each time it went out. */
  readonly notifications: string[] = [];
  /** Full keys still held for the one-time display, by key id. */
  readonly createdSecrets = new Map<string, string>();
  /** What the fake clipboard holds. */
  clipboard: string | null = null;
  /** Commands that fail with this error instead of running. */
  readonly failures = new Map<string, { kind: string; message: string }>();
  /** Set to `false` to check what the UI does while the backend stays silent. */
  auditOk = true;
  rememberProblem: string | null;
  /** Sync state by account name. */
  readonly sync = new Map<string, FakeSync>();
  /** What the next `sync_now` brings back: a report, or an error for the remote's failure. */
  nextSync: SyncReport | FakeError = { pushed: 0, pulled: 0, conflicts: [], refused: [] };
  /** While set, `sync_now` waits for it: to see what the UI shows during a sync. */
  syncGate: Promise<void> | null = null;
  private serial = 0;
  /** Keys deleted, by id: a later request by that id is refused naming the key, as the core does. */
  private readonly deletedKeys = new Map<string, ApiKey>();

  constructor(options: FakeBackendOptions = {}) {
    this.passphrase = options.passphrase;
    this.keychain = options.keychain ?? 'empty';
    this.unlocked = options.unlocked ?? false;
    this.rememberProblem = options.rememberProblem ?? null;
  }

  install(): this {
    mockIPC(
      (command, args) => {
        const given = (args ?? {}) as Args;
        this.calls.push({ command, args: given });
        checkArguments(command, given);
        return this.handle(command as CommandName, given);
      },
      { shouldMockEvents: true },
    );
    return this;
  }

  /** Names of the commands called, in order. */
  commands(): string[] {
    return this.calls.map((call) => call.command);
  }

  argsOf(command: string): Args[] {
    return this.calls.filter((call) => call.command === command).map((call) => call.args);
  }

  // ---- Building a vault for a test ------------------------------------------------

  addAccount(name: string, options: { prefix?: string; keyLimit?: number } = {}): StoredAccount {
    const account: StoredAccount = {
      id: this.id('acc'),
      name,
      prefix: options.prefix ?? 'kw',
      key_limit: options.keyLimit ?? 10,
      resources: ['devices', 'sessions', 'passings'],
      created_at: new Date(T0).toISOString(),
      updated_at: new Date(T0).toISOString(),
      secret: `shared-secret-of-${name}`,
    };
    this.accounts.push(account);
    if (this.passphrase === undefined) this.passphrase = 'correct horse battery';
    return account;
  }

  addGroup(account: string, name: string, description = '', scopes: string[] = []): Group {
    const group: Group = {
      id: this.id('grp'),
      account,
      name,
      description,
      scopes,
      key_count: 0,
      created_at: new Date(T0).toISOString(),
      updated_at: new Date(T0).toISOString(),
    };
    this.groups.push(group);
    return group;
  }

  addKey(account: string, name: string, fields: Partial<ApiKey> = {}): ApiKey {
    const key = makeKey(this.keys.length, { id: this.id('key'), account, name, ...fields });
    this.keys.push(key);
    return key;
  }

  /** Gives an account a remote, as `set_remote` would have. */
  setRemote(account: string, url = 'https://keys.example.com', token = 'kws_fleet_token_1234'): FakeSync {
    const sync = this.syncOf(account);
    sync.remote = { url, token, insecure: false };
    return sync;
  }

  syncOf(account: string): FakeSync {
    let sync = this.sync.get(account);
    if (!sync) {
      sync = { remote: null, pending: 0, lastSyncAt: null, lastReport: null, lastError: null, refused: [], syncing: false, queued: new Set() };
      this.sync.set(account, sync);
    }
    return sync;
  }

  syncStatus(account: string): SyncStatus {
    const sync = this.syncOf(account);
    return {
      account,
      remote: sync.remote && {
        url: sync.remote.url,
        token_hint: `…${sync.remote.token.slice(-4)}`,
        insecure: sync.remote.insecure,
      },
      pending_changes: sync.pending,
      last_sync_at: sync.lastSyncAt,
      last_report: sync.lastReport,
      last_error: sync.lastError,
      refused: sync.refused,
      syncing: sync.syncing,
    };
  }

  /** Emits an event as the Rust side would. */
  async emit(event: string, payload?: unknown): Promise<void> {
    await emit(event, payload);
  }

  /**
   * Another process changes the vault (the CLI, another window): `change` edits the fake's
   * records directly, then the window is told with `vault-changed`, as the backend's watch does.
   */
  async changeOutside(change: (backend: this) => void): Promise<void> {
    change(this);
    await this.emit('vault-changed', null);
  }

  /** Another process deletes a key by name, without telling the window (yet). */
  deleteKeyQuietly(name: string): ApiKey {
    const key = this.keys.find((candidate) => candidate.name === name);
    if (!key) throw new Error(`the fake has no key ${name}`);
    this.keys = this.keys.filter((candidate) => candidate !== key);
    this.deletedKeys.set(key.id, key);
    return key;
  }

  // ---- Commands ---------------------------------------------------------------------

  // Typed by the generated command list: a command the fake does not handle fails the
  // type check (see `unhandled` below), as does an answer of the wrong shape for most.
  private handle(command: CommandName, args: Args): AnswerOf<CommandName> | Promise<AnswerOf<CommandName>> {
    const failure = this.failures.get(command);
    if (failure) fail(failure.kind, failure.message);
    switch (command) {
      case 'vault_status':
        return {
          exists: this.passphrase !== undefined,
          unlocked: this.unlocked,
          path: this.path,
          keychain_available: this.keychain !== 'unavailable',
        };
      case 'create_vault':
        this.createVault(String(args.passphrase));
        return this.outcome(args.remember === true);
      case 'unlock':
        this.unlock(String(args.passphrase));
        return this.outcome(args.remember === true);
      case 'unlock_from_keychain':
        if (this.keychain === 'unavailable') fail('keychain', 'no keychain is available on this system');
        this.unlocked = this.keychain === 'remembered';
        return this.unlocked;
      case 'lock':
        this.unlocked = false;
        this.createdSecrets.clear();
        return null;
      case 'forget_keychain': {
        this.open();
        const forgotten = this.keychain === 'remembered';
        if (this.keychain !== 'unavailable') this.keychain = 'empty';
        return forgotten;
      }
      case 'touch':
        this.open();
        return null;
    }
    this.open();
    switch (command) {
      case 'vault_summary':
        return { accounts: this.accounts.length, keys: this.keys.length } satisfies VaultSummary;
      case 'list_accounts':
        return this.accounts.map((account) => this.publicAccount(account));
      case 'create_account':
        return this.createAccount(args);
      case 'update_account':
        return this.updateAccount(args);
      case 'reveal_shared_secret':
        this.checkPassphrase(args.passphrase);
        return this.account(args.account).secret;
      case 'copy_shared_secret':
        this.checkPassphrase(args.passphrase);
        this.clipboard = this.account(args.account).secret;
        return { clears_in_seconds: this.settings.clipboard_clear_seconds };
      case 'rotate_shared_secret':
        this.account(args.account).secret = `rotated-${this.id('s')}`;
        this.record('secret.rotate', this.account(args.account).name);
        return null;
      case 'list_groups':
        return this.groupsOf(this.account(args.account).name);
      case 'create_group':
        return this.createGroup(args);
      case 'update_group':
        return this.updateGroup(args);
      case 'delete_group':
        return this.deleteGroup(args);
      case 'list_keys':
        return this.keysOf(args.account);
      case 'list_key_columns':
        return keyColumns(this.account(args.account).name, this.keysOf(args.account));
      case 'key_presets':
        return PRESETS;
      case 'create_key':
        return this.createKey(args);
      case 'copy_created_key': {
        const secret = this.createdSecrets.get(String(args.keyId));
        if (secret === undefined) fail('not_found', 'that key is no longer held: it is shown only once');
        this.clipboard = secret;
        return { clears_in_seconds: this.settings.clipboard_clear_seconds };
      }
      case 'forget_created_key':
        this.createdSecrets.delete(String(args.keyId));
        return null;
      case 'rename_key': {
        const key = this.key(args.account, args.key);
        this.checkKeyName(key.account, String(args.newName), key.id);
        const before = key.name;
        key.name = this.checkKeyName(key.account, String(args.newName), key.id);
        this.touchKey(key);
        this.record('key.rename', key.account, key, [textLine('name', before, key.name)]);
        return { ...key };
      }
      case 'set_key_status': {
        const key = this.key(args.account, args.key);
        const before = key.status;
        const status = args.status === 'active' ? 'active' : 'inactive';
        // The same status again is no change: nothing audited, nothing queued.
        if (status === before) return { ...key };
        key.status = status;
        this.touchKey(key);
        this.record(status === 'active' ? 'key.activate' : 'key.deactivate', key.account, key, [
          textLine('status', before, status),
        ]);
        return { ...key };
      }
      case 'set_key_groups': {
        const key = this.key(args.account, args.key);
        key.groups = this.existingGroups(key.account, args.groups as string[]);
        this.touchKey(key);
        this.record('key.set_groups', key.account, key);
        return { ...key };
      }
      case 'delete_key': {
        const key = this.key(args.account, args.key);
        this.keys = this.keys.filter((candidate) => candidate !== key);
        this.deletedKeys.set(key.id, key);
        this.record('key.delete', key.account, key);
        return { ...key };
      }
      case 'roll_keys':
        return this.rollKeys(args);
      case 'change_keys':
        return this.changeKeys(args);
      case 'add_many_keys':
        return this.addManyKeys(args);
      case 'review_counts':
        return this.reviewCounts(this.account(args.account).name);
      case 'daily_review':
        return this.dailyReview(String(args.today));
      case 'created_key_qr': {
        if (!this.createdSecrets.has(String(args.keyId))) {
          fail('not_found', "that key's QR code can no longer be shown: a key is shown only once");
        }
        return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21" data-key="${String(args.keyId)}"><path d="M0 0h7v7H0z"/></svg>`;
      }
      case 'list_audit':
        return this.listAudit(args);
      case 'verify_audit':
        return this.auditOk
          ? { ok: true, entries: this.audit.length, broken_at: null, problem: null }
          : { ok: false, entries: this.audit.length, broken_at: 2, problem: 'entry 2 was edited' };
      case 'get_settings':
        return { ...this.settings };
      case 'update_settings':
        return this.updateSettings(args.settings as Settings);
      case 'sync_status':
        return this.syncStatus(this.account(args.account).name);
      case 'set_remote':
        return this.setRemoteCommand(args);
      case 'sync_now':
        return this.syncNow(this.account(args.account).name);
      case 'remove_remote':
        return this.removeRemote(args);
      default: {
        const unhandled: never = command;
        throw new Error(`the fake backend has no command ${String(unhandled)}`);
      }
    }
  }

  private id(kind: string): string {
    this.serial += 1;
    return `${kind}-${String(this.serial).padStart(6, '0')}`;
  }

  private open() {
    if (!this.unlocked) fail('vault_locked', 'the vault is locked — unlock it first');
  }

  private touchKey(key: ApiKey) {
    key.updated_at = new Date(Date.parse(key.updated_at) + 1000).toISOString();
  }

  /**
   * Audits a change. A change of a group or key (`target` given as the record) also waits
   * for the account's remote, as the vault's outbox queues it: only with a remote, one entry
   * a record however often it changes; the account itself and its secret never travel.
   */
  private record(
    action: string,
    account: string | null,
    target: { id: string; name: string } | string | null = null,
    lines: AuditLine[] = [],
  ) {
    const record = typeof target === 'object' ? target : null;
    if (account !== null && record !== null) this.queue(account, record.id);
    const details: Record<string, unknown> = {};
    for (const line of lines) {
      details[line.field] = { from: auditText(line.from), to: auditText(line.to) };
    }
    this.audit.push({
      seq: this.audit.length + 1,
      at: new Date(T0 + this.audit.length * 1000).toISOString(),
      actor: 'admin',
      action,
      account,
      target_id: record?.id ?? null,
      target_name: record?.name ?? (typeof target === 'string' ? target : null),
      details,
      lines,
    });
  }

  private queue(account: string, recordId: string) {
    const sync = this.syncOf(account);
    if (sync.remote === null || sync.queued.has(recordId)) return;
    sync.queued.add(recordId);
    sync.pending += 1;
  }

  private outcome(remember: boolean): UnlockOutcome {
    if (!remember) return { remembered: false, keychain_problem: null };
    if (this.rememberProblem !== null) return { remembered: false, keychain_problem: this.rememberProblem };
    this.keychain = 'remembered';
    return { remembered: true, keychain_problem: null };
  }

  private createVault(passphrase: string): null {
    if (this.passphrase !== undefined) fail('vault_exists', `a vault already exists at ${this.path}`);
    if ([...passphrase].length < 8) {
      fail('invalid_input', 'the passphrase is too short: use at least 8 characters');
    }
    this.passphrase = passphrase;
    this.unlocked = true;
    return null;
  }

  private unlock(passphrase: string): null {
    if (this.passphrase === undefined) fail('vault_missing', `there is no vault at ${this.path}`);
    if (passphrase !== this.passphrase) fail('wrong_passphrase', 'wrong passphrase');
    this.unlocked = true;
    return null;
  }

  private checkPassphrase(given: unknown) {
    if (given !== this.passphrase) fail('wrong_passphrase', 'wrong passphrase');
  }

  private publicAccount(account: StoredAccount): Account {
    const { secret: _secret, ...rest } = account;
    return { ...rest, key_count: this.keys.filter((key) => key.account === account.name).length };
  }

  /** The account's keys as `list_keys` answers them: copies, oldest first. */
  private keysOf(account: unknown): ApiKey[] {
    const owner = this.account(account).name;
    return this.keys.filter((key) => key.account === owner).map((key) => ({ ...key }));
  }

  private account(name: unknown): StoredAccount {
    const account = this.accounts.find((candidate) => fold(candidate.name) === fold(String(name)));
    if (!account) fail('not_found', `no account named ${JSON.stringify(name)}`);
    return account;
  }

  private key(account: unknown, idOrName: unknown): ApiKey {
    const owner = this.account(account).name;
    const key = this.keys.find(
      (candidate) =>
        candidate.account === owner && (candidate.id === idOrName || fold(candidate.name) === fold(String(idOrName))),
    );
    if (!key) {
      const deleted = this.deletedKeys.get(String(idOrName));
      if (deleted) fail('not_found', `key ${JSON.stringify(deleted.name)} not found — it was deleted from account ${owner}`);
      fail('not_found', `no key ${JSON.stringify(idOrName)} in account ${owner}`);
    }
    return key;
  }

  private groupsOf(account: string): Group[] {
    return this.groups
      .filter((group) => group.account === account)
      .map((group) => ({
        ...group,
        key_count: this.keys.filter((key) => key.account === account && key.groups.includes(group.name)).length,
      }));
  }

  private existingGroups(account: string, names: string[]): string[] {
    for (const name of names) {
      if (!this.groups.some((group) => group.account === account && group.name === name)) {
        fail('not_found', `no group named ${JSON.stringify(name)} in account ${account}`);
      }
    }
    return [...names];
  }

  private checkName(what: string, raw: string): string {
    const name = raw.trim();
    if (name === '') fail('invalid_input', `the ${what} name is empty: give it a name`);
    if ([...name].length > 64) {
      fail('invalid_input', `the ${what} name is ${[...name].length} characters long: use at most 64`);
    }
    if (CONTROL.test(name)) {
      fail('invalid_input', `the ${what} name contains a control character (such as a tab or a newline): remove it`);
    }
    return name;
  }

  private checkKeyName(account: string, raw: string, ownId?: string): string {
    const name = this.checkName('key', raw);
    const clash = this.keys.find(
      (key) => key.account === account && key.id !== ownId && fold(key.name) === fold(name),
    );
    if (clash) {
      fail('conflict', `account ${account} already has a key named ${JSON.stringify(name)}: names are unique, ignoring case — choose another`);
    }
    return name;
  }

  private createAccount(args: Args): Account {
    const name = this.checkName('account', String(args.name));
    if (this.accounts.some((account) => fold(account.name) === fold(name))) {
      fail('conflict', `an account named ${JSON.stringify(name)} already exists: choose another name`);
    }
    const prefix = args.prefix === undefined ? 'kw' : String(args.prefix);
    if (!/^[a-z0-9]{2,12}$/.test(prefix)) fail('invalid_input', `invalid prefix ${JSON.stringify(prefix)}`);
    const account = this.addAccount(name, {
      prefix,
      keyLimit: args.keyLimit == null ? 10 : checkKeyLimit(Number(args.keyLimit)),
    });
    this.record('account.create', name);
    return this.publicAccount(account);
  }

  private updateAccount(args: Args): Account {
    const account = this.account(args.name);
    const oldName = account.name;
    if (args.rename !== undefined) account.name = this.checkName('account', String(args.rename));
    if (args.prefix !== undefined) account.prefix = String(args.prefix);
    if (args.keyLimit != null) account.key_limit = checkKeyLimit(Number(args.keyLimit));
    if (account.name !== oldName) {
      for (const key of this.keys) if (key.account === oldName) key.account = account.name;
      for (const group of this.groups) if (group.account === oldName) group.account = account.name;
      const sync = this.sync.get(oldName);
      if (sync) {
        this.sync.delete(oldName);
        this.sync.set(account.name, sync);
      }
    }
    this.record('account.update', account.name);
    return this.publicAccount(account);
  }

  private createGroup(args: Args): Group {
    const account = this.account(args.account).name;
    const name = this.checkName('group', String(args.name));
    if (this.groups.some((group) => group.account === account && fold(group.name) === fold(name))) {
      fail('conflict', `account ${account} already has a group named ${JSON.stringify(name)}: choose another name`);
    }
    const description = checkDescription(args.description) ?? '';
    const group = this.addGroup(account, name, description, [...(args.scopes as string[])]);
    this.record('group.create', account, group);
    return group;
  }

  private updateGroup(args: Args): Group {
    const account = this.account(args.account).name;
    const group = this.groups.find((candidate) => candidate.account === account && candidate.name === args.name);
    if (!group) fail('not_found', `no group named ${JSON.stringify(args.name)} in account ${account}`);
    if (args.rename !== undefined) {
      const renamed = this.checkName('group', String(args.rename));
      for (const key of this.keys) {
        if (key.account === account) key.groups = key.groups.map((name) => (name === group.name ? renamed : name));
      }
      group.name = renamed;
    }
    if (args.description != null) group.description = checkDescription(args.description) ?? '';
    if (args.scopes !== undefined) group.scopes = [...(args.scopes as string[])];
    this.record('group.update', account, group);
    return this.groupsOf(account).find((candidate) => candidate.id === group.id)!;
  }

  private deleteGroup(args: Args) {
    const account = this.account(args.account).name;
    const group = this.groups.find((candidate) => candidate.account === account && candidate.name === args.name);
    if (!group) fail('not_found', `no group named ${JSON.stringify(args.name)} in account ${account}`);
    const users = this.keys.filter((key) => key.account === account && key.groups.includes(group.name));
    if (users.length > 0 && args.force !== true) {
      fail(
        'refused',
        `group ${group.name} is used by ${users.length} ${users.length === 1 ? 'key' : 'keys'}: remove it from them first, or force the deletion`,
      );
    }
    const deactivated: string[] = [];
    for (const key of users) {
      key.groups = key.groups.filter((name) => name !== group.name);
      if (key.groups.length === 0 && key.status === 'active') {
        key.status = 'inactive';
        deactivated.push(key.name);
      }
    }
    this.groups = this.groups.filter((candidate) => candidate !== group);
    this.record('group.delete', account, group);
    return { group: group.name, keys_affected: users.length, keys_deactivated: deactivated };
  }

  private createKey(args: Args, unlimited = false) {
    const account = this.account(args.account);
    const name = this.checkKeyName(account.name, String(args.name));
    const count = this.keys.filter((key) => key.account === account.name && !key.replaced_by).length;
    if (!unlimited && count >= account.key_limit) {
      fail(
        'limit_reached',
        `key limit of ${account.key_limit} reached for account ${account.name} — delete or deactivate a key, or raise the limit`,
      );
    }
    const description = checkDescription(args.description);
    const access = args.access as AccessType;
    if (access === 'READ' && args.allowUnbind === true) {
      fail(
        'refused',
        'a READ key cannot unbind devices: choose WRITE or READ_WRITE, or turn unbinding off',
      );
    }
    const expiresAt = typeof args.expiresAt === 'string' ? checkExpiry(args.expiresAt) : null;
    const body = `${this.id('body').replace(/\W/g, '')}SeCrEtBoDy0123456789abcdefghij`;
    const secret = `${account.prefix}_${body}`;
    const key = this.addKey(account.name, name, {
      description,
      access,
      allow_unbind: args.allowUnbind === true,
      groups: this.existingGroups(account.name, (args.groups as string[]) ?? []),
      hint: `${account.prefix}_${body.slice(0, 4)}…${body.slice(-4)}`,
      expires_at: expiresAt,
    });
    this.createdSecrets.set(key.id, secret);
    this.record('key.create', account.name, key);
    return { key: { ...key }, secret };
  }

  /** Like the core: each key must be there (a deleted one is named), before anything changes. */
  private selection(args: Args): ApiKey[] {
    const ids = (args.keys as string[]) ?? [];
    if (ids.length === 0) fail('invalid_input', 'no key selected: select the keys to change first');
    return ids.map((id) => this.key(args.account, id));
  }

  private rollKeys(args: Args) {
    const graceMs = parseGrace(String(args.grace));
    const keys = this.selection(args);
    for (const key of keys) {
      if (key.replaced_by) fail('refused', `key "${key.name}" was already replaced in a roll: roll its successor instead`);
      if (key.status === 'inactive') fail('refused', `key "${key.name}" is inactive: enable it first, or create a new key`);
    }
    const now = Date.now();
    const rolled = keys.map((old) => {
      const name = old.name;
      const ends = new Date(Math.min(now + graceMs, old.expires_at ? Date.parse(old.expires_at) : Infinity)).toISOString();
      old.name = `${name} (replaced)`;
      const created = this.createKey({
        account: old.account,
        name,
        description: old.description ?? undefined,
        access: old.access,
        allowUnbind: old.allow_unbind,
        groups: old.groups,
        expiresAt: old.expires_at ?? undefined,
      }, true);
      old.expires_at = ends;
      old.replaced_by = created.key.id;
      this.touchKey(old);
      this.record('key.roll', old.account, old);
      return { replaced: { ...old }, created };
    });
    const exportDir = typeof args.exportDir === 'string' ? args.exportDir : null;
    return { rolled, skipped: [], files: this.files(exportDir, rolled.map((r) => r.created.key)) };
  }

  private files(dir: string | null, keys: ApiKey[]) {
    if (dir === null) return [];
    return keys.map((key) => ({ key_id: key.id, name: key.name, path: `${dir}/${key.name}.json` }));
  }

  private changeKeys(args: Args): ApiKey[] {
    const keys = this.selection(args);
    const change = args.change as { kind: string; add?: string[]; remove?: string[] };
    const account = keys[0].account;
    if (change.kind === 'groups') {
      const add = this.existingGroups(account, change.add ?? []);
      const remove = change.remove ?? [];
      if (add.length === 0 && remove.length === 0) fail('invalid_input', 'no group to add or remove: choose at least one');
      for (const key of keys) {
        const next = [...new Set([...key.groups, ...add])].filter((name) => !remove.includes(name)).sort();
        if (next.join() === key.groups.join()) continue;
        key.groups = next;
        this.touchKey(key);
        this.record('key.set_groups', account, key);
      }
    } else if (change.kind === 'delete') {
      for (const key of keys) {
        this.keys = this.keys.filter((candidate) => candidate !== key);
        this.deletedKeys.set(key.id, key);
        this.record('key.delete', account, key);
      }
    } else {
      const status = change.kind === 'activate' ? 'active' : 'inactive';
      for (const key of keys) {
        if (key.status === status) continue;
        key.status = status;
        this.touchKey(key);
        this.record(status === 'active' ? 'key.activate' : 'key.deactivate', account, key, [textLine('status', status === 'active' ? 'inactive' : 'active', status)]);
      }
    }
    return keys.map((key) => ({ ...key }));
  }

  private addManyKeys(args: Args) {
    const account = this.account(args.account);
    const rows = parseRows(String(args.text), args.format === 'csv');
    const count = this.keys.filter((key) => key.account === account.name).length;
    if (count + rows.length > account.key_limit) {
      fail('limit_reached', `key limit of ${account.key_limit} reached for account ${account.name}`);
    }
    const seen = new Set<string>();
    for (const row of rows) {
      if (row.name === '' || row.name.length > 64) fail('invalid_input', `line ${row.line}: the key name must be 1 to 64 characters`);
      if (seen.has(fold(row.name)) || this.keys.some((key) => key.account === account.name && fold(key.name) === fold(row.name))) {
        fail('conflict', `line ${row.line}: a key named ${JSON.stringify(row.name)} already exists`);
      }
      seen.add(fold(row.name));
      for (const group of row.groups) {
        if (!this.groups.some((candidate) => candidate.account === account.name && candidate.name === group)) {
          fail('invalid_input', `line ${row.line}: group ${JSON.stringify(group)} not found`);
        }
      }
    }
    const created = rows.map((row) =>
      this.createKey(
        { ...args, name: row.name, description: row.description ?? undefined, groups: [...((args.groups as string[]) ?? []), ...row.groups] },
        true,
      ),
    );
    const exportDir = typeof args.exportDir === 'string' ? args.exportDir : null;
    return { created, files: this.files(exportDir, created.map((c) => c.key)) };
  }

  reviewCounts(account: string) {
    const now = Date.now();
    const days = this.settings.expiry_warning_days;
    const live = this.keys.filter((key) => key.account === account && !key.replaced_by);
    const expiring = live.filter((key) => {
      const at = key.expires_at ? Date.parse(key.expires_at) : NaN;
      return at > now && at <= now + days * 86_400_000;
    }).length;
    const unused = live.filter((key) => Date.parse(key.last_used_at ?? key.created_at) <= now - 90 * 86_400_000).length;
    return { account, expiring, expiring_days: days, unused, unused_days: 90 };
  }

  private dailyReview(today: string) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(today)) fail('invalid_input', `${JSON.stringify(today)} is not a day: send YYYY-MM-DD`);
    if (this.reviewedOn === today) return { due: [], notified: false };
    this.reviewedOn = today;
    const due = this.accounts
      .map((account) => this.reviewCounts(account.name))
      .filter((counts) => counts.expiring > 0 || counts.unused > 0);
    if (due.length > 0) this.notifications.push(due.map((counts) => counts.account).join(', '));
    return { due, notified: due.length > 0 };
  }

  private listAudit(args: Args): AuditView[] {
    let entries = this.audit.slice();
    if (typeof args.actor === 'string') entries = entries.filter((entry) => fold(entry.actor) === fold(String(args.actor)));
    if (typeof args.since === 'string') entries = entries.filter((entry) => entry.at >= String(args.since));
    if (typeof args.until === 'string') entries = entries.filter((entry) => entry.at < String(args.until));
    if (typeof args.action === 'string') entries = entries.filter((entry) => entry.action === args.action);
    if (typeof args.key === 'string') {
      const wanted = fold(args.key);
      entries = entries.filter((entry) => fold(entry.target_name ?? '') === wanted || entry.target_id === args.key);
    }
    // Newest first, as the core answers.
    const limit = typeof args.limit === 'number' ? args.limit : entries.length;
    return entries.reverse().slice(0, limit);
  }

  private setRemoteCommand(args: Args): SyncStatus {
    const account = this.account(args.account).name;
    const url = String(args.url).trim().replace(/\/+$/, '');
    // A pasted token often brings a space or a line break along.
    const token = String(args.token).trim();
    const insecure = args.insecure === true;
    if (!/^https?:\/\//i.test(url)) fail('invalid_input', `invalid remote URL ${JSON.stringify(url)}: write it as https://HOST[:PORT]`);
    if (token === '') fail('invalid_input', 'the sync token is empty: paste the token keyward-server printed');
    if (token.length > 512 || !/^[\x21-\x7e]+$/.test(token)) {
      fail('invalid_input', 'that is not a sync token (printable characters without spaces, at most 512)');
    }
    const host = new URL(url).hostname;
    const loopback = LOOPBACK_HOSTS.has(host) || host.startsWith('127.');
    if (/^http:/i.test(url) && !loopback && !insecure) {
      fail(
        'invalid_input',
        `refusing plain http:// to ${host}: the sync token would cross the network in clear — use https://, or allow plain HTTP explicitly (tick “Allow insecure HTTP” only behind a proxy that terminates TLS)`,
      );
    }
    const sync = this.syncOf(account);
    const sameRemote = sync.remote?.url === url;
    sync.remote = { url, token, insecure };
    if (!sameRemote) {
      // A new remote gets the whole account: every group and key waits for it.
      sync.queued.clear();
      sync.pending = 0;
      for (const group of this.groups) if (group.account === account) this.queue(account, group.id);
      for (const key of this.keys) if (key.account === account) this.queue(account, key.id);
    }
    this.record('remote.set', account);
    const status = this.syncStatus(account);
    void this.emit('sync-status', status);
    return status;
  }

  private removeRemote(args: Args): SyncStatus {
    const account = this.account(args.account).name;
    const sync = this.syncOf(account);
    if (sync.syncing) fail('conflict', `account ${account} is already syncing`);
    if (sync.remote === null) {
      fail('not_found', `remote of account ${JSON.stringify(account)} not found — it does not sync`);
    }
    if (sync.pending > 0 && args.force !== true) {
      fail(
        'refused',
        `${sync.pending} changes have not reached the remote yet: sync first, or turn sync off anyway (they stay in this vault, only the remote will not get them)`,
      );
    }
    // The vault forgets the remote's row, and with it when it last synced and how.
    Object.assign(sync, { remote: null, pending: 0, lastSyncAt: null, lastReport: null, lastError: null, refused: [] });
    sync.queued.clear();
    const status = this.syncStatus(account);
    void this.emit('sync-status', status);
    return status;
  }

  private async syncNow(account: string): Promise<SyncReport> {
    const sync = this.syncOf(account);
    if (sync.remote === null) fail('not_found', `no remote is set for account ${account}`);
    if (sync.syncing) fail('conflict', `account ${account} is already syncing`);
    sync.syncing = true;
    await this.emit('sync-status', this.syncStatus(account));
    if (this.syncGate) await this.syncGate;
    sync.syncing = false;
    const outcome = this.nextSync;
    if ('kind' in outcome) {
      sync.lastError = outcome.message;
      await this.emit('sync-status', this.syncStatus(account));
      fail(outcome.kind, outcome.message);
    }
    sync.pending = 0;
    sync.queued.clear();
    sync.lastSyncAt = new Date().toISOString();
    sync.lastReport = outcome;
    sync.lastError = null;
    await this.emit('sync-status', this.syncStatus(account));
    return outcome;
  }

  private updateSettings(settings: Settings): Settings {
    if (settings.clipboard_clear_seconds < 5 || settings.clipboard_clear_seconds > 600) {
      fail('invalid_input', 'the clipboard clear delay must be between 5 and 600 seconds');
    }
    if (settings.auto_lock_minutes < 1 || settings.auto_lock_minutes > 240) {
      fail('invalid_input', 'the auto-lock delay must be between 1 and 240 minutes');
    }
    if (settings.expiry_warning_days < 1 || settings.expiry_warning_days > 365) {
      fail('invalid_input', 'the expiry warning period must be between 1 and 365 days');
    }
    this.settings = { ...settings };
    this.record('settings.update', null);
    return { ...this.settings };
  }
}

/** Control characters, as Rust's `char::is_control` sees them. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const DESCRIPTION_MAX_CHARS = 500;
const KEY_LIMIT_MAX = 1_000_000;

/** Trims a description; an empty one becomes none. Line breaks are the one control allowed. */
function checkDescription(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.trim() === '') return null;
  const text = raw.trim();
  if ([...text].length > DESCRIPTION_MAX_CHARS) {
    fail('invalid_input', `the description is too long: use at most ${DESCRIPTION_MAX_CHARS} characters`);
  }
  if (CONTROL.test(text.replaceAll('\n', ''))) fail('invalid_input', 'the description contains a control character: remove it');
  return text;
}

function checkKeyLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > KEY_LIMIT_MAX) {
    fail('invalid_input', `invalid key limit ${limit}: use a number from 1 to ${KEY_LIMIT_MAX}`);
  }
  return limit;
}

/** A day (the key works through it, UTC) or an RFC 3339 time, later than now. */
function checkExpiry(raw: string): string {
  const text = raw.trim();
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(text);
  const at = day ? Date.parse(`${text}T00:00:00Z`) + 86_400_000 : rfc3339 ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) {
    fail('invalid_input', `invalid expiry date ${JSON.stringify(text)}: write YYYY-MM-DD or an RFC 3339 time like 2027-01-31T12:00:00Z`);
  }
  if (at <= Date.now()) fail('invalid_input', `the expiry ${text} is in the past: choose a later date`);
  return day ? new Date(at).toISOString().replace('.000Z', 'Z') : text;
}

/** An audit value as the entry's `details` hold it. */
function auditText(value: AuditLine['from']): unknown {
  return value !== null && typeof value === 'object' && 'text' in value ? value.text : value;
}

function textLine(field: string, from: string, to: string): AuditLine {
  return { field, from: { kind: 'text', text: from }, to: { kind: 'text', text: to } };
}

/** "0", "30s", "15m", "24h", "7d", "2w"; at most 30 days, as the core reads a grace. */
function parseGrace(text: string): number {
  const match = /^(\d+)(s|m|h|d|w)?$/.exec(text.trim());
  if (!match || (match[2] === undefined && match[1] !== '0')) {
    fail('invalid_input', `invalid grace ${JSON.stringify(text)}: write 0, or a whole number and a unit, like 30s, 15m, 24h, 14d or 2w`);
  }
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] ?? 's'] ?? 1;
  const ms = Number(match[1]) * unit * 1000;
  if (ms > 30 * 86_400_000) fail('invalid_input', `grace ${JSON.stringify(text)} is too long: at most 30 days`);
  return ms;
}

interface Row {
  line: number;
  name: string;
  description: string | null;
  groups: string[];
}

/** Names one a line, or CSV rows of name,description,groups (no quoting: enough for tests). */
function parseRows(text: string, csv: boolean): Row[] {
  const rows: Row[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    if (!csv) {
      rows.push({ line: index + 1, name: line, description: null, groups: [] });
      return;
    }
    const fields = line.split(',').map((field) => field.trim());
    if (rows.length === 0 && fields[0].toLowerCase() === 'name') return;
    if (fields.length > 3) fail('invalid_input', `line ${index + 1}: ${fields.length} fields — write name,description,groups`);
    rows.push({
      line: index + 1,
      name: fields[0],
      description: fields[1] ? fields[1] : null,
      groups: (fields[2] ?? '').split(';').map((group) => group.trim()).filter((group) => group !== ''),
    });
  });
  if (rows.length === 0) fail('invalid_input', 'no names given: write one key name a line');
  return rows;
}

