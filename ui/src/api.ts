// The one module that talks to the Tauri shell: every command and event of
// /work/notes/app-contract.md, typed; components never call `invoke` or `listen` themselves.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { downloadDir, join } from '@tauri-apps/api/path';

// ---- Settings (eci_policy serde forms) ----

export type Severity = 'error' | 'warning';

export type DiagnosticCode =
  | 'syntax'
  | 'duplicate-key'
  | 'wrong-type'
  | 'version'
  | 'missing-version'
  | 'alias-clash'
  | 'unknown-key'
  | 'key-case'
  | 'list-type'
  | 'image-reference'
  | 'duplicate-image'
  | 'wildcard-beside-entries'
  | 'unsupported-command'
  | 'client-only-command'
  | 'unknown-command'
  | 'bad-wildcard'
  | 'duplicate-command';

export interface Diagnostic {
  severity: Severity;
  code: DiagnosticCode;
  /** JSON pointer in the file's own spelling; "" is the whole document. */
  pointer: string;
  message: string;
  line?: number;
  column?: number;
}

export type ListKind = 'allow' | 'deny';

export interface ImageListSettings {
  images?: string[];
  allowDerivedImages?: boolean;
}

export interface CommandListSettings {
  type?: ListKind;
  commands?: string[];
}

export interface SocketMount {
  imageList?: ImageListSettings;
  commandList?: CommandListSettings;
}

/** The rule families that can be put in audit mode on their own. */
export type AuditFamily = 'socketMounts' | 'commands' | 'hostAccess';

/** `eciGuard.audit` as written: `true` = audit (forward and record), `false` = enforce. */
export type AuditSettings = Partial<Record<AuditFamily, boolean>>;

/** `enhancedContainerIsolation` as written; an absent field is not set by this file. */
export interface EciSection {
  locked?: boolean;
  value?: boolean;
  iechorSocketMount?: SocketMount;
  /**
   * eci-guard's extension: images that may be given host privileges through the main socket, and
   * the rule families in audit mode.
   */
  eciGuard?: { hostAccess?: { images?: string[] }; audit?: AuditSettings };
}

export type MountKey = 'iechorSocketMount' | 'dockerSocketMount';

export type Source = { from: 'admin'; locked: boolean } | { from: 'user' } | { from: 'default' };

export interface Provenance {
  value: Source;
  images: Source;
  allowDerivedImages: Source;
  commandList: Source;
}

/** The effective policy (`eci_policy::settings::Policy`), entries in canonical spelling. */
export interface Policy {
  version: string;
  eciEnabled: boolean;
  images: string[];
  allowDerivedImages: boolean;
  commandList: { type: ListKind; commands: string[] };
  /** eci-guard's extension: images that may be given host privileges through the main socket. */
  hostAccessImages: string[];
  /** Rule families in audit mode: their refusals are forwarded and recorded as audited. */
  audit: Record<AuditFamily, boolean>;
  provenance: Provenance;
}

/** `eci-guard explain`'s answer (eci-proxy's `Explanation`). */
export interface Explanation {
  method: string;
  target: string;
  socket: 'main' | 'filtered';
  eci_enabled: boolean;
  policy_version: string;
  route: string | null;
  commands: string[];
  mounts: { pointer: string; kind: string; source: string; target: string; exposes: string | null }[];
  image: { name: string; id: string; repo_digests: string[] } | null;
  entries: { entry: string; finding: string }[];
  allowed_by: string | null;
  outcome: 'allow' | 'allow-filtered' | 'deny' | 'cannot-tell';
  status: number | null;
  message: string | null;
  kind: BlockKind | null;
  reason: string | null;
}

export interface FileView {
  path: string;
  exists: boolean;
  writable: boolean;
  text: string | null;
  section: EciSection | null;
  mount_key: MountKey;
  diagnostics: Diagnostic[];
  /** "" when the file is absent. */
  etag: string;
}

export type Mode = 'admin' | 'user';
export type Target = 'admin' | 'user';

export interface SettingsView {
  mode: Mode;
  admin: FileView;
  user: FileView;
  effective: Policy;
  locked: boolean;
}

// ---- Registry probe (eci_registry serde forms) ----

export type FailureKind =
  | 'invalid-reference'
  | 'unreachable'
  | 'timeout'
  | 'tls'
  | 'not-found'
  | 'auth-required'
  | 'registry'
  | 'pending'
  | 'cancelled';

export interface PlatformImage {
  platform?: string;
  manifest: string;
  config: string;
}

interface ProbeBase {
  input: string;
  normalized?: string;
  endpoint?: string;
}

export type ProbeReport =
  | (ProbeBase & { status: 'all-images' })
  | (ProbeBase & { status: 'found'; digest: string; media_type: string; images: PlatformImage[] })
  | (ProbeBase & { status: 'any-tag'; tags: number })
  | (ProbeBase & { status: 'any-repository'; matched: string[] })
  | (ProbeBase & { status: 'failed'; kind: FailureKind; message: string });

// ---- History (eci_history serde forms) ----

export type BlockKind = 'socket_mount' | 'command' | 'host_access' | 'invalid_request';
export type SocketKind = 'main' | 'filtered';
/** Refused (`blocked`), or forwarded in audit mode because the policy would refuse it (`audited`). */
export type Outcome = 'blocked' | 'audited';

export interface Filter {
  kinds?: BlockKind[];
  /** Both when absent. */
  outcome?: Outcome;
  socket?: SocketKind;
  image?: string;
  command?: string;
  /** RFC 3339. */
  since?: string;
  until?: string;
  text?: string;
}

export interface Cursor {
  unix_ms: number;
  id: number;
}

