// Whole seconds left until `deadlineMs`, rounded up so "1 s" shows until the very end.
export function secondsLeft(deadlineMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000));
}
