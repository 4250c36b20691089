import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { tick } from 'svelte';
import SyncIndicatorHarness from '../../testing/SyncIndicatorHarness.svelte';
import { FakeBackend, type FakeSync } from '../../testing/fake-backend';
import { formatDateTime } from '../common/dates';

function setup(build: (backend: FakeBackend) => void = () => undefined) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  backend.addAccount('Globex');
  build(backend);
  backend.install();
  const onOpen = vi.fn();
  render(SyncIndicatorHarness, { onOpen });
  return { backend, onOpen, user: userEvent.setup() };
}

const indicator = () => screen.getByRole('button', { name: /^Sync status: / });

const FIVE_MINUTES_AGO = new Date(Date.now() - 5 * 60_000).toISOString();
const STATES: { state: string; sync: Partial<FakeSync> | null; name: string; title: string | null }[] = [
  { state: 'no remote', sync: null, name: 'Sync status: Sync off', title: 'No remote is set for this account' },
  { state: 'a sync running', sync: { syncing: true, pending: 2 }, name: 'Sync status: Syncing…', title: null },
  { state: 'changes waiting', sync: { pending: 3, lastSyncAt: FIVE_MINUTES_AGO }, name: 'Sync status: 3 changes pending', title: null },
  { state: 'one change waiting', sync: { pending: 1 }, name: 'Sync status: 1 change pending', title: null },
  {
    state: 'all synced',
    sync: { lastSyncAt: FIVE_MINUTES_AGO },
    name: 'Sync status: Synced 5 minutes ago',
    title: formatDateTime(FIVE_MINUTES_AGO),
  },
  {
    state: 'a failed sync',
    sync: { pending: 3, lastError: 'remote unreachable — 3 changes kept for the next sync' },
    name: 'Sync status: Sync failed',
    title: 'remote unreachable — 3 changes kept for the next sync',
  },
  { state: 'a remote never synced', sync: {}, name: 'Sync status: Not synced yet', title: null },
];

describe('the sync status indicator', () => {
  it.each(STATES)('names $state', async ({ sync, name, title }) => {
    setup((backend) => {
      if (sync) Object.assign(backend.setRemote('Acme'), sync);
    });
    const button = await screen.findByRole('button', { name });
    if (title === null) expect(button).not.toHaveAttribute('title');
    else expect(button).toHaveAttribute('title', title);
  });

  it('opens the sync settings when clicked or pressed', async () => {
    const { onOpen, user } = setup();
    await screen.findByRole('button', { name: 'Sync status: Sync off' });
    await user.click(indicator());
    await user.keyboard('{Enter}');
    expect(onOpen).toHaveBeenCalledTimes(2);
  });

  it("follows the sync-status event of its account, not another account's", async () => {
    const { backend } = setup((fake) => fake.setRemote('Acme'));
    await screen.findByRole('button', { name: 'Sync status: Not synced yet' });

    await backend.emit('sync-status', { ...backend.syncStatus('Acme'), syncing: true });
    expect(await screen.findByRole('button', { name: 'Sync status: Syncing…' })).toBeInTheDocument();

    await backend.emit('sync-status', backend.syncStatus('Globex'));
    await tick();
    expect(indicator()).toHaveAccessibleName('Sync status: Syncing…');
    await backend.emit('sync-status', { ...backend.syncStatus('Acme'), last_sync_at: new Date().toISOString() });
    expect(await screen.findByRole('button', { name: 'Sync status: Synced just now' })).toBeInTheDocument();
    expect(backend.argsOf('sync_status')).toHaveLength(1);
  });

  it('reads the status again when the account or the vault changes', async () => {
    const { backend, user } = setup((fake) => fake.setRemote('Acme'));
    await screen.findByRole('button', { name: 'Sync status: Not synced yet' });

    backend.syncOf('Acme').pending = 2;
    await user.click(screen.getByRole('button', { name: 'Change the vault' }));
    expect(await screen.findByRole('button', { name: 'Sync status: 2 changes pending' })).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Switch account' }));
    expect(await screen.findByRole('button', { name: 'Sync status: Sync off' })).toBeInTheDocument();
    expect(backend.argsOf('sync_status')).toEqual([{ account: 'Acme' }, { account: 'Acme' }, { account: 'Globex' }]);
  });
});
