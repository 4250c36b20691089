import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import KeysPage from './KeysPage.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import { makeAccount } from '../../testing/accounts';

function setup(build: (backend: FakeBackend) => void, keyLimit = 10) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme', { keyLimit });
  build(backend);
  backend.install();
  const onChanged = vi.fn();
  render(KeysPage, { account: makeAccount({ key_limit: keyLimit }), onChanged });
  return { backend, onChanged, user: userEvent.setup() };
}

function sevenKeys(backend: FakeBackend) {
  backend.addGroup('Acme', 'readers', 'Read devices');
  backend.addGroup('Acme', 'gates', 'Entrance gates');
  backend.addKey('Acme', 'Gate 1', { groups: ['gates'], last_used_at: '2025-06-01T10:00:00Z' });
  backend.addKey('Acme', 'Gate 2', { groups: ['gates', 'readers'] });
  backend.addKey('Acme', 'Gate 3', { status: 'inactive', groups: ['gates'] });
  backend.addKey('Acme', 'Kiosk', { access: 'WRITE' });
  backend.addKey('Acme', 'Timing app', { access: 'READ_WRITE', allow_unbind: true, groups: ['readers'] });
  backend.addKey('Acme', 'Finish reader', { description: 'At the finish line' });
  backend.addKey('Acme', 'Scoreboard', { status: 'inactive' });
}

const table = () => screen.getByRole('grid', { name: 'API keys' });
const bodyRows = () => within(table()).getAllByRole('row').filter((row) => row.hasAttribute('data-key-id'));
const rowNames = () => bodyRows().map((row) => within(row).getAllByRole('gridcell')[0].textContent);
const counts = () => screen.getByTestId('key-counts').textContent?.trim();

async function loaded() {
  await screen.findByText(/^Showing \d/);
}

