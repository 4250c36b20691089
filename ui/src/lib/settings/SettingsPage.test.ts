import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import SettingsPage from './SettingsPage.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import { makeAccount } from '../../testing/accounts';

const PASSPHRASE = 'correct horse battery';

function setup() {
  const backend = new FakeBackend({ passphrase: PASSPHRASE, unlocked: true });
  backend.addAccount('Acme');
  backend.install();
  const onAccountSaved = vi.fn();
  const account = makeAccount({ key_count: 4 });
  render(SettingsPage, { account, accounts: [account, makeAccount({ id: 'acc-2', name: 'Globex' })], onAccountSaved });
  return { backend, onAccountSaved, user: userEvent.setup() };
}

const section = (name: string) => screen.getByRole('region', { name });

describe('account settings', () => {
  it('saves only what changed, after checking it', async () => {
    const { backend, user, onAccountSaved } = setup();
    const account = section('Account');
    const save = within(account).getByRole('button', { name: 'Save account' });
    expect(save).toBeDisabled();

    const prefix = within(account).getByLabelText('Key prefix');
    await user.clear(prefix);
    await user.type(prefix, 'AC');
    expect(within(account).getByText(/lower-case letters or digits/)).toBeInTheDocument();
    expect(save).toBeDisabled();
    await user.clear(prefix);
    await user.type(prefix, 'acme');

    const limit = within(account).getByLabelText('Key limit');
    await user.clear(limit);
    await user.type(limit, '3');
    expect(within(account).getByText(/The account holds 4 keys/)).toBeInTheDocument();
    await user.clear(limit);
    await user.type(limit, '50');

    const name = within(account).getByLabelText('Account name');
    await user.clear(name);
    await user.type(name, 'globex');
    expect(within(account).getByText('An account named “Globex” already exists.')).toBeInTheDocument();
    expect(name).toHaveAccessibleDescription('An account named “Globex” already exists.');
    await user.clear(name);
    await user.type(name, 'Acme');

    await user.click(save);
    expect(backend.argsOf('update_account')).toEqual([{ name: 'Acme', prefix: 'acme', keyLimit: 50 }]);
    expect(onAccountSaved).toHaveBeenCalledWith(expect.objectContaining({ prefix: 'acme', key_limit: 50 }));
  });
});

