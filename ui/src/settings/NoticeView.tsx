// The notice above the Save button: saved, refused (and why), or changed on disk with a way to
// reload.

import type { Notice } from './notice';

function ReloadButton({ onReload }: { onReload: () => void }) {
  return (
    <button type="button" data-testid="reload-from-disk" onClick={onReload}>
      Reload from disk (discards your edits)
    </button>
  );
}

export function NoticeView({ notice, onReload }: { notice: Notice; onReload: () => void }) {
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
          <ReloadButton onReload={onReload} />
        </div>
      );
    case 'changed-on-disk':
      return (
        <div className="notice notice-warn" role="alert" data-testid="save-notice" data-kind="changed-on-disk">
          <p>The file was changed on disk by someone else while you were editing it; a save would be refused.</p>
          <ReloadButton onReload={onReload} />
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
