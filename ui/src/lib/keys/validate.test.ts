import { describe, expect, it } from 'vitest';
import { makeKey } from '../../testing/keys';
import { descriptionProblem, keyNameProblem, limitProblem, takenNames } from './validate';

const taken = takenNames([makeKey(1, { name: 'Gate 1' }), makeKey(2, { name: 'Ärger' })]);

describe('keyNameProblem', () => {
  it('asks for a name when there is none, or only spaces', () => {
    expect(keyNameProblem('', taken)).toBe('Enter a name.');
    expect(keyNameProblem('   ', taken)).toBe('Enter a name.');
  });

  it('counts characters after trimming, up to 64', () => {
    expect(keyNameProblem('x'.repeat(64), taken)).toBeNull();
    expect(keyNameProblem(`  ${'x'.repeat(64)}  `, taken)).toBeNull();
    expect(keyNameProblem('x'.repeat(65), taken)).toBe('The name is 65 characters long; use at most 64.');
    // Characters, not UTF-16 units.
    expect(keyNameProblem('🔑'.repeat(64), taken)).toBeNull();
  });

  it('refuses control characters', () => {
    expect(keyNameProblem('gate\t1', taken)).toMatch(/control character/);
  });

  it('refuses a name already used, ignoring case and surrounding spaces', () => {
    expect(keyNameProblem(' gate 1 ', taken)).toBe('A key named “gate 1” already exists in this account.');
    expect(keyNameProblem('GATE 1', taken)).not.toBeNull();
    expect(keyNameProblem('ärger', taken)).not.toBeNull();
    expect(keyNameProblem('Gate 12', taken)).toBeNull();
  });

  it('lets a key keep its own name, in another case, when renamed', () => {
    expect(keyNameProblem('GATE 1', taken, 'Gate 1')).toBeNull();
    expect(keyNameProblem('ärger', taken, 'Gate 1')).not.toBeNull();
  });
});

describe('descriptionProblem', () => {
  it('allows up to 500 characters after trimming', () => {
    expect(descriptionProblem('')).toBeNull();
    expect(descriptionProblem('d'.repeat(500))).toBeNull();
    expect(descriptionProblem('d'.repeat(501))).toMatch(/501 characters long; use at most 500/);
  });
});

describe('limitProblem', () => {
  it('is silent below the limit and says what to do at it', () => {
    expect(limitProblem(9, 10, 'Acme')).toBeNull();
    expect(limitProblem(10, 10, 'Acme')).toBe(
      'The key limit of 10 is reached for Acme. Delete a key or raise the limit in Settings.',
    );
    expect(limitProblem(12, 10, 'Acme')).not.toBeNull();
  });
});
