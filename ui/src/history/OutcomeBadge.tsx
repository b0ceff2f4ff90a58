// How an audited request shows in History, apart from refused ones: the policy would have refused
// it, but its rule family is in audit mode, so it was forwarded.

import type { StoredBlock } from '../api';

export const AUDITED_LABEL = 'audited — would be refused';

/**
 * Nothing for a refused request: that is every row of a history without audit mode. In a row the
 * badge says "audited" (the reason beside it must stay readable at 800 px); its accessible name
 * and tooltip, and the details pane, give the whole label.
 */
export function OutcomeBadge({ block }: { block: StoredBlock }) {
  if (!block.audited) return null;
  return (
    <span
      className="badge badge-audited"
      data-testid="audited-badge"
      role="img"
      aria-label={AUDITED_LABEL}
      title={`${AUDITED_LABEL}: forwarded in audit mode; enforcing would refuse it`}
    >
      audited
    </span>
  );
}
