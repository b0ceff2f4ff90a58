//! What the registry publishes for one image-list entry (index, platform manifests, configs), what
//! the engine says of a local image, and the in-memory snapshot the enforcer checks them against
//! on every container create without touching the network.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eci_policy::reference::{Digest, ImageEntry, RefError, Reference, Repository};
use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureKind};

/// One platform image: its manifest and its config (the image ID an engine gives it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct PlatformImage {
    /// `os/architecture[/variant]` from the index; `None` for a single-platform manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(with = "digest_text")]
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub manifest: Digest,
    #[serde(with = "digest_text")]
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub config: Digest,
}

/// The digests a tag or pinned digest stands for in its repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImageDigests {
    /// What the tag or pin names: an index, or an image manifest.
    #[serde(with = "digest_text")]
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub digest: Digest,
    pub media_type: String,
    /// For an index every platform image (attestations skipped); otherwise the one image.
    pub images: Vec<PlatformImage>,
}

impl ImageDigests {
    /// Whether `digest` (a `RepoDigests` digest of this repository) is the index or one of the
    /// platform manifests.
    pub fn has_manifest(&self, digest: &Digest) -> bool {
        self.digest == *digest || self.images.iter().any(|i| i.manifest == *digest)
    }

    /// Whether `id` (a local image ID) is one of the configs.
    pub fn has_config(&self, id: &Digest) -> bool {
        self.images.iter().any(|i| i.config == *id)
    }

    /// Every manifest digest (the named one first) and every config digest.
    pub fn all(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.digest)
            .chain(
                self.images
                    .iter()
                    .filter(|i| i.manifest != self.digest)
                    .map(|i| &i.manifest),
            )
            .chain(self.images.iter().map(|i| &i.config))
    }
}

/// What is known of one tag or digest entry: the last digests fetched and the last attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryState {
    /// The last digests fetched successfully; kept when later attempts fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Arc<ImageDigests>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<DateTime<Utc>>,
}

impl EntryState {
    /// Why these digests are unknown: the last failure, or "not fetched yet".
    pub fn unknown_reason(&self) -> Failure {
        self.last_error.clone().unwrap_or_else(|| {
            Failure::new(
                FailureKind::Pending,
                "the digests have not been fetched from the registry yet",
            )
        })
    }
}

/// The registry's answer for `repo@digest`, asked on behalf of a `name:*` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnyTagAnswer {
    /// The digest is in the repository; these are its config digests.
    Exists { digests: Arc<ImageDigests> },
    /// The registry said the digest is not in the repository. Dropped at the next periodic
    /// refresh, since the repository may gain it.
    Missing,
}

/// A local image as the engine resolves it (`GET /images/{name}/json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// `Id`: the config digest.
    pub id: Digest,
    /// `RepoDigests`, parsed; entries that do not parse are left out since they cannot match.
    pub repo_digests: Vec<(Repository, Digest)>,
}

impl LocalImage {
    /// From the engine's `Id` and `RepoDigests` strings.
    pub fn from_inspect<S: AsRef<str>>(
        id: &str,
        repo_digests: &[S],
    ) -> Result<LocalImage, RefError> {
        let id = id.parse()?;
        let repo_digests = repo_digests
            .iter()
            .filter_map(|s| {
                let r = Reference::parse_normalized(s.as_ref()).ok()?;
                let digest = r.digest()?.clone();
                Some((r.into_repository(), digest))
            })
            .collect();
        Ok(LocalImage { id, repo_digests })
    }

    fn digests_in<'a>(&'a self, repo: &'a Repository) -> impl Iterator<Item = &'a Digest> + 'a {
        self.repo_digests
            .iter()
            .filter(move |(r, _)| r == repo)
            .map(|(_, d)| d)
    }
}

/// Why an image matched an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "digest", rename_all = "kebab-case")]
pub enum Match {
    /// The entry is `"*"`.
    AllImages,
    /// The image ID is a config digest published for the entry.
    Config(String),
    /// One of the image's repo digests is a manifest or index digest published for the entry.
    RepoDigest(String),
}

/// One entry checked against one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryCheck {
    Allowed(Match),
    /// The entry's digests are known and the image is none of them.
    NotAllowed,
    /// The entry's digests are unknown (never fetched); fail closed, with the reason.
    Unverified(Failure),
    /// A `name:*` or `ns/*:*` entry and repo digests of the image in repositories it covers that
    /// the registry has not been asked about yet: call [`crate::DigestService::verify_any_tag`],
    /// then check again.
    NeedsVerification(Vec<(Repository, Digest)>),
}

