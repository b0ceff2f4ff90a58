// Client-side mirror of eci-policy's entry rules (reference.rs, commands.rs), so a badge can say
// "invalid" as the admin types; the shell's `validate_section` stays the authority on save.

export const DEFAULT_DOMAIN = 'iechor.io';
const ENGINE_DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const NAME_TOTAL_LENGTH_MAX = 255;
const TAG_LENGTH_MAX = 128;

export interface Repository {
  domain: string;
  path: string;
}

export type ImageEntry =
  | { kind: 'all' }
  | { kind: 'tag'; repo: Repository; tag: string }
  | { kind: 'any-tag'; repo: Repository }
  | { kind: 'any-repository'; under: Repository }
  | { kind: 'digest'; repo: Repository; digest: string };

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; warning?: boolean };

const q = (s: string) => JSON.stringify(s);

export function isDefaultHub(domain: string): boolean {
  return domain === DEFAULT_DOMAIN || domain === ENGINE_DEFAULT_DOMAIN || domain === LEGACY_DEFAULT_DOMAIN;
}

const ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function checkDigest(s: string): string | null {
  const invalid = (problem: string) => `invalid digest ${q(s)}: ${problem}`;
  if (s === '') return invalid("nothing follows '@'");
  const colon = s.indexOf(':');
  if (colon <= 0) return invalid('the algorithm is missing (expected sha256:<64 hex characters>)');
  const name = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  const len = ALGORITHMS[name];
  if (len === undefined) return invalid(`unsupported algorithm ${q(name)} (supported: sha256, sha384, sha512)`);
  if (hex.length !== len || !/^[0-9a-f]*$/.test(hex)) return invalid(`${name} needs ${len} lowercase hex characters`);
  return null;
}

function isDigest(s: string): boolean {
  return s.includes(':') && checkDigest(s) === null;
}

function firstPartIsDomain(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash < 0) return false;
  const first = name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

function isValidDomain(domain: string): boolean {
  const colon = domain.indexOf(':');
  const host = colon < 0 ? domain : domain.slice(0, colon);
  const port = colon < 0 ? null : domain.slice(colon + 1);
  const portOk = port === null || /^[0-9]+$/.test(port);
  return portOk && host.split('.').every((c) => /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(c));
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function normalizeName(whole: string, name: string): Parsed<Repository> {
  if (name === '') return { ok: false, message: `image reference ${q(whole)} has no repository name before the tag or digest` };
  let domain = ENGINE_DEFAULT_DOMAIN;
  let path = name;
  const slash = name.indexOf('/');
  if (slash >= 0 && firstPartIsDomain(name)) {
    domain = name.slice(0, slash);
    path = name.slice(slash + 1);
  }
  const hub = isDefaultHub(domain);
  if (!hub && !isValidDomain(domain)) {
    return {
      ok: false,
      message: `invalid registry ${q(domain)}: expected a host name or IPv4 address (letters, digits, '-' and '.'), optionally followed by :port`,
    };
  }
  if (path !== path.toLowerCase()) return { ok: false, message: `repository name must be lowercase: ${q(name)}` };
  if (!path.split('/').every((c) => PATH_COMPONENT.test(c))) {
    return {
      ok: false,
      message: `invalid repository name ${q(name)}: each '/'-separated part must be lowercase letters and digits, joined by a single '.', '_' or '__', or by dashes`,
    };
  }
  if (hub && !path.includes('/')) path = `library/${path}`;
  const len = (hub ? ENGINE_DEFAULT_DOMAIN.length : domain.length) + 1 + path.length;
  if (len > NAME_TOTAL_LENGTH_MAX) {
    return {
      ok: false,
      message: `repository name ${q(name)} is ${len} characters long; it must not be more than 255 (counting the registry)`,
    };
  }
  return { ok: true, value: { domain: hub ? DEFAULT_DOMAIN : domain, path } };
}

interface Parts {
  name: string;
  tag: string | null;
  digest: string | null;
}

function split(s: string): Parts {
  const at = s.indexOf('@');
  const rest = at < 0 ? s : s.slice(0, at);
  const digest = at < 0 ? null : s.slice(at + 1);
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && colon > lastSlash) {
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  }
  return { name: rest, tag: null, digest };
}

function checkText(s: string): string | null {
  if (s === '') return 'image reference is empty';
  if (/\s/.test(s)) return `image reference ${q(s)} contains whitespace; remove the spaces`;
  return null;
}

interface Reference {
  repo: Repository;
  tag: string | null;
  digest: string | null;
}

