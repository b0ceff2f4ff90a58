// The settings form: one group of fields per part of the ECI section, each editing the draft.

import type { ListKind, Mode, SettingsView, Target } from '../api';
import { auditOf, setAudit } from '../audit';
import { AuditMode } from './AuditMode';
import { CommandList } from './CommandList';
import type { EditorAction } from './editor';
import { EciToggles } from './EciToggles';
import type { GroupProps, OnEdit } from './groupProps';
import { HostAccess } from './HostAccess';
import { ImageList } from './ImageList';
import { commandType, hostAccess, setHostAccess, type Badge } from './model';

/** The policy in force comes with the view. */
interface Props extends Omit<GroupProps, 'effective'> {
  view: SettingsView;
  /** Who edits: `admin` also for a user editing the admin file through polkit. */
  mode: Mode;
  target: Target;
  imageKeys: readonly number[];
  badges: ReadonlyMap<number, Badge>;
  dispatch: (action: EditorAction) => void;
  onSave: () => void;
}

const NO_AUDIT = { socketMounts: false, commands: false, hostAccess: false };

export function SettingsForm({ view, mode, target, draft, imageKeys, badges, readOnly, lockedByAdmin, diags, dispatch, onSave }: Props) {
  const eff = view.effective;
  const onEdit: OnEdit = (edit) => dispatch({ type: 'edit', edit });
  // What the file does not set comes from the admin settings for a user; the admin file has no one above it.
  const inherits = target === 'user';
  const cmdType: ListKind = commandType(draft) ?? (inherits ? eff.commandList.type : 'deny');
  const fieldProps = { draft, effective: eff, readOnly, lockedByAdmin, diags };
  return (
    <form
      id="settings-form"
      className="settings-form"
      aria-label="ECI settings"
      onSubmit={(e) => {
        e.preventDefault();
        onSave();
      }}
    >
      <EciToggles
        {...fieldProps}
        mode={mode}
        locked={view.locked}
        inheritedValue={inherits ? eff.eciEnabled : true}
        onEdit={onEdit}
      />
      <ImageList
        {...fieldProps}
        imageKeys={imageKeys}
        badges={badges}
        target={target}
        inheritedDerived={inherits ? eff.allowDerivedImages : true}
        dispatch={dispatch}
      />
      <CommandList {...fieldProps} listType={cmdType} onEdit={onEdit} />
      {(mode === 'admin' || hostAccess(draft) !== undefined) && (
        <HostAccess
          entries={hostAccess(draft)}
          readOnly={readOnly || mode !== 'admin'}
          diagnostics={(key) => diags.get(key)}
          onChange={(list) => onEdit((d) => setHostAccess(d, list))}
        />
      )}
      <AuditMode
        audit={auditOf(draft)}
        inherited={inherits && eff.audit ? eff.audit : NO_AUDIT}
        readOnly={readOnly}
        lockedByAdmin={lockedByAdmin}
        diagnostics={diags.get('audit')}
        onChange={(family, on) => onEdit((d) => setAudit(d, family, on))}
      />
    </form>
  );
}
