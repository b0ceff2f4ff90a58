// Live diagnostics and preview of the draft from the shell, a moment after the last edit; only the
// answers about the latest draft are shown.

import { useEffect, useRef, useState } from 'react';
import { api, toApiError, type Diagnostic, type EciSection, type Target } from '../api';

export const LIVE_CHECK_MS = 150;

/** Checks `draft` once `enabled`; the diagnostics go to `onDiagnostics`, the preview is returned. */
export function useLiveCheck(enabled: boolean, target: Target, draft: EciSection, onDiagnostics: (list: Diagnostic[]) => void): string {
  const [preview, setPreview] = useState('');
  const checkSeq = useRef(0);
  const report = useRef(onDiagnostics);
  report.current = onDiagnostics;
  useEffect(() => {
    if (!enabled) return;
    const seq = ++checkSeq.current;
    const timer = setTimeout(() => {
      api.validateSection(target, draft).then(
        (d) => seq === checkSeq.current && report.current(d),
        () => undefined,
      );
      api.previewSettings(target, draft).then(
        (p) => seq === checkSeq.current && setPreview(p),
        (e: unknown) => seq === checkSeq.current && setPreview(`(no preview: ${toApiError(e).message})`),
      );
    }, LIVE_CHECK_MS);
    return () => clearTimeout(timer);
  }, [enabled, target, draft]);
  return preview;
}
