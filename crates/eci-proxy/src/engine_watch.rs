//! Follows the engine's container events: containers the engine starts by itself (restart policy,
//! daemon restart, a start racing the enforcer's check) are judged again, and disarmed when a mount
//! now exposes a protected socket; destroyed containers lose their filtered sockets.
//!
//! The engine resolves a bind source anew at every start, and a restart policy starts a container
//! without any request the enforcer sees. So a bind source swapped for a symlink to the engine
//! socket after the create would hand the container the raw socket at its next restart. Each
//! `start` is judged by the request path's own start check; a failing container is killed and its
//! restart policy set to `no`. Each `die` of a container the engine would restart is judged at once,
//! inside the engine's restart back-off (moby's restartmanager waits 100 ms before the first
//! restart, doubling up to a minute), so it is disarmed before it starts. On every (re)connection
//! all running containers are swept: a daemon restart starts `always` containers before its API
//! answers, and nothing is seen while disconnected. `update` events refresh what is known of a
//! container's restart policy.
//!
//! The same events tell the kept image inspects ([`crate::image_cache`]) that image names may have
//! changed (a pull, a tag, a removal... by any client, the engine's own socket's included), and
//! keep them in use only while the events are followed.
//!
//! A block recorded here carries the start the engine made (or was about to make) as its request:
//! `POST /containers/{id}/start` on the engine's socket, with no client.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use eci_policy::audit::{self, Refusal};
use eci_policy::decide::Denial;
use eci_policy::settings::Policy;
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::blocks::{BlockEvent, ClientInfo, SocketKind};
use crate::classify;
use crate::error::ProxyError;
use crate::facts;
use crate::image_cache::ImageCache;
use crate::inspect::{Container, ContainerSummary};
use crate::shared::Shared;
use crate::upstream::{engine_message, segment};

/// `/events` for the container events we act on, and those that may change what an image name
/// points to (or what the engine tells of an image: a push adds a repo digest), filtered by the
/// engine: `{"type":["container","image"],"event":["start","die","destroy","update","commit",
/// "pull","import","load","tag","untag","delete","prune","push"]}`.
const EVENTS_TARGET: &str = "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22image%22%5D%2C%22event%22%3A%5B%22start%22%2C%22die%22%2C%22destroy%22%2C%22update%22%2C%22commit%22%2C%22pull%22%2C%22import%22%2C%22load%22%2C%22tag%22%2C%22untag%22%2C%22delete%22%2C%22prune%22%2C%22push%22%5D%7D";
/// Pause before reconnecting to an engine that went away. Short: a restarted daemon starts its
/// `always` containers before its API answers, and they run unchecked until the sweep after the
/// reconnection; a refused connect costs next to nothing.
const RECONNECT_DELAY: Duration = Duration::from_millis(100);
/// The longest pause before asking an engine that answers without streaming again.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);
/// The engine answers the events request's head at once (it flushes before the first event); an
/// engine that does not is wedged, and is asked again.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a kill or an update; a SIGKILL'd container is reaped in milliseconds.
const ACTION_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest a container the engine started may run before it is judged: past it (an engine
/// held by a long archive, a lock, a slow inspect), or when it cannot be judged at all, it is
/// killed. Unjudged means killed.
pub const UNJUDGED_BOUND: Duration = Duration::from_secs(3);
/// How long the engine gets to kill a container that could not be judged before its processes
/// are killed directly.
const FAIL_SAFE_ENGINE_KILL: Duration = Duration::from_millis(300);

/// Follows the engine's events until shutdown, reconnecting after an engine restart.
/// `engine_socket` is the upstream socket, named as the socket of the blocks recorded here.
pub async fn engine_events(shared: Arc<Shared>, engine_socket: PathBuf) {
    let watch = Arc::new(Watch {
        shared: shared.clone(),
        engine_socket: engine_socket.to_string_lossy().into_owned(),
        queues: Mutex::new(HashMap::new()),
        seen: Mutex::new(HashMap::new()),
    });
    let mut shutdown = shared.shutdown.clone();
    let mut delay = RECONNECT_DELAY;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = tokio::select! {
            o = watch.follow() => o,
            _ = shutdown.changed() => return,
        };
        delay = next_delay(delay, outcome, started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// How following the events ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    /// No connection: the engine is down or restarting.
    Unreachable,
    /// The engine answered but not with an event stream, or the stream ended.
    Answered,
}

/// The pause before the next attempt. An engine that is down is asked again soon (it starts its
/// `always` containers before its API answers, and a refused connect costs nothing). An engine
/// that answers but will not stream (an error, a proxy that is not an engine, a stream that ends
/// at once) is asked again less and less often, since each attempt syncs and sweeps.
fn next_delay(previous: Duration, outcome: Followed, lasted: Duration) -> Duration {
    match outcome {
        Followed::Unreachable => RECONNECT_DELAY,
        Followed::Answered if lasted >= MAX_RECONNECT_DELAY => RECONNECT_DELAY,
        Followed::Answered => (previous * 2).min(MAX_RECONNECT_DELAY),
    }
}

/// What brought a container to be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The engine started it (any start: ours are judged again, harmlessly).
    Started,
    /// It exited; the engine may start it again by its restart policy.
    Died,
    /// Found running when the enforcer (re)connected to the engine.
    Sweep,
    /// Its restart policy may have changed: read it again, judge nothing.
    Updated,
}

/// The one event the watch reacts to: a container's, or a change of image names (no id).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    action: Action,
    id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Die,
    Destroy,
    Update,
    /// An image pulled, imported, loaded, tagged, untagged, removed, pruned or pushed, or a
    /// container committed (to a name, maybe).
    ImageNames,
}

