import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import App from '../App.svelte';
import { FakeBackend } from '../testing/fake-backend';

function unlockedVault(build: (backend: FakeBackend) => void = () => undefined): FakeBackend {
  const backend = new FakeBackend({ passphrase: 'correct horse battery', unlocked: true });
  build(backend);
  return backend.install();
}

function twoAccounts(backend: FakeBackend) {
  backend.addAccount('Acme');
  backend.addAccount('Globex', { keyLimit: 25 });
  backend.addKey('Acme', 'Gate 1');
  backend.addKey('Globex', 'Forklift 7');
  backend.addKey('Globex', 'Forklift 8');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the unlocked vault', () => {
  it('asks for a first account, then shows its keys', async () => {
    const backend = unlockedVault();
    const user = userEvent.setup();
    render(App);

    expect(await screen.findByRole('heading', { name: 'Create your first account' })).toBeInTheDocument();
    await user.type(screen.getByLabelText('Name'), 'Acme Timing');
    await user.type(screen.getByLabelText('Key prefix'), 'acme');
    await user.clear(screen.getByLabelText('Key limit'));
    await user.type(screen.getByLabelText('Key limit'), '50');
    await user.click(screen.getByRole('button', { name: 'Create account' }));

    expect(await screen.findByRole('heading', { name: 'API keys' })).toBeInTheDocument();
    expect(await screen.findByText('Showing 0 of 0 keys · limit 50')).toBeInTheDocument();
    expect(backend.argsOf('create_account')).toEqual([{ name: 'Acme Timing', prefix: 'acme', keyLimit: 50 }]);
    expect(screen.getByLabelText('Account')).toHaveValue('Acme Timing');
    expect(screen.getByTestId('account-count')).toHaveTextContent('1');
  });

  it('switches between accounts and their keys', async () => {
    unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);

    expect(await screen.findByRole('gridcell', { name: 'Gate 1' })).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Account'), 'Globex');
    expect(await screen.findByRole('gridcell', { name: 'Forklift 7' })).toBeInTheDocument();
    expect(screen.queryByRole('gridcell', { name: 'Gate 1' })).toBeNull();
    expect(screen.getByText('Showing 2 of 2 keys · limit 25')).toBeInTheDocument();
  });

  it('creates another account from the header', async () => {
    const backend = unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByRole('button', { name: 'New account' }));
    const dialog = screen.getByRole('dialog', { name: 'New account' });
    await user.type(within(dialog).getByLabelText('Name'), 'acme');
    expect(within(dialog).getByText('An account named “Acme” already exists.')).toBeInTheDocument();
    await user.type(within(dialog).getByLabelText('Name'), ' Labs{Enter}');
    await vi.waitFor(() => expect(screen.getByLabelText('Account')).toHaveValue('acme Labs'));
    expect(backend.accounts.map((account) => account.name)).toEqual(['Acme', 'Globex', 'acme Labs']);
  });

  it('moves between the pages of the account', async () => {
    unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);

    const pages = await screen.findByRole('navigation', { name: 'Pages' });
    await user.click(within(pages).getByRole('button', { name: 'Groups' }));
    expect(await screen.findByRole('heading', { name: 'Groups', level: 1 })).toBeInTheDocument();
    expect(within(pages).getByRole('button', { name: 'Groups' })).toHaveAttribute('aria-current', 'page');
    await user.click(within(pages).getByRole('button', { name: 'Settings' }));
    expect(await screen.findByRole('heading', { name: 'Settings', level: 1 })).toBeInTheDocument();
    await user.click(within(pages).getByRole('button', { name: 'Audit log' }));
    expect(await screen.findByRole('heading', { name: 'Audit log', level: 1 })).toBeInTheDocument();
  });
});

