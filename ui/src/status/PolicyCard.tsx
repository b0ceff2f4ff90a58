// The Policy card: the version in force, where each of its fields comes from, the settings files,
// and the last reload (with its errors when it was rejected).

import { systemTimeMs, type EnforcerStatus } from '../api';
import { reloadText, sourceText } from './text';

export function PolicyCard({ enforcer: en }: { enforcer: EnforcerStatus | null }) {
  return (
    <div className="card" data-testid="status-policy">
      <h3>Policy</h3>
      {en === null ? (
        <p className="muted">No policy in force.</p>
      ) : (
        <>
          <p>
            Version <code>{en.policy_version}</code>
          </p>
          <dl className="compact">
            <dt>ECI on/off</dt>
            <dd>{sourceText(en.policy_provenance.value)}</dd>
            <dt>Image list</dt>
            <dd data-testid="policy-source-images">{sourceText(en.policy_provenance.images)}</dd>
            <dt>Derived images</dt>
            <dd>{sourceText(en.policy_provenance.allowDerivedImages)}</dd>
            <dt>Command list</dt>
            <dd>{sourceText(en.policy_provenance.commandList)}</dd>
            <dt>Admin file</dt>
            <dd>
              <code>{en.settings.admin ?? 'none'}</code>
            </dd>
            <dt>User file</dt>
            <dd>
              <code>{en.settings.user ?? 'none'}</code>
            </dd>
          </dl>
          <p data-testid="last-reload">
            Last reload:{' '}
            {en.last_reload === null
              ? 'none since start'
              : `${new Date(systemTimeMs(en.last_reload.at)).toLocaleString()} — ${reloadText(en.last_reload)}`}
          </p>
          {en.last_reload?.outcome.outcome === 'rejected' && (
            <ul className="diags">
              {en.last_reload.outcome.errors.flatMap((f) =>
                f.diagnostics.map((d, i) => (
                  <li key={`${f.origin}-${i}`} className={`diag diag-${d.severity}`}>
                    {f.origin}: {d.pointer || '(document)'}: {d.message}
                  </li>
                )),
              )}
            </ul>
          )}
        </>
      )}
    </div>
  );
}
