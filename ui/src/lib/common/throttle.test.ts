import { describe, expect, it } from 'vitest';
import { throttle } from './throttle';
import { secondsLeft } from './countdown';

describe('throttle', () => {
  it('lets the first call through and drops the rest of the interval', () => {
    let now = 1_000;
    let calls = 0;
    const touch = throttle(() => calls++, 10_000, () => now);
    touch();
    touch();
    now += 9_999;
    touch();
    expect(calls).toBe(1);
    now += 1;
    touch();
    touch();
    expect(calls).toBe(2);
  });
});

describe('secondsLeft', () => {
  it('rounds up, and never goes below zero', () => {
    expect(secondsLeft(30_000, 0)).toBe(30);
    expect(secondsLeft(30_000, 2_100)).toBe(28);
    expect(secondsLeft(30_000, 29_999)).toBe(1);
    expect(secondsLeft(30_000, 30_000)).toBe(0);
    expect(secondsLeft(30_000, 45_000)).toBe(0);
  });
});
