// Many keys at once on the keys page: selecting with Ctrl/Shift-click and the keyboard, one
// action with its preview, a selection emptied outside while the preview is open, rolling
// with a grace and the one-time display of every new key (copy, QR code), adding many keys
// from a CSV with a bad row, and the review badge filtering the table.
import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import KeysPage from './KeysPage.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import { makeAccount } from '../../testing/accounts';

function setup() {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  backend.addGroup('Acme', 'gates');
  backend.addGroup('Acme', 'readers');
  const recent = new Date(Date.now() - 86_400_000).toISOString();
  backend.addKey('Acme', 'Gate 1', { groups: ['gates'], last_used_at: recent, created_at: recent });
  backend.addKey('Acme', 'Gate 2', { groups: ['gates'], created_at: recent });
  backend.addKey('Acme', 'Gate 3', {
    groups: ['gates'],
    created_at: recent,
    expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString(),
  });
  backend.addKey('Acme', 'Kiosk', { created_at: '2024-01-01T00:00:00Z' });
  backend.install();
  const onChanged = vi.fn();
  const view = render(KeysPage, { account: makeAccount(), onChanged, outside: 0 });
  let outside = 0;
  async function changeOutside(change: (backend: FakeBackend) => void) {
    change(backend);
    outside += 1;
    await view.rerender({ outside });
  }
  return { backend, changeOutside, onChanged, user: userEvent.setup() };
}

const table = () => screen.getByRole('grid', { name: 'API keys' });
const bodyRows = () => within(table()).getAllByRole('row').filter((row) => row.hasAttribute('data-key-id'));
const rowOf = (name: string) => bodyRows().find((row) => within(row).getAllByRole('gridcell')[0].textContent === name)!;
const selectedNames = () =>
  bodyRows()
    .filter((row) => row.getAttribute('aria-selected') === 'true')
    .map((row) => within(row).getAllByRole('gridcell')[0].textContent);
const bulkBar = () => screen.getByRole('toolbar', { name: 'Selected keys' });

async function loaded() {
  await screen.findByText(/^Showing \d/);
}

describe('selecting many keys', () => {
  it('takes Ctrl-click, Shift-click, Shift+arrows, Space and Ctrl+A', async () => {
    const { user } = setup();
    await loaded();
    expect(table()).toHaveAttribute('aria-multiselectable', 'true');
    await user.click(within(rowOf('Gate 1')).getAllByRole('gridcell')[0]);
    await user.keyboard('{Control>}');
    await user.click(within(rowOf('Kiosk')).getAllByRole('gridcell')[0]);
    await user.keyboard('{/Control}');
    expect(selectedNames()).toEqual(['Gate 1', 'Kiosk']);
    expect(bulkBar()).toHaveTextContent('2 keys selected');
    await user.keyboard('{Shift>}');
    await user.click(within(rowOf('Gate 3')).getAllByRole('gridcell')[0]);
    await user.keyboard('{/Shift}');
    expect(selectedNames()).toEqual(['Gate 3', 'Kiosk']);

    table().focus();
    await user.keyboard('{Home}');
    expect(selectedNames()).toEqual(['Gate 1']);
    await user.keyboard('{Shift>}{ArrowDown}{ArrowDown}{/Shift}');
    expect(selectedNames()).toEqual(['Gate 1', 'Gate 2', 'Gate 3']);
    await user.keyboard(' ');
    expect(selectedNames()).toEqual(['Gate 1', 'Gate 2']);
    await user.keyboard('{Control>}a{/Control}');
    expect(selectedNames()).toHaveLength(4);
    // Ctrl+A takes what the filter shows, not every key.
    await user.type(screen.getByLabelText('Filter'), 'gate');
    table().focus();
    await user.keyboard('{Control>}a{/Control}');
    expect(bulkBar()).toHaveTextContent('3 keys selected');
  });
});

