//! The digest service the enforcer holds: it tracks the policy's entries, refreshes their digests
//! (on start, on policy changes for new entries, periodically with jitter; bounded concurrency),
//! verifies `name:*` images lazily, keeps the disk cache, and publishes an immutable [`Snapshot`]
//! that the enforcer's decisions read as their digest facts, without locks or network.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::Utc;
use eci_policy::reference::{Digest, ImageEntry, Repository};
use futures_util::stream::{self, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::credentials::CredentialSource;
use crate::digests::{AnyTagAnswer, EntryState, ImageDigests, Snapshot};
use crate::facts::to_verify;
use crate::failure::{Failure, FailureKind};
use crate::fetch::{Fetcher, Timeouts};
use crate::settings::RegistrySettings;
use crate::store::{Cached, Store, StoreError};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Where the digest cache lives ([`crate::CACHE_FILE`] in it).
    pub state_dir: PathBuf,
    pub registries: RegistrySettings,
    pub credentials: CredentialSource,
    pub timeouts: Timeouts,
    /// Registry requests in flight at once during a refresh.
    pub concurrency: usize,
    /// Time between periodic refreshes of every entry.
    pub refresh_interval: Duration,
    /// Each wait is the interval times a random factor in `1 ± jitter`, so many enforcers do not
    /// hit a registry in step.
    pub jitter: f64,
}

impl ServiceOptions {
    /// Defaults: engine-config credentials, 8 requests at once, every 5 minutes ± 10 %.
    pub fn new(state_dir: impl Into<PathBuf>) -> ServiceOptions {
        ServiceOptions {
            state_dir: state_dir.into(),
            registries: RegistrySettings::default(),
            credentials: CredentialSource::default(),
            timeouts: Timeouts::default(),
            concurrency: 8,
            refresh_interval: Duration::from_secs(300),
            jitter: 0.1,
        }
    }
}

/// What one refresh did.
#[derive(Debug, Clone)]
pub struct RefreshReport {
    /// Each entry asked, with the digests fetched or why not.
    pub results: Vec<(ImageEntry, Result<Arc<ImageDigests>, Failure>)>,
    /// Entries whose digests differ from those known before (first fetches included).
    pub changed: usize,
    pub elapsed: Duration,
    /// Set when the disk cache could not be written; the digests in memory are still current.
    pub save_error: Option<String>,
}

impl RefreshReport {
    pub fn failures(&self) -> impl Iterator<Item = (&ImageEntry, &Failure)> {
        self.results
            .iter()
            .filter_map(|(entry, r)| r.as_ref().err().map(|f| (entry, f)))
    }
}

#[derive(Default)]
struct State {
    /// The policy's tag and digest entries, in policy order.
    wanted: Vec<ImageEntry>,
    /// The policy's `name:*` and `ns/*:*` entries: the repositories asked about lazily.
    lazy: Vec<ImageEntry>,
    cached: Cached,
    /// Entries added by a policy change and not yet fetched.
    pending: HashSet<ImageEntry>,
}

struct Inner {
    fetcher: Fetcher,
    store: Store,
    concurrency: usize,
    refresh_interval: Duration,
    jitter: f64,
    state: Mutex<State>,
    snapshot: ArcSwap<Snapshot>,
    /// Woken when entries become pending.
    pending_changed: Notify,
    /// Serialises cache writes so an older state never replaces a newer one on disk.
    save_lock: Mutex<()>,
    load_error: Option<String>,
}

/// Shared handle to the digest service; clones share everything.
#[derive(Clone)]
pub struct DigestService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DigestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestService")
            .field("cache", &self.inner.store.path())
            .finish_non_exhaustive()
    }
}

impl DigestService {
    /// Reads the disk cache (no network). A cache that cannot be read is set aside: the service
    /// starts empty, which fails closed, and [`DigestService::load_error`] says why.
    pub fn open(options: ServiceOptions) -> DigestService {
        let store = Store::new(&options.state_dir);
        let (cached, load_error) = match store.load() {
            Ok(cached) => (cached, None),
            Err(e) => {
                tracing::warn!(error = %e, "starting without the digest cache");
                (Cached::default(), Some(e.to_string()))
            }
        };
        let inner = Inner {
            fetcher: Fetcher::new(options.registries, options.credentials, options.timeouts),
            store,
            concurrency: options.concurrency.max(1),
            refresh_interval: options.refresh_interval,
            jitter: options.jitter.clamp(0.0, 0.9),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            state: Mutex::new(State {
                cached,
                ..State::default()
            }),
            pending_changed: Notify::new(),
            save_lock: Mutex::new(()),
            load_error,
        };
        let service = DigestService {
            inner: Arc::new(inner),
        };
        service.publish(&service.state());
        service
    }

