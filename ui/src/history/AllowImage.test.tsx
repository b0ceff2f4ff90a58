import { describe, expect, test } from 'vitest';
import type { EciSection, SettingsDiff } from '../api';
import { hunks } from '../DiffView';
import { AllowImage, withImage } from './AllowImage';
import { $, backend, click, flush, render, settingsView, until } from '../test/harness';

const FORMS = {
  exact: '127.0.0.1:5000/team/tool:1',
  any_tag: '127.0.0.1:5000/team/tool:*',
  digest: '127.0.0.1:5000/team/tool@sha256:' + '1'.repeat(64),
};
const ADMIN: EciSection = { locked: false, value: true, iechorSocketMount: { imageList: { images: ['busybox'] } } };

/** A diff like the shell's: the new entry as the one inserted line. */
function diffOf(section: EciSection, etag = 'etag-1'): SettingsDiff {
  const images = section.iechorSocketMount?.imageList?.images ?? [];
  return {
    before: '{}',
    after: '{}',
    etag,
    lines: [
      { op: 'equal', text: '"images": [' },
      { op: 'equal', text: '  "busybox",' },
      ...images.filter((i) => i !== 'busybox').map((i) => ({ op: 'insert' as const, text: `  "${i}"` })),
      { op: 'equal', text: ']' },
    ],
  };
}

function adminBackend(forms: typeof FORMS | (Omit<typeof FORMS, 'digest'> & { digest: null }) = FORMS) {
  return backend({
    image_entry_forms: () => forms,
    load_settings: () => settingsView('admin', ADMIN),
    settings_diff: (a) => diffOf(a.section as EciSection),
    save_settings: () => ({}),
  });
}

const inserted = (container: HTMLElement) =>
  Array.from($(container, 'allow-diff').querySelectorAll<HTMLElement>('[data-op="insert"]')).map((l) => l.textContent);

describe('AllowImage', () => {
  test('offers the exact tag, any tag and the digest the shell derived for the image', async () => {
    const be = adminBackend();
    const { container } = await render(<AllowImage image="127.0.0.1:5000/team/tool:1" />);
    await until(() => container.querySelector('[data-testid="allow-diff"]') !== null, 'the diff');
    expect(be.last('image_entry_forms')!.args).toEqual({ image: '127.0.0.1:5000/team/tool:1' });
    expect($(container, 'allow-entry-exact').textContent).toBe(FORMS.exact);
    expect($(container, 'allow-entry-any_tag').textContent).toBe(FORMS.any_tag);
    expect($(container, 'allow-entry-digest').textContent).toBe(FORMS.digest);
    expect($<HTMLInputElement>(container, 'allow-choice-exact').checked).toBe(true);
  });

  test('each choice shows the diff of the admin file for that entry, asked of the shell', async () => {
    const be = adminBackend();
    const { container } = await render(<AllowImage image="127.0.0.1:5000/team/tool:1" />);
    await until(() => container.querySelector('[data-testid="allow-diff"]') !== null, 'the diff');
    expect(be.last('settings_diff')!.args).toEqual({ target: 'admin', section: withImage(ADMIN, FORMS.exact) });
    expect(inserted(container)).toEqual([`+   "${FORMS.exact}"`]);
    for (const [choice, entry] of [
      ['any_tag', FORMS.any_tag],
      ['digest', FORMS.digest],
    ] as const) {
      await click($(container, `allow-choice-${choice}`));
      await until(() => inserted(container)[0]?.includes(entry) ?? false, `the diff for ${choice}`);
      const section = be.last('settings_diff')!.args.section as EciSection;
      // The other keys of the section stay as the file has them.
      expect(section).toEqual({ ...ADMIN, iechorSocketMount: { imageList: { images: ['busybox', entry] } } });
    }
    expect(be.of('save_settings')).toHaveLength(0);
  });

  test('writing saves the section the diff showed, with the etag the diff was made on', async () => {
    const be = adminBackend();
    const { container } = await render(<AllowImage image="127.0.0.1:5000/team/tool:1" />);
    await until(() => container.querySelector('[data-testid="allow-diff"]') !== null, 'the diff');
    await click($(container, 'allow-choice-any_tag'));
    await until(() => inserted(container)[0]?.includes(FORMS.any_tag) ?? false, 'the any-tag diff');
    await click($(container, 'allow-save'));
    await flush();
    expect(be.last('save_settings')!.args).toEqual({
      target: 'admin',
      section: withImage(ADMIN, FORMS.any_tag),
      etag: 'etag-1',
    });
    expect($(container, 'allow-saved').textContent).toContain(FORMS.any_tag);
  });

  test('an image on no registry offers no digest; a conflict asks to look at the diff again', async () => {
    const be = backend({
      image_entry_forms: () => ({ ...FORMS, digest: null }),
      load_settings: () => settingsView('admin', ADMIN),
      settings_diff: (a) => diffOf(a.section as EciSection),
      save_settings: () => Promise.reject({ code: 'conflict', message: 'changed on disk' }),
    });
    const { container } = await render(<AllowImage image="team/tool:1" />);
    await until(() => container.querySelector('[data-testid="allow-diff"]') !== null, 'the diff');
    expect($<HTMLInputElement>(container, 'allow-choice-digest').disabled).toBe(true);
    expect($(container, 'allow-entry-digest').textContent).toContain('no digest');
    await click($(container, 'allow-save'));
    await flush();
    expect(be.of('save_settings')).toHaveLength(1);
    expect($(container, 'allow-error').textContent).toContain('changed since the diff was made');
    expect(container.querySelector('[data-testid="allow-saved"]')).toBeNull();
  });

  test('an entry already listed changes nothing: nothing to write', async () => {
    backend({
      image_entry_forms: () => ({ ...FORMS, exact: 'busybox' }),
      load_settings: () => settingsView('admin', ADMIN),
      settings_diff: (a) => diffOf(a.section as EciSection),
      save_settings: () => ({}),
    });
    const { container } = await render(<AllowImage image="busybox" />);
    await until(() => container.querySelector('[data-testid="allow-diff"]') !== null, 'the diff');
    expect($<HTMLButtonElement>(container, 'allow-save').disabled).toBe(true);
    expect($(container, 'allow-save').textContent).toBe('Already allowed');
  });
  test('the diff shows the changes with two lines of context, the rest left out', () => {
    const eq = (t: string) => ({ op: 'equal' as const, text: t });
    const lines = [eq('a'), eq('b'), eq('c'), eq('d'), { op: 'insert' as const, text: 'x' }, eq('e'), eq('f'), eq('g'), eq('h')];
    expect(hunks(lines)).toEqual([null, eq('c'), eq('d'), lines[4], eq('e'), eq('f'), null]);
    expect(hunks([eq('a')])).toEqual([null]);
  });
});
