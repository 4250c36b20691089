import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import AuditLog from './AuditLog.svelte';
import { FakeBackend } from '../../testing/fake-backend';
import type { AuditView } from '../../backend/ipc';
import { formatDay } from '../common/dates';
// Every kind of entry the core writes, with the lines it makes of them (written by the core's
// test src-tauri/crates/core/tests/audit_text.rs, which fails when this file is stale).
import sample from '../../testing/audit-sample.json';

const SAMPLE = sample as AuditView[];

function setup(entries: AuditView[] = [], props: { outside?: number } = {}) {
  const backend = new FakeBackend({ unlocked: true });
  backend.addAccount('Acme');
  backend.install();
  // Oldest first, as the vault keeps them.
  backend.audit.push(...entries.slice().sort((a, b) => a.seq - b.seq));
  const view = render(AuditLog, props);
  return { backend, view, user: userEvent.setup() };
}

/** Three changes, recorded in this order (2025-01-01, 09:00 to 09:02 UTC). */
function threeChanges(): AuditView[] {
  return [
    ['key.create', 'Gate 1', 'admin'],
    ['key.create', 'Gate 2', 'cron'],
    ['key.deactivate', 'Gate 1', 'admin'],
  ].map(([action, target, actor], index) => ({
    seq: index + 1,
    at: new Date(Date.UTC(2025, 0, 1, 9, index)).toISOString(),
    actor,
    action,
    account: 'Acme',
    target_id: `0193a5b0-0000-7000-8000-00000000000${index}`,
    target_name: target,
    details: action === 'key.create' ? { access: 'READ' } : { status: { from: 'active', to: 'inactive' } },
    lines:
      action === 'key.create'
        ? [{ field: 'access', from: null, to: { kind: 'text', text: 'READ' } }]
        : [
            {
              field: 'status',
              from: { kind: 'text', text: 'active' },
              to: { kind: 'text', text: 'inactive' },
            },
          ],
  }));
}

const entryRows = () =>
  within(screen.getByRole('table', { name: 'Audit log entries' }))
    .getAllByRole('row')
    .slice(1);

const cellTexts = (row: HTMLElement) => within(row).getAllByRole('cell').map((cell) => cell.textContent?.trim());

/** The lines of the Details cell of each row. */
const detailLines = () =>
  entryRows().map((row) =>
    within(row)
      .queryAllByRole('listitem')
      .map((item) => item.textContent?.trim()),
  );

