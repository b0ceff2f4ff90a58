// A checkbox of the settings form with its label, then what goes under it (lock note, help,
// diagnostics).

import type { ReactNode } from 'react';

interface Props {
  testId: string;
  label: string;
  checked: boolean;
  disabled: boolean;
  /** The id of the help that describes it. */
  describedBy?: string;
  onChange: (on: boolean) => void;
  children: ReactNode;
}

export function CheckField({ testId, label, checked, disabled, describedBy, onChange, children }: Props) {
  return (
    <div className="field">
      <label>
        <input
          type="checkbox"
          data-testid={testId}
          disabled={disabled}
          checked={checked}
          onChange={(e) => onChange(e.target.checked)}
          aria-describedby={describedBy}
        />{' '}
        {label}
      </label>
      {children}
    </div>
  );
}
