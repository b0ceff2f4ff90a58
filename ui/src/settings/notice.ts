// What the Settings footer tells after a save, a refused save, or a change on disk.

import type { ApiError } from '../api';

/** Why a save was refused: the file changed, not allowed, invalid settings, or anything else. */
export type Refusal = 'conflict' | 'forbidden' | 'invalid' | 'error';

export type Notice = { kind: 'saved'; path: string } | { kind: 'changed-on-disk' } | { kind: Refusal; message: string };

/** The notice of a save the shell refused, by the error's code (never its message). */
export function saveFailed(e: ApiError): Notice {
  const kind: Refusal = e.code === 'conflict' || e.code === 'forbidden' || e.code === 'invalid' ? e.code : 'error';
  return { kind, message: e.message };
}
