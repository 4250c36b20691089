// The one module that talks to the Rust backend. Every Tauri call goes through here,
// so the rest of the UI is plain TypeScript and tests drive it with the IPC mocked.
import { invoke } from '@tauri-apps/api/core';

/** Where the vault file is and whether it is open; answered by `vault_status`. */
export interface VaultStatus {
  exists: boolean;
  unlocked: boolean;
  path: string;
}

/** What the unlocked vault holds; answered by `vault_summary`. */
export interface VaultSummary {
  accounts: number;
  keys: number;
}

/**
 * Error kinds the UI branches on. The backend sends the core's `ErrorKind` in snake_case
 * plus its own `vault_locked` and `internal`; a kind the UI does not know is still shown.
 */
export type ErrorKind =
  | 'invalid_input'
  | 'wrong_passphrase'
  | 'vault_missing'
  | 'vault_exists'
  | 'vault_locked'
  | 'unexpected'
  | (string & {});

/** An error from the backend, as `{ kind, message }`; `message` is safe to show. */
export class BackendError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = 'BackendError';
    this.kind = kind;
  }
}

/** Turns whatever a rejected `invoke` carried into a `BackendError`. */
export function toBackendError(raw: unknown): BackendError {
  if (raw instanceof BackendError) return raw;
  if (typeof raw === 'object' && raw !== null) {
    const { kind, message } = raw as Record<string, unknown>;
    if (typeof kind === 'string' && typeof message === 'string') {
      return new BackendError(kind, message);
    }
  }
  const message = raw instanceof Error ? raw.message : String(raw);
  return new BackendError('unexpected', message);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toBackendError(raw);
  }
}

export function vaultStatus(): Promise<VaultStatus> {
  return call('vault_status');
}

export function createVault(passphrase: string): Promise<void> {
  return call('create_vault', { passphrase });
}

export function unlock(passphrase: string): Promise<void> {
  return call('unlock', { passphrase });
}

/** Opens the vault with a key remembered in the OS keychain; false when there is none. */
export function unlockFromKeychain(): Promise<boolean> {
  return call('unlock_from_keychain');
}

export function lock(): Promise<void> {
  return call('lock');
}

export function vaultSummary(): Promise<VaultSummary> {
  return call('vault_summary');
}