/// Reads one line of the engine's event stream; `None` for anything not acted on.
fn parse_event(line: &[u8]) -> Option<Event> {
    let ev: Value = serde_json::from_slice(line).ok()?;
    // `Action` since API 1.22; `status` is the older field the engine still sends.
    let action = ev
        .get("Action")
        .or_else(|| ev.get("status"))
        .and_then(Value::as_str)?;
    // `Type` since API 1.22; an engine without it sends container events alone.
    let kind = ev
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("container");
    let image_names = match kind {
        "image" => action != "save",
        "container" => action == "commit",
        _ => return None,
    };
    if image_names {
        return Some(Event {
            action: Action::ImageNames,
            id: String::new(),
        });
    }
    if kind != "container" {
        return None;
    }
    let action = match action {
        "start" => Action::Start,
        "die" => Action::Die,
        "destroy" => Action::Destroy,
        "update" => Action::Update,
        _ => return None,
    };
    let id = ev
        .get("Actor")
        .and_then(|a| a.get("ID"))
        .or_else(|| ev.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())?;
    Some(Event {
        action,
        id: id.to_owned(),
    })
}

/// Whether the container's restart policy lets the engine start it again by itself.
fn has_restart_policy(info: &Container) -> bool {
    !matches!(
        info.host_config.restart_policy.as_deref(),
        None | Some("") | Some("no")
    )
}

struct Watch {
    shared: Arc<Shared>,
    engine_socket: String,
    /// One lock per container with a judgement in flight: its events are handled one after the
    /// other, so the `die` our own kill causes finds the restart policy already `no` and records
    /// no second block.
    queues: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last inspect of each container seen starting or running, until it is destroyed.
    seen: Mutex<HashMap<String, Arc<Container>>>,
}

impl Watch {
    fn last_seen(&self, id: &str) -> Option<Arc<Container>> {
        self.seen.lock().ok()?.get(id).cloned()
    }

    /// The last inspect seen, or a container known by its id alone, for the record.
    fn last_seen_or_bare(&self, id: &str) -> Arc<Container> {
        self.last_seen(id).unwrap_or_else(|| {
            Arc::new(Container {
                id: id.to_owned(),
                ..Container::default()
            })
        })
    }

