// The Enforcer card: whose enforcer it is (the app's own, or an `eci-guard serve` it is attached
// to), the sockets it listens on, whether ECI is on (or paused, with a way back), the filtered
// sockets, and the paths protected against mounts.

import type { EnforcerStatus } from '../api';
import { lockedPolicy } from './text';

interface Props {
  enforcer: EnforcerStatus | null;
  /** Why the enforcer does not run, when it does not. */
  error: string | null;
  /** The control socket of the `eci-guard serve` the app is attached to; null when embedded. */
  attachedTo: string | null;
  onPause: (pause: boolean) => void;
}

export function EnforcerCard({ enforcer: en, error, attachedTo, onPause }: Props) {
  return (
    <div className="card" data-testid="status-enforcer">
      <h3>Enforcer</h3>
      {attachedTo !== null && (
        <p data-testid="enforcer-attached">
          Run by <code>eci-guard serve</code>; this app is attached through <code>{attachedTo}</code>.
        </p>
      )}
      {en === null ? (
        <p className="notice notice-error" data-testid="enforcer-error">
          Not running{error ? `: ${error}` : ''}
        </p>
      ) : (
        <>
          <p>Listening on:</p>
          <ul data-testid="status-listening">
            {en.listening.map((p) => (
              <li key={p}>
                <code>{p}</code>
              </li>
            ))}
          </ul>
          {en.paused_until_ms !== null ? (
            <p data-testid="paused">
              Enforcing is <strong>paused</strong> until {new Date(en.paused_until_ms).toLocaleTimeString()}: every
              request passes through unchecked.{' '}
              <button type="button" data-testid="resume-enforcing" onClick={() => onPause(false)}>
                Resume now
              </button>
            </p>
          ) : (
            <p>
              ECI is <strong>{en.eci_enabled ? 'on' : 'off'}</strong>
              {en.eci_enabled ? '' : ': every request passes through unchecked'}.{' '}
              {en.eci_enabled && attachedTo === null && !lockedPolicy(en.policy_provenance) && (
                <button type="button" data-testid="pause-enforcing" onClick={() => onPause(true)}>
                  Pause for 10 minutes
                </button>
              )}
            </p>
          )}
          <p className="muted small">
            {en.filtered_sockets.length} filtered socket{en.filtered_sockets.length === 1 ? '' : 's'} for containers
          </p>
          <p>Protected against mounts on this machine:</p>
          <ul data-testid="status-protected">
            {en.protected.map((p) => (
              <li key={p.path}>
                <code>{p.path}</code> <span className="muted small">{p.kind}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
