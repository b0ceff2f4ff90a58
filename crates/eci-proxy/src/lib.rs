//! eci-proxy: the enforcer. A filtering proxy in front of the Docker Engine API socket that
//! applies Enhanced Container Isolation's socket-mount permissions (SPEC §3–§7).
//!
//! Data flow: listener (main | filtered, per container) → connection task → per request
//! [`classify`](eci_policy::routes) → bounded body read where inspected → facts from the host and
//! the engine → the pure decisions of [`eci_policy::decide`] → forward (streamed, rewritten, or
//! spliced after a 101) or refuse with a block record. Settings are watched and swapped into an
//! `ArcSwap`; each request judges by one snapshot.
//!
//! Headless: `serve(config, termination_signal()).await` with a [`ServeConfig`] (clap flags and
//! environment variables); it opens the digest service and the history under the state
//! directory. Embedded (the desktop app, inside a tokio runtime): open an
//! `eci_registry::DigestService`, spawn its `run_refresher`, then
//! `Enforcer::start(config, Arc::new(RegistryDigests::new(service)), Some(Arc::new(history.recorder())))`;
//! then [`Enforcer::status`], [`Enforcer::subscribe_blocks`], [`Enforcer::subscribe_reloads`],
//! [`Enforcer::reload`], [`Enforcer::policy`] and [`Enforcer::stop`].

mod audit_log;
mod blocks;
mod classify;
mod config;
pub mod control;
mod digests;
mod engine_body;
mod engine_paths;
mod engine_pool;
mod engine_watch;
mod error;
mod explain;
mod facts;
mod filtered;
mod image_cache;
mod inspect;
mod judge;
mod metrics;
mod metrics_http;
mod policy;
mod reattach;
mod recheck;
mod server;
mod service;
pub mod settings_files;
mod shared;
mod socket;
mod splice;
mod upstream;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eci_policy::gojson;
use serde::{Deserialize, Serialize};
use tokio::net::UnixListener;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinHandle;

pub use audit_log::{AuditLog, AuditTarget, Tee, AUDIT_TARGET};
pub use blocks::{record_of, AllowedRequest, BlockEvent, BlockSink, ClientInfo, SocketKind};
pub use config::{MetricsAddr, ServeConfig, StartError};
pub use digests::{DigestSource, EntryFreshness, Prepared, RegistryDigests};
pub use engine_watch::UNJUDGED_BOUND;
pub use error::ProxyError;
pub use explain::{
    EntryFact, ExplainConfig, Explainer, Explanation, ImageFact, MountFact, Outcome, Socket,
};
pub use facts::{resolve_host, HOST_CONTROL_SOCKETS};
pub use filtered::SPARES as SPARE_FILTERED_SOCKETS;
pub use image_cache::KEPT_FOR as IMAGE_INSPECT_KEPT_FOR;
pub use metrics::{Metrics, Verdict};
pub use policy::{is_locked, PauseError, PolicyStore, ReloadEvent, ReloadOutcome, SettingsPaths};
pub use upstream::OWN_USER_AGENT;

use crate::blocks::Blocks;
use crate::facts::Protected;
use crate::filtered::FilteredSockets;
use crate::server::spawn_listener;
use crate::shared::Shared;
use crate::socket::{bind_socket, Origin};
use crate::upstream::Upstream;

/// How long [`Enforcer::start`] and [`Enforcer::status`] wait for the engine's answer.
const ENGINE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Bounds that hold for every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Client connections served at once, over all sockets; more wait in the kernel backlog.
    pub max_connections: usize,
    /// A client must send a request's headers within this time, counted from the end of the
    /// previous response on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) read.
    pub max_header_bytes: usize,
    /// Longest request target (path and query); longer is 414.
    pub max_uri_bytes: usize,
    /// Bounds on an inspected body (413 beyond `max_bytes`).
    pub body: gojson::Limits,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            // hyper runs this clock while a kept-alive connection waits for its next request
            // too; longer than Go's 90 s idle timeout, clients close idle connections first and
            // never race our close with a request (a POST would not be retried).
            header_read_timeout: Duration::from_secs(120),
            // Go's net/http default `MaxHeaderBytes` with the 4 KiB it adds, which the engine
            // uses: any head the engine reads, we read.
            max_header_bytes: (1 << 20) + 4096,
            // Build arguments and labels travel in the query; the engine's own bound is the head.
            max_uri_bytes: eci_policy::routes::MAX_TARGET_LEN,
            body: gojson::Limits::default(),
        }
    }
}

