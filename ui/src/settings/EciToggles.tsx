// The first group of the settings form: ECI on or off, and (for an administrator) the lock that
// keeps users from changing the settings.

import type { Mode } from '../api';
import { CheckField } from './CheckField';
import { Diags } from './Diags';
import type { GroupProps, OnEdit } from './groupProps';
import { LockNote } from './Lock';
import { setFlag } from './model';
import { sourceLabel } from './sourceLabel';

interface Props extends GroupProps {
  mode: Mode;
  /** The lock in force (what a user sees in the lock's box). */
  locked: boolean;
  /** The value in force when the draft does not set one. */
  inheritedValue: boolean;
  onEdit: OnEdit;
}

export function EciToggles({ draft, mode, locked, inheritedValue, effective, readOnly, lockedByAdmin, diags, onEdit }: Props) {
  return (
    <fieldset disabled={readOnly} className="group">
      <legend>Enhanced Container Isolation</legend>
      <CheckField
        testId="eci-toggle"
        label="ECI enabled"
        checked={draft.value ?? inheritedValue}
        disabled={readOnly}
        describedBy="value-help"
        onChange={(on) => onEdit((d) => setFlag(d, 'value', on))}
      >
        <LockNote locked={lockedByAdmin} />
        <span id="value-help" className="help">
          {draft.value === undefined
            ? `Not set in this file: ${inheritedValue ? 'on' : 'off'} from ${sourceLabel(effective.provenance.value)}.`
            : 'When off, the enforcer passes every request through unchecked.'}
        </span>
        <Diags list={diags.get('value')} />
      </CheckField>
      <CheckField
        testId="lock-toggle"
        label="Lock these settings for users"
        checked={mode === 'admin' ? draft.locked ?? false : locked}
        disabled={mode !== 'admin' || readOnly}
        describedBy="lock-help"
        onChange={(on) => onEdit((d) => setFlag(d, 'locked', on))}
      >
        <LockNote locked={lockedByAdmin} />
        <span id="lock-help" className="help">
          {mode === 'admin'
            ? 'Locked: users cannot change the ECI settings; their own values are ignored.'
            : 'Only an administrator can lock or unlock these settings.'}
        </span>
        <Diags list={diags.get('locked')} />
      </CheckField>
    </fieldset>
  );
}
