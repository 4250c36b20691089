import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import App from '../App.svelte';
import { FakeBackend } from '../testing/fake-backend';

function unlockedWithKeys(): FakeBackend {
  const backend = new FakeBackend({ passphrase: 'correct horse battery', unlocked: true });
  backend.addAccount('Acme');
  backend.addKey('Acme', 'Gate 1');
  backend.addKey('Acme', 'Gate 2');
  return backend.install();
}

async function shown() {
  const user = userEvent.setup();
  render(App);
  await screen.findByRole('gridcell', { name: 'Gate 1' });
  return user;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('keyboard shortcuts', () => {
  it('are listed in a dialog opened from the header', async () => {
    unlockedWithKeys();
    const user = await shown();
    expect(screen.getByRole('button', { name: 'Lock' })).toHaveAttribute('aria-keyshortcuts', 'Control+L');
    await user.click(screen.getByRole('button', { name: 'Keyboard shortcuts' }));
    const list = await screen.findByRole('dialog', { name: 'Keyboard shortcuts' });
    const rows = within(list)
      .getAllByRole('row')
      .slice(1)
      .map((row) => row.textContent);
    expect(rows).toEqual([
      'Ctrl+NAdd an API key',
      'Ctrl+FFilter the keys',
      'Ctrl+LLock the vault',
      'Ctrl+,Open the settings',
      'F2Rename the selected key',
      'DeleteDelete the selected key (after a confirmation)',
    ]);
  });

  it('Ctrl+N adds a key, Ctrl+F filters, Ctrl+, opens the settings, from any page', async () => {
    unlockedWithKeys();
    const user = await shown();
    await user.click(within(screen.getByRole('navigation', { name: 'Pages' })).getByRole('button', { name: 'Groups' }));
    await user.keyboard('{Control>}n{/Control}');
    expect(await screen.findByRole('dialog', { name: 'Add API key' })).toBeInTheDocument();
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());

    await user.keyboard('{Control>},{/Control}');
    expect(await screen.findByRole('heading', { name: 'Settings' })).toBeInTheDocument();
    await user.keyboard('{Control>}f{/Control}');
    await waitFor(() => expect(screen.getByLabelText('Filter')).toHaveFocus());
  });

  it('F2 and Delete act on the selected key, but not while typing in the filter', async () => {
    unlockedWithKeys();
    const user = await shown();
    await user.click(screen.getByRole('gridcell', { name: 'Gate 2' }));
    await user.click(screen.getByLabelText('Filter'));
    await user.keyboard('{Delete}{F2}');
    expect(screen.queryByRole('dialog')).toBeNull();
    await user.click(screen.getByRole('heading', { name: 'API keys' }));
    await user.keyboard('{F2}');
    expect(await screen.findByRole('dialog', { name: 'Rename key “Gate 2”' })).toBeInTheDocument();
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    await user.keyboard('{Delete}');
    expect(await screen.findByRole('alertdialog')).toHaveTextContent('Gate 2');
  });

  it('Ctrl+L locks, even from inside a dialog', async () => {
    const backend = unlockedWithKeys();
    const user = await shown();
    await user.keyboard('{Control>}n{/Control}');
    await screen.findByRole('dialog', { name: 'Add API key' });
    await user.keyboard('{Control>}l{/Control}');
    expect(await screen.findByLabelText('Passphrase')).toBeInTheDocument();
    expect(backend.commands()).toContain('lock');
  });
});
