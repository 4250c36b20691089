// One request to the backend at a time from a form or a confirmation: whether it is under
// way, and what the backend refused, worded for the admin.
import { toBackendError } from '../../backend/ipc';

export class Submission {
  busy = $state(false);
  error = $state<string | null>(null);

  /** Sends unless a request is already under way; a failure's message lands in `error`. */
  async run(send: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.error = null;
    try {
      await send();
    } catch (failure) {
      this.error = toBackendError(failure).message;
    } finally {
      this.busy = false;
    }
  }
}
