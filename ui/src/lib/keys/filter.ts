// Filtering and sorting of an account's keys, in memory. A list is indexed once when it
// loads (lower-cased search text, timestamps as numbers) so a keystroke in the filter is one
// pass of `includes` over 10,000 strings, and sorting never parses a date.
import type { ApiKey, KeyStatus } from '../../backend/ipc';
import { nameCollator } from '../common/intl';

export type KeyColumn =
  | 'name'
  | 'status'
  | 'key'
  | 'access'
  | 'allow_unbind'
  | 'groups'
  | 'created'
  | 'created_by'
  | 'last_used'
  | 'expires';

/** The table's columns, in order, with their header text. */
export const KEY_COLUMNS: readonly { id: KeyColumn; label: string }[] = [
  { id: 'name', label: 'Name' },
  { id: 'status', label: 'Status' },
  { id: 'key', label: 'Key' },
  { id: 'access', label: 'Access' },
  { id: 'allow_unbind', label: 'Allow unbind' },
  { id: 'groups', label: 'Groups' },
  { id: 'created', label: 'Created' },
  { id: 'created_by', label: 'Created by' },
  { id: 'last_used', label: 'Last used' },
  { id: 'expires', label: 'Expires' },
];

export interface IndexedKey {
  readonly key: ApiKey;
  /**
   * Name, description, hint, groups and creator, lower-cased, for the text filter: made when
   * first needed (`searchText`), or ahead of the first keystroke (`prepareSearch`), so that
   * opening 10,000 keys does not wait for it.
   */
  search?: string;
  readonly createdMs: number;
  /** `-Infinity` when never used: "Never" sorts as the oldest use. */
  readonly lastUsedMs: number;
  /** `Infinity` when the key never expires: it sorts after every date. */
  readonly expiresMs: number;
  readonly groupsText: string;
}

function millis(at: string | null, whenNull: number): number {
  if (at === null) return whenNull;
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? whenNull : ms;
}

export function indexKey(key: ApiKey): IndexedKey {
  const groupsText = key.groups.join(', ');
  return {
    key,
    createdMs: millis(key.created_at, 0),
    lastUsedMs: millis(key.last_used_at, -Infinity),
    expiresMs: millis(key.expires_at, Infinity),
    groupsText,
  };
}

export function indexKeys(keys: readonly ApiKey[]): IndexedKey[] {
  return keys.map(indexKey);
}

/** The text the filter searches in `entry`, made on first use. */
export function searchText(entry: IndexedKey): string {
  const { key } = entry;
  return (entry.search ??= [key.name, key.description ?? '', key.hint, entry.groupsText, key.created_by]
    .join('\n')
    .toLowerCase());
}

/** Makes the search text of every entry now (after the table is drawn, before typing). */
export function prepareSearch(entries: readonly IndexedKey[]): void {
  for (const entry of entries) searchText(entry);
}

/** Keys that are in no group at all, as a choice of the group filter. */
export const NO_GROUP = Symbol('no group');

export interface KeyFilter {
  /** Words that must all appear (in any field searched), ignoring case. */
  text: string;
  status: KeyStatus | 'all';
  /** A group name, `NO_GROUP`, or null for every key. */
  group: string | typeof NO_GROUP | null;
}

export const NO_FILTER: KeyFilter = { text: '', status: 'all', group: null };

export function isFiltering(filter: KeyFilter): boolean {
  return filter.text.trim() !== '' || filter.status !== 'all' || filter.group !== null;
}

/** The keys that pass `filter`, in the order given. */
export function filterKeys(keys: readonly IndexedKey[], filter: KeyFilter): IndexedKey[] {
  const words = filter.text.toLowerCase().split(/\s+/).filter((word) => word !== '');
  const { status, group } = filter;
  if (words.length === 0 && status === 'all' && group === null) return keys.slice();
  return keys.filter((entry) => {
    if (status !== 'all' && entry.key.status !== status) return false;
    if (group === NO_GROUP) {
      if (entry.key.groups.length > 0) return false;
    } else if (group !== null && !entry.key.groups.includes(group)) {
      return false;
    }
    for (const word of words) {
      if (!searchText(entry).includes(word)) return false;
    }
    return true;
  });
}

export type SortDirection = 'ascending' | 'descending';

export interface KeySort {
  column: KeyColumn;
  direction: SortDirection;
}

export const DEFAULT_SORT: KeySort = { column: 'name', direction: 'ascending' };

const ACCESS_ORDER = { READ: 0, WRITE: 1, READ_WRITE: 2 } as const;

function compareNumbers(a: number, b: number): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function compareBy(column: KeyColumn): (a: IndexedKey, b: IndexedKey) => number {
  const collator = nameCollator();
  switch (column) {
    case 'name':
      return (a, b) => collator.compare(a.key.name, b.key.name);
    case 'status':
      return (a, b) => collator.compare(a.key.status, b.key.status);
    case 'key':
      return (a, b) => collator.compare(a.key.hint, b.key.hint);
    case 'access':
      return (a, b) => ACCESS_ORDER[a.key.access] - ACCESS_ORDER[b.key.access];
    case 'allow_unbind':
      return (a, b) => Number(a.key.allow_unbind) - Number(b.key.allow_unbind);
    case 'groups':
      // Keys without groups first, then by the groups' names.
      return (a, b) =>
        compareNumbers(Math.min(a.key.groups.length, 1), Math.min(b.key.groups.length, 1)) ||
        collator.compare(a.groupsText, b.groupsText);
    case 'created':
      return (a, b) => compareNumbers(a.createdMs, b.createdMs);
    case 'created_by':
      return (a, b) => collator.compare(a.key.created_by, b.key.created_by);
    case 'last_used':
      return (a, b) => compareNumbers(a.lastUsedMs, b.lastUsedMs);
    case 'expires':
      return (a, b) => compareNumbers(a.expiresMs, b.expiresMs);
  }
}

/**
 * A sorted copy of `keys`. Ties fall back to the name, then the id, both ascending, so
 * the order is the same every time whichever way the column is turned.
 */
export function sortKeys(keys: readonly IndexedKey[], sort: KeySort): IndexedKey[] {
  if (keys.length < 2) return keys.slice();
  const primary = compareBy(sort.column);
  const sign = sort.direction === 'ascending' ? 1 : -1;
  const byName = compareBy('name');
  return keys.slice().sort((a, b) => {
    const order = sign * primary(a, b);
    if (order !== 0) return order;
    return byName(a, b) || (a.key.id < b.key.id ? -1 : a.key.id > b.key.id ? 1 : 0);
  });
}

/** The next sort after clicking `column`'s header: the same column flips, another starts ascending. */
export function toggleSort(current: KeySort, column: KeyColumn): KeySort {
  if (current.column !== column) return { column, direction: 'ascending' };
  return { column, direction: current.direction === 'ascending' ? 'descending' : 'ascending' };
}

/** "Showing 3 of 7 keys · limit 10" */
export function countsLine(shown: number, total: number, limit: number): string {
  const noun = total === 1 ? 'key' : 'keys';
  return `Showing ${shown.toLocaleString('en')} of ${total.toLocaleString('en')} ${noun} · limit ${limit.toLocaleString('en')}`;
}
