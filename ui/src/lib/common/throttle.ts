// Calls `action` at most once per `intervalMs`: the first call goes through at once,
// calls within the interval after it are dropped (not delayed).
export function throttle(action: () => void, intervalMs: number, now: () => number = Date.now): () => void {
  let last = -Infinity;
  return () => {
    const at = now();
    if (at - last < intervalMs) return;
    last = at;
    action();
  };
}
