// eci-guard's audit mode, per rule family: a request the family would refuse is forwarded and
// recorded in History as audited instead. Part of the ECI section, so locked with it.

import type { AuditFamily, AuditSettings, Diagnostic } from '../api';
import { FAMILIES } from '../audit';
import { CheckField } from './CheckField';

interface Props {
  /** The flags as the file sets them; an absent flag inherits. */
  audit: AuditSettings | undefined;
  /** What applies where this file sets nothing (the effective policy for the user file). */
  inherited: Record<AuditFamily, boolean>;
  readOnly: boolean;
  /** Why the panel is read-only when the administrator locked the section. */
  lockedByAdmin: boolean;
  diagnostics: Diagnostic[] | undefined;
  onChange: (family: AuditFamily, audit: boolean) => void;
}

export function AuditMode({ audit, inherited, readOnly, lockedByAdmin, diagnostics, onChange }: Props) {
  return (
    <fieldset disabled={readOnly} className="group" data-testid="audit-mode">
      <legend>Audit mode</legend>
      <p className="help">
        Observe before enforcing: for a family in audit mode, a request its rules would refuse is let through and recorded
        in History as <em>audited — would be refused</em>. Off (the default) refuses it.
      </p>
      {lockedByAdmin && (
        <p className="lock-note" data-testid="audit-locked">
          Locked by your administrator: audit mode is part of the ECI settings they locked.
        </p>
      )}
      {FAMILIES.map((f) => {
        const set = audit?.[f.key];
        const checked = set ?? inherited[f.key];
        const id = `audit-${f.key}`;
        return (
          <CheckField
            key={f.key}
            testId={id}
            label={`Audit ${f.label.toLowerCase()}`}
            checked={checked}
            disabled={readOnly}
            describedBy={`${id}-help`}
            onChange={(on) => onChange(f.key, on)}
          >
            <span id={`${id}-help`} className="help">
              {f.help}{' '}
              {set === undefined ? `Not set in this file: ${checked ? 'audited' : 'enforced'}.` : checked ? 'Audited.' : 'Enforced.'}
            </span>
          </CheckField>
        );
      })}
      {diagnostics?.map((d, k) => (
        <p key={k} className={`diag diag-${d.severity}`}>
          {d.message}
        </p>
      ))}
    </fieldset>
  );
}
