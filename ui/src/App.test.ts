import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import App from './App.svelte';
import { FakeBackend } from './testing/fake-backend';
import { vaultStatus } from './backend/ipc';

async function countsShown() {
  return {
    accounts: (await screen.findByTestId('account-count')).textContent?.trim(),
    keys: screen.getByTestId('key-count').textContent?.trim(),
  };
}

async function waitForCounts(accounts: string, keys: string) {
  await screen.findByText(accounts, { selector: '[data-testid="account-count"]' });
  return countsShown().then((counts) => expect(counts).toEqual({ accounts, keys }));
}

describe('creating a vault', () => {
  it('refuses two different passphrases without calling the backend', async () => {
    const backend = new FakeBackend().install();
    const user = userEvent.setup();
    render(App);

    await user.type(await screen.findByLabelText('Passphrase'), 'correct horse battery');
    await user.type(screen.getByLabelText('Repeat passphrase'), 'correct horse battery!');
    await user.click(screen.getByRole('button', { name: 'Create vault' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('The passphrases do not match');
    expect(backend.commands()).not.toContain('create_vault');
    expect(backend.passphrase).toBeUndefined();
    expect(screen.getByLabelText('Passphrase')).toHaveValue('');
  });

  it('shows the passphrase rule the backend reports', async () => {
    const backend = new FakeBackend().install();
    const user = userEvent.setup();
    render(App);

    await user.type(await screen.findByLabelText('Passphrase'), 'short');
    await user.type(screen.getByLabelText('Repeat passphrase'), 'short');
    await user.click(screen.getByRole('button', { name: 'Create vault' }));

    expect(await screen.findByRole('alert')).toHaveTextContent(
      'the passphrase is too short: use at least 8 characters',
    );
    expect(backend.commands()).toContain('create_vault');
    expect(screen.getByRole('button', { name: 'Create vault' })).toBeInTheDocument();
  });

  it('creates the vault on Enter and shows its empty counts', async () => {
    const backend = new FakeBackend().install();
    const user = userEvent.setup();
    render(App);

    expect(await screen.findByTestId('vault-path')).toHaveTextContent(backend.path);
    await user.type(screen.getByLabelText('Passphrase'), 'correct horse battery');
    await user.type(screen.getByLabelText('Repeat passphrase'), 'correct horse battery{Enter}');

    await waitForCounts('0', '0');
    expect(backend.passphrase).toBe('correct horse battery');
  });
});

describe('unlocking a vault', () => {
  it('says "wrong passphrase" and stays locked when the passphrase is wrong', async () => {
    const backend = new FakeBackend({ passphrase: 'correct horse battery' }).install();
    const user = userEvent.setup();
    render(App);

    expect(screen.queryByLabelText('Repeat passphrase')).toBeNull();
    await user.type(await screen.findByLabelText('Passphrase'), 'incorrect horse{Enter}');

    expect(await screen.findByRole('alert')).toHaveTextContent(/wrong passphrase/i);
    expect(backend.unlocked).toBe(false);
    expect(screen.getByLabelText('Passphrase')).toHaveValue('');
    expect(screen.queryByTestId('account-count')).toBeNull();
  });

  it('shows the counts of the vault once unlocked', async () => {
    const backend = new FakeBackend({ passphrase: 'correct horse battery' });
    backend.addAccount('Acme');
    backend.addAccount('Globex', { keyLimit: 20 });
    for (let n = 0; n < 17; n++) backend.addKey(n < 10 ? 'Acme' : 'Globex', `key-${n}`);
    backend.install();
    const user = userEvent.setup();
    render(App);

    await user.type(await screen.findByLabelText('Passphrase'), 'correct horse battery');
    await user.click(screen.getByRole('button', { name: 'Unlock' }));

    await waitForCounts('2', '17');
  });

  it('unlocks without a prompt when the keychain remembers the vault key', async () => {
    const backend = new FakeBackend({ passphrase: 'p', keychain: 'remembered' });
    backend.addAccount('Acme');
    for (const name of ['gate-1', 'gate-2', 'gate-3']) backend.addKey('Acme', name);
    backend.install();
    render(App);

    await waitForCounts('1', '3');
    expect(screen.queryByLabelText('Passphrase')).toBeNull();
  });

  it('takes the vault state asked before it was mounted instead of asking again', async () => {
    const backend = new FakeBackend({ passphrase: 'p', keychain: 'remembered' });
    backend.addAccount('Acme');
    backend.addKey('Acme', 'gate-1');
    backend.install();
    const firstStatus = vaultStatus();
    render(App, { props: { firstStatus } });

    await waitForCounts('1', '1');
    expect(backend.commands().filter((call) => call === 'vault_status')).toHaveLength(1);
    expect(backend.commands()).toContain('unlock_from_keychain');
  });

  it('asks for the passphrase when the keychain is unavailable', async () => {
    new FakeBackend({ passphrase: 'p', keychain: 'unavailable' }).install();
    render(App);

    expect(await screen.findByRole('button', { name: 'Unlock' })).toBeInTheDocument();
    expect(screen.queryByRole('alert')).toBeNull();
  });
});

describe('locking', () => {
  it('locks the vault and returns to the unlock prompt', async () => {
    const backend = new FakeBackend({ passphrase: 'p', keychain: 'remembered' }).install();
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByRole('button', { name: 'Lock' }));

    expect(await screen.findByRole('button', { name: 'Unlock' })).toBeInTheDocument();
    expect(backend.unlocked).toBe(false);
    expect(backend.commands().filter((call) => call === 'unlock_from_keychain')).toHaveLength(1);
    expect(screen.queryByTestId('account-count')).toBeNull();
  });
});

describe('the lock screen', () => {
  it('rates the new passphrase as it is typed, without an alert', async () => {
    new FakeBackend().install();
    const user = userEvent.setup();
    render(App);

    const passphrase = await screen.findByLabelText('Passphrase');
    await user.type(passphrase, 'short');
    expect(screen.getByText(/Strength:/)).toHaveTextContent('Strength: Too short. Use at least 8 characters.');
    await user.type(passphrase, ' and simple');
    await user.clear(passphrase);
    await user.type(passphrase, 'correct horse battery staple');
    expect(screen.getByText(/Strength:/)).toHaveTextContent('Strength: Fair.');
    await user.type(passphrase, ' mango ledger');
    expect(screen.getByText(/Strength:/)).toHaveTextContent('Strength: Strong.');
    expect(passphrase).toHaveAccessibleDescription(/Strength:/);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('offers "Remember on this computer" only when a keychain exists, and passes the choice on', async () => {
    const backend = new FakeBackend({ passphrase: 'correct horse battery' }).install();
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByLabelText('Remember on this computer'));
    await user.type(screen.getByLabelText('Passphrase'), 'correct horse battery{Enter}');
    await screen.findByRole('button', { name: 'Lock' });
    expect(backend.argsOf('unlock')).toEqual([{ passphrase: 'correct horse battery', remember: true }]);
    expect(backend.keychain).toBe('remembered');
  });

  it('hides "Remember on this computer" without a keychain', async () => {
    const backend = new FakeBackend({ passphrase: 'correct horse battery', keychain: 'unavailable' }).install();
    const user = userEvent.setup();
    render(App);

    await user.type(await screen.findByLabelText('Passphrase'), 'correct horse battery{Enter}');
    await screen.findByRole('button', { name: 'Lock' });
    expect(screen.queryByLabelText('Remember on this computer')).toBeNull();
    expect(backend.argsOf('unlock')).toEqual([{ passphrase: 'correct horse battery', remember: false }]);
    expect(backend.commands()).not.toContain('unlock_from_keychain');
  });

  it('opens the vault even when the keychain could not remember it, and says why', async () => {
    new FakeBackend({ passphrase: 'correct horse battery', rememberProblem: 'the keychain is locked' }).install();
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByLabelText('Remember on this computer'));
    await user.type(screen.getByLabelText('Passphrase'), 'correct horse battery{Enter}');
    expect(await screen.findByText(/could not remember it: the keychain is locked/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Lock' })).toBeInTheDocument();
  });
});
