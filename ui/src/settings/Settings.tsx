// The Settings view: edit the ECI section of the file this user may write (admin file in admin
// mode, user file in user mode), with live diagnostics, registry badges, a preview of the exact
// file text, and a save that refuses to overwrite a file changed on disk.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  api,
  events,
  ApiError,
  toApiError,
  type Diagnostic,
  type EciSection,
  type ListKind,
  type SettingsView,
  type Source,
  type Target,
} from '../api';
import { COMMANDS, GROUPS, UNSUPPORTED, CLIENT_ONLY, parseCommand } from '../rules';
import {
  badgeText,
  byField,
  cleanSection,
  commandType,
  commands,
  derived,
  hostAccess,
  images,
  policySection,
  setCommands,
  setCommandType,
  setDerived,
  setFlag,
  setHostAccess,
  setImages,
  type Badge,
} from './model';
import { auditOf, setAudit } from '../audit';
import { AuditMode } from './AuditMode';
import { HostAccess } from './HostAccess';
import { TryCommand } from './TryCommand';
import { useProbes } from './useProbes';

export const LIVE_CHECK_MS = 150;

interface Props {
  /** An image History asked to allow; added to the list once the settings are loaded. */
  pendingImage: string | null;
  onPendingImageTaken: () => void;
  /** Called after a save or a reload from disk, so the rest of the app sees the new settings. */
  onChanged: () => void;
}

type Notice =
  | { kind: 'saved'; path: string }
  | { kind: 'conflict'; message: string }
  | { kind: 'changed-on-disk' }
  | { kind: 'forbidden'; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'error'; message: string };

let nextKey = 1;
const newKeys = (n: number) => Array.from({ length: n }, () => nextKey++);

function sourceLabel(s: Source): string {
  switch (s.from) {
    case 'admin':
      return s.locked ? 'the admin settings (locked)' : 'the admin settings';
    case 'user':
      return 'your settings';
    case 'default':
      return 'the default';
  }
}

