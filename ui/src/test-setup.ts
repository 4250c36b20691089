import '@testing-library/jest-dom/vitest';

// jsdom lays nothing out: elements have no size, so a ResizeObserver would never report.
// Svelte's bind:clientHeight needs the constructor to exist.
class SilentResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}

globalThis.ResizeObserver ??= SilentResizeObserver;
