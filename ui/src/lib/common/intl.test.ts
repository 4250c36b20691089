import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeKey } from '../../testing/keys';

// The first Intl object a page makes loads ICU's data: no module may make one when the bundle
// loads, and every use after the first takes the same objects.

const real = {
  DateTimeFormat: Intl.DateTimeFormat,
  RelativeTimeFormat: Intl.RelativeTimeFormat,
  Collator: Intl.Collator,
};
let made: Record<keyof typeof real, number>;

beforeEach(() => {
  made = { DateTimeFormat: 0, RelativeTimeFormat: 0, Collator: 0 };
  Object.assign(Intl, {
    DateTimeFormat: class extends real.DateTimeFormat {
      constructor(...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
        super(...args);
        made.DateTimeFormat += 1;
      }
    },
    RelativeTimeFormat: class extends real.RelativeTimeFormat {
      constructor(...args: ConstructorParameters<typeof Intl.RelativeTimeFormat>) {
        super(...args);
        made.RelativeTimeFormat += 1;
      }
    },
    Collator: class extends real.Collator {
      constructor(...args: ConstructorParameters<typeof Intl.Collator>) {
        super(...args);
        made.Collator += 1;
      }
    },
  });
  vi.resetModules();
});

afterEach(() => {
  Object.assign(Intl, real);
});

describe("the page's Intl objects", () => {
  it('are not made when the app and its modules load', async () => {
    await import('../../App.svelte');
    await import('./dates');
    await import('../keys/filter');
    expect(made).toEqual({ DateTimeFormat: 0, RelativeTimeFormat: 0, Collator: 0 });
  });

  it('are made once, on first use, and kept', async () => {
    const { formatDateTime, formatRelativeTime } = await import('./dates');
    const { DEFAULT_SORT, indexKeys, sortKeys } = await import('../keys/filter');
    const keys = indexKeys([makeKey(10), makeKey(2)]);
    // One key is in order already: nothing is compared, no collator made.
    expect(sortKeys(keys.slice(0, 1), DEFAULT_SORT)).toEqual(keys.slice(0, 1));
    expect(made.Collator).toBe(0);
    for (let round = 0; round < 2; round++) {
      expect(formatDateTime('2026-12-01T12:00:00Z')).toMatch(/2026/);
      expect(formatRelativeTime(Date.now() - 3 * 86_400_000, Date.now())).toBe('3 days ago');
      expect(sortKeys(keys, DEFAULT_SORT).map((entry) => entry.key.name)).toEqual(['key-2', 'key-10']);
    }
    expect(made).toEqual({ DateTimeFormat: 1, RelativeTimeFormat: 1, Collator: 1 });
  });
});
