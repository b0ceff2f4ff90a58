//! Image references read the way the engine reads them (distribution's `ParseNormalizedNamed`, as
//! vendored by moby 20.10), normalised onto one name for the default hub, and the image-list forms.
//!
//! The grammar follows `reference/regexp.go`, `reference.go` and `normalize.go` of
//! docker/distribution v2.8 and go-digest's `Digest.Validate`. Where this module differs it only
//! refuses more, never less: a first component with a `.` that is not a valid host name (the
//! engine then quietly keeps the whole name as a domain-less path) and bracketed IPv6 hosts (which
//! the 20.10 engine refuses too) are errors here.
//!
//! `iechor.io`, `docker.io` and `index.docker.io` name the same hub. Repositories keep the hub as
//! [`DEFAULT_DOMAIN`], so equality and hashing are across the aliases, and
//! [`Repository::registry_host`] gives the name the registry client must contact.

use std::fmt;
use std::str::FromStr;

/// The product's name for the default hub; every hub alias displays as this.
pub const DEFAULT_DOMAIN: &str = "iechor.io";

/// The hub's domain as the engine and registry clients know it.
const ENGINE_DEFAULT_DOMAIN: &str = "docker.io";

/// The engine's legacy name for the hub (the "Docker Index").
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// Namespace of the hub's official images: `busybox` is `library/busybox`.
const OFFICIAL_REPO_PREFIX: &str = "library/";

/// Tag meant when an image-list entry or a pull names no tag.
pub const DEFAULT_TAG: &str = "latest";

/// The engine's `NameTotalLengthMax`: domain, `/` and path of the normalised name together.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// `[\w][\w.-]{0,127}`.
const TAG_LENGTH_MAX: usize = 128;

/// Whether `domain` is one of the names of the default hub (`iechor.io`, `docker.io`,
/// `index.docker.io`). Case-sensitive, like the engine: `Docker.io` is another registry.
pub fn is_default_hub(domain: &str) -> bool {
    domain == DEFAULT_DOMAIN || domain == ENGINE_DEFAULT_DOMAIN || domain == LEGACY_DEFAULT_DOMAIN
}

/// Why a string is not an image reference or not an image-list entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference {0:?} contains whitespace; remove the spaces")]
    Whitespace(String),
    #[error("image reference {0:?} has no repository name before the tag or digest")]
    MissingName(String),
    #[error(
        "invalid repository name {0:?}: a 64-character hexadecimal string is an image ID, not a name"
    )]
    ImageId(String),
    #[error(
        "invalid registry {0:?}: expected a host name or IPv4 address (letters, digits, '-' and \
         '.'), optionally followed by :port"
    )]
    InvalidDomain(String),
    #[error("repository name must be lowercase: {0:?}")]
    Uppercase(String),
    #[error(
        "invalid repository name {0:?}: each '/'-separated part must be lowercase letters and \
         digits, joined by a single '.', '_' or '__', or by dashes"
    )]
    InvalidPath(String),
    #[error(
        "repository name {name:?} is {len} characters long; it must not be more than 255 \
         (counting the registry)"
    )]
    NameTooLong { name: String, len: usize },
    #[error(
        "invalid tag {0:?}: a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not \
         start with '.' or '-'"
    )]
    InvalidTag(String),
    #[error("invalid digest {digest:?}: {problem}")]
    InvalidDigest {
        digest: String,
        problem: DigestError,
    },
    #[error(
        "\"*\" is allowed only as a whole tag (name:*), as a whole last path component with \
         tag * (ns/*:*), or as the whole entry"
    )]
    MisplacedWildcard,
    #[error(
        "a repository wildcard needs the any-tag wildcard too: write {0}:* (any repository \
         under that path, any tag)"
    )]
    RepositoryWildcardTag(String),
    #[error(
        "a repository wildcard needs the namespace it covers before /*: write ns/*:* or \
         registry/path/*:*, or \"*\" for every image"
    )]
    RepositoryWildcardRoot,
    #[error(
        "a digest cannot be combined with the any-tag wildcard: write name:* for any tag or \
         name@sha256:… for one digest"
    )]
    WildcardWithDigest,
    #[error("{0:?} is a bare digest; an image-list entry needs the repository: name@{0}")]
    BareDigest(String),
}

/// What is wrong with the `algorithm:hex` part after `@`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("nothing follows '@'")]
    Empty,
    #[error("the algorithm is missing (expected sha256:<64 hex characters>)")]
    MissingAlgorithm,
    #[error("unsupported algorithm {0:?} (supported: sha256, sha384, sha512)")]
    UnsupportedAlgorithm(String),
    #[error("{} needs {} lowercase hex characters", .0.name(), .0.hex_len())]
    BadHex(Algorithm),
}

/// The digest algorithms the engine accepts (those go-digest has registered in moby).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding: twice the hash size, as go-digest requires.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A content digest, `sha256:<64 lowercase hex>` (or sha384/sha512 with their lengths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Digest, RefError> {
        let invalid = |problem| RefError::InvalidDigest {
            digest: s.to_owned(),
            problem,
        };
        if s.is_empty() {
            return Err(invalid(DigestError::Empty));
        }
        let (name, hex) = match s.split_once(':') {
            Some((name, hex)) if !name.is_empty() => (name, hex),
            _ => return Err(invalid(DigestError::MissingAlgorithm)),
        };
        let algorithm = Algorithm::from_name(name)
            .ok_or_else(|| invalid(DigestError::UnsupportedAlgorithm(name.to_owned())))?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(lower_hex) {
            return Err(invalid(DigestError::BadHex(algorithm)));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// A normalised repository name: a domain (the hub as [`DEFAULT_DOMAIN`]) and a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    domain: String,
    path: String,
}

impl Repository {
    /// The registry as displayed: [`DEFAULT_DOMAIN`] for the hub, otherwise as written (including
    /// any `:port`; host case is kept, as the engine keeps it).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn is_default_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    /// Whether this repository sits directly under `namespace` (same registry, one more path
    /// component): what `namespace/*:*` covers. Deeper repositories are not covered, as in
    /// Docker's own reading of `ns/*`.
    pub fn is_directly_under(&self, namespace: &Repository) -> bool {
        self.domain == namespace.domain
            && self
                .path
                .strip_prefix(namespace.path.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| !name.is_empty() && !name.contains('/'))
    }