/// A whole image list checked against one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListCheck {
    Allowed {
        entry: ImageEntry,
        by: Match,
    },
    /// Nothing allowed it yet, but these `name:*` facts are missing; verify, then check again.
    NeedsVerification(Vec<(Repository, Digest)>),
    /// Nothing allowed it. `unverified` lists the entries whose digests are unknown and why: the
    /// image might be one of them, so the deny message should say so.
    Denied {
        unverified: Vec<(ImageEntry, Failure)>,
    },
}

/// An immutable view of every known digest, published atomically; lookups are in memory only.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub(crate) entries: HashMap<ImageEntry, EntryState>,
    pub(crate) any_tag: HashMap<(Repository, Digest), AnyTagAnswer>,
}

impl Snapshot {
    /// What is known of a tag or digest entry (none for `"*"`, `name:*`, or entries not in the
    /// policy).
    pub fn entry(&self, entry: &ImageEntry) -> Option<&EntryState> {
        self.entries.get(entry)
    }

    /// Every tag and digest entry of the policy with what is known of it, for the status view.
    pub fn entries(&self) -> impl Iterator<Item = (&ImageEntry, &EntryState)> {
        self.entries.iter()
    }

    /// The registry's answer for `repo@digest` on behalf of `name:*`, if asked.
    pub fn any_tag(&self, repo: &Repository, digest: &Digest) -> Option<&AnyTagAnswer> {
        self.any_tag.get(&(repo.clone(), digest.clone()))
    }

    /// The repositories under a `ns/*:*` entry (or the one of `name:*`) whose images the registry
    /// has confirmed so far, sorted: what the wildcard matched.
    pub fn verified_under(&self, entry: &ImageEntry) -> Vec<String> {
        let mut found: Vec<String> = self
            .any_tag
            .iter()
            .filter(|((repo, _), answer)| {
                entry.verified_lazily(repo) && matches!(answer, AnyTagAnswer::Exists { .. })
            })
            .map(|((repo, _), _)| repo.to_string())
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// Checks one entry. An entry the service was not given is unverified.
    pub fn check(&self, entry: &ImageEntry, image: &LocalImage) -> EntryCheck {
        match entry {
            ImageEntry::All => EntryCheck::Allowed(Match::AllImages),
            ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. } => {
                self.check_lazily(entry, image)
            }
            ImageEntry::Tag { repo, .. } | ImageEntry::Digest { repo, .. } => {
                let Some(state) = self.entries.get(entry) else {
                    return EntryCheck::Unverified(EntryState::default().unknown_reason());
                };
                let Some(digests) = &state.digests else {
                    return EntryCheck::Unverified(state.unknown_reason());
                };
                if digests.has_config(&image.id) {
                    return EntryCheck::Allowed(Match::Config(image.id.to_string()));
                }
                match image.digests_in(repo).find(|d| digests.has_manifest(d)) {
                    Some(d) => EntryCheck::Allowed(Match::RepoDigest(d.to_string())),
                    None => EntryCheck::NotAllowed,
                }
            }
        }
    }

    /// `name:*` and `ns/*:*`: every repo digest of the image in a repository the entry covers.
    fn check_lazily(&self, entry: &ImageEntry, image: &LocalImage) -> EntryCheck {
        let mut unasked = Vec::new();
        for (repo, digest) in image.repo_digests.iter().filter(|(r, _)| entry.covers(r)) {
            // Looked up by a borrowed pair would need a custom key type; the clone is two
            // short strings, and this path runs only for lazily verified entries covering it.
            let key = (repo.clone(), digest.clone());
            match self.any_tag.get(&key) {
                Some(AnyTagAnswer::Exists { digests }) if digests.has_config(&image.id) => {
                    return EntryCheck::Allowed(Match::RepoDigest(digest.to_string()));
                }
                Some(_) => {}
                None => unasked.push(key),
            }
        }
        if unasked.is_empty() {
            EntryCheck::NotAllowed
        } else {
            EntryCheck::NeedsVerification(unasked)
        }
    }

    /// Checks the image list: allowed by the first entry that matches.
    pub fn check_list<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a ImageEntry>,
        image: &LocalImage,
    ) -> ListCheck {
        let mut unverified = Vec::new();
        let mut to_verify = Vec::new();
        for entry in entries {
            match self.check(entry, image) {
                EntryCheck::Allowed(by) => {
                    return ListCheck::Allowed {
                        entry: entry.clone(),
                        by,
                    }
                }
                EntryCheck::NotAllowed => {}
                EntryCheck::Unverified(why) => unverified.push((entry.clone(), why)),
                EntryCheck::NeedsVerification(pairs) => to_verify.extend(pairs),
            }
        }
        if to_verify.is_empty() {
            ListCheck::Denied { unverified }
        } else {
            ListCheck::NeedsVerification(to_verify)
        }
    }
}

