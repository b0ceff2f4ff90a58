import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { vi } from 'vitest';
import type { Diagnostic, EciSection, ProbeReport, SettingsView } from '../api';
import { Settings } from './Settings';
import { PROBE_DEBOUNCE_MS } from './useProbes';
import { $, $$, backend, click, deferred, emitEvent, fileView, flush, policy, render, setValue, settingsView, type Handler } from '../test/harness';

const DIGEST = 'sha256:' + '0123456789abcdef'.repeat(4);

const found = (input: string): ProbeReport => ({
  input,
  status: 'found',
  digest: DIGEST,
  media_type: 'application/vnd.oci.image.index.v1+json',
  images: [
    { platform: 'linux/amd64', manifest: 'sha256:' + '1'.repeat(64), config: 'sha256:' + '2'.repeat(64) },
    { platform: 'linux/arm64', manifest: 'sha256:' + '3'.repeat(64), config: 'sha256:' + '4'.repeat(64) },
  ],
});
const failed = (input: string, kind: 'not-found' | 'auth-required' | 'unreachable' | 'cancelled'): ProbeReport => ({
  input,
  status: 'failed',
  kind,
  message: `${kind} for ${input}`,
});

function section(imgs: string[], cmds: string[] = ['push']): EciSection {
  return {
    locked: false,
    value: true,
    iechorSocketMount: {
      imageList: { images: imgs, allowDerivedImages: true },
      commandList: { type: 'deny', commands: cmds },
    },
  };
}

function settingsBackend(view: SettingsView | (() => SettingsView), extra: Record<string, Handler> = {}) {
  return backend({
    load_settings: () => (typeof view === 'function' ? view() : view),
    validate_section: () => [] as Diagnostic[],
    preview_settings: (a) => JSON.stringify({ enhancedContainerIsolation: a.section, otherSetting: 1 }, null, 2),
    probe_image: (a) => found(a.entry as string),
    cancel_probe: () => true,
    ...extra,
  });
}

const mount = () => render(<Settings pendingImage={null} onPendingImageTaken={() => undefined} onChanged={() => undefined} />);