describe('the sync status in the header', () => {
  it('says sync is off for an account with no remote, and leads to the sync settings', async () => {
    unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByRole('button', { name: 'Sync status: Sync off' }));
    expect(await screen.findByRole('heading', { name: 'Settings', level: 1 })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Sync', level: 2 })).toHaveFocus();
    const pages = screen.getByRole('navigation', { name: 'Pages' });
    expect(within(pages).getByRole('button', { name: 'Settings' })).toHaveAttribute('aria-current', 'page');
  });

  it('counts a change made in the keys table, and follows the account switcher', async () => {
    const backend = unlockedVault((fake) => {
      twoAccounts(fake);
      fake.setRemote('Acme');
      fake.syncOf('Acme').pending = 0;
    });
    const user = userEvent.setup();
    render(App);

    expect(await screen.findByRole('button', { name: 'Sync status: Not synced yet' })).toBeInTheDocument();
    await user.click(screen.getByRole('gridcell', { name: 'Gate 1' }));
    await user.click(screen.getByRole('button', { name: 'Deactivate' }));
    await user.click(screen.getByRole('button', { name: 'Deactivate key' }));
    expect(await screen.findByRole('button', { name: 'Sync status: 1 change pending' })).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText('Account'), 'Globex');
    expect(await screen.findByRole('button', { name: 'Sync status: Sync off' })).toBeInTheDocument();
    expect(backend.argsOf('sync_status').at(-1)).toEqual({ account: 'Globex' });
  });

  it('shows a sync started from the settings while the admin is back on the keys', async () => {
    const backend = unlockedVault((fake) => {
      twoAccounts(fake);
      fake.setRemote('Acme');
    });
    let release!: () => void;
    backend.syncGate = new Promise((resolve) => (release = resolve));
    const user = userEvent.setup();
    render(App);

    await user.click(await screen.findByRole('button', { name: /^Sync status: / }));
    await user.click(await screen.findByRole('button', { name: 'Sync now' }));
    expect(await screen.findByRole('button', { name: 'Sync status: Syncing…' })).toBeInTheDocument();
    await user.click(within(screen.getByRole('navigation', { name: 'Pages' })).getByRole('button', { name: 'Keys' }));
    expect(await screen.findByRole('gridcell', { name: 'Gate 1' })).toBeInTheDocument();

    release();
    expect(await screen.findByRole('button', { name: 'Sync status: Synced just now' })).toBeInTheDocument();
  });
});

describe('after a sync', () => {
  it('reads the vault again, so what the sync brought shows', async () => {
    const backend = unlockedVault((fake) => {
      twoAccounts(fake);
      fake.setRemote('Acme');
    });
    render(App);
    await screen.findByRole('gridcell', { name: 'Gate 1' });
    const before = Number(screen.getByTestId('key-count').textContent);

    // Another desktop's key, as a pull would have applied it.
    backend.addKey('Acme', 'Pulled gate');
    await backend.emit('sync-status', { ...backend.syncStatus('Acme'), syncing: true });
    expect(screen.getByTestId('key-count').textContent).toBe(String(before));
    await backend.emit('sync-status', {
      ...backend.syncStatus('Acme'),
      last_report: { pushed: 0, pulled: 1, conflicts: [] },
    });

    await waitFor(() => expect(screen.getByTestId('key-count').textContent).toBe(String(before + 1)));
    expect(await screen.findByRole('gridcell', { name: 'Pulled gate' })).toBeInTheDocument();
  });
});

