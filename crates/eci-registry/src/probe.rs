//! The live probe behind `eci-guard probe REF` and the app's per-entry badge: the normalised
//! entry and what its registry says now. Cancellable, and answers are kept briefly so an admin
//! typing does not ask the registry again for what it just asked.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use eci_policy::reference::{ImageEntry, Repository};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::credentials::CredentialSource;
use crate::digests::{ImageDigests, Snapshot};
use crate::failure::{Failure, FailureKind};
use crate::fetch::{Fetcher, Timeouts};
use crate::settings::RegistrySettings;

/// How long a probe's answer is reused for the same entry and settings.
pub const PROBE_TTL: Duration = Duration::from_secs(10);

/// Clients kept for this many distinct settings; more are rare (the app has one file).
const FETCHERS_KEPT: usize = 4;

/// What the registry says about one image-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ProbeOutcome {
    /// `"*"`: every image, nothing to ask.
    AllImages,
    /// The tag or digest exists; its digests.
    Found {
        #[serde(flatten)]
        digests: ImageDigests,
    },
    /// `name:*`: the repository exists with this many tags.
    AnyTag { tags: usize },
    /// `ns/*:*`: registries cannot list a namespace's repositories, so nothing is asked; each
    /// image is verified when it is used. `matched`: the repositories verified so far (see
    /// [`ProbeReport::with_matches`]).
    AnyRepository { matched: Vec<String> },
    /// The registry said no, or could not be asked.
    Failed {
        #[serde(flatten)]
        failure: Failure,
    },
}

/// The probe's answer, printable for people ([`ProbeReport::human`]) and as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct ProbeReport {
    /// What was asked, as written.
    pub input: String,
    /// The normalised entry (`iechor.io/library/busybox:latest`); absent when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// The endpoint asked (`https://registry-1.docker.io`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
}

impl ProbeReport {
    /// 0 found; 1 not found or invalid; 2 the registry could not be asked (unreachable, timeout,
    /// TLS, authentication required, registry error, cancelled).
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            ProbeOutcome::AllImages
            | ProbeOutcome::Found { .. }
            | ProbeOutcome::AnyTag { .. }
            | ProbeOutcome::AnyRepository { .. } => 0,
            ProbeOutcome::Failed { failure } if failure.kind.is_definitive() => 1,
            ProbeOutcome::Failed { .. } => 2,
        }
    }

    /// A few lines for a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.normalized.as_deref().unwrap_or(&self.input));
        if let Some(endpoint) = &self.endpoint {
            let _ = writeln!(out, "  registry: {endpoint}");
        }
        match &self.outcome {
            ProbeOutcome::AllImages => {
                let _ = writeln!(
                    out,
                    "  every image is allowed; there is nothing to ask a registry"
                );
            }
            ProbeOutcome::Found { digests } => {
                let _ = writeln!(out, "  found: {} ({})", digests.digest, digests.media_type);
                for image in &digests.images {
                    let _ = writeln!(
                        out,
                        "  {:<16} manifest {}  config {}",
                        image.platform.as_deref().unwrap_or("image"),
                        image.manifest,
                        image.config
                    );
                }
            }
            ProbeOutcome::AnyTag { tags } => {
                let _ = writeln!(
                    out,
                    "  repository found: {tags} tag{}",
                    if *tags == 1 { "" } else { "s" }
                );
            }
            ProbeOutcome::AnyRepository { matched } => {
                let _ = writeln!(
                    out,
                    "  any repository directly under this path, any tag; each image is verified \
                     against its own repository when it is used"
                );
                if !matched.is_empty() {
                    let _ = writeln!(out, "  matched so far: {}", matched.join(", "));
                }
            }
            ProbeOutcome::Failed { failure } => {
                let _ = writeln!(out, "  {}: {}", failure.kind, failure.message);
            }
        }
        out
    }

    /// Fills in what a repository wildcard matched so far, from the enforcer's digest cache.
    pub fn with_matches(mut self, snapshot: &Snapshot) -> ProbeReport {
        if let (ProbeOutcome::AnyRepository { matched }, Some(entry)) = (
            &mut self.outcome,
            self.normalized
                .as_deref()
                .and_then(|n| ImageEntry::parse(n).ok()),
        ) {
            *matched = snapshot.verified_under(&entry);
        }
        self
    }

    fn failed(
        input: &str,
        normalized: Option<String>,
        endpoint: Option<String>,
        failure: Failure,
    ) -> ProbeReport {
        ProbeReport {
            input: input.to_owned(),
            normalized,
            endpoint,
            outcome: ProbeOutcome::Failed { failure },
        }
    }
}