/// Digests as their `algorithm:hex` text in JSON.
pub(crate) mod digest_text {
    use eci_policy::reference::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(digest: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(digest)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    fn repo(s: &str) -> Repository {
        Reference::parse_normalized(s).unwrap().into_repository()
    }

    fn image(id: u8, repo_digests: &[(&str, u8)]) -> LocalImage {
        LocalImage {
            id: digest(id),
            repo_digests: repo_digests
                .iter()
                .map(|(r, d)| (repo(r), digest(*d)))
                .collect(),
        }
    }

    fn fetched(index: u8, images: &[(u8, u8)]) -> EntryState {
        EntryState {
            digests: Some(Arc::new(ImageDigests {
                digest: digest(index),
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                images: images
                    .iter()
                    .map(|(m, c)| PlatformImage {
                        platform: None,
                        manifest: digest(*m),
                        config: digest(*c),
                    })
                    .collect(),
            })),
            fetched_at: Some(Utc::now()),
            ..EntryState::default()
        }
    }

    #[test]
    fn entries_match_by_config_or_by_repo_digest_of_their_repository() {
        let tag = ImageEntry::parse("r.example/app:1").unwrap();
        let pinned = ImageEntry::parse(&format!("r.example/pinned@{}", digest(20))).unwrap();
        let never = ImageEntry::parse("r.example/never:1").unwrap();
        let failed = ImageEntry::parse("r.example/failed:1").unwrap();
        let mut snapshot = Snapshot::default();
        // index 1 over platform manifests 2 and 3, configs 12 and 13.
        snapshot
            .entries
            .insert(tag.clone(), fetched(1, &[(2, 12), (3, 13)]));
        snapshot
            .entries
            .insert(pinned.clone(), fetched(20, &[(20, 21)]));
        snapshot.entries.insert(
            failed.clone(),
            EntryState {
                last_error: Some(Failure::new(FailureKind::Unreachable, "connection refused")),
                ..EntryState::default()
            },
        );
        let allowed_config = |d: u8| EntryCheck::Allowed(Match::Config(digest(d).to_string()));
        let allowed_repo = |d: u8| EntryCheck::Allowed(Match::RepoDigest(digest(d).to_string()));
        let cases = [
            (&tag, image(12, &[]), allowed_config(12)),
            (&tag, image(13, &[("r.example/app", 1)]), allowed_config(13)),
            (&tag, image(99, &[("r.example/app", 1)]), allowed_repo(1)),
            (&tag, image(99, &[("r.example/app", 3)]), allowed_repo(3)),
            // The same manifest digest recorded for another repository proves nothing here.
            (
                &tag,
                image(99, &[("r.example/other", 1)]),
                EntryCheck::NotAllowed,
            ),
            // A retagged local image: no repo digest, unknown ID.
            (&tag, image(99, &[]), EntryCheck::NotAllowed),
            // A config digest is not a manifest digest.
            (
                &tag,
                image(99, &[("r.example/app", 12)]),
                EntryCheck::NotAllowed,
            ),
            (&pinned, image(21, &[]), allowed_config(21)),
            (
                &pinned,
                image(99, &[("r.example/pinned", 20)]),
                allowed_repo(20),
            ),
            (
                &pinned,
                image(12, &[("r.example/pinned", 1)]),
                EntryCheck::NotAllowed,
            ),
            (
                &never,
                image(12, &[]),
                EntryCheck::Unverified(EntryState::default().unknown_reason()),
            ),
            (
                &failed,
                image(12, &[]),
                EntryCheck::Unverified(Failure::new(
                    FailureKind::Unreachable,
                    "connection refused",
                )),
            ),
            (
                &ImageEntry::All,
                image(99, &[]),
                EntryCheck::Allowed(Match::AllImages),
            ),
        ];
        for (entry, image, want) in cases {
            assert_eq!(snapshot.check(entry, &image), want, "{entry} vs {image:?}");
        }
    }

    #[test]
    fn any_tag_entries_need_the_registry_then_match_only_the_verified_config() {
        let any = ImageEntry::parse("r.example/app:*").unwrap();
        let app = repo("r.example/app");
        let mut snapshot = Snapshot::default();
        assert_eq!(
            snapshot.check(
                &any,
                &image(12, &[("r.example/app", 1), ("r.example/x", 5)])
            ),
            EntryCheck::NeedsVerification(vec![(app.clone(), digest(1))])
        );
        assert_eq!(
            snapshot.check(&any, &image(12, &[("r.example/x", 1)])),
            EntryCheck::NotAllowed
        );
        let state = fetched(1, &[(2, 12)]);
        snapshot.any_tag.insert(
            (app.clone(), digest(1)),
            AnyTagAnswer::Exists {
                digests: state.digests.unwrap(),
            },
        );
        snapshot
            .any_tag
            .insert((app.clone(), digest(7)), AnyTagAnswer::Missing);
        let cases = [
            (
                image(12, &[("r.example/app", 1)]),
                EntryCheck::Allowed(Match::RepoDigest(digest(1).to_string())),
            ),
            // Same repo digest but another image ID: a retagged image claiming the digest.
            (image(13, &[("r.example/app", 1)]), EntryCheck::NotAllowed),
            (image(12, &[("r.example/app", 7)]), EntryCheck::NotAllowed),
            (image(12, &[]), EntryCheck::NotAllowed),
        ];
        for (image, want) in cases {
            assert_eq!(snapshot.check(&any, &image), want, "{image:?}");
        }
    }

    #[test]
    fn repository_wildcards_ask_about_each_covered_repository() {
        let ns = ImageEntry::parse("r.example/team/*:*").unwrap();
        let mut snapshot = Snapshot::default();
        let img = image(
            12,
            &[
                ("r.example/team/a", 1),
                ("r.example/team/a/deep", 2),
                ("r.example/other", 3),
                ("r.example/team/b", 4),
            ],
        );
        assert_eq!(
            snapshot.check(&ns, &img),
            EntryCheck::NeedsVerification(vec![
                (repo("r.example/team/a"), digest(1)),
                (repo("r.example/team/b"), digest(4)),
            ])
        );
        let state = fetched(1, &[(2, 12)]);
        snapshot
            .any_tag
            .insert((repo("r.example/team/a"), digest(1)), AnyTagAnswer::Missing);
        snapshot.any_tag.insert(
            (repo("r.example/team/b"), digest(4)),
            AnyTagAnswer::Exists {
                digests: state.digests.unwrap(),
            },
        );
        assert_eq!(
            snapshot.check(&ns, &img),
            EntryCheck::Allowed(Match::RepoDigest(digest(4).to_string()))
        );
        // Another image ID under a verified digest: a retag.
        assert_eq!(
            snapshot.check(&ns, &image(13, &[("r.example/team/b", 4)])),
            EntryCheck::NotAllowed
        );
    }

    #[test]
    fn lists_allow_on_the_first_match_and_deny_with_the_unverified_reasons() {
        let entries: Vec<ImageEntry> = ["r.example/a:1", "r.example/b:1", "r.example/c:*"]
            .iter()
            .map(|s| ImageEntry::parse(s).unwrap())
            .collect();
        let mut snapshot = Snapshot::default();
        snapshot
            .entries
            .insert(entries[0].clone(), fetched(1, &[(1, 11)]));
        let denied = snapshot.check_list(&entries, &image(99, &[]));
        let ListCheck::Denied { unverified } = denied else {
            panic!("{denied:?}")
        };
        assert_eq!(unverified.len(), 1);
        assert_eq!(unverified[0].0, entries[1]);
        assert_eq!(unverified[0].1.kind, FailureKind::Pending);
        assert_eq!(
            snapshot.check_list(&entries, &image(11, &[])),
            ListCheck::Allowed {
                entry: entries[0].clone(),
                by: Match::Config(digest(11).to_string())
            }
        );
        assert_eq!(
            snapshot.check_list(&entries, &image(99, &[("r.example/c", 3)])),
            ListCheck::NeedsVerification(vec![(repo("r.example/c"), digest(3))])
        );
    }

    #[test]
    fn local_images_parse_from_inspect_output() {
        let d = digest(1);
        let image = LocalImage::from_inspect(
            &digest(2).to_string(),
            &[
                format!("busybox@{d}"),
                "garbage@@".to_string(),
                format!("127.0.0.1:5000/x@{d}"),
            ],
        )
        .unwrap();
        assert_eq!(image.id, digest(2));
        assert_eq!(
            image.repo_digests,
            vec![
                (repo("iechor.io/library/busybox"), d.clone()),
                (repo("127.0.0.1:5000/x"), d)
            ]
        );
        assert!(LocalImage::from_inspect::<&str>("not-a-digest", &[]).is_err());
    }
}
