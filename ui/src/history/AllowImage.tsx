// "Allow this image" for admins, from a History entry: the entry forms the shell derives for the
// image (exact tag, any tag, digest), the diff of the admin file the save would make (computed by
// the shell from the same rendering the save uses), and the save of exactly that diff.

import { useEffect, useState } from 'react';
import { api, toApiError, type EciSection, type EntryForms, type SettingsDiff } from '../api';
import { DiffView } from '../DiffView';

type Choice = 'exact' | 'any_tag' | 'digest';

const LABEL: Record<Choice, string> = {
  exact: 'This tag',
  any_tag: 'Any tag of this repository',
  digest: 'Only this digest',
};

/** The admin section with `entry` added to the image list (once). */
export function withImage(section: EciSection | null, entry: string): EciSection {
  const s = section ?? {};
  const mount = s.iechorSocketMount ?? {};
  const list = mount.imageList ?? {};
  const images = list.images ?? [];
  return {
    ...s,
    iechorSocketMount: {
      ...mount,
      imageList: { ...list, images: images.includes(entry) ? images : [...images, entry] },
    },
  };
}

export function AllowImage({ image, onSaved }: { image: string; onSaved?: () => void }) {
  const [forms, setForms] = useState<EntryForms | null>(null);
  const [choice, setChoice] = useState<Choice>('exact');
  const [section, setSection] = useState<EciSection | null>(null);
  const [diff, setDiff] = useState<SettingsDiff | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    let gone = false;
    setForms(null);
    setSaved(null);
    setError(null);
    api.imageEntryForms(image).then(
      (f) => !gone && setForms(f),
      (e: unknown) => !gone && setError(toApiError(e).message),
    );
    return () => {
      gone = true;
    };
  }, [image]);

  const entry = forms === null ? null : choice === 'digest' ? forms.digest : forms[choice];

  // The diff follows the choice; the section it shows is the one a save writes.
  useEffect(() => {
    if (entry === null) return;
    let gone = false;
    setDiff(null);
    (async () => {
      const view = await api.loadSettings();
      const next = withImage(view.admin.section, entry);
      const d = await api.settingsDiff('admin', next);
      if (!gone) {
        setSection(next);
        setDiff(d);
        setError(null);
      }
    })().catch((e: unknown) => !gone && setError(toApiError(e).message));
    return () => {
      gone = true;
    };
  }, [entry]);

  const save = async () => {
    if (section === null || diff === null) return;
    setSaving(true);
    try {
      await api.saveSettings('admin', section, diff.etag);
      setSaved(`Saved: ${entry} is allowed.`);
      onSaved?.();
    } catch (e) {
      const err = toApiError(e);
      setError(
        err.code === 'conflict' ? 'The admin file changed since the diff was made; look at the new diff and save again.' : err.message,
      );
      if (err.code === 'conflict') setDiff(null);
    } finally {
      setSaving(false);
    }
  };

  const changed = diff?.lines.some((l) => l.op !== 'equal') ?? false;

  return (
    <div className="allow-image" data-testid="allow-panel">
      <fieldset disabled={forms === null || saving}>
        <legend>Allow in the admin settings</legend>
        {(['exact', 'any_tag', 'digest'] as const).map((c) => {
          const value = forms === null ? null : c === 'digest' ? forms.digest : forms[c];
          return (
            <label key={c} className="choice">
              <input
                type="radio"
                name="allow-choice"
                data-testid={`allow-choice-${c}`}
                checked={choice === c}
                disabled={value === null}
                onChange={() => setChoice(c)}
              />
              {LABEL[c]}: <code data-testid={`allow-entry-${c}`}>{value ?? (forms === null ? '…' : 'no digest: the image is on no registry')}</code>
            </label>
          );
        })}
      </fieldset>
      {diff !== null && (
        <>
          <p className="muted small">
            Changes to <code>admin-settings.json</code>:
          </p>
          <DiffView lines={diff.lines} testId="allow-diff" label="Changes to the admin settings file" />
          <button
            type="button"
            className="primary"
            data-testid="allow-save"
            disabled={!changed || saving || saved !== null}
            onClick={() => void save()}
          >
            {changed ? 'Write this change' : 'Already allowed'}
          </button>
        </>
      )}
      {saved && (
        <p role="status" data-testid="allow-saved">
          {saved}
        </p>
      )}
      {error && (
        <p role="alert" className="notice notice-error" data-testid="allow-error">
          {error}
        </p>
      )}
    </div>
  );
}
