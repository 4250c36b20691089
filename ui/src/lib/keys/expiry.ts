// The expiry choices of the creation dialog and the timestamp each one means.

export type ExpiryChoice = 'never' | '30' | '90' | '365' | 'date';

export const EXPIRY_CHOICES: readonly { value: ExpiryChoice; label: string }[] = [
  { value: 'never', label: 'Never' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In 365 days' },
  { value: 'date', label: 'On a date…' },
];

const DAY_MS = 24 * 60 * 60 * 1000;

/** `YYYY-MM-DD` of `date` in local time, as an `<input type="date">` holds it. */
export function localDateInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Midnight at the start of the day after `YYYY-MM-DD`, local time: the key works through that day. */
function endOfLocalDay(text: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const end = new Date(year, month - 1, day + 1);
  // Date rolls 2025-02-31 over into March; such a date was not a real one.
  const start = new Date(year, month - 1, day);
  if (start.getFullYear() !== year || start.getMonth() !== month - 1 || start.getDate() !== day) {
    return null;
  }
  return end;
}

export function expiryProblem(choice: ExpiryChoice, date: string, now: Date): string | null {
  if (choice !== 'date') return null;
  if (date === '') return 'Choose the last day the key works.';
  const end = endOfLocalDay(date);
  if (end === null) return 'Enter a date as YYYY-MM-DD.';
  if (end.getTime() <= now.getTime()) return 'Choose a date from today on.';
  return null;
}

/** The expiry to send, as RFC 3339 in UTC, or undefined for a key that never expires. */
export function expiresAt(choice: ExpiryChoice, date: string, now: Date): string | undefined {
  switch (choice) {
    case 'never':
      return undefined;
    case 'date': {
      const end = endOfLocalDay(date);
      return end === null ? undefined : end.toISOString();
    }
    default:
      return new Date(now.getTime() + Number(choice) * DAY_MS).toISOString();
  }
}
