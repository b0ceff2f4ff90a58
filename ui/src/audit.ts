// Audit mode as the app shows it: the rule families, their names, the block kind each records,
// and how a section sets a family's flag (Settings and History share these; "Enforce now" is
// History's own, in history/enforce.ts).

import type { AuditFamily, AuditSettings, BlockKind, EciSection } from './api';
import { cleanSection } from './settings/model';

export const FAMILIES: readonly { key: AuditFamily; label: string; kind: BlockKind; help: string }[] = [
  {
    key: 'socketMounts',
    label: 'Socket mounts',
    kind: 'socket_mount',
    help: 'Containers mounting the engine socket (or a directory holding it) with an image not in the list.',
  },
  {
    key: 'commands',
    label: 'Command list',
    kind: 'command',
    help: 'Commands the command list refuses to containers on a filtered socket.',
  },
  {
    key: 'hostAccess',
    label: 'Host access',
    kind: 'host_access',
    help: 'Privileged containers, host namespaces and devices, kernel filesystems, lifted confinement.',
  },
];

export const auditOf = (s: EciSection): AuditSettings | undefined => s.eciGuard?.audit;

/** The section with one family's flag set; `undefined` removes it (the file then inherits). */
export function setAudit(s: EciSection, family: AuditFamily, v: boolean | undefined): EciSection {
  const out = cleanSection(s);
  const audit: AuditSettings = { ...(out.eciGuard?.audit ?? {}) };
  if (v === undefined) delete audit[family];
  else audit[family] = v;
  out.eciGuard = { ...(out.eciGuard ?? {}), audit };
  return out;
}
