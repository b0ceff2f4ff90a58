import { act } from 'react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Filter, Page, QueryPage, StoredBlock } from '../api';
import { History, FILTER_DEBOUNCE_MS, LIVE_BATCH_MS, PAGE_SIZE, ROW_HEIGHT } from './History';
import { $, $$, backend, block, click, emitEvent, flush, key, policy, render, setValue, settingsView } from '../test/harness';

/** A store of `n` blocks, newest first, answering `history_query` like eci-history. */
function store(n: number) {
  const blocks: StoredBlock[] = Array.from({ length: n }, (_, i) => block({ id: n - i, unix_ms: 1_800_000_000_000 + (n - i) * 1000 }));
  const query = (args: Record<string, unknown>): QueryPage => {
    const filter = args.filter as Filter;
    const page = args.page as Page;
    let rows = blocks.filter((b) => (filter.kinds ? filter.kinds.includes(b.kind) : true));
    const total = rows.length;
    if (page.after) rows = rows.filter((b) => b.id < page.after!.id);
    const slice = rows.slice(page.offset, page.offset + page.limit);
    const lastRow = slice.at(-1);
    return { total, blocks: slice, next: slice.length === page.limit && lastRow ? { unix_ms: lastRow.unix_ms, id: lastRow.id } : null };
  };
  return { blocks, query };
}

const noop = () => undefined;

