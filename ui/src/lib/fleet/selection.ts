// The keys table's selection of many keys: a set of ids, the anchor a Shift-click or
// Shift+arrow extends from, and the focused row the keyboard moves. Pure functions over the
// ids of the rows in view, so the table, the page and the tests share one rule.

export interface Selection {
  readonly ids: ReadonlySet<string>;
  /** Where a range starts (the last row clicked or toggled). */
  readonly anchor: string | null;
  /** The row the keyboard is on. */
  readonly focus: string | null;
}

export const NOTHING: Selection = { ids: new Set(), anchor: null, focus: null };

/** A plain click or arrow: this row alone. */
export function only(id: string): Selection {
  return { ids: new Set([id]), anchor: id, focus: id };
}

/** Ctrl-click or Space: this row in or out, the others kept. */
export function toggle(selection: Selection, id: string): Selection {
  const ids = new Set(selection.ids);
  if (ids.has(id)) ids.delete(id);
  else ids.add(id);
  return { ids, anchor: id, focus: id };
}

/** Shift-click or Shift+arrow: every row from the anchor to this one, in the order shown. */
export function extend(selection: Selection, rows: readonly string[], id: string): Selection {
  const anchor = selection.anchor !== null && rows.includes(selection.anchor) ? selection.anchor : id;
  const from = rows.indexOf(anchor);
  const to = rows.indexOf(id);
  if (to < 0) return selection;
  const [start, end] = from <= to ? [from, to] : [to, from];
  return { ids: new Set(rows.slice(start, end + 1)), anchor, focus: id };
}

/** Ctrl+A: every row the filter shows. */
export function all(rows: readonly string[], focus: string | null): Selection {
  return { ids: new Set(rows), anchor: rows[0] ?? null, focus: focus ?? rows[0] ?? null };
}

/** The selection without the ids that are gone, and which ones went. */
export function keepExisting(selection: Selection, existing: ReadonlySet<string>): { selection: Selection; gone: string[] } {
  const gone = [...selection.ids].filter((id) => !existing.has(id));
  const focusGone = selection.focus !== null && !existing.has(selection.focus);
  if (gone.length === 0 && !focusGone) return { selection, gone };
  const ids = new Set([...selection.ids].filter((id) => existing.has(id)));
  const keep = (id: string | null) => (id !== null && existing.has(id) ? id : null);
  return { selection: { ids, anchor: keep(selection.anchor), focus: keep(selection.focus) }, gone };
}
