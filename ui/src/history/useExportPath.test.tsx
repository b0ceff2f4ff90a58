import { act } from 'react';
import { describe, expect, test } from 'vitest';
import type { ExportFormat } from '../api';
import { useExportPath } from './useExportPath';
import { backend, flush, render, rerender } from '../test/harness';

let exportPath!: ReturnType<typeof useExportPath>;
function Probe({ format }: { format: ExportFormat }) {
  exportPath = useExportPath(format);
  return null;
}

describe('useExportPath', () => {
  test('follows the format with the default path until the user types one', async () => {
    backend({});
    const r = await render(<Probe format="csv" />);
    expect(exportPath.path).toMatch(/\/home\/dev\/Downloads\/.*\.csv$/);
    await rerender(r, <Probe format="json" />);
    await flush();
    expect(exportPath.path).toMatch(/\.json$/);
    await act(async () => exportPath.choose('/home/dev/mine.csv'));
    await rerender(r, <Probe format="csv" />);
    await flush();
    expect(exportPath.path).toBe('/home/dev/mine.csv');
  });
});
