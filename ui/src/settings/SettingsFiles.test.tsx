// Import and export of a settings file through the native dialogs (the dialog plugin's IPC
// commands answered by the mock backend).

import { describe, expect, test } from 'vitest';
import type { Diagnostic, EciSection, ImportedSettings, SettingsView } from '../api';
import { Settings } from './Settings';
import { $, $$, click, fileView, fakeTimersPerTest, flush, policy, render, settingsBackend, settingsView, type Handler } from '../test/harness';

const section = (imgs: string[]): EciSection => ({ value: true, iechorSocketMount: { imageList: { images: imgs } } });

const USER_FILE = '/home/dev/.config/iechor/settings.json';
const PICKED = '/home/dev/Downloads/team-settings.json';

const warning: Diagnostic = {
  severity: 'warning',
  code: 'unsupported-command',
  pointer: '/enhancedContainerIsolation/iechorSocketMount/commandList/commands/0',
  message: 'scan cannot be enforced and is ignored',
};

function filesBackend(view: SettingsView, extra: Record<string, Handler> = {}) {
  return settingsBackend(view, { admin_write_route: () => 'polkit', ...extra });
}

const mount = () => render(<Settings pendingImage={null} onPendingImageTaken={() => undefined} onChanged={() => undefined} />);
const entries = (c: HTMLElement) => $$<HTMLInputElement>(c, 'image-entry').map((i) => i.value);
const button = (c: HTMLElement, id: string) => $<HTMLButtonElement>(c, id);
const imported = (over: Partial<ImportedSettings> = {}): ImportedSettings => ({
  path: PICKED,
  section: section(['iechor.io/testcontainers/ryuk:*', 'alpine:3']),
  diagnostics: [],
  ...over,
});

fakeTimersPerTest();

describe('Import…', () => {
  test('puts the picked file’s section into the draft, unsaved, and names the file and its diagnostics', async () => {
    const be = filesBackend(settingsView('user', section(['busybox'])), {
      'plugin:dialog|open': () => PICKED,
      import_settings: () => imported({ diagnostics: [warning] }),
    });
    const { container } = await mount();
    expect(button(container, 'save-settings').disabled).toBe(true);
    await click(button(container, 'import-settings'));
    await flush();

    const options = be.last('plugin:dialog|open')!.args.options as { multiple: boolean; directory: boolean; filters: { extensions: string[] }[] };
    expect(options.multiple).toBe(false);
    expect(options.directory).toBe(false);
    expect(options.filters[0]!.extensions).toEqual(['json']);
    expect(be.last('import_settings')!.args.path).toBe(PICKED);
    expect(entries(container)).toEqual(['iechor.io/testcontainers/ryuk:*', 'alpine:3']);
    // The draft is dirty; nothing was written.
    expect(button(container, 'save-settings').disabled).toBe(false);
    expect(be.of('save_settings')).toHaveLength(0);
    const notice = $(container, 'file-notice');
    expect(notice.dataset.kind).toBe('imported');
    expect(notice.textContent).toContain(PICKED);
    expect(notice.textContent).toContain('1 warning');
    expect($(container, 'file-notice-diagnostics').textContent).toContain('scan cannot be enforced');
    // Revert brings back the file as loaded.
    await click(button(container, 'revert-settings'));
    expect(entries(container)).toEqual(['busybox']);
  });

  test('a cancelled dialog changes nothing and asks the shell nothing', async () => {
    const be = filesBackend(settingsView('user', section(['busybox'])), { 'plugin:dialog|open': () => null });
    const { container } = await mount();
    await click(button(container, 'import-settings'));
    await flush();
    expect(be.of('plugin:dialog|open')).toHaveLength(1);
    expect(be.of('import_settings')).toHaveLength(0);
    expect(entries(container)).toEqual(['busybox']);
    expect(button(container, 'save-settings').disabled).toBe(true);
    expect(container.querySelector('[data-testid="file-notice"]')).toBeNull();
  });

  test('a file without a usable ECI section, or one the shell cannot read, is an error that changes nothing', async () => {
    const syntax: Diagnostic = { severity: 'error', code: 'syntax', pointer: '', message: 'expected `,` or `}`', line: 3, column: 7 };
    const answers: unknown[] = [
      imported({ section: null, diagnostics: [syntax] }),
      Promise.reject({ code: 'not_found', message: `${PICKED} does not exist` }),
    ];
    answers.forEach((a) => a instanceof Promise && a.catch(() => undefined));
    filesBackend(settingsView('user', section(['busybox'])), {
      'plugin:dialog|open': () => PICKED,
      import_settings: () => answers.shift(),
    });
    const { container } = await mount();
    await click(button(container, 'import-settings'));
    await flush();
    let notice = $(container, 'file-notice');
    expect(notice.dataset.kind).toBe('import-failed');
    expect(notice.getAttribute('role')).toBe('alert');
    expect(notice.textContent).toContain(PICKED);
    expect(notice.textContent).toContain('no usable ECI section');
    expect($(container, 'file-notice-diagnostics').textContent).toContain('line 3, column 7');
    expect(entries(container)).toEqual(['busybox']);
    expect(button(container, 'save-settings').disabled).toBe(true);

    await click(button(container, 'import-settings'));
    await flush();
    notice = $(container, 'file-notice');
    expect(notice.dataset.kind).toBe('import-failed');
    expect(notice.textContent).toContain('does not exist');
    expect(entries(container)).toEqual(['busybox']);
  });

  test('is not offered when the settings are read-only (locked by the administrator)', async () => {
    const be = filesBackend(settingsView('user', null, { locked: true, effective: policy({ images: ['enforced:1'] }) }), {
      admin_write_route: () => 'direct',
    });
    const { container } = await mount();
    expect(button(container, 'import-settings').disabled).toBe(true);
    expect(button(container, 'export-settings').disabled).toBe(false);
    await click(button(container, 'import-settings'));
    expect(be.of('plugin:dialog|open')).toHaveLength(0);
  });
});

