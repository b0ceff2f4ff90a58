// What the Settings footer tells after a save, a refused save, a change on disk, or an import or
// export of a settings file.

import type { ApiError, Diagnostic } from '../api';

/** Why a save was refused: the file changed, not allowed, invalid settings, or anything else. */
export type Refusal = 'conflict' | 'forbidden' | 'invalid' | 'error';

export type Notice =
  | { kind: 'saved'; path: string }
  | { kind: 'changed-on-disk' }
  | { kind: Refusal; message: string }
  /** pkexec: the administrator's password was not given (dismissed, refused, or no agent). */
  | { kind: 'not-authorised'; message: string }
  | { kind: 'imported'; path: string; diagnostics: Diagnostic[] }
  /** `path` is `null` when the dialog itself failed. */
  | { kind: 'import-failed'; path: string | null; message: string; diagnostics: Diagnostic[] }
  | { kind: 'exported'; from: string; path: string; bytes: number }
  | { kind: 'export-failed'; message: string };

/** The notice of a save the shell refused, by the error's code (never its message). */
export function saveFailed(e: ApiError): Notice {
  const kind: Refusal = e.code === 'conflict' || e.code === 'forbidden' || e.code === 'invalid' ? e.code : 'error';
  return { kind, message: e.message };
}

/** The same for a save through polkit, where `forbidden` means no administrator's authorisation. */
export function elevatedSaveFailed(e: ApiError): Notice {
  return e.code === 'forbidden' ? { kind: 'not-authorised', message: e.message } : saveFailed(e);
}
