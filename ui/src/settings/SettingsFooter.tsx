// The foot of the Settings view: the latest notice, the review of an elevated save, Save and
// Revert, whether there are unsaved changes, and the file actions.

import type { ReactNode } from 'react';
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
  /** The diff to confirm before an elevated save, when one waits. */
  review?: ReactNode;
  /** Import, export, and the switch to the admin file. */
  fileActions?: ReactNode;
}

export function SettingsFooter(props: Props) {
  const { notice, readOnly, saving, dirty, hasErrors, lockedByAdmin, onReload, onRevert, review, fileActions } = props;
  return (
    <div className="settings-footer">
      {notice && <NoticeView notice={notice} onReload={onReload} />}
      {review}
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
        {fileActions}
      </div>
    </div>
  );
}
