// The notice above the Save button: saved, refused (and why), or changed on disk with a way to
// reload.

import type { ReactNode } from 'react';
import type { Notice } from './notice';

interface Shown {
  tone: 'ok' | 'warn' | 'error';
  text: ReactNode;
  title?: string;
  /** The file on disk is not the one edited: offer to reload it. */
  stale?: boolean;
}

function shown(n: Notice): Shown {
  switch (n.kind) {
    case 'saved':
      return { tone: 'ok', text: <>Saved to {n.path}.</> };
    case 'conflict':
      return {
        tone: 'warn',
        text: 'The file changed on disk since it was loaded; saving would overwrite someone else’s change.',
        title: n.message,
        stale: true,
      };
    case 'changed-on-disk':
      return {
        tone: 'warn',
        text: 'The file was changed on disk by someone else while you were editing it; a save would be refused.',
        stale: true,
      };
    case 'forbidden':
      return { tone: 'error', text: <>Not allowed: {n.message}</> };
    case 'invalid':
      return { tone: 'error', text: <>Not saved: the settings have errors (shown at their fields). {n.message}</> };
    case 'error':
      return { tone: 'error', text: <>Not saved: {n.message}</> };
  }
}

export function NoticeView({ notice, onReload }: { notice: Notice; onReload: () => void }) {
  const { tone, text, title, stale } = shown(notice);
  const attrs = {
    className: `notice notice-${tone}`,
    role: tone === 'ok' ? 'status' : 'alert',
    'data-testid': 'save-notice',
    'data-kind': notice.kind,
  };
  if (!stale) return <p {...attrs}>{text}</p>;
  return (
    <div {...attrs}>
      <p title={title}>{text}</p>
      <button type="button" data-testid="reload-from-disk" onClick={onReload}>
        Reload from disk (discards your edits)
      </button>
    </div>
  );
}