    /// The domain the registry client must contact: `docker.io` for the hub, since `iechor.io` is
    /// only this product's name for it.
    pub fn registry_host(&self) -> &str {
        if self.is_default_hub() {
            ENGINE_DEFAULT_DOMAIN
        } else {
            &self.domain
        }
    }

    /// The short name the CLI prints: `busybox`, `localstack/localstack`, `127.0.0.1:5000/x`.
    /// Unlike the engine's, it always parses back to this repository: `library/a/b` stays whole
    /// (moby 20.10 shortens it to `a/b`), and so does a hub path whose first part would be read
    /// as a registry (`iechor.io/a.b/c`, not `a.b/c`).
    pub fn familiar(&self) -> String {
        if !self.is_default_hub() {
            return self.to_string();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') && !is_identifier(rest) => rest.to_owned(),
            _ if first_part_is_domain(&self.path) => self.to_string(),
            _ => self.path.clone(),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)
    }
}

/// A parsed image reference: repository, optional tag, optional digest (`name:tag@digest` keeps
/// both, as the engine does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    repo: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses like the engine's `ParseNormalizedNamed`: familiar names (`busybox`,
    /// `localstack/localstack:3`), full names, and `RepoDigests` entries
    /// (`busybox@sha256:…`, `127.0.0.1:5000/x@sha256:…`).
    pub fn parse_normalized(s: &str) -> Result<Reference, RefError> {
        check_text(s)?;
        let parts = Parts::split(s);
        build(s, parts.name, parts.tag, parts.digest)
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    pub fn into_repository(self) -> Repository {
        self.repo
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Adds `latest` when the reference names neither tag nor digest, as the engine's
    /// `TagNameOnly` does before a pull.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }
}

impl FromStr for Reference {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Reference, RefError> {
        Reference::parse_normalized(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repo)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// One entry of the socket-mount image list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageEntry {
    /// `"*"`: every image.
    All,
    /// `name[:tag]`; no tag means `latest`.
    Tag { repo: Repository, tag: String },
    /// `name:*`: any tag of the repository.
    AnyTag { repo: Repository },
    /// `ns/*:*` or `registry/path/*:*`: any tag of any repository directly under `under`.
    AnyRepository { under: Repository },
    /// `name@sha256:…`: only that digest. A tag written beside the digest is dropped, as the
    /// engine's `ParseDockerRef` drops it: the digest alone says what is allowed.
    Digest { repo: Repository, digest: Digest },
}

impl ImageEntry {
    pub fn parse(s: &str) -> Result<ImageEntry, RefError> {
        if s == "*" {
            return Ok(ImageEntry::All);
        }
        check_text(s)?;
        let parts = Parts::split(s);
        if let Some(written) = parts.name.strip_suffix("/*") {
            if !written.contains('*') && parts.digest.is_none_or(|d| !d.contains('*')) {
                return repository_wildcard(s, written, parts);
            }
        }
        let any_tag = parts.tag == Some("*");
        let stray_star = parts.name.contains('*')
            || parts.digest.is_some_and(|d| d.contains('*'))
            || (!any_tag && parts.tag.is_some_and(|t| t.contains('*')));
        if stray_star {
            return Err(RefError::MisplacedWildcard);
        }
        if any_tag {
            if parts.digest.is_some() {
                return Err(RefError::WildcardWithDigest);
            }
            let reference = build(s, parts.name, None, None)?;
            return Ok(ImageEntry::AnyTag {
                repo: reference.repo,
            });
        }
        // The engine would read `sha256:<hex>` as the image `library/sha256` with a hex tag;
        // in an allow list that is surely a digest missing its repository.
        if parts.digest.is_none() && s.parse::<Digest>().is_ok() {
            return Err(RefError::BareDigest(s.to_owned()));
        }
        let reference = build(s, parts.name, parts.tag, parts.digest)?;
        Ok(match (reference.digest, reference.tag) {
            (Some(digest), _) => ImageEntry::Digest {
                repo: reference.repo,
                digest,
            },
            (None, tag) => ImageEntry::Tag {
                repo: reference.repo,
                tag: tag.unwrap_or_else(|| DEFAULT_TAG.to_owned()),
            },
        })
    }

    /// The one repository the entry is about; `None` for `"*"` and `ns/*:*`.
    pub fn repository(&self) -> Option<&Repository> {
        match self {
            ImageEntry::All | ImageEntry::AnyRepository { .. } => None,
            ImageEntry::Tag { repo, .. }
            | ImageEntry::AnyTag { repo }
            | ImageEntry::Digest { repo, .. } => Some(repo),
        }
    }
}

impl ImageEntry {
    /// Whether an image of `repo` can be allowed by this entry at all (its digests decide).
    pub fn covers(&self, repo: &Repository) -> bool {
        match self {
            ImageEntry::All => true,
            ImageEntry::AnyRepository { under } => repo.is_directly_under(under),
            ImageEntry::Tag { repo: r, .. }
            | ImageEntry::AnyTag { repo: r }
            | ImageEntry::Digest { repo: r, .. } => r == repo,
        }
    }

    /// Whether images of `repo` are verified lazily for this entry (`name:*`, `ns/*:*`): the
    /// registry is asked about the local image's own digest, since listing every tag (or every
    /// repository) is not an option.
    pub fn verified_lazily(&self, repo: &Repository) -> bool {
        matches!(
            self,
            ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. }
        ) && self.covers(repo)
    }
}

/// `written/*` with the rest of the entry: a repository wildcard, valid only as `written/*:*`
/// where `written` names at least a namespace.
fn repository_wildcard(
    whole: &str,
    written: &str,
    parts: Parts<'_>,
) -> Result<ImageEntry, RefError> {
    let shown = format!("{written}/*");
    // Only a registry before `/*` (`docker.io/*`, `localhost:5000/*`) would cover every
    // top-level repository of a registry: refused rather than guessed.
    if written.is_empty() || (first_part_is_domain(&shown) && !written.contains('/')) {
        return Err(RefError::RepositoryWildcardRoot);
    }
    if parts.tag.is_some_and(|t| t.contains('*') && t != "*") {
        return Err(RefError::MisplacedWildcard);
    }
    if parts.tag == Some("*") && parts.digest.is_some() {
        return Err(RefError::WildcardWithDigest);
    }
    if parts.tag != Some("*") || parts.digest.is_some() {
        return Err(RefError::RepositoryWildcardTag(shown));
    }
    // The namespace normalises as a repository with one more component would (the hub's
    // `library/` is added only to one-component names, never to a namespace).
    let probe = format!("{written}/{PLACEHOLDER}");
    let repo = build(whole, &probe, None, None)
        .map_err(|e| match e {
            // Name errors quote the name as written, not the stand-in.
            RefError::Uppercase(_) => RefError::Uppercase(shown.clone()),
            RefError::InvalidPath(_) => RefError::InvalidPath(shown.clone()),
            RefError::NameTooLong { len, .. } => RefError::NameTooLong {
                name: shown.clone(),
                len,
            },
            e => e,
        })?
        .repo;
    let path = repo
        .path
        .strip_suffix(&format!("/{PLACEHOLDER}"))
        .unwrap_or(&repo.path)
        .to_owned();
    Ok(ImageEntry::AnyRepository {
        under: Repository {
            domain: repo.domain,
            path,
        },
    })
}

/// A valid path component standing for the `*` of a repository wildcard while it is normalised.
const PLACEHOLDER: &str = "x";

impl FromStr for ImageEntry {
    type Err = RefError;

    fn from_str(s: &str) -> Result<ImageEntry, RefError> {
        ImageEntry::parse(s)
    }
}

impl fmt::Display for ImageEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageEntry::All => f.write_str("*"),
            ImageEntry::Tag { repo, tag } => write!(f, "{repo}:{tag}"),
            ImageEntry::AnyTag { repo } => write!(f, "{repo}:*"),
            ImageEntry::AnyRepository { under } => write!(f, "{under}/*:*"),
            ImageEntry::Digest { repo, digest } => write!(f, "{repo}@{digest}"),
        }
    }
}

