// The Settings footer's file actions: import a settings file into the draft, export the edited
// file, and, for a user whom polkit lets save the admin file, switch to editing it and back.

/** `offer`: the admin file may be edited through polkit; `editing`: it is being edited. */
export type AdminEdit = 'offer' | 'editing' | null;

interface Props {
  canImport: boolean;
  canExport: boolean;
  busy: boolean;
  dirty: boolean;
  admin: AdminEdit;
  onImport: () => void;
  onExport: () => void;
  onAdminEdit: (on: boolean) => void;
}

export function FileActions({ canImport, canExport, busy, dirty, admin, onImport, onExport, onAdminEdit }: Props) {
  // Switching files drops the edits: only from a clean draft.
  const switchTitle = dirty ? 'Save or revert your changes first' : undefined;
  return (
    <span className="file-actions">
      <button type="button" data-testid="import-settings" disabled={!canImport || busy} onClick={onImport}>
        Import…
      </button>
      <button type="button" data-testid="export-settings" disabled={!canExport || busy} onClick={onExport}>
        Export…
      </button>
      {admin === 'offer' && (
        <button
          type="button"
          data-testid="edit-admin-settings"
          disabled={dirty}
          title={switchTitle ?? 'Saving asks for an administrator’s password'}
          onClick={() => onAdminEdit(true)}
        >
          Edit admin settings…
        </button>
      )}
      {admin === 'editing' && (
        <button type="button" data-testid="edit-own-settings" disabled={dirty} title={switchTitle} onClick={() => onAdminEdit(false)}>
          Back to my settings
        </button>
      )}
    </span>
  );
}
