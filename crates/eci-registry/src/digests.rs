//! What the registry publishes for one image-list entry (index, platform manifests, configs), and
//! the in-memory snapshot of it all that the enforcer's decisions read on every container create
//! without touching the network.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eci_policy::reference::{Digest, ImageEntry, Repository};
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

    /// Every manifest digest, the named one first: what a repo digest may be.
    pub fn manifests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.digest).chain(
            self.images
                .iter()
                .filter(|i| i.manifest != self.digest)
                .map(|i| &i.manifest),
        )
    }

    /// Every manifest digest (the named one first) and every config digest.
    pub fn all(&self) -> impl Iterator<Item = &Digest> {
        self.manifests()
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
    pub fn any_tag_answer(&self, repo: &Repository, digest: &Digest) -> Option<&AnyTagAnswer> {
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