/// Everything [`Enforcer::start`] needs besides the digest facts.
#[derive(Debug, Clone)]
pub struct EnforcerConfig {
    /// Main listening sockets (mode 0660).
    pub listen: Vec<PathBuf>,
    /// The engine's socket.
    pub upstream: PathBuf,
    pub settings: SettingsPaths,
    /// Holds `filtered/`, the containers' filtered sockets.
    pub state_dir: PathBuf,
    /// Further protected socket paths (e.g. `/var/run/iechor.sock`, `/run/docker.sock`).
    pub protect: Vec<PathBuf>,
    pub limits: Limits,
    /// Watch the settings files and reload on change.
    pub watch_settings: bool,
}

/// What the app shows about a running enforcer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "EnforcerStatus"))]
pub struct Status {
    pub listening: Vec<PathBuf>,
    pub upstream: PathBuf,
    pub upstream_reachable: bool,
    /// `Version` and `ApiVersion` from the engine's `/version`.
    pub engine_version: Option<String>,
    pub engine_api_version: Option<String>,
    pub settings: SettingsPaths,
    pub eci_enabled: bool,
    pub policy_version: String,
    /// While enforcing is paused: when it resumes, unix milliseconds.
    pub paused_until_ms: Option<u64>,
    pub policy_provenance: eci_policy::settings::Provenance,
    pub last_reload: Option<ReloadEvent>,
    /// Filtered sockets and their containers (`None` while a create is pending).
    pub filtered_sockets: Vec<(PathBuf, Option<String>)>,
    /// Per image-list entry, how fresh its registry digests are.
    pub digests: Vec<EntryFreshness>,
    /// The protected sockets and directories found on this machine (mounts of them, or of a
    /// directory above them, are socket mounts).
    pub protected: Vec<ProtectedPath>,
}

/// A protected path found on the machine, and what it is (`engine socket`, `host control
/// socket`, `filtered sockets`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProtectedPath {
    pub path: String,
    pub kind: std::borrow::Cow<'static, str>,
}

/// A running enforcer. Dropping it without [`Enforcer::stop`] also stops it, less gracefully.
pub struct Enforcer {
    shared: Arc<Shared>,
    config: EnforcerConfig,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _watch: Option<policy::WatchHandle>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Creates `dir` readable by its owner only: filtered sockets are for the containers they are
/// mounted into, not for local users.
fn private_dir(dir: &Path) -> Result<PathBuf, StartError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|source| StartError::StateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(dir.to_path_buf())
}

