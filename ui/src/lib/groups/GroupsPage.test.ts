import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import GroupsPage from './GroupsPage.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import { makeAccount } from '../../testing/accounts';

function setup(build: (backend: FakeBackend) => void = () => undefined) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  build(backend);
  backend.install();
  const onChanged = vi.fn();
  render(GroupsPage, { account: makeAccount(), onChanged });
  return { backend, onChanged, user: userEvent.setup() };
}

describe('the groups page', () => {
  it('creates a group with scopes ticked in the resource × action grid', async () => {
    const { backend, user, onChanged } = setup();
    expect(await screen.findByText('No groups yet')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'New group' }));
    const dialog = screen.getByRole('dialog', { name: 'New group' });
    expect(within(dialog).getByRole('button', { name: 'Create group' })).toBeDisabled();

    await user.type(within(dialog).getByLabelText('Name'), 'Readers');
    await user.type(within(dialog).getByLabelText('Description'), 'Read devices and sessions');
    await user.click(within(dialog).getByRole('checkbox', { name: 'sessions: read' }));
    await user.click(within(dialog).getByRole('checkbox', { name: 'devices: read' }));
    await user.click(within(dialog).getByRole('checkbox', { name: 'devices: delete' }));
    await user.click(within(dialog).getByRole('checkbox', { name: 'devices: delete' }));
    await user.click(within(dialog).getByRole('button', { name: 'Create group' }));

    expect(backend.argsOf('create_group')).toEqual([
      {
        account: 'Acme',
        name: 'Readers',
        description: 'Read devices and sessions',
        scopes: ['devices:read', 'sessions:read'],
      },
    ]);
    const row = await screen.findByRole('row', { name: /Readers/ });
    expect(row).toHaveTextContent('devices: read · sessions: read');
    expect(onChanged).toHaveBeenCalled();
  });

  it('edits a group: rename, description and scopes, prefilled', async () => {
    const { backend, user } = setup((fake) => fake.addGroup('Acme', 'gates', 'Gates', ['devices:write']));
    await user.click(await screen.findByRole('button', { name: 'Edit group gates' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit group “gates”' });
    expect(within(dialog).getByRole('checkbox', { name: 'devices: write' })).toBeChecked();
    const name = within(dialog).getByLabelText('Name');
    await user.clear(name);
    await user.type(name, 'entrance gates');
    await user.click(within(dialog).getByRole('checkbox', { name: 'passings: write' }));
    await user.click(within(dialog).getByRole('button', { name: 'Save group' }));
    expect(backend.argsOf('update_group')).toEqual([
      {
        account: 'Acme',
        name: 'gates',
        rename: 'entrance gates',
        description: 'Gates',
        scopes: ['devices:write', 'passings:write'],
      },
    ]);
    expect(await screen.findByRole('row', { name: /entrance gates/ })).toBeInTheDocument();
  });

  it('refuses a duplicate name before asking the backend', async () => {
    const { backend, user } = setup((fake) => fake.addGroup('Acme', 'gates'));
    await user.click(await screen.findByRole('button', { name: 'New group' }));
    await user.type(screen.getByLabelText('Name'), 'GATES');
    expect(screen.getByText('A group named “gates” already exists.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Create group' })).toBeDisabled();
    expect(backend.commands()).not.toContain('create_group');
  });

  it('deletes an unused group after confirming', async () => {
    const { backend, user } = setup((fake) => fake.addGroup('Acme', 'spare'));
    await user.click(await screen.findByRole('button', { name: 'Delete group spare' }));
    expect(screen.getByRole('alertdialog')).toHaveTextContent('No key uses this group.');
    await user.click(screen.getByRole('button', { name: 'Delete group' }));
    expect(await screen.findByText(/No key used it/)).toBeInTheDocument();
    expect(backend.argsOf('delete_group')).toEqual([{ account: 'Acme', name: 'spare', force: false }]);
    await user.click(screen.getByRole('button', { name: 'Close' }));
    expect(await screen.findByText('No groups yet')).toBeInTheDocument();
  });

  it('shows the refusal with the count, then "Delete anyway" and the keys it deactivated', async () => {
    const { backend, user } = setup((fake) => {
      fake.addGroup('Acme', 'gates');
      fake.addGroup('Acme', 'readers');
      fake.addKey('Acme', 'Gate 1', { groups: ['gates'] });
      fake.addKey('Acme', 'Gate 2', { groups: ['gates', 'readers'] });
    });
    const row = await screen.findByRole('row', { name: /gates/ });
    expect(within(row).getAllByRole('cell')[2]).toHaveTextContent('2');
    await user.click(screen.getByRole('button', { name: 'Delete group gates' }));
    expect(screen.getByRole('alertdialog')).toHaveTextContent('2 keys use this group.');
    await user.click(screen.getByRole('button', { name: 'Delete group' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('group gates is used by 2 keys');
    expect(backend.groups.some((group) => group.name === 'gates')).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Delete anyway' }));

    expect(await screen.findByText(/2 keys lost this group/)).toBeInTheDocument();
    expect(within(screen.getByRole('alertdialog')).getByRole('listitem')).toHaveTextContent('Gate 1');
    expect(backend.argsOf('delete_group').at(-1)).toEqual({ account: 'Acme', name: 'gates', force: true });
    expect(backend.keys.find((key) => key.name === 'Gate 1')?.status).toBe('inactive');
  });
});

describe('the groups page while the vault changes outside this window', () => {
  function setupOutside() {
    const backend = new FakeBackend({ unlocked: true });
    backend.addAccount('Acme');
    backend.addGroup('Acme', 'gates', 'Entrance gates', ['devices:write']);
    backend.addGroup('Acme', 'readers', '', ['devices:read']);
    backend.install();
    const view = render(GroupsPage, { account: makeAccount(), onChanged: vi.fn(), outside: 0 });
    let outside = 0;
    async function changeOutside(change: (backend: FakeBackend) => void) {
      change(backend);
      outside += 1;
      await view.rerender({ outside });
    }
    return { backend, changeOutside, user: userEvent.setup() };
  }

  const names = () =>
    within(screen.getByRole('table', { name: 'Groups' }))
      .getAllByRole('rowheader')
      .map((cell) => cell.textContent);

  it('shows groups created, renamed and deleted elsewhere', async () => {
    const { changeOutside } = setupOutside();
    await screen.findByRole('rowheader', { name: 'gates' });
    await changeOutside((backend) => {
      backend.addGroup('Acme', 'night shift');
      backend.groups = backend.groups.filter((group) => group.name !== 'readers');
      backend.groups.find((group) => group.name === 'gates')!.name = 'doors';
    });
    await vi.waitFor(() => expect(names()).toEqual(['doors', 'night shift']));
  });

  it('turns an open dialog about a group deleted elsewhere into a notice that offers to close', async () => {
    const { changeOutside, user } = setupOutside();
    await user.click(await screen.findByRole('button', { name: 'Edit group gates' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit group “gates”' });
    await changeOutside((backend) => {
      backend.groups = backend.groups.filter((group) => group.name !== 'gates');
    });
    await vi.waitFor(() =>
      expect(within(dialog).getByRole('alert')).toHaveTextContent('Group “gates” was deleted outside this window'),
    );
    expect(within(dialog).queryByRole('button', { name: 'Save group' })).toBeNull();
    await user.click(within(dialog).getByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('deletes a group renamed elsewhere under its new name, and says it changed', async () => {
    const { backend, changeOutside, user } = setupOutside();
    await user.click(await screen.findByRole('button', { name: 'Delete group readers' }));
    await changeOutside((b) => {
      const group = b.groups.find((candidate) => candidate.name === 'readers')!;
      group.name = 'dashboards';
    });
    const dialog = await screen.findByRole('alertdialog', { name: 'Delete group “dashboards”?' });
    await user.click(within(dialog).getByRole('button', { name: 'Delete group' }));
    expect(await within(dialog).findByRole('status')).toHaveTextContent('Group dashboards deleted.');
    expect(backend.argsOf('delete_group').at(-1)).toMatchObject({ name: 'dashboards' });
    expect(within(dialog).queryByText(/deleted outside this window/)).toBeNull();
  });
});
