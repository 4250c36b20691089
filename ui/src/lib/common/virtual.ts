// Which rows of a long list are worth rendering: those in the viewport and a couple either
// side, so scrolling 10,000 rows costs what scrolling 20 does. The web view scrolls on the
// page's thread (src-tauri/src/webview.rs), so rows are drawn in the frame that scrolls to
// them: no row off screen needs drawing ahead, and each one drawn costs every keystroke in the
// filter its style and layout.

export interface RowWindow {
  /** First rendered row (inclusive). */
  start: number;
  /** Row after the last rendered one (exclusive). */
  end: number;
  /** Height of the spacer before the first rendered row, in pixels. */
  before: number;
  /** Height of the spacer after the last rendered row, in pixels. */
  after: number;
}

/** When the viewport reports no height (hidden, or in a test DOM), render this many rows. */
export const FALLBACK_VISIBLE_ROWS = 40;

export function rowWindow(
  total: number,
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  overscan = 2,
): RowWindow {
  const visible = viewportHeight > 0 ? Math.ceil(viewportHeight / rowHeight) : FALLBACK_VISIBLE_ROWS;
  // After the list shrinks the browser clamps scrollTop only on its next scroll event.
  const maxTop = Math.max(0, total * rowHeight - viewportHeight);
  const top = Math.min(Math.max(scrollTop, 0), maxTop);
  const first = Math.floor(top / rowHeight);
  const start = Math.min(Math.max(0, first - overscan), Math.max(0, total - 1));
  const end = Math.min(total, first + visible + overscan);
  const safeStart = Math.min(start, end);
  return {
    start: safeStart,
    end,
    before: safeStart * rowHeight,
    after: (total - end) * rowHeight,
  };
}

/** The scrollTop that brings row `index` fully into view, or null when it already is. */
export function scrollToRow(
  index: number,
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (viewportHeight > 0 && bottom > scrollTop + viewportHeight) return bottom - viewportHeight;
  return null;
}