export interface Page {
  limit: number;
  offset: number;
  after: Cursor | null;
}

export interface ClientInfo {
  pid: number | null;
  uid: number | null;
  gid: number | null;
  user_agent: string | null;
}

export interface StoredBlock {
  id: number;
  /** RFC 3339 with milliseconds. */
  time: string;
  unix_ms: number;
  socket: SocketKind;
  socket_path: string;
  container_id: string | null;
  container_name: string | null;
  image: string | null;
  image_id: string | null;
  kind: BlockKind;
  /** Forwarded in audit mode: the policy would have refused it with `message`. */
  audited: boolean;
  commands: string[];
  method: string;
  path: string;
  reason: string;
  message: string;
  policy_version: string;
  client: ClientInfo | null;
}

/** Requests forwarded in audit mode since a time, by kind (eci-history's `AuditCount`). */
export interface AuditCount {
  since: { time: string; unix_ms: number };
  total: number;
  by_kind: { kind: BlockKind; count: number }[];
}

export interface QueryPage {
  total: number;
  blocks: StoredBlock[];
  next: Cursor | null;
}

export interface HistoryStatus {
  database: string;
  healthy: boolean;
  recorded: number;
  committed: number;
  dropped: number;
  lost: number;
  pending: number;
  last_error: { time: string; unix_ms: number; message: string } | null;
}

// ---- Enforcer (eci_proxy serde forms) ----

export interface FileDiagnostics {
  origin: 'admin' | 'user';
  diagnostics: Diagnostic[];
}

export type ReloadOutcome =
  | { outcome: 'applied'; version: string; warnings: FileDiagnostics[]; user_ignored: boolean }
  | { outcome: 'rejected'; kept_version: string; errors: FileDiagnostics[] }
  | { outcome: 'unreadable'; kept_version: string; error: string };

/**
 * A time from the enforcer: unix milliseconds (what eci-proxy sends, like `StoredBlock.unix_ms`);
 * serde's `SystemTime` form and RFC 3339 strings are read too, as earlier shells sent them.
 */
export type SystemTimeJson = number | { secs_since_epoch: number; nanos_since_epoch: number } | string;

export interface ReloadEvent {
  at: SystemTimeJson;
  outcome: ReloadOutcome;
}

export interface EntryFreshness {
  entry: string;
  digests: number;
  fetched_at: string | null;
  last_error: string | null;
}

export interface EnforcerStatus {
  listening: string[];
  upstream: string;
  upstream_reachable: boolean;
  engine_version: string | null;
  engine_api_version: string | null;
  settings: { admin: string | null; user: string | null };
  eci_enabled: boolean;
  policy_version: string;
  /** While enforcing is paused: when it resumes, unix ms. */
  paused_until_ms: number | null;
  policy_provenance: Provenance;
  last_reload: ReloadEvent | null;
  filtered_sockets: [string, string | null][];
  digests: EntryFreshness[];
  /** Protected sockets and directories found on this machine. */
  protected: { path: string; kind: string }[];
}

export interface AppStatus {
  enforcer: EnforcerStatus | null;
  enforcer_error: string | null;
  history: HistoryStatus;
  digests: EntryFreshness[];
  docker_host: string;
}

// ---- Allow this image, settings diffs, tray (src-tauri serde forms) ----

/** The image-list entries that would allow one image (`eci_policy::entry_forms::EntryForms`). */
export interface EntryForms {
  exact: string;
  any_tag: string;
  /** `null` when the image is on no registry the engine knows of. */
  digest: string | null;
}

export interface DiffLine {
  op: 'equal' | 'insert' | 'delete';
  text: string;
}

/** What a save would change in a settings file; save with its `etag` to write exactly that. */
export interface SettingsDiff {
  before: string;
  after: string;
  lines: DiffLine[];
  etag: string;
}

export type TrayState =
  | 'enforcing'
  | { paused: { until_ms: number } }
  | 'eci_off'
  | 'settings_rejected'
  | 'engine_unreachable';

export interface TrayModel {
  state: TrayState;
  title: string;
  items: { id: string; label: string; enabled: boolean }[];
}

// ---- Errors ----

export type ErrorCode =
  | 'invalid'
  | 'conflict'
  | 'forbidden'
  | 'not_found'
  | 'io'
  | 'registry'
  | 'enforcer'
  | 'cancelled'
  | 'internal';

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

const CODES: readonly string[] = [
  'invalid',
  'conflict',
  'forbidden',
  'not_found',
  'io',
  'registry',
  'enforcer',
  'cancelled',
  'internal',
];

/** Turns whatever `invoke` rejected with into an [`ApiError`]. */
export function toApiError(raw: unknown): ApiError {
  if (raw instanceof ApiError) return raw;
  if (typeof raw === 'object' && raw !== null && 'code' in raw && 'message' in raw) {
    const r = raw as { code: unknown; message: unknown; diagnostics?: unknown };
    const code = typeof r.code === 'string' && CODES.includes(r.code) ? (r.code as ErrorCode) : 'internal';
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

/** A settings file read for import: its ECI section (if usable) and its diagnostics. */
export interface ImportedSettings {
  path: string;
  section: EciSection | null;
  diagnostics: Diagnostic[];
}

export type WriteRoute = 'direct' | 'polkit';

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
  historyExport: (filter: Filter, format: 'json' | 'csv', path: string): Promise<number> =>
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
  async defaultExportPath(format: 'json' | 'csv'): Promise<string> {
    try {
      return await join(await downloadDir(), `eci-history.${format}`);
    } catch {
      return '';
    }
  },
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
  /** A click on a block's notification: show that History entry. */
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
