// The rules of the creation and rename forms, checked as the admin types. They mirror the
// core's (trimmed, 1–64 characters, no control characters, unique ignoring case, the key
// limit); the backend still decides, and its message is shown if it disagrees.
import type { ApiKey } from '../../backend/ipc';

export const NAME_MAX_CHARS = 64;
export const DESCRIPTION_MAX_CHARS = 500;

/** The form the core compares names in. */
export function foldName(name: string): string {
  return name.trim().toLowerCase();
}

/** Folded names of the loaded keys, for the "already used" check. */
export function takenNames(keys: readonly ApiKey[]): Set<string> {
  return new Set(keys.map((key) => foldName(key.name)));
}

function charCount(text: string): number {
  return [...text].length;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * What is wrong with `raw` as a key name, or null. `currentName` is the key's own name
 * when renaming, so keeping it (or changing its case) is not "already used".
 */
export function keyNameProblem(
  raw: string,
  taken: ReadonlySet<string>,
  currentName?: string,
): string | null {
  const name = raw.trim();
  if (name === '') return 'Enter a name.';
  const length = charCount(name);
  if (length > NAME_MAX_CHARS) {
    return `The name is ${length} characters long; use at most ${NAME_MAX_CHARS}.`;
  }
  if (CONTROL.test(name)) return 'The name contains a control character (such as a tab); remove it.';
  const folded = foldName(name);
  const own = currentName !== undefined && foldName(currentName) === folded;
  if (!own && taken.has(folded)) return `A key named “${name}” already exists in this account.`;
  return null;
}

export function descriptionProblem(raw: string): string | null {
  const length = charCount(raw.trim());
  if (length > DESCRIPTION_MAX_CHARS) {
    return `The description is ${length} characters long; use at most ${DESCRIPTION_MAX_CHARS}.`;
  }
  return null;
}

/** Why no key can be added to the account right now, or null. */
export function limitProblem(keyCount: number, keyLimit: number, account: string): string | null {
  if (keyCount < keyLimit) return null;
  return `The key limit of ${keyLimit} is reached for ${account}. Delete a key or raise the limit in Settings.`;
}
