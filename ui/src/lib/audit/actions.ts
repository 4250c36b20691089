// Names of the audit log's actions as the admin reads them. An action this list does not
// know (a newer core) is shown as recorded.

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
];

const LABELS = new Map(AUDIT_ACTIONS.map((entry) => [entry.action, entry.label]));

export function actionLabel(action: string): string {
  return LABELS.get(action) ?? action;
}

/** The entry's changed fields on one line, e.g. `from: "a" · to: "b"`. */
export function describeDetails(details: unknown): string {
  if (details === null || details === undefined) return '';
  if (typeof details !== 'object') return String(details);
  const entries = Object.entries(details as Record<string, unknown>);
  if (entries.length === 0) return '';
  return entries
    .map(([field, value]) => `${field}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' · ');
}
