import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import ThisComputer from './ThisComputer.svelte';
import { FakeBackend } from '../../testing/fake-backend';

describe('this computer', () => {
  it('forgets the vault remembered in the keychain, and says when there was none', async () => {
    const backend = new FakeBackend({ unlocked: true, keychain: 'remembered' }).install();
    const user = userEvent.setup();
    render(ThisComputer);
    const forget = screen.getByRole('button', { name: 'Forget the passphrase on this computer' });
    await user.click(forget);
    expect(await screen.findByRole('status')).toHaveTextContent('Forgotten: the next unlock asks for the passphrase.');
    expect(backend.commands()).toEqual(['forget_keychain']);
    await user.click(forget);
    expect(await screen.findByText(/did not remember the vault/)).toBeInTheDocument();
  });
});
