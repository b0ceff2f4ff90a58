// What the Settings footer tells after a save, a refused save, or a change on disk.

import type { ApiError } from '../api';

export type Notice =
  | { kind: 'saved'; path: string }
  | { kind: 'conflict'; message: string }
  | { kind: 'changed-on-disk' }
  | { kind: 'forbidden'; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'error'; message: string };

/** The notice of a save the shell refused, by the error's code (never its message). */
export function saveFailed(e: ApiError): Notice {
  switch (e.code) {
    case 'conflict':
      return { kind: 'conflict', message: e.message };
    case 'forbidden':
      return { kind: 'forbidden', message: e.message };
    case 'invalid':
      return { kind: 'invalid', message: e.message };
    default:
      return { kind: 'error', message: e.message };
  }
}
