// How times from the vault are shown: local, to the minute, and "Never" for none; or
// relative to now ("5 minutes ago") where a glance matters more than the exact time.
import { calendarDayFormat, dateFormat, dateTimeFormat, relativeTimeFormat } from './intl';

export function formatDateTime(at: string | null, whenNull = 'Never'): string {
  if (at === null) return whenNull;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : dateTimeFormat().format(date);
}

export function formatDate(at: string | null, whenNull = 'Never'): string {
  if (at === null) return whenNull;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : dateFormat().format(date);
}

/** A calendar day given as `YYYY-MM-DD`, in the admin's locale ("3 Dec 2026", "Dec 3, 2026"). */
export function formatDay(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? day : calendarDayFormat().format(date);
}

/** "just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago". */
export function formatRelative(at: string, now: number): string {
  const time = new Date(at).getTime();
  if (Number.isNaN(time)) return at;
  // A time ahead of this computer's clock (set by another machine) is "just now" too.
  const seconds = Math.round((time - now) / 1000);
  if (seconds > -60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes > -60) return relativeTimeFormat().format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (hours > -24) return relativeTimeFormat().format(hours, 'hour');
  return relativeTimeFormat().format(Math.round(hours / 24), 'day');
}

const RELATIVE_UNITS: readonly [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/**
 * A time relative to `now`, either way: "3 days ago", "yesterday", "in 5 days", "next month",
 * "just now" (within a minute). For a table read at a glance; the exact time goes beside it.
 */
export function formatRelativeTime(at: number, now: number): string {
  const seconds = (at - now) / 1000;
  const size = Math.abs(seconds);
  if (size < 60) return 'just now';
  for (const [unit, length] of RELATIVE_UNITS) {
    // Days count from 22 hours, months from 4 weeks...: as people round.
    if (size >= length * (unit === 'day' ? 22 / 24 : unit === 'month' ? 28 / 30 : 1)) {
      return relativeTimeFormat().format(Math.round(seconds / length), unit);
    }
  }
  return relativeTimeFormat().format(Math.round(seconds / 60), 'minute');
}
