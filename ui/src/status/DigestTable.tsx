// The registry digests of each allowed image entry: how many, how fresh, and the last error.

import type { EntryFreshness } from '../api';
import { ago } from './text';

export function DigestTable({ digests, now }: { digests: readonly EntryFreshness[]; now: number }) {
  return (
    <>
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
    </>
  );
}