    /// One subscription: subscribe, then sync the filtered sockets and sweep the running
    /// containers (anything between the two is seen by one or the other), then read events until
    /// the stream ends.
    async fn follow(self: &Arc<Self>) -> Followed {
        let resp = match tokio::time::timeout(HEAD_TIMEOUT, self.subscribe()).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e @ ProxyError::UpstreamUnavailable { .. })) => {
                tracing::debug!(error = %e, "cannot follow the engine's events yet");
                return Followed::Unreachable;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the engine does not stream its events");
                return Followed::Answered;
            }
            Err(_) => {
                tracing::warn!("the engine does not answer the events request; asking again");
                return Followed::Answered;
            }
        };
        if let Err(e) = self
            .shared
            .filtered
            .sync(&self.shared, &self.shared.upstream)
            .await
        {
            tracing::warn!(error = %e, "cannot sync filtered sockets");
        }
        self.sweep().await;
        // Image names changed from now on are told: the kept inspects may be used until the
        // stream ends (or this future is dropped). Only now, after two exchanges with the engine
        // made once it answered the events request: the engine answers that request's head
        // before it subscribes it to the events (moby's events route), and a change in between
        // would never be told; and an event held unread while the sync and sweep ran tells of a
        // change older than any answer kept from now on.
        struct Following<'a>(&'a ImageCache);
        impl Drop for Following<'_> {
            fn drop(&mut self) {
                self.0.following(false);
            }
        }
        self.shared.images.following(true);
        let _following = Following(&self.shared.images);
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if let Some(event) = parse_event(&line) {
                    self.on_event(event);
                }
            }
        }
        Followed::Answered
    }

    /// Acts on one container event: a destroyed container's socket goes, any other is judged.
    fn on_event(self: &Arc<Self>, Event { action, id }: Event) {
        let trigger = match action {
            Action::Destroy => {
                self.shared.filtered.remove_container(&id);
                if let Ok(mut seen) = self.seen.lock() {
                    seen.remove(&id);
                }
                return;
            }
            Action::Start => Trigger::Started,
            Action::Die => Trigger::Died,
            Action::Update => Trigger::Updated,
            Action::ImageNames => {
                self.shared.images.forget();
                return;
            }
        };
        self.spawn(id, trigger);
    }

    async fn subscribe(&self) -> Result<http::Response<Incoming>, ProxyError> {
        let mut sender = self.shared.upstream.dial().await?;
        let req = Request::get(EVENTS_TARGET)
            .header(header::HOST, "docker")
            .body(Either::Right(Full::new(Bytes::new())))
            .map_err(|e| self.unavailable(std::io::Error::other(e)))?;
        let resp = sender.send_request(req).await?;
        if !resp.status().is_success() {
            return Err(ProxyError::Facts {
                what: "the engine's events".to_owned(),
                status: resp.status().as_u16(),
                message: String::new(),
            });
        }
        Ok(resp)
    }

    /// Judges every running (or restarting) container.
    async fn sweep(self: &Arc<Self>) {
        let list: Vec<ContainerSummary> = match self
            .shared
            .upstream
            .fetch("/containers/json", "the running containers")
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the running containers to check their mounts");
                return;
            }
        };
        for c in list {
            self.spawn(c.id, Trigger::Sweep);
        }
    }

    /// Judges a container off the stream reader, after any judgement of it still in flight.
    fn spawn(self: &Arc<Self>, id: String, trigger: Trigger) {
        let queue = self
            .queues
            .lock()
            .map(|mut q| q.entry(id.clone()).or_default().clone())
            .unwrap_or_default();
        let watch = self.clone();
        tokio::spawn(async move {
            let turn = queue.lock().await;
            watch.judge(&id, trigger).await;
            drop(turn);
            drop(queue);
            if let Ok(mut q) = watch.queues.lock() {
                if q.get(&id).is_some_and(|l| Arc::strong_count(l) == 1) {
                    q.remove(&id);
                }
            }
        });
    }

    /// Judges a container; one the engine started (or was found running) that cannot be judged
    /// within [`UNJUDGED_BOUND`] is killed all the same.
    async fn judge(&self, id: &str, trigger: Trigger) {
        let outcome = match trigger {
            Trigger::Started | Trigger::Sweep => {
                match tokio::time::timeout(UNJUDGED_BOUND, self.judge_once(id, trigger)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Unjudged::Timeout),
                }
            }
            Trigger::Died | Trigger::Updated => self.judge_once(id, trigger).await,
        };
        if let Err(why) = outcome {
            match trigger {
                Trigger::Started | Trigger::Sweep => self.fail_safe(id, trigger, &why).await,
                Trigger::Died | Trigger::Updated => {
                    tracing::warn!(container = %id, error = %why, "cannot check the mounts of a container that stopped; its next start is judged");
                }
            }
        }
    }

    /// Kills a running container that could not be judged: through the engine if it answers at
    /// once, and directly (every process in the container's cgroup) whatever it answers, since
    /// an engine that cannot be asked may not kill either. Then disarms and records it.
    async fn fail_safe(&self, id: &str, trigger: Trigger, why: &Unjudged) {
        let policy = self.shared.policy.snapshot();
        let denial = match audit::refusal(
            &policy,
            eci_policy::decide::unjudged_denial(&why.to_string()),
        ) {
            Refusal::Enforce(denial) => denial,
            Refusal::Audit { denial, .. } => {
                let info = self.last_seen_or_bare(id);
                let judged = Judged::new(id, trigger, &info, &policy);
                self.record_audited(judged.refused(denial, Cause::Unjudged));
                return;
            }
        };
        let (kill, killed_at) = self.kill_unjudged(id, trigger, why).await;
        // The restart policy is set once the engine answers; the kill does not wait for it.
        let update = tokio::time::timeout(ACTION_TIMEOUT, self.no_restart(id))
            .await
            .unwrap_or_else(|_| Err(self.unavailable(std::io::ErrorKind::TimedOut.into())));
        let disarmed = Disarmed {
            kill,
            killed_at,
            update,
        };
        let info = self.last_seen_or_bare(id);
        let judged = Judged::new(id, trigger, &info, &policy);
        self.record(judged.refused(denial, Cause::Unjudged), &disarmed, None);
    }

    /// The kill of [`Watch::fail_safe`], through the engine (briefly) and directly at once, and
    /// when it was answered.
    async fn kill_unjudged(
        &self,
        id: &str,
        trigger: Trigger,
        why: &Unjudged,
    ) -> (Result<Kill, ProxyError>, SystemTime) {
        let target = format!("/containers/{}/kill", segment(id));
        let engine_kill = tokio::time::timeout(FAIL_SAFE_ENGINE_KILL, self.post(&target, None));
        let killed_directly = kill_cgroup_processes(id);
        let engine = engine_kill.await;
        let killed_at = SystemTime::now();
        tracing::warn!(
            container = %id,
            ?trigger,
            killed_directly,
            error = %why,
            "container killed: it could not be judged"
        );
        let kill = match (&engine, killed_directly) {
            (Ok(Ok((s, _))), _) if s.is_success() => Ok(Kill::Killed),
            (_, n) if n > 0 => Ok(Kill::Killed),
            (Ok(Ok((StatusCode::CONFLICT, _))), _) => Ok(Kill::NotRunning),
            (Ok(Err(e)), _) => Err(ProxyError::Engine {
                status: 0,
                message: e.to_string(),
            }),
            _ => Err(ProxyError::Engine {
                status: 0,
                message: "no process of it was found and the engine did not answer".to_owned(),
            }),
        };
        (kill, killed_at)
    }

    /// One judgement; `Err` says why the container could not be judged.
    async fn judge_once(&self, id: &str, trigger: Trigger) -> Result<(), Unjudged> {
        let policy = self.shared.policy.snapshot();
        let Some(info) = self.inspect_for(id, trigger).await? else {
            return Ok(());
        };
        match trigger {
            Trigger::Updated => return Ok(()),
            Trigger::Died if !has_restart_policy(&info) => return Ok(()),
            _ => {}
        }
        let judged = Judged::new(id, trigger, &info, &policy);
        let Some(denial) = self.enforced_denial(judged).await? else {
            return Ok(());
        };
        self.disarm_refused(judged, denial).await;
        Ok(())
    }

    /// The container as the judgement sees it; `None` when it is gone. At a `die` the engine
    /// holds the container's lock while it cleans up, and an inspect would wait for that out of
    /// the restart back-off; what was read at its start or last update serves (its mounts and
    /// image cannot change, its restart policy only by an update).
    async fn inspect_for(
        &self,
        id: &str,
        trigger: Trigger,
    ) -> Result<Option<Arc<Container>>, Unjudged> {
        if trigger == Trigger::Died {
            if let Some(info) = self.last_seen(id) {
                return Ok(Some(info));
            }
        }
        match facts::container(&self.shared.upstream, id).await {
            Ok(Some(info)) => {
                let info = Arc::new(info);
                if let Ok(mut seen) = self.seen.lock() {
                    seen.insert(id.to_owned(), info.clone());
                }
                Ok(Some(info))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Unjudged::Inspect(e)),
        }
    }

    /// The refusal the container gets under `policy` that is enforced, not audited (audited
    /// ones are recorded on the way); `None` when it may run.
    async fn enforced_denial(&self, judged: Judged<'_>) -> Result<Option<Denial>, Unjudged> {
        let Judged {
            id,
            trigger,
            info,
            policy,
        } = judged;
        let shared = &self.shared;
        // Judged again under a policy that waives the family, after each audited refusal.
        let mut judging = Cow::Borrowed(policy);
        loop {
            let found = match crate::recheck::start(shared.sources(), &judging, id, info)
                .await
                .map(|r| r.denial)
            {
                Ok(None) => mounted(shared, &judging, trigger, info),
                Ok(Some(d)) | Err(ProxyError::Denied(d)) => Some(d),
                Err(e) => return Err(Unjudged::Check(e)),
            };
            let Some(found) = found else {
                return Ok(None);
            };
            match audit::refusal(&judging, found) {
                Refusal::Enforce(d) => return Ok(Some(d)),
                // A start the enforcer forwarded in audit mode was recorded on the request path.
                Refusal::Audit { retry, .. }
                    if trigger == Trigger::Started && shared.forwarded_audited_start(id) =>
                {
                    judging = Cow::Owned(retry);
                }
                Refusal::Audit { denial, retry } => {
                    self.record_audited(judged.refused(denial, Cause::Exposed));
                    judging = Cow::Owned(retry);
                }
            }
        }
    }

    /// Disarms a container refused for its mounts, and records it.
    async fn disarm_refused(&self, judged: Judged<'_>, denial: Denial) {
        let Judged {
            id, trigger, info, ..
        } = judged;
        let disarmed = self.disarm(id).await;
        if disarmed.update.is_ok() {
            // The `die` our kill causes is judged on this: no restart policy, nothing to do.
            let mut now = info.clone();
            now.host_config.restart_policy = Some("no".to_owned());
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(id.to_owned(), Arc::new(now));
            }
        }
        let held = match (&disarmed.kill, trigger) {
            (Ok(Kill::Killed), Trigger::Started | Trigger::Sweep) => {
                started_at(info).and_then(|t| disarmed.killed_at.duration_since(t).ok())
            }
            _ => None,
        };
        tracing::warn!(
            container = %id,
            ?trigger,
            held_ms = held.map(|d| d.as_millis()),
            reason = %denial.reason,
            "container disarmed: its mounts expose a protected socket"
        );
        self.record(judged.refused(denial, Cause::Exposed), &disarmed, held);
    }

    /// Kills the container and sets its restart policy to `no`.
    async fn disarm(&self, id: &str) -> Disarmed {
        // Kill first. The container may hold the socket right now, and the engine's kill cancels
        // its restart manager under the container's lock (`ExitOnNext` in moby's
        // `killWithSignal`), which also cancels a restart already pending in the back-off: after
        // the kill no restart policy starts it again, so no window opens before the update. The
        // update alone would not do: moby's `SetPolicy` leaves a pending back-off timer running,
        // and updating first would leave the socket in the container one more round trip. The
        // update still matters: a daemon restart starts `always` containers however they were
        // stopped, and it is what the user sees.
        let kill = match self
            .post(&format!("/containers/{}/kill", segment(id)), None)
            .await
        {
            Ok((s, _)) if s.is_success() => Ok(Kill::Killed),
            // Not running: it already exited, or no restart was pending.
            Ok((StatusCode::CONFLICT, _)) => Ok(Kill::NotRunning),
            Ok((s, message)) => Err(ProxyError::Engine {
                status: s.as_u16(),
                message,
            }),
            Err(e) => Err(e),
        };
        let killed_at = SystemTime::now();
        let update = self.no_restart(id).await;
        Disarmed {
            kill,
            killed_at,
            update,
        }
    }

    /// Sets the container's restart policy to `no`.
    async fn no_restart(&self, id: &str) -> Result<(), ProxyError> {
        let body = json!({"RestartPolicy": {"Name": "no"}});
        match self
            .post(&format!("/containers/{}/update", segment(id)), Some(&body))
            .await
        {
            Ok((s, _)) if s.is_success() => Ok(()),
            Ok((s, message)) => Err(ProxyError::Engine {
                status: s.as_u16(),
                message,
            }),
            Err(e) => Err(e),
        }
    }

    /// One `POST` of our own to the engine: its status and error message.
    async fn post(
        &self,
        target: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), ProxyError> {
        let exchange = async {
            let body = body.map(|b| Bytes::from(b.to_string()));
            let (status, body) = self.shared.upstream.post(target, body).await?;
            let message = serde_json::from_slice::<Value>(&body)
                .map(|v| engine_message(&v))
                .unwrap_or_default();
            Ok((status, message))
        };
        tokio::time::timeout(ACTION_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unavailable(std::io::ErrorKind::TimedOut.into()))?
    }

    fn unavailable(&self, source: std::io::Error) -> ProxyError {
        ProxyError::UpstreamUnavailable {
            path: self.engine_socket.clone(),
            source,
        }
    }

    /// A container disarmed (or that could not be), recorded as a block.
    fn record(&self, r: Refused<'_>, disarmed: &Disarmed, held: Option<Duration>) {
        let killed = match (&disarmed.kill, r.judged.trigger) {
            (Ok(Kill::Killed), Trigger::Died) => "its pending restart was cancelled".to_owned(),
            (Ok(Kill::Killed), _) => match held {
                Some(d) => format!("it was killed {} ms after it started", d.as_millis()),
                None => "it was killed".to_owned(),
            },
            (Ok(Kill::NotRunning), Trigger::Died) => "no restart was pending".to_owned(),
            (Ok(Kill::NotRunning), _) => "it had already stopped".to_owned(),
            (Err(e), _) => format!("it could not be killed ({e})"),
        };
        let policy_set = match &disarmed.update {
            Ok(()) => "its restart policy was set to \"no\"".to_owned(),
            Err(e) => format!("its restart policy could not be set to \"no\" ({e})"),
        };
        let action = format!("{killed} and {policy_set}");
        self.emit(r, &action, false);
    }

    /// A container that would have been disarmed, left running: its rule family is in audit
    /// mode.
    fn record_audited(&self, r: Refused<'_>) {
        tracing::warn!(container = %r.judged.id, trigger = ?r.judged.trigger, reason = %r.denial.reason, "audit mode: container left running");
        self.emit(r, "audit mode: it was left running", true);
    }

    fn emit(&self, r: Refused<'_>, action: &str, audited: bool) {
        let Refused {
            judged:
                Judged {
                    id,
                    trigger,
                    info,
                    policy,
                },
            denial,
            cause,
        } = r;
        let short = id.get(..12).unwrap_or(id);
        let what = match trigger {
            Trigger::Started => format!("the engine started container {short} by itself (restart policy or daemon restart), not through the enforcer"),
            Trigger::Sweep => format!("container {short} was found running when the enforcer connected to the engine, started by the engine itself (restart policy or daemon restart) or directly on it, not through the enforcer"),
            Trigger::Died | Trigger::Updated => format!("container {short} exited and the engine was to start it again by its restart policy, not through the enforcer"),
        };
        let cause = match cause {
            Cause::Exposed => "with a mount that now exposes the iechor socket",
            Cause::Unjudged => "and it could not be checked",
        };
        let reason = format!("{what}, {cause}: {}; {action}", denial.reason);
        let path = format!("/containers/{id}/start");
        let commands = classify::classify("POST", &path)
            .map(|c| classify::commands_of(c.route))
            .unwrap_or_default();
        let text = |v: &str| Some(v.to_owned()).filter(|s| !s.is_empty());
        self.shared.blocks.record(BlockEvent {
            at: SystemTime::now(),
            socket: SocketKind::Main {
                path: self.engine_socket.clone(),
            },
            image_name: info.config.image.as_deref().and_then(text),
            image_id: text(&info.image),
            kind: denial.kind,
            audited,
            commands,
            method: "POST".to_owned(),
            path,
            status: denial.status,
            reason,
            message: denial.message,
            policy_version: policy.version.clone(),
            client: ClientInfo::default(),
        });
    }
}

