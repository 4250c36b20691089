// Follows the sync status of one account: read when the account (or the vault's content)
// changes, and replaced by every `sync-status` event the backend emits for that account.
// Create it while a component initialises: it lives and stops with that component.
import { untrack } from 'svelte';
import { onSyncStatus, syncStatus, toBackendError, type SyncStatus } from '../../backend/ipc';

function sameAccount(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export class SyncStatusFeed {
  status = $state.raw<SyncStatus | null>(null);
  /** Why the status could not be read, when it could not. */
  problem = $state<string | null>(null);

  readonly #account: () => string;
  // Bumped by every answer and event: a read that started before a newer one arrived is stale.
  #version = 0;

  /**
   * @param account the account's name, read reactively.
   * @param revision anything that changes when the vault's content did (pending changes may have).
   */
  constructor(account: () => string, revision: () => unknown = () => undefined) {
    this.#account = account;
    let shown: string | null = null;
    $effect(() => {
      const name = account();
      revision();
      untrack(() => {
        if (shown !== name) this.status = null; // never another account's status, even briefly
        shown = name;
        void this.refresh();
      });
    });
    $effect(() => {
      let stop: (() => void) | undefined;
      let gone = false;
      onSyncStatus((status) => this.replace(status)).then(
        (unlisten) => (gone ? unlisten() : (stop = unlisten)),
        () => undefined,
      );
      return () => {
        gone = true;
        stop?.();
      };
    });
  }

  /** Reads the status again. */
  async refresh(): Promise<void> {
    const version = ++this.#version;
    const name = this.#account();
    try {
      const status = await syncStatus(name);
      if (version !== this.#version) return;
      this.status = status;
      this.problem = null;
    } catch (failure) {
      if (version === this.#version) this.problem = toBackendError(failure).message;
    }
  }

  /** Takes a status the backend sent (an event, or a command's answer), if it is this account's. */
  replace(status: SyncStatus): void {
    if (!sameAccount(status.account, this.#account())) return;
    this.#version += 1;
    this.status = status;
    this.problem = null;
  }
}