function mountHistory(over: Partial<Parameters<typeof History>[0]> = {}) {
  return render(
    <History mode="admin" policy={policy()} locked={false} onAllowImage={noop} onEditCommands={noop} {...over} />,
  );
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('History', () => {
  test('first page is asked for by cursor with the page size, and rows render newest first', async () => {
    const s = store(3);
    const be = backend({ history_query: s.query });
    const { container } = await mountHistory();
    expect(be.last('history_query')!.args).toEqual({ filter: {}, page: { limit: PAGE_SIZE, offset: 0, after: null } });
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).toEqual(['3', '2', '1']);
    expect($(container, 'history-total').textContent).toBe('Rows 1–3 of 3');
  });

  test('a block from history://blocked appears at the top without a new query, unless the filter excludes it', async () => {
    const s = store(2);
    const be = backend({ history_query: s.query });
    const { container } = await mountHistory();
    const queries = be.of('history_query').length;
    await emitEvent('history://blocked', block({ id: 50, kind: 'command', commands: ['push'], image: null }));
    await flush(LIVE_BATCH_MS);
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).toEqual(['50', '2', '1']);
    expect($(container, 'history-total').textContent).toBe('Rows 1–3 of 3');
    expect(be.of('history_query')).toHaveLength(queries);

    await setValue($<HTMLSelectElement>(container, 'filter-kind'), 'socket_mount');
    await flush(FILTER_DEBOUNCE_MS);
    await emitEvent('history://blocked', block({ id: 51, kind: 'command', commands: ['push'] }));
    await flush(LIVE_BATCH_MS);
    expect($$(container, 'history-row').map((r) => r.dataset.rowId)).not.toContain('51');
    await emitEvent('history://blocked', block({ id: 52, kind: 'socket_mount' }));
    await flush(LIVE_BATCH_MS);
    expect($$(container, 'history-row')[0]!.dataset.rowId).toBe('52');
  });

  test('a flood of live blocks is applied in one batch, newest first, without duplicates', async () => {
    const s = store(1);
    backend({ history_query: s.query });
    const { container } = await mountHistory();
    for (let id = 10; id < 210; id++) await emitEvent('history://blocked', block({ id }));
    await emitEvent('history://blocked', block({ id: 1 }));
    expect($$(container, 'history-row')).toHaveLength(1);
    await flush(LIVE_BATCH_MS);
    const ids = $$(container, 'history-row').map((r) => Number(r.dataset.rowId));
    expect(ids.slice(0, 3)).toEqual([209, 208, 207]);
    expect($(container, 'history-total').textContent).toBe('Rows 1–201 of 201');
  });

  test('the filters are sent to history_query once typing pauses, and restart at the first page', async () => {
    const s = store(3);
    const be = backend({ history_query: s.query });
    const { container } = await mountHistory();
    await setValue($<HTMLSelectElement>(container, 'filter-kind'), 'command');
    await setValue($<HTMLInputElement>(container, 'filter-image'), ' busybox ');
    await setValue($<HTMLInputElement>(container, 'filter-command'), 'push');
    await setValue($<HTMLInputElement>(container, 'filter-text'), 'denied');
    await setValue($<HTMLInputElement>(container, 'filter-since'), '2026-11-28T10:00:00');
    const before = be.of('history_query').length;
    await flush(FILTER_DEBOUNCE_MS - 10);
    expect(be.of('history_query')).toHaveLength(before);
    await flush(10);
    expect(be.of('history_query')).toHaveLength(before + 1);
    expect(be.last('history_query')!.args).toEqual({
      filter: {
        kinds: ['command'],
        image: 'busybox',
        command: 'push',
        text: 'denied',
        since: new Date('2026-11-28T10:00:00').toISOString(),
      },
      page: { limit: PAGE_SIZE, offset: 0, after: null },
    });
  });

  test('Next pages by the cursor the shell returned; Previous goes back', async () => {
    const s = store(PAGE_SIZE + 20);
    const be = backend({ history_query: s.query });
    const { container } = await mountHistory();
    expect($<HTMLButtonElement>(container, 'history-prev').disabled).toBe(true);
    await click($(container, 'history-next'));
    await flush();
    const lastOfFirst = s.blocks[PAGE_SIZE - 1]!;
    expect(be.last('history_query')!.args.page).toEqual({ limit: PAGE_SIZE, offset: 0, after: { unix_ms: lastOfFirst.unix_ms, id: lastOfFirst.id } });
    expect($(container, 'history-total').textContent).toBe(`Rows ${PAGE_SIZE + 1}–${PAGE_SIZE + 20} of ${PAGE_SIZE + 20}`);
    expect($$(container, 'history-row')[0]!.dataset.rowId).toBe('20');
    expect($<HTMLButtonElement>(container, 'history-next').disabled).toBe(true);

    // A live block while on page 2 is counted, not spliced into this page.
    await emitEvent('history://blocked', block({ id: 9999 }));
    await flush(LIVE_BATCH_MS);
    expect($$(container, 'history-row')[0]!.dataset.rowId).toBe('20');
    expect($(container, 'history-new').textContent).toContain('1 new');

    await click($(container, 'history-prev'));
    await flush();
    expect(be.last('history_query')!.args.page).toEqual({ limit: PAGE_SIZE, offset: 0, after: null });
  });

  test('a full page renders only the rows in view, and scrolling moves the window', async () => {
    const s = store(PAGE_SIZE);
    backend({ history_query: s.query });
    const { container } = await mountHistory();
    const rendered = $$(container, 'history-row');
    expect(rendered.length).toBeGreaterThan(10);
    expect(rendered.length).toBeLessThan(60);
    expect(rendered[0]!.dataset.rowId).toBe(String(PAGE_SIZE));
    const scroller = $(container, 'history-scroll');
    scroller.scrollTop = 300 * ROW_HEIGHT;
    await emitScroll(scroller);
    const ids = $$(container, 'history-row').map((r) => Number(r.dataset.rowId));
    expect(ids).toContain(PAGE_SIZE - 300);
    expect(ids).not.toContain(PAGE_SIZE);
    expect(ids.length).toBeLessThan(60);
  });

  test('100,000 rows: one page asked for, the table stays small', async () => {
    const total = 100_000;
    const pageRows = Array.from({ length: PAGE_SIZE }, (_, i) => block({ id: total - i }));
    const be = backend({
      history_query: () => ({ total, blocks: pageRows, next: { unix_ms: pageRows.at(-1)!.unix_ms, id: pageRows.at(-1)!.id } }),
    });
    const { container } = await mountHistory();
    expect(be.of('history_query')).toHaveLength(1);
    expect($(container, 'history-total').textContent).toBe(`Rows 1–${PAGE_SIZE} of ${total}`);
    expect(container.querySelectorAll('[role=row]').length).toBeLessThan(70);
  });

  test('the keyboard moves the selection and the details show the reason', async () => {
    const s = store(3);
    backend({ history_query: s.query });
    const { container } = await mountHistory();
    const rows = $$(container, 'history-row');
    expect(rows[0]!.tabIndex).toBe(0);
    await key(rows[0]!, 'Enter');
    expect($$(container, 'history-row')[0]!.getAttribute('aria-selected')).toBe('true');
    await key($$(container, 'history-row')[0]!, 'ArrowDown');
    expect($$(container, 'history-row')[1]!.getAttribute('aria-selected')).toBe('true');
    expect($(container, 'detail-reason').textContent).toBe('image is not in the allowed list');
  });

  test('admin: a socket-mount block of an unlisted image offers "Allow this image"', async () => {
    const allowed: string[] = [];
    backend({ history_query: () => ({ total: 1, blocks: [block({ id: 1, image: 'iechor.io/library/iechor' })], next: null }) });
    const { container } = await mountHistory({ onAllowImage: (i) => allowed.push(i) });
    await click($$(container, 'history-row')[0]!);
    expect($(container, 'detail-fix').dataset.fix).toBe('allow-image');
    await click($(container, 'allow-image'));
    expect(allowed).toEqual(['iechor.io/library/iechor']);
  });

  test('admin: the entry also offers writing it into the admin file with the three forms and the diff', async () => {
    const be = backend({
      history_query: () => ({ total: 1, blocks: [block({ id: 1, image: '127.0.0.1:5000/team/tool:1' })], next: null }),
      image_entry_forms: () => ({ exact: '127.0.0.1:5000/team/tool:1', any_tag: '127.0.0.1:5000/team/tool:*', digest: null }),
      load_settings: () => settingsView('admin', null),
      settings_diff: () => ({ before: '', after: '{}', etag: '', lines: [{ op: 'insert', text: '"127.0.0.1:5000/team/tool:1"' }] }),
    });
    const { container } = await mountHistory();
    await click($$(container, 'history-row')[0]!);
    expect(be.of('image_entry_forms')).toHaveLength(0);
    await click($(container, 'allow-image-file'));
    await flush();
    await flush();
    expect(be.last('image_entry_forms')!.args).toEqual({ image: '127.0.0.1:5000/team/tool:1' });
    expect($(container, 'allow-entry-any_tag').textContent).toBe('127.0.0.1:5000/team/tool:*');
    expect($(container, 'allow-diff').textContent).toContain('+ "127.0.0.1:5000/team/tool:1"');
  });

  test('user: no writing into the admin file is offered', async () => {
    backend({ history_query: () => ({ total: 1, blocks: [block({ id: 1, image: 'team/tool:1' })], next: null }) });
    const { container } = await mountHistory({ mode: 'user', locked: false });
    await click($$(container, 'history-row')[0]!);
    expect($(container, 'detail-fix').dataset.fix).toBe('allow-image');
    expect(container.querySelector('[data-testid="allow-image-file"]')).toBeNull();
  });

  test('an entry to open (a notification clicked) is selected and shown', async () => {
    const s = store(3);
    backend({ history_query: s.query });
    const { root } = await mountHistory();
    await act(async () => {
      root.render(<History mode="admin" policy={policy()} locked={false} onAllowImage={noop} onEditCommands={noop} open={{ id: 2, seq: 1 }} />);
    });
    await flush();
    const selected = document.querySelector<HTMLElement>('[data-testid="history-row"][aria-selected="true"]');
    expect(selected?.dataset.rowId).toBe('2');
    expect(document.querySelector('[data-testid="detail-reason"]')).not.toBeNull();
  });

  test('user: a socket-mount block of a listed image says the local image differs: pull it again', async () => {
    backend({ history_query: () => ({ total: 1, blocks: [block({ id: 1, image: 'localstack/localstack:3.1' })], next: null }) });
    const { container } = await mountHistory({
      mode: 'user',
      locked: true,
      policy: policy({ images: ['iechor.io/localstack/localstack:*'] }),
    });
    await click($$(container, 'history-row')[0]!);
    const fix = $(container, 'detail-fix');
    expect(fix.dataset.fix).toBe('pull-again');
    expect(fix.textContent).toContain('your local image differs');
    expect(fix.textContent).toContain('docker pull localstack/localstack:3.1');
    expect(container.querySelector('[data-testid="allow-image"]')).toBeNull();
  });

  test('user under a lock: an unlisted image means asking the administrator; no clear button', async () => {
    backend({ history_query: () => ({ total: 1, blocks: [block({ id: 1, image: 'evil/image:1' })], next: null }) });
    const { container } = await mountHistory({ mode: 'user', locked: true, policy: policy({ images: ['busybox'] }) });
    await click($$(container, 'history-row')[0]!);
    expect($(container, 'detail-fix').dataset.fix).toBe('ask-admin');
    expect(container.querySelector('[data-testid="clear-history"]')).toBeNull();
  });

  test('export sends the applied filter, format and path; clear asks first and reloads', async () => {
    const s = store(2);
    const be = backend({ history_query: s.query, history_export: () => 2, history_clear: () => 2 });
    const { container } = await mountHistory();
    expect($<HTMLInputElement>(container, 'export-path').value).toBe('/home/dev/Downloads/eci-history.csv');
    await setValue($<HTMLSelectElement>(container, 'export-format'), 'json');
    await flush();
    expect($<HTMLInputElement>(container, 'export-path').value).toBe('/home/dev/Downloads/eci-history.json');
    await setValue($<HTMLInputElement>(container, 'filter-command'), 'push');
    await flush(FILTER_DEBOUNCE_MS);
    await click($(container, 'export-history'));
    await flush();
    expect(be.last('history_export')!.args).toEqual({ filter: { command: 'push' }, format: 'json', path: '/home/dev/Downloads/eci-history.json' });
    expect($(container, 'history-action-msg').textContent).toContain('Exported 2 rows');

    await click($(container, 'clear-history'));
    expect(be.of('history_clear')).toHaveLength(0);
    const queries = be.of('history_query').length;
    await click($(container, 'clear-confirm'));
    await flush();
    expect(be.of('history_clear')).toHaveLength(1);
    expect(be.of('history_query').length).toBeGreaterThan(queries);
  });
});

async function emitScroll(el: HTMLElement) {
  await act(async () => {
    el.dispatchEvent(new Event('scroll'));
  });
}
