import { describe, expect, it } from 'vitest';
import { formatRelativeTime } from './dates';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('relative times', () => {
  it('read both ways, in the unit people round to', () => {
    expect(formatRelativeTime(NOW - 20_000, NOW)).toBe('just now');
    expect(formatRelativeTime(NOW - 5 * MINUTE, NOW)).toBe('5 minutes ago');
    expect(formatRelativeTime(NOW - 3 * 60 * MINUTE, NOW)).toBe('3 hours ago');
    expect(formatRelativeTime(NOW - DAY, NOW)).toBe('yesterday');
    expect(formatRelativeTime(NOW - 3 * DAY, NOW)).toBe('3 days ago');
    expect(formatRelativeTime(NOW + 5 * DAY, NOW)).toBe('in 5 days');
    expect(formatRelativeTime(NOW + DAY, NOW)).toBe('tomorrow');
    expect(formatRelativeTime(NOW - 14 * DAY, NOW)).toBe('2 weeks ago');
    expect(formatRelativeTime(NOW - 90 * DAY, NOW)).toBe('3 months ago');
    expect(formatRelativeTime(NOW + 400 * DAY, NOW)).toBe('next year');
  });
});
