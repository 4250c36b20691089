import { describe, expect, it } from 'vitest';
import { all, extend, keepExisting, NOTHING, only, toggle } from './selection';
import { localDay, reviewKeys, rollingOut, reviewLabel, within } from './review';
import { actionSentence, preview } from './preview';
import { indexKey } from '../keys/filter';
import { makeKey } from '../../testing/keys';

const rows = ['a', 'b', 'c', 'd', 'e'];
const ids = (selection: { ids: ReadonlySet<string> }) => [...selection.ids].sort();

describe('selecting many keys', () => {
  it('clicks, toggles, extends from the anchor and selects all', () => {
    let selection = only('b');
    selection = toggle(selection, 'd');
    expect(ids(selection)).toEqual(['b', 'd']);
    selection = extend(selection, rows, 'a');
    expect(ids(selection)).toEqual(['a', 'b', 'c', 'd']);
    expect(selection.anchor).toBe('d');
    selection = toggle(selection, 'c');
    expect(ids(selection)).toEqual(['a', 'b', 'd']);
    expect(ids(extend(NOTHING, rows, 'c'))).toEqual(['c']);
    expect(ids(all(rows, null))).toEqual(rows);
  });

  it('forgets keys that are gone and says which', () => {
    const { selection, gone } = keepExisting(all(rows, 'e'), new Set(['a', 'c']));
    expect(ids(selection)).toEqual(['a', 'c']);
    expect(gone).toEqual(['b', 'd', 'e']);
    expect(selection.focus).toBeNull();
  });
});

describe('the review', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  const day = 86_400_000;
  const recent = new Date(now - day).toISOString();
  const keys = [
    makeKey(1, { name: 'soon', created_at: recent, expires_at: new Date(now + 3 * day).toISOString() }),
    makeKey(2, { name: 'later', created_at: recent, expires_at: new Date(now + 30 * day).toISOString() }),
    makeKey(3, { name: 'rolling', created_at: '2020-01-01T00:00:00Z', expires_at: new Date(now + 3600_000).toISOString(), replaced_by: 'x' }),
    makeKey(4, { name: 'used', created_at: '2020-01-01T00:00:00Z', last_used_at: new Date(now - day).toISOString() }),
    makeKey(5, { name: 'stale', created_at: '2020-01-01T00:00:00Z', last_used_at: '2026-01-01T00:00:00Z' }),
    makeKey(6, { name: 'expired', created_at: recent, expires_at: new Date(now - day).toISOString() }),
  ].map(indexKey);
  const names = (list: ReturnType<typeof reviewKeys>) => list.map((entry) => entry.key.name);

  it('finds expiring and unused keys, never one a roll replaced', () => {
    expect(names(reviewKeys(keys, { kind: 'expiring', days: 14 }, now))).toEqual(['soon']);
    expect(names(reviewKeys(keys, { kind: 'unused', days: 90 }, now))).toEqual(['stale']);
    expect(reviewKeys(keys, null, now)).toHaveLength(6);
  });

  it('reads a replaced key as rolling out until it ends', () => {
    expect(rollingOut(keys[2], now)).toBe('rolling out, ends in 1 h');
    expect(rollingOut(keys[2], now + 2 * 3600_000)).toBe('replaced');
    expect(rollingOut(keys[0], now)).toBeNull();
    expect(within(90_000)).toBe('1 min');
    expect(within(3 * day)).toBe('3 d');
  });

  it('words the badge and the day', () => {
    expect(reviewLabel('expiring', 3, 14)).toBe('3 keys expire within 14 days');
    expect(reviewLabel('expiring', 1, 14)).toBe('1 key expires within 14 days');
    expect(reviewLabel('unused', 2, 90)).toBe('2 keys unused for 90 days');
    expect(localDay(new Date(2026, 0, 5, 23, 59))).toBe('2026-01-05');
  });
});

describe('the preview of one action on many keys', () => {
  const keys = [
    makeKey(1, { name: 'g1', groups: ['gates'], last_used_at: '2026-11-01T10:00:00Z' }),
    makeKey(2, { name: 'g2', groups: ['gates', 'readers'], last_used_at: '2026-11-20T10:00:00Z' }),
    makeKey(3, { name: 'off', status: 'inactive' }),
  ];

  it('says how many, the most recent use and the groups', () => {
    const shown = preview(keys, 'deactivate');
    expect(shown).toEqual({
      count: 3,
      lastUsed: { name: 'g2', at: '2026-11-20T10:00:00Z' },
      groups: ['gates', 'readers'],
      unchanged: 1,
    });
    expect(actionSentence('deactivate', 3)).toBe('3 keys will be deactivated.');
  });

  it('shows the groups a change of groups leaves', () => {
    const shown = preview(keys, 'groups', { add: ['timing'], remove: ['gates'] });
    expect(shown.groups).toEqual(['readers', 'timing']);
    expect(shown.unchanged).toBe(0);
    expect(preview([], 'delete').lastUsed).toBeNull();
  });
});
