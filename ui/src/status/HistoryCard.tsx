// The History card: whether blocks are being recorded, how many were stored or lost, and where.

import type { HistoryStatus } from '../api';

export function HistoryCard({ history }: { history: HistoryStatus }) {
  return (
    <div className="card" data-testid="status-history">
      <h3>History</h3>
      <p>
        {history.healthy ? 'Recording' : 'Recording has problems'}: {history.committed} stored
        {history.dropped + history.lost > 0 && `, ${history.dropped + history.lost} not stored`}
        {history.pending > 0 && `, ${history.pending} pending`}.
      </p>
      {history.last_error && <p className="notice notice-warn">{history.last_error.message}</p>}
      <p className="muted small">
        <code>{history.database}</code>
      </p>
    </div>
  );
}
