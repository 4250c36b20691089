import { describe, expect, it } from 'vitest';
import { BackendError, keysFromColumns, listKeys, removeRemote, toBackendError } from './ipc';
import { FakeBackend, keyColumns } from '../testing/fake-backend';
import { makeKey } from '../testing/keys';

describe('toBackendError', () => {
  it('keeps the kind and message the backend sent', () => {
    const error = toBackendError({ kind: 'wrong_passphrase', message: 'wrong passphrase' });
    expect(error).toBeInstanceOf(BackendError);
    expect(error.kind).toBe('wrong_passphrase');
    expect(error.message).toBe('wrong passphrase');
  });

  it('calls anything else unexpected and keeps its text', () => {
    expect(toBackendError('command vault_status not found')).toMatchObject({
      kind: 'unexpected',
      message: 'command vault_status not found',
    });
    expect(toBackendError(new TypeError('boom'))).toMatchObject({ kind: 'unexpected', message: 'boom' });
    expect(toBackendError({ kind: 3 })).toMatchObject({ kind: 'unexpected' });
  });
});

describe('removeRemote against the fake backend', () => {
  function acmeWithPendingChanges(pending: number) {
    const backend = new FakeBackend({ unlocked: true });
    backend.addAccount('Acme');
    backend.setRemote('Acme').pending = pending;
    return backend.install();
  }

  it('is refused while changes wait, unless forced', async () => {
    const backend = acmeWithPendingChanges(3);
    await expect(removeRemote('Acme', false)).rejects.toMatchObject({
      kind: 'refused',
      message: expect.stringMatching(/^3 changes have not reached the remote yet: sync first/),
    });
    expect(backend.syncOf('Acme').remote).not.toBeNull();

    const status = await removeRemote('Acme', true);
    expect(status).toMatchObject({ account: 'Acme', remote: null, pending_changes: 0 });
    expect(backend.argsOf('remove_remote')).toEqual([
      { account: 'Acme', force: false },
      { account: 'Acme', force: true },
    ]);
  });

  it('needs no force when nothing waits, and is refused during a sync', async () => {
    const backend = acmeWithPendingChanges(0);
    backend.syncOf('Acme').syncing = true;
    await expect(removeRemote('Acme', true)).rejects.toMatchObject({ kind: 'conflict' });
    backend.syncOf('Acme').syncing = false;
    await expect(removeRemote('Acme', false)).resolves.toMatchObject({ remote: null });
    await expect(removeRemote('Acme', true)).rejects.toMatchObject({ kind: 'not_found' });
  });
});

describe('keys read in columns', () => {
  it('come back as the records they were, replaced_by only where a roll set it', () => {
    const keys = [
      makeKey(1, { description: 'North gate', groups: ['devices', 'gates'], expires_at: '2999-01-01T00:00:00Z' }),
      makeKey(2, { status: 'inactive', last_used_at: '2026-11-30T12:00:00Z', replaced_by: 'key-000003' }),
      makeKey(3, { access: 'READ_WRITE', allow_unbind: true, created_by: 'ops' }),
    ];
    const back = keysFromColumns(keyColumns('Acme', keys));
    expect(back).toStrictEqual(keys);
    expect('replaced_by' in back[0]).toBe(false);
    expect(keysFromColumns(keyColumns('Acme', []))).toEqual([]);
  });

  it('are what listKeys answers', async () => {
    const backend = new FakeBackend({ unlocked: true });
    backend.addAccount('Acme');
    const added = [
      backend.addKey('Acme', 'gate 1', { description: 'North gate' }),
      backend.addKey('Acme', 'gate 2', { replaced_by: 'key-000009' }),
    ];
    backend.install();
    expect(await listKeys('Acme')).toStrictEqual(added);
  });
});
