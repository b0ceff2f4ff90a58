// The Status view: what the embedded enforcer listens on, whether the engine answers, where the
// policy comes from and its last reload, how fresh each entry's digests are, and how to point
// the docker CLI at the enforcer.

import { useEffect, useState } from 'react';
import { api, events, systemTimeMs, toApiError, type AppStatus, type ReloadEvent, type Source } from '../api';

function sourceText(s: Source): string {
  switch (s.from) {
    case 'admin':
      return s.locked ? 'admin settings, locked' : 'admin settings, not locked';
    case 'user':
      return 'user settings';
    case 'default':
      return 'default';
  }
}

function reloadText(r: ReloadEvent): string {
  switch (r.outcome.outcome) {
    case 'applied':
      return `applied (policy ${r.outcome.version})${r.outcome.user_ignored ? '; your settings are ignored because the admin settings are locked' : ''}`;
    case 'rejected':
      return `rejected: the settings have errors; policy ${r.outcome.kept_version} stays in force`;
    case 'unreadable':
      return `unreadable: ${r.outcome.error}; policy ${r.outcome.kept_version} stays in force`;
  }
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Some field of the policy comes from a locked admin section: users may not pause it. */
function lockedPolicy(p: { value: Source; images: Source; allowDerivedImages: Source; commandList: Source }): boolean {
  return [p.value, p.images, p.allowDerivedImages, p.commandList].some((s) => s.from === 'admin' && s.locked);
}

export function Status() {
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hostLine, setHostLine] = useState('');
  const [copied, setCopied] = useState<string | null>(null);
  const [contextName, setContextName] = useState('eci-guard');
  const [contextOut, setContextOut] = useState<string | null>(null);
  const [autostart, setAutostartState] = useState<boolean | null>(null);
  const [desktopMsg, setDesktopMsg] = useState<string | null>(null);

  useEffect(() => {
    let gone = false;
    const refresh = () =>
      api.status().then(
        (s) => !gone && (setStatus(s), setError(null)),
        (e: unknown) => !gone && setError(toApiError(e).message),
      );
    void refresh();
    api.dockerHostLine().then(
      (l) => !gone && setHostLine(l),
      () => undefined,
    );
    api.autostartEnabled().then(
      (on) => !gone && setAutostartState(on),
      () => undefined,
    );
    const subs = [events.onStatusChanged((s) => !gone && setStatus(s)), events.onPolicyChanged(() => void refresh())];
    return () => {
      gone = true;
      subs.forEach((p) => p.then((u) => u()).catch(() => undefined));
    };
  }, []);

  const toggleAutostart = async (on: boolean) => {
    setDesktopMsg(null);
    try {
      setAutostartState(await api.setAutostart(on));
    } catch (e) {
      setDesktopMsg(`Cannot change starting at login: ${toApiError(e).message}`);
    }
  };

  const pauseOrResume = async (pause: boolean) => {
    setDesktopMsg(null);
    try {
      if (pause) await api.pauseEnforcing();
      else await api.resumeEnforcing();
      setStatus(await api.status());
    } catch (e) {
      setDesktopMsg(`${pause ? 'Cannot pause' : 'Cannot resume'}: ${toApiError(e).message}`);
    }
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(hostLine);
      setCopied('Copied.');
    } catch {
      setCopied('Copy failed: select the line and copy it.');
    }
  };

  const createContext = async () => {
    setContextOut(null);
    try {
      const out = await api.createDockerContext(contextName.trim());
      setContextOut(`Created. ${out} Use it with: docker context use ${contextName.trim()}`);
    } catch (e) {
      setContextOut(`Failed: ${toApiError(e).message}`);
    }
  };

  if (status === null) {
    return (
      <section aria-labelledby="status-h" className="view">
        <h2 id="status-h">Status</h2>
        {error ? (
          <p role="alert" className="notice notice-error">
            Cannot read the status: {error}
          </p>
        ) : (
          <p aria-busy="true">Loading status…</p>
        )}
      </section>
    );
  }

  const en = status.enforcer;
  const now = Date.now();
  const digests = en?.digests.length ? en.digests : status.digests;

  return (
    <section aria-labelledby="status-h" className="view status">
      <h2 id="status-h">Status</h2>
      {error && <p className="notice notice-warn">Last refresh failed: {error}</p>}

      <div className="cards">
        <div className="card" data-testid="status-enforcer">
          <h3>Enforcer</h3>
          {en === null ? (
            <p className="notice notice-error" data-testid="enforcer-error">
              Not running{status.enforcer_error ? `: ${status.enforcer_error}` : ''}
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
                  <button type="button" data-testid="resume-enforcing" onClick={() => void pauseOrResume(false)}>
                    Resume now
                  </button>
                </p>
              ) : (
                <p>
                  ECI is <strong>{en.eci_enabled ? 'on' : 'off'}</strong>
                  {en.eci_enabled ? '' : ': every request passes through unchecked'}.{' '}
                  {en.eci_enabled && !lockedPolicy(en.policy_provenance) && (
                    <button type="button" data-testid="pause-enforcing" onClick={() => void pauseOrResume(true)}>
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

        <div className="card" data-testid="status-history">
          <h3>History</h3>
          <p>
            {status.history.healthy ? 'Recording' : 'Recording has problems'}: {status.history.committed} stored
            {status.history.dropped + status.history.lost > 0 &&
              `, ${status.history.dropped + status.history.lost} not stored`}
            {status.history.pending > 0 && `, ${status.history.pending} pending`}.
          </p>
          {status.history.last_error && <p className="notice notice-warn">{status.history.last_error.message}</p>}
          <p className="muted small">
            <code>{status.history.database}</code>
          </p>
        </div>
      </div>

      <div className="autostart">
        <label>
          <input
            type="checkbox"
            data-testid="autostart-toggle"
            checked={autostart === true}
            disabled={autostart === null}
            onChange={(e) => void toggleAutostart(e.currentTarget.checked)}
          />
          Start eci-guard at login (closing the window keeps it guarding; quit from the tray icon)
        </label>
      </div>
      {desktopMsg && (
        <p role="alert" className="notice notice-error" data-testid="desktop-msg">
          {desktopMsg}
        </p>
      )}

      <h3>Point the docker CLI at the enforcer</h3>
      <div className="field">
        <label htmlFor="docker-host-line">In a shell:</label>
        <div className="row-line">
          <input
            id="docker-host-line"
            data-testid="docker-host-line"
            readOnly
            value={hostLine || `export DOCKER_HOST=${status.docker_host}`}
            onFocus={(e) => e.currentTarget.select()}
          />
          <button type="button" data-testid="copy-docker-host" onClick={() => void copy()}>
            Copy
          </button>
        </div>
        {copied && <span role="status" className="muted small">{copied}</span>}
      </div>
      <div className="field">
        <label htmlFor="context-name">Or create a docker context named</label>
        <div className="row-line">
          <input id="context-name" data-testid="context-name" value={contextName} onChange={(e) => setContextName(e.target.value)} />
          <button
            type="button"
            data-testid="create-context"
            disabled={!/^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/.test(contextName.trim())}
            onClick={() => void createContext()}
          >
            Create context
          </button>
        </div>
        {contextOut && (
          <p role="status" className="small wrap" data-testid="context-output">
            {contextOut}
          </p>
        )}
      </div>
      <h3>Registry digests of allowed images</h3>
      {digests.length === 0 ? (
        <p className="muted">No image entries to check.</p>
      ) : (
        <table className="digests" data-testid="status-digests">
          <thead>
            <tr>
              <th scope="col">Entry</th>
              <th scope="col">Digests</th>
              <th scope="col">Fetched</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {digests.map((d) => (
              <tr key={d.entry} data-testid="digest-row" data-fresh={d.fetched_at !== null && d.last_error === null}>
                <td>
                  <code>{d.entry}</code>
                </td>
                <td>{d.digests === 0 ? 'never fetched' : d.digests}</td>
                <td>{d.fetched_at ? ago(Date.parse(d.fetched_at), now) : '—'}</td>
                <td className="wrap">{d.last_error ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

    </section>
  );
}