/// Refusals that do not depend on the grammar's structure.
fn check_text(s: &str) -> Result<(), RefError> {
    if s.is_empty() {
        return Err(RefError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(RefError::Whitespace(s.to_owned()));
    }
    Ok(())
}

/// A reference string cut at its separators, not yet validated.
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// No part of a valid name or tag contains `@`, so the first `@` starts the digest; a tag
    /// contains neither `:` nor `/`, so a `:` after the last `/` starts the tag (a `:` before it
    /// can only be the registry's port).
    fn split(s: &'a str) -> Parts<'a> {
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        Parts { name, tag, digest }
    }
}

/// Validates the parts of `whole` and normalises the name, in the engine's order of concerns.
fn build(
    whole: &str,
    name: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<Reference, RefError> {
    if is_identifier(whole) {
        return Err(RefError::ImageId(whole.to_owned()));
    }
    let repo = normalize_name(whole, name)?;
    if let Some(tag) = tag {
        if !is_valid_tag(tag) {
            return Err(RefError::InvalidTag(tag.to_owned()));
        }
    }
    let digest = digest.map(str::parse::<Digest>).transpose()?;
    Ok(Reference {
        repo,
        tag: tag.map(str::to_owned),
        digest,
    })
}

/// `splitDockerDomain` and the name checks of `ParseNormalizedNamed` and `Parse`.
fn normalize_name(whole: &str, name: &str) -> Result<Repository, RefError> {
    if name.is_empty() {
        return Err(RefError::MissingName(whole.to_owned()));
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first_part_is_domain(name) => (first, rest),
        _ => (ENGINE_DEFAULT_DOMAIN, name),
    };
    let hub = is_default_hub(domain);
    if !hub && !is_valid_domain(domain) {
        return Err(RefError::InvalidDomain(domain.to_owned()));
    }
    if path.chars().any(char::is_uppercase) {
        return Err(RefError::Uppercase(name.to_owned()));
    }
    if !path.split('/').all(is_valid_path_component) {
        return Err(RefError::InvalidPath(name.to_owned()));
    }
    let path = if hub && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path.to_owned()
    };
    // The engine measures the name it normalised to, where the hub is `docker.io`.
    let domain_len = if hub {
        ENGINE_DEFAULT_DOMAIN.len()
    } else {
        domain.len()
    };
    let len = domain_len + 1 + path.len();
    if len > NAME_TOTAL_LENGTH_MAX {
        return Err(RefError::NameTooLong {
            name: name.to_owned(),
            len,
        });
    }
    let domain = if hub { DEFAULT_DOMAIN } else { domain };
    Ok(Repository {
        domain: domain.to_owned(),
        path,
    })
}

/// `splitDockerDomain`'s test: the part before the first `/` names a registry when it has a `.`
/// or a `:` or is `localhost`.
fn first_part_is_domain(name: &str) -> bool {
    match name.split_once('/') {
        Some((first, _)) => first.contains(['.', ':']) || first == "localhost",
        None => false,
    }
}

/// `^[a-f0-9]{64}$`: an image ID, which the engine refuses as a name.
fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// moby 20.10's `domainRegexp`: dot-separated `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`,
/// then optionally `:[0-9]+`.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    port_ok && host.split('.').all(component_ok)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
fn is_valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    bytes
        .split(|&b| alnum(b))
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&b| b == b'-'))
}

