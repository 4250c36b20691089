// A rough, honest estimate of a new passphrase's strength, shown while it is typed. It
// rewards length and variety and punishes the patterns guessers try first; the core only
// enforces the minimum length.

export type StrengthLevel = 'too-short' | 'weak' | 'fair' | 'strong' | 'very-strong';

export interface Strength {
  level: StrengthLevel;
  label: string;
  /** 0–4, for the meter. */
  score: number;
  advice: string;
}

export const MIN_PASSPHRASE_CHARS = 8;

const COMMON = [
  'password', 'passwort', 'motdepasse', 'qwerty', 'azerty', 'letmein', 'welcome', 'admin',
  'keyward', 'secret', 'iloveyou', 'monkey', 'dragon', 'abc123', '123456', 'changeme',
];

const SEQUENCES = ['abcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm', '01234567890'];

function poolSize(text: string): number {
  let pool = 0;
  if (/[a-z]/.test(text)) pool += 26;
  if (/[A-Z]/.test(text)) pool += 26;
  if (/[0-9]/.test(text)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(text)) pool += 33;
  return Math.max(pool, 10);
}

/** Characters that add little: repeats of the previous one and steps along a keyboard row or the alphabet. */
function predictableChars(text: string): number {
  const lower = text.toLowerCase();
  let predictable = 0;
  for (let i = 1; i < lower.length; i++) {
    const pair = lower.slice(i - 1, i + 1);
    const repeated = lower[i] === lower[i - 1];
    const stepped = SEQUENCES.some((sequence) => sequence.includes(pair));
    if (repeated || stepped) predictable++;
  }
  return predictable;
}

/** Bits if every character were guessed on its own, less what patterns give away. */
function characterBits(passphrase: string): number {
  const chars = [...passphrase];
  let lower = passphrase.toLowerCase();
  let commonPenalty = 0;
  for (const word of COMMON) {
    if (lower.includes(word)) {
      // A dictionary word counts as a handful of bits, not as its letters.
      commonPenalty += word.length - 1;
      lower = lower.replace(word, '');
    }
  }
  const effective = Math.max(chars.length - predictableChars(passphrase) * 0.75 - commonPenalty, 1);
  return effective * Math.log2(poolSize(passphrase));
}

/** A word from a large list (7,776 words, as diceware) is worth about 12.9 bits, however long. */
const BITS_PER_WORD = Math.log2(7776);

/**
 * Bits if the passphrase is guessed word by word: lower-case words count as dictionary
 * words, anything else by its characters. Null for a single word.
 */
function wordBits(passphrase: string): number | null {
  const tokens = passphrase.split(/[\s._-]+/).filter((token) => token !== '');
  if (tokens.length < 2) return null;
  return tokens.reduce(
    (bits, token) =>
      bits + (/^[a-z]+$/.test(token) ? Math.min(BITS_PER_WORD, token.length * Math.log2(26)) : characterBits(token)),
    0,
  );
}

/** Estimated entropy in bits: the cheaper of guessing by characters and by words. */
export function entropyBits(passphrase: string): number {
  return Math.min(characterBits(passphrase), wordBits(passphrase) ?? Infinity);
}

export function passphraseStrength(passphrase: string): Strength {
  if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
    return {
      level: 'too-short',
      label: 'Too short',
      score: 0,
      advice: `Use at least ${MIN_PASSPHRASE_CHARS} characters.`,
    };
  }
  const bits = entropyBits(passphrase);
  if (bits < 40) {
    return { level: 'weak', label: 'Weak', score: 1, advice: 'Easy to guess. Add more unrelated words.' };
  }
  if (bits < 60) {
    return { level: 'fair', label: 'Fair', score: 2, advice: 'A few more words would make it much stronger.' };
  }
  if (bits < 80) {
    return { level: 'strong', label: 'Strong', score: 3, advice: 'Good. Make sure you can remember it: it cannot be recovered.' };
  }
  return { level: 'very-strong', label: 'Very strong', score: 4, advice: 'Excellent. It cannot be recovered, so keep it safe.' };
}