    /// Why the disk cache was not used at start, if it was not.
    pub fn load_error(&self) -> Option<&str> {
        self.inner.load_error.as_deref()
    }

    /// The current snapshot: cheap, lock-free, never touches the network.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    /// Takes the policy's image list. Entries it did not have before become pending (fetched by
    /// [`DigestService::refresh_pending`] or the background task, which this wakes); entries no
    /// longer listed are forgotten. Returns the pending entries. Never touches the network, so
    /// a policy swap is not held up by registries.
    pub fn set_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a ImageEntry>,
    ) -> Vec<ImageEntry> {
        let mut wanted = Vec::new();
        let mut lazy: Vec<ImageEntry> = Vec::new();
        for entry in entries {
            match entry {
                ImageEntry::All => {}
                ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. } => {
                    if !lazy.contains(entry) {
                        lazy.push(entry.clone());
                    }
                }
                ImageEntry::Tag { .. } | ImageEntry::Digest { .. } => {
                    if !wanted.contains(entry) {
                        wanted.push(entry.clone());
                    }
                }
            }
        }
        let mut state = self.state();
        let before: HashSet<&ImageEntry> = state.wanted.iter().collect();
        let new: Vec<ImageEntry> = wanted
            .iter()
            .filter(|e| !before.contains(e))
            .cloned()
            .collect();
        let keep: HashSet<ImageEntry> = wanted.iter().cloned().collect();
        state.cached.entries.retain(|e, _| keep.contains(e));
        state
            .cached
            .any_tag
            .retain(|(repo, _), _| lazy.iter().any(|e| e.verified_lazily(repo)));
        state.pending.retain(|e| keep.contains(e));
        state.pending.extend(new.iter().cloned());
        state.wanted = wanted;
        state.lazy = lazy;
        self.publish(&state);
        drop(state);
        if !new.is_empty() {
            self.inner.pending_changed.notify_one();
        }
        new
    }

    /// Fetches the entries that became pending since the last fetch.
    pub async fn refresh_pending(&self) -> RefreshReport {
        let pending: Vec<ImageEntry> = {
            let mut state = self.state();
            let pending = std::mem::take(&mut state.pending);
            state
                .wanted
                .iter()
                .filter(|e| pending.contains(e))
                .cloned()
                .collect()
        };
        self.refresh(pending).await
    }

    /// Fetches every entry again, and forgets the registries' "not in this repository" answers
    /// for `name:*`, since a repository may gain a digest.
    pub async fn refresh_all(&self) -> RefreshReport {
        let all = {
            let mut state = self.state();
            state.pending.clear();
            state
                .cached
                .any_tag
                .retain(|_, answer| matches!(answer, AnyTagAnswer::Exists { .. }));
            state.wanted.clone()
        };
        self.refresh(all).await
    }

    async fn refresh(&self, entries: Vec<ImageEntry>) -> RefreshReport {
        let started = Instant::now();
        let fetcher = &self.inner.fetcher;
        let mut results = Vec::with_capacity(entries.len());
        let mut changed = 0;
        let known: Vec<(ImageEntry, Option<Arc<ImageDigests>>)> = {
            let state = self.state();
            entries
                .into_iter()
                .map(|e| {
                    let digests = state.cached.entries.get(&e).and_then(|s| s.digests.clone());
                    (e, digests)
                })
                .collect()
        };
        let mut answers = stream::iter(known)
            .map(|(entry, known)| async move {
                let result = match fetcher.resolve_if_changed(&entry, known.as_deref()).await {
                    Ok(Some(fresh)) => Ok(Arc::new(fresh)),
                    Ok(None) => Ok(known.expect("only tag and digest entries are wanted")),
                    Err(failure) => Err(failure),
                };
                (entry, result)
            })
            .buffer_unordered(self.inner.concurrency);
        while let Some((entry, result)) = answers.next().await {
            let mut state = self.state();
            if state.wanted.contains(&entry) {
                let known = state.cached.entries.entry(entry.clone()).or_default();
                if record_answer(known, &entry, &result) {
                    changed += 1;
                }
                self.publish(&state);
            }
            drop(state);
            results.push((entry, result));
        }
        let save_error = self.save().err().map(|e| e.to_string());
        RefreshReport {
            results,
            changed,
            elapsed: started.elapsed(),
            save_error,
        }
    }

    /// Asks the registry whether `digest` (a local image's repo digest) is in `repo`, for the
    /// `name:*` entries, and records the answer in the snapshot. Answers already known
    /// are not asked again. A failure to ask is returned and not recorded.
    pub async fn verify_any_tag(&self, repo: &Repository, digest: &Digest) -> Result<(), Failure> {
        let key = (repo.clone(), digest.clone());
        if self.state().cached.any_tag.contains_key(&key) {
            return Ok(());
        }
        let answer = match self.inner.fetcher.resolve_digest(repo, digest).await {
            Ok(digests) => AnyTagAnswer::Exists {
                digests: Arc::new(digests),
            },
            Err(f) if f.kind == FailureKind::NotFound => AnyTagAnswer::Missing,
            Err(f) => return Err(f),
        };
        let mut state = self.state();
        if !state.lazy.iter().any(|e| e.verified_lazily(repo)) {
            // The policy dropped the entry while we asked.
            return Ok(());
        }
        state.cached.any_tag.insert(key, answer);
        self.publish(&state);
        drop(state);
        if let Err(e) = self.save() {
            tracing::warn!(error = %e, "cannot save the digest cache");
        }
        Ok(())
    }

    /// Asks the registry about each repo digest of a local image (`RepoDigests`, as the engine
    /// reports them) in a repository that a `name:*` or `ns/*:*` entry of `entries` covers, so
    /// the snapshot can answer for it; what it knows already is not asked again. Returns what
    /// could not be asked, and why: the snapshot then has no answer, and the decision says so.
    pub async fn verify_any_tags<S: AsRef<str>>(
        &self,
        entries: &[ImageEntry],
        repo_digests: &[S],
    ) -> Vec<(Repository, Digest, Failure)> {
        let mut failed = Vec::new();
        for (repo, digest) in to_verify(entries, repo_digests) {
            if let Err(f) = self.verify_any_tag(&repo, &digest).await {
                failed.push((repo, digest, f));
            }
        }
        failed
    }

    /// Refreshes until `cancel`: pending entries as soon as they appear (the first
    /// [`DigestService::set_entries`] makes every entry pending: the refresh on start), and
    /// every entry at the jittered interval.
    pub async fn run_refresher(self, cancel: CancellationToken) {
        let mut next_full = tokio::time::Instant::now() + self.jittered_interval();
        loop {
            let full = tokio::select! {
                () = cancel.cancelled() => return,
                () = self.inner.pending_changed.notified() => false,
                () = tokio::time::sleep_until(next_full) => true,
            };
            let refresh = async {
                if full {
                    self.refresh_all().await
                } else {
                    self.refresh_pending().await
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = refresh => {}
            }
            if full {
                next_full = tokio::time::Instant::now() + self.jittered_interval();
            }
        }
    }

    fn jittered_interval(&self) -> Duration {
        let factor = 1.0 + self.inner.jitter * (2.0 * fastrand::f64() - 1.0);
        self.inner.refresh_interval.mul_f64(factor)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, state: &State) {
        self.inner.snapshot.store(Arc::new(Snapshot {
            entries: state.cached.entries.clone(),
            any_tag: state.cached.any_tag.clone(),
        }));
    }

    fn save(&self) -> Result<(), StoreError> {
        let _writing = self
            .inner
            .save_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let cached = self.state().cached.clone();
        self.inner.store.save(&cached)
    }
}

/// Records one entry's answer from the registry in what is `known` of it; whether its digests
/// changed.
fn record_answer(
    known: &mut EntryState,
    entry: &ImageEntry,
    result: &Result<Arc<ImageDigests>, Failure>,
) -> bool {
    let now = Utc::now();
    known.attempted_at = Some(now);
    match result {
        Ok(digests) => {
            known.fetched_at = Some(now);
            known.last_error = None;
            if known.digests.as_deref() == Some(digests) {
                return false;
            }
            known.digests = Some(digests.clone());
            true
        }
        Err(failure) => {
            tracing::warn!(%entry, %failure, "cannot fetch digests");
            known.last_error = Some(failure.clone());
            // The registry itself says the tag or digest is gone: what it named before is no
            // longer what the entry allows. Any other failure keeps the last digests, as the
            // registry may only be out of reach.
            failure.kind == FailureKind::NotFound && known.digests.take().is_some()
        }
    }
}
