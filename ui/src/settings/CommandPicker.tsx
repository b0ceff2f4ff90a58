// Adds a command or group to the command list, from the ones the enforcer knows; those it cannot
// enforce are shown, disabled, with why.

import { useState } from 'react';
import { CLIENT_ONLY, COMMANDS, GROUPS, UNSUPPORTED } from '../rules';
import { AddRow } from './AddRow';

/** What can be listed, by kind. */
const LISTABLE: readonly (readonly [string, readonly string[]])[] = [
  ['Groups', GROUPS],
  ['Commands', COMMANDS],
];

export function CommandPicker({ readOnly, onAdd }: { readOnly: boolean; onAdd: (command: string) => void }) {
  const [newCommand, setNewCommand] = useState('');
  return (
    <AddRow field="new-command" label="Command or group" hidden={readOnly}>
      <select
        id="new-command"
        data-testid="command-picker"
        disabled={readOnly}
        value={newCommand}
        onChange={(e) => setNewCommand(e.target.value)}
      >
        <option value="">Choose a command or group…</option>
        {LISTABLE.map(([label, names]) => (
          <optgroup key={label} label={label}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </optgroup>
        ))}
        <optgroup label="Cannot be enforced">
          {UNSUPPORTED.map(([n, what]) => (
            <option key={n} value={n} disabled>
              {n} — {what}: not supported
            </option>
          ))}
          {CLIENT_ONLY.map((n) => (
            <option key={n} value={n} disabled>
              {n} — client only, never reaches the engine
            </option>
          ))}
        </optgroup>
      </select>
      <button
        type="button"
        data-testid="add-command"
        disabled={newCommand === ''}
        onClick={() => {
          onAdd(newCommand);
          setNewCommand('');
        }}
      >
        Add command
      </button>
    </AddRow>
  );
}
