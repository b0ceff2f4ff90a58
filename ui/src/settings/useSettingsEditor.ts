// The Settings editor's dealings with the shell: loads the settings, follows changes on disk
// (taken when nothing is edited, otherwise a warning), and saves with the etag the draft was based
// on, so that a save never overwrites a file changed since it was loaded. A user editing the admin
// file saves through polkit, after reviewing the diff the save would make.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { api, events, toApiError, type ApiError, type EciSection, type FileView, type SettingsDiff, type SettingsView } from '../api';
import { subscription } from '../subscription';
import { editorReducer, INITIAL_EDITOR, isDirty, onDiskChange, targetOf } from './editor';
import { elevatedSaveFailed, saveFailed, type Notice } from './notice';

/** An elevated save waiting for the user's go: the section and the diff shown for it. */
export interface Review {
  section: EciSection;
  diff: SettingsDiff;
}

export function useSettingsEditor(onChanged: () => void) {
  const [state, dispatch] = useReducer(editorReducer, INITIAL_EDITOR);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [saving, setSaving] = useState(false);
  const [review, setReview] = useState<Review | null>(null);
  const { view, draft, adminEdit } = state;
  // Through polkit: a user (not an admin) saving the admin file.
  const elevated = adminEdit && view?.mode === 'user';
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
  const latest = useRef({ view, dirty, adminEdit });
  latest.current = { view, dirty, adminEdit };
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
          const what = onDiskChange(cur.view, v, ownSave.current.etag, cur.dirty, cur.adminEdit);
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

  // A review is of one draft: an edit after it (or a reload) makes it stale.
  useEffect(() => setReview(null), [draft]);

  const refused = (raw: unknown, notice: (e: ApiError) => Notice) => {
    const e = toApiError(raw);
    if (e.code === 'invalid') dispatch({ type: 'diagnostics', list: e.diagnostics });
    setNotice(notice(e));
  };

  /** Runs one write of `sent`, marking it ours so that its reload event is not taken as someone else's. */
  const write = async (sent: EciSection, run: () => Promise<FileView>, failed: (e: ApiError) => Notice) => {
    setSaving(true);
    setNotice(null);
    ownSave.current.inFlight = true;
    try {
      const saved = await run();
      ownSave.current.etag = saved.etag;
      dispatch({ type: 'saved', file: saved, sent });
      setNotice({ kind: 'saved', path: saved.path });
      onChanged();
    } catch (raw) {
      refused(raw, failed);
    } finally {
      ownSave.current.inFlight = false;
      setSaving(false);
    }
  };

  const save = async () => {
    const file = view ? view[targetOf(view, adminEdit)] : null;
    if (!view || !file) return;
    if (!elevated) {
      await write(draft, () => api.saveSettings(targetOf(view), draft, file.etag), saveFailed);
      return;
    }
    // Nothing is written before the user has seen the diff; the save then names the diff's etag.
    setSaving(true);
    setNotice(null);
    try {
      setReview({ section: draft, diff: await api.settingsDiff('admin', draft) });
    } catch (raw) {
      refused(raw, saveFailed);
    } finally {
      setSaving(false);
    }
  };

  const confirmReview = async () => {
    if (review === null) return;
    const { section, diff } = review;
    await write(section, () => api.saveAdminSettingsElevated(section, diff.etag), elevatedSaveFailed);
    setReview(null);
  };

  const cancelReview = () => setReview(null);

  /** Switches between the user's own file and the admin file; drops the edits. */
  const editAdmin = (on: boolean) => {
    setReview(null);
    setNotice(null);
    dispatch({ type: 'admin-edit', on });
  };

  const revert = () => {
    setReview(null);
    dispatch({ type: 'revert' });
    setNotice(null);
  };

  const reloadFromDisk = async () => {
    setNotice(null);
    await load();
    onChanged();
  };

  return {
    ...state,
    dirty,
    elevated,
    loadError,
    notice,
    setNotice,
    saving,
    review,
    load,
    save,
    confirmReview,
    cancelReview,
    editAdmin,
    revert,
    reloadFromDisk,
    dispatch,
  };
}
