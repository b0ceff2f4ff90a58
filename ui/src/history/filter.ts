// The History filters: the form's fields as the shell's `Filter`, the same test applied to a live
// block (so a new row shows only when the query would have returned it), and the fix to suggest.

import type { BlockKind, Filter, Mode, Outcome, Policy, StoredBlock } from '../api';
import { listedBy } from '../rules';

export interface FilterForm {
  kind: BlockKind | '';
  /** '' shows both. */
  outcome: Outcome | '';
  image: string;
  command: string;
  /** `datetime-local` values (local time), "" when unset. */
  since: string;
  until: string;
  text: string;
}

export const EMPTY_FORM: FilterForm = { kind: '', outcome: '', image: '', command: '', since: '', until: '', text: '' };

function localToRfc3339(v: string): string | undefined {
  if (v === '') return undefined;
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** Only the fields set, so the shell's defaults apply to the rest. */
export function toFilter(f: FilterForm): Filter {
  const out: Filter = {};
  if (f.kind !== '') out.kinds = [f.kind];
  if (f.outcome !== '') out.outcome = f.outcome;
  if (f.image.trim() !== '') out.image = f.image.trim();
  if (f.command.trim() !== '') out.command = f.command.trim();
  const since = localToRfc3339(f.since);
  if (since) out.since = since;
  const until = localToRfc3339(f.until);
  if (until) out.until = until;
  if (f.text.trim() !== '') out.text = f.text.trim();
  return out;
}

const contains = (hay: string | null, needle: string) => hay !== null && hay.toLowerCase().includes(needle.toLowerCase());

/** eci-history's `Filter::condition`, applied to one block. */
export function matches(b: StoredBlock, f: Filter): boolean {
  if (f.kinds && f.kinds.length > 0 && !f.kinds.includes(b.kind)) return false;
  if (f.outcome !== undefined && b.audited !== (f.outcome === 'audited')) return false;
  if (f.socket && b.socket !== f.socket) return false;
  if (f.image !== undefined && !contains(b.image, f.image) && !contains(b.image_id, f.image)) return false;
  if (f.command !== undefined && !b.commands.includes(f.command)) return false;
  if (f.since !== undefined && b.unix_ms < Date.parse(f.since)) return false;
  if (f.until !== undefined && b.unix_ms >= Date.parse(f.until)) return false;
  if (f.text !== undefined) {
    const t = f.text;
    if (![b.reason, b.message, b.path, b.image, b.container_name].some((h) => contains(h, t))) return false;
  }
  return true;
}

export type Fix =
  | { kind: 'allow-image'; image: string }
  | { kind: 'pull-again'; image: string }
  | { kind: 'ask-admin'; image: string | null }
  | { kind: 'command'; commands: string[]; canEdit: boolean }
  | { kind: 'host-access'; canEdit: boolean }
  | { kind: 'invalid-request' };

/**
 * What to tell about a block. A socket-mount denial of an image the list names means the local
 * image is not the one the registry publishes (stale or retagged): pull it again. One the list
 * does not name can be allowed by whoever may edit the list.
 */
export function fixFor(b: StoredBlock, mode: Mode, policy: Policy | null, locked: boolean): Fix {
  const canEdit = mode === 'admin' || !locked;
  switch (b.kind) {
    case 'socket_mount': {
      const image = b.image;
      if (image !== null && policy !== null && listedBy(image, policy.images)) return { kind: 'pull-again', image };
      if (image !== null && canEdit) return { kind: 'allow-image', image };
      return { kind: 'ask-admin', image };
    }
    case 'command':
      return { kind: 'command', commands: b.commands, canEdit };
    case 'host_access':
      return { kind: 'host-access', canEdit: mode === 'admin' };
    case 'invalid_request':
      return { kind: 'invalid-request' };
  }
}
