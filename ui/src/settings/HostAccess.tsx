// The host-access list of eci-guard's extension: images an admin lets have host privileges
// (privileged, host namespaces, host devices, …) through the main socket; never through a
// filtered socket.

import { useState } from 'react';
import type { Diagnostic } from '../api';
import { AddRow } from './AddRow';
import { onEnter } from './onEnter';

interface Props {
  /** The list as the file sets it; `undefined` when the file does not set it. */
  entries: string[] | undefined;
  readOnly: boolean;
  diagnostics: (key: string) => Diagnostic[] | undefined;
  onChange: (list: string[]) => void;
}

export function HostAccess({ entries, readOnly, diagnostics, onChange }: Props) {
  const [added, setAdded] = useState('');
  const list = entries ?? [];
  const add = () => {
    const text = added.trim();
    if (text === '') return;
    onChange([...list, text]);
    setAdded('');
  };
  return (
    <fieldset disabled={readOnly} className="group" data-testid="host-access">
      <legend>Images allowed host access</legend>
      <p className="help">
        With ECI on, privileged containers, host namespaces, host devices and lifted confinement are refused, since they
        reach the engine socket without mounting it. Images listed here (verified by digest) may have them through the
        main socket; containers made through a filtered socket never do.
      </p>
      <ul className="image-list" aria-label="Images allowed host access">
        {list.map((text, i) => (
          <li key={`${i}-${text}`} className="image-row" data-testid="host-row">
            <div className="row-line">
              <input
                type="text"
                aria-label={`Host access entry ${i + 1}`}
                data-testid="host-entry"
                disabled={readOnly}
                value={text}
                spellCheck={false}
                onChange={(e) => onChange(list.map((t, j) => (j === i ? e.target.value : t)))}
              />
              <button
                hidden={readOnly}
                type="button"
                aria-label={`Remove host access entry ${i + 1}`}
                data-testid="host-remove"
                onClick={() => onChange(list.filter((_, j) => j !== i))}
              >
                Remove
              </button>
            </div>
            {diagnostics(`host/${i}`)?.map((d, k) => (
              <p key={k} className={`diag diag-${d.severity}`}>
                {d.message}
              </p>
            ))}
          </li>
        ))}
      </ul>
      <AddRow field="new-host" label="New host access entry" hidden={readOnly}>
        <input
          id="new-host"
          type="text"
          data-testid="new-host-input"
          placeholder="name[:tag], name:*, name@sha256:…"
          value={added}
          spellCheck={false}
          onChange={(e) => setAdded(e.target.value)}
          onKeyDown={onEnter(add)}
        />
        <button type="button" data-testid="add-host" disabled={added.trim() === ''} onClick={add}>
          Add image
        </button>
      </AddRow>
    </fieldset>
  );
}