/// Counts every reload the store publishes from now on (subscribed before the first, so it
/// counts too).
fn count_reloads(store: &PolicyStore, metrics: Arc<Metrics>) -> JoinHandle<()> {
    let mut reloads = store.subscribe();
    tokio::spawn(async move {
        loop {
            match reloads.recv().await {
                Ok(event) => metrics.reload(&event.outcome),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Every path a mount must not reach: the listening sockets, the engine's, the configured ones,
/// the host's control sockets and the engine's exec root; logged as found.
async fn protected_paths(config: &EnforcerConfig, filtered_dir: &Path) -> Protected {
    let protected = Protected::new(
        config
            .listen
            .iter()
            .chain(std::iter::once(&config.upstream))
            .chain(config.protect.iter())
            .cloned(),
        filtered_dir,
    )
    .with_control(facts::HOST_CONTROL_SOCKETS)
    .with_control(engine_paths::exec_root(&config.upstream).await);
    for (path, kind) in protected.present() {
        tracing::info!(%path, kind, "protected against mounts");
    }
    protected
}

/// Binds each listening socket (its directory made if missing), in the engine socket's group.
fn bind_listeners(config: &EnforcerConfig) -> Result<Vec<(PathBuf, UnixListener)>, StartError> {
    let mut listeners = Vec::new();
    for path in &config.listen {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let l = bind_socket(path, false).map_err(|source| StartError::Listen {
            path: path.clone(),
            source,
        })?;
        share_group_with_upstream(path, &config.upstream);
        listeners.push((path.clone(), l));
    }
    Ok(listeners)
}

/// Gives running containers back the filtered sockets they had. An engine that accepts but never
/// answers must not hold up the start; the events task syncs again once the engine answers.
async fn restore_filtered_sockets(shared: &Arc<Shared>) {
    match tokio::time::timeout(
        ENGINE_QUERY_TIMEOUT,
        shared.filtered.sync(shared, &shared.upstream),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot restore filtered sockets yet; will retry with the engine's events")
        }
        Err(_) => {
            tracing::warn!(
                "the engine does not answer; filtered sockets will be restored with its events"
            )
        }
    }
}

/// The enforcer's tasks on its main sockets, and the engine watch.
fn serve_listeners(
    shared: &Arc<Shared>,
    listeners: Vec<(PathBuf, UnixListener)>,
    upstream: &Path,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (path, l) in listeners {
        tracing::info!(socket = %path.display(), upstream = %upstream.display(), "listening");
        tasks.push(spawn_listener(
            shared.clone(),
            l,
            Origin::Main {
                path: path.to_string_lossy().into(),
            },
        ));
    }
    tasks.push(tokio::spawn(engine_watch::engine_events(
        shared.clone(),
        upstream.to_owned(),
    )));
    tasks
}

impl Enforcer {
    /// Loads the settings, binds the listeners, restores the filtered sockets of existing
    /// containers, and starts serving. `sink` receives every block (the history store).
    pub async fn start(
        config: EnforcerConfig,
        digests: Arc<dyn DigestSource>,
        sink: Option<Arc<dyn BlockSink>>,
    ) -> Result<Enforcer, StartError> {
        if std::fs::symlink_metadata(&config.upstream).is_err() {
            return Err(StartError::UpstreamMissing {
                path: config.upstream.clone(),
            });
        }
        let filtered_dir = private_dir(&config.state_dir.join("filtered"))?;
        let hook_digests = digests.clone();
        let store = Arc::new(
            PolicyStore::fail_closed()
                .with_swap_hook(Box::new(move |p| hook_digests.set_policy(p))),
        );
        // Watch before the first read: a change made while the enforcer starts is not missed.
        let watch = if config.watch_settings {
            Some(policy::watch(store.clone(), config.settings.clone()).map_err(StartError::Watch)?)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new());
        let reload_counter = count_reloads(&store, metrics.clone());
        store.reload(&config.settings);
        let protected = protected_paths(&config, &filtered_dir).await;
        let listeners = bind_listeners(&config)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: Upstream::new(&config.upstream),
            policy: store.clone(),
            digests,
            protected,
            filtered: FilteredSockets::new(filtered_dir),
            blocks: Blocks::new(sink, metrics),
            limits: config.limits,
            permits: Arc::new(Semaphore::new(config.limits.max_connections)),
            shutdown: shutdown_rx,
            volumes: tokio::sync::Mutex::new(()),
            audited_starts: std::sync::Mutex::default(),
            images: Arc::default(),
        });
        restore_filtered_sockets(&shared).await;
        let mut tasks = vec![reload_counter];
        tasks.extend(serve_listeners(&shared, listeners, &config.upstream));
        Ok(Enforcer {
            shared,
            config,
            shutdown,
            tasks,
            _watch: watch,
        })
    }

    /// The policy in force; tests and the app may also set it directly.
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.shared.policy
    }

    /// The metrics in Prometheus' text format, gauges read now.
    pub fn metrics_text(&self) -> String {
        let shared = &self.shared;
        let open = shared
            .limits
            .max_connections
            .saturating_sub(shared.permits.available_permits());
        shared.blocks.metrics().render(
            open,
            self.filtered_sockets().len(),
            &shared.digests.freshness(),
            chrono::Utc::now(),
        )
    }

    /// Every block from now on.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<BlockEvent> {
        self.shared.blocks.subscribe()
    }

    /// Every settings reload from now on.
    pub fn subscribe_reloads(&self) -> broadcast::Receiver<ReloadEvent> {
        self.shared.policy.subscribe()
    }

    /// The filtered sockets and their containers (`None` while a create is pending).
    pub fn filtered_sockets(&self) -> Vec<(PathBuf, Option<String>)> {
        self.shared.filtered.list()
    }

    /// Reloads the settings now (also done on every change when watching).
    pub fn reload(&self) -> ReloadEvent {
        self.shared.policy.reload(&self.config.settings)
    }

    pub async fn status(&self) -> Status {
        status_of(&self.shared, &self.config).await
    }

    /// Stops accepting, lets requests in flight finish briefly, and removes the main sockets.
    /// Filtered socket files stay for the next start to restore.
    pub async fn stop(mut self) {
        self.halt();
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
    }

    fn halt(&mut self) {
        let _ = self.shutdown.send(true);
        self.shared.filtered.stop_all();
        for path in &self.config.listen {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The status of the enforcer made of `shared` and `config` (also for the control socket).
pub(crate) async fn status_of(shared: &Shared, config: &EnforcerConfig) -> Status {
    // The app polls this: an engine that accepts but never answers reads as unreachable.
    let version = tokio::time::timeout(
        ENGINE_QUERY_TIMEOUT,
        shared.upstream.get("/version", "the engine version"),
    )
    .await;
    let (reachable, engine_version, api) = match &version {
        Ok(Ok(v)) => (
            true,
            v.get("Version").and_then(|s| s.as_str()).map(str::to_owned),
            v.get("ApiVersion")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
        ),
        _ => (false, None, None),
    };
    let policy = shared.policy.snapshot();
    Status {
        listening: config.listen.clone(),
        upstream: config.upstream.clone(),
        upstream_reachable: reachable,
        engine_version,
        engine_api_version: api,
        settings: config.settings.clone(),
        eci_enabled: policy.eci_enabled,
        policy_version: policy.version.clone(),
        paused_until_ms: shared
            .policy
            .paused_until()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        policy_provenance: policy.provenance,
        last_reload: shared.policy.last_reload(),
        filtered_sockets: shared.filtered.list(),
        digests: shared.digests.freshness(),
        protected: shared
            .protected
            .present()
            .into_iter()
            .map(|(path, kind)| ProtectedPath {
                path,
                kind: kind.into(),
            })
            .collect(),
    }
}

impl Drop for Enforcer {
    fn drop(&mut self) {
        if !*self.shutdown.borrow() {
            self.halt();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The engine's view of an image (`GET /images/{name}/json`): its id and repo digests, for the app's
/// "Allow this image" by digest. `None` when the engine has no such image.
pub async fn inspect_image(
    upstream: &std::path::Path,
    name: &str,
) -> Result<Option<eci_policy::decide::ImageFacts>, ProxyError> {
    tokio::time::timeout(
        ENGINE_QUERY_TIMEOUT,
        facts::image(&Upstream::new(upstream), name),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ProxyError::Engine {
            status: 504,
            message: "the engine did not answer in time".into(),
        })
    })
}

/// Whoever may use the engine's socket (its group, `docker` on most systems) may use ours: the
/// listening socket takes the engine socket's group. Only possible for root; otherwise the
/// socket keeps our own group, which is the desktop user's case anyway.
fn share_group_with_upstream(path: &std::path::Path, upstream: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return;
    }
    if let Ok(meta) = std::fs::metadata(upstream) {
        if let Err(e) = std::os::unix::fs::chown(path, None, Some(meta.gid())) {
            tracing::warn!(socket = %path.display(), error = %e, "cannot give the socket the engine socket's group");
        }
    }
}

/// Completes on SIGINT or SIGTERM: the `shutdown` of [`serve`] for a service manager or a
/// terminal. If the handlers cannot be installed it never completes, and the process ends the
/// default way.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Reloads the settings on every SIGHUP (what `systemctl reload` and admins send a daemon) until
/// `shutdown` completes.
async fn reload_on_hangup(enforcer: &Enforcer, shutdown: impl Future<Output = ()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for SIGHUP; file changes still reload");
            None
        }
    };
    let hangups = async {
        let Some(hangup) = hangup.as_mut() else {
            return std::future::pending().await;
        };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the settings");
            enforcer.reload();
        }
        std::future::pending().await
    };
    tokio::select! {
        () = shutdown => {}
        () = hangups => {}
    }
}

