import { describe, expect, it } from 'vitest';
import appCss from './app.css?raw';

// Every font family a style names that the system lacks costs WebKit a font lookup for each size
// and weight the page draws in it: on the 2-core benchmark machine the keys screen's twelve took
// 13-21 ms each with a list of five families, 2-4 ms by the generic name (BENCHMARKS.md). So the
// styles name fonts only by their generic names.
const GENERIC = new Set(['sans-serif', 'serif', 'monospace', 'inherit']);

const STYLED: Record<string, string> = {
  'app.css': appCss,
  ...(import.meta.glob('./**/*.svelte', { query: '?raw', import: 'default', eager: true }) as Record<string, string>),
};

/** The families named by `font-family` and `--mono` declarations (`var(--mono)` is not one). */
function namedFamilies(source: string): string[] {
  return [...source.matchAll(/(?:font-family|--mono)\s*:\s*([^;}]+)/g)].flatMap(([, value]) =>
    value
      .replace(/var\(--mono,?|\)/g, '')
      .split(',')
      .map((family) => family.trim())
      .filter((family) => family !== ''),
  );
}

describe('fonts', () => {
  it('are named by generic family only', () => {
    const named = Object.entries(STYLED).flatMap(([file, source]) =>
      namedFamilies(source).map((family) => `${file}: ${family}`),
    );
    expect(named).toContain('app.css: sans-serif');
    expect(named.filter((entry) => !GENERIC.has(entry.slice(entry.indexOf(': ') + 2)))).toEqual([]);
  });
});
