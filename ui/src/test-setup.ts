import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import { staleArgumentCalls } from './testing/fake-backend';

// jsdom lays nothing out: elements have no size, so a ResizeObserver would never report.
// Svelte's bind:clientHeight needs the constructor to exist.
class SilentResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}

globalThis.ResizeObserver ??= SilentResizeObserver;

// Unmount first: components stop their event listeners while the IPC mock still exists.
afterEach(() => {
  cleanup();
  clearMocks();
});

// The real IPC ignores an argument a command does not take; the fake refuses it, and a test
// whose UI sent one fails here even when the UI swallowed the refusal.
afterEach(() => {
  const stale = staleArgumentCalls.splice(0);
  if (stale.length > 0) throw new Error(`stale arguments sent to the backend:\n${stale.join('\n')}`);
});
