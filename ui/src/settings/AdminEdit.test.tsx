// A user edits the admin file through polkit: offered only when the shell says an admin save goes
// through polkit; Save shows the diff first, writes only on confirm, and says so when the
// administrator's password was not given.

import { describe, expect, test } from 'vitest';
import type { EciSection, SettingsDiff, SettingsView, WriteRoute } from '../api';
import { Settings } from './Settings';
import { $, $$, click, fileView, fakeTimersPerTest, flush, policy, render, setValue, settingsBackend, settingsView, unmountAll, type Handler } from '../test/harness';

const ADMIN = '/usr/share/iechor-desktop/admin-settings.json';
const section = (imgs: string[]): EciSection => ({ locked: true, value: true, iechorSocketMount: { imageList: { images: imgs } } });

/** A user under a locked admin file they cannot write. */
function lockedUser(adminExists = true): SettingsView {
  return settingsView('user', section(['mine:1']), {
    locked: adminExists,
    admin: fileView({ path: ADMIN, writable: false, exists: adminExists, section: adminExists ? section(['ryuk:*']) : null, etag: 'admin-1' }),
    effective: policy({ images: ['ryuk:*'] }),
  });
}

const DIFF: SettingsDiff = {
  before: '',
  after: '',
  etag: 'admin-1',
  lines: [
    { op: 'equal', text: '"images": [' },
    { op: 'equal', text: '  "ryuk:*"' },
    { op: 'insert', text: '  "alpine:3"' },
    { op: 'equal', text: ']' },
  ],
};

function adminBackend(view: SettingsView, route: WriteRoute, extra: Record<string, Handler> = {}) {
  return settingsBackend(view, { admin_write_route: () => route, settings_diff: () => DIFF, ...extra });
}

const mount = () => render(<Settings pendingImage={null} onPendingImageTaken={() => undefined} onChanged={() => undefined} />);
const entries = (c: HTMLElement) => $$<HTMLInputElement>(c, 'image-entry').map((i) => i.value);
const has = (c: HTMLElement, id: string) => c.querySelector(`[data-testid="${id}"]`) !== null;

/** Mounts, switches to the admin file, adds alpine:3 and presses Save. */
async function editAndSave(be: ReturnType<typeof adminBackend>) {
  const r = await mount();
  const c = r.container;
  await click($(c, 'edit-admin-settings'));
  await flush();
  await setValue($<HTMLInputElement>(c, 'new-image-input'), 'alpine:3');
  await click($(c, 'add-image'));
  await click($(c, 'save-settings'));
  await flush();
  expect(be.last('settings_diff')!.args).toEqual({ target: 'admin', section: section(['ryuk:*', 'alpine:3']) });
  return c;
}

fakeTimersPerTest();

