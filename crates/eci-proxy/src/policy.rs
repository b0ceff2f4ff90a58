//! The policy in force, published through an `ArcSwap` (one snapshot per request, no borrow held
//! across an await), and its hot reload: a debounced watch of the settings files' directories.
//!
//! Reload outcomes (SPEC §7): valid settings swap atomically; invalid settings keep the last good
//! policy and publish the diagnostics; no settings file at all is `settings::load(None, None)`,
//! the documented fail-closed default (ECI on, no image may mount the socket). At start, invalid
//! settings leave that same fail-closed default in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use eci_policy::settings::{self, FileDiagnostics, Policy};
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

/// Editors write a file in several steps (truncate, write, rename); wait this long after the last
/// event before reading, which keeps a change enforced well within SPEC §7's 100 ms.
const DEBOUNCE: Duration = Duration::from_millis(25);

/// Where the settings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsPaths {
    pub admin: Option<PathBuf>,
    pub user: Option<PathBuf>,
}

/// The result of one (re)load.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The settings became the policy in force.
    Applied {
        version: String,
        warnings: Vec<FileDiagnostics>,
        user_ignored: bool,
    },
    /// The settings have errors; `kept_version` stays in force.
    Rejected {
        kept_version: String,
        errors: Vec<FileDiagnostics>,
    },
    /// A settings file exists but cannot be read; `kept_version` stays in force.
    Unreadable { kept_version: String, error: String },
}

/// One reload, as published to subscribers and kept as the last result in the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadEvent {
    /// Serialised as unix milliseconds.
    #[serde(serialize_with = "crate::blocks::unix_ms")]
    pub at: SystemTime,
    pub outcome: ReloadOutcome,
}

/// Called with every policy put in force.
pub type SwapHook = Box<dyn Fn(&Policy) + Send + Sync>;

/// The policy in force and who wants to hear about reloads.
pub struct PolicyStore {
    current: ArcSwap<Policy>,
    last: std::sync::Mutex<Option<ReloadEvent>>,
    events: broadcast::Sender<ReloadEvent>,
    on_swap: Option<SwapHook>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("version", &self.current.load().version)
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// A store holding `policy`, with no reload yet.
    pub fn new(policy: Policy) -> PolicyStore {
        PolicyStore {
            current: ArcSwap::from_pointee(policy),
            last: std::sync::Mutex::new(None),
            events: broadcast::channel(64).0,
            on_swap: None,
        }
    }

    /// Calls `hook` with the policy in force now and with every policy put in force later (the
    /// digest source learns the image list this way).
    pub fn with_swap_hook(mut self, hook: SwapHook) -> PolicyStore {
        hook(&self.current.load());
        self.on_swap = Some(hook);
        self
    }

    /// A store holding the fail-closed default.
    pub fn fail_closed() -> PolicyStore {
        let policy = settings::load(None, None)
            .map(|l| l.policy)
            .expect("no settings at all always load");
        PolicyStore::new(policy)
    }

