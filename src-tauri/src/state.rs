//! The app's managed state and the embedded enforcer's life: the same parts as `eci-guard serve`
//! (history, digest service, enforcer) built from the same `ECI_GUARD_*` variables, with the
//! enforcer supervised in the background so the window opens even without an engine.
//!
//! [`AppState::open`] needs no window and no runtime hook, so tests `manage` it directly (Tauri's
//! `setup` hook does not run under `build()` in tests); [`AppState::start`] starts the background
//! tasks and [`AppState::stop`] ends them.
//!
//! When an `eci-guard serve` already serves the sockets, the app attaches to it through its
//! control socket instead ([`Enforcement::Attached`]): no second enforcer; status, history,
//! live blocks and settings come from the daemon (see `backend.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use eci_proxy::control::{ControlClient, ControlEvent};
use eci_proxy::{DigestSource, Enforcer, EnforcerConfig, RegistryDigests, ServeConfig};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, ErrorCode};
use crate::files::{may_write, read_view, Mode};

/// Event names (SPEC §8; `ui/src/api.ts` listens to the same).
pub const POLICY_CHANGED: &str = "policy://changed";
pub const HISTORY_BLOCKED: &str = "history://blocked";
pub const STATUS_CHANGED: &str = "status://changed";

/// How often the status is looked at for changes (engine gone, digests refreshed).
const STATUS_PERIOD: Duration = Duration::from_secs(3);
/// How soon a failed enforcer start is tried again (the engine may come up later).
const RETRY_PERIOD: Duration = Duration::from_secs(3);

/// `eci-guard serve`'s options, read from the `ECI_GUARD_*` environment variables only (command
/// line arguments are the window system's and the WebDriver's business).
#[derive(Debug, Parser)]
#[command(name = "eci-guard-desktop")]
struct EnvOnly {
    #[command(flatten)]
    serve: ServeConfig,
}

/// Where everything is, resolved once at launch.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub enforcer: EnforcerConfig,
    pub registries: Option<PathBuf>,
    /// Act as a user even if the admin file is writable (`ECI_GUARD_USER_MODE=1`), to see what
    /// users see. Only ever lowers privileges.
    pub force_user_mode: bool,
    /// The control socket of a running `eci-guard serve` to attach to instead of embedding an
    /// enforcer (see [`attach_target`]).
    pub attach: Option<PathBuf>,
}

/// Why the app cannot start: its environment, or a file it must read first.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An `ECI_GUARD_*` variable does not parse (clap's message names it).
    #[error("{0}")]
    Environment(#[from] clap::Error),
    #[error("the registries file: {0}")]
    Registries(#[from] eci_registry::SettingsError),
    #[error("cannot start a thread to open the app's state: {0}")]
    Thread(std::io::Error),
    #[error("opening the app's state panicked")]
    Panicked,
}

impl AppConfig {
    /// The same variables and defaults as `eci-guard serve`, plus `ECI_GUARD_USER_MODE`.
    pub fn from_env() -> Result<AppConfig, StartError> {
        let args = EnvOnly::try_parse_from(["eci-guard-desktop"])?;
        let registries = args.serve.registries.clone();
        let force_user_mode = std::env::var("ECI_GUARD_USER_MODE")
            .is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        let enforcer = args.serve.into_enforcer_config();
        let attach = attach_target(
            std::env::var_os("ECI_GUARD_ATTACH").as_deref(),
            &enforcer.listen,
        );
        Ok(AppConfig {
            enforcer,
            registries,
            force_user_mode,
            attach,
        })
    }

    pub fn admin_path(&self) -> PathBuf {
        self.enforcer
            .settings
            .admin
            .clone()
            .unwrap_or_else(ServeConfig::default_admin_settings)
    }

    pub fn user_path(&self) -> PathBuf {
        self.enforcer
            .settings
            .user
            .clone()
            .unwrap_or_else(ServeConfig::default_user_settings)
    }

    /// The socket clients should use: the first one the enforcer listens on.
    pub fn client_socket(&self) -> PathBuf {
        self.enforcer
            .listen
            .first()
            .cloned()
            .unwrap_or_else(ServeConfig::default_listen)
    }
}

/// The control socket to attach to: `ECI_GUARD_ATTACH=PATH` names it (`off` embeds always);
/// otherwise the default control socket beside the listening socket, or the system service's,
/// when a daemon accepts on it.
pub fn attach_target(var: Option<&std::ffi::OsStr>, listen: &[PathBuf]) -> Option<PathBuf> {
    match var.map(|v| v.to_string_lossy()) {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v.as_ref())),
        _ => [
            eci_proxy::control::default_control_path(listen),
            PathBuf::from("/run/eci-guard/control.sock"),
        ]
        .into_iter()
        .find(|p| std::os::unix::net::UnixStream::connect(p).is_ok()),
    }
}

