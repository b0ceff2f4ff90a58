// The notice above the Save button: saved, refused (and why), changed on disk with a way to
// reload, or what an import or export of a settings file did.

import type { ReactNode } from 'react';
import type { Diagnostic } from '../api';
import { Diags } from './Diags';
import type { Notice } from './notice';

interface Shown {
  tone: 'ok' | 'warn' | 'error';
  text: ReactNode;
  title?: string;
  /** The file on disk is not the one edited: offer to reload it. */
  stale?: boolean;
  /** Of an import or export (the save notices keep their own test id). */
  file?: boolean;
  diagnostics?: Diagnostic[];
}

const count = (list: Diagnostic[], severity: Diagnostic['severity']) => list.filter((d) => d.severity === severity).length;

/** "2 errors, 1 warning" of a file's diagnostics; "" without any. */
function tally(list: Diagnostic[]): string {
  const parts = (['error', 'warning'] as const)
    .map((sev) => [count(list, sev), sev] as const)
    .filter(([n]) => n > 0)
    .map(([n, sev]) => `${n} ${sev}${n === 1 ? '' : 's'}`);
  return parts.join(', ');
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
    case 'not-authorised':
      return {
        tone: 'error',
        text: 'Not saved: the administrator’s password was not given (the request was dismissed or refused). Nothing was written.',
        title: n.message,
      };
    case 'imported': {
      const t = tally(n.diagnostics);
      return {
        tone: n.diagnostics.some((d) => d.severity === 'error') ? 'warn' : 'ok',
        text: (
          <>
            Imported the ECI settings of {n.path}
            {t ? ` (${t}, shown at their fields)` : ''}. Review them and save; nothing is written yet.
          </>
        ),
        file: true,
        diagnostics: n.diagnostics,
      };
    }
    case 'import-failed':
      return {
        tone: 'error',
        text: n.path === null ? <>Cannot import: {n.message}</> : <>Cannot import {n.path}: {n.message}. Nothing was changed.</>,
        file: true,
        diagnostics: n.diagnostics,
      };
    case 'exported':
      return { tone: 'ok', text: <>Exported {n.from} as it is on disk to {n.path}.</>, file: true };
    case 'export-failed':
      return { tone: 'error', text: <>Not exported: {n.message}</>, file: true };
  }
}

export function NoticeView({ notice, onReload }: { notice: Notice; onReload: () => void }) {
  const { tone, text, title, stale, file, diagnostics } = shown(notice);
  const attrs = {
    className: `notice notice-${tone}`,
    role: tone === 'ok' ? 'status' : 'alert',
    'data-testid': file ? 'file-notice' : 'save-notice',
    'data-kind': notice.kind,
  };
  if (diagnostics && diagnostics.length > 0) {
    return (
      <div {...attrs}>
        <p>{text}</p>
        <Diags list={diagnostics} testId="file-notice-diagnostics" />
      </div>
    );
  }
  if (!stale) return <p {...attrs} title={title}>{text}</p>;
  return (
    <div {...attrs}>
      <p title={title}>{text}</p>
      <button type="button" data-testid="reload-from-disk" onClick={onReload}>
        Reload from disk (discards your edits)
      </button>
    </div>
  );
}