    /// The snapshot a request is judged by.
    pub fn snapshot(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// Puts `policy` in force at once (tests, and an app that has the policy in hand).
    pub fn set(&self, policy: Policy) {
        if let Some(hook) = &self.on_swap {
            hook(&policy);
        }
        self.current.store(Arc::new(policy));
    }

    pub fn last_reload(&self) -> Option<ReloadEvent> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ReloadEvent> {
        self.events.subscribe()
    }

    /// Reads the settings files and applies them if they are valid.
    pub fn reload(&self, paths: &SettingsPaths) -> ReloadEvent {
        let kept = || self.current.load().version.clone();
        let outcome = match (read(paths.admin.as_deref()), read(paths.user.as_deref())) {
            (Err(e), _) | (_, Err(e)) => ReloadOutcome::Unreadable {
                kept_version: kept(),
                error: e,
            },
            (Ok(admin), Ok(user)) => match settings::load(admin.as_deref(), user.as_deref()) {
                Ok(loaded) => {
                    let version = loaded.policy.version.clone();
                    self.set(loaded.policy);
                    ReloadOutcome::Applied {
                        version,
                        warnings: loaded.warnings,
                        user_ignored: loaded.user_ignored,
                    }
                }
                Err(e) => ReloadOutcome::Rejected {
                    kept_version: kept(),
                    errors: e.files,
                },
            },
        };
        match &outcome {
            ReloadOutcome::Applied { version, .. } => tracing::info!(%version, "policy applied"),
            ReloadOutcome::Rejected {
                kept_version,
                errors,
            } => {
                tracing::warn!(%kept_version, ?errors, "settings rejected; last good policy kept")
            }
            ReloadOutcome::Unreadable {
                kept_version,
                error,
            } => {
                tracing::warn!(%kept_version, %error, "settings unreadable; last good policy kept")
            }
        }
        let event = ReloadEvent {
            at: SystemTime::now(),
            outcome,
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(event.clone());
        }
        let _ = self.events.send(event.clone());
        event
    }
}

/// A missing file is `None` (SPEC §1: no admin file, the user's settings alone apply).
fn read(path: Option<&Path>) -> Result<Option<String>, String> {
    let Some(path) = path else { return Ok(None) };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Watches the directories of the settings files and reloads on every change to one of them.
/// Directories that do not exist yet are watched from their nearest existing ancestor, so a
/// settings file created later (with its directory) is still picked up. Dropping the returned
/// handle stops the watch.
pub fn watch(store: Arc<PolicyStore>, paths: SettingsPaths) -> Result<WatchHandle, notify::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let files: Vec<PathBuf> = [paths.admin.clone(), paths.user.clone()]
        .into_iter()
        .flatten()
        .collect();
    let relevant = files.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let hit = event.paths.iter().any(|p| {
                relevant
                    .iter()
                    // The file itself (written, or renamed into place by an editor) or a
                    // directory above it (removed, recreated); not its neighbours, which would
                    // make every write in a shared directory a reload.
                    .any(|f| p == f || f.starts_with(p))
            });
            if hit {
                let _ = tx.send(());
            }
        }
    })?;
    let mut watched = Vec::new();
    ensure_watches(&mut watcher, &files, &mut watched)?;
    let watcher = Arc::new(std::sync::Mutex::new(watcher));
    let rewatch = watcher.clone();
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Coalesce the burst of events an editor's save makes into one reload.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            // A settings directory removed and made again is a new inode: its old watch died with
            // it. Watch again before reading, so a write after this reload is seen too.
            if let Ok(mut w) = rewatch.lock() {
                if let Err(e) = ensure_watches(&mut w, &files, &mut watched) {
                    tracing::warn!(error = %e, "cannot watch the settings directories again");
                }
            }
            let store = store.clone();
            let paths = paths.clone();
            let _ = tokio::task::spawn_blocking(move || store.reload(&paths)).await;
        }
    });
    Ok(WatchHandle {
        _watcher: watcher,
        task,
    })
}

/// Watches, for each settings file, its nearest existing directory and the one above it (so the
/// directory's own removal and re-creation are seen). `watched` holds each watched directory
/// with its inode: a directory whose inode changed was replaced and is watched anew.
fn ensure_watches(
    watcher: &mut notify::RecommendedWatcher,
    files: &[PathBuf],
    watched: &mut Vec<(PathBuf, u64)>,
) -> Result<(), notify::Error> {
    use std::os::unix::fs::MetadataExt;
    let inode = |d: &Path| {
        std::fs::metadata(d)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| m.ino())
    };
    watched.retain(|(d, ino)| inode(d) == Some(*ino));
    for file in files {
        let nearest = file.ancestors().skip(1).find(|d| d.is_dir());
        for dir in nearest.into_iter().chain(nearest.and_then(Path::parent)) {
            let Some(ino) = inode(dir) else { continue };
            if watched.iter().all(|(d, _)| d != dir) {
                watcher.watch(dir, RecursiveMode::NonRecursive)?;
                watched.push((dir.to_path_buf(), ino));
            }
        }
    }
    Ok(())
}

/// Keeps a settings watch alive.
pub struct WatchHandle {
    _watcher: Arc<std::sync::Mutex<notify::RecommendedWatcher>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle").finish_non_exhaustive()
    }
}
