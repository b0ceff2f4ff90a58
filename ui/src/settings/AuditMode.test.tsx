import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Diagnostic, EciSection, SettingsView } from '../api';
import { Settings } from './Settings';
import { cleanSection, fieldOf, policySection } from './model';
import { $, backend, click, fileView, flush, policy, render, settingsView, type Handler } from '../test/harness';

const section = (over: EciSection = {}): EciSection => ({
  locked: false,
  value: true,
  iechorSocketMount: { imageList: { images: ['busybox'] } },
  ...over,
});

function settingsBackend(view: SettingsView, extra: Record<string, Handler> = {}) {
  return backend({
    load_settings: () => view,
    validate_section: () => [] as Diagnostic[],
    preview_settings: (a) => JSON.stringify({ enhancedContainerIsolation: a.section }, null, 2),
    probe_image: (a) => ({ input: a.entry as string, status: 'all-images' }),
    cancel_probe: () => true,
    ...extra,
  });
}

const mount = () => render(<Settings pendingImage={null} onPendingImageTaken={() => undefined} onChanged={() => undefined} />);
const box = (c: HTMLElement, id: string) => $<HTMLInputElement>(c, id);
const saved = (be: ReturnType<typeof backend>) => be.last('save_settings')!.args.section as EciSection;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Audit mode in Settings', () => {
  test('the admin turns a family to audit; it is saved with the section, beside the host-access list', async () => {
    const start = section({ eciGuard: { hostAccess: { images: ['iechor:cli'] } } });
    const be = settingsBackend(settingsView('admin', start), {
      save_settings: () => fileView({ etag: 'etag-2', section: start }),
    });
    const { container } = await mount();
    expect(['audit-socketMounts', 'audit-commands', 'audit-hostAccess'].map((id) => box(container, id).checked)).toEqual([
      false,
      false,
      false,
    ]);
    expect($(container, 'audit-mode').textContent).toContain('Not set in this file: enforced.');
    await click(box(container, 'audit-commands'));
    expect(box(container, 'audit-commands').checked).toBe(true);
    await click($(container, 'save-settings'));
    await flush();
    expect(saved(be).eciGuard).toEqual({ hostAccess: { images: ['iechor:cli'] }, audit: { commands: true } });
    expect(be.last('save_settings')!.args.target).toBe('admin');
  });

  test('flags the file sets are kept by a save of another field, and can be turned back to enforce', async () => {
    const start = section({ eciGuard: { audit: { socketMounts: true, hostAccess: false } } });
    const be = settingsBackend(settingsView('admin', start), {
      save_settings: () => fileView({ etag: 'etag-2', section: start }),
    });
    const { container } = await mount();
    expect(box(container, 'audit-socketMounts').checked).toBe(true);
    await click($(container, 'eci-toggle'));
    await click($(container, 'save-settings'));
    await flush();
    expect(saved(be).value).toBe(false);
    expect(saved(be).eciGuard).toEqual({ audit: { socketMounts: true, hostAccess: false } });

    await click(box(container, 'audit-socketMounts'));
    await click($(container, 'save-settings'));
    await flush();
    expect(saved(be).eciGuard?.audit).toEqual({ socketMounts: false, hostAccess: false });
  });

  test('a user file that sets nothing shows what is in force, and a toggle writes the user file', async () => {
    const view = settingsView('user', section(), {
      effective: policy({ audit: { socketMounts: true, commands: false, hostAccess: false } }),
    });
    const be = settingsBackend(view, { save_settings: () => fileView({ etag: 'etag-2' }) });
    const { container } = await mount();
    expect(box(container, 'audit-socketMounts').checked).toBe(true);
    expect(box(container, 'audit-socketMounts').disabled).toBe(false);
    expect(container.querySelector('[data-testid="audit-locked"]')).toBeNull();
    await click(box(container, 'audit-socketMounts'));
    await click($(container, 'save-settings'));
    await flush();
    expect(be.last('save_settings')!.args.target).toBe('user');
    expect(saved(be).eciGuard).toEqual({ audit: { socketMounts: false } });
  });

  test('locked by the administrator: the flags in force, read-only, and why', async () => {
    const view = settingsView('user', null, {
      locked: true,
      effective: policy({ audit: { socketMounts: false, commands: true, hostAccess: false } }),
    });
    settingsBackend(view);
    const { container } = await mount();
    const panel = $<HTMLFieldSetElement>(container, 'audit-mode');
    expect(panel.disabled).toBe(true);
    expect(box(container, 'audit-commands').checked).toBe(true);
    expect(box(container, 'audit-socketMounts').checked).toBe(false);
    expect(box(container, 'audit-commands').disabled).toBe(true);
    expect($(container, 'audit-locked').textContent).toContain('Locked by your administrator');
  });

  test('the model keeps audit flags, maps their diagnostics, and states a locked policy with them', () => {
    const s: EciSection = { eciGuard: { audit: { commands: true } } };
    const copy = cleanSection(s);
    expect(copy).toEqual(s);
    copy.eciGuard!.audit!.commands = false;
    expect(s.eciGuard!.audit!.commands).toBe(true);
    expect(fieldOf('/enhancedContainerIsolation/eciGuard/audit/commands')).toBe('audit');
    expect(fieldOf('/enhancedContainerIsolation/eciGuard/audit')).toBe('audit');
    expect(policySection(policy()).eciGuard).toBeUndefined();
    expect(policySection(policy({ audit: { socketMounts: true, commands: false, hostAccess: false } })).eciGuard).toEqual({
      audit: { socketMounts: true, commands: false, hostAccess: false },
    });
  });
});
