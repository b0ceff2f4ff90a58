// The History table's window: only the rows in view (and a few around them) are rendered, and the
// keyboard moves the selection row by row or page by page, scrolling it into view.

import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { StoredBlock } from '../api';

export const ROW_HEIGHT = 30;
/** The sticky column header above the rows (`.grid-head` in styles.css). */
const HEADER_HEIGHT = 28;
const OVERSCAN = 8;
/** Used before layout (and under jsdom, which has none). */
const FALLBACK_VIEWPORT = 480;

const STEP: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };

/** `shown` names the page: a new one starts scrolled to its top. */
export function useRowWindow(rows: readonly StoredBlock[], shown: unknown, onSelect: (id: number) => void) {
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(FALLBACK_VIEWPORT);
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setScrollTop(0);
    if (scroller.current) scroller.current.scrollTop = 0;
  }, [shown]);

  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight || FALLBACK_VIEWPORT));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);

  const select = (index: number) => {
    const b = rows[index];
    if (!b) return;
    onSelect(b.id);
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
    const delta = STEP[e.key];
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

  return {
    scroller,
    /** The index of the first row rendered. */
    first,
    visible: rows.slice(first, last),
    onScroll: (top: number) => setScrollTop(top),
    onRowKey,
  };
}