/// Where the enforcement the app shows runs: the one difference between the two modes, which
/// `backend.rs` turns into the same answers for the commands.
pub enum Enforcement {
    /// The app's own enforcer, started by [`AppState::start`].
    Embedded,
    /// A running `eci-guard serve`, through its control socket.
    Attached(ControlClient),
}

/// The embedded enforcer: running, or why not.
enum Slot {
    NotStarted,
    Running(Box<Enforcer>),
    Failed(String),
    Stopped,
}

/// The last serial given out, and the probes in flight by request id with their serials.
type Probes = (u64, HashMap<String, (u64, CancellationToken)>);

/// Everything the commands share. Cheap to reach: Tauri hands commands a `State<AppState>`.
pub struct AppState {
    pub config: AppConfig,
    pub history: Arc<eci_history::History>,
    pub digests: Arc<RegistryDigests>,
    pub registries: eci_registry::RegistrySettings,
    pub enforcement: Enforcement,
    enforcer: RwLock<Slot>,
    /// Probes in flight by the frontend's request id, with a serial so that a finished probe
    /// never unregisters a newer one under the same id.
    probes: Mutex<Probes>,
    /// Serialises saves, so two saves from this app never interleave their check and rename.
    pub save_lock: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<tauri::async_runtime::JoinHandle<()>>>,
    /// The last status computed, for the tray (which follows it without going through events).
    status_tx: tokio::sync::watch::Sender<Option<Arc<AppStatus>>>,
}

impl AppState {
    /// Opens the history and the digest cache under the state directory. Starts nothing: see
    /// [`AppState::start`].
    pub fn open(config: AppConfig) -> Result<AppState, StartError> {
        let registries = match &config.registries {
            Some(path) => eci_registry::RegistrySettings::load(path)?,
            None => eci_registry::RegistrySettings::default(),
        };
        let state_dir = &config.enforcer.state_dir;
        let digests = RegistryDigests::open(state_dir, registries.clone());
        let history = eci_history::History::open(state_dir, eci_history::Retention::default());
        let enforcement = match &config.attach {
            Some(path) => Enforcement::Attached(ControlClient::new(path)),
            None => Enforcement::Embedded,
        };
        Ok(AppState {
            config,
            history: Arc::new(history),
            digests: Arc::new(digests),
            registries,
            enforcement,
            enforcer: RwLock::new(Slot::NotStarted),
            probes: Mutex::new((0, HashMap::new())),
            save_lock: tokio::sync::Mutex::new(()),
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            status_tx: tokio::sync::watch::channel(None).0,
        })
    }

    /// Admin mode iff this process may write the admin file (or create it).
    pub fn mode(&self) -> Mode {
        if !self.config.force_user_mode && may_write(&self.config.admin_path()) {
            Mode::Admin
        } else {
            Mode::User
        }
    }

