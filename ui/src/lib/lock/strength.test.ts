import { describe, expect, it } from 'vitest';
import { passphraseStrength } from './strength';

describe('passphraseStrength', () => {
  it('calls anything under 8 characters too short, as the core does', () => {
    expect(passphraseStrength('Xk7#q2!').level).toBe('too-short');
    expect(passphraseStrength('').level).toBe('too-short');
  });

  it('calls common words and keyboard runs weak, however they are padded', () => {
    expect(passphraseStrength('password').level).toBe('weak');
    expect(passphraseStrength('Password1').level).toBe('weak');
    expect(passphraseStrength('qwertyuiop').level).toBe('weak');
    expect(passphraseStrength('aaaaaaaaaaaa').level).toBe('weak');
    expect(passphraseStrength('12345678').level).toBe('weak');
  });

  it('counts words as words: a few common ones are not strong', () => {
    expect(passphraseStrength('correct horse').level).toBe('weak');
    expect(passphraseStrength('correct horse battery staple').level).toBe('fair');
    expect(passphraseStrength('correct horse battery staple mango ledger').level).toBe('strong');
    expect(passphraseStrength('correct-horse-battery-staple-mango-ledger-violin').level).toBe('very-strong');
  });

  it('rises with length and variety', () => {
    const order = ['too-short', 'weak', 'fair', 'strong', 'very-strong'];
    const score = (text: string) => order.indexOf(passphraseStrength(text).level);
    expect(score('correct horse battery staple')).toBeGreaterThan(score('correct horse'));
    expect(score('xK9#mQ2$vL7@')).toBeGreaterThan(score('abcdefgh'));
    expect(passphraseStrength('Tr0ub4dor&3 sailing 9 otters').level).toBe('very-strong');
  });

  it('gives a score for the meter and advice to act on', () => {
    const strength = passphraseStrength('correct horse');
    expect(strength.score).toBeGreaterThanOrEqual(1);
    expect(strength.score).toBeLessThanOrEqual(4);
    expect(strength.advice).not.toBe('');
  });
});