describe('the keys table', () => {
  it('has the ten column headers and shows each key, with "Never" for keys never used', async () => {
    setup(sevenKeys);
    await loaded();
    const headers = within(table()).getAllByRole('columnheader').map((header) => header.textContent?.trim());
    expect(headers).toEqual([
      'Name', 'Status', 'Key', 'Access', 'Allow unbind', 'Groups', 'Created', 'Created by', 'Last used', 'Expires',
    ]);
    expect(counts()).toBe('Showing 7 of 7 keys · limit 10');
    const timing = bodyRows().find((row) => row.textContent?.includes('Timing app'))!;
    const cells = within(timing).getAllByRole('gridcell').map((cell) => cell.textContent?.trim());
    expect(cells[0]).toBe('Timing app');
    expect(cells[1]).toBe('active');
    expect(cells[2]).toMatch(/^kw_\d{4}…wXyZ$/);
    expect(cells.slice(3, 6)).toEqual(['READ_WRITE', 'Yes', 'readers']);
    expect(cells[7]).toBe('admin');
    expect(cells[8]).toBe('Never');
    expect(cells[9]).toBe('Never');
  });

  it('sorts by a header click, flips on a second, and says so with aria-sort', async () => {
    const { user } = setup(sevenKeys);
    await loaded();
    const header = (name: string) => within(table()).getByRole('columnheader', { name });
    expect(header('Name')).toHaveAttribute('aria-sort', 'ascending');
    expect(rowNames()).toEqual(['Finish reader', 'Gate 1', 'Gate 2', 'Gate 3', 'Kiosk', 'Scoreboard', 'Timing app']);

    await user.click(within(header('Name')).getByRole('button'));
    expect(header('Name')).toHaveAttribute('aria-sort', 'descending');
    expect(rowNames()[0]).toBe('Timing app');

    await user.click(within(header('Last used')).getByRole('button'));
    expect(header('Name')).toHaveAttribute('aria-sort', 'none');
    expect(header('Last used')).toHaveAttribute('aria-sort', 'ascending');
    expect(rowNames().at(-1)).toBe('Gate 1');

    await user.click(within(header('Status')).getByRole('button'));
    expect(rowNames().slice(-2)).toEqual(['Gate 3', 'Scoreboard']);
  });

  it('filters by text, status and group, and shows the counts', async () => {
    const { user } = setup(sevenKeys);
    await loaded();
    await user.type(screen.getByLabelText('Filter'), 'gate');
    expect(rowNames()).toEqual(['Gate 1', 'Gate 2', 'Gate 3']);
    expect(counts()).toBe('Showing 3 of 7 keys · limit 10');

    await user.selectOptions(screen.getByLabelText('Status'), 'active');
    expect(rowNames()).toEqual(['Gate 1', 'Gate 2']);
    await user.selectOptions(screen.getByLabelText('Group'), 'readers');
    expect(rowNames()).toEqual(['Gate 2']);
    expect(counts()).toBe('Showing 1 of 7 keys · limit 10');

    await user.clear(screen.getByLabelText('Filter'));
    await user.type(screen.getByLabelText('Filter'), 'nothing');
    expect(bodyRows()).toHaveLength(0);
    expect(screen.getByText(/No key matches the filter/)).toBeInTheDocument();
    await user.click(screen.getAllByRole('button', { name: 'Clear filters' })[0]);
    expect(rowNames()).toHaveLength(7);

    await user.selectOptions(screen.getByLabelText('Group'), 'No group');
    expect(rowNames()).toEqual(['Finish reader', 'Kiosk', 'Scoreboard']);
  });

  it('renders only the rows in view of 10,000 keys, and filters them all', async () => {
    const { user } = setup((backend) => {
      for (let n = 0; n < 10_000; n++) backend.addKey('Acme', `device-${n}`, { status: n % 4 === 0 ? 'inactive' : 'active' });
    }, 10_000);
    await loaded();
    expect(counts()).toBe('Showing 10,000 of 10,000 keys · limit 10,000');
    expect(table()).toHaveAttribute('aria-rowcount', '10001');
    expect(bodyRows().length).toBeGreaterThan(10);
    expect(bodyRows().length).toBeLessThan(100);

    await user.type(screen.getByLabelText('Filter'), 'device-999');
    expect(counts()).toBe('Showing 11 of 10,000 keys · limit 10,000');
    expect(rowNames()).toEqual(['device-999', ...Array.from({ length: 10 }, (_, n) => `device-999${n}`)]);
    await user.selectOptions(screen.getByLabelText('Status'), 'inactive');
    expect(rowNames()).toEqual(['device-9992', 'device-9996']);
  });

  it('selects rows with the arrow keys and Home/End', async () => {
    const { user } = setup(sevenKeys);
    await loaded();
    table().focus();
    await user.keyboard('{ArrowDown}');
    expect(screen.getByRole('toolbar', { name: 'Selected key' })).toHaveTextContent('Selected: Finish reader');
    await user.keyboard('{ArrowDown}{ArrowDown}');
    expect(bodyRows()[2]).toHaveAttribute('aria-selected', 'true');
    expect(table()).toHaveAttribute('aria-activedescendant', bodyRows()[2].id);
    await user.keyboard('{End}');
    expect(screen.getByRole('toolbar')).toHaveTextContent('Selected: Timing app');
    await user.keyboard('{Home}');
    expect(screen.getByRole('toolbar')).toHaveTextContent('Selected: Finish reader');
    expect(table()).toHaveAccessibleDescription(/Enter moves to its actions/);

    // Enter moves to the actions; F2 and Delete are shortcuts to two of them.
    await user.keyboard('{Enter}');
    expect(screen.getByRole('button', { name: 'Rename' })).toHaveFocus();
    table().focus();
    await user.keyboard('{F2}');
    expect(screen.getByRole('dialog', { name: 'Rename key “Finish reader”' })).toBeInTheDocument();
    await user.keyboard('{Escape}');
    table().focus();
    await user.keyboard('{Delete}');
    expect(screen.getByRole('alertdialog', { name: 'Delete key “Finish reader”?' })).toBeInTheDocument();
  });
});

