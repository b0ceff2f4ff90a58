// Pure helpers of the settings editor: edits of an ECI section that keep what the file did not set
// unset, where a diagnostic's JSON pointer belongs on the form, and the badge of a probe answer.

import type { Diagnostic, EciSection, ListKind, Policy, ProbeReport, SocketMount } from '../api';

/** A deep copy holding only the keys `EciSection` knows (the shell refuses unknown ones). */
export function cleanSection(s: EciSection | null | undefined): EciSection {
  const out: EciSection = {};
  if (!s) return out;
  if (s.locked !== undefined) out.locked = s.locked;
  if (s.value !== undefined) out.value = s.value;
  const m = s.iechorSocketMount;
  if (m) {
    const mount: SocketMount = {};
    if (m.imageList) {
      mount.imageList = {};
      if (m.imageList.images !== undefined) mount.imageList.images = [...m.imageList.images];
      if (m.imageList.allowDerivedImages !== undefined) mount.imageList.allowDerivedImages = m.imageList.allowDerivedImages;
    }
    if (m.commandList) {
      mount.commandList = {};
      if (m.commandList.type !== undefined) mount.commandList.type = m.commandList.type;
      if (m.commandList.commands !== undefined) mount.commandList.commands = [...m.commandList.commands];
    }
    out.iechorSocketMount = mount;
  }
  if (s.eciGuard) {
    out.eciGuard = {};
    const host = s.eciGuard.hostAccess;
    if (host) {
      out.eciGuard.hostAccess = {};
      if (host.images !== undefined) out.eciGuard.hostAccess.images = [...host.images];
    }
    // Kept as written, so that a save of another field leaves audit mode as it was.
    const audit = s.eciGuard.audit;
    if (audit) out.eciGuard.audit = { ...audit };
  }
  return out;
}

export const images = (s: EciSection): string[] | undefined => s.iechorSocketMount?.imageList?.images;
export const derived = (s: EciSection): boolean | undefined => s.iechorSocketMount?.imageList?.allowDerivedImages;
export const commandType = (s: EciSection): ListKind | undefined => s.iechorSocketMount?.commandList?.type;
export const commands = (s: EciSection): string[] | undefined => s.iechorSocketMount?.commandList?.commands;

export const hostAccess = (s: EciSection): string[] | undefined => s.eciGuard?.hostAccess?.images;

export function setHostAccess(s: EciSection, list: string[]): EciSection {
  const out = cleanSection(s);
  out.eciGuard = { ...(out.eciGuard ?? {}), hostAccess: { images: list } };
  return out;
}

export function setFlag(s: EciSection, key: 'locked' | 'value', v: boolean): EciSection {
  return { ...cleanSection(s), [key]: v };
}

export function setImages(s: EciSection, list: string[]): EciSection {
  const out = cleanSection(s);
  const mount = out.iechorSocketMount ?? {};
  mount.imageList = { ...(mount.imageList ?? {}), images: list };
  out.iechorSocketMount = mount;
  return out;
}

export function setDerived(s: EciSection, v: boolean): EciSection {
  const out = cleanSection(s);
  const mount = out.iechorSocketMount ?? {};
  mount.imageList = { ...(mount.imageList ?? {}), allowDerivedImages: v };
  out.iechorSocketMount = mount;
  return out;
}

export function setCommandType(s: EciSection, v: ListKind): EciSection {
  const out = cleanSection(s);
  const mount = out.iechorSocketMount ?? {};
  mount.commandList = { ...(mount.commandList ?? {}), type: v };
  out.iechorSocketMount = mount;
  return out;
}

export function setCommands(s: EciSection, list: string[]): EciSection {
  const out = cleanSection(s);
  const mount = out.iechorSocketMount ?? {};
  mount.commandList = { ...(mount.commandList ?? {}), commands: list };
  out.iechorSocketMount = mount;
  return out;
}

/** A place on the form: `value`, `locked`, `images`, `images/3`, `derived`, `commandType`, `commands`, `commands/0`, `host/0`, `audit`, `general`. */
export type FieldKey = string;

const ECI = '/enhancedContainerIsolation';

