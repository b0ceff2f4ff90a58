//! What the enforcer would do with one request, and why, without forwarding it: the request
//! path's own judge ([`crate::judge`]: classification, fact gathering, eci-policy's decisions),
//! with what it looked at recorded for `eci-guard explain` instead of carried out.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use eci_policy::decide::{BlockKind, Denial, DigestFacts, EntryDigests, Exposure, ImageFacts, Via};
use eci_policy::mounts::{MountRef, MountSource};
use eci_policy::reference::{Digest, ImageEntry, Reference, Repository};
use eci_policy::settings::Policy;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::digests::{DigestSource, SourceFacts};
use crate::error::ProxyError;
use crate::facts::{self, Protected};
use crate::judge::{self, Forward, Judging, Seen};
use crate::policy::{PolicyStore, SettingsPaths};
use crate::recheck::Sources;
use crate::upstream::Upstream;
use crate::Limits;

/// Where the request would arrive: the main socket, or a container's filtered socket (where the
/// command list applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "ExplainSocket"))]
pub enum Socket {
    Main,
    Filtered,
}

/// What the enforcer would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "ExplainOutcome"))]
pub enum Outcome {
    /// Forwarded as it is (re-serialised when its body was read).
    Allow,
    /// Forwarded with the socket mounts pointed at a new filtered socket.
    AllowFiltered,
    /// Refused with a block record.
    Deny,
    /// The enforcer's answer depends on something this run could not learn (the engine did not
    /// answer, or has no such image yet: the CLI would pull it and ask again).
    CannotTell,
}

/// One mount found in the request, and where its host source leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MountFact {
    /// JSON pointer of the mount in the request body.
    pub pointer: String,
    /// `bind`, `volume` or `volumes-from`.
    pub kind: &'static str,
    /// The host path, volume name or container, as written.
    pub source: String,
    pub target: String,
    /// Where it stands against the protected sockets; `None`: it reaches none.
    pub exposes: Option<String>,
}

/// The image as the engine would resolve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImageFact {
    pub name: String,
    pub id: String,
    pub repo_digests: Vec<String>,
}

/// One image-list entry compared with the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EntryFact {
    pub entry: String,
    /// What is known of its digests and whether the image is one of them.
    pub finding: String,
}

/// Everything `explain` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Explanation {
    pub method: String,
    pub target: String,
    pub socket: Socket,
    pub eci_enabled: bool,
    pub policy_version: String,
    /// The route as the API reference writes it (`POST /containers/create`).
    pub route: Option<String>,
    /// The commands and groups the request counts as.
    pub commands: Vec<String>,
    pub mounts: Vec<MountFact>,
    pub image: Option<ImageFact>,
    pub entries: Vec<EntryFact>,
    /// The entry that allows the image, when one does.
    pub allowed_by: Option<String>,
    pub outcome: Outcome,
    /// The HTTP status of a refusal.
    pub status: Option<u16>,
    /// The exact message the client would print.
    pub message: Option<String>,
    /// The history's kind for a refusal.
    pub kind: Option<BlockKind>,
    pub reason: Option<String>,
    /// Refusals of rule families in audit mode: the request is forwarded, and each is recorded.
    pub audited: Vec<AuditedFact>,
}

/// A refusal that audit mode records instead of enforcing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditedFact {
    pub kind: BlockKind,
    pub reason: String,
    pub message: String,
}

/// Where the facts come from: the engine socket, the settings files, the protected paths and the
/// digest cache, as `eci-guard serve` would have them.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    pub upstream: PathBuf,
    pub settings: SettingsPaths,
    pub state_dir: PathBuf,
    /// Every protected path (the listening sockets too).
    pub protect: Vec<PathBuf>,
}

/// A judge with the enforcer's facts and decisions, and no listener.
pub struct Explainer {
    upstream: Upstream,
    policy: Arc<PolicyStore>,
    digests: Arc<dyn DigestSource>,
    protected: Protected,
    limits: Limits,
    /// Never contended (nothing is forwarded); the judge takes it as the request path does.
    volumes: Mutex<()>,
    /// Why the settings could not become the policy, when they could not (the fail-closed
    /// default is then what is explained, as the enforcer would start with it).
    pub settings_problem: Option<String>,
}

