// The audit log as the admin reads it: the actions' names (an action this list does not
// know, from a newer core, is shown as recorded), and the lines the backend makes of each
// entry's details, written here with days and times in the admin's locale.
import type { AuditLine, AuditValue } from '../../backend/ipc';
import { formatDateTime, formatDay } from '../common/dates';

export const AUDIT_ACTIONS: readonly { action: string; label: string }[] = [
  { action: 'key.create', label: 'Key created' },
  { action: 'key.rename', label: 'Key renamed' },
  { action: 'key.set_groups', label: 'Key groups changed' },
  { action: 'key.activate', label: 'Key activated' },
  { action: 'key.deactivate', label: 'Key deactivated' },
  { action: 'key.delete', label: 'Key deleted' },
  { action: 'group.create', label: 'Group created' },
  { action: 'group.update', label: 'Group changed' },
  { action: 'group.delete', label: 'Group deleted' },
  { action: 'account.create', label: 'Account created' },
  { action: 'account.update', label: 'Account changed' },
  { action: 'secret.rotate', label: 'Shared secret rotated' },
  { action: 'settings.update', label: 'Settings changed' },
  { action: 'passphrase.change', label: 'Passphrase changed' },
  { action: 'keychain.remember', label: 'Remembered in the keychain' },
  { action: 'keychain.forget', label: 'Forgotten by the keychain' },
  { action: 'vault.create', label: 'Vault created' },
  { action: 'remote.set', label: 'Sync turned on' },
  { action: 'remote.remove', label: 'Sync turned off' },
  { action: 'sync.key.create', label: 'Key created elsewhere (sync)' },
  { action: 'sync.key.update', label: 'Key changed elsewhere (sync)' },
  { action: 'sync.key.delete', label: 'Key deleted elsewhere (sync)' },
  { action: 'sync.group.create', label: 'Group created elsewhere (sync)' },
  { action: 'sync.group.update', label: 'Group changed elsewhere (sync)' },
  { action: 'sync.group.delete', label: 'Group deleted elsewhere (sync)' },
  { action: 'sync.conflict', label: 'Sync conflict' },
];

const LABELS = new Map(AUDIT_ACTIONS.map((entry) => [entry.action, entry.label]));

export function actionLabel(action: string): string {
  return LABELS.get(action) ?? action;
}

/** A value of an audit line: text as it is, days and times in the admin's locale. */
export function valueText(value: AuditValue): string {
  switch (value.kind) {
    case 'text':
      return value.text;
    case 'day':
      return formatDay(value.day);
    case 'time':
      return formatDateTime(value.at);
  }
}

/** One changed field: "status: active → inactive", or "hint: kw_AbCd…wXyZ" with no "before". */
export function lineText(line: AuditLine): string {
  const to = valueText(line.to);
  return line.from === null ? `${line.field}: ${to}` : `${line.field}: ${valueText(line.from)} → ${to}`;
}