/// `[\w][\w.-]{0,127}` with Go's ASCII `\w`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.first() {
        Some(&first) => {
            word(first)
                && bytes.len() <= TAG_LENGTH_MAX
                && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const HEX64: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn sha256() -> String {
        format!("sha256:{HEX64}")
    }

    fn parse(s: &str) -> Result<String, RefError> {
        Reference::parse_normalized(s).map(|r| r.to_string())
    }

    #[test]
    fn accepted_references_normalise_like_the_engine() {
        let d = sha256();
        let long_tag = format!("t{}", "x".repeat(127));
        let cases: Vec<(String, String)> = vec![
            // Familiar hub names get the default domain and, alone, the official namespace.
            ("busybox".into(), "iechor.io/library/busybox".into()),
            (
                "busybox:latest".into(),
                "iechor.io/library/busybox:latest".into(),
            ),
            ("iechor:cli".into(), "iechor.io/library/iechor:cli".into()),
            (
                "localstack/localstack".into(),
                "iechor.io/localstack/localstack".into(),
            ),
            ("a/b/c/d".into(), "iechor.io/a/b/c/d".into()),
            // Every hub alias is the same hub, with the same `library/` rule.
            (
                "docker.io/library/busybox".into(),
                "iechor.io/library/busybox".into(),
            ),
            (
                "docker.io/busybox".into(),
                "iechor.io/library/busybox".into(),
            ),
            (
                "index.docker.io/busybox".into(),
                "iechor.io/library/busybox".into(),
            ),
            (
                "iechor.io/busybox".into(),
                "iechor.io/library/busybox".into(),
            ),
            (
                "iechor.io/testcontainers/ryuk:0.6".into(),
                "iechor.io/testcontainers/ryuk:0.6".into(),
            ),
            // Other registries keep their path as written: no `library/` off the hub.
            ("example.com/busybox".into(), "example.com/busybox".into()),
            (
                "example.com/library/busybox".into(),
                "example.com/library/busybox".into(),
            ),
            (
                "registry-1.docker.io/library/x".into(),
                "registry-1.docker.io/library/x".into(),
            ),
            ("Example.COM/foo".into(), "Example.COM/foo".into()),
            ("Docker.io/busybox".into(), "Docker.io/busybox".into()),
            // Domain detection: `.`, `:` or exactly `localhost` before the first `/`.
            ("localhost/x".into(), "localhost/x".into()),
            ("localhost:5000/x".into(), "localhost:5000/x".into()),
            ("registry:5000/x/y".into(), "registry:5000/x/y".into()),
            ("127.0.0.1:5000/x:1".into(), "127.0.0.1:5000/x:1".into()),
            ("localhostx/x".into(), "iechor.io/localhostx/x".into()),
            // Without a `/` a `:` is a tag, never a port.
            ("localhost".into(), "iechor.io/library/localhost".into()),
            (
                "localhost:5000".into(),
                "iechor.io/library/localhost:5000".into(),
            ),
            ("foo:5000".into(), "iechor.io/library/foo:5000".into()),
            // Path separators: `.`, `_`, `__`, runs of `-`.
            (
                "x/a.b_c__d---e/f-g".into(),
                "iechor.io/x/a.b_c__d---e/f-g".into(),
            ),
            // Tags: `\w` first, then `\w.-`, up to 128, any case.
            (
                "busybox:Latest_1.x-y".into(),
                "iechor.io/library/busybox:Latest_1.x-y".into(),
            ),
            ("busybox:_x".into(), "iechor.io/library/busybox:_x".into()),
            (
                format!("busybox:{long_tag}"),
                format!("iechor.io/library/busybox:{long_tag}"),
            ),
            // RepoDigests as the engine reports them, and name:tag@digest.
            (
                format!("busybox@{d}"),
                format!("iechor.io/library/busybox@{d}"),
            ),
            (
                format!("127.0.0.1:5000/x@{d}"),
                format!("127.0.0.1:5000/x@{d}"),
            ),
            (
                format!("busybox:1.36@{d}"),
                format!("iechor.io/library/busybox:1.36@{d}"),
            ),
            (
                format!("x@sha384:{}", "a".repeat(96)),
                format!("iechor.io/library/x@sha384:{}", "a".repeat(96)),
            ),
            (
                format!("x@sha512:{}", "0".repeat(128)),
                format!("iechor.io/library/x@sha512:{}", "0".repeat(128)),
            ),
            // The engine reads a bare `sha256:<hex>` as image `sha256` with a hex tag.
            (
                format!("sha256:{HEX64}"),
                format!("iechor.io/library/sha256:{HEX64}"),
            ),
            // Length is counted on the normalised name, with the hub as `docker.io`.
            (
                "a".repeat(237),
                format!("iechor.io/library/{}", "a".repeat(237)),
            ),
            (
                format!("index.docker.io/library/{}", "a".repeat(237)),
                format!("iechor.io/library/{}", "a".repeat(237)),
            ),
            (
                format!("example.com/{}", "a".repeat(243)),
                format!("example.com/{}", "a".repeat(243)),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(&input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn refused_references_say_why() {
        let cases: Vec<(String, RefError)> = vec![
            ("".into(), RefError::Empty),
            (" busybox".into(), RefError::Whitespace(" busybox".into())),
            ("busybox ".into(), RefError::Whitespace("busybox ".into())),
            ("busybox\n".into(), RefError::Whitespace("busybox\n".into())),
            ("busy box".into(), RefError::Whitespace("busy box".into())),
            ("\tbusybox".into(), RefError::Whitespace("\tbusybox".into())),
            // Uppercase anywhere in the repository path, on the hub or not.
            ("Busybox".into(), RefError::Uppercase("Busybox".into())),
            (
                "library/Busybox".into(),
                RefError::Uppercase("library/Busybox".into()),
            ),
            (
                "localhost:5000/Foo".into(),
                RefError::Uppercase("localhost:5000/Foo".into()),
            ),
            (
                "example.com/a/B".into(),
                RefError::Uppercase("example.com/a/B".into()),
            ),
            // moby 20.10 has no "uppercase first part is a domain" rule: this is the hub's path.
            ("Foo/bar".into(), RefError::Uppercase("Foo/bar".into())),
            ("BÜSYBOX".into(), RefError::Uppercase("BÜSYBOX".into())),
            (HEX64.into(), RefError::ImageId(HEX64.into())),
            (":latest".into(), RefError::MissingName(":latest".into())),
            (
                format!("@{}", sha256()),
                RefError::MissingName(format!("@{}", sha256())),
            ),
            // Path grammar.
            ("busy*".into(), RefError::InvalidPath("busy*".into())),
            ("büsybox".into(), RefError::InvalidPath("büsybox".into())),
            ("a//b".into(), RefError::InvalidPath("a//b".into())),
            ("a/".into(), RefError::InvalidPath("a/".into())),
            ("/a".into(), RefError::InvalidPath("/a".into())),
            ("a..b".into(), RefError::InvalidPath("a..b".into())),
            ("a_.b".into(), RefError::InvalidPath("a_.b".into())),
            ("a___b".into(), RefError::InvalidPath("a___b".into())),
            ("-a".into(), RefError::InvalidPath("-a".into())),
            ("a-".into(), RefError::InvalidPath("a-".into())),
            ("_a".into(), RefError::InvalidPath("_a".into())),
            (
                "busybox:1:2".into(),
                RefError::InvalidPath("busybox:1".into()),
            ),
            (
                "example.com/a+b".into(),
                RefError::InvalidPath("example.com/a+b".into()),
            ),
            // Domain grammar (20.10: no brackets; and no `_`, which the engine would quietly
            // turn into a domain-less path).
            ("a_b.c/x".into(), RefError::InvalidDomain("a_b.c".into())),
            (
                "[::1]:5000/x".into(),
                RefError::InvalidDomain("[::1]:5000".into()),
            ),
            (
                "-foo.com/x".into(),
                RefError::InvalidDomain("-foo.com".into()),
            ),
            (
                "foo-.com/x".into(),
                RefError::InvalidDomain("foo-.com".into()),
            ),
            (
                "foo..com/x".into(),
                RefError::InvalidDomain("foo..com".into()),
            ),
            (
                "foo.com:/x".into(),
                RefError::InvalidDomain("foo.com:".into()),
            ),
            (
                "foo.com:50a/x".into(),
                RefError::InvalidDomain("foo.com:50a".into()),
            ),
            (":5000/x".into(), RefError::InvalidDomain(":5000".into())),
            (
                "foo:bar/baz".into(),
                RefError::InvalidDomain("foo:bar".into()),
            ),
            // Tag grammar.
            ("busybox:".into(), RefError::InvalidTag("".into())),
            ("busybox:.x".into(), RefError::InvalidTag(".x".into())),
            ("busybox:-x".into(), RefError::InvalidTag("-x".into())),
            ("busybox:*".into(), RefError::InvalidTag("*".into())),
            ("busybox:a+b".into(), RefError::InvalidTag("a+b".into())),
            (
                format!("busybox:t{}", "x".repeat(128)),
                RefError::InvalidTag(format!("t{}", "x".repeat(128))),
            ),
            // Length: one past the limit, on the hub and elsewhere.
            (
                "a".repeat(238),
                RefError::NameTooLong {
                    name: "a".repeat(238),
                    len: 256,
                },
            ),
            (
                format!("example.com/{}", "a".repeat(244)),
                RefError::NameTooLong {
                    name: format!("example.com/{}", "a".repeat(244)),
                    len: 256,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse_normalized(&input),
                Err(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn refused_digests_say_what_is_wrong() {
        let bad_hex = DigestError::BadHex;
        let cases: Vec<(String, DigestError)> = vec![
            ("busybox@".into(), DigestError::Empty),
            (format!("busybox@{HEX64}"), DigestError::MissingAlgorithm),
            (format!("busybox@:{HEX64}"), DigestError::MissingAlgorithm),
            ("busybox@sha256:abc".into(), bad_hex(Algorithm::Sha256)),
            (
                format!("busybox@sha256:{}", &HEX64[1..]),
                bad_hex(Algorithm::Sha256),
            ),
            (
                format!("busybox@sha256:{HEX64}a"),
                bad_hex(Algorithm::Sha256),
            ),
            (
                format!("busybox@sha256:{}", HEX64.to_uppercase()),
                bad_hex(Algorithm::Sha256),
            ),
            (
                format!("busybox@sha256:{}", "g".repeat(64)),
                bad_hex(Algorithm::Sha256),
            ),
            (
                format!("busybox@sha512:{HEX64}"),
                bad_hex(Algorithm::Sha512),
            ),
            (
                format!("busybox@sha384:{HEX64}"),
                bad_hex(Algorithm::Sha384),
            ),
            (
                format!("busybox:1@{}@x", sha256()),
                bad_hex(Algorithm::Sha256),
            ),
            (
                format!("busybox@md5:{}", &HEX64[..32]),
                DigestError::UnsupportedAlgorithm("md5".into()),
            ),
            (
                format!("busybox@SHA256:{HEX64}"),
                DigestError::UnsupportedAlgorithm("SHA256".into()),
            ),
        ];
        for (input, problem) in cases {
            let (_, digest) = input.split_once('@').unwrap();
            let want = RefError::InvalidDigest {
                digest: digest.to_owned(),
                problem,
            };
            assert_eq!(
                Reference::parse_normalized(&input),
                Err(want.clone()),
                "input {input:?}"
            );
            assert_eq!(digest.parse::<Digest>(), Err(want), "digest {digest:?}");
        }
    }

    #[test]
    fn messages_tell_a_person_what_to_fix() {
        let message = |s: &str| ImageEntry::parse(s).unwrap_err().to_string();
        let cases = [
            ("Busybox", "repository name must be lowercase: \"Busybox\""),
            ("busybox:", "invalid tag \"\": a tag is 1 to 128"),
            (
                "busybox@sha256:abc",
                "invalid digest \"sha256:abc\": sha256 needs 64 lowercase hex characters",
            ),
            (
                "busybox@md5:abc",
                "unsupported algorithm \"md5\" (supported: sha256, sha384, sha512)",
            ),
            ("busybox@abc", "the algorithm is missing"),
            (
                "busy*",
                "\"*\" is allowed only as a whole tag (name:*), as a whole last path component with tag * (ns/*:*), or as the whole entry",
            ),
            ("ns/*", "write ns/*:* (any repository under that path, any tag)"),
            ("docker.io/*:*", "needs the namespace it covers before /*"),
            (
                "busybox:*@sha256:abc",
                "write name:* for any tag or name@sha256:",
            ),
            ("a_b.c/x", "invalid registry \"a_b.c\""),
            ("busybox ", "contains whitespace"),
        ];
        for (input, want) in cases {
            let got = message(input);
            assert!(got.contains(want), "{input:?}: {got:?} lacks {want:?}");
        }
        let bare = format!("sha256:{HEX64}");
        assert!(message(&bare).contains(&format!("name@sha256:{HEX64}")));
    }

    #[test]
    fn image_entries_have_four_forms() {
        let d = sha256();
        let cases: Vec<(String, String, &str)> = vec![
            ("*".into(), "*".into(), "all"),
            (
                "iechor:cli".into(),
                "iechor.io/library/iechor:cli".into(),
                "tag",
            ),
            (
                "busybox".into(),
                "iechor.io/library/busybox:latest".into(),
                "tag",
            ),
            (
                "localhost:5000/x".into(),
                "localhost:5000/x:latest".into(),
                "tag",
            ),
            (
                "iechor.io/localstack/localstack:*".into(),
                "iechor.io/localstack/localstack:*".into(),
                "any",
            ),
            (
                "localstack/localstack:*".into(),
                "iechor.io/localstack/localstack:*".into(),
                "any",
            ),
            (
                "docker.io/busybox:*".into(),
                "iechor.io/library/busybox:*".into(),
                "any",
            ),
            (
                "localhost:5000/x:*".into(),
                "localhost:5000/x:*".into(),
                "any",
            ),
            (
                "localhost:*".into(),
                "iechor.io/library/localhost:*".into(),
                "any",
            ),
            (
                format!("busybox@{d}"),
                format!("iechor.io/library/busybox@{d}"),
                "digest",
            ),
            // The digest alone decides, as in the engine's ParseDockerRef.
            (
                format!("busybox:1.36@{d}"),
                format!("iechor.io/library/busybox@{d}"),
                "digest",
            ),
        ];
        for (input, want, kind) in cases {
            let entry = ImageEntry::parse(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let got_kind = match entry {
                ImageEntry::All => "all",
                ImageEntry::Tag { .. } => "tag",
                ImageEntry::AnyTag { .. } => "any",
                ImageEntry::AnyRepository { .. } => "any-repository",
                ImageEntry::Digest { .. } => "digest",
            };
            assert_eq!(
                (entry.to_string(), got_kind),
                (want, kind),
                "input {input:?}"
            );
            assert_eq!(entry.repository().is_none(), kind == "all");
        }
    }

    #[test]
    fn image_entries_refuse_stray_wildcards_and_bad_names() {
        let d = sha256();
        let cases: Vec<(String, RefError)> = vec![
            ("*:latest".into(), RefError::MisplacedWildcard),
            ("*:*".into(), RefError::MisplacedWildcard),
            ("**".into(), RefError::MisplacedWildcard),
            ("busy*".into(), RefError::MisplacedWildcard),
            ("busy*:*".into(), RefError::MisplacedWildcard),
            ("*/busybox:*".into(), RefError::MisplacedWildcard),
            ("iechor.io/*".into(), RefError::RepositoryWildcardRoot),
            ("busybox:*x".into(), RefError::MisplacedWildcard),
            ("busybox:x*".into(), RefError::MisplacedWildcard),
            ("busybox:**".into(), RefError::MisplacedWildcard),
            ("busybox@sha256:*".into(), RefError::MisplacedWildcard),
            ("busybox@*".into(), RefError::MisplacedWildcard),
            ("localhost:*5000/x".into(), RefError::MisplacedWildcard),
            (format!("busybox:*@{d}"), RefError::WildcardWithDigest),
            (" *".into(), RefError::Whitespace(" *".into())),
            ("* ".into(), RefError::Whitespace("* ".into())),
            ("".into(), RefError::Empty),
            ("Busybox:*".into(), RefError::Uppercase("Busybox".into())),
            ("busybox:".into(), RefError::InvalidTag("".into())),
            (":*".into(), RefError::MissingName(":*".into())),
            (
                format!("sha256:{HEX64}"),
                RefError::BareDigest(format!("sha256:{HEX64}")),
            ),
            (HEX64.into(), RefError::ImageId(HEX64.into())),
        ];
        for (input, want) in cases {
            assert_eq!(ImageEntry::parse(&input), Err(want), "input {input:?}");
        }
    }

    /// The repository-wildcard grammar: only a whole last path component `*` with tag `*`,
    /// under at least a namespace; every other `*` stays an error.
    #[test]
    fn repository_wildcards_take_one_form() {
        let d = sha256();
        let accepted = [
            ("testcontainers/*:*", "iechor.io/testcontainers/*:*"),
            (
                "iechor.io/testcontainers/*:*",
                "iechor.io/testcontainers/*:*",
            ),
            (
                "docker.io/testcontainers/*:*",
                "iechor.io/testcontainers/*:*",
            ),
            ("library/*:*", "iechor.io/library/*:*"),
            ("docker.io/library/*:*", "iechor.io/library/*:*"),
            ("a/b/*:*", "iechor.io/a/b/*:*"),
            (
                "your-registry.com/ci-tools/*:*",
                "your-registry.com/ci-tools/*:*",
            ),
            ("localhost:5000/team/*:*", "localhost:5000/team/*:*"),
            ("127.0.0.1:5000/a/b/*:*", "127.0.0.1:5000/a/b/*:*"),
        ];
        for (input, want) in accepted {
            let entry = ImageEntry::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert!(
                matches!(entry, ImageEntry::AnyRepository { .. }),
                "{input:?}: {entry:?}"
            );
            assert_eq!(entry.to_string(), want, "{input:?}");
            assert_eq!(entry.repository(), None, "{input:?}");
            assert_eq!(ImageEntry::parse(want).as_ref(), Ok(&entry), "{want:?}");
        }
        let refused: Vec<(String, RefError)> = vec![
            (
                "testcontainers/*".into(),
                RefError::RepositoryWildcardTag("testcontainers/*".into()),
            ),
            (
                "testcontainers/*:latest".into(),
                RefError::RepositoryWildcardTag("testcontainers/*".into()),
            ),
            (
                format!("testcontainers/*@{d}"),
                RefError::RepositoryWildcardTag("testcontainers/*".into()),
            ),
            (
                format!("testcontainers/*:*@{d}"),
                RefError::WildcardWithDigest,
            ),
            ("testcontainers/*:x*".into(), RefError::MisplacedWildcard),
            ("testcontainers/*:**".into(), RefError::MisplacedWildcard),
            ("*/*:*".into(), RefError::MisplacedWildcard),
            ("test*/*:*".into(), RefError::MisplacedWildcard),
            ("testcontainers/r*:*".into(), RefError::MisplacedWildcard),
            (
                "testcontainers/*/ryuk:*".into(),
                RefError::MisplacedWildcard,
            ),
            ("testcontainers/**:*".into(), RefError::MisplacedWildcard),
            ("*:*".into(), RefError::MisplacedWildcard),
            ("docker.io/*:*".into(), RefError::RepositoryWildcardRoot),
            (
                "localhost:5000/*:*".into(),
                RefError::RepositoryWildcardRoot,
            ),
            ("localhost/*:*".into(), RefError::RepositoryWildcardRoot),
            ("/*:*".into(), RefError::RepositoryWildcardRoot),
            (
                "Testcontainers/*:*".into(),
                RefError::Uppercase("Testcontainers/*".into()),
            ),
            (
                "test--/*:*".into(),
                RefError::InvalidPath("test--/*".into()),
            ),
            (
                "bad_host.com:x/ns/*:*".into(),
                RefError::InvalidDomain("bad_host.com:x".into()),
            ),
        ];
        for (input, want) in refused {
            assert_eq!(ImageEntry::parse(&input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn repository_wildcards_cover_direct_children_only() {
        let entry = ImageEntry::parse("testcontainers/*:*").unwrap();
        let repo = |s: &str| Reference::parse_normalized(s).unwrap().into_repository();
        // (repository, covered)
        let cases = [
            ("testcontainers/ryuk", true),
            ("docker.io/testcontainers/sshd", true),
            ("testcontainers", false),
            ("testcontainers/ryuk/deeper", false),
            ("testcontainersx/ryuk", false),
            ("other/ryuk", false),
            ("example.com/testcontainers/ryuk", false),
        ];
        for (r, want) in cases {
            assert_eq!(entry.covers(&repo(r)), want, "{r}");
            assert_eq!(entry.verified_lazily(&repo(r)), want, "{r}");
        }
        let tag = ImageEntry::parse("testcontainers/ryuk:1").unwrap();
        assert!(
            tag.covers(&repo("testcontainers/ryuk"))
                && !tag.verified_lazily(&repo("testcontainers/ryuk"))
        );
    }

    #[test]
    fn hub_aliases_are_one_repository() {
        let same = [
            "busybox",
            "busybox:1.36",
            "docker.io/busybox",
            "docker.io/library/busybox",
            "index.docker.io/library/busybox",
            "iechor.io/busybox",
            "iechor.io/library/busybox:latest",
        ];
        let repos: HashSet<Repository> = same
            .iter()
            .map(|s| Reference::parse_normalized(s).unwrap().into_repository())
            .collect();
        assert_eq!(repos.len(), 1, "{repos:?}");
        let others = [
            "example.com/library/busybox",
            "Docker.io/busybox",
            "library/busybox/x",
        ];
        for other in others {
            let repo = Reference::parse_normalized(other)
                .unwrap()
                .into_repository();
            assert!(
                !repos.contains(&repo),
                "{other:?} must be another repository"
            );
        }
        for domain in ["iechor.io", "docker.io", "index.docker.io"] {
            assert!(is_default_hub(domain), "{domain}");
        }
        for domain in [
            "Docker.io",
            "registry-1.docker.io",
            "index.iechor.io",
            "localhost",
        ] {
            assert!(!is_default_hub(domain), "{domain}");
        }
    }

    #[test]
    fn repository_parts_familiar_names_and_registry_host() {
        // (input, domain, path, familiar, registry host)
        let cases = [
            (
                "busybox",
                "iechor.io",
                "library/busybox",
                "busybox",
                "docker.io",
            ),
            (
                "iechor.io/localstack/localstack",
                "iechor.io",
                "localstack/localstack",
                "localstack/localstack",
                "docker.io",
            ),
            (
                "docker.io/library/a/b",
                "iechor.io",
                "library/a/b",
                "library/a/b",
                "docker.io",
            ),
            (
                "127.0.0.1:5000/x",
                "127.0.0.1:5000",
                "x",
                "127.0.0.1:5000/x",
                "127.0.0.1:5000",
            ),
            ("localhost/x", "localhost", "x", "localhost/x", "localhost"),
            // Shortened, these would name the registries `a.b` and `localhost`.
            (
                "iechor.io/a.b/c",
                "iechor.io",
                "a.b/c",
                "iechor.io/a.b/c",
                "docker.io",
            ),
            (
                "docker.io/localhost/x",
                "iechor.io",
                "localhost/x",
                "iechor.io/localhost/x",
                "docker.io",
            ),
            (
                "docker.io/library/a.b",
                "iechor.io",
                "library/a.b",
                "a.b",
                "docker.io",
            ),
            (
                "example.com/library/x",
                "example.com",
                "library/x",
                "example.com/library/x",
                "example.com",
            ),
        ];
        for (input, domain, path, familiar, host) in cases {
            let repo = Reference::parse_normalized(input)
                .unwrap()
                .into_repository();
            assert_eq!(
                (
                    repo.domain(),
                    repo.path(),
                    repo.familiar().as_str(),
                    repo.registry_host()
                ),
                (domain, path, familiar, host),
                "input {input:?}"
            );
            let again = Reference::parse_normalized(&repo.familiar()).unwrap();
            assert_eq!(again.repository(), &repo, "familiar of {input:?}");
        }
    }

    #[test]
    fn default_tag_only_for_bare_names() {
        let d = sha256();
        let cases = [
            (
                "busybox".to_string(),
                "iechor.io/library/busybox:latest".to_string(),
            ),
            (
                "busybox:1".to_string(),
                "iechor.io/library/busybox:1".to_string(),
            ),
            (
                format!("busybox@{d}"),
                format!("iechor.io/library/busybox@{d}"),
            ),
        ];
        for (input, want) in cases {
            let r = Reference::parse_normalized(&input).unwrap();
            assert_eq!(r.with_default_tag().to_string(), want, "input {input:?}");
        }
        let r = Reference::parse_normalized(&format!("x:1@{d}")).unwrap();
        assert_eq!(
            (r.tag(), r.digest().map(|d| d.algorithm())),
            (Some("1"), Some(Algorithm::Sha256))
        );
        assert_eq!(r.digest().unwrap().hex(), HEX64);
    }

    fn component(dots: bool) -> impl Strategy<Value = String> {
        if dots {
            "[a-z0-9]{1,5}(([._]|__|-{1,3})[a-z0-9]{1,5}){0,2}".boxed()
        } else {
            "[a-z0-9]{1,5}(([_]|__|-{1,3})[a-z0-9]{1,5}){0,2}".boxed()
        }
    }

    /// (domain as written, if any; path as written).
    fn name() -> impl Strategy<Value = (Option<String>, String)> {
        let domain = prop_oneof![
            Just(None),
            Just(Some("iechor.io".to_owned())),
            Just(Some("docker.io".to_owned())),
            Just(Some("index.docker.io".to_owned())),
            Just(Some("localhost".to_owned())),
            "localhost:[0-9]{1,5}".prop_map(Some),
            "[a-z0-9]{1,4}:[0-9]{1,5}".prop_map(Some),
            "[a-zA-Z0-9]([a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]{1,5}){1,2}(:[0-9]{1,5})?"
                .prop_map(Some),
        ];
        domain.prop_flat_map(|domain| {
            // Without a written domain a first part with `.` would itself be read as a domain.
            let first = component(domain.is_some());
            let rest = proptest::collection::vec(component(true), 0..3);
            (Just(domain), first, rest).prop_map(|(domain, first, rest)| {
                let mut path = first;
                for part in rest {
                    path.push('/');
                    path.push_str(&part);
                }
                (domain, path)
            })
        })
    }

    fn tag() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"
    }

    fn digest() -> impl Strategy<Value = String> {
        prop_oneof![
            "sha256:[0-9a-f]{64}",
            "sha384:[0-9a-f]{96}",
            "sha512:[0-9a-f]{128}"
        ]
    }

    fn written_name(domain: &Option<String>, path: &str) -> String {
        match domain {
            Some(domain) => format!("{domain}/{path}"),
            None => path.to_owned(),
        }
    }

    fn expected_repo(domain: &Option<String>, path: &str) -> (String, String) {
        match domain {
            Some(d) if !is_default_hub(d) => (d.clone(), path.to_owned()),
            _ if !path.contains('/') => (DEFAULT_DOMAIN.to_owned(), format!("library/{path}")),
            _ => (DEFAULT_DOMAIN.to_owned(), path.to_owned()),
        }
    }

    /// Strings near the grammar, most of them invalid, to exercise every refusal path.
    fn near_reference() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9._:/@*-]{0,30}",
            "(localhost|docker\\.io|iechor\\.io|a\\.b|x:5)?/?[a-z._-]{0,8}(/[a-z0-9_-]{0,5})?(:[a-zA-Z0-9*._-]{0,6})?(@sha256:[0-9a-fA-F]{62,66})?",
        ]
    }

    proptest! {
        #[test]
        fn valid_references_print_and_parse_back(
            (domain, path) in name(),
            tag in proptest::option::of(tag()),
            digest in proptest::option::of(digest()),
        ) {
            let mut input = written_name(&domain, &path);
            if let Some(tag) = &tag {
                input = format!("{input}:{tag}");
            }
            if let Some(digest) = &digest {
                input = format!("{input}@{digest}");
            }
            let r = Reference::parse_normalized(&input).map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
            let (want_domain, want_path) = expected_repo(&domain, &path);
            prop_assert_eq!(r.repository().domain(), want_domain.as_str());
            prop_assert_eq!(r.repository().path(), want_path.as_str());
            prop_assert_eq!(r.tag(), tag.as_deref());
            prop_assert_eq!(r.digest().map(|d| d.to_string()), digest);
            prop_assert_eq!(Reference::parse_normalized(&r.to_string()), Ok(r.clone()));
            let familiar = Reference::parse_normalized(&r.repository().familiar());
            prop_assert_eq!(familiar.map(Reference::into_repository), Ok(r.repository().clone()));
        }

        #[test]
        fn valid_image_entries_print_and_parse_back(
            (domain, path) in name(),
            form in 0..4u8,
            tag in tag(),
            digest in digest(),
        ) {
            let name = written_name(&domain, &path);
            let (input, want_kind) = match form {
                0 => (name.clone(), "tag"),
                1 => (format!("{name}:{tag}"), "tag"),
                2 => (format!("{name}:*"), "any"),
                _ => (format!("{name}@{digest}"), "digest"),
            };
            let entry = ImageEntry::parse(&input).map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
            let (kind, shown_tag) = match &entry {
                ImageEntry::All => ("all", None),
                ImageEntry::Tag { tag, .. } => ("tag", Some(tag.clone())),
                ImageEntry::AnyTag { .. } => ("any", None),
                ImageEntry::AnyRepository { .. } => ("any-repository", None),
                ImageEntry::Digest { digest: d, .. } => {
                    prop_assert_eq!(d.to_string(), digest.clone());
                    ("digest", None)
                }
            };
            prop_assert_eq!(kind, want_kind);
            match form {
                0 => prop_assert_eq!(shown_tag.as_deref(), Some(DEFAULT_TAG)),
                1 => prop_assert_eq!(shown_tag, Some(tag)),
                _ => {}
            }
            let (want_domain, want_path) = expected_repo(&domain, &path);
            let repo = entry.repository().expect("a named entry has a repository");
            prop_assert_eq!((repo.domain(), repo.path()), (want_domain.as_str(), want_path.as_str()));
            prop_assert_eq!(ImageEntry::parse(&entry.to_string()), Ok(entry.clone()));
        }

        #[test]
        fn normalising_is_idempotent(s in near_reference()) {
            if let Ok(r) = Reference::parse_normalized(&s) {
                let shown = r.to_string();
                let again = Reference::parse_normalized(&shown);
                prop_assert_eq!(again.as_ref(), Ok(&r), "{:?} -> {:?}", s, shown);
                prop_assert_eq!(again.map(|a| a.to_string()), Ok(shown));
            }
            if let Ok(e) = ImageEntry::parse(&s) {
                let shown = e.to_string();
                let again = ImageEntry::parse(&shown);
                prop_assert_eq!(again.as_ref(), Ok(&e), "{:?} -> {:?}", s, shown);
                prop_assert_eq!(again.map(|a| a.to_string()), Ok(shown));
            }
        }

        #[test]
        fn entries_and_references_agree_on_names(s in near_reference()) {
            // An entry without `*` names exactly the repository the engine would read.
            if !s.contains('*') {
                if let (Ok(e), Ok(r)) = (ImageEntry::parse(&s), Reference::parse_normalized(&s)) {
                    prop_assert_eq!(e.repository(), Some(r.repository()));
                }
            }
        }
    }
}
