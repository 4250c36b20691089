// How the sync status of an account is put into words: the header's indicator, the
// remote URL check, the summary of a sync, the records its conflicts name and what
// turning sync off leaves unsent.
import type { Conflict, RefusedChange, SyncReport, SyncStatus } from '../../backend/ipc';
import { formatDateTime, formatRelative } from '../common/dates';

export type IndicatorTone = 'off' | 'busy' | 'pending' | 'synced' | 'failed';

export interface IndicatorView {
  /** What the indicator says after "Sync status:". */
  label: string;
  /** More detail on hover: the error of a failed sync, the exact time of the last one. */
  title?: string;
  tone: IndicatorTone;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

export function pendingLabel(count: number): string {
  return `${plural(count, 'change', 'changes')} pending`;
}

/**
 * The indicator's state, most urgent first: a sync running, no remote, a failed last sync,
 * changes waiting, then when the last sync was. `problem` is why the status could not be read.
 */
export function indicatorView(status: SyncStatus | null, now: number, problem: string | null = null): IndicatorView {
  if (status === null) {
    return problem === null
      ? { label: 'Checking…', tone: 'off' }
      : { label: 'Unknown', title: problem, tone: 'failed' };
  }
  if (status.syncing) return { label: 'Syncing…', tone: 'busy' };
  if (status.remote === null) return { label: 'Sync off', title: 'No remote is set for this account', tone: 'off' };
  if (status.last_error !== null) return { label: 'Sync failed', title: status.last_error, tone: 'failed' };
  if (status.pending_changes > 0) return { label: pendingLabel(status.pending_changes), tone: 'pending' };
  if (status.last_sync_at !== null) {
    return {
      label: `Synced ${formatRelative(status.last_sync_at, now)}`,
      title: formatDateTime(status.last_sync_at),
      tone: 'synced',
    };
  }
  return { label: 'Not synced yet', tone: 'pending' };
}

/** What turning sync off loses: "3 changes have not reached the remote and will not be sent." */
export function unsentChangesWarning(count: number): string {
  const verb = count === 1 ? 'has' : 'have';
  return `${plural(count, 'change', 'changes')} made here ${verb} not reached the remote and will not be sent.`;
}

/** What is wrong with a typed remote URL; null when it will do. */
export function remoteUrlProblem(raw: string): string | null {
  const url = raw.trim();
  if (url === '') return 'Enter the URL of the remote API.';
  if (!url.startsWith('https://') && !url.startsWith('http://')) {
    return 'The URL must start with https:// (or http://).';
  }
  if (url === 'https://' || url === 'http://') return "Add the server's address after the //.";
  try {
    new URL(url);
  } catch {
    return "This is not a valid URL: check the server's address.";
  }
  return null;
}

/** "Pushed 3, pulled 12, 1 conflict". */
export function reportSummary(report: SyncReport): string {
  const summary = `Pushed ${report.pushed}, pulled ${report.pulled}, ${plural(report.conflicts.length, 'conflict', 'conflicts')}`;
  return report.refused.length > 0 ? `${summary}, ${report.refused.length} refused` : summary;
}

/** "key “gate 2” (name, status): why" — one refused change, for people. */
export function refusedText(change: RefusedChange): string {
  const what = change.entity === 'key' ? 'Key' : 'Group';
  return `${what} “${change.name}” (${change.fields.join(', ')}): ${change.reason}`;
}

/** "Key Gate 1", "Group Timing". */
export function conflictRecord(conflict: Conflict): string {
  return `${conflict.entity === 'key' ? 'Key' : 'Group'} ${conflict.name}`;
}
