// Requests about a record another process may have deleted in the meantime.
import { toBackendError } from '../../backend/ipc';

/**
 * Awaits `request`; when the backend answers `not_found` (the record went away outside this
 * window, before the window heard of it), tells `onMissing` so the window reads the vault
 * again, and rethrows for the form to show the backend's message.
 */
export async function reportingMissing<T>(request: Promise<T>, onMissing?: () => void): Promise<T> {
  try {
    return await request;
  } catch (failure) {
    if (toBackendError(failure).kind === 'not_found') onMissing?.();
    throw failure;
  }
}
