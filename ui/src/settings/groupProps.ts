// What every group of fields on the settings form is given.

import type { Diagnostic, EciSection, Policy } from '../api';

export interface GroupProps {
  draft: EciSection;
  /** The policy in force, for what the draft does not set. */
  effective: Policy;
  readOnly: boolean;
  lockedByAdmin: boolean;
  diags: ReadonlyMap<string, Diagnostic[]>;
}

/** An edit of the draft. */
export type OnEdit = (edit: (draft: EciSection) => EciSection) => void;
