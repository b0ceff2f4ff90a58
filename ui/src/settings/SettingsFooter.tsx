// The foot of the Settings view: the latest notice, Save and Revert, and whether there are unsaved
// changes.

import { LockNote } from './Lock';
import { NoticeView } from './NoticeView';
import type { Notice } from './notice';

interface Props {
  notice: Notice | null;
  readOnly: boolean;
  saving: boolean;
  dirty: boolean;
  hasErrors: boolean;
  lockedByAdmin: boolean;
  onReload: () => void;
  onRevert: () => void;
}

export function SettingsFooter({ notice, readOnly, saving, dirty, hasErrors, lockedByAdmin, onReload, onRevert }: Props) {
  return (
    <div className="settings-footer">
      {notice && <NoticeView notice={notice} onReload={onReload} />}
      <div className="actions">
        {/* Outside the form, tied to it by `form`: the footer stays in view while the form scrolls. */}
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
        <button type="button" data-testid="revert-settings" disabled={readOnly || !dirty} onClick={onRevert}>
          Revert
        </button>
        {dirty && <span className="muted">Unsaved changes</span>}
        <LockNote locked={lockedByAdmin} />
      </div>
    </div>
  );
}
