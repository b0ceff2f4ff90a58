// The Settings editor's state and how each event changes it: the settings as loaded, which file is
// edited, the section as saved (baseline) and as edited (draft), a stable key per image row, and
// the live diagnostics. Pure, so that every transition can be tested without a shell.

import type { Diagnostic, EciSection, FileView, SettingsView, Target } from '../api';
import { cleanSection, images, policySection, setImages } from './model';

export interface EditorState {
  view: SettingsView | null;
  baseline: EciSection;
  draft: EciSection;
  /** One key per image entry of the draft, so that a row keeps its badge while others change. */
  imageKeys: number[];
  /** The next image key to hand out. */
  nextKey: number;
  /** The shell's diagnostics of the latest draft; `null` until the first check. */
  liveDiags: Diagnostic[] | null;
  /** A user edits the admin file, to be saved through polkit (an administrator's password). */
  adminEdit: boolean;
}

export const INITIAL_EDITOR: EditorState = {
  view: null,
  baseline: {},
  draft: {},
  imageKeys: [],
  nextKey: 1,
  liveDiags: null,
  adminEdit: false,
};

export type EditorAction =
  | { type: 'loaded'; view: SettingsView }
  | { type: 'saved'; file: FileView; sent: EciSection }
  | { type: 'edit'; edit: (draft: EciSection) => EciSection }
  | { type: 'set-image'; index: number; text: string }
  | { type: 'remove-image'; index: number }
  | { type: 'add-image'; text: string }
  | { type: 'revert' }
  /** A settings file's section replaces the draft (nothing is written). */
  | { type: 'imported'; section: EciSection }
  /** Switches a user between their own file and the admin file (edits are dropped). */
  | { type: 'admin-edit'; on: boolean }
  | { type: 'diagnostics'; list: Diagnostic[] | null };

/** The file this user edits: the admin file in admin mode (or when a user edits it through
 * polkit), the user file in user mode. */
export const targetOf = (view: SettingsView, adminEdit = false): Target =>
  view.mode === 'admin' || adminEdit ? 'admin' : 'user';

/** What the editor shows of a view: when locked, the user's own file does not count; the policy enforced does. */
export function editableSection(view: SettingsView, adminEdit = false): EciSection {
  return view.mode === 'user' && view.locked && !adminEdit
    ? policySection(view.effective)
    : cleanSection(view[targetOf(view, adminEdit)].section);
}

function withKeys(state: EditorState, n: number): Pick<EditorState, 'imageKeys' | 'nextKey'> {
  return { imageKeys: Array.from({ length: n }, (_, i) => state.nextKey + i), nextKey: state.nextKey + n };
}

export function editorReducer(state: EditorState, action: EditorAction): EditorState {
  switch (action.type) {
    case 'loaded': {
      const section = editableSection(action.view, state.adminEdit);
      const keys = withKeys(state, images(section)?.length ?? 0);
      return { ...state, ...keys, view: action.view, baseline: section, draft: section, liveDiags: null };
    }
    case 'saved': {
      if (state.view === null) return state;
      const section = cleanSection(action.file.section ?? action.sent);
      const target = targetOf(state.view, state.adminEdit);
      return { ...state, view: { ...state.view, [target]: action.file }, baseline: section, draft: section };
    }
    case 'edit':
      return { ...state, draft: action.edit(state.draft) };
    case 'set-image': {
      const list = [...(images(state.draft) ?? [])];
      list[action.index] = action.text;
      return { ...state, draft: setImages(state.draft, list) };
    }
    case 'remove-image':
      return {
        ...state,
        draft: setImages(state.draft, (images(state.draft) ?? []).filter((_, j) => j !== action.index)),
        imageKeys: state.imageKeys.filter((_, j) => j !== action.index),
      };
    case 'add-image': {
      const text = action.text.trim();
      if (text === '') return state;
      return {
        ...state,
        draft: setImages(state.draft, [...(images(state.draft) ?? []), text]),
        imageKeys: [...state.imageKeys, state.nextKey],
        nextKey: state.nextKey + 1,
      };
    }
    case 'revert':
      return { ...state, ...withKeys(state, images(state.baseline)?.length ?? 0), draft: state.baseline };
    case 'diagnostics':
      return { ...state, liveDiags: action.list };
    case 'imported': {
      const section = cleanSection(action.section);
      return { ...state, ...withKeys(state, images(section)?.length ?? 0), draft: section, liveDiags: null };
    }
    case 'admin-edit': {
      if (state.view === null) return state;
      const section = editableSection(state.view, action.on);
      const keys = withKeys(state, images(section)?.length ?? 0);
      return { ...state, ...keys, adminEdit: action.on, baseline: section, draft: section, liveDiags: null };
    }
  }
}

/** Whether the draft differs from what was loaded or saved. */
export const isDirty = (s: EditorState): boolean => JSON.stringify(s.draft) !== JSON.stringify(s.baseline);

/**
 * What to do with the settings reloaded after a settings file changed: nothing when the edited
 * file is as it was (or as our own save wrote it), take them when nothing is edited, otherwise
 * warn that a save would be refused.
 */
export function onDiskChange(
  current: SettingsView,
  next: SettingsView,
  ownEtag: string | null,
  dirty: boolean,
  adminEdit = false,
): 'ignore' | 'take' | 'warn' {
  const t = targetOf(current, adminEdit);
  if (next[t].etag === ownEtag) return 'ignore';
  const changed = next[t].etag !== current[t].etag || next.locked !== current.locked || next.mode !== current.mode;
  if (!changed) return 'ignore';
  return dirty ? 'warn' : 'take';
}