function build(whole: string, name: string, tag: string | null, digest: string | null): Parsed<Reference> {
  if (/^[a-f0-9]{64}$/.test(whole)) {
    return { ok: false, message: `invalid repository name ${q(whole)}: a 64-character hexadecimal string is an image ID, not a name` };
  }
  const repo = normalizeName(whole, name);
  if (!repo.ok) return repo;
  if (tag !== null && !(TAG.test(tag) && tag.length <= TAG_LENGTH_MAX)) {
    return {
      ok: false,
      message: `invalid tag ${q(tag)}: a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'`,
    };
  }
  if (digest !== null) {
    const problem = checkDigest(digest);
    if (problem !== null) return { ok: false, message: problem };
  }
  return { ok: true, value: { repo: repo.value, tag, digest } };
}

/** Parses an image-list entry like `ImageEntry::parse`: `name[:tag]`, `name:*`, `name@digest`, `*`. */
export function parseImageEntry(s: string): Parsed<ImageEntry> {
  if (s === '*') return { ok: true, value: { kind: 'all' } };
  const text = checkText(s);
  if (text !== null) return { ok: false, message: text };
  const parts = split(s);
  if (parts.name.endsWith('/*')) {
    const written = parts.name.slice(0, -2);
    if (!written.includes('*') && (parts.digest === null || !parts.digest.includes('*'))) {
      return repositoryWildcard(s, written, parts);
    }
  }
  const anyTag = parts.tag === '*';
  const stray =
    parts.name.includes('*') ||
    (parts.digest !== null && parts.digest.includes('*')) ||
    (!anyTag && parts.tag !== null && parts.tag.includes('*'));
  if (stray) return { ok: false, message: MISPLACED };
  if (anyTag) {
    if (parts.digest !== null) {
      return {
        ok: false,
        message: 'a digest cannot be combined with the any-tag wildcard: write name:* for any tag or name@sha256:… for one digest',
      };
    }
    const r = build(s, parts.name, null, null);
    return r.ok ? { ok: true, value: { kind: 'any-tag', repo: r.value.repo } } : r;
  }
  if (parts.digest === null && isDigest(s)) {
    return { ok: false, message: `${q(s)} is a bare digest; an image-list entry needs the repository: name@${s}` };
  }
  const r = build(s, parts.name, parts.tag, parts.digest);
  if (!r.ok) return r;
  if (r.value.digest !== null) return { ok: true, value: { kind: 'digest', repo: r.value.repo, digest: r.value.digest } };
  return { ok: true, value: { kind: 'tag', repo: r.value.repo, tag: r.value.tag ?? 'latest' } };
}

const MISPLACED =
  '"*" is allowed only as a whole tag (name:*), as a whole last path component with tag * (ns/*:*), or as the whole entry';

/** `written/*…`: valid only as `written/*:*` where `written` names at least a namespace. */
function repositoryWildcard(whole: string, written: string, parts: { tag: string | null; digest: string | null }): Parsed<ImageEntry> {
  const shown = `${written}/*`;
  const first = written.split('/')[0]!;
  const firstIsDomain = written.includes('/') ? false : first.includes('.') || first.includes(':') || first === 'localhost';
  if (written === '' || firstIsDomain) {
    return {
      ok: false,
      message: 'a repository wildcard needs the namespace it covers before /*: write ns/*:* or registry/path/*:*, or "*" for every image',
    };
  }
  if (parts.tag !== null && parts.tag.includes('*') && parts.tag !== '*') return { ok: false, message: MISPLACED };
  if (parts.tag === '*' && parts.digest !== null) {
    return {
      ok: false,
      message: 'a digest cannot be combined with the any-tag wildcard: write name:* for any tag or name@sha256:… for one digest',
    };
  }
  if (parts.tag !== '*' || parts.digest !== null) {
    return { ok: false, message: `a repository wildcard needs the any-tag wildcard too: write ${shown}:* (any repository under that path, any tag)` };
  }
  const r = build(whole, `${written}/x`, null, null);
  if (!r.ok) return { ok: false, message: r.message.split(`${written}/x`).join(shown) };
  const path = r.value.repo.path.slice(0, -2);
  return { ok: true, value: { kind: 'any-repository', under: { domain: r.value.repo.domain, path } } };
}

/** Parses an image reference the way the engine names images (a block's `image`). */
export function parseReference(s: string): Reference | null {
  if (checkText(s) !== null) return null;
  const parts = split(s);
  const r = build(s, parts.name, parts.tag, parts.digest);
  return r.ok ? r.value : null;
}

export function repoString(r: Repository): string {
  return `${r.domain}/${r.path}`;
}