const badgeOfRow = (c: HTMLElement, i: number) => $$(c, 'image-row')[i]!.querySelector<HTMLElement>('[data-testid="image-badge"]')!;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Settings', () => {
  test('each entry gets the badge of its probe: found, any tag, not found, auth required, unreachable', async () => {
    const entries = ['busybox:1', 'tools/ci:*', 'ghost/none:1', 'private/x:1', '10.0.0.1:5000/x:1'];
    const probes: Record<string, ProbeReport> = {
      'busybox:1': found('busybox:1'),
      'tools/ci:*': { input: 'tools/ci:*', status: 'any-tag', tags: 12 },
      'ghost/none:1': failed('ghost/none:1', 'not-found'),
      'private/x:1': failed('private/x:1', 'auth-required'),
      '10.0.0.1:5000/x:1': failed('10.0.0.1:5000/x:1', 'unreachable'),
    };
    const be = settingsBackend(settingsView('admin', section(entries)), {
      probe_image: (a) => probes[a.entry as string],
    });
    const { container } = await mount();
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(entries);
    expect(entries.map((_, i) => badgeOfRow(container, i).dataset.state)).toEqual(Array(5).fill('checking'));
    expect(be.of('probe_image')).toHaveLength(0);

    await flush(PROBE_DEBOUNCE_MS);
    expect(be.of('probe_image').map((c) => c.args.entry)).toEqual(entries);
    const states = entries.map((_, i) => badgeOfRow(container, i).dataset.state);
    expect(states).toEqual(['found', 'any-tag', 'not-found', 'auth', 'unreachable']);
    expect(badgeOfRow(container, 0).textContent).toBe('found sha256:0123456789ab');
    expect($$(container, 'image-row')[0]!.querySelector('[data-testid="image-platforms"]')!.textContent).toContain(
      'platforms: linux/amd64, linux/arm64',
    );
    expect(badgeOfRow(container, 1).textContent).toBe('any tag: 12 tags');
    expect(badgeOfRow(container, 2).textContent).toBe('not found');
    expect(badgeOfRow(container, 3).textContent).toBe('auth required');
    expect(badgeOfRow(container, 4).textContent).toBe('unreachable');
  });

  test('syntax is judged at once without the registry; probes wait for typing to pause', async () => {
    const be = settingsBackend(settingsView('admin', section(['busybox'])));
    const { container } = await mount();
    await flush(PROBE_DEBOUNCE_MS);
    expect(be.of('probe_image')).toHaveLength(1);
    const input = $$<HTMLInputElement>(container, 'image-entry')[0]!;

    await setValue(input, 'Busybox');
    expect(badgeOfRow(container, 0).dataset.state).toBe('invalid');
    expect(container.textContent).toContain('repository name must be lowercase: "Busybox"');
    await setValue(input, 'busybox:1.3*');
    expect(badgeOfRow(container, 0).dataset.state).toBe('invalid');
    await flush(PROBE_DEBOUNCE_MS * 2);
    expect(be.of('probe_image')).toHaveLength(1);

    await setValue(input, 'busybox:1');
    await flush(100);
    await setValue(input, 'busybox:1.3');
    await flush(100);
    await setValue(input, 'busybox:1.36');
    expect(badgeOfRow(container, 0).dataset.state).toBe('checking');
    await flush(PROBE_DEBOUNCE_MS - 50);
    expect(be.of('probe_image')).toHaveLength(1);
    await flush(50);
    expect(be.of('probe_image').map((c) => c.args.entry)).toEqual(['busybox', 'busybox:1.36']);
    expect(badgeOfRow(container, 0).dataset.state).toBe('found');
  });

  test('a changed entry cancels its probe in flight, and the stale answer never overwrites the newer one', async () => {
    const pending = new Map<string, ReturnType<typeof deferred<ProbeReport>>>();
    const be = settingsBackend(settingsView('admin', section(['old/image:1'])), {
      probe_image: (a) => {
        const d = deferred<ProbeReport>();
        pending.set(a.entry as string, d);
        return d.promise;
      },
    });
    const { container } = await mount();
    await flush(PROBE_DEBOUNCE_MS);
    const first = be.last('probe_image')!;
    expect(first.args.entry).toBe('old/image:1');

    await setValue($$<HTMLInputElement>(container, 'image-entry')[0]!, 'new/image:2');
    expect(be.of('cancel_probe').map((c) => c.args.requestId)).toEqual([first.args.requestId]);
    await flush(PROBE_DEBOUNCE_MS);
    const second = be.last('probe_image')!;
    expect(second.args.entry).toBe('new/image:2');
    expect(second.args.requestId).not.toBe(first.args.requestId);

    pending.get('new/image:2')!.resolve(found('new/image:2'));
    await flush();
    expect(badgeOfRow(container, 0).dataset.state).toBe('found');
    // The cancelled probe answers late (as "not found" or as cancelled): the badge keeps the newer answer.
    pending.get('old/image:1')!.resolve(failed('old/image:1', 'not-found'));
    await flush();
    expect(badgeOfRow(container, 0).dataset.state).toBe('found');
  });

  test('a stale answer arriving before the newer one does not show either', async () => {
    const pending = new Map<string, ReturnType<typeof deferred<ProbeReport>>>();
    settingsBackend(settingsView('admin', section(['old/image:1'])), {
      probe_image: (a) => {
        const d = deferred<ProbeReport>();
        pending.set(a.entry as string, d);
        return d.promise;
      },
    });
    const { container } = await mount();
    await flush(PROBE_DEBOUNCE_MS);
    await setValue($$<HTMLInputElement>(container, 'image-entry')[0]!, 'new/image:2');
    pending.get('old/image:1')!.resolve(found('old/image:1'));
    await flush();
    expect(badgeOfRow(container, 0).dataset.state).toBe('checking');
    await flush(PROBE_DEBOUNCE_MS);
    pending.get('new/image:2')!.reject({ code: 'registry', message: 'boom' });
    await flush();
    expect(badgeOfRow(container, 0).dataset.state).toBe('error');
  });

  test('adding an entry probes it, re-validates and previews the section with it', async () => {
    const be = settingsBackend(settingsView('admin', section(['busybox'])));
    const { container } = await mount();
    await flush(PROBE_DEBOUNCE_MS);
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'tools/ci:*');
    await click($(container, 'add-image'));
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['busybox', 'tools/ci:*']);
    await flush(PROBE_DEBOUNCE_MS);
    expect(be.last('probe_image')!.args.entry).toBe('tools/ci:*');
    const sent = be.last('validate_section')!.args;
    expect(sent.target).toBe('admin');
    expect((sent.section as EciSection).iechorSocketMount?.imageList?.images).toEqual(['busybox', 'tools/ci:*']);
    // Untouched fields are sent as they were.
    expect((sent.section as EciSection).iechorSocketMount?.commandList).toEqual({ type: 'deny', commands: ['push'] });
    expect($(container, 'settings-preview').textContent).toContain('"tools/ci:*"');
    expect($(container, 'settings-preview').textContent).toContain('"otherSetting": 1');
  });

  test('diagnostics show at the field their pointer names, in either spelling of the mount key', async () => {
    const diags: Diagnostic[] = [
      {
        severity: 'warning',
        code: 'duplicate-image',
        pointer: '/enhancedContainerIsolation/dockerSocketMount/imageList/images/1',
        message: '"busybox:latest" repeats entry 0',
      },
      {
        severity: 'error',
        code: 'unsupported-command',
        pointer: '/enhancedContainerIsolation/dockerSocketMount/commandList/commands/1',
        message: 'command "scan" (iEchor Scan) is not supported in the command list and cannot be enforced',
      },
      { severity: 'warning', code: 'missing-version', pointer: '/configurationFileVersion', message: 'configurationFileVersion is missing' },
    ];
    const view = settingsView('admin', section(['busybox', 'busybox:latest'], ['push', 'scan']));
    view.admin = fileView({ section: view.admin.section, mount_key: 'dockerSocketMount', diagnostics: [diags[2]!] });
    settingsBackend(view, { validate_section: () => diags.slice(0, 2) });
    const { container } = await mount();
    await flush(200);
    const rows = $$(container, 'image-row');
    expect(rows[0]!.textContent).not.toContain('repeats');
    expect(rows[1]!.querySelector('[data-testid="field-diagnostics"]')!.textContent).toContain('"busybox:latest" repeats entry 0');
    const cmdRows = $$(container, 'command-row');
    expect(cmdRows[1]!.textContent).toContain('cannot be enforced');
    expect($(cmdRows[1]!, 'command-flag').textContent).toContain('iEchor Scan');
    expect(cmdRows[0]!.textContent).not.toContain('cannot be enforced');
    // A file-level diagnostic outside the section stays visible, at the top.
    expect(container.querySelector('.settings-scroll > [data-testid="field-diagnostics"]')!.textContent).toContain('configurationFileVersion is missing');
  });

  test('the command picker offers names and the six groups, and refuses the unsupported names', async () => {
    const be = settingsBackend(settingsView('admin', section([], [])));
    const { container } = await mount();
    const picker = $<HTMLSelectElement>(container, 'command-picker');
    const options = Array.from(picker.options);
    for (const g of ['container*', 'image*', 'volume*', 'network*', 'build*', 'system*']) {
      expect(options.find((o) => o.value === g)?.disabled).toBe(false);
    }
    for (const n of ['compose', 'dev', 'extension', 'feedback', 'init', 'manifest', 'plugins', 'sbom', 'scan', 'scout', 'trust']) {
      const o = options.find((x) => x.value === n)!;
      expect(o.disabled).toBe(true);
      expect(o.textContent).toContain('not supported');
    }
    await setValue(picker, 'image*');
    await click($(container, 'add-command'));
    await flush(200);
    expect((be.last('validate_section')!.args.section as EciSection).iechorSocketMount?.commandList?.commands).toEqual(['image*']);
  });

  test('save sends the section with the etag it was loaded with; a conflict offers a reload that discards the edit', async () => {
    let loads = 0;
    const be = settingsBackend(
      () => {
        loads += 1;
        return loads === 1 ? settingsView('admin', section(['busybox'])) : settingsView('admin', section(['changed/elsewhere:1']));
      },
      { save_settings: () => Promise.reject({ code: 'conflict', message: 'the file changed on disk' }) },
    );
    const { container } = await mount();
    const save = $<HTMLButtonElement>(container, 'save-settings');
    expect(save.disabled).toBe(true);
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine:3');
    await click($(container, 'add-image'));
    expect(save.disabled).toBe(false);
    await click(save);
    await flush();
    const call = be.last('save_settings')!.args;
    expect(call.etag).toBe('etag-1');
    expect(call.target).toBe('admin');
    expect((call.section as EciSection).iechorSocketMount?.imageList?.images).toEqual(['busybox', 'alpine:3']);
    expect($(container, 'save-notice').dataset.kind).toBe('conflict');

    await click($(container, 'reload-from-disk'));
    await flush();
    expect(be.of('load_settings')).toHaveLength(2);
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['changed/elsewhere:1']);
    expect(container.querySelector('[data-testid="save-notice"]')).toBeNull();
  });

  test('a successful save takes the new etag; invalid shows the diagnostics at their fields; forbidden says so', async () => {
    const results: unknown[] = [
      Promise.reject({
        code: 'invalid',
        message: 'the settings have errors',
        diagnostics: [
          {
            severity: 'error',
            code: 'image-reference',
            pointer: '/enhancedContainerIsolation/iechorSocketMount/imageList/images/0',
            message: 'invalid image-list entry from the shell',
          },
        ],
      }),
      fileView({ etag: 'etag-2', section: section(['busybox', 'alpine:3']) }),
      Promise.reject({ code: 'forbidden', message: 'you cannot write the admin settings' }),
    ];
    results.forEach((r) => r instanceof Promise && r.catch(() => undefined));
    const be = settingsBackend(settingsView('admin', section(['busybox'])), { save_settings: () => results.shift() });
    const { container } = await mount();
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine:3');
    await click($(container, 'add-image'));
    await click($(container, 'save-settings'));
    await flush();
    expect($(container, 'save-notice').dataset.kind).toBe('invalid');
    expect($$(container, 'image-row')[0]!.textContent).toContain('invalid image-list entry from the shell');

    await click($(container, 'save-settings'));
    await flush();
    expect($(container, 'save-notice').dataset.kind).toBe('saved');
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(true);

    await click($(container, 'eci-toggle'));
    await click($(container, 'save-settings'));
    await flush();
    expect(be.last('save_settings')!.args.etag).toBe('etag-2');
    expect((be.last('save_settings')!.args.section as EciSection).value).toBe(false);
    expect($(container, 'save-notice').dataset.kind).toBe('forbidden');
  });

  test('the admin toggles the lock and ECI; revert restores what was loaded', async () => {
    const be = settingsBackend(settingsView('admin', section(['busybox'])));
    const { container } = await mount();
    const lock = $<HTMLInputElement>(container, 'lock-toggle');
    expect(lock.disabled).toBe(false);
    expect(lock.checked).toBe(false);
    await click(lock);
    await flush(200);
    expect((be.last('validate_section')!.args.section as EciSection).locked).toBe(true);
    await click($(container, 'revert-settings'));
    expect($<HTMLInputElement>(container, 'lock-toggle').checked).toBe(false);
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(true);
  });

  test('user mode under a locked admin policy: the enforced values, read-only, locked by your administrator', async () => {
    const view = settingsView('user', { value: false }, {
      locked: true,
      effective: policy({
        images: ['iechor.io/testcontainers/ryuk:*'],
        commandList: { type: 'allow', commands: ['ps'] },
        provenance: {
          value: { from: 'admin', locked: true },
          images: { from: 'admin', locked: true },
          allowDerivedImages: { from: 'admin', locked: true },
          commandList: { from: 'admin', locked: true },
        },
      }),
    });
    const be = settingsBackend(view);
    const { container } = await mount();
    expect($(container, 'locked-banner').textContent).toContain('locked by your administrator');
    expect($$(container, 'locked-note').length).toBeGreaterThan(0);
    const entry = $$<HTMLInputElement>(container, 'image-entry')[0]!;
    expect(entry.value).toBe('iechor.io/testcontainers/ryuk:*');
    // Disabled on the control itself (WebDriver's "is enabled" ignores a disabled fieldset) and
    // through the fieldset.
    expect(entry.disabled).toBe(true);
    expect(entry.closest('fieldset')!.disabled).toBe(true);
    expect($<HTMLInputElement>(container, 'eci-toggle').disabled).toBe(true);
    expect($<HTMLSelectElement>(container, 'command-type').disabled).toBe(true);
    expect($<HTMLButtonElement>(container, 'add-image').disabled).toBe(true);
    expect($<HTMLInputElement>(container, 'lock-toggle').checked).toBe(true);
    expect($<HTMLInputElement>(container, 'lock-toggle').disabled).toBe(true);
    expect($<HTMLInputElement>(container, 'eci-toggle').checked).toBe(true);
    expect($<HTMLSelectElement>(container, 'command-type').value).toBe('allow');
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(true);
    expect($<HTMLButtonElement>(container, 'add-image').closest('fieldset')!.disabled).toBe(true);
    await flush(PROBE_DEBOUNCE_MS);
    expect(badgeOfRow(container, 0).dataset.state).toBe('found');
    expect(be.of('save_settings')).toHaveLength(0);
  });

  test('user mode without a lock edits the user file, with the admin values shown as inherited', async () => {
    const view = settingsView('user', null, {
      effective: policy({
        eciEnabled: false,
        images: ['iechor.io/library/busybox:latest'],
        provenance: {
          value: { from: 'admin', locked: false },
          images: { from: 'admin', locked: false },
          allowDerivedImages: { from: 'default' },
          commandList: { from: 'default' },
        },
      }),
    });
    const be = settingsBackend(view, { save_settings: () => fileView({ etag: 'u2' }) });
    const { container } = await mount();
    expect(container.querySelector('[data-testid="locked-banner"]')).toBeNull();
    expect($<HTMLInputElement>(container, 'lock-toggle').disabled).toBe(true);
    expect($<HTMLInputElement>(container, 'eci-toggle').checked).toBe(false);
    expect($(container, 'images-unset').textContent).toContain('1 entry in force from the admin settings');
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine');
    await click($(container, 'add-image'));
    await click($(container, 'save-settings'));
    await flush();
    expect(be.last('save_settings')!.args.target).toBe('user');
    expect(be.last('save_settings')!.args.section).toEqual({ iechorSocketMount: { imageList: { images: ['alpine'] } } });
  });

  test('an image sent from History is added to the list', async () => {
    let taken = 0;
    settingsBackend(settingsView('admin', section(['busybox'])));
    const { container } = await render(
      <Settings pendingImage="iechor.io/library/iechor" onPendingImageTaken={() => (taken += 1)} onChanged={() => undefined} />,
    );
    await flush();
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['busybox', 'iechor.io/library/iechor']);
    expect(taken).toBe(1);
  });

  test('a reload after someone else changed the file: taken when nothing is edited, announced when edits would be lost', async () => {
    let disk = settingsView('admin', section(['busybox']));
    const be = settingsBackend(() => disk);
    const { container } = await mount();
    const reload = { at: 1_000, outcome: { outcome: 'applied', version: 'v', warnings: [], user_ignored: false } };

    // Same etag (our own save, or the other file): nothing changes.
    await emitEvent('policy://changed', reload);
    await flush();
    expect(be.of('load_settings')).toHaveLength(2);
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['busybox']);

    disk = settingsView('admin', section(['alpine:3']));
    disk.admin.etag = 'etag-2';
    await emitEvent('policy://changed', reload);
    await flush();
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['alpine:3']);

    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'mine:1');
    await click($(container, 'add-image'));
    disk = settingsView('admin', section(['theirs:1']));
    disk.admin.etag = 'etag-3';
    await emitEvent('policy://changed', reload);
    await flush();
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['alpine:3', 'mine:1']);
    expect($(container, 'save-notice').dataset.kind).toBe('changed-on-disk');
    await click($(container, 'reload-from-disk'));
    await flush();
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['theirs:1']);
  });

  test('the reload caused by our own save, arriving before its reply, is not a change on disk', async () => {
    let disk = settingsView('admin', section(['busybox']));
    const reply = deferred<unknown>();
    const reread = deferred<SettingsView>();
    let loads = 0;
    settingsBackend(() => disk, {
      save_settings: () => reply.promise,
      // The first load is the view's own; the second is the re-read the reload event asks for.
      load_settings: () => (++loads === 2 ? reread.promise : disk),
    });
    const { container } = await mount();
    const reload = { at: 1_000, outcome: { outcome: 'applied', version: 'v', warnings: [], user_ignored: false } };
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine:3');
    await click($(container, 'add-image'));
    await click($(container, 'save-settings'));
    // The save has written the file (new etag, now locked) and the enforcer reloaded: its event
    // comes before the save's reply, and the re-read it triggers answers after it.
    disk = settingsView('admin', { ...section(['busybox', 'alpine:3']), locked: true });
    disk.admin.etag = 'etag-saved';
    await emitEvent('policy://changed', reload);
    await flush();
    // Both answers land before the view re-renders with the saved file.
    reply.resolve(disk.admin);
    reread.resolve(disk);
    await flush();
    expect(loads).toBe(2);
    expect($(container, 'save-notice').dataset.kind).toBe('saved');
  });
  test('the admin edits the host-access list; it is saved with the section and kept when untouched', async () => {
    const withHost: EciSection = { ...section(['busybox']), eciGuard: { hostAccess: { images: ['iechor:cli'] } } };
    const be = settingsBackend(settingsView('admin', withHost), {
      save_settings: () => ({ ...settingsView('admin', withHost), admin: fileView({ etag: 'etag-2' }) }),
    });
    const { container } = await mount();
    expect($$<HTMLInputElement>(container, 'host-entry').map((i) => i.value)).toEqual(['iechor:cli']);
    // An edit elsewhere keeps the list as it was.
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine:3');
    await click($(container, 'add-image'));
    await click($(container, 'save-settings'));
    await flush();
    expect((be.last('save_settings')!.args.section as EciSection).eciGuard).toEqual({ hostAccess: { images: ['iechor:cli'] } });
    // Added to, and removed from.
    await setValue($<HTMLInputElement>(container, 'new-host-input'), 'registry.local/tools/*:*');
    await click($(container, 'add-host'));
    await click($$(container, 'host-remove')[0]!);
    await click($(container, 'save-settings'));
    await flush();
    expect((be.last('save_settings')!.args.section as EciSection).eciGuard?.hostAccess?.images).toEqual([
      'registry.local/tools/*:*',
    ]);
  });

  test('a host-access diagnostic shows at its entry', async () => {
    const withHost: EciSection = { ...section(['busybox']), eciGuard: { hostAccess: { images: ['Bad:Name'] } } };
    settingsBackend(settingsView('admin', withHost), {
      validate_section: () =>
        [
          {
            severity: 'error',
            code: 'image-reference',
            pointer: '/enhancedContainerIsolation/eciGuard/hostAccess/images/0',
            message: 'invalid image-list entry "Bad:Name": repository name must be lowercase',
          },
        ] as Diagnostic[],
    });
    const { container } = await mount();
    await setValue($<HTMLInputElement>(container, 'new-host-input'), 'x');
    await click($(container, 'add-host'));
    await vi.advanceTimersByTimeAsync(500);
    await flush();
    expect($(container, 'host-access').textContent).toContain('repository name must be lowercase');
  });
  test('Try a command sends the edited section and shows the verdict, its kind and message; a line it cannot read says why', async () => {
    const be = settingsBackend(settingsView('admin', section(['busybox'])), {
      try_command: (a) =>
        (a.line as string).includes('--memory')
          ? Promise.reject({ code: 'invalid', message: 'the flag --memory is not translated' })
          : {
              method: 'POST',
              target: '/v1.41/containers/create',
              socket: 'main',
              eci_enabled: true,
              policy_version: 'x',
              route: 'POST /containers/create',
              commands: ['create', 'run'],
              mounts: [
                { pointer: '/HostConfig/Binds/0', kind: 'bind', source: '/var/run/docker.sock', target: '/s', exposes: 'the socket /run/docker.sock' },
              ],
              image: null,
              entries: [],
              allowed_by: null,
              outcome: 'deny',
              status: 403,
              message: 'enhanced container isolation: iechor socket mount denied for container with image "x"',
              kind: 'socket_mount',
              reason: 'image is not in the allowed list',
            },
    });
    const { container } = await mount();
    // An unsaved edit is what is tried.
    await setValue($<HTMLInputElement>(container, 'new-image-input'), 'alpine:3');
    await click($(container, 'add-image'));
    await setValue($<HTMLInputElement>(container, 'try-line'), 'docker run -v /var/run/docker.sock:/s x');
    await click($(container, 'try-run'));
    await flush();
    const args = be.last('try_command')!.args;
    expect(args.target).toBe('admin');
    expect(args.line).toBe('docker run -v /var/run/docker.sock:/s x');
    expect((args.section as EciSection).iechorSocketMount?.imageList?.images).toEqual(['busybox', 'alpine:3']);
    const answer = $(container, 'try-answer');
    expect(answer.dataset.outcome).toBe('deny');
    expect(answer.textContent).toContain('refused (socket mount)');
    expect(answer.textContent).toContain('iechor socket mount denied');
    expect(answer.textContent).toContain('/var/run/docker.sock: the socket /run/docker.sock');
    await setValue($<HTMLInputElement>(container, 'try-line'), 'docker run --memory 1g x');
    await click($(container, 'try-run'));
    await flush();
    expect($(container, 'try-error').textContent).toContain('--memory is not translated');
    expect(container.querySelector('[data-testid="try-answer"]')).toBeNull();
  });
});
