// How times from the vault are shown: local, to the minute, and "Never" for none.

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
