// The app's keyboard shortcuts: one list for the handler, the visible list (the "Keyboard
// shortcuts" dialog) and the `aria-keyshortcuts` of the controls they stand for.

export type ShortcutId = 'add-key' | 'filter' | 'lock' | 'settings' | 'rename' | 'delete';

export interface Shortcut {
  id: ShortcutId;
  /** As the list shows it. */
  keys: string;
  /** As `aria-keyshortcuts` names it. */
  aria: string;
  label: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { id: 'add-key', keys: 'Ctrl+N', aria: 'Control+N', label: 'Add an API key' },
  { id: 'filter', keys: 'Ctrl+F', aria: 'Control+F', label: 'Filter the keys' },
  { id: 'lock', keys: 'Ctrl+L', aria: 'Control+L', label: 'Lock the vault' },
  { id: 'settings', keys: 'Ctrl+,', aria: 'Control+,', label: 'Open the settings' },
  { id: 'rename', keys: 'F2', aria: 'F2', label: 'Rename the selected key' },
  { id: 'delete', keys: 'Delete', aria: 'Delete', label: 'Delete the selected key (after a confirmation)' },
];

export function ariaKeys(id: ShortcutId): string {
  return SHORTCUTS.find((shortcut) => shortcut.id === id)?.aria ?? '';
}

const WITH_CONTROL: Record<string, ShortcutId> = { n: 'add-key', f: 'filter', l: 'lock', ',': 'settings' };

/** The shortcut `event` presses, if any (Ctrl, or ⌘ on a Mac, for the letter ones). */
export function shortcutOf(event: KeyboardEvent): ShortcutId | null {
  if (event.altKey || event.shiftKey) return null;
  const control = event.ctrlKey || event.metaKey;
  if (control) return WITH_CONTROL[event.key.toLowerCase()] ?? null;
  if (event.key === 'F2') return 'rename';
  if (event.key === 'Delete') return 'delete';
  return null;
}

/** Whether keys typed at `target` are text (Delete there deletes a character, not a key). */
export function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}
