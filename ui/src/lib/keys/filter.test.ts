import { describe, expect, it } from 'vitest';
import type { ApiKey, KeyStatus } from '../../backend/ipc';
import { makeKey } from '../../testing/keys';
import {
  KEY_COLUMNS,
  NO_FILTER,
  NO_GROUP,
  countsLine,
  filterKeys,
  indexKeys,
  isFiltering,
  prepareSearch,
  searchText,
  sortKeys,
  toggleSort,
  type KeyColumn,
  type KeyFilter,
} from './filter';

const sample: ApiKey[] = [
  makeKey(1, { name: 'Gate 10', groups: ['readers'], created_by: 'alice', last_used_at: '2025-05-02T10:00:00Z' }),
  makeKey(2, { name: 'gate 2', status: 'inactive', access: 'WRITE', description: 'Finish line reader' }),
  makeKey(3, {
    name: 'Timing app',
    access: 'READ_WRITE',
    allow_unbind: true,
    groups: ['writers', 'readers'],
    last_used_at: '2025-04-01T10:00:00Z',
    expires_at: '2026-01-01T00:00:00Z',
  }),
  makeKey(4, { name: 'Kiosk', hint: 'kw_ZZtop…9999', expires_at: '2025-12-01T00:00:00Z', created_by: 'bob' }),
];

function names(keys: { key: ApiKey }[]): string[] {
  return keys.map((entry) => entry.key.name);
}

function filtered(filter: Partial<KeyFilter>): string[] {
  return names(filterKeys(indexKeys(sample), { ...NO_FILTER, ...filter }));
}

describe('the table columns', () => {
  it('are exactly the ten the issue names, in order', () => {
    expect(KEY_COLUMNS.map((column) => column.label)).toEqual([
      'Name',
      'Status',
      'Key',
      'Access',
      'Allow unbind',
      'Groups',
      'Created',
      'Created by',
      'Last used',
      'Expires',
    ]);
  });
});

describe('the search text', () => {
  it('is not made when the keys are indexed, but by the first filter or ahead of it', () => {
    const index = indexKeys(sample);
    expect(index.every((entry) => entry.search === undefined)).toBe(true);

    expect(names(filterKeys(index, { ...NO_FILTER, text: 'FINISH' }))).toEqual(['gate 2']);
    expect(index.every((entry) => entry.search !== undefined)).toBe(true);

    const ahead = indexKeys(sample);
    prepareSearch(ahead);
    expect(ahead.map((entry) => entry.search)).toEqual(index.map((entry) => entry.search));
    expect(searchText(ahead[3])).toBe('kiosk\n\nkw_zztop…9999\n\nbob');
  });
});

describe('filterKeys', () => {
  it('keeps every key, as a copy, when nothing filters', () => {
    const index = indexKeys(sample);
    const all = filterKeys(index, NO_FILTER);
    expect(all).toEqual(index);
    expect(all).not.toBe(index);
    expect(isFiltering(NO_FILTER)).toBe(false);
  });

  it('matches text in any case against name, description, hint, groups and creator', () => {
    expect(filtered({ text: 'GATE' })).toEqual(['Gate 10', 'gate 2']);
    expect(filtered({ text: 'finish' })).toEqual(['gate 2']);
    expect(filtered({ text: 'zztop' })).toEqual(['Kiosk']);
    expect(filtered({ text: 'writers' })).toEqual(['Timing app']);
    expect(filtered({ text: 'bob' })).toEqual(['Kiosk']);
  });

  it('needs every word of the text, in any field and any order', () => {
    expect(filtered({ text: 'readers gate' })).toEqual(['Gate 10']);
    expect(filtered({ text: '  reader   line ' })).toEqual(['gate 2']);
    expect(filtered({ text: 'gate kiosk' })).toEqual([]);
  });

  it('filters by status', () => {
    expect(filtered({ status: 'inactive' })).toEqual(['gate 2']);
    expect(filtered({ status: 'active' })).toEqual(['Gate 10', 'Timing app', 'Kiosk']);
  });

  it('filters by group, or by having no group at all', () => {
    expect(filtered({ group: 'readers' })).toEqual(['Gate 10', 'Timing app']);
    expect(filtered({ group: 'writers' })).toEqual(['Timing app']);
    expect(filtered({ group: NO_GROUP })).toEqual(['gate 2', 'Kiosk']);
  });

  it('combines text, status and group', () => {
    const filter = { text: 'gate', status: 'active' as const, group: 'readers' };
    expect(filtered(filter)).toEqual(['Gate 10']);
    expect(isFiltering({ ...NO_FILTER, ...filter })).toBe(true);
  });
});

