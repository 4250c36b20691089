import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';

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
