// The first reads of a vault just unlocked, started at once rather than one screen after the
// other: the accounts and counts the workspace needs, then the first account's keys, groups and
// presets the keys page needs. The app waits for them (`firstReadsDone`) before it draws the
// workspace, so the workspace, the keys page and the table are drawn in one frame rather than
// three: each frame of the whole window costs WebKit tens of milliseconds, and the answers of
// the commands wait behind it. Each read is handed out once; a later read (a refresh, another
// account) goes to the backend as usual.
import {
  keyPresets,
  listAccounts,
  listGroups,
  listKeys,
  vaultSummary,
  type Account,
  type ApiKey,
  type Group,
  type KeyPresetView,
  type VaultSummary,
} from '../backend/ipc';

interface KeysReads {
  account: string;
  keys: Promise<ApiKey[]>;
  groups: Promise<Group[]>;
}

let workspace: Promise<[Account[], VaultSummary]> | null = null;
let keys: Promise<KeysReads | null> | null = null;
let presets: Promise<KeyPresetView[]> | null = null;

// A rejection nobody waited for yet must not be reported as unhandled: its taker sees it.
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Starts the reads; call as soon as the vault is unlocked. */
export function startFirstReads(): void {
  const accounts = quiet(listAccounts());
  workspace = quiet(Promise.all([accounts, vaultSummary()]));
  presets = quiet(keyPresets());
  keys = quiet(
    accounts.then((loaded) => {
      const first = loaded[0]?.name;
      if (first === undefined) return null;
      return { account: first, keys: quiet(listKeys(first)), groups: quiet(listGroups(first)) };
    }),
  );
}

/**
 * Resolves once the started reads have answered (or failed: their takers see the failure), or
 * after `patience` ms, so a slow vault still shows the workspace and its own progress.
 */
export async function firstReadsDone(patience = 3000): Promise<void> {
  const started = [workspace, presets, keys?.then((reads) => reads && Promise.all([reads.keys, reads.groups]))];
  const answered = Promise.allSettled(started.filter((read) => read !== null && read !== undefined));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, patience)));
  await Promise.race([answered, waited]);
  clearTimeout(timer);
}

/** The accounts and counts, if they were started and not taken yet. */
export function takeWorkspaceReads(): Promise<[Account[], VaultSummary]> | null {
  const taken = workspace;
  workspace = null;
  return taken;
}

/** The keys and groups of `account`, if they were started for it and not taken yet. */
export async function takeKeysReads(account: string): Promise<[ApiKey[], Group[]] | null> {
  const started = keys;
  keys = null;
  const reads = started === null ? null : await started.catch(() => null);
  if (reads === null || reads.account !== account) return null;
  return Promise.all([reads.keys, reads.groups]);
}

export function takePresetsRead(): Promise<KeyPresetView[]> | null {
  const taken = presets;
  presets = null;
  return taken;
}

/** Forgets reads not taken (the vault locked before the workspace took them). */
export function dropFirstReads(): void {
  workspace = null;
  keys = null;
  presets = null;
}
