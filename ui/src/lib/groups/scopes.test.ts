import { describe, expect, it } from 'vitest';
import { describeScopes, orderedScopes, scopeOf } from './scopes';

describe('scopes', () => {
  const resources = ['devices', 'sessions', 'passings'];

  it('are written resource:action', () => {
    expect(scopeOf('devices', 'delete')).toBe('devices:delete');
  });

  it('come out in grid order, keeping scopes on resources no longer listed', () => {
    const picked = new Set(['passings:read', 'legacy:write', 'devices:delete', 'devices:read']);
    expect(orderedScopes(picked, resources)).toEqual(['devices:read', 'devices:delete', 'passings:read', 'legacy:write']);
  });

  it('read as one line per resource', () => {
    expect(describeScopes(['devices:read', 'devices:write', 'sessions:read'])).toBe(
      'devices: read, write · sessions: read',
    );
    expect(describeScopes([])).toBe('No scopes');
  });
});
