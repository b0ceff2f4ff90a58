// "Try a command": what the enforcer would do with a docker run/create line under the settings as
// edited, before they are saved, from the enforcer's own judge (eci-guard explain).

import { useState } from 'react';
import { api, toApiError, type EciSection, type Explanation, type Target } from '../api';
import { onEnter } from './onEnter';

interface Props {
  target: Target;
  section: EciSection;
}

const OUTCOME: Record<Explanation['outcome'], string> = {
  allow: 'allowed',
  'allow-filtered': 'allowed, with a filtered socket',
  deny: 'refused',
  'cannot-tell': 'cannot tell',
};

export function TryCommand({ target, section }: Props) {
  const [line, setLine] = useState('docker run -v /var/run/docker.sock:/var/run/docker.sock ');
  const [answer, setAnswer] = useState<Explanation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setAnswer(await api.tryCommand(target, section, line));
    } catch (e) {
      setAnswer(null);
      setError(toApiError(e).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <fieldset className="group" data-testid="try-command">
      <legend>Try a command</legend>
      <p className="help">What the enforcer would do with it under these settings, before they are saved.</p>
      <div className="row-line">
        <label htmlFor="try-line" className="sr-only">
          docker command line
        </label>
        <input
          id="try-line"
          type="text"
          data-testid="try-line"
          value={line}
          spellCheck={false}
          onChange={(e) => setLine(e.target.value)}
          onKeyDown={onEnter(() => void run())}
        />
        <button type="button" data-testid="try-run" disabled={busy || line.trim() === ''} onClick={() => void run()}>
          Try
        </button>
      </div>
      {error && (
        <p className="diag diag-error" data-testid="try-error" role="alert">
          {error}
        </p>
      )}
      {answer && (
        <div data-testid="try-answer" data-outcome={answer.outcome} role="status">
          <p>
            <strong>{OUTCOME[answer.outcome]}</strong>
            {answer.kind ? ` (${answer.kind.replace('_', ' ')})` : ''}
            {answer.allowed_by ? ` by ${answer.allowed_by}` : ''}
          </p>
          {answer.message && <p className="small">{answer.message}</p>}
          {!answer.message && answer.reason && <p className="small">{answer.reason}</p>}
          {answer.mounts.filter((m) => m.exposes).length > 0 && (
            <ul className="small">
              {answer.mounts
                .filter((m) => m.exposes)
                .map((m) => (
                  <li key={m.pointer}>
                    <code>{m.source}</code>: {m.exposes}
                  </li>
                ))}
            </ul>
          )}
        </div>
      )}
    </fieldset>
  );
}
