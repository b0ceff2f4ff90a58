import { describe, expect, test } from 'vitest';
import { ApiError, type EciSection } from '../api';
import { editableSection, editorReducer, INITIAL_EDITOR, isDirty, onDiskChange, type EditorAction, type EditorState } from './editor';
import { images } from './model';
import { elevatedSaveFailed, saveFailed } from './notice';
import { fileView, policy, settingsView } from '../test/harness';

const section = (imgs: string[]): EciSection => ({ value: true, iechorSocketMount: { imageList: { images: imgs } } });

const run = (actions: EditorAction[], from: EditorState = INITIAL_EDITOR) => actions.reduce(editorReducer, from);

describe('editor reducer', () => {
  test('loading sets baseline and draft alike, one fresh key per image, and clears the live diagnostics', () => {
    const first = run([{ type: 'loaded', view: settingsView('admin', section(['a', 'b'])) }]);
    expect(first.draft).toEqual(section(['a', 'b']));
    expect(first.baseline).toEqual(first.draft);
    expect(first.imageKeys).toEqual([1, 2]);
    expect(isDirty(first)).toBe(false);
    const again = run([{ type: 'diagnostics', list: [] }, { type: 'loaded', view: settingsView('admin', section(['c'])) }], first);
    // Keys are never reused, so a row of the new file never inherits an old row's badge.
    expect(again.imageKeys).toEqual([3]);
    expect(again.liveDiags).toBeNull();
  });

  test('a locked user sees the policy in force, not their own file', () => {
    const view = settingsView('user', section(['mine']), { locked: true, effective: policy({ images: ['enforced'] }) });
    expect(images(editableSection(view))).toEqual(['enforced']);
    expect(images(editableSection({ ...view, locked: false }))).toEqual(['mine']);
  });

  test('image rows keep their keys through edits; a removed row takes its key with it', () => {
    const s = run([
      { type: 'loaded', view: settingsView('admin', section(['a', 'b', 'c'])) },
      { type: 'set-image', index: 1, text: 'B' },
      { type: 'remove-image', index: 0 },
      { type: 'add-image', text: '  d  ' },
      { type: 'add-image', text: '   ' },
    ]);
    expect(images(s.draft)).toEqual(['B', 'c', 'd']);
    expect(s.imageKeys).toEqual([2, 3, 4]);
    expect(isDirty(s)).toBe(true);
  });

  test('revert restores the baseline with new keys; a save makes what was written the baseline', () => {
    const loaded = run([
      { type: 'loaded', view: settingsView('user', section(['a'])) },
      { type: 'add-image', text: 'b' },
    ]);
    const reverted = editorReducer(loaded, { type: 'revert' });
    expect(reverted.draft).toEqual(loaded.baseline);
    expect(reverted.imageKeys).toEqual([3]);

    const written = fileView({ path: '/u.json', section: section(['a', 'b']), etag: 'etag-2' });
    const saved = editorReducer(loaded, { type: 'saved', file: written, sent: loaded.draft });
    expect(saved.view!.user.etag).toBe('etag-2');
    expect(saved.view!.admin).toBe(loaded.view!.admin);
    expect(isDirty(saved)).toBe(false);
    // A shell that does not send the section back: what was sent is what was written.
    const sent = editorReducer(loaded, { type: 'saved', file: fileView({ section: null }), sent: section(['x']) });
    expect(sent.baseline).toEqual(section(['x']));
  });

  test('an import replaces the draft (known keys only, fresh keys), leaving the baseline: dirty, nothing saved', () => {
    const loaded = run([{ type: 'loaded', view: settingsView('user', section(['a'])) }]);
    const foreign = { ...section(['x', 'y']), unknownKey: 1 } as EciSection;
    const s = editorReducer({ ...loaded, liveDiags: [] }, { type: 'imported', section: foreign });
    expect(s.draft).toEqual(section(['x', 'y']));
    expect(s.baseline).toEqual(loaded.baseline);
    expect(s.imageKeys).toEqual([2, 3]);
    expect(s.liveDiags).toBeNull();
    expect(isDirty(s)).toBe(true);
  });

  test('a user switched to the admin file edits its section (not the policy in force), saves and reloads it', () => {
    const admin = fileView({ writable: false, section: section(['admin-img']), etag: 'a1' });
    const view = settingsView('user', section(['mine']), { locked: true, admin, effective: policy({ images: ['enforced'] }) });
    const loaded = run([{ type: 'loaded', view }]);
    expect(images(loaded.draft)).toEqual(['enforced']);
    const on = editorReducer(loaded, { type: 'admin-edit', on: true });
    expect(on.adminEdit).toBe(true);
    expect(images(on.draft)).toEqual(['admin-img']);
    expect(isDirty(on)).toBe(false);
    const saved = editorReducer(on, { type: 'saved', file: fileView({ section: section(['admin-img', 'b']), etag: 'a2' }), sent: {} });
    expect(saved.view!.admin.etag).toBe('a2');
    expect(saved.view!.user).toBe(view.user);
    // A reload keeps editing the admin file.
    expect(images(editorReducer(saved, { type: 'loaded', view }).draft)).toEqual(['admin-img']);
    const off = editorReducer(saved, { type: 'admin-edit', on: false });
    expect(images(off.draft)).toEqual(['enforced']);
    expect(editorReducer(INITIAL_EDITOR, { type: 'admin-edit', on: true })).toBe(INITIAL_EDITOR);
  });

  test('an edit before the settings are loaded, or a save without them, changes nothing it should not', () => {
    expect(editorReducer(INITIAL_EDITOR, { type: 'saved', file: fileView(), sent: {} })).toBe(INITIAL_EDITOR);
    expect(editorReducer(INITIAL_EDITOR, { type: 'edit', edit: (d) => ({ ...d, value: false }) }).draft).toEqual({ value: false });
  });
});

