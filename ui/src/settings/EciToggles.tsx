// The first group of the settings form: ECI on or off, and (for an administrator) the lock that
// keeps users from changing the settings.

import type { Diagnostic, EciSection, Mode, Policy } from '../api';
import { Diags } from './Diags';
import { LockNote } from './Lock';
import { setFlag } from './model';
import { sourceLabel } from './sourceLabel';

interface Props {
  draft: EciSection;
  mode: Mode;
  /** The lock in force (what a user sees in the lock's box). */
  locked: boolean;
  /** The value in force when the draft does not set one. */
  inheritedValue: boolean;
  effective: Policy;
  readOnly: boolean;
  lockedByAdmin: boolean;
  diags: ReadonlyMap<string, Diagnostic[]>;
  onEdit: (edit: (draft: EciSection) => EciSection) => void;
}

export function EciToggles({ draft, mode, locked, inheritedValue, effective, readOnly, lockedByAdmin, diags, onEdit }: Props) {
  return (
    <fieldset disabled={readOnly} className="group">
      <legend>Enhanced Container Isolation</legend>
      <div className="field">
        <label>
          <input
            type="checkbox"
            data-testid="eci-toggle"
            disabled={readOnly}
            checked={draft.value ?? inheritedValue}
            onChange={(e) => onEdit((d) => setFlag(d, 'value', e.target.checked))}
            aria-describedby="value-help"
          />{' '}
          ECI enabled
        </label>
        <LockNote locked={lockedByAdmin} />
        <span id="value-help" className="help">
          {draft.value === undefined
            ? `Not set in this file: ${inheritedValue ? 'on' : 'off'} from ${sourceLabel(effective.provenance.value)}.`
            : 'When off, the enforcer passes every request through unchecked.'}
        </span>
        <Diags list={diags.get('value')} />
      </div>
      <div className="field">
        <label>
          <input
            type="checkbox"
            data-testid="lock-toggle"
            checked={mode === 'admin' ? draft.locked ?? false : locked}
            disabled={mode !== 'admin' || readOnly}
            onChange={(e) => onEdit((d) => setFlag(d, 'locked', e.target.checked))}
            aria-describedby="lock-help"
          />{' '}
          Lock these settings for users
        </label>
        <LockNote locked={lockedByAdmin} />
        <span id="lock-help" className="help">
          {mode === 'admin'
            ? 'Locked: users cannot change the ECI settings; their own values are ignored.'
            : 'Only an administrator can lock or unlock these settings.'}
        </span>
        <Diags list={diags.get('locked')} />
      </div>
    </fieldset>
  );
}