    /// Starts the digest refresher, the enforcer's supervisor, and the event forwarders.
    pub fn start<R: Runtime>(self: &Arc<Self>, app: AppHandle<R>) {
        let mut tasks = lock(&self.tasks);
        if let Enforcement::Attached(client) = &self.enforcement {
            tracing::info!(control = %client.path().display(), "attached to a running enforcer");
            tasks.push(tauri::async_runtime::spawn(forward_control_events(
                self.clone(),
                client.clone(),
                app.clone(),
            )));
            tasks.push(tauri::async_runtime::spawn(watch_status(self.clone(), app)));
            return;
        }
        let service = self.digests.service().clone();
        tasks.push(tauri::async_runtime::spawn(
            service.run_refresher(self.shutdown.clone()),
        ));
        tasks.push(tauri::async_runtime::spawn(forward_blocks(
            self.clone(),
            app.clone(),
        )));
        tasks.push(tauri::async_runtime::spawn(supervise(
            self.clone(),
            app.clone(),
        )));
        tasks.push(tauri::async_runtime::spawn(watch_status(self.clone(), app)));
    }

    /// Runs `task` until [`AppState::stop`]; it gets the token that is cancelled then.
    pub fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tauri::async_runtime::spawn(task(self.shutdown.clone()));
        lock(&self.tasks).push(handle);
    }

    /// Every status computed from now on (the latest one at once, once there is one).
    pub fn subscribe_status(&self) -> tokio::sync::watch::Receiver<Option<Arc<AppStatus>>> {
        self.status_tx.subscribe()
    }

    /// Stops enforcing for [`crate::tray::PAUSE_MINUTES`] (the policy in force with ECI off; see
    /// `eci_proxy::PolicyStore::pause`); enforcing resumes by itself. Refused when the admin
    /// file locks the settings or no enforcer runs. Returns when enforcing resumes (unix ms).
    pub async fn pause<R: Runtime>(&self, app: &AppHandle<R>) -> Result<u64, AppError> {
        if let Enforcement::Attached(client) = &self.enforcement {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                format!(
                    "the enforcer is the eci-guard serve behind {}; the app pauses only an \
                     enforcer of its own",
                    client.path().display()
                ),
            ));
        }
        self.refuse_if_locked().await?;
        let until = {
            let slot = self.enforcer.read().await;
            let Slot::Running(enforcer) = &*slot else {
                return Err(AppError::new(
                    ErrorCode::Enforcer,
                    "the enforcer is not running; there is nothing to pause",
                ));
            };
            enforcer
                .policy()
                .pause(Duration::from_secs(crate::tray::PAUSE_MINUTES * 60))
                .map_err(|e| {
                    let code = match e {
                        eci_proxy::PauseError::Locked => ErrorCode::Forbidden,
                        _ => ErrorCode::Invalid,
                    };
                    AppError::new(code, e.to_string())
                })?
        };
        emit_status(self, app).await;
        Ok(until
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Ends a pause now; `false` when none was in force.
    pub async fn resume<R: Runtime>(&self, app: &AppHandle<R>) -> Result<bool, AppError> {
        let was = match &*self.enforcer.read().await {
            Slot::Running(enforcer) => enforcer.policy().resume(),
            _ => false,
        };
        emit_status(self, app).await;
        Ok(was)
    }

    /// Users may not pause what the administrator locked (the enforcer refuses too, from the
    /// policy's provenance; this also covers a locked section that sets nothing else).
    async fn refuse_if_locked(&self) -> Result<(), AppError> {
        let admin_path = self.config.admin_path();
        let admin = tauri::async_runtime::spawn_blocking(move || read_view(&admin_path, false))
            .await
            .map_err(|e| AppError::new(ErrorCode::Internal, format!("a worker failed: {e}")))??;
        if admin.locks_eci() {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "locked by your administrator: enforcing cannot be paused",
            ));
        }
        Ok(())
    }

    /// Stops the enforcer (its sockets removed), the background tasks, and writes out the
    /// history. Idempotent.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let slot = std::mem::replace(&mut *self.enforcer.write().await, Slot::Stopped);
        if let Slot::Running(enforcer) = slot {
            enforcer.stop().await;
        }
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
        let history = self.history.clone();
        let _ = tauri::async_runtime::spawn_blocking(move || history.flush()).await;
    }

    /// The running enforcer's status, or why there is none.
    pub async fn enforcer_status(&self) -> (Option<eci_proxy::Status>, Option<String>) {
        match &*self.enforcer.read().await {
            Slot::Running(e) => (Some(e.status().await), None),
            Slot::Failed(why) => (None, Some(why.clone())),
            Slot::NotStarted => (None, Some("the enforcer has not started".into())),
            Slot::Stopped => (None, Some("the enforcer has stopped".into())),
        }
    }

    /// The policy in force, when the enforcer runs.
    pub async fn enforced_policy(&self) -> Option<Arc<eci_policy::settings::Policy>> {
        match &*self.enforcer.read().await {
            Slot::Running(e) => Some(e.policy().snapshot()),
            _ => None,
        }
    }

    /// Registers a probe under the frontend's request id; a later probe with the same id
    /// cancels the earlier one. Pass the returned serial to [`AppState::end_probe`].
    pub fn begin_probe(&self, id: &str) -> (u64, CancellationToken) {
        let token = self.shutdown.child_token();
        let mut probes = lock(&self.probes);
        probes.0 += 1;
        let serial = probes.0;
        if let Some((_, old)) = probes.1.insert(id.to_owned(), (serial, token.clone())) {
            old.cancel();
        }
        (serial, token)
    }

    pub fn end_probe(&self, id: &str, serial: u64) {
        let mut probes = lock(&self.probes);
        if probes.1.get(id).is_some_and(|(s, _)| *s == serial) {
            probes.1.remove(id);
        }
    }

    /// Cancels the probe with this id; `false` if none runs.
    pub fn cancel_probe(&self, id: &str) -> bool {
        match lock(&self.probes).1.remove(id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the Status view shows (SPEC §8).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AppStatus {
    pub enforcer: Option<eci_proxy::Status>,
    pub enforcer_error: Option<String>,
    pub history: eci_history::Status,
    pub digests: Vec<eci_proxy::EntryFreshness>,
    /// `unix:///…`, the value for `DOCKER_HOST`.
    pub docker_host: String,
    /// The control socket of the `eci-guard serve` the app is attached to; `None` when the
    /// enforcer is the app's own.
    pub attached_to: Option<PathBuf>,
}

impl AppState {
    pub async fn status(&self) -> AppStatus {
        if let Enforcement::Attached(client) = &self.enforcement {
            return match client.status().await {
                Ok(daemon) => AppStatus {
                    digests: daemon.enforcer.digests.clone(),
                    docker_host: format!(
                        "unix://{}",
                        daemon
                            .enforcer
                            .listening
                            .first()
                            .map_or_else(|| self.config.client_socket(), Clone::clone)
                            .display()
                    ),
                    enforcer: Some(daemon.enforcer),
                    enforcer_error: None,
                    history: daemon.history,
                    attached_to: Some(client.path().to_owned()),
                },
                Err(e) => AppStatus {
                    enforcer: None,
                    enforcer_error: Some(e.to_string()),
                    history: self.history.status(),
                    digests: Vec::new(),
                    docker_host: format!("unix://{}", self.config.client_socket().display()),
                    attached_to: Some(client.path().to_owned()),
                },
            };
        }
        let (enforcer, enforcer_error) = self.enforcer_status().await;
        AppStatus {
            enforcer,
            enforcer_error,
            history: self.history.status(),
            digests: self.digests.freshness(),
            docker_host: format!("unix://{}", self.config.client_socket().display()),
            attached_to: None,
        }
    }
}

/// Keeps the enforcer running: starts it, and while it cannot start (no engine socket, a socket
/// path in use) records why and tries again. Forwards its reloads as `policy://changed`.
async fn supervise<R: Runtime>(state: Arc<AppState>, app: AppHandle<R>) {
    let mut last_error = String::new();
    loop {
        let sink: Arc<dyn eci_proxy::BlockSink> = Arc::new(state.history.recorder());
        let started = Enforcer::start(
            state.config.enforcer.clone(),
            state.digests.clone(),
            Some(sink),
        )
        .await;
        match started {
            Ok(enforcer) => {
                let reloads = enforcer.subscribe_reloads();
                {
                    let mut slot = state.enforcer.write().await;
                    if matches!(*slot, Slot::Stopped) {
                        drop(slot);
                        enforcer.stop().await;
                        return;
                    }
                    *slot = Slot::Running(Box::new(enforcer));
                }
                emit_status(&state, &app).await;
                forward_reloads(&state, &app, reloads).await;
                return;
            }
            Err(e) => {
                let why = e.to_string();
                // Said once per distinct reason, not at every retry.
                if why != last_error {
                    tracing::warn!(error = %why, "the embedded enforcer did not start; retrying");
                }
                {
                    let mut slot = state.enforcer.write().await;
                    if matches!(*slot, Slot::Stopped) {
                        return;
                    }
                    *slot = Slot::Failed(why.clone());
                }
                last_error = why;
                emit_status(&state, &app).await;
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_PERIOD) => {}
                    _ = state.shutdown.cancelled() => return,
                }
            }
        }
    }
}