describe('Export…', () => {
  test('copies the edited file to the picked path, proposing eci-settings.json', async () => {
    const to = '/home/dev/Documents/eci-settings.json';
    const be = filesBackend(settingsView('user', section(['busybox'])), {
      'plugin:dialog|save': () => to,
      export_settings: () => 321,
    });
    const { container } = await mount();
    await click(button(container, 'export-settings'));
    await flush();
    const options = be.last('plugin:dialog|save')!.args.options as { defaultPath: string; filters: { extensions: string[] }[] };
    expect(options.defaultPath).toBe('eci-settings.json');
    expect(options.filters[0]!.extensions).toEqual(['json']);
    expect(be.last('export_settings')!.args).toEqual({ target: 'user', path: to });
    const notice = $(container, 'file-notice');
    expect(notice.dataset.kind).toBe('exported');
    expect(notice.textContent).toContain(to);
    expect(notice.textContent).toContain(USER_FILE);
  });

  test('a cancelled dialog writes nothing; a refused write says why', async () => {
    const picks: (string | null)[] = [null, '/root/forbidden.json'];
    const be = filesBackend(settingsView('admin', section(['busybox'])), {
      'plugin:dialog|save': () => picks.shift(),
      export_settings: () => Promise.reject({ code: 'io', message: 'cannot write /root/forbidden.json: permission denied' }),
    });
    const { container } = await mount();
    await click(button(container, 'export-settings'));
    await flush();
    expect(be.of('export_settings')).toHaveLength(0);
    expect(container.querySelector('[data-testid="file-notice"]')).toBeNull();

    await click(button(container, 'export-settings'));
    await flush();
    expect((be.last('plugin:dialog|save')!.args.options as { defaultPath: string }).defaultPath).toBe('eci-admin-settings.json');
    expect(be.last('export_settings')!.args).toEqual({ target: 'admin', path: '/root/forbidden.json' });
    const notice = $(container, 'file-notice');
    expect(notice.dataset.kind).toBe('export-failed');
    expect(notice.textContent).toContain('permission denied');
  });

  test('is not offered while the edited file does not exist', async () => {
    const view = settingsView('user', null);
    filesBackend({ ...view, user: fileView({ path: USER_FILE, exists: false, text: null, etag: '' }) });
    const { container } = await mount();
    expect(button(container, 'export-settings').disabled).toBe(true);
    expect(button(container, 'import-settings').disabled).toBe(false);
  });
});
