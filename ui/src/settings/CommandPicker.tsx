// Adds a command or group to the command list, from the ones the enforcer knows; those it cannot
// enforce are shown, disabled, with why.

import { useState } from 'react';
import { CLIENT_ONLY, COMMANDS, GROUPS, UNSUPPORTED } from '../rules';

export function CommandPicker({ readOnly, onAdd }: { readOnly: boolean; onAdd: (command: string) => void }) {
  const [newCommand, setNewCommand] = useState('');
  return (
    <div className="row-line add-row" hidden={readOnly}>
      <label htmlFor="new-command" className="sr-only">
        Command or group
      </label>
      <select
        id="new-command"
        data-testid="command-picker"
        disabled={readOnly}
        value={newCommand}
        onChange={(e) => setNewCommand(e.target.value)}
      >
        <option value="">Choose a command or group…</option>
        <optgroup label="Groups">
          {GROUPS.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </optgroup>
        <optgroup label="Commands">
          {COMMANDS.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </optgroup>
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
    </div>
  );
}
