// Where the History is in its pages: which rows of how many, new rows on the first page, and the
// buttons between pages.

import type { QueryPage } from '../api';

interface Props {
  page: QueryPage | null;
  /** The number of the first row of this page, from 0. */
  startRow: number;
  pageIndex: number;
  liveNotOnPage: number;
  onFirst: () => void;
  onPrevious: () => void;
  onNext: () => void;
}

export function Pager({ page, startRow, pageIndex, liveNotOnPage, onFirst, onPrevious, onNext }: Props) {
  const rows = page?.blocks.length ?? 0;
  return (
    <div className="pager" aria-label="Pages">
      <span data-testid="history-total" aria-live="polite">
        {page === null
          ? 'Loading…'
          : page.total === 0
            ? 'No blocked requests match.'
            : `Rows ${Math.min(startRow + 1, page.total)}–${startRow + rows} of ${page.total}`}
      </span>
      {liveNotOnPage > 0 && (
        <button type="button" data-testid="history-new" onClick={onFirst}>
          {liveNotOnPage} new — show
        </button>
      )}
      <button type="button" data-testid="history-first" disabled={pageIndex === 0} onClick={onFirst}>
        First
      </button>
      <button type="button" data-testid="history-prev" disabled={pageIndex === 0} onClick={onPrevious}>
        Previous
      </button>
      <button type="button" data-testid="history-next" disabled={!page?.next} onClick={onNext}>
        Next
      </button>
    </div>
  );
}