impl Explainer {
    pub fn new(config: &ExplainConfig, digests: Arc<dyn DigestSource>) -> Explainer {
        let filtered_dir = config.state_dir.join("filtered");
        let hook = digests.clone();
        let store = Arc::new(
            PolicyStore::fail_closed().with_swap_hook(Box::new(move |p| hook.set_policy(p))),
        );
        let reload = store.reload(&config.settings);
        let settings_problem = match reload.outcome {
            crate::ReloadOutcome::Rejected { .. } => Some(
                "the settings have errors (`eci-guard validate FILE` lists them); the enforcer \
                 would keep its last good policy, here the fail-closed default"
                    .to_owned(),
            ),
            crate::ReloadOutcome::Unreadable { error, .. } => Some(format!(
                "a settings file cannot be read ({error}); the fail-closed default applies"
            )),
            _ => None,
        };
        let protected = Protected::new(
            std::iter::once(config.upstream.clone()).chain(config.protect.iter().cloned()),
            &filtered_dir,
        )
        .with_control(facts::HOST_CONTROL_SOCKETS);
        Explainer {
            upstream: Upstream::new(&config.upstream),
            policy: store,
            digests,
            protected,
            limits: Limits::default(),
            volumes: Mutex::new(()),
            settings_problem,
        }
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.snapshot()
    }

