import { describe, expect, it } from 'vitest';
import { expiresAt, expiryProblem, localDateInput } from './expiry';

const now = new Date(2025, 5, 15, 14, 30); // 15 June 2025, 14:30 local time

describe('expiresAt', () => {
  it('sends nothing for a key that never expires', () => {
    expect(expiresAt('never', '', now)).toBeUndefined();
  });

  it('counts 30, 90 and 365 days from now', () => {
    const day = 24 * 60 * 60 * 1000;
    for (const days of ['30', '90', '365'] as const) {
      expect(Date.parse(expiresAt(days, '', now)!)).toBe(now.getTime() + Number(days) * day);
    }
  });

  it('lets a key work through the chosen day, in local time', () => {
    const end = new Date(expiresAt('date', '2025-07-01', now)!);
    expect(end.getTime()).toBe(new Date(2025, 6, 2).getTime());
    expect(expiresAt('date', '2025-07-01', now)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});

describe('expiryProblem', () => {
  it('needs a real date from today on when "on a date" is chosen', () => {
    expect(expiryProblem('never', '', now)).toBeNull();
    expect(expiryProblem('90', '', now)).toBeNull();
    expect(expiryProblem('date', '', now)).toBe('Choose the last day the key works.');
    expect(expiryProblem('date', '2025-02-30', now)).toBe('Enter a date as YYYY-MM-DD.');
    expect(expiryProblem('date', '2025-06-14', now)).toBe('Choose a date from today on.');
    expect(expiryProblem('date', '2025-06-15', now)).toBeNull();
    expect(expiryProblem('date', localDateInput(now), now)).toBeNull();
  });
});
