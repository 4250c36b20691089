import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import NewKeysDialog from './NewKeysDialog.svelte';
import { FakeBackend } from '../../testing/fake-backend';

describe('the one-time display of many keys', () => {
  it('forgets every key when it goes away without Done (the vault locked underneath)', async () => {
    const backend = new FakeBackend({ unlocked: true }).install();
    backend.createdSecrets.set('k1', 'kw_one');
    backend.createdSecrets.set('k2', 'kw_two');
    const view = render(NewKeysDialog, {
      title: 'Keys rolled',
      summary: '2 keys rolled.',
      entries: [
        { id: 'k1', name: 'gate-1', secret: 'kw_one' },
        { id: 'k2', name: 'gate-2', secret: 'kw_two' },
      ],
      onClosed: vi.fn(),
    });
    expect(screen.getByLabelText('gate-2')).toHaveValue('kw_two');
    view.unmount();
    await vi.waitFor(() => expect(backend.createdSecrets.size).toBe(0));
    expect(backend.argsOf('forget_created_key')).toEqual([{ keyId: 'k1' }, { keyId: 'k2' }]);
  });
});
