// An in-memory stand-in for the Rust commands, installed with Tauri's mockIPC, so UI tests
// exercise the real ipc module and components against the same command names and errors.
import { mockIPC } from '@tauri-apps/api/mocks';
import type { VaultSummary } from '../backend/ipc';

export interface FakeBackendOptions {
  /** The passphrase of an existing vault; leave out for "no vault yet". */
  passphrase?: string;
  summary?: VaultSummary;
  /** What `unlock_from_keychain` does: unlock, find nothing, or fail. */
  keychain?: 'remembered' | 'empty' | 'unavailable';
}

export class FakeBackend {
  passphrase: string | undefined;
  unlocked = false;
  summary: VaultSummary;
  keychain: NonNullable<FakeBackendOptions['keychain']>;
  readonly calls: string[] = [];
  readonly path = '/home/admin/.local/share/keyward/vault.db';

  constructor(options: FakeBackendOptions = {}) {
    this.passphrase = options.passphrase;
    this.summary = options.summary ?? { accounts: 0, keys: 0 };
    this.keychain = options.keychain ?? 'empty';
  }

  install(): this {
    mockIPC((command, args) => {
      this.calls.push(command);
      return this.handle(command, (args ?? {}) as Record<string, unknown>);
    });
    return this;
  }

  private handle(command: string, args: Record<string, unknown>): unknown {
    switch (command) {
      case 'vault_status':
        return { exists: this.passphrase !== undefined, unlocked: this.unlocked, path: this.path };
      case 'create_vault':
        return this.create(String(args.passphrase));
      case 'unlock':
        return this.unlock(String(args.passphrase));
      case 'unlock_from_keychain':
        if (this.keychain === 'unavailable') {
          throw { kind: 'keychain', message: 'no keychain is available on this system' };
        }
        this.unlocked = this.keychain === 'remembered';
        return this.unlocked;
      case 'lock':
        this.unlocked = false;
        return null;
      case 'vault_summary':
        if (!this.unlocked) throw { kind: 'vault_locked', message: 'the vault is locked' };
        return this.summary;
      default:
        throw new Error(`the fake backend has no command ${command}`);
    }
  }

  private create(passphrase: string): null {
    if (this.passphrase !== undefined) {
      throw { kind: 'vault_exists', message: `a vault already exists at ${this.path}` };
    }
    if ([...passphrase].length < 8) {
      throw { kind: 'invalid_input', message: 'the passphrase is too short: use at least 8 characters' };
    }
    this.passphrase = passphrase;
    this.unlocked = true;
    return null;
  }

  private unlock(passphrase: string): null {
    if (this.passphrase === undefined) {
      throw { kind: 'vault_missing', message: `there is no vault at ${this.path}` };
    }
    if (passphrase !== this.passphrase) {
      throw { kind: 'wrong_passphrase', message: 'wrong passphrase' };
    }
    this.unlocked = true;
    return null;
  }
}