function Diags({ list, id }: { list: Diagnostic[] | undefined; id?: string }) {
  if (!list || list.length === 0) return null;
  return (
    <ul className="diags" id={id} data-testid="field-diagnostics">
      {list.map((d, i) => (
        <li key={i} className={`diag diag-${d.severity}`}>
          <span className="diag-sev">{d.severity}</span> {d.message}
          {d.line !== undefined && (
            <span className="muted">
              {' '}
              (line {d.line}
              {d.column !== undefined ? `, column ${d.column}` : ''})
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}

function BadgeView({ badge }: { badge: Badge | undefined }) {
  const b = badge ?? { state: 'checking' as const };
  const title = 'message' in b ? b.message : b.state === 'found' ? b.digest : undefined;
  return (
    <span className={`badge badge-${b.state}`} data-testid="image-badge" data-state={b.state} title={title} role="status">
      {badgeText(b)}
    </span>
  );
}

export function Settings({ pendingImage, onPendingImageTaken, onChanged }: Props) {
  const [view, setView] = useState<SettingsView | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [baseline, setBaseline] = useState<EciSection>({});
  const [draft, setDraft] = useState<EciSection>({});
  const [imageKeys, setImageKeys] = useState<number[]>([]);
  const [liveDiags, setLiveDiags] = useState<Diagnostic[] | null>(null);
  const [preview, setPreview] = useState<string>('');
  const [notice, setNotice] = useState<Notice | null>(null);
  const [saving, setSaving] = useState(false);
  const [newImage, setNewImage] = useState('');
  const [newCommand, setNewCommand] = useState('');
  const newImageRef = useRef<HTMLInputElement>(null);

  const target: Target = view?.mode === 'admin' ? 'admin' : 'user';
  const file = view ? view[target] : null;
  const lockedByAdmin = view !== null && view.mode === 'user' && view.locked;
  const readOnly = view === null || lockedByAdmin || (file !== null && file.exists && !file.writable);

  const apply = useCallback((v: SettingsView) => {
    const t: Target = v.mode === 'admin' ? 'admin' : 'user';
    // Locked: the user's own file does not count; show what is enforced.
    const section = v.mode === 'user' && v.locked ? policySection(v.effective) : cleanSection(v[t].section);
    setView(v);
    setBaseline(section);
    setDraft(section);
    setImageKeys(newKeys(images(section)?.length ?? 0));
    setLiveDiags(null);
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

  // A reload means a settings file changed. If it is the one being edited (and not by our own
  // save, which already holds the new etag): take it when nothing is edited, otherwise say so.
  const latest = useRef({ view, dirty: false });
  // Our own save reloads the enforcer too, and its event may arrive before the save's reply:
  // while a save is in flight, and for the etag it wrote, the change is ours.
  const ownSave = useRef<{ inFlight: boolean; etag: string | null }>({ inFlight: false, etag: null });
  useEffect(() => {
    let unlisten: (() => void) | null = null;
    let gone = false;
    events
      .onPolicyChanged(() => {
        api.loadSettings().then((v) => {
          const cur = latest.current;
          if (gone || cur.view === null || ownSave.current.inFlight) return;
          const t: Target = cur.view.mode === 'admin' ? 'admin' : 'user';
          // What our own save wrote: the save's reply has updated (or is updating) the view.
          if (v[t].etag === ownSave.current.etag) return;
          const changed = v[t].etag !== cur.view[t].etag || v.locked !== cur.view.locked || v.mode !== cur.view.mode;
          if (!changed) return;
          if (cur.dirty) setNotice({ kind: 'changed-on-disk' });
          else apply(v);
        }, () => undefined);
      })
      .then((u) => (gone ? u() : (unlisten = u)))
      .catch(() => undefined);
    return () => {
      gone = true;
      unlisten?.();
    };
  }, [apply]);

  const imageList = images(draft);
  const imageRows = useMemo(
    () => (imageList ?? []).map((text, i) => ({ key: imageKeys[i] ?? -1 - i, text })),
    [imageList, imageKeys],
  );
  const badges = useProbes(imageRows, view !== null);

  const updateImages = (list: string[], keys: number[]) => {
    setDraft((d) => setImages(d, list));
    setImageKeys(keys);
  };

  const addImage = useCallback(
    (entry: string) => {
      const text = entry.trim();
      if (text === '') return;
      setDraft((d) => setImages(d, [...(images(d) ?? []), text]));
      setImageKeys((k) => [...k, ...newKeys(1)]);
    },
    [],
  );

  const takenImage = useRef<string | null>(null);
  useEffect(() => {
    if (pendingImage === null) takenImage.current = null;
    if (view === null || pendingImage === null || takenImage.current === pendingImage) return;
    takenImage.current = pendingImage;
    if (!readOnly && !(images(draft) ?? []).includes(pendingImage)) addImage(pendingImage);
    onPendingImageTaken();
  }, [view, pendingImage, readOnly, draft, addImage, onPendingImageTaken]);

  // Live diagnostics and preview from the shell, for the latest draft only.
  const checkSeq = useRef(0);
  useEffect(() => {
    if (view === null) return;
    const seq = ++checkSeq.current;
    const timer = setTimeout(() => {
      api.validateSection(target, draft).then(
        (d) => seq === checkSeq.current && setLiveDiags(d),
        () => undefined,
      );
      api.previewSettings(target, draft).then(
        (p) => seq === checkSeq.current && setPreview(p),
        (e: unknown) => seq === checkSeq.current && setPreview(`(no preview: ${toApiError(e).message})`),
      );
    }, LIVE_CHECK_MS);
    return () => clearTimeout(timer);
  }, [view, target, draft]);

  const fileDiags = file?.diagnostics ?? [];
  // The file's own diagnostics until the first live check; pointers outside the section stay.
  const diags = useMemo(() => {
    const section = liveDiags ?? fileDiags.filter((d) => d.pointer.startsWith('/enhancedContainerIsolation'));
    const outside = fileDiags.filter((d) => !d.pointer.startsWith('/enhancedContainerIsolation'));
    return byField([...outside, ...section]);
  }, [liveDiags, fileDiags]);
  const hasErrors = [...diags.values()].some((l) => l.some((d) => d.severity === 'error'));

  const dirty = JSON.stringify(draft) !== JSON.stringify(baseline);
  latest.current = { view, dirty };

  const save = async () => {
    if (!view || !file) return;
    setSaving(true);
    setNotice(null);
    ownSave.current.inFlight = true;
    try {
      const saved = await api.saveSettings(target, draft, file.etag);
      ownSave.current.etag = saved.etag;
      setView({ ...view, [target]: saved });
      const section = cleanSection(saved.section ?? draft);
      setBaseline(section);
      setDraft(section);
      setNotice({ kind: 'saved', path: saved.path });
      onChanged();
    } catch (raw) {
      const e = raw instanceof ApiError ? raw : toApiError(raw);
      switch (e.code) {
        case 'conflict':
          setNotice({ kind: 'conflict', message: e.message });
          break;
        case 'forbidden':
          setNotice({ kind: 'forbidden', message: e.message });
          break;
        case 'invalid':
          setLiveDiags(e.diagnostics);
          setNotice({ kind: 'invalid', message: e.message });
          break;
        default:
          setNotice({ kind: 'error', message: e.message });
      }
    } finally {
      ownSave.current.inFlight = false;
      setSaving(false);
    }
  };

  const revert = () => {
    setDraft(baseline);
    setImageKeys(newKeys(images(baseline)?.length ?? 0));
    setNotice(null);
  };

  const reloadFromDisk = async () => {
    setNotice(null);
    await load();
    onChanged();
  };

  if (loadError !== null && view === null) {
    return (
      <section aria-labelledby="settings-h" className="view">
        <h2 id="settings-h">Settings</h2>
        <p role="alert" className="notice notice-error">
          Cannot load the settings: {loadError}
        </p>
        <button type="button" onClick={() => void load()}>
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

  const eff = view.effective;
  const inheritedValue = target === 'user' ? eff.eciEnabled : true;
  const inheritedDerived = target === 'user' ? eff.allowDerivedImages : true;
  const lockNote = lockedByAdmin ? (
    <span className="lock-note" data-testid="locked-note">
      <LockIcon /> locked by your administrator
    </span>
  ) : null;
  const cmdList = commands(draft);
  const cmdType: ListKind = commandType(draft) ?? (target === 'user' ? eff.commandList.type : 'deny');

  return (
    <section aria-labelledby="settings-h" className="view settings">
      <div className="view-head">
        <h2 id="settings-h">Settings</h2>
        <p className="muted">
          {lockedByAdmin ? (
            'The policy in force, set by your administrator'
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
        {!lockedByAdmin && file.exists && !file.writable && (
          <p className="notice notice-warn">You cannot write {file.path}; the fields are read-only.</p>
        )}
        <Diags list={diags.get('general')} />

        <div className="settings-grid">
          <form
            id="settings-form"
            className="settings-form"
            aria-label="ECI settings"
            onSubmit={(e) => {
              e.preventDefault();
              void save();
            }}
          >
            <fieldset disabled={readOnly} className="group">
              <legend>Enhanced Container Isolation</legend>
              <div className="field">
                <label>
                  <input
                    type="checkbox"
                    data-testid="eci-toggle"
                  disabled={readOnly}
                    checked={draft.value ?? inheritedValue}
                    onChange={(e) => setDraft((d) => setFlag(d, 'value', e.target.checked))}
                    aria-describedby="value-help"
                  />{' '}
                  ECI enabled
                </label>
                {lockNote}
                <span id="value-help" className="help">
                  {draft.value === undefined ? `Not set in this file: ${inheritedValue ? 'on' : 'off'} from ${sourceLabel(eff.provenance.value)}.` : 'When off, the enforcer passes every request through unchecked.'}
                </span>
                <Diags list={diags.get('value')} />
              </div>
              <div className="field">
                <label>
                  <input
                    type="checkbox"
                    data-testid="lock-toggle"
                    checked={view.mode === 'admin' ? draft.locked ?? false : view.locked}
                    disabled={view.mode !== 'admin' || readOnly}
                    onChange={(e) => setDraft((d) => setFlag(d, 'locked', e.target.checked))}
                    aria-describedby="lock-help"
                  />{' '}
                  Lock these settings for users
                </label>
                {lockNote}
                <span id="lock-help" className="help">
                  {view.mode === 'admin'
                    ? 'Locked: users cannot change the ECI settings; their own values are ignored.'
                    : 'Only an administrator can lock or unlock these settings.'}
                </span>
                <Diags list={diags.get('locked')} />
              </div>
            </fieldset>

            <fieldset disabled={readOnly} className="group">
              <legend>Images allowed to mount the engine socket</legend>
              {lockNote}
              {imageList === undefined && (
                <p className="help" data-testid="images-unset">
                  Not set in this file: {eff.images.length} entr{eff.images.length === 1 ? 'y' : 'ies'} in force from{' '}
                  {sourceLabel(eff.provenance.images)}
                  {target === 'user' && eff.images.length > 0 ? '; a list here replaces it.' : '.'}
                </p>
              )}
              <ul className="image-list" aria-label="Image list">
                {(imageList ?? []).map((text, i) => {
                  const key = imageKeys[i] ?? -1 - i;
                  const fieldDiags = diags.get(`images/${i}`);
                  const badge = badges.get(key);
                  const descId = `image-${key}-desc`;
                  return (
                    <li key={key} className="image-row" data-testid="image-row">
                      <div className="row-line">
                        <input
                          type="text"
                          aria-label={`Image entry ${i + 1}`}
                          data-testid="image-entry"
                  disabled={readOnly}
                          value={text}
                            spellCheck={false}
                          aria-invalid={badge?.state === 'invalid' || fieldDiags?.some((d) => d.severity === 'error')}
                          aria-describedby={descId}
                          onChange={(e) => {
                            const list = [...(imageList ?? [])];
                            list[i] = e.target.value;
                            updateImages(list, imageKeys);
                          }}
                        />
                        <BadgeView badge={badge} />
                        <button
                          hidden={readOnly}
                          type="button"
                          aria-label={`Remove image entry ${i + 1}`}
                          data-testid="image-remove"
                  disabled={readOnly}
                          onClick={() => {
                            const list = (imageList ?? []).filter((_, j) => j !== i);
                            updateImages(
                              list,
                              imageKeys.filter((_, j) => j !== i),
                            );
                          }}
                        >
                          Remove
                        </button>
                      </div>
                      <div id={descId}>
                        {badge?.state === 'invalid' && !fieldDiags && <p className="diag diag-error">{badge.message}</p>}
                        {badge && badge.state !== 'invalid' && 'message' in badge && <p className="help">{badge.message}</p>}
                        {badge?.state === 'found' && (
                          <p className="help" data-testid="image-platforms">
                            {badge.platforms.length > 0 ? `platforms: ${badge.platforms.join(', ')}` : 'single-platform image'} ·{' '}
                            <code>{badge.digest}</code>
                          </p>
                        )}
                        <Diags list={fieldDiags} />
                      </div>
                    </li>
                  );
                })}
              </ul>
              <Diags list={diags.get('images')} />
              <div className="row-line add-row" hidden={readOnly}>
                <label htmlFor="new-image" className="sr-only">
                  New image entry
                </label>
                <input
                  id="new-image"
                  ref={newImageRef}
                  type="text"
                  data-testid="new-image-input"
                  disabled={readOnly}
                  placeholder="name[:tag], name:*, name@sha256:…, or *"
                  value={newImage}
                  spellCheck={false}
                  onChange={(e) => setNewImage(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') {
                      e.preventDefault();
                      addImage(newImage);
                      setNewImage('');
                    }
                  }}
                />
                <button
                  type="button"
                  data-testid="add-image"
                  disabled={newImage.trim() === ''}
                  onClick={() => {
                    addImage(newImage);
                    setNewImage('');
                    newImageRef.current?.focus();
                  }}
                >
                  Add image
                </button>
              </div>
              <div className="field">
                <label>
                  <input
                    type="checkbox"
                    data-testid="derived-toggle"
                  disabled={readOnly}
                    checked={derived(draft) ?? inheritedDerived}
                    onChange={(e) => setDraft((d) => setDerived(d, e.target.checked))}
                  />{' '}
                  Allow images derived from allowed images
                </label>
                <span className="help">Local images built on top of an allowed image (its full layer chain first).</span>
                <Diags list={diags.get('derived')} />
              </div>
            </fieldset>

            <fieldset disabled={readOnly} className="group">
              <legend>Commands through a filtered socket</legend>
              {lockNote}
              <div className="field">
                <label htmlFor="cmd-type">List type</label>{' '}
                <select
                  id="cmd-type"
                  data-testid="command-type"
                  disabled={readOnly}
                  value={cmdType}
                  onChange={(e) => setDraft((d) => setCommandType(d, e.target.value as ListKind))}
                >
                  <option value="deny">deny: block these commands</option>
                  <option value="allow">allow: only these commands</option>
                </select>
                <Diags list={diags.get('commandType')} />
              </div>
              {cmdList === undefined && (
                <p className="help" data-testid="commands-unset">
                  Not set in this file: {eff.commandList.type} list of {eff.commandList.commands.length} from{' '}
                  {sourceLabel(eff.provenance.commandList)}.
                </p>
              )}
              <ul className="command-list" aria-label="Command list">
                {(cmdList ?? []).map((c, i) => {
                  const check = parseCommand(c);
                  const fieldDiags = diags.get(`commands/${i}`);
                  return (
                    <li key={`${i}-${c}`} className="command-row" data-testid="command-row">
                      <code>{c}</code>
                      {!check.ok && (
                        <span className={`badge ${check.warning ? 'badge-warning' : 'badge-invalid'}`} data-testid="command-flag">
                          {check.message}
                        </span>
                      )}
                      <button
                        type="button"
                        hidden={readOnly}
                        aria-label={`Remove command ${c}`}
                        onClick={() =>
                          setDraft((d) =>
                            setCommands(
                              d,
                              (commands(d) ?? []).filter((_, j) => j !== i),
                            ),
                          )
                        }
                      >
                        Remove
                      </button>
                      {check.ok && <Diags list={fieldDiags} />}
                    </li>
                  );
                })}
              </ul>
              <Diags list={diags.get('commands')} />
              <div className="row-line add-row" hidden={readOnly}>
                <label htmlFor="new-command" className="sr-only">
                  Command or group
                </label>
                <select
                  id="new-command"
                  data-testid="command-picker"
                  disabled={readOnly}
                  value={newCommand}
                  onChange={(e) => setNewCommand(e.target.value)}
                >
                  <option value="">Choose a command or group…</option>
                  <optgroup label="Groups">
                    {GROUPS.map((g) => (
                      <option key={g} value={g}>
                        {g}
                      </option>
                    ))}
                  </optgroup>
                  <optgroup label="Commands">
                    {COMMANDS.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </optgroup>
                  <optgroup label="Cannot be enforced">
                    {UNSUPPORTED.map(([n, what]) => (
                      <option key={n} value={n} disabled>
                        {n} — {what}: not supported
                      </option>
                    ))}
                    {CLIENT_ONLY.map((n) => (
                      <option key={n} value={n} disabled>
                        {n} — client only, never reaches the engine
                      </option>
                    ))}
                  </optgroup>
                </select>
                <button
                  type="button"
                  data-testid="add-command"
                  disabled={newCommand === ''}
                  onClick={() => {
                    setDraft((d) => setCommands(d, [...(commands(d) ?? []), newCommand]));
                    setNewCommand('');
                  }}
                >
                  Add command
                </button>
              </div>
            </fieldset>

            {(view.mode === 'admin' || hostAccess(draft) !== undefined) && (
              <HostAccess
                entries={hostAccess(draft)}
                readOnly={readOnly || view.mode !== 'admin'}
                diagnostics={(key) => diags.get(key)}
                onChange={(list) => setDraft((d) => setHostAccess(d, list))}
              />
            )}
            <AuditMode
              audit={auditOf(draft)}
              inherited={
                target === 'user' && eff.audit ? eff.audit : { socketMounts: false, commands: false, hostAccess: false }
              }
              readOnly={readOnly}
              lockedByAdmin={lockedByAdmin}
              diagnostics={diags.get('audit')}
              onChange={(family, on) => setDraft((d) => setAudit(d, family, on))}
            />
          </form>

          <TryCommand target={target} section={draft} />

          <details className="preview" open>
            <summary>Preview of {file.path}</summary>
            <pre data-testid="settings-preview" tabIndex={0} aria-label="Preview of the file to be written">
              {preview}
            </pre>
          </details>
        </div>
      </div>

      <div className="settings-footer">
        {notice && <NoticeView notice={notice} onReload={() => void reloadFromDisk()} />}
        <div className="actions">
          <button
            type="submit"
            form="settings-form"
            className="primary"
            data-testid="save-settings"
            disabled={readOnly || saving || !dirty}
            title={hasErrors ? 'Fix the errors first' : undefined}
          >
            {saving ? 'Saving…' : 'Save'}
          </button>
          <button type="button" data-testid="revert-settings" disabled={readOnly || !dirty} onClick={revert}>
            Revert
          </button>
          {dirty && <span className="muted">Unsaved changes</span>}
          {lockNote}
        </div>
      </div>
    </section>
  );
}

function LockIcon() {
  return (
    <svg className="lock-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
      <path
        fill="currentColor"
        d="M4 7V5a4 4 0 1 1 8 0v2h1a1 1 0 0 1 1 1v7a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1h1zm2 0h4V5a2 2 0 1 0-4 0v2z"
      />
    </svg>
  );
}

function NoticeView({ notice, onReload }: { notice: Notice; onReload: () => void }) {
  switch (notice.kind) {
    case 'saved':
      return (
        <p className="notice notice-ok" role="status" data-testid="save-notice" data-kind="saved">
          Saved to {notice.path}.
        </p>
      );
    case 'conflict':
      return (
        <div className="notice notice-warn" role="alert" data-testid="save-notice" data-kind="conflict">
          <p title={notice.message}>
            The file changed on disk since it was loaded; saving would overwrite someone else’s change.
          </p>
          <button type="button" data-testid="reload-from-disk" onClick={onReload}>
            Reload from disk (discards your edits)
          </button>
        </div>
      );
    case 'changed-on-disk':
      return (
        <div className="notice notice-warn" role="alert" data-testid="save-notice" data-kind="changed-on-disk">
          <p>The file was changed on disk by someone else while you were editing it; a save would be refused.</p>
          <button type="button" data-testid="reload-from-disk" onClick={onReload}>
            Reload from disk (discards your edits)
          </button>
        </div>
      );
    case 'forbidden':
      return (
        <p className="notice notice-error" role="alert" data-testid="save-notice" data-kind="forbidden">
          Not allowed: {notice.message}
        </p>
      );
    case 'invalid':
      return (
        <p className="notice notice-error" role="alert" data-testid="save-notice" data-kind="invalid">
          Not saved: the settings have errors (shown at their fields). {notice.message}
        </p>
      );
    case 'error':
      return (
        <p className="notice notice-error" role="alert" data-testid="save-notice" data-kind="error">
          Not saved: {notice.message}
        </p>
      );
  }
}
