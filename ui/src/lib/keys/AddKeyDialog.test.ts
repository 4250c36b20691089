import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import AddKeyDialog from './AddKeyDialog.svelte';
import { FakeBackend, PRESETS } from '../../testing/fake-backend';
import { makeAccount } from '../../testing/accounts';
import { makeGroup } from '../../testing/groups';
import { makeKey } from '../../testing/keys';
import type { ApiKey } from '../../backend/ipc';

function setup(options: { keys?: ApiKey[]; keyLimit?: number } = {}) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme', { keyLimit: options.keyLimit ?? 10 });
  backend.addGroup('Acme', 'readers', 'Read devices');
  backend.addGroup('Acme', 'gates', 'Entrance gates');
  const keys = options.keys ?? [makeKey(1, { name: 'Gate 1' })];
  for (const key of keys) backend.keys.push(key);
  backend.install();
  const onCreated = vi.fn();
  const onClose = vi.fn();
  render(AddKeyDialog, {
    account: makeAccount({ key_limit: options.keyLimit ?? 10, key_count: keys.length }),
    keys,
    groups: [makeGroup('readers', 'Read devices'), makeGroup('gates', 'Entrance gates')],
    presets: PRESETS,
    onCreated,
    onClose,
  });
  return { backend, onCreated, onClose, user: userEvent.setup() };
}

const createButton = () => screen.getByRole('button', { name: 'Create API key' });

