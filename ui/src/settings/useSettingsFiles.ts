// Import and export of a settings file through the native dialogs: an import puts the file's ECI
// section into the draft (nothing is written until a save), an export copies the edited file as
// it is on disk to the path picked.

import { useState } from 'react';
import { api, dialogs, toApiError, type SettingsView, type Target } from '../api';
import type { EditorAction } from './editor';
import type { Notice } from './notice';

interface Deps {
  view: SettingsView | null;
  /** The file being edited: the one an export copies. */
  target: Target;
  dispatch: (action: EditorAction) => void;
  setNotice: (notice: Notice) => void;
}

/** The name the export dialog proposes. */
export const exportName = (target: Target): string => (target === 'admin' ? 'eci-admin-settings.json' : 'eci-settings.json');

export function useSettingsFiles({ view, target, dispatch, setNotice }: Deps) {
  const [busy, setBusy] = useState(false);

  const importFile = async () => {
    let path: string | null = null;
    try {
      path = await dialogs.pickImport();
      if (path === null) return; // cancelled: nothing changes
      setBusy(true);
      const got = await api.importSettings(path);
      if (got.section === null) {
        const message = 'it has no usable ECI section (enhancedContainerIsolation)';
        setNotice({ kind: 'import-failed', path: got.path, message, diagnostics: got.diagnostics });
        return;
      }
      dispatch({ type: 'imported', section: got.section });
      setNotice({ kind: 'imported', path: got.path, diagnostics: got.diagnostics });
    } catch (raw) {
      const e = toApiError(raw);
      setNotice({ kind: 'import-failed', path, message: e.message, diagnostics: e.diagnostics });
    } finally {
      setBusy(false);
    }
  };

  const exportFile = async () => {
    if (view === null) return;
    const from = view[target].path;
    try {
      const path = await dialogs.pickExport(exportName(target));
      if (path === null) return; // cancelled: nothing written
      setBusy(true);
      const bytes = await api.exportSettings(target, path);
      setNotice({ kind: 'exported', from, path, bytes });
    } catch (raw) {
      setNotice({ kind: 'export-failed', message: toApiError(raw).message });
    } finally {
      setBusy(false);
    }
  };

  return { busy, importFile, exportFile };
}