describe('the audit log', () => {
  it('lists the entries newest first, with readable actions and one line a changed field', async () => {
    setup(threeChanges());
    await screen.findByRole('cell', { name: 'Key deactivated' });
    const rows = entryRows().map(cellTexts);
    expect(rows.map((cells) => cells[0])).toEqual(['3', '2', '1']);
    expect(rows[0].slice(2, 6)).toEqual(['admin', 'Key deactivated', 'Acme', 'Gate 1']);
    expect(detailLines()).toEqual([['status: active → inactive'], ['access: READ'], ['access: READ']]);
  });

  it('shows every kind of entry the core writes as text: no braces, no epoch numbers, no ids', async () => {
    setup(SAMPLE);
    await screen.findByRole('cell', { name: 'Vault created' });
    expect(entryRows()).toHaveLength(SAMPLE.length);
    const table = screen.getByRole('table', { name: 'Audit log entries' });
    const text = table.textContent ?? '';
    for (const raw of ['{', '}', '[', ']', '"']) expect(text).not.toContain(raw);
    expect(text).not.toMatch(/\d{10,}/);
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
    // Every line the core made is on the page, in order, its days in the admin's locale.
    expect(detailLines().flat()).toHaveLength(SAMPLE.flatMap((entry) => entry.lines).length);
    const lines = detailLines().flat();
    expect(lines).toContain('status: active → inactive');
    expect(lines).toContain('groups: none → gates, dashboards');
    expect(lines).toContain('clipboard cleared after: 30 s → 8 s');
    expect(lines).toContain('status (yours → kept): active → inactive');
    expect(lines).toContain('groups: late shift');
    expect(lines).toContain(`expires: ${formatDay('2099-12-03')}`);
    expect(formatDay('2099-12-03')).toMatch(/3/);
    expect(formatDay('2099-12-03')).not.toContain('2099-12-03');
    // Entries about no target (sync turned on and off) show none, never an id.
    const remote = entryRows().find((row) => cellTexts(row)[3] === 'Sync turned on')!;
    expect(cellTexts(remote)[5]).toBe('—');
  });

  it('writes a moment in the admin’s locale', async () => {
    const entry: AuditView = {
      ...threeChanges()[0],
      lines: [{ field: 'last used', from: null, to: { kind: 'time', at: '2026-06-30T12:30:00Z' } }],
    };
    setup([entry]);
    const expected = new Intl.DateTimeFormat(undefined, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(new Date('2026-06-30T12:30:00Z'));
    expect(await screen.findByText(`last used: ${expected}`)).toBeInTheDocument();
  });

  it('filters by action, key and actor', async () => {
    const { backend, user } = setup(threeChanges());
    await screen.findByRole('cell', { name: 'Key deactivated' });
    await user.selectOptions(screen.getByLabelText('Action'), 'Key created');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(2));
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ action: 'key.create' });

    await user.type(screen.getByLabelText('Key'), 'gate 1');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(1));
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ action: 'key.create', key: 'gate 1' });

    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    await vi.waitFor(() => expect(entryRows()).toHaveLength(3));
    await user.type(screen.getByLabelText('Actor'), 'CRON');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(1));
    expect(cellTexts(entryRows()[0])[2]).toBe('cron');
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ actor: 'CRON' });
  });

  it('filters by days of the admin’s time zone, and says when the range is empty', async () => {
    const { backend, user } = setup(threeChanges());
    await screen.findByRole('cell', { name: 'Key deactivated' });
    const from = screen.getByLabelText('From');
    const to = screen.getByLabelText('To');
    await user.type(from, '2025-01-02');
    await vi.waitFor(() => expect(screen.getByText('No entry matches the filter.')).toBeInTheDocument());
    expect(backend.argsOf('list_audit').at(-1)).toMatchObject({
      since: new Date(2025, 0, 2).toISOString(),
    });

    await user.clear(from);
    await user.type(to, '2024-12-31');
    await vi.waitFor(() => expect(backend.argsOf('list_audit').at(-1)).toMatchObject({ until: new Date(2025, 0, 1).toISOString() }));
    await user.clear(to);
    await user.type(from, '2025-01-01');
    await user.type(to, '2025-01-01');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(3));

    await user.clear(to);
    await user.type(to, '2024-12-01');
    expect(await screen.findByRole('alert')).toHaveTextContent('The last day is before the first');
    expect(screen.getByLabelText('To')).toHaveAttribute('aria-describedby');
  });

  it('reads the log again when the vault changed outside this window, keeping the filter', async () => {
    const { backend, view, user } = setup(threeChanges());
    await screen.findByRole('cell', { name: 'Key deactivated' });
    await user.selectOptions(screen.getByLabelText('Action'), 'Key deactivated');
    await vi.waitFor(() => expect(entryRows()).toHaveLength(1));
    backend.audit.push({ ...threeChanges()[2], seq: 4, actor: 'e2e-cli', target_name: 'Gate 2' });
    await view.rerender({ outside: 1 });
    await vi.waitFor(() => expect(entryRows()).toHaveLength(2));
    expect(cellTexts(entryRows()[0]).slice(2, 6)).toEqual(['e2e-cli', 'Key deactivated', 'Acme', 'Gate 2']);
    expect(screen.getByLabelText('Action')).toHaveValue('key.deactivate');
  });

  it('verifies the chain and says the result', async () => {
    const { backend, user } = setup(threeChanges());
    await user.click(screen.getByRole('button', { name: 'Verify log integrity' }));
    expect(await screen.findByTestId('audit-verdict')).toHaveTextContent('The log is intact: 3 entries checked');

    backend.auditOk = false;
    await user.click(screen.getByRole('button', { name: 'Verify log integrity' }));
    const verdict = await screen.findByRole('alert');
    expect(verdict).toHaveTextContent('The log was tampered with at entry 2: entry 2 was edited');
  });
});
