// The History filter on what became of a request: refused, or forwarded in audit mode.

import type { Outcome } from '../api';

interface Props {
  value: Outcome | '';
  onChange: (value: Outcome | '') => void;
}

export function OutcomeFilter({ value, onChange }: Props) {
  return (
    <label>
      Outcome
      <select data-testid="filter-outcome" value={value} onChange={(e) => onChange(e.target.value as Outcome | '')}>
        <option value="">All</option>
        <option value="blocked">Blocked</option>
        <option value="audited">Audited</option>
      </select>
    </label>
  );
}
