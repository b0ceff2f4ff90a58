import { describe, expect, test } from 'vitest';
import { App, INTERACTIVE_MARK } from './App';
import { $, $$, appStatus, backend, block, click, emitEvent, flush, key, render, settingsView, until } from './test/harness';

function appBackend() {
  return backend({
    load_settings: () => settingsView('admin', { iechorSocketMount: { imageList: { images: ['busybox'] } } }),
    validate_section: () => [],
    preview_settings: () => '{}',
    probe_image: (a) => ({ input: a.entry, status: 'any-tag', tags: 1 }),
    cancel_probe: () => null,
    history_query: () => ({ total: 1, blocks: [block({ id: 7, image: 'iechor.io/library/iechor' })], next: null }),
    status: () => appStatus(),
    docker_host_line: () => 'export DOCKER_HOST=unix:///x',
  });
}

describe('App', () => {
  test('tabs switch views by click and by arrow keys, one panel visible at a time', async () => {
    appBackend();
    const { container } = await render(<App />);
    const panel = (id: string) => container.querySelector<HTMLElement>(`#panel-${id}`)!;
    expect(panel('settings').hidden).toBe(false);
    expect(panel('history').hidden).toBe(true);
    await click($(container, 'tab-status'));
    expect(panel('status').hidden).toBe(false);
    expect(panel('settings').hidden).toBe(true);
    await key($(container, 'tab-status'), 'ArrowRight');
    expect($(container, 'tab-settings').getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe($(container, 'tab-settings'));
    await key($(container, 'tab-settings'), 'ArrowLeft');
    expect($(container, 'tab-status').getAttribute('aria-selected')).toBe('true');
    expect($(container, 'mode-badge').dataset.mode).toBe('admin');
  });

  test('at start only Settings queries; History and Status load when first opened and then stay mounted', async () => {
    const be = appBackend();
    performance.clearMarks(INTERACTIVE_MARK);
    const { container } = await render(<App />);
    expect(be.of('load_settings').length).toBeGreaterThan(0);
    expect(be.of('history_query')).toHaveLength(0);
    expect(be.of('status')).toHaveLength(0);
    expect(performance.getEntriesByName(INTERACTIVE_MARK)).toHaveLength(1);
    await click($(container, 'tab-history'));
    await until(() => $$(container, 'history-row').length > 0, 'the History view');
    expect(be.of('history_query')).toHaveLength(1);
    await click($(container, 'tab-status'));
    await until(() => be.of('status').length > 0, 'the Status view');
    await flush();
    expect(be.of('status')).toHaveLength(1);
    await click($(container, 'tab-history'));
    await flush();
    // Still mounted: no second query, the first page is still there.
    expect(be.of('history_query')).toHaveLength(1);
    expect($$(container, 'history-row')).toHaveLength(1);
  });

  test('the theme toggle cycles system → light → dark and sets the document theme', async () => {
    appBackend();
    localStorage.clear();
    const { container } = await render(<App />);
    expect(document.documentElement.hasAttribute('data-theme')).toBe(false);
    await click($(container, 'theme-toggle'));
    expect(document.documentElement.getAttribute('data-theme')).toBe('light');
    await click($(container, 'theme-toggle'));
    expect(document.documentElement.getAttribute('data-theme')).toBe('dark');
    expect(localStorage.getItem('eci-guard.theme')).toBe('dark');
    await click($(container, 'theme-toggle'));
    expect(document.documentElement.hasAttribute('data-theme')).toBe(false);
  });

  test('"Allow this image" in History opens Settings with the image added, unsaved', async () => {
    const be = appBackend();
    const { container } = await render(<App initialTab="history" />);
    await until(() => $$(container, 'history-row').length > 0, 'the History view');
    await click($$(container, 'history-row')[0]!);
    await click($(container, 'allow-image'));
    await flush();
    expect($(container, 'tab-settings').getAttribute('aria-selected')).toBe('true');
    expect($$<HTMLInputElement>(container, 'image-entry').map((i) => i.value)).toEqual(['busybox', 'iechor.io/library/iechor']);
    expect($<HTMLButtonElement>(container, 'save-settings').disabled).toBe(false);
    expect(be.of('save_settings')).toHaveLength(0);
  });
  test('app://open-block (a notification clicked) opens the History on that entry', async () => {
    appBackend();
    const { container } = await render(<App />);
    await emitEvent('app://open-block', 7);
    await until(() => $$(container, 'history-row').length > 0, 'the History view');
    await flush();
    expect($(container, 'tab-history').getAttribute('aria-selected')).toBe('true');
    const selected = container.querySelector<HTMLElement>('[data-testid="history-row"][aria-selected="true"]');
    expect(selected?.dataset.rowId).toBe('7');
  });
});
