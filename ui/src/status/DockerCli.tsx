// How to point the docker CLI at the enforcer: the DOCKER_HOST line to copy, or a docker context
// the app creates.

import { useState } from 'react';
import { api, toApiError } from '../api';

/** What `docker context create` accepts as a name. */
const CONTEXT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;

interface Props {
  /** The shell's line; empty until it answers. */
  hostLine: string;
  /** The enforcer's DOCKER_HOST, for the line until the shell's arrives. */
  dockerHost: string;
}

export function DockerCli({ hostLine, dockerHost }: Props) {
  const [copied, setCopied] = useState<string | null>(null);
  const [contextName, setContextName] = useState('eci-guard');
  const [contextOut, setContextOut] = useState<string | null>(null);

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

  return (
    <>
      <h3>Point the docker CLI at the enforcer</h3>
      <div className="field">
        <label htmlFor="docker-host-line">In a shell:</label>
        <div className="row-line">
          <input
            id="docker-host-line"
            data-testid="docker-host-line"
            readOnly
            value={hostLine || `export DOCKER_HOST=${dockerHost}`}
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
            disabled={!CONTEXT_NAME.test(contextName.trim())}
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
    </>
  );
}
