// The keys page while other processes change the vault (the CLI, another window, a sync
// elsewhere): what it shows follows, what the admin set up stays, and what went away is named.
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
  backend.addKey('Acme', 'Gate 1', { groups: ['gates'] });
  backend.addKey('Acme', 'Gate 2', { groups: ['gates'] });
  backend.addKey('Acme', 'Kiosk');
  backend.addKey('Acme', 'Old kiosk', { status: 'inactive' });
  backend.install();
  const view = render(KeysPage, { account: makeAccount(), onChanged: vi.fn(), outside: 0 });
  let outside = 0;
  /** Another process changes the vault; the workspace tells the page, as on `vault-changed`. */
  async function changeOutside(change: (backend: FakeBackend) => void) {
    change(backend);
    outside += 1;
    await view.rerender({ outside });
  }
  return { backend, changeOutside, user: userEvent.setup() };
}

const table = () => screen.getByRole('grid', { name: 'API keys' });
const bodyRows = () => within(table()).getAllByRole('row').filter((row) => row.hasAttribute('data-key-id'));
const rowNames = () => bodyRows().map((row) => within(row).getAllByRole('gridcell')[0].textContent);
const rowOf = (name: string) => bodyRows().find((row) => within(row).getAllByRole('gridcell')[0].textContent === name)!;
const notice = () => screen.queryByTestId('outside-notice');

async function select(user: ReturnType<typeof userEvent.setup>, name: string) {
  await user.click(screen.getByRole('gridcell', { name }));
  expect(screen.getByRole('toolbar', { name: 'Selected key' })).toHaveTextContent(`Selected: ${name}`);
}