async fn forward_reloads<R: Runtime>(
    state: &AppState,
    app: &AppHandle<R>,
    mut reloads: tokio::sync::broadcast::Receiver<eci_proxy::ReloadEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            event = reloads.recv() => match event {
                Ok(event) => {
                    let _ = app.emit(POLICY_CHANGED, &event);
                    emit_status(state, app).await;
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = state.shutdown.cancelled() => return,
        }
    }
}

/// Attached: the daemon's blocks as `history://blocked` and its reloads as `policy://changed`,
/// reconnecting while the daemon is away (a restart of the service).
async fn forward_control_events<R: Runtime>(
    state: Arc<AppState>,
    client: ControlClient,
    app: AppHandle<R>,
) {
    loop {
        match client.events().await {
            Ok(mut events) => {
                emit_status(&state, &app).await;
                loop {
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(ControlEvent::Blocked(block)) => {
                                let _ = app.emit(HISTORY_BLOCKED, &block);
                            }
                            Some(ControlEvent::Reload(reload)) => {
                                let _ = app.emit(POLICY_CHANGED, &reload);
                                emit_status(&state, &app).await;
                            }
                            None => break,
                        },
                        _ = state.shutdown.cancelled() => return,
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "the enforcer's control socket does not answer"),
        }
        emit_status(&state, &app).await;
        tokio::select! {
            _ = tokio::time::sleep(RETRY_PERIOD) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}

/// Every block the history commits, with its id, as `history://blocked`.
async fn forward_blocks<R: Runtime>(state: Arc<AppState>, app: AppHandle<R>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut blocks = state.history.subscribe();
    loop {
        tokio::select! {
            block = blocks.recv() => match block {
                Ok(block) => { let _ = app.emit(HISTORY_BLOCKED, &block); }
                // The UI re-queries on its own when it missed rows; nothing to replay here.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = state.shutdown.cancelled() => return,
        }
    }
}

/// Looks at the status every few seconds and emits `status://changed` when it differs from the
/// last one sent (engine gone or back, digests refreshed, history failing).
async fn watch_status<R: Runtime>(state: Arc<AppState>, app: AppHandle<R>) {
    let mut last = String::new();
    loop {
        let status = state.status().await;
        let text = serde_json::to_string(&status).unwrap_or_default();
        if text != last {
            let _ = app.emit(STATUS_CHANGED, &status);
            state.status_tx.send_replace(Some(Arc::new(status)));
            last = text;
        }
        tokio::select! {
            _ = tokio::time::sleep(STATUS_PERIOD) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}

async fn emit_status<R: Runtime>(state: &AppState, app: &AppHandle<R>) {
    let status = state.status().await;
    let _ = app.emit(STATUS_CHANGED, &status);
    state.status_tx.send_replace(Some(Arc::new(status)));
}
