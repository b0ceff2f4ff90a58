// How the Status view words what the enforcer reports: where a policy field comes from, the last
// reload, how long ago a time was, and whether the policy is locked.

import type { Provenance, ReloadEvent, Source } from '../api';

export function sourceText(s: Source): string {
  switch (s.from) {
    case 'admin':
      return s.locked ? 'admin settings, locked' : 'admin settings, not locked';
    case 'user':
      return 'user settings';
    case 'default':
      return 'default';
  }
}

export function reloadText(r: ReloadEvent): string {
  switch (r.outcome.outcome) {
    case 'applied':
      return `applied (policy ${r.outcome.version})${r.outcome.user_ignored ? '; your settings are ignored because the admin settings are locked' : ''}`;
    case 'rejected':
      return `rejected: the settings have errors; policy ${r.outcome.kept_version} stays in force`;
    case 'unreadable':
      return `unreadable: ${r.outcome.error}; policy ${r.outcome.kept_version} stays in force`;
  }
}

/** `ms` (unix milliseconds) as seen at `now`: "just now", "12 s ago", … "3 days ago". */
export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Some field of the policy comes from a locked admin section: users may not pause it. */
export function lockedPolicy(p: Provenance): boolean {
  return [p.value, p.images, p.allowDerivedImages, p.commandList].some((s) => s.from === 'admin' && s.locked);
}
