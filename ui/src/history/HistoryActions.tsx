// Under the History table: export the rows the filter selects (CSV or JSON) to a file, and, for
// an administrator, clear the whole history after a confirmation; then what came of it.

import { useState } from 'react';
import { api, toApiError, type ExportFormat, type Filter, type Mode } from '../api';
import { useExportPath } from './useExportPath';

interface Props {
  mode: Mode;
  /** The filter of the rows shown: what an export writes. */
  filter: Filter;
  /** After the history was cleared: the table starts again. */
  onCleared: () => Promise<void>;
}

const rowCount = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

export function HistoryActions({ mode, filter, onCleared }: Props) {
  const [format, setFormat] = useState<ExportFormat>('csv');
  const exportPath = useExportPath(format);
  const [message, setMessage] = useState<string | null>(null);
  const [confirmClear, setConfirmClear] = useState(false);

  const doExport = async () => {
    setMessage(null);
    const path = exportPath.path.trim();
    if (path === '') {
      setMessage('Choose a file to export to.');
      return;
    }
    try {
      const n = await api.historyExport(filter, format, path);
      setMessage(`Exported ${rowCount(n)} to ${path}.`);
    } catch (e) {
      setMessage(`Export failed: ${toApiError(e).message}`);
    }
  };

  const doClear = async () => {
    setConfirmClear(false);
    try {
      const n = await api.historyClear();
      setMessage(`Cleared ${rowCount(n)}.`);
      await onCleared();
    } catch (e) {
      const err = toApiError(e);
      setMessage(err.code === 'forbidden' ? `Not allowed: ${err.message}` : `Clear failed: ${err.message}`);
    }
  };

  return (
    <>
      <div className="history-actions">
        <label>
          Export as
          <select value={format} data-testid="export-format" onChange={(e) => setFormat(e.target.value as ExportFormat)}>
            <option value="csv">CSV</option>
            <option value="json">JSON</option>
          </select>
        </label>
        <label className="grow">
          to file
          <input
            type="text"
            data-testid="export-path"
            placeholder="absolute path, e.g. /home/you/eci-history.csv"
            value={exportPath.path}
            onChange={(e) => exportPath.choose(e.target.value)}
          />
        </label>
        <button type="button" data-testid="export-history" onClick={() => void doExport()}>
          Export
        </button>
        {mode === 'admin' &&
          (confirmClear ? (
            <>
              <button type="button" className="danger" data-testid="clear-confirm" onClick={() => void doClear()}>
                Delete every row
              </button>
              <button type="button" onClick={() => setConfirmClear(false)}>
                Cancel
              </button>
            </>
          ) : (
            <button type="button" data-testid="clear-history" onClick={() => setConfirmClear(true)}>
              Clear history…
            </button>
          ))}
      </div>
      {message && (
        <p role="status" className="muted" data-testid="history-action-msg">
          {message}
        </p>
      )}
    </>
  );
}