describe('the keys page while the vault changes outside this window', () => {
  it('shows new, changed and deleted keys, keeping the filter, the sort and the selection', async () => {
    const { changeOutside, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await user.type(screen.getByLabelText('Filter'), 'kiosk');
    await user.click(within(within(table()).getByRole('columnheader', { name: 'Name' })).getByRole('button'));
    expect(rowNames()).toEqual(['Old kiosk', 'Kiosk']);
    await select(user, 'Kiosk');

    await changeOutside((backend) => {
      backend.addKey('Acme', 'made by cli kiosk');
      backend.addKey('Acme', 'Gate 3');
      backend.keys.find((key) => key.name === 'Kiosk')!.status = 'inactive';
      backend.keys = backend.keys.filter((key) => key.name !== 'Old kiosk');
    });
    await vi.waitFor(() => expect(rowNames()).toEqual(['made by cli kiosk', 'Kiosk']));
    expect(screen.getByTestId('key-counts')).toHaveTextContent('Showing 2 of 5 keys');
    expect(screen.getByLabelText('Filter')).toHaveValue('kiosk');
    expect(within(table()).getByRole('columnheader', { name: 'Name' })).toHaveAttribute('aria-sort', 'descending');
    expect(rowOf('Kiosk')).toHaveAttribute('aria-selected', 'true');
    expect(within(rowOf('Kiosk')).getAllByRole('gridcell')[1]).toHaveTextContent('inactive');
    expect(screen.getByRole('button', { name: 'Activate' })).toBeEnabled();
    expect(notice()).toBeNull();
  });

  it('deselects a selected key deleted outside, with a notice naming it', async () => {
    const { changeOutside, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await select(user, 'Old kiosk');
    await changeOutside((backend) => {
      backend.keys = backend.keys.filter((key) => key.name !== 'Old kiosk');
    });
    await vi.waitFor(() => expect(notice()).toHaveTextContent('Key “Old kiosk” was deleted outside this window.'));
    expect(notice()).toHaveAttribute('role', 'status');
    expect(rowNames()).not.toContain('Old kiosk');
    expect(screen.getByRole('toolbar', { name: 'Selected key' })).toHaveTextContent('Select a key in the table');
    expect(screen.getByRole('button', { name: 'Deactivate' })).toBeDisabled();
    await user.click(within(notice()!).getByRole('button', { name: 'Dismiss' }));
    expect(notice()).toBeNull();
  });

  it('names a key deleted outside before the window heard of it, when the admin acts on it', async () => {
    const { backend, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await select(user, 'Old kiosk');
    const deleted = backend.deleteKeyQuietly('Old kiosk');
    await user.click(screen.getByRole('button', { name: 'Activate' }));
    await vi.waitFor(() => expect(notice()).toHaveTextContent('Key “Old kiosk” was deleted outside this window.'));
    await vi.waitFor(() => expect(rowNames()).not.toContain('Old kiosk'));
    expect(document.body.textContent).not.toContain(deleted.id);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('turns an open dialog about a key deleted outside into a notice that offers to close', async () => {
    const { changeOutside, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await select(user, 'Kiosk');
    await user.click(screen.getByRole('button', { name: 'Deactivate' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Deactivate key “Kiosk”?' });
    await changeOutside((backend) => {
      backend.keys = backend.keys.filter((key) => key.name !== 'Kiosk');
    });
    await vi.waitFor(() =>
      expect(within(dialog).getByRole('alert')).toHaveTextContent(
        'Key “Kiosk” was deleted outside this window: there is nothing left to change.',
      ),
    );
    expect(within(dialog).queryByRole('button', { name: 'Deactivate key' })).toBeNull();
    const close = within(dialog).getByRole('button', { name: 'Close' });
    expect(close).toHaveFocus();
    await user.click(close);
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(notice()).toHaveTextContent('Key “Kiosk” was deleted outside this window.');
  });

  it('turns a dialog whose request finds the key gone into the same notice, without an id', async () => {
    const { backend, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await select(user, 'Gate 2');
    await user.click(screen.getByRole('button', { name: 'Rename' }));
    const dialog = screen.getByRole('dialog', { name: 'Rename key “Gate 2”' });
    const deleted = backend.deleteKeyQuietly('Gate 2');
    await user.clear(within(dialog).getByLabelText('New name'));
    await user.type(within(dialog).getByLabelText('New name'), 'Gate two');
    await user.click(within(dialog).getByRole('button', { name: 'Save name' }));
    await vi.waitFor(() =>
      expect(within(dialog).getByRole('alert')).toHaveTextContent('Key “Gate 2” was deleted outside this window'),
    );
    expect(within(dialog).queryByRole('button', { name: 'Save name' })).toBeNull();
    expect(dialog.textContent).not.toContain(deleted.id);
  });

  it('keeps an open dialog about a key changed outside up to date, and says so', async () => {
    const { changeOutside, user } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    await select(user, 'Gate 1');
    await user.click(screen.getByRole('button', { name: 'Deactivate' }));
    await changeOutside((backend) => {
      const key = backend.keys.find((candidate) => candidate.name === 'Gate 1')!;
      key.name = 'Gate north';
      key.groups = [];
      key.updated_at = '2026-12-01T09:00:00Z';
    });
    const dialog = await screen.findByRole('alertdialog', { name: 'Deactivate key “Gate north”?' });
    expect(within(dialog).getByRole('status')).toHaveTextContent(
      'Key “Gate north” was changed outside this window; this shows it as it is now.',
    );
    expect(within(dialog).getByText('Groups').nextElementSibling).toHaveTextContent('None');
    await user.click(within(dialog).getByRole('button', { name: 'Deactivate key' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(within(rowOf('Gate north')).getAllByRole('gridcell')[1]).toHaveTextContent('inactive');
  });

  it('shows the answers of overlapping reads in order: the latest wins', async () => {
    const { backend, changeOutside } = setup();
    await screen.findByText(/^Showing 4 of 4/);
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const handle = (backend as unknown as { handle: (c: string, a: Record<string, unknown>) => unknown }).handle.bind(backend);
    let first = true;
    (backend as unknown as { handle: unknown }).handle = (command: string, args: Record<string, unknown>) => {
      const answer = handle(command, args);
      if (command === 'list_key_columns' && first) {
        first = false;
        return slow.then(() => answer);
      }
      return answer;
    };
    await changeOutside((b) => b.addKey('Acme', 'First'));
    await changeOutside((b) => b.addKey('Acme', 'Second'));
    await vi.waitFor(() => expect(rowNames()).toContain('Second'));
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(rowNames()).toContain('Second');
  });
});
