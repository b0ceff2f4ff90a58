//! The state of one enforcer, owned by [`crate::Enforcer`] and lent to every connection and to
//! the engine watch; the modules below take only the parts they use ([`Shared::sources`],
//! [`Shared::judging`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

use crate::blocks::Blocks;
use crate::digests::DigestSource;
use crate::facts::Protected;
use crate::filtered::FilteredSockets;
use crate::image_cache::ImageCache;
use crate::judge::Judging;
use crate::policy::PolicyStore;
use crate::recheck::Sources;
use crate::upstream::Upstream;
use crate::Limits;

/// Everything a request needs, shared by all connections of one enforcer.
pub struct Shared {
    pub upstream: Upstream,
    pub policy: Arc<PolicyStore>,
    pub digests: Arc<dyn DigestSource>,
    pub protected: Protected,
    pub filtered: FilteredSockets,
    pub blocks: Blocks,
    pub limits: Limits,
    pub permits: Arc<Semaphore>,
    pub shutdown: watch::Receiver<bool>,
    /// Held from the check of a create that judged named volumes until the engine has answered
    /// it, and around every volume create, remove and prune: a volume judged is the volume used.
    pub volumes: tokio::sync::Mutex<()>,
    /// Containers whose start the enforcer forwarded in audit mode, and when: the engine watch
    /// sees those starts too, and must not record them a second time as starts made behind the
    /// enforcer's back.
    pub audited_starts: std::sync::Mutex<HashMap<String, Instant>>,
    /// The engine's answers to creates' image inspects, kept while nothing can have changed them.
    pub images: Arc<ImageCache>,
}

/// How long a start forwarded in audit mode is known to the engine watch as the enforcer's own.
const AUDITED_START_MEMORY: Duration = Duration::from_secs(30);

impl Shared {
    /// What the checks read: the engine, the protected paths and the registry digests.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            upstream: &self.upstream,
            protected: &self.protected,
            digests: self.digests.as_ref(),
        }
    }

    /// What a request's decision needs, its facts read from `upstream` (the engine over the
    /// client connection's own engine connection, [`Upstream::over`]).
    pub fn judging<'a>(&'a self, upstream: &'a Upstream) -> Judging<'a> {
        Judging {
            sources: Sources {
                upstream,
                ..self.sources()
            },
            limits: &self.limits,
            volumes: &self.volumes,
            images: Some(&self.images),
        }
    }

    /// Notes that the enforcer forwards the start of container `id` in audit mode.
    pub fn note_audited_start(&self, id: &str) {
        if let Ok(mut starts) = self.audited_starts.lock() {
            starts.retain(|_, at| at.elapsed() < AUDITED_START_MEMORY);
            starts.insert(id.to_owned(), Instant::now());
        }
    }

    /// Whether the enforcer itself forwarded a start of container `id` in audit mode just now.
    pub fn forwarded_audited_start(&self, id: &str) -> bool {
        self.audited_starts
            .lock()
            .map(|starts| {
                starts
                    .get(id)
                    .is_some_and(|at| at.elapsed() < AUDITED_START_MEMORY)
            })
            .unwrap_or(false)
    }
}
