// How a block's kind and time read in the History table and its details pane.

import type { StoredBlock } from '../api';

export const KIND_LABEL: Record<StoredBlock['kind'], string> = {
  socket_mount: 'socket mount',
  command: 'command',
  host_access: 'host access',
  invalid_request: 'invalid request',
};

/** Local time to the second, `YYYY-MM-DD HH:MM:SS`, so that rows line up and sort by eye. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
