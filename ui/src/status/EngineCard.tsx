// The Engine card: whether the engine behind the enforcer answers, and its version.

import type { EnforcerStatus } from '../api';

export function EngineCard({ enforcer: en }: { enforcer: EnforcerStatus | null }) {
  return (
    <div className="card" data-testid="status-engine">
      <h3>Engine</h3>
      {en === null ? (
        <p className="muted">Unknown while the enforcer is not running.</p>
      ) : en.upstream_reachable ? (
        <p>
          <span className="dot dot-ok" aria-hidden="true" /> Reachable at <code>{en.upstream}</code>
          {en.engine_version && (
            <>
              {' '}
              — version <strong data-testid="engine-version">{en.engine_version}</strong>
              {en.engine_api_version ? ` (API ${en.engine_api_version})` : ''}
            </>
          )}
        </p>
      ) : (
        <p data-testid="engine-unreachable">
          <span className="dot dot-bad" aria-hidden="true" /> Not reachable at <code>{en.upstream}</code>
        </p>
      )}
    </div>
  );
}
