// The review of expiring and stale keys, as the core counts them (review.rs): a key a roll
// replaced is never in a review; an expiring key expires within the warning period and has
// not yet; an unused key was last used (never used: created) that many days ago or more.
// And how a key a roll replaced reads in the table: "rolling out, ends in 3 h".
import type { IndexedKey } from '../keys/filter';

export const UNUSED_DAYS = 90;
const DAY = 86_400_000;

export type ReviewFilter = { kind: 'expiring'; days: number } | { kind: 'unused'; days: number };

/** The keys of `rows` a review filter shows (all of them without one), in the order given. */
export function reviewKeys(rows: readonly IndexedKey[], review: ReviewFilter | null, now = Date.now()): IndexedKey[] {
  if (review === null) return rows.slice();
  const window = review.days * DAY;
  return rows.filter((entry) => {
    if (entry.key.replaced_by) return false;
    if (review.kind === 'expiring') return entry.expiresMs > now && entry.expiresMs <= now + window;
    const since = entry.lastUsedMs === -Infinity ? entry.createdMs : entry.lastUsedMs;
    return since <= now - window;
  });
}

/** "14 d", "3 h", "25 min", "40 s": how long until `ms` from `now`, in its largest unit. */
export function within(ms: number): string {
  const seconds = Math.max(Math.round(ms / 1000), 0);
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)} d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min`;
  return `${seconds} s`;
}

/**
 * How a key a roll replaced reads in the status column: "rolling out, ends in 3 h" while it
 * still works, "replaced" once its grace ended; null for any other key.
 */
export function rollingOut(entry: IndexedKey, now = Date.now()): string | null {
  if (!entry.key.replaced_by) return null;
  return entry.expiresMs > now ? `rolling out, ends in ${within(entry.expiresMs - now)}` : 'replaced';
}

/** "3 keys expire within 14 days" / "1 key unused for 90 days" */
export function reviewLabel(kind: ReviewFilter['kind'], count: number, days: number): string {
  const keys = count === 1 ? '1 key' : `${count} keys`;
  return kind === 'expiring'
    ? `${keys} ${count === 1 ? 'expires' : 'expire'} within ${days} days`
    : `${keys} unused for ${days} days`;
}

/** The administrator's calendar day, YYYY-MM-DD, for the once-a-day warning. */
export function localDay(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
