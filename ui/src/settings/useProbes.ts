// The live badge of each image-list row: the syntax at once, then the registry through
// `probe_image`, debounced; a row that changes cancels its probe in flight, and only the answer
// to a row's latest request may set its badge.

import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { parseImageEntry } from '../rules';
import { badgeOf, type Badge } from './model';

export const PROBE_DEBOUNCE_MS = 400;

export interface Row {
  key: number;
  text: string;
}

interface Tracked {
  text: string;
  timer: ReturnType<typeof setTimeout> | null;
  /** The request in flight for `text`, if any. */
  requestId: string | null;
}

let sequence = 0;

export function useProbes(rows: readonly Row[], enabled: boolean): ReadonlyMap<number, Badge> {
  const [badges, setBadges] = useState<ReadonlyMap<number, Badge>>(new Map());
  const tracked = useRef(new Map<number, Tracked>());

  useEffect(() => {
    // Nothing is tracked until enabled, so every row is judged once it is.
    if (!enabled) return;
    const set = (key: number, badge: Badge) =>
      setBadges((prev) => {
        const next = new Map(prev);
        next.set(key, badge);
        return next;
      });
    const stop = (t: Tracked) => {
      if (t.timer !== null) clearTimeout(t.timer);
      t.timer = null;
      if (t.requestId !== null) {
        const id = t.requestId;
        t.requestId = null;
        api.cancelProbe(id).catch(() => undefined);
      }
    };

    const live = new Set(rows.map((r) => r.key));
    for (const [key, t] of tracked.current) {
      if (!live.has(key)) {
        stop(t);
        tracked.current.delete(key);
      }
    }
    const removed: number[] = [];
    setBadges((prev) => {
      for (const key of prev.keys()) if (!live.has(key)) removed.push(key);
      if (removed.length === 0) return prev;
      const next = new Map(prev);
      removed.forEach((k) => next.delete(k));
      return next;
    });

    for (const { key, text } of rows) {
      const old = tracked.current.get(key);
      if (old && old.text === text) continue;
      if (old) stop(old);
      const t: Tracked = { text, timer: null, requestId: null };
      tracked.current.set(key, t);
      const entry = text.trim();
      if (entry === '') {
        set(key, { state: 'empty' });
        continue;
      }
      const parsed = parseImageEntry(entry);
      if (!parsed.ok) {
        set(key, { state: 'invalid', message: parsed.message });
        continue;
      }
      if (parsed.value.kind === 'all') {
        set(key, { state: 'all' });
        continue;
      }
      set(key, { state: 'checking' });
      t.timer = setTimeout(() => {
        t.timer = null;
        const requestId = `probe-${key}-${++sequence}`;
        t.requestId = requestId;
        api.probeImage(entry, requestId).then(
          (report) => {
            if (tracked.current.get(key) !== t || t.requestId !== requestId) return;
            t.requestId = null;
            const badge = badgeOf(report);
            if (badge) set(key, badge);
          },
          (err: unknown) => {
            if (tracked.current.get(key) !== t || t.requestId !== requestId) return;
            t.requestId = null;
            const e = err as { code?: string; message?: string };
            if (e.code === 'cancelled') return;
            set(key, { state: 'error', message: e.message ?? String(err) });
          },
        );
      }, PROBE_DEBOUNCE_MS);
    }
  }, [rows, enabled]);

  useEffect(
    () => () => {
      for (const t of tracked.current.values()) {
        if (t.timer !== null) clearTimeout(t.timer);
        if (t.requestId !== null) api.cancelProbe(t.requestId).catch(() => undefined);
      }
      tracked.current.clear();
    },
    [],
  );

  return badges;
}