describe('sortKeys', () => {
  const index = indexKeys(sample);
  const sortedBy = (column: KeyColumn, direction: 'ascending' | 'descending' = 'ascending') =>
    names(sortKeys(index, { column, direction }));

  it('sorts names ignoring case, numbers as numbers', () => {
    expect(sortedBy('name')).toEqual(['gate 2', 'Gate 10', 'Kiosk', 'Timing app']);
    expect(sortedBy('name', 'descending')).toEqual(['Timing app', 'Kiosk', 'Gate 10', 'gate 2']);
  });

  it('puts never-used keys first when sorting by last use, oldest use next', () => {
    expect(sortedBy('last_used')).toEqual(['gate 2', 'Kiosk', 'Timing app', 'Gate 10']);
    // Ties (both never used) stay in name order whichever way the column is turned.
    expect(sortedBy('last_used', 'descending')).toEqual(['Gate 10', 'Timing app', 'gate 2', 'Kiosk']);
  });

  it('puts keys that never expire after every date', () => {
    expect(sortedBy('expires')).toEqual(['Kiosk', 'Timing app', 'gate 2', 'Gate 10']);
  });

  it('orders access types from the least to the most', () => {
    expect(sortedBy('access')).toEqual(['Gate 10', 'Kiosk', 'gate 2', 'Timing app']);
  });

  it('sorts by every other column too, ties broken by name', () => {
    expect(sortedBy('status')).toEqual(['Gate 10', 'Kiosk', 'Timing app', 'gate 2']);
    expect(sortedBy('allow_unbind', 'descending')).toEqual(['Timing app', 'gate 2', 'Gate 10', 'Kiosk']);
    expect(sortedBy('groups')).toEqual(['gate 2', 'Kiosk', 'Gate 10', 'Timing app']);
    expect(sortedBy('created')).toEqual(['Gate 10', 'gate 2', 'Timing app', 'Kiosk']);
    expect(sortedBy('created_by')).toEqual(['gate 2', 'Timing app', 'Gate 10', 'Kiosk']);
    expect(sortedBy('key')[0]).toBe('Gate 10');
  });

  it('returns a new array and leaves the input alone', () => {
    const before = names(index);
    const result = sortKeys(index, { column: 'name', direction: 'descending' });
    expect(result).not.toBe(index);
    expect(names(index)).toEqual(before);
  });

  it('flips the direction on the same column and starts another ascending', () => {
    const byName = { column: 'name' as const, direction: 'ascending' as const };
    expect(toggleSort(byName, 'name')).toEqual({ column: 'name', direction: 'descending' });
    expect(toggleSort({ column: 'name', direction: 'descending' }, 'name')).toEqual(byName);
    expect(toggleSort(byName, 'expires')).toEqual({ column: 'expires', direction: 'ascending' });
  });
});

describe('countsLine', () => {
  it('says how many keys are shown, of how many, and the limit', () => {
    expect(countsLine(3, 7, 10)).toBe('Showing 3 of 7 keys · limit 10');
    expect(countsLine(1, 1, 10)).toBe('Showing 1 of 1 key · limit 10');
    expect(countsLine(9_876, 10_000, 10_000)).toBe('Showing 9,876 of 10,000 keys · limit 10,000');
  });
});

describe('10,000 keys', () => {
  const statuses: KeyStatus[] = ['active', 'inactive'];
  const groupNames = ['readers', 'writers', 'gates', 'kiosks'];
  const many = Array.from({ length: 10_000 }, (_, n) =>
    makeKey(n, {
      name: `device-${n}`,
      status: statuses[n % 7 === 0 ? 1 : 0],
      groups: groupNames.filter((_, g) => (n >> g) % 3 === 0),
      description: n % 10 === 0 ? `Reader at gate ${n % 50}` : null,
      created_by: n % 2 === 0 ? 'alice' : 'bob',
    }),
  );

  // The obvious, slow way: what the indexed filter must agree with.
  function naive(keys: ApiKey[], filter: KeyFilter): string[] {
    const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
    return keys
      .filter((key) => filter.status === 'all' || key.status === filter.status)
      .filter((key) =>
        filter.group === null
          ? true
          : filter.group === NO_GROUP
            ? key.groups.length === 0
            : key.groups.includes(filter.group),
      )
      .filter((key) =>
        words.every((word) =>
          [key.name, key.description ?? '', key.hint, key.groups.join(', '), key.created_by].some((field) =>
            field.toLowerCase().includes(word),
          ),
        ),
      )
      .map((key) => key.id);
  }

  it('filters exactly like the naive filter, keeping the sorted order', () => {
    const index = indexKeys(many);
    const sorted = sortKeys(index, { column: 'name', direction: 'descending' });
    const cases: KeyFilter[] = [
      { text: 'device-99', status: 'all', group: null },
      { text: 'GATE 1', status: 'active', group: null },
      { text: 'alice', status: 'inactive', group: 'readers' },
      { text: '', status: 'all', group: NO_GROUP },
      { text: 'bob kw_00', status: 'all', group: 'kiosks' },
      { text: 'no such key', status: 'all', group: null },
    ];
    for (const filter of cases) {
      const result = filterKeys(sorted, filter);
      const expected = new Set(naive(many, filter));
      expect(result.map((entry) => entry.key.id).sort()).toEqual([...expected].sort());
      // Still in the sorted order it was given.
      const positions = result.map((entry) => sorted.indexOf(entry));
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }
    // device-99, device-990…999 and device-9900…9999, highest first.
    const nines = filterKeys(sorted, cases[0]).map((entry) => entry.key.name);
    expect(nines).toHaveLength(1 + 10 + 100);
    expect(nines.slice(0, 2)).toEqual(['device-9999', 'device-9998']);
    expect(nines.slice(-3)).toEqual(['device-991', 'device-990', 'device-99']);
  });

  it('sorts all of them with the same result whichever column ties', () => {
    const index = indexKeys(many);
    const byCreator = sortKeys(index, { column: 'created_by', direction: 'ascending' });
    expect(byCreator).toHaveLength(10_000);
    expect(byCreator[0].key.created_by).toBe('alice');
    expect(byCreator[4_999].key.created_by).toBe('alice');
    expect(byCreator[5_000].key.created_by).toBe('bob');
    // Ties by name, numerically: device-0, device-2, device-4, …
    expect(byCreator.slice(0, 3).map((entry) => entry.key.name)).toEqual(['device-0', 'device-2', 'device-4']);
  });
});
