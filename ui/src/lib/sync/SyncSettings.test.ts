import { describe, expect, it } from 'vitest';
import { cleanup, render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import SyncSettings from './SyncSettings.svelte';
import SyncIndicator from './SyncIndicator.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import type { SyncReport } from '../../backend/ipc';

function setup(build: (backend: FakeBackend) => void = () => undefined) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  build(backend);
  backend.install();
  render(SyncSettings, { account: 'Acme' });
  return { backend, user: userEvent.setup() };
}

const section = () => screen.getByRole('region', { name: 'Sync' });
const syncButton = () => within(section()).getByRole('button', { name: /^(Sync now|Syncing…)$/ });

/** Resolves when the section has read the status. */
async function loaded() {
  await within(section()).findByLabelText('Remote URL');
}

const REPORT: SyncReport = {
  pushed: 3,
  pulled: 2,
  conflicts: [
    {
      entity: 'key',
      id: 'key-000001',
      name: 'Gate 1',
      field: 'status',
      yours: 'active',
      kept: 'inactive',
      rule: 'inactive beats active',
    },
  ],
  refused: [],
};

describe('the sync section with no remote', () => {
  it('says sync is off and offers only to set a remote', async () => {
    const { backend } = setup();
    await loaded();
    expect(section()).toHaveTextContent('Sync is off for Acme.');
    expect(within(section()).getByLabelText('Remote URL')).toHaveValue('');
    expect(within(section()).getByLabelText('Sync token')).toHaveAttribute('type', 'password');
    expect(within(section()).getByRole('checkbox', { name: 'Allow insecure HTTP' })).not.toBeChecked();
    expect(within(section()).getByRole('button', { name: 'Save remote' })).toBeDisabled();
    expect(syncButton()).toBeDisabled();
    expect(within(section()).queryByText('Pending changes')).toBeNull();
    expect(within(section()).queryByText('Conflicts of the last sync')).toBeNull();
    expect(backend.argsOf('sync_status')).toEqual([{ account: 'Acme' }]);
  });
});

describe('saving a remote', () => {
  it('checks the URL as it is typed, then passes exactly what was entered', async () => {
    const { backend, user } = setup();
    await loaded();
    const url = within(section()).getByLabelText('Remote URL');
    const save = within(section()).getByRole('button', { name: 'Save remote' });

    await user.type(url, 'keys.example.com');
    expect(url).toHaveAttribute('aria-invalid', 'true');
    expect(url).toHaveAccessibleDescription('The URL must start with https:// (or http://).');
    await user.type(within(section()).getByLabelText('Sync token'), 'kws_secret_token');
    expect(save).toBeDisabled();

    await user.clear(url);
    await user.type(url, ' https://keys.example.com ');
    expect(url).toHaveAttribute('aria-invalid', 'false');
    await user.click(save);

    expect(await within(section()).findByText('Saved.')).toBeInTheDocument();
    expect(backend.argsOf('set_remote')).toEqual([
      { account: 'Acme', url: 'https://keys.example.com', token: 'kws_secret_token', insecure: false },
    ]);
    expect(within(section()).getByLabelText('Sync token')).toHaveValue('');
    expect(within(section()).getByLabelText('Sync token')).toHaveAccessibleDescription(/ending …oken/);
    expect(syncButton()).toBeEnabled();
    expect(within(section()).getByText('Last sync').nextElementSibling).toHaveTextContent('Never');
  });

  it("shows the backend's refusal of a plain http:// URL, and saves it once insecure HTTP is allowed", async () => {
    const { backend, user } = setup();
    await loaded();
    const url = within(section()).getByLabelText('Remote URL');
    await user.type(url, 'http://10.0.0.5:8420');
    await user.type(within(section()).getByLabelText('Sync token'), 'kws_secret_token');
    await user.click(within(section()).getByRole('button', { name: 'Save remote' }));

    const message =
      'refusing plain http:// to 10.0.0.5: the sync token would cross the network in clear — use https://, or allow plain HTTP explicitly (tick “Allow insecure HTTP” only behind a proxy that terminates TLS)';
    expect(await within(section()).findByRole('alert')).toHaveTextContent(message);
    expect(url).toHaveAccessibleDescription(expect.stringContaining(message));
    expect(backend.syncOf('Acme').remote).toBeNull();

    await user.click(within(section()).getByRole('checkbox', { name: 'Allow insecure HTTP' }));
    await user.click(within(section()).getByRole('button', { name: 'Save remote' }));
    expect(await within(section()).findByText('Saved.')).toBeInTheDocument();
    expect(backend.argsOf('set_remote')[1]).toEqual({
      account: 'Acme',
      url: 'http://10.0.0.5:8420',
      token: 'kws_secret_token',
      insecure: true,
    });
    expect(within(section()).queryByRole('alert')).toBeNull();
  });

  it('keeps the current token when the field is left empty, and asks for it when the URL changes', async () => {
    const { backend, user } = setup((fake) => fake.setRemote('Acme', 'https://keys.example.com', 'kws_old_9f3a'));
    await loaded();
    const url = within(section()).getByLabelText('Remote URL');
    const save = within(section()).getByRole('button', { name: 'Save remote' });
    expect(url).toHaveValue('https://keys.example.com');
    expect(within(section()).getByLabelText('Sync token')).toHaveAccessibleDescription(/current token \(ending …9f3a\)/);
    expect(save).toBeDisabled();

    await user.type(url, '/v2');
    expect(within(section()).getByLabelText('Sync token')).toHaveAccessibleDescription(
      'Enter the sync token again to change the remote.',
    );
    expect(save).toBeDisabled();
    await user.type(url, '{Enter}');
    expect(backend.commands()).not.toContain('set_remote');
  });
});

