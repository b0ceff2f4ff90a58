import { describe, expect, test } from 'vitest';
import { entryString, listedBy, parseCommand, parseImageEntry } from './rules';

const HEX64 = '7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa';
const D = `sha256:${HEX64}`;

describe('image-list entries (mirror of eci-policy reference.rs)', () => {
  test.each([
    ['*', '*', 'all'],
    ['iechor:cli', 'iechor.io/library/iechor:cli', 'tag'],
    ['busybox', 'iechor.io/library/busybox:latest', 'tag'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'tag'],
    ['iechor.io/localstack/localstack:*', 'iechor.io/localstack/localstack:*', 'any-tag'],
    ['localstack/localstack:*', 'iechor.io/localstack/localstack:*', 'any-tag'],
    ['docker.io/busybox:*', 'iechor.io/library/busybox:*', 'any-tag'],
    ['localhost:5000/x:*', 'localhost:5000/x:*', 'any-tag'],
    ['localhost:*', 'iechor.io/library/localhost:*', 'any-tag'],
    [`busybox@${D}`, `iechor.io/library/busybox@${D}`, 'digest'],
    [`busybox:1.36@${D}`, `iechor.io/library/busybox@${D}`, 'digest'],
    ['127.0.0.1:5000/tools/ci:1.0', '127.0.0.1:5000/tools/ci:1.0', 'tag'],
    ['testcontainers/*:*', 'iechor.io/testcontainers/*:*', 'any-repository'],
    ['iechor.io/localstack/*:*', 'iechor.io/localstack/*:*', 'any-repository'],
    ['library/*:*', 'iechor.io/library/*:*', 'any-repository'],
    ['your-registry.com/ci-tools/*:*', 'your-registry.com/ci-tools/*:*', 'any-repository'],
    ['localhost:5000/a/b/*:*', 'localhost:5000/a/b/*:*', 'any-repository'],
  ])('%s is accepted as %s', (input, canonical, kind) => {
    const r = parseImageEntry(input);
    if (!r.ok) throw new Error(r.message);
    expect(r.value.kind).toBe(kind);
    expect(entryString(r.value)).toBe(canonical);
  });

  test.each([
    ['*:latest', '"*" is allowed only as a whole tag'],
    ['*:*', '"*" is allowed only as a whole tag'],
    ['busy*', '"*" is allowed only as a whole tag'],
    ['testcontainers/r*:*', '"*" is allowed only as a whole tag'],
    ['testcontainers/*/x:*', '"*" is allowed only as a whole tag'],
    ['testcontainers/*:x*', '"*" is allowed only as a whole tag'],
    ['testcontainers/*', 'write testcontainers/*:* (any repository under that path'],
    ['testcontainers/*:1', 'write testcontainers/*:*'],
    [`testcontainers/*:*@${D}`, 'a digest cannot be combined'],
    ['docker.io/*:*', 'needs the namespace it covers'],
    ['localhost:5000/*:*', 'needs the namespace it covers'],
    ['Tc/*:*', 'repository name must be lowercase: "Tc/*"'],
    ['busybox:x*', '"*" is allowed only as a whole tag'],
    ['busybox@sha256:*', '"*" is allowed only as a whole tag'],
    ['localhost:*5000/x', '"*" is allowed only as a whole tag'],
    [`busybox:*@${D}`, 'a digest cannot be combined with the any-tag wildcard'],
    [' *', 'contains whitespace'],
    ['', 'image reference is empty'],
    ['Busybox:*', 'repository name must be lowercase: "Busybox"'],
    ['busybox:', 'invalid tag ""'],
    [':*', 'has no repository name'],
    [D, 'is a bare digest'],
    [HEX64, 'is an image ID, not a name'],
    ['busybox@sha256:abc', 'sha256 needs 64 lowercase hex characters'],
    ['busybox@md5:' + 'a'.repeat(32), 'unsupported algorithm "md5"'],
    ['bad_host.example/x', 'invalid registry "bad_host.example"'],
    ['library/a_-b', 'invalid repository name'],
    ['x/a..b:1', 'invalid repository name'],
    ['x:' + 'a'.repeat(129), 'invalid tag'],
  ])('%s is refused: %s', (input, why) => {
    const r = parseImageEntry(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(why);
  });
});

describe('command-list entries (mirror of eci-policy commands.rs)', () => {
  test.each([
    ['push', 'push'],
    ['image*', 'image*'],
    ['container', 'container*'],
    ['builder', 'build*'],
    ['plugin', 'plugin'],
  ])('%s is accepted as %s', (input, canonical) => {
    expect(parseCommand(input)).toEqual({ ok: true, value: canonical });
  });

  test.each(['compose', 'dev', 'extension', 'feedback', 'init', 'manifest', 'plugins', 'sbom', 'scan', 'scout', 'trust'])(
    'unsupported %s says it cannot be enforced',
    (name) => {
      const r = parseCommand(name);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.message).toMatch(/is not supported in the command list and cannot be enforced; it is ignored/);
        expect(r.warning).toBe(true);
      }
    },
  );

  test.each([
    ['context', 'runs only in the client'],
    ['pull*', 'is not a command wildcard'],
    ['Push', 'unknown command "Push"'],
  ])('%s is refused: %s', (input, why) => {
    const r = parseCommand(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(why);
  });
});

describe('whether a blocked image is named by the list', () => {
  test.each([
    ['iechor.io/library/busybox', ['busybox'], true],
    ['busybox:1.36', ['busybox'], false],
    ['busybox:1.36', ['docker.io/library/busybox:*'], true],
    ['localstack/localstack:3', ['iechor.io/localstack/localstack:*'], true],
    ['evil/busybox', ['busybox:*'], false],
    [`busybox@${D}`, [`busybox@${D}`], true],
    ['anything/at:all', ['*'], true],
    ['127.0.0.1:5000/x:1', ['localhost:5000/x:1'], false],
    ['testcontainers/ryuk:0.5', ['testcontainers/*:*'], true],
    ['testcontainers/ryuk/deep:1', ['testcontainers/*:*'], false],
    ['other/ryuk:0.5', ['testcontainers/*:*'], false],
  ] as const)('%s against %j → %s', (image, entries, want) => {
    expect(listedBy(image, entries)).toBe(want);
  });
});
