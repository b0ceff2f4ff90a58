// The administrator's lock as the settings form shows it: an icon, and a note beside each field.

export function LockIcon() {
  return (
    <svg className="lock-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
      <path
        fill="currentColor"
        d="M4 7V5a4 4 0 1 1 8 0v2h1a1 1 0 0 1 1 1v7a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1h1zm2 0h4V5a2 2 0 1 0-4 0v2z"
      />
    </svg>
  );
}

/** Beside a field the administrator locked; nothing when the settings are not locked. */
export function LockNote({ locked }: { locked: boolean }) {
  if (!locked) return null;
  return (
    <span className="lock-note" data-testid="locked-note">
      <LockIcon /> locked by your administrator
    </span>
  );
}