describe('"Add API key"', () => {
  it('is a dialog with the labelled fields, starting from the least access', () => {
    setup();
    expect(screen.getByRole('dialog', { name: 'Add API key' })).toBeInTheDocument();
    expect(screen.getByLabelText('Name')).toHaveFocus();
    expect(screen.getByLabelText('Description')).toHaveValue('');
    expect(screen.getByLabelText('Access type')).toHaveValue('READ');
    expect(screen.getByLabelText('Allow unbind device')).not.toBeChecked();
    expect(screen.getByLabelText('Groups')).toHaveAttribute('role', 'combobox');
    expect(screen.getByLabelText('Expires')).toHaveValue('never');
    for (const preset of ['Device', 'Timing app', 'Classification app', 'Admin']) {
      expect(screen.getByRole('button', { name: preset })).toBeInTheDocument();
    }
    expect(createButton()).toBeDisabled();
  });

  it('checks the name as it is typed: empty, too long, already used', async () => {
    const { user } = setup();
    const name = screen.getByLabelText('Name');

    await user.type(name, 'x');
    expect(createButton()).toBeEnabled();
    await user.clear(name);
    expect(screen.getByText('Enter a name.')).toBeInTheDocument();
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(createButton()).toBeDisabled();

    await user.type(name, 'k'.repeat(65));
    expect(screen.getByText('The name is 65 characters long; use at most 64.')).toBeInTheDocument();
    expect(createButton()).toBeDisabled();

    await user.clear(name);
    await user.type(name, '  GATE 1 ');
    expect(screen.getByText('A key named “GATE 1” already exists in this account.')).toBeInTheDocument();
    expect(createButton()).toBeDisabled();

    await user.type(name, '0');
    expect(name).toHaveAttribute('aria-invalid', 'false');
    expect(createButton()).toBeEnabled();
  });

  it('says the limit is reached and stays disabled', async () => {
    const keys = [makeKey(1, { name: 'one' }), makeKey(2, { name: 'two' })];
    const { user } = setup({ keys, keyLimit: 2 });
    expect(screen.getByText(/The key limit of 2 is reached for Acme/)).toBeInTheDocument();
    await user.type(screen.getByLabelText('Name'), 'three');
    expect(createButton()).toBeDisabled();
  });

  it('disables "Allow unbind device" for READ, with the reason, and clears it', async () => {
    const { user } = setup();
    const unbind = screen.getByLabelText('Allow unbind device');
    expect(unbind).toBeDisabled();
    expect(unbind).toHaveAccessibleDescription(/READ keys: they can never unbind a device/);

    await user.selectOptions(screen.getByLabelText('Access type'), 'WRITE');
    expect(unbind).toBeEnabled();
    await user.click(unbind);
    expect(unbind).toBeChecked();

    await user.selectOptions(screen.getByLabelText('Access type'), 'READ');
    expect(unbind).toBeDisabled();
    expect(unbind).not.toBeChecked();
  });

  it('fills access type and unbind from the presets', async () => {
    const { user } = setup();
    const access = screen.getByLabelText('Access type');
    const unbind = screen.getByLabelText('Allow unbind device');

    await user.click(screen.getByRole('button', { name: 'Admin' }));
    expect(access).toHaveValue('READ_WRITE');
    expect(unbind).toBeChecked();
    expect(screen.getByRole('button', { name: 'Admin' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(screen.getByRole('button', { name: 'Device' }));
    expect(access).toHaveValue('WRITE');
    expect(unbind).not.toBeChecked();

    await user.click(screen.getByRole('button', { name: 'Classification app' }));
    expect(access).toHaveValue('READ');
    expect(unbind).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Timing app' }));
    expect(access).toHaveValue('READ_WRITE');
    expect(unbind).not.toBeChecked();
  });

  it('asks for a date from today on when the expiry is a date', async () => {
    const { user } = setup();
    await user.type(screen.getByLabelText('Name'), 'Kiosk');
    await user.selectOptions(screen.getByLabelText('Expires'), 'date');
    const date = screen.getByLabelText('Last day it works');
    expect(screen.getByText('Choose the last day the key works.')).toBeInTheDocument();
    expect(createButton()).toBeDisabled();
    await user.type(date, '2001-01-01');
    expect(screen.getByText('Choose a date from today on.')).toBeInTheDocument();
    await user.clear(date);
    await user.type(date, '2999-12-31');
    expect(createButton()).toBeEnabled();
  });

  it('sends what the form says, trimmed, with the groups picked', async () => {
    const { backend, user, onCreated } = setup();
    await user.type(screen.getByLabelText('Name'), '  Finish line reader ');
    await user.type(screen.getByLabelText('Description'), ' At the finish ');
    await user.click(screen.getByRole('button', { name: 'Device' }));
    await user.click(screen.getByLabelText('Groups')); // opens the list on "readers"
    await user.keyboard('{ArrowDown}{Enter}');
    await user.selectOptions(screen.getByLabelText('Expires'), '90');
    await user.click(createButton());

    await screen.findByRole('dialog', { name: 'API key created' });
    const [args] = backend.argsOf('create_key');
    expect(args).toMatchObject({
      account: 'Acme',
      name: 'Finish line reader',
      description: 'At the finish',
      access: 'WRITE',
      allowUnbind: false,
      groups: ['gates'],
    });
    const days = (Date.parse(String(args.expiresAt)) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);
    expect(onCreated).toHaveBeenCalledWith(expect.objectContaining({ name: 'Finish line reader' }));
    // The secret is not handed to the page.
    expect(JSON.stringify(onCreated.mock.calls)).not.toContain('SeCrEt');
  });

  it('shows the backend refusal in the dialog and keeps the form', async () => {
    const { backend, user } = setup();
    backend.failures.set('create_key', {
      kind: 'limit_reached',
      message: 'key limit of 10 reached for account Acme — delete or deactivate a key, or raise the limit',
    });
    await user.type(screen.getByLabelText('Name'), 'Kiosk{Enter}');
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('key limit of 10 reached for account Acme');
    expect(screen.getByRole('dialog', { name: 'Add API key' })).toContainElement(alert);
    expect(screen.getByLabelText('Name')).toHaveValue('Kiosk');
  });

  it('closes on Escape and on Cancel', async () => {
    const { user, onClose } = setup();
    await user.keyboard('{Escape}');
    expect(onClose).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