/// Runs the headless enforcer until `shutdown` completes: digests from the registries (cached
/// under the state directory, refreshed in the background), blocks recorded in the history
/// under the state directory.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let registries = match &config.registries {
        Some(path) => eci_registry::RegistrySettings::load(path).map_err(StartError::Registries)?,
        None => eci_registry::RegistrySettings::default(),
    };
    let metrics_addr = config.metrics.clone();
    let audit = audit_log(&config)?;
    let control = config.control_config()?;
    let config = config.into_enforcer_config();
    let digests = Arc::new(RegistryDigests::open(&config.state_dir, registries));
    let cancel = tokio_util::sync::CancellationToken::new();
    let refresher = tokio::spawn(digests.service().clone().run_refresher(cancel.clone()));
    let history = Arc::new(eci_history::History::open(
        &config.state_dir,
        eci_history::Retention::default(),
    ));
    let recorder: Arc<dyn BlockSink> = Arc::new(history.recorder());
    let sink: Arc<dyn BlockSink> = match audit {
        Some(audit) => Arc::new(Tee(vec![recorder, audit])),
        None => recorder,
    };
    let result = match Enforcer::start(config, digests, Some(sink)).await {
        Ok(enforcer) => {
            serve_with_control(enforcer, control, &history, metrics_addr, shutdown).await
        }
        Err(e) => Err(e),
    };
    cancel.cancel();
    let _ = refresher.await;
    let closed = tokio::task::spawn_blocking(move || match Arc::try_unwrap(history) {
        Ok(history) => history.close(),
        // A control connection still holds it: write it out at least.
        Err(history) => history.flush(),
    });
    if let Ok(Err(e)) = closed.await {
        tracing::warn!(error = %e, "closing the history");
    }
    result
}

