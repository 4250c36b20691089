// Group records for tests.
import type { Group } from '../backend/ipc';

export function makeGroup(name: string, description = '', scopes: string[] = [], keyCount = 0): Group {
  return {
    id: `grp-${name}`,
    account: 'Acme',
    name,
    description,
    scopes,
    key_count: keyCount,
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
  };
}
