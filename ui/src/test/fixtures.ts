// Fixtures in the shell's serde forms, shared by the tests.

import type { AppStatus, EciSection, FileView, Policy, SettingsView, StoredBlock } from '../api';

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
    hostAccessImages: [],
    audit: { socketMounts: false, commands: false, hostAccess: false },
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
    audited: false,
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
      paused_until_ms: null,
      policy_provenance: {
        value: { from: 'admin', locked: true },
        images: { from: 'admin', locked: true },
        allowDerivedImages: { from: 'default' },
        commandList: { from: 'admin', locked: true },
      },
      last_reload: {
        // What eci-proxy sends: unix milliseconds.
        at: 1_795_897_809_000,
        outcome: { outcome: 'applied', version: '0123456789abcdef', warnings: [], user_ignored: false },
      },
      filtered_sockets: [],
      protected: [
        { path: '/run/docker.sock', kind: 'engine socket' },
        { path: '/run/containerd/containerd.sock', kind: 'host control socket' },
      ],
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
    attached_to: null,
    ...over,
  };
}
