// The History view: blocked requests newest first, paged by the shell (cursor pages of
// PAGE_SIZE) and rendered in a window of the visible rows, with live rows from
// `history://blocked`, filters, a details pane with the fix, export and clear. This file lays the
// view out; the pages are in useHistoryPages, the row window in useRowWindow.

import { useEffect, useMemo, useState } from 'react';
import type { Mode, Policy } from '../api';
import { AuditBanner } from './AuditBanner';
import { Details } from './Details';
import { EMPTY_FORM, toFilter, type FilterForm } from './filter';
import { HistoryActions } from './HistoryActions';
import { HistoryFilters } from './HistoryFilters';
import { HistoryGrid } from './HistoryGrid';
import { Pager } from './Pager';
import { PAGE_SIZE, useHistoryPages } from './useHistoryPages';
import { useRowWindow } from './useRowWindow';

export { FILTER_DEBOUNCE_MS, PAGE_SIZE } from './useHistoryPages';
export { LIVE_BATCH_MS } from './useLiveBlocks';
export { ROW_HEIGHT } from './useRowWindow';

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

export function History({ mode, policy, locked, onAllowImage, onEditCommands, onSettingsChanged, open = null }: Props) {
  const [form, setForm] = useState<FilterForm>(EMPTY_FORM);
  const filter = useMemo(() => toFilter(form), [form]);
  const pages = useHistoryPages(filter);
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const rows = pages.page?.blocks ?? [];
  const rowWindow = useRowWindow(rows, pages.shown, setSelectedId);

  // A notification's entry: selected, on the first page where new blocks are.
  const toFirstPage = pages.first;
  useEffect(() => {
    if (open === null) return;
    setSelectedId(open.id);
    toFirstPage();
  }, [open, toFirstPage]);

  const selected = rows.find((b) => b.id === selectedId) ?? null;

  return (
    <section aria-labelledby="history-h" className="view history">
      <div className="view-head">
        <h2 id="history-h">History of blocked requests</h2>
      </div>
      <AuditBanner mode={mode} policy={policy} locked={locked} onChanged={onSettingsChanged} />
      <HistoryFilters form={form} onChange={setForm} />

      <Pager
        page={pages.page}
        startRow={pages.pageIndex * PAGE_SIZE}
        pageIndex={pages.pageIndex}
        liveNotOnPage={pages.liveNotOnPage}
        onFirst={pages.first}
        onPrevious={pages.previous}
        onNext={pages.next}
      />
      {pages.error && (
        <p role="alert" className="notice notice-error">
          Cannot read the history: {pages.error}
        </p>
      )}

      <div className="history-body">
        <HistoryGrid
          scroller={rowWindow.scroller}
          total={rows.length}
          visible={rowWindow.visible}
          first={rowWindow.first}
          selectedId={selectedId}
          onScroll={rowWindow.onScroll}
          onSelect={setSelectedId}
          onRowKey={rowWindow.onRowKey}
        />

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

      <HistoryActions
        mode={mode}
        filter={pages.appliedFilter}
        onCleared={async () => {
          setSelectedId(null);
          pages.first();
          await pages.query();
        }}
      />
    </section>
  );
}
