// What one action on many keys will change, said before it is done: how many keys, the most
// recent use among them (a key in use is worth a second look), and which groups they have —
// or, for a change of groups, which groups they will have.
import type { ApiKey } from '../../backend/ipc';

export type BulkAction = 'activate' | 'deactivate' | 'delete' | 'groups';

export interface Preview {
  count: number;
  /** The key used most recently, and when; null when none of them was ever used. */
  lastUsed: { name: string; at: string } | null;
  /** The groups the keys have now (for a change of groups: will have), sorted. */
  groups: string[];
  /** How many keys the action leaves as they are (already active, already in the groups…). */
  unchanged: number;
}

export function preview(
  keys: readonly ApiKey[],
  action: BulkAction,
  change: { add: readonly string[]; remove: readonly string[] } = { add: [], remove: [] },
): Preview {
  let lastUsed: Preview['lastUsed'] = null;
  const groups = new Set<string>();
  let unchanged = 0;
  for (const key of keys) {
    if (key.last_used_at !== null && (lastUsed === null || key.last_used_at > lastUsed.at)) {
      lastUsed = { name: key.name, at: key.last_used_at };
    }
    const after =
      action === 'groups'
        ? [...new Set([...key.groups, ...change.add])].filter((group) => !change.remove.includes(group))
        : key.groups;
    after.forEach((group) => groups.add(group));
    const same =
      (action === 'activate' && key.status === 'active') ||
      (action === 'deactivate' && key.status === 'inactive') ||
      (action === 'groups' && after.length === key.groups.length && after.every((group) => key.groups.includes(group)));
    if (same) unchanged += 1;
  }
  return { count: keys.length, lastUsed, groups: [...groups].sort((a, b) => a.localeCompare(b)), unchanged };
}

/** "3 keys" / "1 key" */
export function keysText(count: number): string {
  return count === 1 ? '1 key' : `${count.toLocaleString('en')} keys`;
}

const VERBS: Record<BulkAction, string> = {
  activate: 'activated',
  deactivate: 'deactivated',
  delete: 'deleted for good',
  groups: 'regrouped',
};

/** "3 keys will be deactivated." */
export function actionSentence(action: BulkAction, count: number): string {
  return `${keysText(count)} will be ${VERBS[action]}.`;
}

/** A key of a one-time display of many. */
export interface NewKeyEntry {
  id: string;
  name: string;
  secret: string;
  /** What it replaced, for a roll: "the old key, now “gate-1 (replaced)”, works until …". */
  note?: string;
}