describe('Sync now', () => {
  it('shows that it runs, then the summary and the conflicts of the sync', async () => {
    const { backend, user } = setup((fake) => {
      fake.setRemote('Acme').pending = 3;
      fake.nextSync = REPORT;
    });
    let release!: () => void;
    backend.syncGate = new Promise((resolve) => (release = resolve));
    await loaded();
    expect(within(section()).getByTestId('pending-changes')).toHaveTextContent('3');

    await user.click(syncButton());
    const running = await within(section()).findByRole('button', { name: 'Syncing…' });
    expect(running).toBeDisabled();
    expect(running).toHaveAttribute('aria-busy', 'true');
    // The rest of the section stays usable while the backend syncs.
    await user.type(within(section()).getByLabelText('Sync token'), 'x');
    expect(within(section()).getByLabelText('Sync token')).toHaveValue('x');

    release();
    expect(await within(section()).findByRole('status')).toHaveTextContent('Pushed 3, pulled 2, 1 conflict');
    expect(syncButton()).toHaveTextContent('Sync now');
    expect(backend.argsOf('sync_now')).toEqual([{ account: 'Acme' }]);
    expect(within(section()).getByTestId('pending-changes')).toHaveTextContent('0');
    expect(within(section()).getByText('just now')).toHaveAttribute('title');

    const table = within(section()).getByRole('table', { name: 'Conflicts of the last sync' });
    const [header, row] = within(table).getAllByRole('row');
    expect(within(header).getAllByRole('columnheader').map((cell) => cell.textContent)).toEqual([
      'Record',
      'Field',
      'Your value',
      'Kept value',
      'Rule',
    ]);
    expect(within(row).getByRole('rowheader')).toHaveTextContent('Key Gate 1');
    expect(within(row).getAllByRole('cell').map((cell) => cell.textContent)).toEqual([
      'status',
      'active',
      'inactive',
      'inactive beats active',
    ]);
  });

  it('says "No conflicts" when the last sync had none', async () => {
    const { user } = setup((fake) => fake.setRemote('Acme'));
    await loaded();
    await user.click(syncButton());
    expect(await within(section()).findByRole('status')).toHaveTextContent('Pushed 0, pulled 0, 0 conflicts');
    expect(within(section()).getByText('No conflicts')).toBeInTheDocument();
    expect(within(section()).queryByRole('table')).toBeNull();
  });

  it('announces an unreachable remote with its message, and still counts the pending changes', async () => {
    const message = 'remote unreachable — 3 changes kept for the next sync';
    const { user } = setup((fake) => {
      fake.setRemote('Acme').pending = 3;
      fake.nextSync = { kind: 'remote_unreachable', message };
    });
    await loaded();
    await user.click(syncButton());

    expect(await within(section()).findByRole('alert')).toHaveTextContent(message);
    expect(within(section()).getByTestId('pending-changes')).toHaveTextContent('3');
    expect(within(section()).getByText('Last sync').nextElementSibling).toHaveTextContent('Never');
    expect(within(section()).queryByRole('status')).toBeNull();
    expect(syncButton()).toBeEnabled();
  });

  it('shows a failure from before quietly, and the conflicts of the last sync on arrival', async () => {
    setup((fake) => {
      const sync = fake.setRemote('Acme');
      sync.lastError = 'the remote refused the sync token: create a new one with keyward-server token create';
      sync.lastReport = REPORT;
      sync.lastSyncAt = new Date(Date.now() - 3 * 3_600_000).toISOString();
    });
    await loaded();
    expect(within(section()).getByText(/^Last sync failed: the remote refused the sync token/)).toBeInTheDocument();
    expect(within(section()).queryByRole('alert')).toBeNull();
    expect(within(section()).getByText('3 hours ago')).toBeInTheDocument();
    expect(within(section()).getByRole('table', { name: 'Conflicts of the last sync' })).toBeInTheDocument();
    expect(within(section()).queryByRole('status')).toBeNull();
  });

  it('cannot be started while a sync started elsewhere runs', async () => {
    const { backend } = setup((fake) => fake.setRemote('Acme'));
    await loaded();
    await backend.emit('sync-status', { ...backend.syncStatus('Acme'), syncing: true });
    expect(await within(section()).findByRole('button', { name: 'Syncing…' })).toBeDisabled();
    await backend.emit('sync-status', backend.syncStatus('Acme'));
    expect(await within(section()).findByRole('button', { name: 'Sync now' })).toBeEnabled();
  });
});

