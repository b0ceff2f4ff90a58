// The one module that talks to the Tauri shell: every command and event of
// /work/notes/app-contract.md, typed; components never call `invoke` or `listen` themselves.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { downloadDir, join } from '@tauri-apps/api/path';
import { open, save } from '@tauri-apps/plugin-dialog';

// ---- Types the shell sends and receives ----
//
// Generated from the Rust types by ts-rs (`src-tauri/src/bindings.rs`), checked in under
// `./generated`; `cargo test -p eci-guard-desktop --test ts_types` fails when they are stale.

import type {
  AppError,
  AppStatus,
  AuditCount,
  Diagnostic,
  EciSection,
  EntryForms,
  ErrorCode,
  Explanation,
  ExportFormat,
  Families,
  FileView,
  Filter,
  ImportedSettings,
  Page,
  ProbeReport,
  QueryPage,
  ReloadEvent,
  SettingsDiff,
  SettingsView,
  StoredBlock,
  Target,
  TrayModel,
  WriteRoute,
} from './generated';

export type * from './generated';

/** The rule families that can be put in audit mode on their own (the keys of `Policy.audit`). */
export type AuditFamily = keyof Families;

/**
 * A time from the enforcer: unix milliseconds (what eci-proxy sends: `ReloadEvent.at`, like
 * `StoredBlock.unix_ms`); serde's `SystemTime` form and RFC 3339 strings are read too, as earlier
 * shells sent them.
 */
export type SystemTimeJson = number | { secs_since_epoch: number; nanos_since_epoch: number } | string;

// ---- Errors ----

/** The shell's one error shape; components branch on `code`, never on `message`. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly diagnostics: Diagnostic[];

  constructor(code: ErrorCode, message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.diagnostics = diagnostics;
  }
}

/** Every `ErrorCode`; a `Record` so that tsc fails when the generated type gains one. */
const CODES: Record<ErrorCode, true> = {
  invalid: true,
  conflict: true,
  forbidden: true,
  not_found: true,
  io: true,
  registry: true,
  enforcer: true,
  cancelled: true,
  internal: true,
};

/** Turns whatever `invoke` rejected with into an [`ApiError`]. */
export function toApiError(raw: unknown): ApiError {
  if (raw instanceof ApiError) return raw;
  if (typeof raw === 'object' && raw !== null && 'code' in raw && 'message' in raw) {
    const r = raw as { [K in keyof AppError]?: unknown };
    const code = typeof r.code === 'string' && Object.hasOwn(CODES, r.code) ? (r.code as ErrorCode) : 'internal';
    const diagnostics = Array.isArray(r.diagnostics) ? (r.diagnostics as Diagnostic[]) : [];
    return new ApiError(code, String(r.message), diagnostics);
  }
  if (raw instanceof Error) return new ApiError('internal', raw.message);
  return new ApiError('internal', String(raw));
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toApiError(raw);
  }
}

// ---- Commands ----

/** The settings asked for at boot, while pending: what every view asks for first. */
let preloaded: Promise<SettingsView> | null = null;

/**
 * Asks for the settings before React and the views are loaded (`main.tsx`), so the shell's answer
 * overlaps the bundle's parse and first render. Callers of `loadSettings` share it while it is
 * pending; a `policy://changed` ends the sharing, since the answer may predate the change.
 */
export function preloadSettings(): void {
  const p = call<SettingsView>('load_settings');
  preloaded = p;
  const done = () => {
    if (preloaded === p) preloaded = null;
  };
  p.then(done, done);
}

