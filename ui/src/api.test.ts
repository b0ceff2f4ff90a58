import { describe, expect, test } from 'vitest';
import { api, ApiError, dialogs, events, preloadSettings, systemTimeMs, toApiError, type SystemTimeJson } from './api';
import { backend, deferred, emitEvent, settingsView } from './test/harness';

describe('api', () => {
  test('the file dialogs: one JSON file or none, and a dialog that fails is an ApiError', async () => {
    const opened: unknown[] = ['/home/dev/a.json', null, ['/x.json', '/y.json']];
    const be = backend({
      'plugin:dialog|open': () => opened.shift(),
      'plugin:dialog|save': () => Promise.reject('no display'),
    });
    await expect(dialogs.pickImport()).resolves.toBe('/home/dev/a.json');
    await expect(dialogs.pickImport()).resolves.toBeNull();
    // Never more than one file, whatever the shell answers.
    await expect(dialogs.pickImport()).resolves.toBeNull();
    expect(be.last('plugin:dialog|open')!.args.options).toMatchObject({ multiple: false, directory: false });
    await expect(dialogs.pickExport('eci-settings.json')).rejects.toMatchObject({ name: 'ApiError', message: 'no display' });
    expect(be.last('plugin:dialog|save')!.args.options).toMatchObject({ defaultPath: 'eci-settings.json' });
  });

  test('the settings asked for at boot serve every view while pending, then each load asks again', async () => {
    const answer = deferred<unknown>();
    const be = backend({ load_settings: () => answer.promise });
    preloadSettings();
    const first = api.loadSettings();
    const second = api.loadSettings();
    expect(be.of('load_settings')).toHaveLength(1);
    answer.resolve(settingsView('admin', null));
    await expect(first).resolves.toMatchObject({ mode: 'admin' });
    await expect(second).resolves.toMatchObject({ mode: 'admin' });
    await api.loadSettings();
    expect(be.of('load_settings')).toHaveLength(2);
  });

  test('a policy change while the boot answer is pending makes the next load ask again', async () => {
    const answer = deferred<unknown>();
    const be = backend({ load_settings: () => answer.promise });
    const unlisten = await events.onPolicyChanged(() => undefined);
    preloadSettings();
    await emitEvent('policy://changed', { at: 1_000, outcome: { outcome: 'applied', version: 'v', warnings: [], user_ignored: false } });
    void api.loadSettings();
    expect(be.of('load_settings')).toHaveLength(2);
    answer.resolve(settingsView('admin', null));
    unlisten();
  });

  test('arguments go out under the names the shell reads (camelCase for multi-word ones)', async () => {
    const be = backend({ probe_image: () => ({ input: 'x', status: 'all-images' }), cancel_probe: () => true });
    await api.probeImage('busybox', 'r1');
    await api.cancelProbe('r1');
    expect(be.calls).toEqual([
      { cmd: 'probe_image', args: { entry: 'busybox', requestId: 'r1' } },
      { cmd: 'cancel_probe', args: { requestId: 'r1' } },
    ]);
  });

  test('a rejected command becomes an ApiError with its code and diagnostics', async () => {
    const diagnostics = [{ severity: 'error', code: 'syntax', pointer: '', message: 'bad' }];
    backend({ save_settings: () => Promise.reject({ code: 'invalid', message: 'has errors', diagnostics }) });
    const err = await api.saveSettings('admin', {}, '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'invalid', message: 'has errors', diagnostics });
  });

  test.each([
    [{ code: 'conflict', message: 'changed' }, 'conflict', 'changed'],
    [{ code: 'teapot', message: 'odd' }, 'internal', 'odd'],
    ['plain string from a panic', 'internal', 'plain string from a panic'],
    [new Error('boom'), 'internal', 'boom'],
  ])('toApiError(%j) → %s', (raw, code, message) => {
    expect(toApiError(raw)).toMatchObject({ code, message });
  });

  test.each<[string, SystemTimeJson, number]>([
    ['unix milliseconds (what eci-proxy sends)', 1_795_897_809_123, 1_795_897_809_123],
    ['serde SystemTime', { secs_since_epoch: 1_795_897_809, nanos_since_epoch: 123_000_000 }, 1_795_897_809_123],
    ['RFC 3339', '2026-11-28T20:30:09.123Z', 1_795_897_809_123],
  ])('reload times read as %s', (_form, at, ms) => {
    expect(systemTimeMs(at)).toBe(ms);
  });

  test('an unreadable time is NaN, not a wrong date', () => {
    expect(systemTimeMs({} as SystemTimeJson)).toBeNaN();
  });
});
