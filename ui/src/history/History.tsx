// The History view: blocked requests newest first, paged by the shell (cursor pages of
// PAGE_SIZE) and rendered in a window of the visible rows, with live rows from
// `history://blocked`, filters, a details pane with the fix, export and clear.

import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api, events, toApiError, type Cursor, type Mode, type Policy, type QueryPage, type StoredBlock } from '../api';
import { COMMANDS } from '../rules';
import { AuditBanner } from './AuditBanner';
import { EMPTY_FORM, fixFor, matches, toFilter, type FilterForm } from './filter';
import { AUDITED_LABEL, OutcomeBadge } from './OutcomeBadge';
import { OutcomeFilter } from './OutcomeFilter';
import { AllowImage } from './AllowImage';

export const PAGE_SIZE = 500;
export const ROW_HEIGHT = 30;
/** The sticky column header above the rows (`.grid-head` in styles.css). */
const HEADER_HEIGHT = 28;
const OVERSCAN = 8;
/** Used before layout (and under jsdom, which has none). */
const FALLBACK_VIEWPORT = 480;
export const FILTER_DEBOUNCE_MS = 250;
export const LIVE_BATCH_MS = 100;

interface Props {
  mode: Mode;
  policy: Policy | null;
  locked: boolean;
  onAllowImage: (image: string) => void;
  onEditCommands: () => void;
  /** After "Enforce now" saved the settings. */
  onSettingsChanged?: () => void;
  /** An entry to select (a notification's click); `seq` makes the same id count again. */
  open?: { id: number; seq: number } | null;
}

const KIND_LABEL: Record<StoredBlock['kind'], string> = {
  socket_mount: 'socket mount',
  command: 'command',
  host_access: 'host access',
  invalid_request: 'invalid request',
};

