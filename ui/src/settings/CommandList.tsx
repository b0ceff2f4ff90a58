// The group of commands through a filtered socket: the list's type (deny or allow), its entries
// flagged when the enforcer cannot act on them, and the picker to add one.

import type { ListKind } from '../api';
import { parseCommand } from '../rules';
import { CommandPicker } from './CommandPicker';
import { Diags } from './Diags';
import type { GroupProps, OnEdit } from './groupProps';
import { LockNote } from './Lock';
import { commands, setCommands, setCommandType } from './model';
import { sourceLabel } from './sourceLabel';

interface Props extends GroupProps {
  /** The list type shown: the draft's, else the one in force. */
  listType: ListKind;
  onEdit: OnEdit;
}

export function CommandList({ draft, listType, effective: eff, readOnly, lockedByAdmin, diags, onEdit }: Props) {
  const cmdList = commands(draft);
  return (
    <fieldset disabled={readOnly} className="group">
      <legend>Commands through a filtered socket</legend>
      <LockNote locked={lockedByAdmin} />
      <div className="field">
        <label htmlFor="cmd-type">List type</label>{' '}
        <select
          id="cmd-type"
          data-testid="command-type"
          disabled={readOnly}
          value={listType}
          onChange={(e) => onEdit((d) => setCommandType(d, e.target.value as ListKind))}
        >
          <option value="deny">deny: block these commands</option>
          <option value="allow">allow: only these commands</option>
        </select>
        <Diags list={diags.get('commandType')} />
      </div>
      {cmdList === undefined && (
        <p className="help" data-testid="commands-unset">
          Not set in this file: {eff.commandList.type} list of {eff.commandList.commands.length} from{' '}
          {sourceLabel(eff.provenance.commandList)}.
        </p>
      )}
      <ul className="command-list" aria-label="Command list">
        {(cmdList ?? []).map((c, i) => {
          const check = parseCommand(c);
          return (
            <li key={`${i}-${c}`} className="command-row" data-testid="command-row">
              <code>{c}</code>
              {!check.ok && (
                <span className={`badge ${check.warning ? 'badge-warning' : 'badge-invalid'}`} data-testid="command-flag">
                  {check.message}
                </span>
              )}
              <button
                type="button"
                hidden={readOnly}
                aria-label={`Remove command ${c}`}
                onClick={() => onEdit((d) => setCommands(d, (commands(d) ?? []).filter((_, j) => j !== i)))}
              >
                Remove
              </button>
              {check.ok && <Diags list={diags.get(`commands/${i}`)} />}
            </li>
          );
        })}
      </ul>
      <Diags list={diags.get('commands')} />
      <CommandPicker readOnly={readOnly} onAdd={(c) => onEdit((d) => setCommands(d, [...(commands(d) ?? []), c]))} />
    </fieldset>
  );
}
