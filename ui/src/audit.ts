// Audit mode as the app shows it: the rule families, their names, the block kind each records,
// and what "Enforce now" writes and where (Settings and History share these).

import type { AuditFamily, AuditSettings, BlockKind, EciSection, FileView, Policy, SettingsView, Target } from './api';
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

/** The families the policy has in audit mode (none from a shell that does not report it). */
export function audited(policy: Policy | null): AuditFamily[] {
  const a = policy?.audit;
  if (!a) return [];
  return FAMILIES.filter((f) => a[f.key]).map((f) => f.key);
}

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

/** Every family enforced, stated in the file so that it overrides what another file sets. */
export function enforceAll(s: EciSection): EciSection {
  return FAMILIES.reduce((acc, f) => setAudit(acc, f.key, false), cleanSection(s));
}

/** Where "Enforce now" writes, or why it cannot. */
export type EnforcePlan =
  | { ok: true; target: Target; file: FileView; section: EciSection }
  | { ok: false; reason: string };

/**
 * Unlocked, the user's own file decides over the admin's defaults, so "Enforce now" writes there.
 * Locked, only the admin file counts: an administrator writes it, a user cannot.
 */
export function enforcePlan(view: SettingsView): EnforcePlan {
  const target: Target | null = view.locked ? (view.mode === 'admin' ? 'admin' : null) : 'user';
  if (target === null) {
    return {
      ok: false,
      reason: 'Audit mode is part of the settings your administrator locked: only they can turn it off.',
    };
  }
  const file = view[target];
  if (!file.writable) return { ok: false, reason: `You cannot write ${file.path}.` };
  if (file.exists && file.section === null && file.diagnostics.some((d) => d.severity === 'error')) {
    return { ok: false, reason: `${file.path} has errors; fix them in Settings first.` };
  }
  return { ok: true, target, file, section: enforceAll(file.section ?? {}) };
}
