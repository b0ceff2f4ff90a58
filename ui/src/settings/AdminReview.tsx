// The review before a user's save of the admin file through polkit: the diff the save would make
// (the shell's own rendering), then either the write, for which pkexec asks for an
// administrator's password, or a cancel that writes nothing.

import { DiffView } from '../DiffView';
import type { Review } from './useSettingsEditor';

interface Props {
  review: Review;
  path: string;
  saving: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

export function AdminReview({ review, path, saving, onConfirm, onCancel }: Props) {
  const changed = review.diff.lines.some((l) => l.op !== 'equal');
  return (
    <div className="admin-review" data-testid="admin-review" role="group" aria-label="Review the change to the admin settings">
      <p className="muted small">
        Changes to <code>{path}</code>
        {changed ? '; writing them asks for an administrator’s password:' : ': none.'}
      </p>
      <DiffView lines={review.diff.lines} testId="admin-diff" label="Changes to the admin settings file" />
      <div className="actions">
        <button type="button" className="primary" data-testid="admin-confirm" disabled={!changed || saving} onClick={onConfirm}>
          {saving ? 'Waiting for the administrator’s password…' : 'Write with administrator’s password'}
        </button>
        <button type="button" data-testid="admin-cancel" disabled={saving} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
