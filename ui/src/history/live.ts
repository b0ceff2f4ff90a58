// How live blocks join the page on screen: on the first page they go on top, newest first, each
// once (a block the page already holds is not added again).

import type { QueryPage, StoredBlock } from '../api';

/** The first page with `batch` (oldest first, as it arrived) on top; `page` itself when nothing is new. */
export function withLive(page: QueryPage, batch: readonly StoredBlock[]): QueryPage {
  const seen = new Set(page.blocks.map((b) => b.id));
  // The batch is oldest first; the table is newest first.
  const fresh: StoredBlock[] = [];
  for (const b of batch) {
    if (seen.has(b.id)) continue;
    seen.add(b.id);
    fresh.unshift(b);
  }
  return fresh.length === 0 ? page : { ...page, total: page.total + fresh.length, blocks: [...fresh, ...page.blocks] };
}

/** Another page: the new blocks only count towards the total. */
export const countLive = (page: QueryPage, batch: readonly StoredBlock[]): QueryPage => ({ ...page, total: page.total + batch.length });
