import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import DialogHarness from '../../testing/DialogHarness.svelte';

describe('a dialog', () => {
  it('takes the focus, keeps Tab inside, and hides what is behind it', async () => {
    const user = userEvent.setup();
    render(DialogHarness);
    await user.click(screen.getByRole('button', { name: 'Open' }));

    expect(screen.getByRole('dialog', { name: 'Example' })).toHaveAttribute('aria-modal', 'true');
    expect(screen.getByLabelText('First')).toHaveFocus();
    expect(screen.queryByRole('button', { name: 'Open' })).toBeNull(); // hidden while open
    expect(screen.getByText('Behind the dialog').closest('[inert]')).not.toBeNull();

    await user.tab();
    expect(screen.getByRole('button', { name: 'Last' })).toHaveFocus();
    await user.tab();
    expect(screen.getByLabelText('First')).toHaveFocus();
    await user.tab({ shift: true });
    expect(screen.getByRole('button', { name: 'Last' })).toHaveFocus();
  });

  it('asks its owner to close on Escape and gives the focus back', async () => {
    const user = userEvent.setup();
    const onRequestClose = vi.fn();
    render(DialogHarness, { onRequestClose });
    await user.click(screen.getByRole('button', { name: 'Open' }));
    await user.keyboard('{Escape}');

    expect(onRequestClose).toHaveBeenCalledTimes(1);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByRole('button', { name: 'Open' })).toHaveFocus();
    expect(document.querySelector('[inert]')).toBeNull();
  });
});
