import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Filter, StoredBlock } from '../api';
import { LIVE_BATCH_MS, useLiveBlocks } from './useLiveBlocks';
import { backend, block, emitEvent, flush, render, rerender } from '../test/harness';

let batches: number[][] = [];
function Probe({ filter }: { filter: Filter }) {
  useLiveBlocks(filter, (batch: StoredBlock[]) => batches.push(batch.map((b) => b.id)));
  return null;
}

beforeEach(() => {
  vi.useFakeTimers();
  batches = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('useLiveBlocks', () => {
  test('blocks arriving together make one batch, oldest first, after LIVE_BATCH_MS', async () => {
    backend({});
    await render(<Probe filter={{}} />);
    await emitEvent('history://blocked', block({ id: 1 }));
    await emitEvent('history://blocked', block({ id: 2 }));
    await flush(LIVE_BATCH_MS - 10);
    expect(batches).toEqual([]);
    await flush(10);
    expect(batches).toEqual([[1, 2]]);
    await emitEvent('history://blocked', block({ id: 3 }));
    await flush(LIVE_BATCH_MS);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  test('the filter in force when the batch is applied decides; a batch with nothing left is not reported', async () => {
    backend({});
    const r = await render(<Probe filter={{}} />);
    await rerender(r, <Probe filter={{ kinds: ['command'] }} />);
    await emitEvent('history://blocked', block({ id: 1, kind: 'socket_mount' }));
    await flush(LIVE_BATCH_MS);
    expect(batches).toEqual([]);
    await emitEvent('history://blocked', block({ id: 2, kind: 'command' }));
    await emitEvent('history://blocked', block({ id: 3, kind: 'socket_mount' }));
    await flush(LIVE_BATCH_MS);
    expect(batches).toEqual([[2]]);
  });
});
