// "Enforce now" in History: which rule families are in audit mode, and what turning them all off
// writes and where. Kept out of audit.ts, which the first view loads: only History needs these.

import type { AuditFamily, EciSection, FileView, Policy, SettingsView, Target } from '../api';
import { FAMILIES, setAudit } from '../audit';
import { cleanSection } from '../settings/model';

/** The families the policy has in audit mode (none from a shell that does not report it). */
export function audited(policy: Policy | null): AuditFamily[] {
  const a = policy?.audit;
  if (!a) return [];
  return FAMILIES.filter((f) => a[f.key]).map((f) => f.key);
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