export function entryString(e: ImageEntry): string {
  switch (e.kind) {
    case 'all':
      return '*';
    case 'tag':
      return `${repoString(e.repo)}:${e.tag}`;
    case 'any-tag':
      return `${repoString(e.repo)}:*`;
    case 'any-repository':
      return `${repoString(e.under)}/*:*`;
    case 'digest':
      return `${repoString(e.repo)}@${e.digest}`;
  }
}

/**
 * Whether an image reference is named by one of the entries (by name only: the digest check is
 * the enforcer's). Used to tell "not in the list" from "listed, but the local image differs".
 */
export function listedBy(image: string, entries: readonly string[]): boolean {
  const ref = parseReference(image);
  if (ref === null) return false;
  const tag = ref.tag ?? (ref.digest === null ? 'latest' : null);
  return entries.some((raw) => {
    const p = parseImageEntry(raw);
    if (!p.ok) return false;
    const e = p.value;
    if (e.kind === 'all') return true;
    if (e.kind === 'any-repository') {
      const rest = ref.repo.domain === e.under.domain && ref.repo.path.startsWith(`${e.under.path}/`);
      return rest && !ref.repo.path.slice(e.under.path.length + 1).includes('/');
    }
    if (repoString(e.repo) !== repoString(ref.repo)) return false;
    if (e.kind === 'any-tag') return true;
    if (e.kind === 'tag') return tag === e.tag;
    return ref.digest === e.digest;
  });
}

// ---- Command list (commands.rs) ----

export const GROUPS = ['container*', 'image*', 'volume*', 'network*', 'build*', 'system*'] as const;

const MANAGEMENT: Record<string, string> = {
  container: 'container*',
  image: 'image*',
  volume: 'volume*',
  network: 'network*',
  builder: 'build*',
  system: 'system*',
};

export const COMMANDS: readonly string[] = [
  'run', 'exec', 'ps', 'build', 'pull', 'push', 'images', 'login', 'search', 'version', 'info',
  'builder', 'checkpoint', 'config', 'container', 'image', 'network', 'node', 'plugin', 'secret',
  'service', 'stack', 'swarm', 'system', 'volume',
  'attach', 'commit', 'cp', 'create', 'diff', 'events', 'export', 'history', 'import', 'inspect',
  'kill', 'load', 'logs', 'pause', 'port', 'rename', 'restart', 'rm', 'rmi', 'save', 'start',
  'stats', 'stop', 'tag', 'top', 'unpause', 'update', 'wait',
];

/** Names the seed says the command list cannot enforce, with the seed's description. */
export const UNSUPPORTED: ReadonlyArray<readonly [string, string]> = [
  ['compose', 'iEchor compose'],
  ['dev', 'iEchor dev environments'],
  ['extension', 'Manages iEchor extensions'],
  ['feedback', 'Send feedback to iEchor'],
  ['init', 'Creates iEchor-related starter files'],
  ['manifest', 'Manages iEchor image manifests'],
  ['plugins', 'Manages plugins'],
  ['sbom', 'View Software Bill of Materials (SBOM)'],
  ['scan', 'iEchor Scan'],
  ['scout', 'iEchor Scout'],
  ['trust', 'Manage trust on iEchor images'],
];

export const CLIENT_ONLY: readonly string[] = ['context', 'logout', 'buildx'];

/** What the validator adds to a name the enforcer cannot enforce: a warning, not an error. */
const IGNORED = '; it is ignored, and the rest of the command list is enforced';

/**
 * Parses a command-list entry like `CommandEntry::parse`; the value is its canonical spelling.
 * `warning`: a real command the enforcer cannot enforce, which the file may keep.
 */
export function parseCommand(s: string): Parsed<string> {
  if (s.includes('*')) {
    return (GROUPS as readonly string[]).includes(s)
      ? { ok: true, value: s }
      : { ok: false, message: `${q(s)} is not a command wildcard; the wildcards are ${GROUPS.join(', ')}` };
  }
  const unsupported = UNSUPPORTED.find(([n]) => n === s);
  if (unsupported) {
    return {
      ok: false,
      message: `command "${unsupported[0]}" (${unsupported[1]}) is not supported in the command list and cannot be enforced${IGNORED}`,
      warning: true,
    };
  }
  if (CLIENT_ONLY.includes(s)) {
    return {
      ok: false,
      message: `command "${s}" runs only in the client and never reaches the engine, so it cannot be enforced${IGNORED}`,
      warning: true,
    };
  }
  const group = MANAGEMENT[s];
  if (group !== undefined) return { ok: true, value: group };
  if (COMMANDS.includes(s)) return { ok: true, value: s };
  return {
    ok: false,
    message: `unknown command "${s}"; valid commands are the names of \`docker --help\` and the wildcards ${GROUPS.join(', ')}`,
  };
}