export const api = {
  loadSettings: (): Promise<SettingsView> => preloaded ?? call('load_settings'),
  validateSection: (target: Target, section: EciSection): Promise<Diagnostic[]> =>
    call('validate_section', { target, section }),
  previewSettings: (target: Target, section: EciSection): Promise<string> =>
    call('preview_settings', { target, section }),
  saveSettings: (target: Target, section: EciSection, etag: string): Promise<FileView> =>
    call('save_settings', { target, section, etag }),
  probeImage: (entry: string, requestId: string): Promise<ProbeReport> =>
    call('probe_image', { entry, requestId }),
  /** Whether a probe with that id was still running. */
  cancelProbe: (requestId: string): Promise<boolean> => call('cancel_probe', { requestId }),
  historyQuery: (filter: Filter, page: Page): Promise<QueryPage> =>
    call('history_query', { filter, page }),
  /** Audited requests at or after `sinceMs` (unix milliseconds): what enforcing would refuse. */
  historyAuditCount: (sinceMs: number): Promise<AuditCount> => call('history_audit_count', { since: sinceMs }),
  historyExport: (filter: Filter, format: ExportFormat, path: string): Promise<number> =>
    call('history_export', { filter, format, path }),
  historyClear: (): Promise<number> => call('history_clear'),
  status: (): Promise<AppStatus> => call('status'),
  dockerHostLine: (): Promise<string> => call('docker_host_line'),
  createDockerContext: (name: string): Promise<string> => call('create_docker_context', { name }),
  /** What the enforcer would do with a docker run/create line under the settings as edited. */
  tryCommand: (target: Target, section: EciSection, line: string): Promise<Explanation> =>
    call('try_command', { target, section, line }),
  /** What saving `section` into `target` would change (the save's own rendering). */
  settingsDiff: (target: Target, section: EciSection): Promise<SettingsDiff> =>
    call('settings_diff', { target, section }),
  /** The entries that would allow `image`: exact tag, any tag, its digest. */
  imageEntryForms: (image: string): Promise<EntryForms> => call('image_entry_forms', { image }),
  /** Stops enforcing for ten minutes; resolves to when it resumes (unix ms). */
  pauseEnforcing: (): Promise<number> => call('pause_enforcing'),
  resumeEnforcing: (): Promise<boolean> => call('resume_enforcing'),
  trayMenu: (): Promise<TrayModel> => call('tray_menu'),
  autostartEnabled: (): Promise<boolean> => call('autostart_enabled'),
  /** Resolves to whether the app now starts at login. */
  setAutostart: (enabled: boolean): Promise<boolean> => call('set_autostart', { enabled }),
  /** A settings file picked in the import dialog, for the editor (nothing is written). */
  importSettings: (path: string): Promise<ImportedSettings> => call('import_settings', { path }),
  /** Copies the target settings file as it is now to `path`; the bytes written. */
  exportSettings: (target: Target, path: string): Promise<number> =>
    call('export_settings', { target, path }),
  /** How an admin save is written for this user: directly, or through polkit (a password). */
  adminWriteRoute: (): Promise<WriteRoute> => call('admin_write_route'),
  /** An admin save through the route above (pkexec asks for an administrator's password). */
  saveAdminSettingsElevated: (section: EciSection, etag: string): Promise<FileView> =>
    call('save_admin_settings_elevated', { section, etag }),
  /** Where exports go by default; "" when the shell cannot tell. */
  async defaultExportPath(format: ExportFormat): Promise<string> {
    try {
      return await join(await downloadDir(), `eci-history.${format}`);
    } catch {
      return '';
    }
  },
};

// ---- Native file dialogs ----

/** What the import and export dialogs offer: settings files are JSON. */
const SETTINGS_FILTERS = [{ name: 'Settings files', extensions: ['json'] }];

async function dialog<T>(show: () => Promise<T>): Promise<T> {
  try {
    return await show();
  } catch (raw) {
    throw toApiError(raw);
  }
}

/**
 * The Tauri dialog plugin's file pickers (the capability grants only open and save). Each
 * resolves to the picked path, or `null` when the user cancels; the path is then read or written
 * by the app's own commands (`importSettings`, `exportSettings`).
 */
export const dialogs = {
  /** One existing settings file to import. */
  pickImport: (): Promise<string | null> =>
    dialog(async () => {
      const picked = await open({ title: 'Import settings', multiple: false, directory: false, filters: SETTINGS_FILTERS });
      return typeof picked === 'string' ? picked : null;
    }),
  /** Where to export a settings file; `defaultPath` is the name (or path) proposed. */
  pickExport: (defaultPath: string): Promise<string | null> =>
    dialog(() => save({ title: 'Export settings', defaultPath, filters: SETTINGS_FILTERS })),
};

// ---- Events ----

export const EVENTS = {
  policyChanged: 'policy://changed',
  historyBlocked: 'history://blocked',
  statusChanged: 'status://changed',
  openBlock: 'app://open-block',
} as const;

export const events = {
  onPolicyChanged: (handler: (event: ReloadEvent) => void): Promise<UnlistenFn> =>
    listen<ReloadEvent>(EVENTS.policyChanged, (e) => {
      preloaded = null;
      handler(e.payload);
    }),
  onBlocked: (handler: (block: StoredBlock) => void): Promise<UnlistenFn> =>
    listen<StoredBlock>(EVENTS.historyBlocked, (e) => handler(e.payload)),
  onStatusChanged: (handler: (status: AppStatus) => void): Promise<UnlistenFn> =>
    listen<AppStatus>(EVENTS.statusChanged, (e) => handler(e.payload)),
  /** A click on a block's notification: show that History entry (its `StoredBlock.id`). */
  onOpenBlock: (handler: (id: number) => void): Promise<UnlistenFn> =>
    listen<number>(EVENTS.openBlock, (e) => handler(e.payload)),
};

export type { UnlistenFn };

/** Milliseconds since the epoch of an enforcer time, in any of its forms; NaN if unreadable. */
export function systemTimeMs(at: SystemTimeJson): number {
  if (typeof at === 'number') return at;
  if (typeof at === 'string') return Date.parse(at);
  if (typeof at === 'object' && at !== null && typeof at.secs_since_epoch === 'number') {
    return at.secs_since_epoch * 1000 + Math.floor((at.nanos_since_epoch ?? 0) / 1e6);
  }
  return Number.NaN;
}