type CacheKey = (String, RegistrySettings);

/// What the registry at `endpoint` says of `entry`: how many tags its repository has (`name:*`),
/// or the digests its tag or digest names.
async fn ask(
    fetcher: &Fetcher,
    entry: &ImageEntry,
    endpoint: &str,
) -> Result<ProbeOutcome, Failure> {
    match entry {
        ImageEntry::AnyTag { repo } => match fetcher.count_tags(repo).await {
            Ok(0) => Err(Failure::new(
                FailureKind::NotFound,
                format!("{repo} has no tags at {endpoint}"),
            )),
            Ok(tags) => Ok(ProbeOutcome::AnyTag { tags }),
            Err(f) => Err(f),
        },
        _ => fetcher
            .resolve(entry)
            .await
            .map(|digests| ProbeOutcome::Found {
                digests: digests.expect("tag and digest entries name digests"),
            }),
    }
}

/// Probes with clients kept across calls and answers kept for a short while.
pub struct Prober {
    credentials: CredentialSource,
    timeouts: Timeouts,
    ttl: Duration,
    fetchers: Mutex<Vec<(RegistrySettings, Arc<Fetcher>)>>,
    answers: Mutex<HashMap<CacheKey, (Instant, ProbeReport)>>,
}

impl Prober {
    pub fn new(credentials: CredentialSource, timeouts: Timeouts, ttl: Duration) -> Prober {
        Prober {
            credentials,
            timeouts,
            ttl,
            fetchers: Mutex::new(Vec::new()),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Probes `input` (an image-list entry: `name[:tag]`, `name:*`, `name@sha256:…`, `*`).
    /// Returns [`FailureKind::Cancelled`] as soon as `cancel` fires.
    pub async fn probe(
        &self,
        input: &str,
        registries: &RegistrySettings,
        cancel: &CancellationToken,
    ) -> ProbeReport {
        let entry = match ImageEntry::parse(input) {
            Ok(entry) => entry,
            Err(e) => {
                return ProbeReport::failed(
                    input,
                    None,
                    None,
                    Failure::new(FailureKind::InvalidReference, e.to_string()),
                )
            }
        };
        let normalized = entry.to_string();
        let repo = match &entry {
            ImageEntry::All => {
                return ProbeReport {
                    input: input.to_owned(),
                    normalized: Some(normalized),
                    endpoint: None,
                    outcome: ProbeOutcome::AllImages,
                }
            }
            ImageEntry::AnyRepository { under } => {
                return ProbeReport {
                    input: input.to_owned(),
                    normalized: Some(normalized),
                    endpoint: Some(self.fetcher(registries).endpoint(under).url()),
                    outcome: ProbeOutcome::AnyRepository {
                        matched: Vec::new(),
                    },
                }
            }
            ImageEntry::Tag { repo, .. }
            | ImageEntry::AnyTag { repo }
            | ImageEntry::Digest { repo, .. } => repo,
        };
        self.probe_repository(input, &entry, repo, registries, cancel)
            .await
    }

    /// Probes an entry that names a repository: its tags, or the digests of its tag or digest;
    /// answered from the cache when it can be.
    async fn probe_repository(
        &self,
        input: &str,
        entry: &ImageEntry,
        repo: &Repository,
        registries: &RegistrySettings,
        cancel: &CancellationToken,
    ) -> ProbeReport {
        let normalized = entry.to_string();
        let key = (normalized.clone(), registries.clone());
        if let Some(report) = self.cached(&key) {
            return ProbeReport {
                input: input.to_owned(),
                ..report
            };
        }
        let fetcher = self.fetcher(registries);
        let endpoint = fetcher.endpoint(repo).url();
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                return ProbeReport::failed(
                    input,
                    Some(normalized),
                    Some(endpoint),
                    Failure::new(FailureKind::Cancelled, "the probe was cancelled"),
                );
            }
            outcome = ask(&fetcher, entry, &endpoint) => outcome,
        };
        let report = ProbeReport {
            input: input.to_owned(),
            normalized: Some(normalized),
            endpoint: Some(endpoint),
            outcome: outcome.unwrap_or_else(|failure| ProbeOutcome::Failed { failure }),
        };
        self.remember(key, &report);
        report
    }

