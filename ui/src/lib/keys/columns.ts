// The keys table's columns as the admin arranged them: their widths and which are hidden,
// remembered in this window's local storage (a preference of this computer, not the vault's).
import { KEY_COLUMNS, type KeyColumn } from './filter';

export interface ColumnLayout {
  widths: Record<KeyColumn, number>;
  hidden: readonly KeyColumn[];
}

/** Wide enough at 1280 px for every column's usual content, the name taking the rest. */
export const DEFAULT_WIDTHS: Readonly<Record<KeyColumn, number>> = {
  name: 200,
  status: 90,
  key: 170,
  access: 110,
  allow_unbind: 104,
  groups: 120,
  created: 108,
  created_by: 100,
  last_used: 122,
  expires: 108,
};

export const MIN_WIDTH = 56;
export const MAX_WIDTH = 800;
/** The name identifies the row: it can be narrowed, never hidden. */
export const ALWAYS_SHOWN: KeyColumn = 'name';
const STORAGE_KEY = 'keyward.keys.columns';

export function defaultLayout(): ColumnLayout {
  return { widths: { ...DEFAULT_WIDTHS }, hidden: [] };
}

function clampWidth(width: number): number {
  return Math.round(Math.min(Math.max(width, MIN_WIDTH), MAX_WIDTH));
}

/** The remembered layout; anything unreadable or unknown falls back to the defaults. */
export function loadLayout(storage: Storage | undefined = globalThis.localStorage): ColumnLayout {
  const layout = defaultLayout();
  try {
    const saved = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null') as Partial<{
      widths: Record<string, unknown>;
      hidden: unknown[];
    }> | null;
    for (const { id } of KEY_COLUMNS) {
      const width = saved?.widths?.[id];
      if (typeof width === 'number' && Number.isFinite(width)) layout.widths[id] = clampWidth(width);
    }
    const known = new Set<string>(KEY_COLUMNS.map((column) => column.id));
    layout.hidden = (saved?.hidden ?? []).filter(
      (id): id is KeyColumn => typeof id === 'string' && known.has(id) && id !== ALWAYS_SHOWN,
    );
  } catch {
    // A damaged entry is forgotten.
  }
  return layout;
}

export function saveLayout(layout: ColumnLayout, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(layout));
  } catch {
    // Storage full or unavailable: the layout lasts this session only.
  }
}

export function withWidth(layout: ColumnLayout, column: KeyColumn, width: number): ColumnLayout {
  return { ...layout, widths: { ...layout.widths, [column]: clampWidth(width) } };
}

export function withShown(layout: ColumnLayout, column: KeyColumn, shown: boolean): ColumnLayout {
  if (column === ALWAYS_SHOWN) return layout;
  const hidden = layout.hidden.filter((id) => id !== column);
  return { ...layout, hidden: shown ? hidden : [...hidden, column] };
}

/** The table's full width: every shown column's. */
export function totalWidth(layout: ColumnLayout): number {
  return KEY_COLUMNS.filter(({ id }) => !layout.hidden.includes(id)).reduce(
    (sum, { id }) => sum + layout.widths[id],
    0,
  );
}
