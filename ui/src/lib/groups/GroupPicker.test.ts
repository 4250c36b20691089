import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import PickerHarness from '../../testing/PickerHarness.svelte';
import { makeGroup } from '../../testing/groups';

const groups = [
  makeGroup('readers', 'Read devices and sessions'),
  makeGroup('writers', 'Write passings from the finish line'),
  makeGroup('gates', 'Entrance gates at the venue'),
];

function chosen(): string[] {
  return JSON.parse(screen.getByTestId('chosen').textContent ?? '[]');
}

function options() {
  return within(screen.getByRole('listbox', { hidden: true })).queryAllByRole('option', { hidden: true });
}

describe('the group picker', () => {
  it('is a combobox labelled "Groups" whose list opens on ArrowDown', async () => {
    const user = userEvent.setup();
    render(PickerHarness, { groups });
    const input = screen.getByLabelText('Groups');
    expect(input).toHaveAttribute('role', 'combobox');
    expect(input).toHaveAttribute('aria-expanded', 'false');

    await user.click(input);
    await user.keyboard('{Escape}');
    expect(input).toHaveAttribute('aria-expanded', 'false');
    await user.keyboard('{ArrowDown}');
    expect(input).toHaveAttribute('aria-expanded', 'true');
    expect(screen.getByRole('listbox')).toBeVisible();
    expect(options().map((option) => option.textContent?.replace(/\s+/g, ' ').trim())).toEqual([
      'readers Read devices and sessions',
      'writers Write passings from the finish line',
      'gates Entrance gates at the venue',
    ]);
  });

  it('moves with the arrows and toggles with Enter, without submitting the form', async () => {
    const user = userEvent.setup();
    const onsubmit = vi.fn();
    render(PickerHarness, { groups, onsubmit });
    const input = screen.getByLabelText('Groups');
    input.focus();

    await user.keyboard('{ArrowDown}'); // opens on the first group
    await user.keyboard('{ArrowDown}'); // writers
    expect(input).toHaveAttribute('aria-activedescendant', options()[1].id);
    await user.keyboard('{Enter}');
    expect(chosen()).toEqual(['writers']);
    expect(options()[1]).toHaveAttribute('aria-selected', 'true');

    await user.keyboard('{ArrowDown}{ArrowDown}{Enter}'); // wraps round to readers
    expect(chosen()).toEqual(['writers', 'readers']);
    await user.keyboard('{ArrowUp}{Enter}'); // gates
    expect(chosen()).toEqual(['writers', 'readers', 'gates']);

    await user.keyboard('{ArrowDown}{Enter}'); // readers again: removed
    expect(chosen()).toEqual(['writers', 'gates']);
    expect(onsubmit).not.toHaveBeenCalled();
    expect(within(screen.getByRole('list', { name: 'Chosen groups' })).getAllByRole('listitem')).toHaveLength(2);
  });

  it('searches names and descriptions as it is typed', async () => {
    const user = userEvent.setup();
    render(PickerHarness, { groups });
    await user.type(screen.getByLabelText('Groups'), 'FINISH');
    expect(options()).toHaveLength(1);
    expect(options()[0]).toHaveTextContent('writers');
    await user.keyboard('{Enter}');
    expect(chosen()).toEqual(['writers']);

    await user.clear(screen.getByLabelText('Groups'));
    await user.type(screen.getByLabelText('Groups'), 'nothing like it');
    expect(options()).toHaveLength(0);
    expect(screen.getByText('No group matches “nothing like it”.')).toBeInTheDocument();
  });

  it('removes the last chip on Backspace in the empty search, and only then', async () => {
    const user = userEvent.setup();
    render(PickerHarness, { groups, selected: ['readers', 'gates'] });
    const input = screen.getByLabelText('Groups');
    await user.type(input, 'ga');
    await user.keyboard('{Backspace}');
    expect(chosen()).toEqual(['readers', 'gates']);
    await user.keyboard('{Backspace}'); // the search is empty now
    expect(chosen()).toEqual(['readers', 'gates']);
    await user.keyboard('{Backspace}');
    expect(chosen()).toEqual(['readers']);
    await user.keyboard('{Backspace}{Backspace}');
    expect(chosen()).toEqual([]);
  });

  it('closes its list on Escape without letting the dialog around close', async () => {
    const user = userEvent.setup();
    const onescape = vi.fn();
    render(PickerHarness, { groups, onescape });
    const input = screen.getByLabelText('Groups');
    input.focus();
    await user.keyboard('{ArrowDown}');
    await user.keyboard('{Escape}');
    expect(input).toHaveAttribute('aria-expanded', 'false');
    expect(onescape).not.toHaveBeenCalled();
    // With the list closed, Escape is the dialog's again.
    await user.keyboard('{Escape}');
    expect(onescape).toHaveBeenCalledTimes(1);
  });

  it('toggles a group with a click and removes a chip with its button', async () => {
    const user = userEvent.setup();
    render(PickerHarness, { groups, selected: ['gates'] });
    await user.click(screen.getByLabelText('Groups'));
    await user.click(screen.getByRole('option', { name: /readers/ }));
    expect(chosen()).toEqual(['gates', 'readers']);
    await user.click(screen.getByRole('button', { name: 'Remove group gates' }));
    expect(chosen()).toEqual(['readers']);
  });

  it('says when the account has no groups', async () => {
    const user = userEvent.setup();
    render(PickerHarness, { groups: [] });
    await user.click(screen.getByLabelText('Groups'));
    expect(screen.getByText(/This account has no groups yet/)).toBeVisible();
  });
});