describe('Edit admin settings…', () => {
  test('is offered to a user only when the admin file exists and its saves go through polkit', async () => {
    const cases: [SettingsView, WriteRoute, boolean][] = [
      [lockedUser(), 'polkit', true],
      [{ ...lockedUser(), locked: false }, 'polkit', true],
      [lockedUser(), 'direct', false],
      [lockedUser(false), 'polkit', false],
      [settingsView('admin', section(['a'])), 'polkit', false],
    ];
    for (const [view, route, offered] of cases) {
      const be = adminBackend(view, route);
      const { container } = await mount();
      await flush();
      expect(has(container, 'edit-admin-settings')).toBe(offered);
      // The route is asked for only where it matters.
      expect(be.of('admin_write_route')).toHaveLength(view.mode === 'user' && view.admin.exists ? 1 : 0);
      await unmountAll();
      container.remove();
    }
  });

  test('switches a locked user to the admin file, editable; Back returns to their own settings', async () => {
    adminBackend(lockedUser(), 'polkit');
    const { container } = await mount();
    expect(has(container, 'locked-banner')).toBe(true);
    expect($<HTMLInputElement>(container, 'new-image-input').disabled).toBe(true);
    await click($(container, 'edit-admin-settings'));
    await flush();
    expect(has(container, 'locked-banner')).toBe(false);
    expect(container.querySelector('.view-head')!.textContent).toContain(ADMIN);
    expect(entries(container)).toEqual(['ryuk:*']);
    expect($<HTMLInputElement>(container, 'new-image-input').disabled).toBe(false);
    expect($<HTMLInputElement>(container, 'lock-toggle').disabled).toBe(false);
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(true);
    // Switching back would drop an edit: only from a clean draft.
    await click($(container, 'eci-toggle'));
    expect($<HTMLButtonElement>(container, 'edit-own-settings').disabled).toBe(true);
    await click($(container, 'revert-settings'));

    await click($(container, 'edit-own-settings'));
    await flush();
    expect(has(container, 'locked-banner')).toBe(true);
    expect(container.querySelector('.view-head')!.textContent).toContain('The policy in force');
    expect(entries(container)).toEqual(['ryuk:*']);
    expect($<HTMLInputElement>(container, 'new-image-input').disabled).toBe(true);
  });

  test('Save shows the diff first; confirm writes that section with the diff’s etag through polkit', async () => {
    const be = adminBackend(lockedUser(), 'polkit', {
      save_admin_settings_elevated: (a) => fileView({ path: ADMIN, writable: false, etag: 'admin-2', section: a.section as EciSection }),
    });
    const container = await editAndSave(be);
    expect(be.of('save_admin_settings_elevated')).toHaveLength(0);
    expect(be.of('save_settings')).toHaveLength(0);
    const diff = $(container, 'admin-diff');
    expect(diff.querySelector('[data-op="insert"]')!.textContent).toBe('+   "alpine:3"');
    expect($(container, 'admin-review').textContent).toContain(ADMIN);

    await click($(container, 'admin-confirm'));
    await flush();
    expect(be.last('save_admin_settings_elevated')!.args).toEqual({ section: section(['ryuk:*', 'alpine:3']), etag: 'admin-1' });
    expect(be.of('save_settings')).toHaveLength(0);
    expect(has(container, 'admin-review')).toBe(false);
    expect($(container, 'save-notice').dataset.kind).toBe('saved');
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(true);
    expect(entries(container)).toEqual(['ryuk:*', 'alpine:3']);
  });

  test('Cancel writes nothing and keeps the edit', async () => {
    const be = adminBackend(lockedUser(), 'polkit', { save_admin_settings_elevated: () => fileView() });
    const container = await editAndSave(be);
    await click($(container, 'admin-cancel'));
    await flush();
    expect(has(container, 'admin-review')).toBe(false);
    expect(be.of('save_admin_settings_elevated')).toHaveLength(0);
    expect(entries(container)).toEqual(['ryuk:*', 'alpine:3']);
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(false);
  });

  test('a refused or dismissed password prompt is a clear notice, and the edit stays', async () => {
    const be = adminBackend(lockedUser(), 'polkit', {
      save_admin_settings_elevated: () =>
        Promise.reject({ code: 'forbidden', message: 'the administrator’s authorisation was not given: Request dismissed' }),
    });
    const container = await editAndSave(be);
    await click($(container, 'admin-confirm'));
    await flush();
    expect(be.of('save_admin_settings_elevated')).toHaveLength(1);
    const notice = $(container, 'save-notice');
    expect(notice.dataset.kind).toBe('not-authorised');
    expect(notice.getAttribute('role')).toBe('alert');
    expect(notice.textContent).toContain('password was not given');
    expect(notice.textContent).toContain('Nothing was written');
    expect(entries(container)).toEqual(['ryuk:*', 'alpine:3']);
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(false);
  });

  test('the admin file changed since the diff: the save is refused with a reload offered', async () => {
    const be = adminBackend(lockedUser(), 'polkit', {
      save_admin_settings_elevated: () => Promise.reject({ code: 'conflict', message: 'the admin settings changed' }),
    });
    const container = await editAndSave(be);
    await click($(container, 'admin-confirm'));
    await flush();
    expect($(container, 'save-notice').dataset.kind).toBe('conflict');
    expect(has(container, 'reload-from-disk')).toBe(true);
  });
});
