import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Diagnostic, EciSection } from '../api';
import { LIVE_CHECK_MS, useLiveCheck } from './useLiveCheck';
import { backend, deferred, flush, render, rerender } from '../test/harness';

let preview = '';
let reported: Diagnostic[][] = [];
function Probe({ enabled, draft }: { enabled: boolean; draft: EciSection }) {
  preview = useLiveCheck(enabled, 'admin', draft, (d) => reported.push(d));
  return null;
}
const diag = (message: string): Diagnostic => ({ severity: 'error', code: 'wrong-type', pointer: '/enhancedContainerIsolation/value', message });

beforeEach(() => {
  vi.useFakeTimers();
  preview = '';
  reported = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('useLiveCheck', () => {
  test('checks nothing until enabled, then once a moment after the last edit', async () => {
    const be = backend({ validate_section: () => [diag('x')], preview_settings: () => 'text' });
    const r = await render(<Probe enabled={false} draft={{ value: true }} />);
    await flush(LIVE_CHECK_MS * 2);
    expect(be.of('validate_section')).toHaveLength(0);
    await rerender(r, <Probe enabled draft={{ value: true }} />);
    await flush(LIVE_CHECK_MS - 10);
    await rerender(r, <Probe enabled draft={{ value: false }} />);
    await flush(LIVE_CHECK_MS - 10);
    expect(be.of('validate_section')).toHaveLength(0);
    await flush(10);
    expect(be.of('validate_section').map((c) => c.args.section)).toEqual([{ value: false }]);
    expect(be.of('preview_settings')).toHaveLength(1);
    expect(reported).toEqual([[diag('x')]]);
    expect(preview).toBe('text');
  });

  test('answers about an older draft are dropped; a failed preview says why', async () => {
    const slow = deferred<Diagnostic[]>();
    let n = 0;
    backend({
      validate_section: () => (++n === 1 ? slow.promise : [diag('new')]),
      preview_settings: () => Promise.reject({ code: 'invalid', message: 'cannot render' }),
    });
    const r = await render(<Probe enabled draft={{ value: true }} />);
    await flush(LIVE_CHECK_MS);
    await rerender(r, <Probe enabled draft={{ value: false }} />);
    await flush(LIVE_CHECK_MS);
    slow.resolve([diag('old')]);
    await flush();
    expect(reported).toEqual([[diag('new')]]);
    expect(preview).toBe('(no preview: cannot render)');
  });
});
