// Test harness: a mocked Tauri backend that records every command, React rendering under act(),
// DOM input helpers for controlled React fields, and fixtures in the shell's serde forms.

import { act, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { vi } from 'vitest';
import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { AppStatus, EciSection, FileView, Policy, SettingsView, StoredBlock } from '../api';

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

export async function render(node: ReactNode): Promise<Rendered> {
  const container = document.createElement('div');
  document.body.appendChild(container);
  const root = createRoot(container);
  await act(async () => {
    root.render(node);
  });
  await flush();
  return { container, root };
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

// ---- Fixtures ----

export function fileView(over: Partial<FileView> = {}): FileView {
  return {
    path: '/usr/share/iechor-desktop/admin-settings.json',
    exists: true,
    writable: true,
    text: '{}',
    section: null,
    mount_key: 'iechorSocketMount',
    diagnostics: [],
    etag: 'etag-1',
    ...over,
  };
}

export function policy(over: Partial<Policy> = {}): Policy {
  return {
    version: '0123456789abcdef',
    eciEnabled: true,
    images: [],
    allowDerivedImages: true,
    commandList: { type: 'deny', commands: [] },
    provenance: {
      value: { from: 'default' },
      images: { from: 'default' },
      allowDerivedImages: { from: 'default' },
      commandList: { from: 'default' },
    },
    ...over,
  };
}

export function settingsView(mode: 'admin' | 'user', section: EciSection | null, over: Partial<SettingsView> = {}): SettingsView {
  const file = fileView({ section });
  return {
    mode,
    admin: mode === 'admin' ? file : fileView({ writable: false }),
    user: mode === 'user' ? fileView({ path: '/home/dev/.config/iechor/settings.json', section }) : fileView({ exists: false, etag: '' }),
    effective: policy(),
    locked: false,
    ...over,
  };
}

let blockId = 1000;
export function block(over: Partial<StoredBlock> = {}): StoredBlock {
  const id = over.id ?? ++blockId;
  const unix_ms = over.unix_ms ?? 1_795_897_809_123 + id;
  return {
    id,
    time: new Date(unix_ms).toISOString(),
    unix_ms,
    socket: 'main',
    socket_path: '/run/eci-guard/docker.sock',
    container_id: null,
    container_name: null,
    image: 'iechor.io/library/iechor',
    image_id: 'sha256:' + 'a'.repeat(64),
    kind: 'socket_mount',
    commands: ['run'],
    method: 'POST',
    path: '/v1.41/containers/create',
    reason: 'image is not in the allowed list',
    message: 'enhanced container isolation: iechor socket mount denied for container with image "iechor.io/library/iechor"',
    policy_version: '0123456789abcdef',
    client: null,
    ...over,
  };
}

export function appStatus(over: Partial<AppStatus> = {}): AppStatus {
  return {
    enforcer: {
      listening: ['/run/user/1000/eci-guard/docker.sock'],
      upstream: '/var/run/docker.sock',
      upstream_reachable: true,
      engine_version: '20.10.24+dfsg1',
      engine_api_version: '1.41',
      settings: { admin: '/usr/share/iechor-desktop/admin-settings.json', user: '/home/dev/.config/iechor/settings.json' },
      eci_enabled: true,
      policy_version: '0123456789abcdef',
      policy_provenance: {
        value: { from: 'admin', locked: true },
        images: { from: 'admin', locked: true },
        allowDerivedImages: { from: 'default' },
        commandList: { from: 'admin', locked: true },
      },
      last_reload: {
        at: { secs_since_epoch: 1_795_897_809, nanos_since_epoch: 0 },
        outcome: { outcome: 'applied', version: '0123456789abcdef', warnings: [], user_ignored: false },
      },
      filtered_sockets: [],
      digests: [
        { entry: 'iechor.io/library/busybox:latest', digests: 3, fetched_at: new Date().toISOString(), last_error: null },
        { entry: '127.0.0.1:5000/tools/ci:1', digests: 0, fetched_at: null, last_error: 'connection refused' },
      ],
    },
    enforcer_error: null,
    history: {
      database: '/home/dev/.local/state/eci-guard/history.sqlite',
      healthy: true,
      recorded: 12,
      committed: 12,
      dropped: 0,
      lost: 0,
      pending: 0,
      last_error: null,
    },
    digests: [],
    docker_host: 'unix:///run/user/1000/eci-guard/docker.sock',
    ...over,
  };
}
