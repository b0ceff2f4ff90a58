// Whether a user may be offered to edit the admin file: asks the shell how an admin save would be
// written for them (directly, or through polkit with an administrator's password).

import { useEffect, useState } from 'react';
import { api, type SettingsView, type WriteRoute } from '../api';

/**
 * The route of an admin save, asked for only in user mode with an admin file present (an admin
 * edits in place; without an admin file there is no admin policy to change, and putting one on a
 * machine belongs to its deployment); `null` when not asked or when the shell cannot tell.
 */
export function useAdminRoute(view: SettingsView | null): WriteRoute | null {
  const asks = view !== null && view.mode === 'user' && view.admin.exists;
  const [route, setRoute] = useState<WriteRoute | null>(null);
  useEffect(() => {
    if (!asks) return;
    let gone = false;
    api.adminWriteRoute().then(
      (r) => !gone && setRoute(r),
      () => !gone && setRoute(null),
    );
    return () => {
      gone = true;
    };
  }, [asks]);
  return asks ? route : null;
}