function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function History({ mode, policy, locked, onAllowImage, onEditCommands, onSettingsChanged, open = null }: Props) {
  const [form, setForm] = useState<FilterForm>(EMPTY_FORM);
  const filter = useMemo(() => toFilter(form), [form]);
  const [appliedFilter, setAppliedFilter] = useState(filter);
  /** Cursors of the pages before the current one; the current page starts after the last. */
  const [cursors, setCursors] = useState<(Cursor | null)[]>([null]);
  const [page, setPage] = useState<QueryPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(FALLBACK_VIEWPORT);
  const [liveNotOnPage, setLiveNotOnPage] = useState(0);
  const [exportFormat, setExportFormat] = useState<'csv' | 'json'>('csv');
  const [exportPath, setExportPath] = useState('');
  const [exportPathTouched, setExportPathTouched] = useState(false);
  const [actionMsg, setActionMsg] = useState<string | null>(null);
  const [confirmClear, setConfirmClear] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const pageIndex = cursors.length - 1;
  const after = cursors[pageIndex] ?? null;

  // Typing in a filter waits a moment; a new filter starts again from the first page.
  useEffect(() => {
    const t = setTimeout(() => {
      setAppliedFilter(filter);
      setCursors([null]);
    }, FILTER_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [filter]);

  const querySeq = useRef(0);
  const query = useCallback(async () => {
    const seq = ++querySeq.current;
    try {
      const result = await api.historyQuery(appliedFilter, { limit: PAGE_SIZE, offset: 0, after });
      if (seq !== querySeq.current) return;
      setPage(result);
      setError(null);
      setLiveNotOnPage(0);
    } catch (e) {
      if (seq === querySeq.current) setError(toApiError(e).message);
    }
  }, [appliedFilter, after]);

  useEffect(() => {
    void query();
  }, [query]);

  useEffect(() => {
    setScrollTop(0);
    if (scroller.current) scroller.current.scrollTop = 0;
  }, [appliedFilter, after]);

  // Live rows: on the first page they appear at the top; elsewhere they are counted. Blocks are
  // applied in batches so that a flood of blocks costs one render per LIVE_BATCH_MS, not one each.
  const live = useRef({ filter: appliedFilter, first: pageIndex === 0 });
  live.current = { filter: appliedFilter, first: pageIndex === 0 };
  useEffect(() => {
    let unlisten: (() => void) | null = null;
    let gone = false;
    let queued: StoredBlock[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const apply = () => {
      timer = null;
      const batch = queued.filter((b) => matches(b, live.current.filter));
      queued = [];
      if (batch.length === 0) return;
      if (live.current.first) {
        setPage((p) => {
          if (p === null) return p;
          const seen = new Set(p.blocks.map((b) => b.id));
          // The batch is oldest first; the table is newest first.
          const fresh: StoredBlock[] = [];
          for (const b of batch) {
            if (seen.has(b.id)) continue;
            seen.add(b.id);
            fresh.unshift(b);
          }
          return fresh.length === 0 ? p : { ...p, total: p.total + fresh.length, blocks: [...fresh, ...p.blocks] };
        });
      } else {
        setPage((p) => (p === null ? p : { ...p, total: p.total + batch.length }));
        setLiveNotOnPage((n) => n + batch.length);
      }
    };
    events
      .onBlocked((block) => {
        queued.push(block);
        if (timer === null) timer = setTimeout(apply, LIVE_BATCH_MS);
      })
      .then((u) => {
        if (gone) u();
        else unlisten = u;
      })
      .catch(() => undefined);
    return () => {
      gone = true;
      if (timer !== null) clearTimeout(timer);
      unlisten?.();
    };
  }, []);

  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight || FALLBACK_VIEWPORT));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    if (exportPathTouched) return;
    let stale = false;
    void api.defaultExportPath(exportFormat).then((p) => !stale && setExportPath(p));
    return () => {
      stale = true;
    };
  }, [exportFormat, exportPathTouched]);

  // A notification's entry: selected, on the first page where new blocks are.
  useEffect(() => {
    if (open === null) return;
    setSelectedId(open.id);
    setCursors((c) => (c.length === 1 && c[0] === null ? c : [null]));
  }, [open]);

  const rows = page?.blocks ?? [];
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  const visible = rows.slice(first, last);
  const selected = rows.find((b) => b.id === selectedId) ?? null;
  const startRow = pageIndex * PAGE_SIZE;

  const select = (index: number) => {
    const b = rows[index];
    if (!b) return;
    setSelectedId(b.id);
    const el = scroller.current;
    if (el) {
      const top = index * ROW_HEIGHT;
      if (top < el.scrollTop) el.scrollTop = top;
      else if (HEADER_HEIGHT + top + ROW_HEIGHT > el.scrollTop + viewport) el.scrollTop = HEADER_HEIGHT + top + ROW_HEIGHT - viewport;
      setScrollTop(el.scrollTop);
    }
    // After the window re-renders around the new row.
    setTimeout(() => scroller.current?.querySelector<HTMLElement>(`[data-row-id="${b.id}"]`)?.focus(), 0);
  };

  const onRowKey = (e: KeyboardEvent, index: number) => {
    const step: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    const delta = step[e.key];
    if (delta !== undefined) {
      e.preventDefault();
      select(Math.min(rows.length - 1, Math.max(0, index + delta)));
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      select(e.key === 'Home' ? 0 : rows.length - 1);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      select(index);
    }
  };

  const doExport = async () => {
    setActionMsg(null);
    if (exportPath.trim() === '') {
      setActionMsg('Choose a file to export to.');
      return;
    }
    try {
      const n = await api.historyExport(appliedFilter, exportFormat, exportPath.trim());
      setActionMsg(`Exported ${n} row${n === 1 ? '' : 's'} to ${exportPath.trim()}.`);
    } catch (e) {
      setActionMsg(`Export failed: ${toApiError(e).message}`);
    }
  };

  const doClear = async () => {
    setConfirmClear(false);
    try {
      const n = await api.historyClear();
      setActionMsg(`Cleared ${n} row${n === 1 ? '' : 's'}.`);
      setSelectedId(null);
      setCursors([null]);
      await query();
    } catch (e) {
      const err = toApiError(e);
      setActionMsg(err.code === 'forbidden' ? `Not allowed: ${err.message}` : `Clear failed: ${err.message}`);
    }
  };

  const field = <K extends keyof FilterForm>(key: K) => ({
    value: form[key],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value })),
  });

  return (
    <section aria-labelledby="history-h" className="view history">
      <div className="view-head">
        <h2 id="history-h">History of blocked requests</h2>
      </div>
      <AuditBanner mode={mode} policy={policy} locked={locked} onChanged={onSettingsChanged} />
      <form className="filters" role="search" aria-label="Filter the history" onSubmit={(e) => e.preventDefault()}>
        <label>
          Kind
          <select data-testid="filter-kind" {...field('kind')}>
            <option value="">any</option>
            <option value="socket_mount">socket mount</option>
            <option value="command">command</option>
            <option value="host_access">host access</option>
            <option value="invalid_request">invalid request</option>
          </select>
        </label>
        <OutcomeFilter value={form.outcome} onChange={(outcome) => setForm((f) => ({ ...f, outcome }))} />
        <label>
          Image
          <input type="search" data-testid="filter-image" {...field('image')} />
        </label>
        <label>
          Command
          <input type="search" data-testid="filter-command" list="history-commands" {...field('command')} />
        </label>
        <label>
          Since
          <input type="datetime-local" step="1" data-testid="filter-since" {...field('since')} />
        </label>
        <label>
          Until
          <input type="datetime-local" step="1" data-testid="filter-until" {...field('until')} />
        </label>
        <label className="grow">
          Text
          <input type="search" data-testid="filter-text" placeholder="reason, path, image, container…" {...field('text')} />
        </label>
        <button type="button" onClick={() => setForm(EMPTY_FORM)}>
          Reset
        </button>
        <datalist id="history-commands">
          {COMMANDS.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      </form>

      <div className="pager" aria-label="Pages">
        <span data-testid="history-total" aria-live="polite">
          {page === null
            ? 'Loading…'
            : page.total === 0
              ? 'No blocked requests match.'
              : `Rows ${Math.min(startRow + 1, page.total)}–${startRow + rows.length} of ${page.total}`}
        </span>
        {liveNotOnPage > 0 && (
          <button type="button" data-testid="history-new" onClick={() => setCursors([null])}>
            {liveNotOnPage} new — show
          </button>
        )}
        <button type="button" data-testid="history-first" disabled={pageIndex === 0} onClick={() => setCursors([null])}>
          First
        </button>
        <button type="button" data-testid="history-prev" disabled={pageIndex === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Previous
        </button>
        <button
          type="button"
          data-testid="history-next"
          disabled={!page?.next}
          onClick={() => page?.next && setCursors((c) => [...c, page.next])}
        >
          Next
        </button>
      </div>
      {error && (
        <p role="alert" className="notice notice-error">
          Cannot read the history: {error}
        </p>
      )}

      <div className="history-body">
        <div
          className="table-scroll"
          ref={scroller}
          data-testid="history-scroll"
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        >
          <div role="grid" className="history-grid" aria-label="Blocked requests" aria-rowcount={rows.length + 1}>
            <div role="row" className="grid-row grid-head" aria-rowindex={1}>
              <div role="columnheader">Time</div>
              <div role="columnheader">Kind</div>
              <div role="columnheader">Image</div>
              <div role="columnheader">Commands</div>
              <div role="columnheader">Reason</div>
            </div>
            {/* Rows are divs, not <tr>: WebDriver cannot click a table row. Only the rows in view
                exist; the group's height keeps the scroll bar true to the whole page. */}
            <div role="rowgroup" className="grid-body" style={{ height: rows.length * ROW_HEIGHT }}>
              {visible.map((b, i) => {
                const index = first + i;
                return (
                  <div
                    role="row"
                    key={b.id}
                    data-testid="history-row"
                    data-row-id={b.id}
                    data-kind={b.kind}
                    data-outcome={b.audited ? 'audited' : 'blocked'}
                    data-image={b.image ?? ''}
                    aria-rowindex={index + 2}
                    aria-selected={b.id === selectedId}
                    tabIndex={b.id === selectedId || (selectedId === null && index === 0) ? 0 : -1}
                    className={`grid-row${b.audited ? ' audited' : ''}${b.id === selectedId ? ' selected' : ''}`}
                    style={{ top: index * ROW_HEIGHT, height: ROW_HEIGHT }}
                    onClick={() => setSelectedId(b.id)}
                    onKeyDown={(e) => onRowKey(e, index)}
                  >
                    <div role="gridcell">{formatTime(b.unix_ms)}</div>
                    <div role="gridcell">{KIND_LABEL[b.kind]}</div>
                    <div role="gridcell">{b.image ?? '—'}</div>
                    <div role="gridcell">{b.commands.join(', ') || '—'}</div>
                    <div role="gridcell">
                      <OutcomeBadge block={b} /> {b.reason}
                    </div>
                  </div>
                );
              })}
            </div>
          </div>
        </div>

        <aside className="details" aria-label="Details of the selected block" data-testid="history-details">
          {selected === null ? (
            <p className="muted">Select a row to see why it was blocked and how to fix it.</p>
          ) : (
            <Details
              block={selected}
              mode={mode}
              policy={policy}
              locked={locked}
              onAllowImage={onAllowImage}
              onEditCommands={onEditCommands}
            />
          )}
        </aside>
      </div>

      <div className="history-actions">
        <label>
          Export as
          <select value={exportFormat} data-testid="export-format" onChange={(e) => setExportFormat(e.target.value as 'csv' | 'json')}>
            <option value="csv">CSV</option>
            <option value="json">JSON</option>
          </select>
        </label>
        <label className="grow">
          to file
          <input
            type="text"
            data-testid="export-path"
            placeholder="absolute path, e.g. /home/you/eci-history.csv"
            value={exportPath}
            onChange={(e) => {
              setExportPathTouched(true);
              setExportPath(e.target.value);
            }}
          />
        </label>
        <button type="button" data-testid="export-history" onClick={() => void doExport()}>
          Export
        </button>
        {mode === 'admin' &&
          (confirmClear ? (
            <>
              <button type="button" className="danger" data-testid="clear-confirm" onClick={() => void doClear()}>
                Delete every row
              </button>
              <button type="button" onClick={() => setConfirmClear(false)}>
                Cancel
              </button>
            </>
          ) : (
            <button type="button" data-testid="clear-history" onClick={() => setConfirmClear(true)}>
              Clear history…
            </button>
          ))}
      </div>
      {actionMsg && (
        <p role="status" className="muted" data-testid="history-action-msg">
          {actionMsg}
        </p>
      )}
    </section>
  );
}

/** For admins: write the entry straight into the admin file, after seeing the diff. */
function AllowInFile({ image }: { image: string }) {
  const [shown, setShown] = useState(false);
  return shown ? (
    <AllowImage image={image} />
  ) : (
    <button type="button" data-testid="allow-image-file" onClick={() => setShown(true)}>
      Allow in the admin file (tag, any tag or digest)…
    </button>
  );
}

function Details({
  block,
  mode,
  policy,
  locked,
  onAllowImage,
  onEditCommands,
}: {
  block: StoredBlock;
  mode: Mode;
  policy: Policy | null;
  locked: boolean;
  onAllowImage: (image: string) => void;
  onEditCommands: () => void;
}) {
  const fix = fixFor(block, mode, policy, locked);
  return (
    <div>
      <h3>
        {KIND_LABEL[block.kind]} {block.audited ? AUDITED_LABEL : 'blocked'}
      </h3>
      {block.audited && (
        <p className="muted" data-testid="detail-audited">
          Its rule family is in audit mode, so the request was forwarded. Once enforced, the client gets the message
          below.
        </p>
      )}
      <p className="reason" data-testid="detail-reason">
        {block.reason}
      </p>
      <div className="fix" data-testid="detail-fix" data-fix={fix.kind}>
        <h4>How to fix it</h4>
        {fix.kind === 'allow-image' && (
          <>
            <p>This image is not in the allowed list.</p>
            <button type="button" className="primary" data-testid="allow-image" onClick={() => onAllowImage(fix.image)}>
              Allow this image
            </button>
            {mode === 'admin' && <AllowInFile key={block.id} image={fix.image} />}
          </>
        )}
        {fix.kind === 'pull-again' && (
          <p>
            This image is in the allowed list, so your local image differs from the registry’s: pull it again (
            <code>docker pull {fix.image}</code>). If the reason says the digests could not be fetched, the registry
            was not reachable.
          </p>
        )}
        {fix.kind === 'ask-admin' && (
          <p>This image is not in the allowed list, which is locked by your administrator: ask them to allow it.</p>
        )}
        {fix.kind === 'command' && (
          <>
            <p>
              The command list blocks <code>{fix.commands.join(', ') || block.path}</code> for containers using a
              filtered socket.
            </p>
            {fix.canEdit ? (
              <button type="button" data-testid="edit-commands" onClick={onEditCommands}>
                Edit the command list
              </button>
            ) : (
              <p>The command list is locked by your administrator.</p>
            )}
          </>
        )}
        {fix.kind === 'host-access' && (
          <p>
            The container asked for the host itself (a privilege, a host namespace or device, or a kernel filesystem),
            which reaches the engine socket without mounting it.{' '}
            {fix.canEdit
              ? 'To allow it through the main socket, list the image under eciGuard.hostAccess.images in the admin settings.'
              : 'Only your administrator can allow it.'}
          </p>
        )}
        {fix.kind === 'invalid-request' && (
          <p>The enforcer could not read this request unambiguously, so it refused it. Send a well-formed request.</p>
        )}
      </div>
      <dl>
        <dt>When</dt>
        <dd>{block.time}</dd>
        {block.image && (
          <>
            <dt>Image</dt>
            <dd>
              <code>{block.image}</code>
              {block.image_id && <div className="muted small">{block.image_id}</div>}
            </dd>
          </>
        )}
        {block.container_name && (
          <>
            <dt>Container</dt>
            <dd>{block.container_name}</dd>
          </>
        )}
        <dt>Request</dt>
        <dd>
          <code className="wrap">
            {block.method} {block.path}
          </code>
        </dd>
        <dt>Socket</dt>
        <dd>
          {block.socket} <span className="muted small">{block.socket_path}</span>
        </dd>
        <dt>Message sent</dt>
        <dd className="wrap small">{block.message}</dd>
        <dt>Policy version</dt>
        <dd>
          <code>{block.policy_version}</code>
        </dd>
      </dl>
    </div>
  );
}
