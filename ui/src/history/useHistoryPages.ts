// The History's pages: the filter applied a moment after typing stops, the cursors of the pages
// before the current one, the page the shell returned for them, and live blocks joining it.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, toApiError, type Cursor, type Filter, type QueryPage } from '../api';
import { countLive, withLive } from './live';
import { useLiveBlocks } from './useLiveBlocks';

export const PAGE_SIZE = 500;
export const FILTER_DEBOUNCE_MS = 250;

export function useHistoryPages(filter: Filter) {
  const [appliedFilter, setAppliedFilter] = useState(filter);
  /** Cursors of the pages before the current one; the current page starts after the last. */
  const [cursors, setCursors] = useState<(Cursor | null)[]>([null]);
  const [page, setPage] = useState<QueryPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [liveNotOnPage, setLiveNotOnPage] = useState(0);
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

  // On the first page live blocks appear at the top; elsewhere they are counted.
  useLiveBlocks(appliedFilter, (batch) => {
    if (pageIndex === 0) {
      setPage((p) => (p === null ? p : withLive(p, batch)));
    } else {
      setPage((p) => (p === null ? p : countLive(p, batch)));
      setLiveNotOnPage((n) => n + batch.length);
    }
  });

  /** The first page, where live blocks show (left as it is when already there). */
  const first = useCallback(() => setCursors((c) => (c.length === 1 && c[0] === null ? c : [null])), []);

  /** Which page is shown: a new one is shown from its top. */
  const shown = useMemo(() => ({ filter: appliedFilter, after }), [appliedFilter, after]);

  return {
    appliedFilter,
    page,
    error,
    pageIndex,
    liveNotOnPage,
    shown,
    query,
    first,
    previous: () => setCursors((c) => c.slice(0, -1)),
    next: () => page?.next && setCursors((c) => [...c, page.next]),
  };
}
