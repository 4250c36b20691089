// How times from the vault are shown: local, to the minute, and "Never" for none; or
// relative to now ("5 minutes ago") where a glance matters more than the exact time.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

const dateOnly = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

export function formatDateTime(at: string | null, whenNull = 'Never'): string {
  if (at === null) return whenNull;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : dateTime.format(date);
}

export function formatDate(at: string | null, whenNull = 'Never'): string {
  if (at === null) return whenNull;
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : dateOnly.format(date);
}

// English like the rest of the UI: a relative time in another language would read oddly here.
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago". */
export function formatRelative(at: string, now: number): string {
  const time = new Date(at).getTime();
  if (Number.isNaN(time)) return at;
  // A time ahead of this computer's clock (set by another machine) is "just now" too.
  const seconds = Math.round((time - now) / 1000);
  if (seconds > -60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes > -60) return relative.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (hours > -24) return relative.format(hours, 'hour');
  return relative.format(Math.round(hours / 24), 'day');
}
