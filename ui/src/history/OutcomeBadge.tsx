// How an audited request shows in History, apart from refused ones: the policy would have refused
// it, but its rule family is in audit mode, so it was forwarded.

import type { StoredBlock } from '../api';

export const AUDITED_LABEL = 'audited — would be refused';

/** Nothing for a refused request: that is every row of a history without audit mode. */
export function OutcomeBadge({ block }: { block: StoredBlock }) {
  if (!block.audited) return null;
  return (
    <span className="badge badge-audited" data-testid="audited-badge" title="Forwarded in audit mode; enforcing would refuse it">
      {AUDITED_LABEL}
    </span>
  );
}