describe('onDiskChange', () => {
  const cur = settingsView('admin', section(['a']));
  const next = (etag: string, over: Parameters<typeof settingsView>[2] = {}) =>
    settingsView('admin', section(['a']), { admin: fileView({ etag }), ...over });

  test('our own save and an unchanged file are ignored', () => {
    expect(onDiskChange(cur, next('etag-9'), 'etag-9', true)).toBe('ignore');
    expect(onDiskChange(cur, next('etag-1'), null, true)).toBe('ignore');
  });

  test('another change is taken when nothing is edited, else warned about', () => {
    expect(onDiskChange(cur, next('etag-2'), null, false)).toBe('take');
    expect(onDiskChange(cur, next('etag-2'), 'etag-9', true)).toBe('warn');
    // A lock set by the administrator counts as a change even when the edited file is the same.
    expect(onDiskChange(cur, next('etag-1', { locked: true }), null, false)).toBe('take');
  });

  test('the file compared is the one edited: the user file in user mode', () => {
    const user = settingsView('user', section([]));
    expect(onDiskChange(user, { ...user, admin: fileView({ etag: 'other' }) }, null, true)).toBe('ignore');
    expect(onDiskChange(user, { ...user, user: fileView({ etag: 'other' }) }, null, true)).toBe('warn');
  });

  test('a user editing the admin file compares the admin file', () => {
    const user = settingsView('user', section([]));
    expect(onDiskChange(user, { ...user, admin: fileView({ etag: 'other' }) }, null, true, true)).toBe('warn');
    expect(onDiskChange(user, { ...user, user: fileView({ etag: 'other' }) }, null, true, true)).toBe('ignore');
  });
});

test('a refused save says why by its code', () => {
  expect(saveFailed(new ApiError('conflict', 'etag'))).toEqual({ kind: 'conflict', message: 'etag' });
  expect(saveFailed(new ApiError('forbidden', 'no'))).toEqual({ kind: 'forbidden', message: 'no' });
  expect(saveFailed(new ApiError('invalid', 'bad'))).toEqual({ kind: 'invalid', message: 'bad' });
  expect(saveFailed(new ApiError('io', 'disk'))).toEqual({ kind: 'error', message: 'disk' });
});

test('through polkit, forbidden means the administrator’s password was not given', () => {
  expect(elevatedSaveFailed(new ApiError('forbidden', 'dismissed'))).toEqual({ kind: 'not-authorised', message: 'dismissed' });
  expect(elevatedSaveFailed(new ApiError('conflict', 'etag'))).toEqual({ kind: 'conflict', message: 'etag' });
});
