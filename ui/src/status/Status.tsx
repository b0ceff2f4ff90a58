// The Status view: what the embedded enforcer listens on, whether the engine answers, where the
// policy comes from and its last reload, how fresh each entry's digests are, and how to point
// the docker CLI at the enforcer. This file lays the view out and holds the desktop controls
// (pause, start at login); the data is in useStatus, each card in its own part.

import { useState } from 'react';
import { api, toApiError } from '../api';
import { DigestTable } from './DigestTable';
import { DockerCli } from './DockerCli';
import { EnforcerCard } from './EnforcerCard';
import { EngineCard } from './EngineCard';
import { HistoryCard } from './HistoryCard';
import { PolicyCard } from './PolicyCard';
import { useStatus } from './useStatus';

export function Status() {
  const { status, setStatus, error, hostLine, autostart, setAutostart } = useStatus();
  const [desktopMsg, setDesktopMsg] = useState<string | null>(null);

  const toggleAutostart = async (on: boolean) => {
    setDesktopMsg(null);
    try {
      setAutostart(await api.setAutostart(on));
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

  return (
    <section aria-labelledby="status-h" className="view status">
      <h2 id="status-h">Status</h2>
      {error && <p className="notice notice-warn">Last refresh failed: {error}</p>}

      <div className="cards">
        <EnforcerCard
          enforcer={en}
          error={status.enforcer_error}
          attachedTo={status.attached_to}
          onPause={(pause) => void pauseOrResume(pause)} />
        <EngineCard enforcer={en} />
        <PolicyCard enforcer={en} />
        <HistoryCard history={status.history} />
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

      <DockerCli hostLine={hostLine} dockerHost={status.docker_host} />
      <DigestTable digests={en?.digests.length ? en.digests : status.digests} now={Date.now()} />
    </section>
  );
}