/// Why a container could not be judged.
#[derive(Debug, thiserror::Error)]
enum Unjudged {
    #[error("its inspect failed: {0}")]
    Inspect(ProxyError),
    #[error("its mounts could not be checked: {0}")]
    Check(ProxyError),
    #[error("the engine did not answer its inspect within {} ms", UNJUDGED_BOUND.as_millis())]
    Timeout,
}

/// A container judged, and the policy it was judged under.
#[derive(Clone, Copy)]
struct Judged<'a> {
    id: &'a str,
    trigger: Trigger,
    info: &'a Container,
    policy: &'a Policy,
}

impl<'a> Judged<'a> {
    fn new(id: &'a str, trigger: Trigger, info: &'a Container, policy: &'a Policy) -> Judged<'a> {
        Judged {
            id,
            trigger,
            info,
            policy,
        }
    }

    /// The container refused, and why.
    fn refused(self, denial: Denial, cause: Cause) -> Refused<'a> {
        Refused {
            judged: self,
            denial,
            cause,
        }
    }
}

/// A container the watch refused, and why.
struct Refused<'a> {
    judged: Judged<'a>,
    denial: Denial,
    cause: Cause,
}

/// Why a container was disarmed.
#[derive(Debug, Clone, Copy)]
enum Cause {
    Exposed,
    Unjudged,
}

