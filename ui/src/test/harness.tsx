// Test harness: a mocked Tauri backend that records every command, React rendering under act(),
// and DOM input helpers for controlled React fields.

import { act, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, vi } from 'vitest';
import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { Diagnostic, SettingsView } from '../api';

export interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

export type Handler = (args: Record<string, unknown>) => unknown;

/** Installs the mock backend; commands without a handler reject with `internal`. */
export function backend(handlers: Record<string, Handler>) {
  const calls: Call[] = [];
  mockWindows('main');
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      if (cmd === 'plugin:path|resolve_directory') return '/home/dev/Downloads';
      if (cmd === 'plugin:path|join') return (args.paths as string[]).join('/');
      calls.push({ cmd, args });
      const h = handlers[cmd];
      if (!h) return Promise.reject({ code: 'internal', message: `no mock for ${cmd}` });
      return h(args);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    of: (cmd: string) => calls.filter((c) => c.cmd === cmd),
    last: (cmd: string) => calls.filter((c) => c.cmd === cmd).at(-1),
  };
}

export async function emitEvent(event: string, payload: unknown) {
  await act(async () => {
    await emit(event, payload);
  });
}

export interface Rendered {
  container: HTMLElement;
  root: Root;
}

const mounted: Root[] = [];

/** Unmounts what the test rendered, so a view still loading cannot call the next test's mocks. */
export async function unmountAll() {
  const roots = mounted.splice(0);
  await act(async () => {
    for (const root of roots) root.unmount();
  });
}

export async function render(node: ReactNode): Promise<Rendered> {
  const container = document.createElement('div');
  document.body.appendChild(container);
  const root = createRoot(container);
  mounted.push(root);
  await act(async () => {
    root.render(node);
  });
  await flush();
  return { container, root };
}

/** Renders `node` in place of what `render` rendered (new props for the same components), under act(). */
export async function rerender({ root }: Rendered, node: ReactNode) {
  await act(async () => {
    root.render(node);
  });
}

/** Lets pending promises and (fake or real) timers up to `ms` run, under act(). */
export async function flush(ms = 0) {
  await act(async () => {
    if (vi.isFakeTimers()) await vi.advanceTimersByTimeAsync(ms);
    else await new Promise((r) => setTimeout(r, ms));
  });
  await act(async () => {
    if (vi.isFakeTimers()) await vi.advanceTimersByTimeAsync(0);
    else await Promise.resolve();
  });
}

export const $ = <T extends HTMLElement = HTMLElement>(root: ParentNode, testId: string): T => {
  const el = root.querySelector<T>(`[data-testid="${testId}"]`);
  if (!el) throw new Error(`no element with data-testid=${testId}`);
  return el;
};
export const $$ = <T extends HTMLElement = HTMLElement>(root: ParentNode, testId: string): T[] =>
  Array.from(root.querySelectorAll<T>(`[data-testid="${testId}"]`));

/** Sets a controlled input's or select's value the way a user's edit does. */
export async function setValue(el: HTMLInputElement | HTMLSelectElement, value: string) {
  await act(async () => {
    const proto = el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
    el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
  });
}

export async function click(el: HTMLElement) {
  await act(async () => {
    el.click();
  });
}

export async function key(el: HTMLElement, k: string) {
  await act(async () => {
    el.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true }));
  });
}

/** Lets promises, timers and lazily loaded views run until `check` holds (at most `ms`). */
export async function until(check: () => boolean, what: string, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await act(async () => {
      await new Promise((r) => setTimeout(r, 10));
    });
  }
}

/** A promise whose settling the test controls. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export * from './fixtures';

/** Fake timers for every test of the calling file, real ones again after each. */
export function fakeTimersPerTest() {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** A backend for the Settings view on `view`: no diagnostics, a preview of the section, every
 *  probe found; `extra` adds or replaces handlers. */
export function settingsBackend(view: SettingsView, extra: Record<string, Handler> = {}) {
  return backend({
    load_settings: () => view,
    validate_section: () => [] as Diagnostic[],
    preview_settings: (a) => JSON.stringify({ enhancedContainerIsolation: a.section }, null, 2),
    probe_image: (a) => ({ input: a.entry, status: 'any-tag', tags: 1 }),
    cancel_probe: () => true,
    ...extra,
  });
}
