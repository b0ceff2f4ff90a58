// Blocks as the enforcer records them (`history://blocked`), batched so that a flood of blocks
// costs one render per LIVE_BATCH_MS, not one each, and kept to those the filter would return.

import { useEffect, useRef } from 'react';
import { events, type Filter, type StoredBlock } from '../api';
import { subscription } from '../subscription';
import { matches } from './filter';

export const LIVE_BATCH_MS = 100;

/** Calls `onBatch` (the latest one given) with each non-empty batch, oldest first. */
export function useLiveBlocks(filter: Filter, onBatch: (batch: StoredBlock[]) => void) {
  const latest = useRef({ filter, onBatch });
  latest.current = { filter, onBatch };
  useEffect(() => {
    let queued: StoredBlock[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const apply = () => {
      timer = null;
      const batch = queued.filter((b) => matches(b, latest.current.filter));
      queued = [];
      if (batch.length > 0) latest.current.onBatch(batch);
    };
    const stop = subscription(
      events.onBlocked((block) => {
        queued.push(block);
        if (timer === null) timer = setTimeout(apply, LIVE_BATCH_MS);
      }),
    );
    return () => {
      if (timer !== null) clearTimeout(timer);
      stop();
    };
  }, []);
}
