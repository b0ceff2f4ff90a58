import { describe, expect, test } from 'vitest';
import type { QueryPage } from '../api';
import { countLive, withLive } from './live';
import { block } from '../test/harness';

const page = (ids: number[]): QueryPage => ({ total: 40, blocks: ids.map((id) => block({ id })), next: null });
const ids = (p: QueryPage) => p.blocks.map((b) => b.id);

describe('live blocks on the page', () => {
  test('the first page takes them on top, newest first, each once', () => {
    const p = withLive(page([3, 2, 1]), [block({ id: 4 }), block({ id: 2 }), block({ id: 5 }), block({ id: 4 })]);
    expect(ids(p)).toEqual([5, 4, 3, 2, 1]);
    expect(p.total).toBe(42);
  });

  test('a batch the page already holds leaves the page as it is', () => {
    const before = page([2, 1]);
    expect(withLive(before, [block({ id: 1 })])).toBe(before);
  });

  test('another page only counts them', () => {
    const p = countLive(page([9]), [block({ id: 10 }), block({ id: 11 })]);
    expect(ids(p)).toEqual([9]);
    expect(p.total).toBe(42);
  });
});
