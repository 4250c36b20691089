// Rules of the account forms (create, settings), as the core states them: a name of
// 1–64 characters, unique ignoring case; a prefix of 2–12 lower-case letters or digits;
// a key limit from 1 to 1,000,000.
import type { Account } from '../../backend/ipc';
import { NAME_MAX_CHARS, foldName } from '../keys/validate';

export const DEFAULT_PREFIX = 'kw';
export const DEFAULT_KEY_LIMIT = 10;
export const KEY_LIMIT_MAX = 1_000_000;

export function accountNameProblem(raw: string, accounts: readonly Account[], currentId?: string): string | null {
  const name = raw.trim();
  if (name === '') return 'Enter a name.';
  const length = [...name].length;
  if (length > NAME_MAX_CHARS) return `The name is ${length} characters long; use at most ${NAME_MAX_CHARS}.`;
  const clash = accounts.find((account) => account.id !== currentId && foldName(account.name) === foldName(name));
  return clash ? `An account named “${clash.name}” already exists.` : null;
}

/** An empty prefix means the default. */
export function prefixProblem(raw: string): string | null {
  const prefix = raw.trim();
  if (prefix === '') return null;
  return /^[a-z0-9]{2,12}$/.test(prefix) ? null : 'Use 2 to 12 lower-case letters or digits, like “kw”.';
}

/** The limit as a number, or the problem with what was typed. */
export function parseKeyLimit(raw: string | number): { limit: number } | { problem: string } {
  const text = String(raw).trim();
  if (text === '') return { problem: 'Enter a key limit.' };
  if (!/^\d+$/.test(text)) return { problem: 'Enter a whole number.' };
  const limit = Number(text);
  if (limit < 1 || limit > KEY_LIMIT_MAX) {
    return { problem: `Use a number from 1 to ${KEY_LIMIT_MAX.toLocaleString('en')}.` };
  }
  return { limit };
}
