import { describe, expect, test } from 'vitest';
import type { Provenance, ReloadEvent } from '../api';
import { ago, lockedPolicy, reloadText, sourceText } from './text';

describe('Status wording', () => {
  test('ago rounds to the largest unit that fits, and a time ahead of the clock is now', () => {
    const now = 10_000_000_000;
    expect(ago(now + 60_000, now)).toBe('just now');
    expect(ago(now - 4_000, now)).toBe('just now');
    expect(ago(now - 42_000, now)).toBe('42 s ago');
    expect(ago(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(ago(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(ago(now - 2 * 86_400_000, now)).toBe('2 days ago');
  });

  test('a policy is locked when any field comes from a locked admin section', () => {
    const open: Provenance = {
      value: { from: 'admin', locked: false },
      images: { from: 'user' },
      allowDerivedImages: { from: 'default' },
      commandList: { from: 'default' },
    };
    expect(lockedPolicy(open)).toBe(false);
    expect(lockedPolicy({ ...open, commandList: { from: 'admin', locked: true } })).toBe(true);
    expect(sourceText({ from: 'admin', locked: true })).toBe('admin settings, locked');
  });

  test('a reload says what stays in force when it was not applied', () => {
    const at = 0;
    const applied: ReloadEvent = { at, outcome: { outcome: 'applied', version: 'v2', warnings: [], user_ignored: true } };
    expect(reloadText(applied)).toBe('applied (policy v2); your settings are ignored because the admin settings are locked');
    const unreadable: ReloadEvent = { at, outcome: { outcome: 'unreadable', error: 'EACCES', kept_version: 'v1' } };
    expect(reloadText(unreadable)).toBe('unreadable: EACCES; policy v1 stays in force');
  });
});