/** Which form field a diagnostic's pointer points at (either spelling of the mount key). */
export function fieldOf(pointer: string): FieldKey {
  const p = pointer.replace(`${ECI}/dockerSocketMount`, `${ECI}/iechorSocketMount`);
  if (p === `${ECI}/value`) return 'value';
  if (p === `${ECI}/locked`) return 'locked';
  const mount = `${ECI}/iechorSocketMount`;
  const img = `${mount}/imageList/images`;
  if (p === img) return 'images';
  if (p.startsWith(`${img}/`)) return `images/${p.slice(img.length + 1)}`;
  if (p === `${mount}/imageList/allowDerivedImages`) return 'derived';
  if (p === `${mount}/commandList/type`) return 'commandType';
  const cmd = `${mount}/commandList/commands`;
  if (p === cmd) return 'commands';
  if (p.startsWith(`${cmd}/`)) return `commands/${p.slice(cmd.length + 1)}`;
  if (p === `${ECI}/eciGuard/audit` || p.startsWith(`${ECI}/eciGuard/audit/`)) return 'audit';
  const host = `${ECI}/eciGuard/hostAccess/images`;
  if (p === host) return 'host';
  if (p.startsWith(`${host}/`)) return `host/${p.slice(host.length + 1)}`;
  return 'general';
}

export function byField(diagnostics: readonly Diagnostic[]): Map<FieldKey, Diagnostic[]> {
  const map = new Map<FieldKey, Diagnostic[]>();
  for (const d of diagnostics) {
    const key = fieldOf(d.pointer);
    const list = map.get(key);
    if (list) list.push(d);
    else map.set(key, [d]);
  }
  return map;
}

/** What an image entry's badge shows. */
export type Badge =
  | { state: 'empty' }
  | { state: 'invalid'; message: string }
  | { state: 'checking' }
  | { state: 'all' }
  | { state: 'found'; digest: string; platforms: string[] }
  | { state: 'any-tag'; tags: number }
  | { state: 'any-repository'; matched: string[] }
  | { state: 'not-found'; message: string }
  | { state: 'auth'; message: string }
  | { state: 'unreachable'; message: string }
  | { state: 'error'; message: string };

/** The badge of a probe answer; `null` for a cancelled probe, whose answer must not show. */
export function badgeOf(report: ProbeReport): Badge | null {
  switch (report.status) {
    case 'all-images':
      return { state: 'all' };
    case 'found':
      return {
        state: 'found',
        digest: report.digest,
        platforms: report.images.map((i) => i.platform).filter((p): p is string => p !== undefined),
      };
    case 'any-tag':
      return { state: 'any-tag', tags: report.tags };
    case 'any-repository':
      return { state: 'any-repository', matched: report.matched };
    case 'failed':
      switch (report.kind) {
        case 'cancelled':
          return null;
        case 'not-found':
          return { state: 'not-found', message: report.message };
        case 'auth-required':
          return { state: 'auth', message: report.message };
        case 'invalid-reference':
          return { state: 'invalid', message: report.message };
        case 'unreachable':
        case 'timeout':
        case 'tls':
          return { state: 'unreachable', message: report.message };
        case 'registry':
        case 'pending':
          return { state: 'error', message: report.message };
      }
  }
}

/** `sha256:0123456789ab`: enough to tell digests apart at a glance. */
export function shortDigest(d: string): string {
  const colon = d.indexOf(':');
  return colon < 0 ? d.slice(0, 12) : d.slice(0, colon + 13);
}

export function badgeText(b: Badge): string {
  switch (b.state) {
    case 'empty':
      return 'empty';
    case 'invalid':
      return 'invalid';
    case 'checking':
      return 'checking…';
    case 'all':
      return 'all images';
    case 'found':
      return `found ${shortDigest(b.digest)}`;
    case 'any-tag':
      return `any tag: ${b.tags} tag${b.tags === 1 ? '' : 's'}`;
    case 'any-repository':
      return b.matched.length === 0
        ? 'any repository: none verified yet'
        : `any repository: ${b.matched.length} matched (${b.matched.join(', ')})`;
    case 'not-found':
      return 'not found';
    case 'auth':
      return 'auth required';
    case 'unreachable':
      return 'unreachable';
    case 'error':
      return 'registry error';
  }
}

/** The section that would state the effective policy, for showing a locked policy read-only. */
export function policySection(p: Policy): EciSection {
  return {
    locked: true,
    value: p.eciEnabled,
    iechorSocketMount: {
      imageList: { images: [...p.images], allowDerivedImages: p.allowDerivedImages },
      commandList: { type: p.commandList.type, commands: [...p.commandList.commands] },
    },
    ...(p.hostAccessImages.length > 0 || auditOn(p)
      ? {
          eciGuard: {
            ...(p.hostAccessImages.length > 0 ? { hostAccess: { images: [...p.hostAccessImages] } } : {}),
            ...(auditOn(p) ? { audit: { ...p.audit } } : {}),
          },
        }
      : {}),
  };
}

/** Any family in audit mode (a shell that does not report audit mode has none). */
const auditOn = (p: Policy): boolean => p.audit !== undefined && Object.values(p.audit).some(Boolean);
