// What the Status view shows, from the shell: the status (kept live by `status://changed` and
// asked again after a policy change), the DOCKER_HOST line, and whether the app starts at login.

import { useEffect, useState } from 'react';
import { api, events, toApiError, type AppStatus } from '../api';
import { subscription } from '../subscription';

export function useStatus() {
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hostLine, setHostLine] = useState('');
  const [autostart, setAutostart] = useState<boolean | null>(null);

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
      (on) => !gone && setAutostart(on),
      () => undefined,
    );
    const stops = [
      subscription(events.onStatusChanged((s) => !gone && setStatus(s))),
      subscription(events.onPolicyChanged(() => void refresh())),
    ];
    return () => {
      gone = true;
      stops.forEach((stop) => stop());
    };
  }, []);

  return { status, setStatus, error, hostLine, autostart, setAutostart };
}