describe('the shared secret', () => {
  it('is revealed only after the passphrase, and a wrong one says so', async () => {
    const { user } = setup();
    const secret = section('Shared secret');
    const reveal = within(secret).getByRole('button', { name: 'Reveal' });
    expect(reveal).toBeDisabled();
    expect(screen.queryByText('shared-secret-of-Acme')).toBeNull();

    await user.type(within(secret).getByLabelText('Passphrase'), 'wrong one');
    await user.click(reveal);
    expect(await within(secret).findByRole('alert')).toHaveTextContent('Wrong passphrase.');
    expect(within(secret).queryByLabelText('Shared secret of Acme')).toBeNull();

    await user.clear(within(secret).getByLabelText('Passphrase'));
    await user.type(within(secret).getByLabelText('Passphrase'), `${PASSPHRASE}{Enter}`);
    expect(await within(secret).findByLabelText('Shared secret of Acme')).toHaveValue('shared-secret-of-Acme');
    expect(within(secret).getByLabelText('Passphrase')).toHaveValue('');

    await user.click(within(secret).getByRole('button', { name: 'Hide' }));
    expect(within(secret).queryByLabelText('Shared secret of Acme')).toBeNull();
  });

  it('is copied by the backend, with the countdown', async () => {
    const { backend, user } = setup();
    const secret = section('Shared secret');
    await user.type(within(secret).getByLabelText('Passphrase'), PASSPHRASE);
    await user.click(within(secret).getByRole('button', { name: 'Copy' }));
    expect(await within(secret).findByText('Copied. Clipboard clears in 30 s')).toBeInTheDocument();
    expect(backend.clipboard).toBe('shared-secret-of-Acme');
  });

  it('is rotated only after a confirmation', async () => {
    const { backend, user } = setup();
    await user.click(within(section('Shared secret')).getByRole('button', { name: 'Rotate…' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Rotate the shared secret?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(backend.commands()).not.toContain('rotate_shared_secret');

    await user.click(within(section('Shared secret')).getByRole('button', { name: 'Rotate…' }));
    await user.click(screen.getByRole('button', { name: 'Rotate secret' }));
    expect(await screen.findByText(/A new shared secret was generated/)).toBeInTheDocument();
    expect(backend.argsOf('rotate_shared_secret')).toEqual([{ account: 'Acme' }]);
    expect(screen.queryByRole('alertdialog')).toBeNull();
  });
});

describe('clipboard and auto-lock', () => {
  it('loads, checks the bounds and saves the delays', async () => {
    const { backend, user } = setup();
    const preferences = section('Clipboard and auto-lock');
    const clear = within(preferences).getByLabelText('Clear the clipboard after (seconds)');
    await vi.waitFor(() => expect(clear).toHaveValue('30'));
    const lock = within(preferences).getByLabelText('Lock after being idle for (minutes)');
    expect(lock).toHaveValue('5');
    const save = within(preferences).getByRole('button', { name: 'Save preferences' });
    expect(save).toBeDisabled();

    await user.clear(clear);
    await user.type(clear, '4');
    expect(within(preferences).getByText('Use a number from 5 to 600.')).toBeInTheDocument();
    expect(save).toBeDisabled();
    await user.clear(clear);
    await user.type(clear, '10');
    await user.clear(lock);
    await user.type(lock, '15');
    await user.click(save);
    expect(await within(preferences).findByText('Saved.')).toBeInTheDocument();
    expect(backend.settings).toEqual({ clipboard_clear_seconds: 10, auto_lock_minutes: 15, expiry_warning_days: 14 });
  });
});

describe('sync', () => {
  it('is off for an account with no remote, next to the other settings', async () => {
    const { backend } = setup();
    const sync = section('Sync');
    expect(await within(sync).findByText(/Sync is off for Acme/)).toBeInTheDocument();
    expect(within(sync).getByRole('button', { name: 'Sync now' })).toBeDisabled();
    expect(backend.argsOf('sync_status')).toEqual([{ account: 'Acme' }]);
  });
});

describe('settings changed outside this window', () => {
  function setupOutside() {
    const backend = new FakeBackend({ passphrase: PASSPHRASE, unlocked: true });
    backend.addAccount('Acme');
    backend.install();
    const account = makeAccount({ key_count: 4 });
    const props = { account, accounts: [account], onAccountSaved: vi.fn(), outside: 0 };
    const view = render(SettingsPage, props);
    return { backend, view, props, user: userEvent.setup() };
  }

  it('shows an account changed elsewhere in the fields the admin has not touched', async () => {
    const { view, props, user } = setupOutside();
    const account = section('Account');
    await user.clear(within(account).getByLabelText('Key prefix'));
    await user.type(within(account).getByLabelText('Key prefix'), 'mine');
    const changed = { ...props.account, name: 'Acme Timing', prefix: 'at', key_limit: 40 };
    await view.rerender({ ...props, account: changed, accounts: [changed] });
    expect(within(account).getByLabelText('Account name')).toHaveValue('Acme Timing');
    expect(within(account).getByLabelText('Key limit')).toHaveValue('40');
    expect(within(account).getByLabelText('Key prefix')).toHaveValue('mine');
  });

  it('reads the preferences again, leaving alone the one being edited', async () => {
    const { backend, view, props, user } = setupOutside();
    const preferences = section('Clipboard and auto-lock');
    const clear = within(preferences).getByLabelText('Clear the clipboard after (seconds)');
    const lock = within(preferences).getByLabelText('Lock after being idle for (minutes)');
    await vi.waitFor(() => expect(clear).toHaveValue('30'));
    await user.clear(lock);
    await user.type(lock, '9');
    backend.settings = { clipboard_clear_seconds: 12, auto_lock_minutes: 15, expiry_warning_days: 14 };
    await view.rerender({ ...props, outside: 1 });
    await vi.waitFor(() => expect(clear).toHaveValue('12'));
    expect(lock).toHaveValue('9');
    // Saving sends the admin's edit over what the other window saved.
    await user.click(within(preferences).getByRole('button', { name: 'Save preferences' }));
    await vi.waitFor(() =>
      expect(backend.argsOf('update_settings').at(-1)).toEqual({
        settings: { clipboard_clear_seconds: 12, auto_lock_minutes: 9, expiry_warning_days: 14 },
      }),
    );
  });
});
