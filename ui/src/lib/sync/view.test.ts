import { describe, expect, it } from 'vitest';
import { indicatorView, remoteUrlProblem, reportSummary, unsentChangesWarning } from './view';
import { formatRelative } from '../common/dates';
import type { SyncStatus } from '../../backend/ipc';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function status(fields: Partial<SyncStatus> = {}): SyncStatus {
  return {
    account: 'Acme',
    remote: { url: 'https://keys.example.com', token_hint: 'kws_…', insecure: false },
    pending_changes: 0,
    last_sync_at: null,
    last_report: null,
    last_error: null,
    refused: [],
    syncing: false,
    ...fields,
  };
}

describe('relative times', () => {
  it('reads as a person would say it', () => {
    expect(formatRelative(ago(20_000), NOW)).toBe('just now');
    expect(formatRelative(ago(-120_000), NOW)).toBe('just now');
    expect(formatRelative(ago(5 * 60_000), NOW)).toBe('5 minutes ago');
    expect(formatRelative(ago(3 * 3_600_000), NOW)).toBe('3 hours ago');
    expect(formatRelative(ago(30 * 3_600_000), NOW)).toBe('yesterday');
    expect(formatRelative(ago(4 * 86_400_000), NOW)).toBe('4 days ago');
  });
});

describe('the indicator', () => {
  it('puts a running sync first, then no remote, then a failure, then what is pending', () => {
    const failed = { last_error: 'remote unreachable', pending_changes: 2 };
    expect(indicatorView(status({ ...failed, syncing: true }), NOW).label).toBe('Syncing…');
    expect(indicatorView(status({ ...failed, remote: null }), NOW).label).toBe('Sync off');
    expect(indicatorView(status(failed), NOW)).toEqual({ label: 'Sync failed', title: 'remote unreachable', tone: 'failed' });
    expect(indicatorView(status({ pending_changes: 2, last_sync_at: ago(60_000) }), NOW).label).toBe('2 changes pending');
    expect(indicatorView(status({ last_sync_at: ago(2 * 3_600_000) }), NOW).label).toBe('Synced 2 hours ago');
  });

  it('says when the status could not be read, and why', () => {
    expect(indicatorView(null, NOW)).toEqual({ label: 'Checking…', tone: 'off' });
    expect(indicatorView(null, NOW, 'no such command')).toEqual({ label: 'Unknown', title: 'no such command', tone: 'failed' });
  });
});

describe('the remote URL', () => {
  it('must be an http:// or https:// URL with a server', () => {
    expect(remoteUrlProblem('https://keys.example.com')).toBeNull();
    expect(remoteUrlProblem('http://127.0.0.1:8420')).toBeNull();
    expect(remoteUrlProblem('  ')).toBe('Enter the URL of the remote API.');
    expect(remoteUrlProblem('keys.example.com')).toBe('The URL must start with https:// (or http://).');
    expect(remoteUrlProblem('ftp://keys.example.com')).toBe('The URL must start with https:// (or http://).');
    expect(remoteUrlProblem('https://')).toBe("Add the server's address after the //.");
    expect(remoteUrlProblem('https://keys example.com')).toBe("This is not a valid URL: check the server's address.");
  });
});

describe('the summary of a sync', () => {
  it('counts what went each way and the conflicts', () => {
    const conflict = { entity: 'key' as const, id: 'k', name: 'Gate 1', field: 'status', yours: 'active', kept: 'inactive', rule: 'inactive beats active' };
    expect(reportSummary({ pushed: 3, pulled: 12, conflicts: [conflict], refused: [] })).toBe('Pushed 3, pulled 12, 1 conflict');
    expect(reportSummary({ pushed: 0, pulled: 0, conflicts: [], refused: [] })).toBe('Pushed 0, pulled 0, 0 conflicts');
  });
});

describe('the warning before turning sync off', () => {
  it('counts the changes that will not be sent, in the singular for one', () => {
    expect(unsentChangesWarning(3)).toBe('3 changes made here have not reached the remote and will not be sent.');
    expect(unsentChangesWarning(1)).toBe('1 change made here has not reached the remote and will not be sent.');
  });
});
