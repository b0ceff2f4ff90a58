// The diagnostics of one place on the settings form, with their line and column in the file.

import type { Diagnostic } from '../api';

export function Diags({ list, id, testId = 'field-diagnostics' }: { list: Diagnostic[] | undefined; id?: string; testId?: string }) {
  if (!list || list.length === 0) return null;
  return (
    <ul className="diags" id={id} data-testid={testId}>
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