#[derive(Debug)]
enum Kill {
    Killed,
    NotRunning,
}

#[derive(Debug)]
struct Disarmed {
    kill: Result<Kill, ProxyError>,
    /// When the kill was answered (the engine answers once the container has exited).
    killed_at: SystemTime,
    update: Result<(), ProxyError>,
}

/// What the kernel mounted into a running container, judged: the paths the start check resolved
/// can have changed between its check and the engine's mount, the mounts in its namespace cannot.
fn mounted(shared: &Shared, policy: &Policy, trigger: Trigger, info: &Container) -> Option<Denial> {
    if !policy.eci_enabled || !matches!(trigger, Trigger::Started | Trigger::Sweep) {
        return None;
    }
    let id = info.id.as_str();
    let pid = container_processes(id).into_iter().min()?;
    let e = shared.protected.mounted_in(u32::try_from(pid).ok()?)?;
    let image = info.config.image.as_deref().unwrap_or_default();
    eci_policy::decide::mounted_verdict(policy, image, &e)
}

/// The host pids of the processes whose cgroup names the container (its id appears in the cgroup
/// path under both the cgroupfs and the systemd drivers). Found without the engine, and in the
/// host's pid namespace whatever namespace the engine reports pids in.
fn container_processes(id: &str) -> Vec<i32> {
    if id.len() < 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|cgroup| cgroup.lines().any(|l| l.contains(id)))
        })
        .collect()
}

