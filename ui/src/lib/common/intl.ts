// The page's Intl objects, each made when first used rather than when the bundle loads: the
// first Intl object a page makes loads ICU's data (6-18 ms in a fresh web view on the 2-core
// benchmark machine), which the lock screen, and a vault of one key (whose sort compares
// nothing), need not wait for.

function once<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}

/** "Dec 3, 2026, 14:05" in the admin's locale and time zone. */
export const dateTimeFormat = once(
  () =>
    new Intl.DateTimeFormat(undefined, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }),
);

export const dateFormat = once(
  () => new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' }),
);

/** A calendar day has no time zone: written as it is, wherever the admin is. */
export const calendarDayFormat = once(
  () => new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' }),
);

/** English like the rest of the UI: a relative time in another language would read oddly here. */
export const relativeTimeFormat = once(() => new Intl.RelativeTimeFormat('en', { numeric: 'auto' }));

/** The keys table's order of names: case and accents ignored, digits by value ("key-2" < "key-10"). */
export const nameCollator = once(() => new Intl.Collator(undefined, { sensitivity: 'base', numeric: true }));