/// The audit log `serve` was asked for, as a sink beside the history.
fn audit_log(config: &ServeConfig) -> Result<Option<Arc<dyn BlockSink>>, StartError> {
    let Some(target) = config.audit_target() else {
        return Ok(None);
    };
    let shown = format!("{target:?}");
    let log =
        AuditLog::open(target, config.audit_allowed).map_err(|source| StartError::AuditLog {
            target: shown,
            source,
        })?;
    Ok(Some(Arc::new(log)))
}

/// Serves a started enforcer with its control socket (when asked) until `shutdown`; a control
/// socket that cannot be served stops the enforcer.
async fn serve_with_control(
    enforcer: Enforcer,
    control: Option<control::ControlConfig>,
    history: &Arc<eci_history::History>,
    metrics_addr: Option<MetricsAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let served_control = control
        .map(|c| {
            enforcer
                .serve_control(&c, history.clone())
                .map_err(|source| StartError::Control {
                    path: c.path,
                    source,
                })
        })
        .transpose();
    match served_control {
        Ok(control) => {
            let served = serve_started(enforcer, metrics_addr, shutdown).await;
            if let Some(control) = control {
                control.stop().await;
            }
            served
        }
        Err(e) => {
            enforcer.stop().await;
            Err(e)
        }
    }
}

/// Serves a started enforcer (and its metrics, when asked) until `shutdown`, then stops it.
async fn serve_started(
    enforcer: Enforcer,
    metrics_addr: Option<MetricsAddr>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let enforcer = Arc::new(enforcer);
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = match &metrics_addr {
        Some(addr) => {
            let bound = metrics_http::bind(addr)
                .await
                .map_err(|source| StartError::Metrics {
                    addr: format!("{addr:?}"),
                    source,
                });
            let bound = match bound {
                Ok(bound) => bound,
                Err(e) => {
                    if let Ok(enforcer) = Arc::try_unwrap(enforcer) {
                        enforcer.stop().await;
                    }
                    return Err(e);
                }
            };
            // Weak: a scraper's open connection must not keep the enforcer from stopping.
            let seen = Arc::downgrade(&enforcer);
            let render: metrics_http::Render =
                Arc::new(move || seen.upgrade().map(|e| e.metrics_text()).unwrap_or_default());
            Some(tokio::spawn(metrics_http::run(bound, render, async {
                let _ = metrics_stopped.await;
            })))
        }
        None => None,
    };
    reload_on_hangup(&enforcer, shutdown).await;
    tracing::info!("stopping");
    let _ = stop_metrics.send(());
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    match Arc::try_unwrap(enforcer) {
        Ok(enforcer) => enforcer.stop().await,
        Err(_) => tracing::warn!("the enforcer is still referenced; not stopped cleanly"),
    }
    Ok(())
}
