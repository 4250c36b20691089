import { describe, expect, it } from 'vitest';
import { FALLBACK_VISIBLE_ROWS, rowWindow, scrollToRow } from './virtual';

describe('rowWindow', () => {
  it('renders the rows in view plus the overscan, and spacers for the rest', () => {
    // 10,000 rows of 36 px, a 360 px viewport scrolled to row 500.
    const view = rowWindow(10_000, 500 * 36, 360, 36, 8);
    expect(view).toEqual({ start: 492, end: 518, before: 492 * 36, after: (10_000 - 518) * 36 });
    // Spacers and rows always add up to the full height.
    expect(view.before + (view.end - view.start) * 36 + view.after).toBe(10_000 * 36);
  });

  it('starts at the top and stops at the bottom', () => {
    expect(rowWindow(10_000, 0, 360, 36, 8)).toMatchObject({ start: 0, end: 18, before: 0 });
    const bottom = rowWindow(10_000, 10_000 * 36, 360, 36, 8);
    expect(bottom.end).toBe(10_000);
    expect(bottom.after).toBe(0);
    expect(bottom.start).toBe(10_000 - 10 - 8);
  });

  it('clamps a scroll position left over from a longer list', () => {
    const view = rowWindow(3, 5_000, 360, 36, 8);
    expect(view).toEqual({ start: 0, end: 3, before: 0, after: 0 });
  });

  it('renders a fixed number of rows when the viewport has no height yet', () => {
    const view = rowWindow(10_000, 0, 0, 36, 8);
    expect(view.end).toBe(FALLBACK_VISIBLE_ROWS + 8);
  });

  it('renders nothing for an empty list', () => {
    expect(rowWindow(0, 0, 360, 36)).toEqual({ start: 0, end: 0, before: 0, after: 0 });
  });
});

describe('scrollToRow', () => {
  it('scrolls only when the row is out of view, by as little as needed', () => {
    expect(scrollToRow(5, 0, 360, 36)).toBeNull();
    expect(scrollToRow(10, 0, 360, 36)).toBe(11 * 36 - 360);
    expect(scrollToRow(2, 200, 360, 36)).toBe(72);
  });
});
