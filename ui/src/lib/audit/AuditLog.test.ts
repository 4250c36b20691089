import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import AuditLog from './AuditLog.svelte';
import { FakeBackend } from '../../testing/fake-backend';

function setup() {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  backend.install();
  // Three changes, recorded in this order.
  for (const [action, target] of [
    ['key.create', 'Gate 1'],
    ['key.create', 'Gate 2'],
    ['key.deactivate', 'Gate 1'],
  ] as const) {
    backend.audit.push({
      seq: backend.audit.length + 1,
      at: new Date(Date.UTC(2025, 0, 1, 9, backend.audit.length)).toISOString(),
      actor: 'admin',
      action,
      account: 'Acme',
      target_id: null,
      target_name: target,
      details: action === 'key.create' ? { access: 'READ' } : null,
    });
  }
  render(AuditLog);
  return { backend, user: userEvent.setup() };
}

const entryRows = () =>
  within(screen.getByRole('table', { name: 'Audit log entries' }))
    .getAllByRole('row')
    .slice(1);

describe('the audit log', () => {
  it('lists the entries newest first, with readable actions', async () => {
    setup();
    await screen.findByRole('cell', { name: 'Key deactivated' });
    const rows = entryRows().map((row) => within(row).getAllByRole('cell').map((cell) => cell.textContent?.trim()));
    expect(rows.map((cells) => cells[0])).toEqual(['3', '2', '1']);
    expect(rows[0].slice(2, 6)).toEqual(['admin', 'Key deactivated', 'Acme', 'Gate 1']);
    expect(rows[2][6]).toBe('access: READ');
  });

  it('filters by action and by key', async () => {
    const { backend, user } = setup();
    await screen.findByRole('cell', { name: 'Key deactivated' });
    await user.selectOptions(screen.getByLabelText('Action'), 'Key created');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(2));
    expect(entryRows()).toHaveLength(2);
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ action: 'key.create' });

    await user.type(screen.getByLabelText('Key'), 'gate 1');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(1));
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ action: 'key.create', key: 'gate 1' });
  });

  it('verifies the chain and says the result', async () => {
    const { backend, user } = setup();
    await user.click(screen.getByRole('button', { name: 'Verify log integrity' }));
    expect(await screen.findByTestId('audit-verdict')).toHaveTextContent('The log is intact: 3 entries checked');

    backend.auditOk = false;
    await user.click(screen.getByRole('button', { name: 'Verify log integrity' }));
    const verdict = await screen.findByRole('alert');
    expect(verdict).toHaveTextContent('The log was tampered with at entry 2: entry 2 was edited');
  });
});