/// SIGKILLs every process of the container; the number killed. Needs no engine.
fn kill_cgroup_processes(id: &str) -> usize {
    container_processes(id)
        .into_iter()
        .filter_map(rustix::process::Pid::from_raw)
        .filter(|pid| rustix::process::kill_process(*pid, rustix::process::Signal::KILL).is_ok())
        .count()
}

/// When the engine last started the container (`State.StartedAt`).
fn started_at(info: &Container) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(info.state.started_at.as_deref()?).ok()?;
    Some(SystemTime::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_events_it_acts_on() {
        let id = "4f3c".to_owned();
        let cases: &[(&str, Option<Event>)] = &[
            (
                r#"{"status":"start","id":"4f3c","Type":"container","Action":"start","Actor":{"ID":"4f3c","Attributes":{}}}"#,
                Some(Event {
                    action: Action::Start,
                    id: id.clone(),
                }),
            ),
            (
                r#"{"Type":"container","Action":"die","Actor":{"ID":"4f3c","Attributes":{"exitCode":"0"}}}"#,
                Some(Event {
                    action: Action::Die,
                    id: id.clone(),
                }),
            ),
            // An engine that sends only the old fields is still followed.
            (
                r#"{"status":"destroy","id":"4f3c"}"#,
                Some(Event {
                    action: Action::Destroy,
                    id: id.clone(),
                }),
            ),
            // A restart policy may have changed: the one read at the start is stale.
            (
                r#"{"Type":"container","Action":"update","Actor":{"ID":"4f3c"}}"#,
                Some(Event {
                    action: Action::Update,
                    id: id.clone(),
                }),
            ),
            // Image names may have changed, whoever changed them.
            (
                r#"{"status":"tag","id":"sha256:9a0b","Type":"image","Action":"tag","Actor":{"ID":"sha256:9a0b","Attributes":{"name":"x:1"}}}"#,
                Some(Event {
                    action: Action::ImageNames,
                    id: String::new(),
                }),
            ),
            (
                r#"{"Type":"image","Action":"prune","Actor":{"ID":""}}"#,
                Some(Event {
                    action: Action::ImageNames,
                    id: String::new(),
                }),
            ),
            (
                r#"{"Type":"container","Action":"commit","Actor":{"ID":"4f3c"}}"#,
                Some(Event {
                    action: Action::ImageNames,
                    id: String::new(),
                }),
            ),
            // A push adds a repo digest to the image: what the engine tells of it changed.
            (
                r#"{"Type":"image","Action":"push","Actor":{"ID":"x:1"}}"#,
                Some(Event {
                    action: Action::ImageNames,
                    id: String::new(),
                }),
            ),
            // Names unchanged, or not an image's nor a container's.
            (
                r#"{"Type":"image","Action":"save","Actor":{"ID":"x:1"}}"#,
                None,
            ),
            (
                r#"{"Type":"volume","Action":"destroy","Actor":{"ID":"v"}}"#,
                None,
            ),
            // Not acted on: another action, no id, not JSON.
            (r#"{"Action":"kill","Actor":{"ID":"4f3c"}}"#, None),
            (r#"{"Action":"start","Actor":{"ID":""}}"#, None),
            ("not json", None),
        ];
        for (line, want) in cases {
            assert_eq!(&parse_event(line.as_bytes()), want, "{line}");
        }
    }

    #[test]
    fn only_a_restart_policy_other_than_no_restarts() {
        let cases: &[(Value, bool)] = &[
            (
                json!({"HostConfig": {"RestartPolicy": {"Name": "always"}}}),
                true,
            ),
            (
                json!({"HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}}}),
                true,
            ),
            (
                json!({"HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}}),
                true,
            ),
            (
                json!({"HostConfig": {"RestartPolicy": {"Name": "no"}}}),
                false,
            ),
            (
                json!({"HostConfig": {"RestartPolicy": {"Name": ""}}}),
                false,
            ),
            (json!({"HostConfig": {}}), false),
        ];
        for (shown, want) in cases {
            let mut info = shown.clone();
            info["Id"] = json!("4f3c");
            let info: Container = serde_json::from_value(info).unwrap();
            assert_eq!(has_restart_policy(&info), *want, "{shown}");
        }
    }

    #[test]
    fn an_engine_that_answers_without_streaming_is_asked_less_and_less_often() {
        let ms = Duration::from_millis;
        let cases: &[(Duration, Followed, Duration, Duration)] = &[
            // Down or restarting: soon, whatever came before.
            (ms(3200), Followed::Unreachable, ms(0), RECONNECT_DELAY),
            // Answered but no stream: twice the last pause, up to the cap.
            (ms(100), Followed::Answered, ms(2), ms(200)),
            (ms(3200), Followed::Answered, ms(2), MAX_RECONNECT_DELAY),
            (
                MAX_RECONNECT_DELAY,
                Followed::Answered,
                ms(2),
                MAX_RECONNECT_DELAY,
            ),
            // A stream that lasted ended by an engine restart: soon again.
            (
                ms(3200),
                Followed::Answered,
                MAX_RECONNECT_DELAY,
                RECONNECT_DELAY,
            ),
        ];
        for &(previous, outcome, lasted, want) in cases {
            assert_eq!(
                next_delay(previous, outcome, lasted),
                want,
                "{previous:?} {outcome:?} {lasted:?}"
            );
        }
    }
}
