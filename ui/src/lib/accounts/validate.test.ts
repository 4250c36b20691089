import { describe, expect, it } from 'vitest';
import type { Account } from '../../backend/ipc';
import { accountNameProblem, parseKeyLimit, prefixProblem } from './validate';

const acme: Account = {
  id: 'acc-1',
  name: 'Acme',
  prefix: 'kw',
  key_limit: 10,
  key_count: 0,
  resources: ['devices'],
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
};

describe('account rules', () => {
  it('need a unique name of at most 64 characters', () => {
    expect(accountNameProblem(' ', [acme])).toBe('Enter a name.');
    expect(accountNameProblem('ACME ', [acme])).toBe('An account named “Acme” already exists.');
    expect(accountNameProblem('ACME', [acme], acme.id)).toBeNull();
    expect(accountNameProblem('a'.repeat(65), [])).toMatch(/at most 64/);
  });

  it('take a prefix of 2 to 12 lower-case letters or digits, or none', () => {
    expect(prefixProblem('')).toBeNull();
    expect(prefixProblem('acme2')).toBeNull();
    for (const bad of ['k', 'KW', 'k_w', 'abcdefghijklm']) expect(prefixProblem(bad)).not.toBeNull();
  });

  it('take a whole key limit from 1 to 1,000,000', () => {
    expect(parseKeyLimit('10')).toEqual({ limit: 10 });
    expect(parseKeyLimit(' 1000000 ')).toEqual({ limit: 1_000_000 });
    expect(parseKeyLimit('')).toEqual({ problem: 'Enter a key limit.' });
    expect(parseKeyLimit('2.5')).toEqual({ problem: 'Enter a whole number.' });
    expect(parseKeyLimit('0')).toEqual({ problem: 'Use a number from 1 to 1,000,000.' });
    expect(parseKeyLimit('1000001')).toEqual({ problem: 'Use a number from 1 to 1,000,000.' });
  });
});