describe('one action on many keys', () => {
  async function selectGates(user: ReturnType<typeof userEvent.setup>) {
    await loaded();
    await user.type(screen.getByLabelText('Filter'), 'gate');
    table().focus();
    await user.keyboard('{Control>}a{/Control}');
  }

  it('previews, then deactivates them in one call with an audit entry each', async () => {
    const { backend, user, onChanged } = setup();
    await selectGates(user);
    await user.click(within(bulkBar()).getByRole('button', { name: 'Deactivate' }));
    const dialog = screen.getByRole('dialog', { name: 'Deactivate keys' });
    const preview = within(dialog).getByTestId('bulk-preview');
    expect(preview).toHaveTextContent('3 keys will be deactivated.');
    expect(preview).toHaveTextContent('(“Gate 1”)');
    expect(preview).toHaveTextContent('Groups: gates');
    await user.click(within(dialog).getByRole('button', { name: 'Deactivate 3 keys' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(backend.commands().filter((command) => command === 'change_keys')).toHaveLength(1);
    expect(backend.argsOf('change_keys')[0].change).toEqual({ kind: 'deactivate' });
    expect(backend.keys.filter((key) => key.status === 'inactive').map((key) => key.name)).toEqual([
      'Gate 1',
      'Gate 2',
      'Gate 3',
    ]);
    expect(backend.audit.filter((entry) => entry.action === 'key.deactivate')).toHaveLength(3);
    expect(onChanged).toHaveBeenCalled();
  });

  it('adds and removes groups with the groups they will have in the preview', async () => {
    const { backend, user } = setup();
    await selectGates(user);
    await user.click(within(bulkBar()).getByRole('button', { name: 'Change groups' }));
    const dialog = screen.getByRole('dialog', { name: 'Change groups of keys' });
    const add = within(dialog).getByRole('group', { name: 'Add to each key' });
    const remove = within(dialog).getByRole('group', { name: 'Remove from each key' });
    await user.click(within(add).getByLabelText('readers'));
    await user.click(within(remove).getByLabelText('gates'));
    expect(within(dialog).getByTestId('bulk-preview')).toHaveTextContent('Groups afterwards: readers');
    await user.click(within(dialog).getByRole('button', { name: 'Change groups' }));
    expect(backend.keys.filter((key) => key.groups.join() === 'readers')).toHaveLength(3);
  });

  it('says so when a sync empties the selection while the preview is open, and changes nothing', async () => {
    const { backend, changeOutside, user } = setup();
    await selectGates(user);
    await user.click(within(bulkBar()).getByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Delete keys' });
    expect(within(dialog).getByTestId('bulk-preview')).toHaveTextContent('3 keys will be deleted for good.');
    await changeOutside((fake) => {
      for (const name of ['Gate 1', 'Gate 2', 'Gate 3']) fake.deleteKeyQuietly(name);
    });
    expect(await within(dialog).findByTestId('selection-gone')).toHaveTextContent('no longer in the vault');
    expect(within(dialog).queryByRole('button', { name: /^Delete/ })).not.toBeInTheDocument();
    await user.click(within(dialog).getByRole('button', { name: 'Close' }));
    expect(backend.commands()).not.toContain('change_keys');
    expect(screen.getByTestId('outside-notice')).toHaveTextContent('deleted outside this window');
  });
});

describe('rolling keys', () => {
  it('rolls with the grace chosen and shows every new key once, with copy and QR code', async () => {
    const { backend, user } = setup();
    await loaded();
    await user.click(within(rowOf('Gate 1')).getAllByRole('gridcell')[0]);
    await user.keyboard('{Control>}');
    await user.click(within(rowOf('Gate 2')).getAllByRole('gridcell')[0]);
    await user.keyboard('{/Control}');
    await user.click(within(bulkBar()).getByRole('button', { name: 'Roll keys' }));
    const dialog = screen.getByRole('dialog', { name: 'Roll keys' });
    await user.selectOptions(within(dialog).getByLabelText('How long the old keys keep working'), '1h');
    await user.click(within(dialog).getByRole('button', { name: 'Roll 2 keys' }));
    expect(backend.argsOf('roll_keys')[0]).toMatchObject({ grace: '1h' });

    const shown = await screen.findByRole('dialog', { name: 'Keys rolled' });
    const list = within(shown).getByRole('list', { name: 'New keys' });
    expect(within(list).getAllByRole('listitem')).toHaveLength(2);
    const secret = within(list).getByLabelText('Gate 1') as HTMLInputElement;
    expect(secret.value).toMatch(/^kw_/);
    await user.click(within(list).getByRole('button', { name: 'Copy the key “Gate 1”' }));
    expect(backend.clipboard).toBe(secret.value);
    await user.click(within(list).getByRole('button', { name: 'QR code of “Gate 2”' }));
    const qr = await within(list).findByRole('img', { name: 'QR code of the key “Gate 2”' });
    expect(qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
    // Closing with a key not copied asks first; then every key is forgotten.
    await user.click(within(shown).getByRole('button', { name: 'Done' }));
    await user.click(within(shown).getByRole('button', { name: 'Close without copying' }));
    expect(backend.createdSecrets.size).toBe(0);
    // The table shows the old keys rolling out, and their successors under their names.
    const old = await vi.waitFor(() => rowOf('Gate 1 (replaced)'));
    expect(within(old).getAllByRole('gridcell')[1]).toHaveTextContent(/^rolling out, ends in (59 min|1 h)$/);
    expect(within(rowOf('Gate 1')).getAllByRole('gridcell')[1]).toHaveTextContent('active');
  });

  it('shows why a roll was refused: a bad grace, a key already replaced', async () => {
    const { backend, user } = setup();
    await loaded();
    await user.click(within(rowOf('Kiosk')).getAllByRole('gridcell')[0]);
    await user.click(screen.getByRole('button', { name: 'Roll key' }));
    const dialog = screen.getByRole('dialog', { name: 'Roll key “Kiosk”' });
    await user.selectOptions(within(dialog).getByLabelText('How long the old keys keep working'), 'custom');
    await user.type(within(dialog).getByLabelText('Grace'), '-5h');
    await user.click(within(dialog).getByRole('button', { name: 'Roll 1 key' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('invalid grace "-5h"');
    await user.clear(within(dialog).getByLabelText('Grace'));
    await user.type(within(dialog).getByLabelText('Grace'), '45d');
    await user.click(within(dialog).getByRole('button', { name: 'Roll 1 key' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('at most 30 days');
    expect(backend.keys.map((key) => key.name)).not.toContain('Kiosk (replaced)');
  });
});

describe('adding many keys', () => {
  it('refuses a CSV with a bad row, naming it, and adds a good one whole', async () => {
    const { backend, user } = setup();
    await loaded();
    await user.click(screen.getByRole('button', { name: 'Add many keys' }));
    const dialog = screen.getByRole('dialog', { name: 'Add many keys' });
    await user.click(within(dialog).getByLabelText('CSV: name,description,groups'));
    const rows = within(dialog).getByLabelText('CSV rows');
    await user.type(rows, 'name,description,groups{Enter}r-1,North,gates{Enter}r-2,,doors');
    await user.click(within(dialog).getByRole('button', { name: 'Add 3 keys' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('line 3: group "doors" not found');
    expect(backend.keys).toHaveLength(4);

    await user.clear(rows);
    await user.type(rows, 'r-1,North,gates{Enter}r-2,,readers');
    await user.click(within(dialog).getByRole('button', { name: 'Add 2 keys' }));
    const shown = await screen.findByRole('dialog', { name: 'API keys created' });
    expect(within(shown).getAllByRole('listitem')).toHaveLength(2);
    expect(backend.keys.find((key) => key.name === 'r-1')).toMatchObject({ description: 'North', groups: ['gates'] });
  });
});

describe('the review badge', () => {
  it('counts expiring and unused keys and filters the table to them', async () => {
    const { user } = setup();
    await loaded();
    const badge = await screen.findByTestId('review-badge');
    const expiring = within(badge).getByRole('button', { name: '1 key expires within 14 days' });
    const unused = within(badge).getByRole('button', { name: '1 key unused for 90 days' });
    await user.click(expiring);
    expect(expiring).toHaveAttribute('aria-pressed', 'true');
    expect(bodyRows().map((row) => within(row).getAllByRole('gridcell')[0].textContent)).toEqual(['Gate 3']);
    await user.click(unused);
    expect(bodyRows().map((row) => within(row).getAllByRole('gridcell')[0].textContent)).toEqual(['Kiosk']);
    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    expect(bodyRows()).toHaveLength(4);
  });
});
