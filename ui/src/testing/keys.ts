// Key records for tests: realistic defaults, any field overridable.
import type { ApiKey } from '../backend/ipc';

const T0 = Date.parse('2025-03-01T08:00:00Z');

export function makeKey(n: number, fields: Partial<ApiKey> = {}): ApiKey {
  return {
    id: `key-${String(n).padStart(6, '0')}`,
    account: 'Acme',
    name: `key-${n}`,
    description: null,
    access: 'READ',
    allow_unbind: false,
    groups: [],
    status: 'active',
    hint: `kw_${String(n).padStart(4, '0')}…wXyZ`,
    created_at: new Date(T0 + n * 60_000).toISOString(),
    created_by: 'admin',
    updated_at: new Date(T0 + n * 60_000).toISOString(),
    last_used_at: null,
    expires_at: null,
    ...fields,
  };
}