describe('row actions', () => {
  async function select(user: ReturnType<typeof userEvent.setup>, name: string) {
    await loaded();
    await user.click(screen.getByRole('gridcell', { name }));
  }

  it('deactivates after showing what the key is used for', async () => {
    const { backend, user, onChanged } = setup(sevenKeys);
    await select(user, 'Gate 1');
    await user.click(screen.getByRole('button', { name: 'Deactivate' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Deactivate key “Gate 1”?' });
    expect(within(dialog).getByText('Last used').nextElementSibling?.textContent).not.toBe('Never');
    expect(within(dialog).getByText('Groups').nextElementSibling).toHaveTextContent('gates');
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();

    await user.click(within(dialog).getByRole('button', { name: 'Deactivate key' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(backend.keys.find((key) => key.name === 'Gate 1')?.status).toBe('inactive');
    expect(await screen.findByRole('button', { name: 'Activate' })).toBeInTheDocument();
    expect(onChanged).toHaveBeenCalled();
  });

  it('activates without asking', async () => {
    const { backend, user } = setup(sevenKeys);
    await select(user, 'Scoreboard');
    await user.click(screen.getByRole('button', { name: 'Activate' }));
    expect(await screen.findByRole('button', { name: 'Deactivate' })).toBeInTheDocument();
    expect(backend.keys.find((key) => key.name === 'Scoreboard')?.status).toBe('active');
    expect(screen.queryByRole('alertdialog')).toBeNull();
  });

  it('deletes only after a confirmation that names the key', async () => {
    const { backend, user } = setup(sevenKeys);
    await select(user, 'Kiosk');
    await user.click(screen.getByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Delete key “Kiosk”?' });
    expect(dialog).toHaveTextContent('Deleting Kiosk cannot be undone');
    await user.keyboard('{Escape}');
    expect(backend.keys.some((key) => key.name === 'Kiosk')).toBe(true);

    await user.click(screen.getByRole('button', { name: 'Delete' }));
    await user.click(screen.getByRole('button', { name: 'Delete key' }));
    expect(backend.keys.some((key) => key.name === 'Kiosk')).toBe(false);
    expect(rowNames()).not.toContain('Kiosk');
    expect(counts()).toBe('Showing 6 of 6 keys · limit 10');
  });

  it('renames with the same checks as creation, and shows a refusal in the dialog', async () => {
    const { backend, user } = setup(sevenKeys);
    await select(user, 'Gate 2');
    await user.click(screen.getByRole('button', { name: 'Rename' }));
    const field = screen.getByLabelText('New name');
    expect(field).toHaveValue('Gate 2');
    await user.clear(field);
    await user.type(field, 'gate 1');
    expect(screen.getByText('A key named “gate 1” already exists in this account.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Save name' })).toBeDisabled();

    await user.clear(field);
    await user.type(field, 'Gate 2b');
    backend.failures.set('rename_key', { kind: 'conflict', message: 'a key named "Gate 2b" already exists' });
    await user.click(screen.getByRole('button', { name: 'Save name' }));
    expect(await within(screen.getByRole('dialog')).findByRole('alert')).toHaveTextContent(
      'a key named "Gate 2b" already exists',
    );

    backend.failures.delete('rename_key');
    await user.click(screen.getByRole('button', { name: 'Save name' }));
    expect(await screen.findByRole('gridcell', { name: 'Gate 2b' })).toBeInTheDocument();
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('changes groups with the picker', async () => {
    const { backend, user } = setup(sevenKeys);
    await select(user, 'Gate 2');
    await user.click(screen.getByRole('button', { name: 'Change groups' }));
    const gate2 = screen.getByRole('dialog', { name: 'Change groups of “Gate 2”' });
    // The picker takes the focus, not a chip's remove button.
    expect(within(gate2).getByLabelText('Groups')).toHaveFocus();
    await user.keyboard('{Escape}');

    await select(user, 'Kiosk');
    await user.click(screen.getByRole('button', { name: 'Change groups' }));
    const dialog = screen.getByRole('dialog', { name: 'Change groups of “Kiosk”' });
    await user.click(within(dialog).getByLabelText('Groups'));
    await user.keyboard('{Enter}');
    await user.click(within(dialog).getByRole('button', { name: 'Save groups' }));
    expect(backend.argsOf('set_key_groups')).toEqual([
      { account: 'Acme', key: backend.keys.find((key) => key.name === 'Kiosk')!.id, groups: ['readers'] },
    ]);
    const kiosk = bodyRows().find((row) => row.textContent?.includes('Kiosk'))!;
    expect(within(kiosk).getAllByRole('gridcell')[5]).toHaveTextContent('readers');
  });

  it('keeps the actions disabled until a key is selected', async () => {
    setup(sevenKeys);
    await loaded();
    for (const name of ['Rename', 'Deactivate', 'Change groups', 'Delete']) {
      expect(screen.getByRole('button', { name })).toBeDisabled();
    }
  });
});

describe('adding a key from the page', () => {
  it('shows the new key once, and after closing nothing on the page holds it', async () => {
    const { backend, user } = setup(sevenKeys);
    await loaded();
    await user.click(screen.getByRole('button', { name: 'Add API key' }));
    await user.type(screen.getByLabelText('Name'), 'Gate 4');
    await user.click(screen.getByRole('button', { name: 'Create API key' }));

    const field = await screen.findByLabelText('API key');
    const secret = (field as HTMLInputElement).value;
    expect(secret).toMatch(/^kw_/);
    await user.click(screen.getByRole('button', { name: 'Copy to clipboard' }));
    await screen.findByText(/Clipboard clears in/);
    await user.click(screen.getByRole('button', { name: 'Done' }));

    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.body.innerHTML).not.toContain(secret);
    const values = [...document.querySelectorAll('input, textarea')].map((input) => (input as HTMLInputElement).value);
    expect(values.join('\n')).not.toContain(secret);
    expect(backend.createdSecrets.size).toBe(0);

    // The table shows the hint only; a new dialog starts empty.
    const row = bodyRows().find((candidate) => candidate.textContent?.includes('Gate 4'))!;
    expect(within(row).getAllByRole('gridcell')[2].textContent).toMatch(/^kw_.{4}….{4}$/);
    expect(counts()).toBe('Showing 8 of 8 keys · limit 10');
    await user.click(screen.getByRole('button', { name: 'Add API key' }));
    expect(screen.getByLabelText('Name')).toHaveValue('');
    expect(screen.queryByLabelText('API key')).toBeNull();
    expect(document.body.innerHTML).not.toContain(secret);
  });
});

describe('loading', () => {
  it('shows a failure to load where the table would be, with a retry', async () => {
    const { backend, user } = setup((fake) => {
      fake.failures.set('list_key_columns', { kind: 'storage', message: 'the vault file could not be read' });
    });
    expect(await screen.findByRole('alert')).toHaveTextContent('the vault file could not be read');
    backend.failures.delete('list_key_columns');
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('No keys yet')).toBeInTheDocument();
  });
});

describe('reading the table at a glance', () => {
  it('shows times relative, exact on hover and to assistive technology, and the whole name on hover', async () => {
    setup((backend) => {
      backend.addKey('Acme', 'A very long name for the north gate reader of hall seven', {
        last_used_at: new Date(Date.now() - 3 * 24 * 3600_000).toISOString(),
        expires_at: new Date(Date.now() + 5 * 24 * 3600_000 + 3600_000).toISOString(),
      });
    });
    await loaded();
    const cells = within(bodyRows()[0]).getAllByRole('gridcell');
    expect(cells[0]).toHaveAttribute('title', 'A very long name for the north gate reader of hall seven');
    expect(cells[8]).toHaveTextContent('3 days ago');
    expect(cells[8].getAttribute('aria-label')).toMatch(/^3 days ago, \w+/);
    expect(cells[8].getAttribute('title')).toMatch(/\d{4}/);
    expect(cells[9]).toHaveTextContent('in 5 days');
    expect(cells[9].getAttribute('aria-label')).toMatch(/^expires in 5 days, /);
  });

  it('hides a column from the Columns list and remembers it for the next table', async () => {
    localStorage.clear();
    const { user } = setup(sevenKeys);
    await loaded();
    await user.click(screen.getByText('Columns'));
    await user.click(screen.getByLabelText('Created by column'));
    expect(within(table()).queryByRole('columnheader', { name: 'Created by' })).toBeNull();
    expect(within(bodyRows()[0]).getAllByRole('gridcell')).toHaveLength(9);
    expect(screen.getByLabelText('Name column')).toBeDisabled();
    await user.clear(screen.getByLabelText('Width of the Key column in pixels'));
    await user.type(screen.getByLabelText('Width of the Key column in pixels'), '240');
    await user.tab();
    expect(JSON.parse(localStorage.getItem('keyward.keys.columns') ?? '{}')).toMatchObject({
      hidden: ['created_by'],
      widths: { key: 240 },
    });
  });
});
