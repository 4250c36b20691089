// The days the admin picks on the audit page (YYYY-MM-DD from date fields, days of their own
// time zone, either end left open) as the time range the backend filters by.

export interface TimeRange {
  /** RFC 3339: the first moment of the first day. */
  since?: string;
  /** RFC 3339: the first moment after the last day. */
  until?: string;
}

function startOfLocalDay(day: string, plusDays = 0): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return null;
  const [, year, month, date] = match.map(Number);
  const start = new Date(year, month - 1, date + plusDays);
  return Number.isNaN(start.getTime()) ? null : start;
}

/** The range from the start of `from` to the end of `to`, or why there is none. */
export function dayRange(from: string, to: string): { range: TimeRange } | { problem: string } {
  const range: TimeRange = {};
  if (from !== '') {
    const start = startOfLocalDay(from);
    if (start === null) return { problem: 'Enter the first day as a date.' };
    range.since = start.toISOString();
  }
  if (to !== '') {
    const end = startOfLocalDay(to, 1);
    if (end === null) return { problem: 'Enter the last day as a date.' };
    range.until = end.toISOString();
  }
  if (range.since !== undefined && range.until !== undefined && range.since >= range.until) {
    return { problem: 'The last day is before the first: no entry can match.' };
  }
  return { range };
}