describe('turning sync off', () => {
  const turnOffButton = () => within(section()).queryByRole('button', { name: 'Turn sync off' });
  const dialog = () => screen.getByRole('alertdialog', { name: 'Turn sync off?' });

  async function openDialog(user: ReturnType<typeof userEvent.setup>) {
    await loaded();
    await user.click(turnOffButton()!);
    return dialog();
  }

  it('is offered only while a remote is set, and not during a sync', async () => {
    setup();
    await loaded();
    expect(turnOffButton()).toBeNull();
    cleanup();

    const { backend } = setup((fake) => fake.setRemote('Acme'));
    await loaded();
    expect(turnOffButton()).toBeEnabled();
    await backend.emit('sync-status', { ...backend.syncStatus('Acme'), syncing: true });
    await within(section()).findByRole('button', { name: 'Syncing…' });
    expect(turnOffButton()).toBeDisabled();
  });

  it('warns, prominently and with their count, that the pending changes will not be sent', async () => {
    const { user } = setup((fake) => (fake.setRemote('Acme').pending = 3));
    const asked = await openDialog(user);

    expect(asked).toHaveTextContent('Its keys and groups stay in this vault, and the remote keeps what it already has.');
    const warning = within(asked).getByText('3 changes made here have not reached the remote and will not be sent.');
    expect(warning.tagName).toBe('STRONG');
    expect(warning.closest('.notice')).not.toBeNull();
    expect(within(asked).getByRole('button', { name: 'Cancel' })).toHaveFocus();
  });

  it('says nothing about pending changes when there are none', async () => {
    const { user } = setup((fake) => fake.setRemote('Acme'));
    const asked = await openDialog(user);

    expect(asked).toHaveTextContent('Its keys and groups stay in this vault, and the remote keeps what it already has.');
    expect(asked).not.toHaveTextContent(/not reached the remote|will not be sent|change/);
    expect(asked.querySelector('.notice')).toBeNull();
  });

  it('forces the removal once confirmed, and the section and the indicator show sync off', async () => {
    const { backend, user } = setup((fake) => {
      const sync = fake.setRemote('Acme');
      sync.pending = 3;
      sync.lastReport = REPORT;
      sync.lastError = 'remote unreachable — 3 changes kept for the next sync';
    });
    render(SyncIndicator, { account: 'Acme', revision: 1, onOpen: () => undefined });
    expect(await screen.findByRole('button', { name: 'Sync status: Sync failed' })).toBeInTheDocument();
    const asked = await openDialog(user);

    await user.click(within(asked).getByRole('button', { name: 'Turn sync off' }));

    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(backend.argsOf('remove_remote')).toEqual([{ account: 'Acme', force: true }]);
    expect(section()).toHaveTextContent('Sync is off for Acme.');
    expect(turnOffButton()).toBeNull();
    expect(syncButton()).toBeDisabled();
    expect(within(section()).getByLabelText('Remote URL')).toHaveValue('');
    expect(within(section()).queryByText('Pending changes')).toBeNull();
    expect(within(section()).queryByText(/Last sync failed/)).toBeNull();
    expect(within(section()).queryByText('Conflicts of the last sync')).toBeNull();
    expect(screen.getByRole('heading', { name: 'Sync' })).toHaveFocus();
    // The indicator learns it from the sync-status event alone.
    expect(await screen.findByRole('button', { name: 'Sync status: Sync off' })).toBeInTheDocument();
    expect(backend.syncOf('Acme').remote).toBeNull();
  });

  it('leaves no "Saved." behind for the remote it removed', async () => {
    const { user } = setup();
    await loaded();
    await user.type(within(section()).getByLabelText('Remote URL'), 'https://keys.example.com');
    await user.type(within(section()).getByLabelText('Sync token'), 'kws_secret_token');
    await user.click(within(section()).getByRole('button', { name: 'Save remote' }));
    expect(await within(section()).findByText('Saved.')).toBeInTheDocument();

    await user.click(turnOffButton()!);
    await user.click(within(dialog()).getByRole('button', { name: 'Turn sync off' }));
    await waitFor(() => expect(section()).toHaveTextContent('Sync is off for Acme.'));
    expect(within(section()).queryByText('Saved.')).toBeNull();
  });

  it('changes nothing on Cancel or Escape', async () => {
    const { backend, user } = setup((fake) => (fake.setRemote('Acme').pending = 2));
    await openDialog(user);
    await user.click(within(dialog()).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(turnOffButton()).toHaveFocus();

    await user.click(turnOffButton()!);
    expect(dialog()).toBeInTheDocument();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).toBeNull();

    expect(backend.commands()).not.toContain('remove_remote');
    expect(backend.syncOf('Acme').remote).not.toBeNull();
    expect(within(section()).getByTestId('pending-changes')).toHaveTextContent('2');
    expect(within(section()).getByLabelText('Remote URL')).toHaveValue('https://keys.example.com');
    expect(turnOffButton()).toBeEnabled();
  });

  it('shows why the backend refused in the dialog, and stays open', async () => {
    const message = 'account Acme is already syncing';
    const { backend, user } = setup((fake) => {
      fake.setRemote('Acme');
      fake.failures.set('remove_remote', { kind: 'conflict', message });
    });
    const asked = await openDialog(user);
    await user.click(within(asked).getByRole('button', { name: 'Turn sync off' }));

    expect(await within(asked).findByRole('alert')).toHaveTextContent(message);
    expect(dialog()).toBe(asked);
    expect(within(asked).getByRole('button', { name: 'Turn sync off' })).toBeEnabled();
    expect(backend.syncOf('Acme').remote).not.toBeNull();

    await user.click(within(asked).getByRole('button', { name: 'Cancel' }));
    expect(within(section()).getByLabelText('Remote URL')).toHaveValue('https://keys.example.com');
    expect(turnOffButton()).toBeEnabled();
  });
});

describe('refused changes', () => {
  it('lists each change the remote refused, with its reason', async () => {
    setup((backend) => {
      const sync = backend.syncOf('Acme');
      sync.remote = { url: 'https://keys.example.com', token: 'kwsync_abcd', insecure: false };
      sync.refused = [
        {
          idempotency_id: '01900000-0000-7000-8000-000000000001',
          entity: 'key',
          record_id: 'key-1',
          name: 'gate 2',
          fields: ['name', 'status'],
          reason: 'the key name breaks a rule of this server',
          refused_at: '2025-06-01T12:00:00Z',
        },
      ];
    });
    await loaded();
    const refused = await within(section()).findByRole('region', { name: 'Refused by the remote' });
    expect(within(refused).getByRole('listitem').textContent).toBe(
      'Key “gate 2” (name, status): the key name breaks a rule of this server',
    );
  });

  it('shows nothing about refusals when there are none', async () => {
    setup((backend) => {
      backend.syncOf('Acme').remote = { url: 'https://keys.example.com', token: 'kwsync_abcd', insecure: false };
    });
    await loaded();
    expect(within(section()).queryByRole('region', { name: 'Refused by the remote' })).toBeNull();
  });
});
