// The table of blocked requests: a grid of divs with only the rows in view rendered, each row
// selectable by click or keyboard.

import type { KeyboardEvent, RefObject } from 'react';
import type { StoredBlock } from '../api';
import { formatTime, KIND_LABEL } from './format';
import { OutcomeBadge } from './OutcomeBadge';
import { ROW_HEIGHT } from './useRowWindow';

interface Props {
  scroller: RefObject<HTMLDivElement | null>;
  /** How many rows the page has. */
  total: number;
  /** The rows rendered, and the index of the first of them. */
  visible: readonly StoredBlock[];
  first: number;
  selectedId: number | null;
  onScroll: (top: number) => void;
  onSelect: (id: number) => void;
  onRowKey: (e: KeyboardEvent, index: number) => void;
}

export function HistoryGrid({ scroller, total, visible, first, selectedId, onScroll, onSelect, onRowKey }: Props) {
  return (
    <div className="table-scroll" ref={scroller} data-testid="history-scroll" onScroll={(e) => onScroll(e.currentTarget.scrollTop)}>
      <div role="grid" className="history-grid" aria-label="Blocked requests" aria-rowcount={total + 1}>
        <div role="row" className="grid-row grid-head" aria-rowindex={1}>
          <div role="columnheader">Time</div>
          <div role="columnheader">Kind</div>
          <div role="columnheader">Image</div>
          <div role="columnheader">Commands</div>
          <div role="columnheader">Reason</div>
        </div>
        {/* Rows are divs, not <tr>: WebDriver cannot click a table row. Only the rows in view
            exist; the group's height keeps the scroll bar true to the whole page. */}
        <div role="rowgroup" className="grid-body" style={{ height: total * ROW_HEIGHT }}>
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
                onClick={() => onSelect(b.id)}
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
  );
}
