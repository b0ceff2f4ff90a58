// A settings file's diff as the shell computed it (`api.settingsDiff`): each change with a little
// unchanged context, shown before a write so that what is written is what was read.

import type { DiffLine } from './api';

/** The lines to show: every change with `context` unchanged lines around it; `null` stands for
 * the unchanged lines left out. */
export function hunks(lines: DiffLine[], context = 2): (DiffLine | null)[] {
  const near = lines.map((_, i) =>
    lines.slice(Math.max(0, i - context), i + context + 1).some((l) => l.op !== 'equal'),
  );
  const out: (DiffLine | null)[] = [];
  lines.forEach((l, i) => {
    if (near[i]) out.push(l);
    else if (out.at(-1) !== null) out.push(null);
  });
  return out;
}

export function DiffView({ lines, testId, label }: { lines: DiffLine[]; testId: string; label: string }) {
  return (
    <pre className="diff" data-testid={testId} aria-label={label}>
      {hunks(lines).map((l, i) =>
        l === null ? (
          <div key={i} className="diff-skip muted">
            {'  …'}
          </div>
        ) : (
          <div key={i} className={`diff-${l.op}`} data-op={l.op}>
            {l.op === 'insert' ? '+ ' : l.op === 'delete' ? '- ' : '  '}
            {l.text}
          </div>
        ),
      )}
    </pre>
  );
}
