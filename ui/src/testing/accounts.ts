// Account records for tests.
import type { Account } from '../backend/ipc';

export function makeAccount(fields: Partial<Account> = {}): Account {
  return {
    id: 'acc-acme',
    name: 'Acme',
    prefix: 'kw',
    key_limit: 10,
    key_count: 0,
    resources: ['devices', 'sessions', 'passings'],
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:00Z',
    ...fields,
  };
}