describe('locking', () => {
  it('follows changes another process made to the vault: keys, counts, a renamed account, the audit log', async () => {
    const backend = unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);
    expect(await screen.findByRole('gridcell', { name: 'Gate 1' })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('key-count')).toHaveTextContent('3'));

    // Another window synced: the sync indicator reads its status again.
    await waitFor(() => expect(screen.getByRole('button', { name: /^Sync status:/ })).toHaveTextContent('Sync off'));
    backend.setRemote('Acme');
    backend.syncOf('Acme').lastSyncAt = new Date().toISOString();
    await backend.changeOutside((b) => {
      b.addKey('Acme', 'made by cli');
    });
    expect(await screen.findByRole('gridcell', { name: 'made by cli' })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('key-count')).toHaveTextContent('4'));
    await waitFor(() => expect(screen.getByRole('button', { name: /^Sync status:/ })).toHaveTextContent('Synced'));

    // Renamed in another window: the workspace stays on the same account (not the first).
    await user.selectOptions(screen.getByLabelText('Account'), 'Globex');
    expect(await screen.findByRole('gridcell', { name: 'Forklift 7' })).toBeInTheDocument();
    await backend.changeOutside((b) => {
      b.accounts.find((account) => account.name === 'Globex')!.name = 'Globex Logistics';
      for (const key of b.keys) if (key.account === 'Globex') key.account = 'Globex Logistics';
    });
    await waitFor(() => expect(screen.getByLabelText('Account')).toHaveValue('Globex Logistics'));
    expect(screen.getByRole('gridcell', { name: 'Forklift 7' })).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Audit log' }));
    await screen.findByRole('table', { name: 'Audit log entries' });
    const before = backend.argsOf('list_audit').length;
    await backend.changeOutside((b) => {
      b.audit.push({
        seq: b.audit.length + 1,
        at: new Date().toISOString(),
        actor: 'e2e-cli',
        action: 'key.delete',
        account: 'Acme',
        target_id: 'key-x',
        target_name: 'made by cli',
        details: {},
        lines: [],
      });
    });
    await waitFor(() => expect(backend.argsOf('list_audit').length).toBeGreaterThan(before));
    expect(await screen.findByRole('cell', { name: 'e2e-cli' })).toBeInTheDocument();
  });

  it('goes back to the lock screen when the backend locks after idle, and says why', async () => {
    const backend = unlockedVault(twoAccounts);
    render(App);
    await screen.findByRole('gridcell', { name: 'Gate 1' });

    backend.unlocked = false;
    await backend.emit('vault-locked', { reason: 'idle' });

    expect(await screen.findByRole('button', { name: 'Unlock' })).toBeInTheDocument();
    expect(screen.getByText('The vault locked itself after a while without activity.')).toBeInTheDocument();
    expect(screen.queryByRole('gridcell', { name: 'Gate 1' })).toBeNull();
  });

  it('goes back to the lock screen when a command finds the vault locked', async () => {
    const backend = unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);
    await screen.findByRole('gridcell', { name: 'Gate 1' });

    await user.click(screen.getByRole('gridcell', { name: 'Gate 1' }));
    await user.click(screen.getByRole('button', { name: 'Deactivate' }));
    backend.unlocked = false; // locked behind the window's back, the event lost
    await user.click(screen.getByRole('button', { name: 'Deactivate key' }));
    expect(await screen.findByRole('button', { name: 'Unlock' })).toBeInTheDocument();
    expect(backend.keys.find((key) => key.name === 'Gate 1')?.status).toBe('active');
  });

  it('drops a key on display when the vault locks underneath it', async () => {
    const backend = unlockedVault(twoAccounts);
    const user = userEvent.setup();
    render(App);
    await user.click(await screen.findByRole('button', { name: 'Add API key' }));
    await user.type(screen.getByLabelText('Name'), 'Gate 2{Enter}');
    const secret = ((await screen.findByLabelText('API key')) as HTMLInputElement).value;

    backend.unlocked = false;
    await backend.emit('vault-locked', { reason: 'idle' });
    await screen.findByRole('button', { name: 'Unlock' });
    expect(document.body.innerHTML).not.toContain(secret);
    expect(backend.commands()).toContain('forget_created_key');
  });

  it('reports activity to the backend at most every 10 seconds', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const backend = unlockedVault(twoAccounts);
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    render(App);
    const filter = await screen.findByLabelText('Filter');

    await user.type(filter, 'gate');
    await user.click(filter);
    expect(backend.commands().filter((command) => command === 'touch')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    await user.type(filter, ' 1');
    expect(backend.commands().filter((command) => command === 'touch')).toHaveLength(2);
  });
});
