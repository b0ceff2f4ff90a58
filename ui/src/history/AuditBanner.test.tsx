import { act } from 'react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { AuditCount, EciSection, Filter, Policy, QueryPage, SettingsView, StoredBlock } from '../api';
import { History, FILTER_DEBOUNCE_MS, LIVE_BATCH_MS } from './History';
import { DAY_MS, RECOUNT_MS } from './AuditBanner';
import { $, $$, backend, block, click, emitEvent, fileView, flush, policy, render, setValue, settingsView, type Handler } from '../test/harness';

const NOW = 1_800_000_000_000;

/** Three refused and two audited blocks; the store answers like eci-history, outcome included. */
function store() {
  const blocks: StoredBlock[] = [
    block({ id: 5, unix_ms: NOW - 1000, audited: true, kind: 'command', commands: ['push'], reason: 'push is denied' }),
    block({ id: 4, unix_ms: NOW - 2000 }),
    block({ id: 3, unix_ms: NOW - 3000, audited: true }),
    block({ id: 2, unix_ms: NOW - 4000 }),
    block({ id: 1, unix_ms: NOW - 5000 }),
  ];
  const query = (args: Record<string, unknown>): QueryPage => {
    const f = args.filter as Filter;
    const rows = blocks.filter((b) => (f.outcome === undefined ? true : b.audited === (f.outcome === 'audited')));
    return { total: rows.length, blocks: rows, next: null };
  };
  return { blocks, query };
}

const count = (total: number): AuditCount => ({
  since: { time: new Date(NOW - DAY_MS).toISOString(), unix_ms: NOW - DAY_MS },
  total,
  by_kind: total === 0 ? [] : [
    { kind: 'command', count: total - 1 },
    { kind: 'socket_mount', count: 1 },
  ],
});

const auditing = (over: Partial<Policy['audit']> = {}) =>
  policy({ audit: { socketMounts: true, commands: false, hostAccess: false, ...over } });

function mountHistory(p: Policy, mode: 'admin' | 'user' = 'user', locked = false, onSettingsChanged = () => undefined) {
  return render(
    <History
      mode={mode}
      policy={p}
      locked={locked}
      onAllowImage={() => undefined}
      onEditCommands={() => undefined}
      onSettingsChanged={onSettingsChanged}
    />,
  );
}

function historyBackend(extra: Record<string, Handler> = {}) {
  const s = store();
  return backend({ history_query: s.query, history_audit_count: () => count(3), ...extra });
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('History: audited rows', () => {
  test('audited rows carry their badge and mark; refused rows do not', async () => {
    historyBackend();
    const { container } = await mountHistory(policy());
    const rows = $$(container, 'history-row');
    expect(rows.map((r) => r.dataset.outcome)).toEqual(['audited', 'blocked', 'audited', 'blocked', 'blocked']);
    expect(rows.map((r) => r.classList.contains('audited'))).toEqual([true, false, true, false, false]);
    const badge = rows[0]!.querySelector<HTMLElement>('[data-testid="audited-badge"]')!;
    expect(badge.textContent).toBe('audited');
    expect(badge.getAttribute('aria-label')).toBe('audited — would be refused');
    expect(rows[1]!.querySelector('[data-testid="audited-badge"]')).toBeNull();

    await click(rows[0]!);
    expect($(container, 'history-details').querySelector('h3')!.textContent).toBe('command audited — would be refused');
    expect($(container, 'detail-audited').textContent).toContain('audit mode');
    await click(rows[1]!);
    expect($(container, 'history-details').querySelector('h3')!.textContent).toBe('socket mount blocked');
  });

  test('the outcome filter asks the store for blocked or audited rows, and live rows follow it', async () => {
    const be = historyBackend();
    const { container } = await mountHistory(policy());
    const outcome = $<HTMLSelectElement>(container, 'filter-outcome');
    expect([...outcome.options].map((o) => o.textContent)).toEqual(['All', 'Blocked', 'Audited']);

    await setValue(outcome, 'audited');
    await flush(FILTER_DEBOUNCE_MS);
    expect((be.last('history_query')!.args.filter as Filter).outcome).toBe('audited');
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).toEqual(['5', '3']);
    await emitEvent('history://blocked', block({ id: 60, unix_ms: NOW }));
    await emitEvent('history://blocked', block({ id: 61, unix_ms: NOW, audited: true }));
    await flush(LIVE_BATCH_MS);
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).toEqual(['61', '5', '3']);

    await setValue(outcome, 'blocked');
    await flush(FILTER_DEBOUNCE_MS);
    expect((be.last('history_query')!.args.filter as Filter).outcome).toBe('blocked');
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).toEqual(['4', '2', '1']);

    await setValue(outcome, '');
    await flush(FILTER_DEBOUNCE_MS);
    expect(be.last('history_query')!.args.filter).toEqual({});
  });
});

