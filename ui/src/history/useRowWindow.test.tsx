import { act } from 'react';
import { describe, expect, test } from 'vitest';
import type { StoredBlock } from '../api';
import { ROW_HEIGHT, useRowWindow } from './useRowWindow';
import { block, key, render, rerender } from '../test/harness';

const rows: StoredBlock[] = Array.from({ length: 1000 }, (_, i) => block({ id: i + 1 }));

function setup() {
  const selected: number[] = [];
  let win!: ReturnType<typeof useRowWindow>;
  function Probe({ shown }: { shown: unknown }) {
    win = useRowWindow(rows, shown, (id) => selected.push(id));
    const { scroller, visible, first, onRowKey } = win;
    return (
      <div ref={scroller}>
        {visible.map((b, i) => (
          <div key={b.id} data-row-id={b.id} tabIndex={-1} onKeyDown={(e) => onRowKey(e, first + i)} />
        ))}
      </div>
    );
  }
  return { selected, win: () => win, Probe };
}

describe('useRowWindow', () => {
  test('renders the rows in view and a few around them, following the scroll', async () => {
    const { win, Probe } = setup();
    const r = await render(<Probe shown="page 1" />);
    expect(win().first).toBe(0);
    expect(win().visible.length).toBeLessThan(40);
    await act(async () => win().onScroll(300 * ROW_HEIGHT));
    expect(win().first).toBeGreaterThan(280);
    expect(win().first).toBeLessThanOrEqual(300);
    expect(win().visible[300 - win().first]!.id).toBe(301);
    // Another page starts at its top.
    await rerender(r, <Probe shown="page 2" />);
    expect(win().first).toBe(0);
  });

  test('keys move the selection by a row, by ten, or to either end, never past them', async () => {
    const { selected, Probe } = setup();
    const r = await render(<Probe shown={1} />);
    const row = (id: number) => r.container.querySelector<HTMLElement>(`[data-row-id="${id}"]`)!;
    await key(row(1), 'ArrowDown');
    await key(row(1), 'PageDown');
    await key(row(1), 'ArrowUp');
    await key(row(2), 'Enter');
    await key(row(2), 'End');
    expect(selected).toEqual([2, 11, 1, 2, 1000]);
    // The last row is scrolled into view and rendered.
    expect(row(1000)).not.toBeNull();
    await key(row(1000), 'ArrowDown');
    expect(selected.at(-1)).toBe(1000);
  });
});
