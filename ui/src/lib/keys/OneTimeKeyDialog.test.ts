import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import OneTimeKeyDialog from './OneTimeKeyDialog.svelte';
import { FakeBackend } from '../../testing/fake-backend';

const SECRET = 'kw_4fQe9ZkR2mXw7PbT1sLc8VdYh3NaGjU6oEiK0rBtWq5e2Zx1';

function setup() {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  const key = backend.addKey('Acme', 'Gate 1');
  backend.createdSecrets.set(key.id, SECRET);
  backend.install();
  const onClosed = vi.fn();
  render(OneTimeKeyDialog, { keyId: key.id, keyName: key.name, secret: SECRET, onClosed });
  return { backend, key, onClosed };
}

describe('the one-time display', () => {
  let writeText: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    // The web view's clipboard must never see the key: spy on it.
    writeText = vi.fn();
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('shows the full key once, read-only and monospaced, and says it will not be shown again', () => {
    setup();
    const field = screen.getByLabelText('API key');
    expect(field).toHaveValue(SECRET);
    expect(field).toHaveAttribute('readonly');
    expect(field).toHaveClass('mono');
    expect(field).toHaveAccessibleDescription(/This key will not be shown again/);
    expect(screen.getByRole('button', { name: 'Copy to clipboard' })).toHaveFocus();
  });

  it('copies through the backend, then counts down to the clearing', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    const { backend, key } = setup();

    await user.click(screen.getByRole('button', { name: 'Copy to clipboard' }));
    expect(await screen.findByText('Copied. Clipboard clears in 30 s')).toBeInTheDocument();
    expect(backend.argsOf('copy_created_key')).toEqual([{ keyId: key.id }]);
    expect(backend.clipboard).toBe(SECRET);
    expect(writeText).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(3_000);
    expect(screen.getByText('Copied. Clipboard clears in 27 s')).toBeInTheDocument();

    await backend.emit('clipboard-cleared', { reason: 'expired' });
    expect(await screen.findByText('Clipboard cleared.')).toBeInTheDocument();
  });

  it('routes Ctrl+C in the field through the backend too', async () => {
    const user = userEvent.setup();
    const { backend } = setup();
    await user.click(screen.getByLabelText('API key'));
    await user.copy();
    expect(await screen.findByText(/Clipboard clears in/)).toBeInTheDocument();
    expect(backend.commands()).toContain('copy_created_key');
    expect(writeText).not.toHaveBeenCalled();
  });

  it('asks "You have not copied this key" before closing uncopied, on Close and on Escape', async () => {
    const user = userEvent.setup();
    const { backend, onClosed } = setup();

    await user.click(screen.getByRole('button', { name: 'Close' }));
    expect(screen.getByRole('heading', { name: 'You have not copied this key' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Back to the key' })).toHaveFocus();
    await user.click(screen.getByRole('button', { name: 'Back to the key' }));
    expect(screen.queryByText('You have not copied this key')).toBeNull();
    expect(screen.getByLabelText('API key')).toHaveValue(SECRET);

    await user.keyboard('{Escape}');
    expect(screen.getByText('You have not copied this key')).toBeInTheDocument();
    expect(onClosed).not.toHaveBeenCalled();
    expect(backend.commands()).not.toContain('forget_created_key');

    await user.click(screen.getByRole('button', { name: 'Close without copying' }));
    expect(onClosed).toHaveBeenCalledTimes(1);
    expect(backend.commands()).toContain('forget_created_key');
  });

  it('closes without asking once copied, and the backend forgets the key', async () => {
    const user = userEvent.setup();
    const { backend, key, onClosed } = setup();
    await user.click(screen.getByRole('button', { name: 'Copy to clipboard' }));
    await screen.findByText(/Clipboard clears in/);
    await user.click(screen.getByRole('button', { name: 'Done' }));
    expect(onClosed).toHaveBeenCalledTimes(1);
    expect(backend.argsOf('forget_created_key')).toEqual([{ keyId: key.id }]);
    expect(backend.createdSecrets.has(key.id)).toBe(false);
  });

  it('shows a copy failure where the admin clicked', async () => {
    const user = userEvent.setup();
    const { backend } = setup();
    backend.failures.set('copy_created_key', { kind: 'clipboard', message: 'the clipboard is not available' });
    await user.click(screen.getByRole('button', { name: 'Copy to clipboard' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('the clipboard is not available');
    expect(screen.queryByText(/Clipboard clears in/)).toBeNull();
  });
});
