// The Settings view: edit the ECI section of the file this user may write (admin file in admin
// mode, user file in user mode), with live diagnostics, registry badges, a preview of the exact
// file text, and a save that refuses to overwrite a file changed on disk. This file lays the view
// out; the state is in useSettingsEditor (and editor.ts), each group of fields in its own part.
// A user whom polkit lets write the admin file may switch to editing it; its save shows the diff
// first (AdminReview). Import and export of a settings file go through native dialogs.

import { useCallback, useMemo } from 'react';
import type { Diagnostic } from '../api';
import { AdminReview } from './AdminReview';
import { Diags } from './Diags';
import { targetOf } from './editor';
import { FileActions, type AdminEdit } from './FileActions';
import { LockIcon } from './Lock';
import { byField, images } from './model';
import { SettingsFooter } from './SettingsFooter';
import { SettingsForm } from './SettingsForm';
import { TryCommand } from './TryCommand';
import { useAdminRoute } from './useAdminRoute';
import { useLiveCheck } from './useLiveCheck';
import { usePendingImage } from './usePendingImage';
import { useProbes } from './useProbes';
import { useSettingsEditor } from './useSettingsEditor';
import { useSettingsFiles } from './useSettingsFiles';

interface Props {
  /** An image History asked to allow; added to the list once the settings are loaded. */
  pendingImage: string | null;
  onPendingImageTaken: () => void;
  /** Called after a save or a reload from disk, so the rest of the app sees the new settings. */
  onChanged: () => void;
}

const ECI_POINTER = '/enhancedContainerIsolation';

export function Settings({ pendingImage, onPendingImageTaken, onChanged }: Props) {
  const editor = useSettingsEditor(onChanged);
  const { view, draft, imageKeys, liveDiags, dispatch, adminEdit, elevated } = editor;
  const target = view ? targetOf(view, adminEdit) : 'user';
  const file = view ? view[target] : null;
  const lockedByAdmin = view !== null && view.mode === 'user' && view.locked && !adminEdit;
  // The admin file a user edits is written through polkit, not by this process.
  const readOnly = view === null || lockedByAdmin || (file !== null && file.exists && !file.writable && !elevated);
  const route = useAdminRoute(view);
  const admin: AdminEdit = elevated ? 'editing' : route === 'polkit' ? 'offer' : null;
  const files = useSettingsFiles({ view, target, dispatch, setNotice: editor.setNotice });

  const imageList = images(draft);
  const imageRows = useMemo(
    () => (imageList ?? []).map((text, i) => ({ key: imageKeys[i] ?? -1 - i, text })),
    [imageList, imageKeys],
  );
  const badges = useProbes(imageRows, view !== null);
  const addImage = useCallback((text: string) => dispatch({ type: 'add-image', text }), [dispatch]);
  usePendingImage({
    image: pendingImage,
    loaded: view !== null,
    readOnly,
    listed: imageList ?? [],
    add: addImage,
    taken: onPendingImageTaken,
  });
  const onDiagnostics = useCallback((list: Diagnostic[]) => dispatch({ type: 'diagnostics', list }), [dispatch]);
  const preview = useLiveCheck(view !== null, target, draft, onDiagnostics);

  const fileDiags = file?.diagnostics ?? [];
  // The file's own diagnostics until the first live check; pointers outside the section stay.
  const diags = useMemo(() => {
    const section = liveDiags ?? fileDiags.filter((d) => d.pointer.startsWith(ECI_POINTER));
    const outside = fileDiags.filter((d) => !d.pointer.startsWith(ECI_POINTER));
    return byField([...outside, ...section]);
  }, [liveDiags, fileDiags]);
  const hasErrors = [...diags.values()].some((l) => l.some((d) => d.severity === 'error'));

  if (editor.loadError !== null && view === null) {
    return (
      <section aria-labelledby="settings-h" className="view">
        <h2 id="settings-h">Settings</h2>
        <p role="alert" className="notice notice-error">
          Cannot load the settings: {editor.loadError}
        </p>
        <button type="button" onClick={() => void editor.load()}>
          Try again
        </button>
      </section>
    );
  }
  if (view === null || file === null) {
    return (
      <section aria-labelledby="settings-h" className="view">
        <h2 id="settings-h">Settings</h2>
        <p aria-busy="true">Loading settings…</p>
      </section>
    );
  }

  const form = { view, mode: elevated ? ('admin' as const) : view.mode, target, draft, imageKeys, badges, readOnly, lockedByAdmin, diags, dispatch };
  return (
    <section aria-labelledby="settings-h" className="view settings">
      <div className="view-head">
        <h2 id="settings-h">Settings</h2>
        <p className="muted">
          {lockedByAdmin ? (
            'The policy in force, set by your administrator'
          ) : elevated ? (
            <>
              Editing <code>{file.path}</code> · admin settings, saved with an administrator’s password
            </>
          ) : (
            <>
              Editing <code>{file.path}</code>
              {file.exists ? '' : ' (will be created)'} · {view.mode === 'admin' ? 'admin mode' : 'user mode'}
            </>
          )}
        </p>
      </div>

      <div className="settings-scroll">
        {lockedByAdmin && (
          <p className="notice notice-info" data-testid="locked-banner">
            <LockIcon /> These settings are locked by your administrator. You can read them but not change them.
          </p>
        )}
        {!lockedByAdmin && !elevated && file.exists && !file.writable && (
          <p className="notice notice-warn">You cannot write {file.path}; the fields are read-only.</p>
        )}
        <Diags list={diags.get('general')} />

        <div className="settings-grid">
          <SettingsForm {...form} onSave={() => void editor.save()} />

          <TryCommand target={target} section={draft} />

          <details className="preview" open>
            <summary>Preview of {file.path}</summary>
            <pre data-testid="settings-preview" tabIndex={0} aria-label="Preview of the file to be written">
              {preview}
            </pre>
          </details>
        </div>
      </div>

      <SettingsFooter
        notice={editor.notice}
        readOnly={readOnly}
        saving={editor.saving}
        dirty={editor.dirty}
        hasErrors={hasErrors}
        lockedByAdmin={lockedByAdmin}
        onReload={() => void editor.reloadFromDisk()}
        onRevert={editor.revert}
        review={
          editor.review && (
            <AdminReview
              review={editor.review}
              path={file.path}
              saving={editor.saving}
              onConfirm={() => void editor.confirmReview()}
              onCancel={editor.cancelReview}
            />
          )
        }
        fileActions={
          <FileActions
            canImport={!readOnly}
            canExport={file.exists}
            busy={files.busy || editor.saving}
            dirty={editor.dirty}
            admin={admin}
            onImport={() => void files.importFile()}
            onExport={() => void files.exportFile()}
            onAdminEdit={editor.editAdmin}
          />
        }
      />
    </section>
  );
}
