// The Settings editor's dealings with the shell: loads the settings, follows changes on disk
// (taken when nothing is edited, otherwise a warning), and saves with the etag the draft was based
// on, so that a save never overwrites a file changed since it was loaded.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { api, events, toApiError, type SettingsView } from '../api';
import { subscription } from '../subscription';
import { editorReducer, INITIAL_EDITOR, isDirty, onDiskChange, targetOf } from './editor';
import { saveFailed, type Notice } from './notice';

export function useSettingsEditor(onChanged: () => void) {
  const [state, dispatch] = useReducer(editorReducer, INITIAL_EDITOR);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [saving, setSaving] = useState(false);
  const { view, draft } = state;
  const dirty = isDirty(state);

  const apply = useCallback((v: SettingsView) => {
    dispatch({ type: 'loaded', view: v });
    setLoadError(null);
  }, []);

  const load = useCallback(async () => {
    try {
      apply(await api.loadSettings());
    } catch (e) {
      setLoadError(toApiError(e).message);
    }
  }, [apply]);

  useEffect(() => {
    void load();
  }, [load]);

  // A reload means a settings file changed; read what the editor holds when it arrives.
  const latest = useRef({ view, dirty });
  latest.current = { view, dirty };
  // Our own save reloads the enforcer too, and its event may arrive before the save's reply:
  // while a save is in flight, and for the etag it wrote, the change is ours.
  const ownSave = useRef<{ inFlight: boolean; etag: string | null }>({ inFlight: false, etag: null });
  useEffect(() => {
    let gone = false;
    const stop = subscription(
      events.onPolicyChanged(() => {
        api.loadSettings().then((v) => {
          const cur = latest.current;
          if (gone || cur.view === null || ownSave.current.inFlight) return;
          const what = onDiskChange(cur.view, v, ownSave.current.etag, cur.dirty);
          if (what === 'warn') setNotice({ kind: 'changed-on-disk' });
          else if (what === 'take') apply(v);
        }, () => undefined);
      }),
    );
    return () => {
      gone = true;
      stop();
    };
  }, [apply]);

  const save = async () => {
    const file = view ? view[targetOf(view)] : null;
    if (!view || !file) return;
    setSaving(true);
    setNotice(null);
    ownSave.current.inFlight = true;
    try {
      const saved = await api.saveSettings(targetOf(view), draft, file.etag);
      ownSave.current.etag = saved.etag;
      dispatch({ type: 'saved', file: saved, sent: draft });
      setNotice({ kind: 'saved', path: saved.path });
      onChanged();
    } catch (raw) {
      const e = toApiError(raw);
      if (e.code === 'invalid') dispatch({ type: 'diagnostics', list: e.diagnostics });
      setNotice(saveFailed(e));
    } finally {
      ownSave.current.inFlight = false;
      setSaving(false);
    }
  };

  const revert = () => {
    dispatch({ type: 'revert' });
    setNotice(null);
  };

  const reloadFromDisk = async () => {
    setNotice(null);
    await load();
    onChanged();
  };

  return { ...state, dirty, loadError, notice, saving, load, save, revert, reloadFromDisk, dispatch };
}
