// What each access type allows, in the words the dialog uses (DESIGN.md's access table).
import type { AccessType } from '../../backend/ipc';

export const ACCESS_TYPES: readonly AccessType[] = ['READ', 'WRITE', 'READ_WRITE'];

export const ACCESS_EXPLANATION: Record<AccessType, string> = {
  READ: 'GET and HEAD only. A READ key can never unbind a device.',
  WRITE: 'POST, PATCH and PUT. DELETE on a device (unbind) only if allowed below.',
  READ_WRITE: 'Every method. DELETE on a device (unbind) only if allowed below.',
};

/** Whether a key of this access type may be allowed to unbind devices. */
export function canUnbind(access: AccessType): boolean {
  return access !== 'READ';
}
