import { describe, expect, it } from 'vitest';
import { BackendError, toBackendError } from './ipc';

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
