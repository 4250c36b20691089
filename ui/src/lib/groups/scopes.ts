// Scopes as the groups page edits them: a grid of resources × actions, stored as
// "resource:action" strings in the account's resource order.

export const SCOPE_ACTIONS = ['read', 'write', 'delete'] as const;
export type ScopeAction = (typeof SCOPE_ACTIONS)[number];

export function scopeOf(resource: string, action: ScopeAction): string {
  return `${resource}:${action}`;
}

/**
 * The selected scopes in grid order (resources as the account lists them, then read,
 * write, delete); scopes on resources the account no longer lists are kept at the end.
 */
export function orderedScopes(selected: ReadonlySet<string>, resources: readonly string[]): string[] {
  const ordered: string[] = [];
  for (const resource of resources) {
    for (const action of SCOPE_ACTIONS) {
      const scope = scopeOf(resource, action);
      if (selected.has(scope)) ordered.push(scope);
    }
  }
  const known = new Set(ordered);
  for (const scope of selected) if (!known.has(scope)) ordered.push(scope);
  return ordered;
}

/** A short reading of the scopes for a table cell: "devices: read, write · sessions: read". */
export function describeScopes(scopes: readonly string[]): string {
  if (scopes.length === 0) return 'No scopes';
  const byResource = new Map<string, string[]>();
  for (const scope of scopes) {
    const [resource, action] = scope.split(':');
    const actions = byResource.get(resource) ?? [];
    actions.push(action ?? '');
    byResource.set(resource, actions);
  }
  return [...byResource].map(([resource, actions]) => `${resource}: ${actions.join(', ')}`).join(' · ');
}