describe('History: audit banner and Enforce now', () => {
  test('no banner and no count while every family is enforced', async () => {
    const be = historyBackend();
    const { container } = await mountHistory(policy());
    expect(container.querySelector('[data-testid="audit-banner"]')).toBeNull();
    expect(be.of('history_audit_count')).toHaveLength(0);
  });

  test('the banner names the audited families and counts the last day by kind; audited arrivals recount', async () => {
    let total = 3;
    const be = historyBackend({ history_audit_count: () => count(total) });
    const { container } = await mountHistory(auditing({ commands: true }));
    expect($(container, 'audit-banner').textContent).toContain('Audit mode is on for socket mounts, command list');
    expect(be.last('history_audit_count')!.args).toEqual({ since: NOW - DAY_MS });
    expect($(container, 'audit-count').textContent).toBe(
      '3 requests would have been refused in the last 24 hours (command: 2, socket mount: 1).',
    );

    const asked = be.of('history_audit_count').length;
    await emitEvent('history://blocked', block({ id: 70, unix_ms: NOW }));
    await flush(RECOUNT_MS);
    expect(be.of('history_audit_count')).toHaveLength(asked);
    total = 4;
    await emitEvent('history://blocked', block({ id: 71, unix_ms: NOW, audited: true }));
    await emitEvent('history://blocked', block({ id: 72, unix_ms: NOW, audited: true }));
    await flush(RECOUNT_MS);
    expect(be.of('history_audit_count')).toHaveLength(asked + 1);
    expect($(container, 'audit-count').textContent).toContain('4 requests would have been refused');
  });

  test('Enforce now previews the user file with every family enforced, then saves it with its etag', async () => {
    const userSection: EciSection = {
      iechorSocketMount: { imageList: { images: ['busybox'] } },
      eciGuard: { audit: { socketMounts: true } },
    };
    const view: SettingsView = settingsView('user', userSection, { effective: auditing() });
    view.user = fileView({ path: '/home/dev/.config/iechor/settings.json', section: userSection, etag: 'user-etag' });
    const changed = vi.fn();
    const be = historyBackend({
      load_settings: () => view,
      preview_settings: (a) => `{"enhancedContainerIsolation": ${JSON.stringify(a.section)}, "otherSetting": 1}\n`,
      save_settings: () => fileView({ path: '/home/dev/.config/iechor/settings.json', etag: 'user-etag-2' }),
    });
    const { container, root } = await mountHistory(auditing(), 'user', false, changed);
    await click($(container, 'enforce-now'));
    await flush();
    const enforced: EciSection = {
      iechorSocketMount: { imageList: { images: ['busybox'] } },
      eciGuard: { audit: { socketMounts: false, commands: false, hostAccess: false } },
    };
    expect(be.last('preview_settings')!.args).toEqual({ target: 'user', section: enforced });
    expect($(container, 'enforce-preview').textContent).toContain('"otherSetting": 1');
    expect(container.textContent).toContain('This writes /home/dev/.config/iechor/settings.json');
    expect(be.of('save_settings')).toHaveLength(0);

    await click($(container, 'enforce-confirm'));
    await flush();
    expect(be.last('save_settings')!.args).toEqual({ target: 'user', section: enforced, etag: 'user-etag' });
    expect(changed).toHaveBeenCalledTimes(1);
    // The app reloads the policy: every family enforced, the banner gives way to the result.
    await act(async () => {
      root.render(
        <History mode="user" policy={policy()} locked={false} onAllowImage={() => undefined} onEditCommands={() => undefined} />,
      );
    });
    await flush();
    expect(container.querySelector('[data-testid="audit-banner"]')).toBeNull();
    expect($(container, 'enforce-done').textContent).toContain('Audit mode is off');
  });

  test('Cancel writes nothing', async () => {
    const be = historyBackend({
      load_settings: () => settingsView('user', {}, { effective: auditing() }),
      preview_settings: () => '{}\n',
    });
    const { container } = await mountHistory(auditing());
    await click($(container, 'enforce-now'));
    await flush();
    await click($(container, 'enforce-cancel'));
    expect(container.querySelector('[data-testid="enforce-preview"]')).toBeNull();
    expect(be.of('save_settings')).toHaveLength(0);
  });

  test('locked by the administrator: a user cannot enforce, and is told why', async () => {
    const be = historyBackend();
    const { container } = await mountHistory(auditing(), 'user', true);
    const button = $<HTMLButtonElement>(container, 'enforce-now');
    expect(button.disabled).toBe(true);
    expect(button.getAttribute('aria-describedby')).toBe('enforce-locked');
    expect($(container, 'enforce-locked').textContent).toContain('Locked by your administrator');
    expect(be.of('load_settings')).toHaveLength(0);
  });

  test('locked, the administrator enforces in the admin file', async () => {
    const adminSection: EciSection = { locked: true, value: true, eciGuard: { audit: { hostAccess: true } } };
    const view = settingsView('admin', adminSection, { locked: true, effective: auditing({ socketMounts: false, hostAccess: true }) });
    const be = historyBackend({
      load_settings: () => view,
      preview_settings: () => '{}\n',
      save_settings: () => fileView({ etag: 'etag-2' }),
    });
    const { container } = await mountHistory(auditing({ socketMounts: false, hostAccess: true }), 'admin', true);
    await click($(container, 'enforce-now'));
    await flush();
    await click($(container, 'enforce-confirm'));
    await flush();
    expect(be.last('save_settings')!.args).toEqual({
      target: 'admin',
      section: { locked: true, value: true, eciGuard: { audit: { socketMounts: false, commands: false, hostAccess: false } } },
      etag: 'etag-1',
    });
  });

  test('a file changed on disk meanwhile is not overwritten; an unwritable one is not tried', async () => {
    const be = historyBackend({
      load_settings: () => settingsView('user', {}, { effective: auditing() }),
      preview_settings: () => '{}\n',
      save_settings: () => Promise.reject({ code: 'conflict', message: 'changed on disk' }),
    });
    const { container } = await mountHistory(auditing());
    await click($(container, 'enforce-now'));
    await flush();
    await click($(container, 'enforce-confirm'));
    await flush();
    expect($(container, 'enforce-error').textContent).toContain('changed on disk meanwhile; nothing was written');
    expect($(container, 'audit-banner')).toBeTruthy();

    const readOnly = settingsView('user', {}, { effective: auditing() });
    readOnly.user = fileView({ path: '/home/dev/.config/iechor/settings.json', writable: false });
    const be2 = historyBackend({ load_settings: () => readOnly });
    await click($(container, 'enforce-now'));
    await flush();
    expect($(container, 'enforce-error').textContent).toBe('You cannot write /home/dev/.config/iechor/settings.json.');
    expect(be2.of('preview_settings')).toHaveLength(0);
    expect(be.of('save_settings')).toHaveLength(1);
  });
});