    fn cached(&self, key: &CacheKey) -> Option<ProbeReport> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, report)| report.clone())
    }

    fn remember(&self, key: CacheKey, report: &ProbeReport) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.retain(|_, (at, _)| at.elapsed() < self.ttl);
        answers.insert(key, (Instant::now(), report.clone()));
    }

    fn fetcher(&self, registries: &RegistrySettings) -> Arc<Fetcher> {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, fetcher)) = fetchers.iter().find(|(s, _)| s == registries) {
            return fetcher.clone();
        }
        let fetcher = Arc::new(Fetcher::new(
            registries.clone(),
            self.credentials.clone(),
            self.timeouts,
        ));
        if fetchers.len() >= FETCHERS_KEPT {
            fetchers.remove(0);
        }
        fetchers.push((registries.clone(), fetcher.clone()));
        fetcher
    }
}

/// Probes with the user's engine-config credentials, default timeouts and [`PROBE_TTL`], through
/// one process-wide [`Prober`]: what `eci-guard probe` and the app call.
pub async fn probe(
    reference: &str,
    registries: &RegistrySettings,
    cancel: &CancellationToken,
) -> ProbeReport {
    static PROBER: OnceLock<Prober> = OnceLock::new();
    PROBER
        .get_or_init(|| Prober::new(CredentialSource::default(), Timeouts::default(), PROBE_TTL))
        .probe(reference, registries, cancel)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_that_need_no_registry_answer_at_once() {
        let prober = Prober::new(CredentialSource::Anonymous, Timeouts::default(), PROBE_TTL);
        let settings = RegistrySettings::default();
        let cancel = CancellationToken::new();
        let cases = [
            ("*", None, 0, "all-images"),
            ("ns/*", None, 1, "failed"),
            ("Busybox", None, 1, "failed"),
            ("busybox:*x", None, 1, "failed"),
            ("", None, 1, "failed"),
        ];
        for (input, normalized, code, status) in cases {
            let report = prober.probe(input, &settings, &cancel).await;
            let json = serde_json::to_value(&report).unwrap();
            assert_eq!(
                (
                    report.exit_code(),
                    json["status"].as_str(),
                    report.endpoint.as_deref()
                ),
                (code, Some(status), normalized),
                "{input:?}: {json}"
            );
            if status == "failed" {
                assert_eq!(json["kind"], "invalid-reference", "{input:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_cancelled_probe_returns_at_once() {
        let prober = Prober::new(CredentialSource::Anonymous, Timeouts::default(), PROBE_TTL);
        // A loopback port nobody listens on would refuse at once; a blackholed address would
        // hang, so cancel before asking and check nothing waits.
        let cancel = CancellationToken::new();
        cancel.cancel();
        let settings =
            RegistrySettings::from_json(r#"{"127.0.0.1:9": {"insecure": true}}"#).unwrap();
        let report = prober.probe("127.0.0.1:9/x:1", &settings, &cancel).await;
        assert_eq!(report.exit_code(), 2);
        let ProbeOutcome::Failed { failure } = &report.outcome else {
            panic!("{report:?}")
        };
        assert_eq!(failure.kind, FailureKind::Cancelled);
        // A cancellation is not an answer to keep.
        let again = prober
            .probe("127.0.0.1:9/x:1", &settings, &CancellationToken::new())
            .await;
        let ProbeOutcome::Failed { failure } = &again.outcome else {
            panic!("{again:?}")
        };
        assert_eq!(failure.kind, FailureKind::Unreachable, "{again:?}");
    }
}