    /// What the judge reads, as the enforcer lends it.
    fn judging(&self) -> Judging<'_> {
        Judging {
            sources: Sources {
                upstream: &self.upstream,
                protected: &self.protected,
                digests: self.digests.as_ref(),
            },
            limits: &self.limits,
            volumes: &self.volumes,
            // Explained as the engine stands now, asked afresh.
            images: None,
        }
    }

    /// Explains one request under the settings' policy. Never fails: what cannot be learned is
    /// [`Outcome::CannotTell`].
    pub async fn explain(
        &self,
        socket: Socket,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Explanation {
        let policy = self.policy.snapshot();
        self.explain_with(&policy, socket, method, target, body)
            .await
    }

    /// Explains one request under `policy` (a draft not yet saved, say), with this enforcer's
    /// facts.
    pub async fn explain_with(
        &self,
        policy: &Policy,
        socket: Socket,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Explanation {
        let mut x = Explanation {
            method: method.to_owned(),
            target: target.to_owned(),
            socket,
            eci_enabled: policy.eci_enabled,
            policy_version: policy.version.clone(),
            route: None,
            commands: Vec::new(),
            mounts: Vec::new(),
            image: None,
            entries: Vec::new(),
            allowed_by: None,
            outcome: Outcome::Allow,
            status: None,
            message: None,
            kind: None,
            reason: None,
            audited: Vec::new(),
        };
        match self.judge(policy, &mut x, body).await {
            Ok(outcome) => x.outcome = outcome,
            Err(ProxyError::Denied(d)) => {
                x.outcome = Outcome::Deny;
                x.status = Some(d.status);
                x.message = Some(d.message);
                x.kind = Some(d.kind);
                x.reason = Some(d.reason);
            }
            Err(e) => {
                x.outcome = Outcome::CannotTell;
                x.reason = Some(e.to_string());
            }
        }
        x
    }

    /// The request path's judge, with what it saw written down.
    async fn judge(
        &self,
        policy: &Policy,
        x: &mut Explanation,
        body: &[u8],
    ) -> Result<Outcome, ProxyError> {
        let mut seen = Seen::default();
        let mut audits = Vec::new();
        let outcome = self
            .judge_seen(policy, x, body, &mut seen, &mut audits)
            .await;
        x.audited = audits
            .into_iter()
            .map(|(d, _)| AuditedFact {
                kind: d.kind,
                reason: d.reason,
                message: d.message,
            })
            .collect();
        x.mounts = mount_facts(&seen.mounts, &seen.exposures);
        if let Some(image) = &seen.image {
            x.image = Some(ImageFact {
                name: image.name.clone(),
                id: image.id.clone(),
                repo_digests: image.repo_digests.clone(),
            });
            x.entries = entry_facts(policy, image, self.digests.as_ref());
        } else if let (Some(name), Some(id)) = (&seen.image_name, &seen.image_id) {
            x.image = Some(ImageFact {
                name: name.clone(),
                id: id.clone(),
                repo_digests: Vec::new(),
            });
        }
        x.allowed_by = seen.allowed_by;
        outcome
    }

    async fn judge_seen(
        &self,
        policy: &Policy,
        x: &mut Explanation,
        body: &[u8],
        seen: &mut Seen,
        audits: &mut Vec<(Denial, Seen)>,
    ) -> Result<Outcome, ProxyError> {
        let judging = self.judging();
        let via = match x.socket {
            Socket::Main => Via::Main,
            Socket::Filtered => Via::Filtered,
        };
        // As on the request path: judged again after each audited refusal.
        let mut policy = Cow::Borrowed(policy);
        let admitted = loop {
            match judge::admit(&policy, via, &x.method, &x.target, judging.limits, seen) {
                Err(err) => policy = Cow::Owned(judge::audited(&policy, err, seen, audits)?),
                Ok(admitted) => break admitted,
            }
        };
        if let Some(route) = seen.route {
            x.route = Some(format!("{} {}", route.method, route.pattern));
            x.commands = crate::classify::commands_of(route);
        }
        let Some(classified) = admitted else {
            return Ok(Outcome::Allow);
        };
        let decision = loop {
            match judge::decide(&judging, &policy, via, &classified, Some(body), seen).await {
                Err(err @ ProxyError::Denied(_)) => {
                    policy = Cow::Owned(judge::audited(&policy, err, seen, audits)?)
                }
                other => break other,
            }
        };
        let decision = match decision {
            Ok(d) => d,
            // The CLI would pull the image and create again.
            Err(ProxyError::Engine {
                status: 404,
                message,
            }) if message.starts_with("No such image") => {
                x.reason = Some(format!(
                        "{message}: the docker CLI would pull it and create again; pull it, then ask again"
                    ));
                return Ok(Outcome::CannotTell);
            }
            Err(e) => return Err(e),
        };
        Ok(match decision.forward {
            Forward::Filtered { .. } => Outcome::AllowFiltered,
            Forward::Stream | Forward::Body(_) | Forward::Raw(_) => Outcome::Allow,
        })
    }
}

fn describe(e: &Exposure) -> String {
    match e {
        Exposure::Socket { socket } => format!("the socket {socket}"),
        Exposure::Ancestor { dir, socket } => {
            format!("{dir}, a directory above the socket {socket}")
        }
        Exposure::Filtered { socket } => format!("the filtered socket {socket}"),
        Exposure::Control { socket } => format!("the host control socket {socket}"),
    }
}

fn mount_facts(mounts: &[MountRef], exposures: &[Option<Exposure>]) -> Vec<MountFact> {
    mounts
        .iter()
        .zip(exposures)
        .map(|(m, e)| {
            let (kind, source) = match &m.source {
                MountSource::Bind { path } => ("bind", path.clone()),
                MountSource::Volume {
                    name, bind_device, ..
                } => (
                    "volume",
                    match (name, bind_device) {
                        (Some(n), Some(d)) => format!("{n} (device {d})"),
                        (Some(n), None) => n.clone(),
                        (None, Some(d)) => format!("(device {d})"),
                        (None, None) => "(anonymous)".to_owned(),
                    },
                ),
                MountSource::VolumesFrom { container } => ("volumes-from", container.clone()),
            };
            MountFact {
                pointer: m.pointer.clone(),
                kind,
                source,
                target: m.target.clone(),
                exposes: e.as_ref().map(describe),
            }
        })
        .collect()
}

/// The image-list entries that could allow the image, with what the cache knows of each.
fn entry_facts(policy: &Policy, image: &ImageFacts, digests: &dyn DigestSource) -> Vec<EntryFact> {
    let facts = SourceFacts(digests);
    let repos = repo_digests(image);
    let named = Reference::parse_normalized(&image.name)
        .ok()
        .map(|r| r.into_repository());
    policy
        .images
        .iter()
        .filter(|e| {
            named.as_ref().is_some_and(|r| e.covers(r)) || repos.iter().any(|(r, _)| e.covers(r))
        })
        .map(|e| EntryFact {
            entry: e.to_string(),
            finding: finding(e, image, &repos, &facts),
        })
        .collect()
}

/// The image's repo digests, each as its repository and digest (unreadable ones left out).
fn repo_digests(image: &ImageFacts) -> Vec<(Repository, Digest)> {
    image
        .repo_digests
        .iter()
        .filter_map(|rd| {
            let r = Reference::parse_normalized(rd).ok()?;
            let d = r.digest()?.clone();
            Some((r.into_repository(), d))
        })
        .collect()
}

/// What the cache knows of entry `e` about `image`, in words.
fn finding(
    e: &ImageEntry,
    image: &ImageFacts,
    repos: &[(Repository, Digest)],
    facts: &SourceFacts<'_>,
) -> String {
    match e {
        ImageEntry::All => "every image".to_owned(),
        ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. } => {
            let asked: Vec<String> = repos
                .iter()
                .filter(|(r, _)| e.covers(r))
                .map(|(r, d)| format!("{r}@{d}: {:?}", facts.any_tag(r, d, &image.id)))
                .collect();
            if asked.is_empty() {
                "the image has no repo digest in a repository this entry covers".to_owned()
            } else {
                asked.join("; ")
            }
        }
        _ => match facts.entry_digests(e) {
            EntryDigests::Known { manifests, configs } => {
                let hit = configs.contains(&image.id)
                    || repos
                        .iter()
                        .any(|(r, d)| e.covers(r) && manifests.contains(&d.to_string()));
                format!(
                    "{} published digest(s); the image {} one of them",
                    manifests.union(&configs).count(),
                    if hit { "is" } else { "is not" }
                )
            }
            EntryDigests::Unavailable(why) => format!("digests unknown: {why}"),
        },
    }
}
