//! Where the image decision's registry facts come from: a [`DigestSource`] answers from memory
//! for the pure decision, hears of every policy swap, and may ask a registry before a decision
//! (the lazy `name:*` and `ns/*:*` checks). [`RegistryDigests`] is the real one, over eci-registry.

use std::future::Future;
use std::pin::Pin;

use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests, ImageFacts};
use eci_policy::reference::{Digest, ImageEntry, Repository};
use eci_policy::settings::Policy;
use eci_registry::DigestService;
use serde::Serialize;

/// A future a source returns from [`DigestSource::prepare`].
pub type Prepared<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// How fresh the digests of one image-list entry are, for the app's status view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EntryFreshness {
    pub entry: String,
    /// Digests known for the entry (0: never fetched).
    pub digests: usize,
    /// When they were last fetched, RFC 3339.
    pub fetched_at: Option<String>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// Digest facts for the enforcer.
pub trait DigestSource: DigestFacts + Send + Sync {
    /// Per entry, how fresh its digests are.
    fn freshness(&self) -> Vec<EntryFreshness> {
        Vec::new()
    }

    /// The policy in force changed (called for the first policy too).
    fn set_policy(&self, _policy: &Policy) {}

    /// Gathers, before the pure decision, what only a registry can tell about `image` (for
    /// `name:*` entries). Answers are cached by the source; failures show in the decision as
    /// unavailable facts.
    fn prepare<'a>(&'a self, _policy: &'a Policy, _image: &'a ImageFacts) -> Prepared<'a> {
        Box::pin(std::future::ready(()))
    }
}

/// The digests eci-registry fetched (cached on disk, refreshed in the background).
#[derive(Debug, Clone)]
pub struct RegistryDigests {
    service: DigestService,
}

impl RegistryDigests {
    pub fn new(service: DigestService) -> RegistryDigests {
        RegistryDigests { service }
    }

    /// The digest service over the cache in `state_dir` (its `digests/` folder), as both the
    /// headless enforcer and the app open it, so they share one cache. Never touches the network.
    pub fn open(
        state_dir: &std::path::Path,
        registries: eci_registry::RegistrySettings,
    ) -> RegistryDigests {
        let service = DigestService::open(eci_registry::ServiceOptions {
            registries,
            ..eci_registry::ServiceOptions::new(state_dir.join("digests"))
        });
        if let Some(e) = service.load_error() {
            tracing::warn!(error = %e, "the digest cache was set aside");
        }
        RegistryDigests::new(service)
    }

    pub fn service(&self) -> &DigestService {
        &self.service
    }
}

/// The service's current snapshot answers (eci-registry's `impl DigestFacts for Snapshot`).
impl DigestFacts for RegistryDigests {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests {
        self.service.snapshot().entry_digests(entry)
    }

    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, id: &str) -> AnyTagFact {
        self.service.snapshot().any_tag(repo, repo_digest, id)
    }
}

impl DigestSource for RegistryDigests {
    fn freshness(&self) -> Vec<EntryFreshness> {
        self.service
            .snapshot()
            .entries()
            .map(|(entry, state)| EntryFreshness {
                entry: entry.to_string(),
                digests: state.digests.as_ref().map_or(0, |d| d.all().count()),
                fetched_at: state.fetched_at.map(|t| t.to_rfc3339()),
                last_error: state.last_error.as_ref().map(ToString::to_string),
            })
            .collect()
    }

    fn set_policy(&self, policy: &Policy) {
        self.service.set_entries(&policy.images);
    }

    fn prepare<'a>(&'a self, policy: &'a Policy, image: &'a ImageFacts) -> Prepared<'a> {
        Box::pin(async move {
            let failed = self
                .service
                .verify_any_tags(&policy.images, &image.repo_digests)
                .await;
            for (repo, digest, failure) in failed {
                tracing::warn!(%repo, %digest, %failure, "cannot verify a name:* or ns/*:* digest");
            }
        })
    }
}

/// A source's cached answers, as the pure decision takes them.
pub(crate) struct SourceFacts<'a>(pub &'a dyn DigestSource);

impl DigestFacts for SourceFacts<'_> {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests {
        self.0.entry_digests(entry)
    }

    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, id: &str) -> AnyTagFact {
        self.0.any_tag(repo, repo_digest, id)
    }
}
