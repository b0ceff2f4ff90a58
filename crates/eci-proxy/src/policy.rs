//! The policy in force, published through an `ArcSwap` (one snapshot per request, no borrow held
//! across an await), and its hot reload: a debounced watch of the settings files' directories.
//!
//! Only events that can change a file's content trigger a reload, and bytes identical to those
//! last read are not applied again: the reload's own read of the file raises access events, and
//! taking those for changes made every reload schedule the next (issue 13).
//!
//! An event that says a settings file was written whole (renamed into place, or closed after a
//! write) is reloaded at once on the watcher's thread; the debounced reload follows every event
//! anyway. Waiting for the debounce timer, a runtime worker and a blocking thread first made
//! every reload take about 25 ms; at once it takes well under 1 ms (issue 16, docs/perf).
//!
//! Reload outcomes (SPEC §7): valid settings swap atomically; invalid settings keep the last good
//! policy and publish the diagnostics; no settings file at all is `settings::load(None, None)`,
//! the documented fail-closed default (ECI on, no image may mount the socket). At start, invalid
//! settings leave that same fail-closed default in force.
//!
//! A pause (the app's "Pause for 10 minutes") puts the policy in force with ECI off in front of it
//! until a deadline; requests are judged by that policy, so the decision stays eci-policy's.
//! Enforcing resumes by itself at the deadline (each snapshot looks at the clock), and a locked
//! policy can neither be paused nor stay paused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use eci_policy::settings::{self, FileDiagnostics, Policy, Source};
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// Editors write a file in several steps (truncate, write, rename); wait this long after the last
/// event before reading, which keeps a change enforced well within SPEC §7's 100 ms.
const DEBOUNCE: Duration = Duration::from_millis(25);

/// Where the settings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SettingsPaths {
    pub admin: Option<PathBuf>,
    pub user: Option<PathBuf>,
}

/// The result of one (re)load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReloadEvent {
    /// Serialised as unix milliseconds.
    #[serde(
        serialize_with = "crate::blocks::unix_ms",
        deserialize_with = "crate::blocks::from_unix_ms"
    )]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at: SystemTime,
    pub outcome: ReloadOutcome,
}

/// Called with every policy put in force.
pub type SwapHook = Box<dyn Fn(&Policy) + Send + Sync>;

/// The texts of the admin and user settings files as one reload read them (`None`: no file).
type SettingsTexts = (Option<String>, Option<String>);

/// Why a pause was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PauseError {
    #[error("the ECI settings are locked by the administrator and cannot be paused")]
    Locked,
    #[error("ECI is already off; there is nothing to pause")]
    AlreadyOff,
}

/// A pause in force: until `until`, requests are judged by `policy` (the policy in force with
/// ECI off).
struct Pause {
    until: Instant,
    until_wall: SystemTime,
    policy: Arc<Policy>,
}

/// Whether users may not change the policy: some field of it comes from a locked admin section.
pub fn is_locked(p: &eci_policy::settings::Provenance) -> bool {
    [p.value, p.images, p.allow_derived_images, p.command_list]
        .contains(&Source::Admin { locked: true })
}

/// `policy` with ECI off and everything else as it is: what a pause enforces.
fn paused(policy: &Policy) -> Policy {
    Policy::new(
        false,
        policy.images.clone(),
        policy.allow_derived_images,
        policy.command_list.clone(),
        policy.provenance,
    )
    .with_host_access(policy.host_access_images.clone())
    .with_audit(policy.audit)
}

/// The policy in force and who wants to hear about reloads.
pub struct PolicyStore {
    current: ArcSwap<Policy>,
    /// A pause in front of `current`; replaced under `pausing` only.
    paused: ArcSwapOption<Pause>,
    pausing: std::sync::Mutex<()>,
    /// What the last reload read, when both files could be read and nothing was put in force
    /// since by [`PolicyStore::set`]: a watch event that leaves these texts as they are changes
    /// nothing and is not reloaded.
    last_read: std::sync::Mutex<Option<SettingsTexts>>,
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
            paused: ArcSwapOption::empty(),
            pausing: std::sync::Mutex::new(()),
            last_read: std::sync::Mutex::new(None),
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

    /// The snapshot a request is judged by: the paused policy during a pause.
    pub fn snapshot(&self) -> Arc<Policy> {
        if let Some(pause) = &*self.paused.load() {
            if Instant::now() < pause.until {
                return pause.policy.clone();
            }
        }
        self.current.load_full()
    }

    /// Stops enforcing for `duration`: until then requests are judged by the policy in force with
    /// ECI off; then enforcing resumes by itself. A new pause replaces one in force. Refused for a
    /// locked policy (users may not turn ECI off) and when ECI is already off.
    pub fn pause(&self, duration: Duration) -> Result<SystemTime, PauseError> {
        let _one = self.pausing.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current.load();
        if is_locked(&current.provenance) {
            return Err(PauseError::Locked);
        }
        if !current.eci_enabled {
            return Err(PauseError::AlreadyOff);
        }
        let until_wall = SystemTime::now() + duration;
        self.paused.store(Some(Arc::new(Pause {
            until: Instant::now() + duration,
            until_wall,
            policy: Arc::new(paused(&current)),
        })));
        tracing::info!(seconds = duration.as_secs(), "enforcing paused");
        Ok(until_wall)
    }

    /// Ends a pause now; `false` when none was in force.
    pub fn resume(&self) -> bool {
        let _one = self.pausing.lock().unwrap_or_else(|e| e.into_inner());
        let was = self.paused_until().is_some();
        self.paused.store(None);
        if was {
            tracing::info!("enforcing resumed");
        }
        was
    }

    /// When the pause in force ends; `None` when enforcing.
    pub fn paused_until(&self) -> Option<SystemTime> {
        self.paused
            .load()
            .as_ref()
            .filter(|p| Instant::now() < p.until)
            .map(|p| p.until_wall)
    }

    /// Puts `policy` in force at once (tests, and an app that has the policy in hand).
    pub fn set(&self, policy: Policy) {
        self.remember_read(None);
        self.put(policy);
    }

    fn put(&self, policy: Policy) {
        if let Some(hook) = &self.on_swap {
            hook(&policy);
        }
        // A pause follows the new settings (still with ECI off), unless they lock ECI or turn it
        // off themselves: then the pause ends.
        let _one = self.pausing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pause) = &*self.paused.load() {
            let next = (!is_locked(&policy.provenance) && policy.eci_enabled).then(|| {
                Arc::new(Pause {
                    until: pause.until,
                    until_wall: pause.until_wall,
                    policy: Arc::new(paused(&policy)),
                })
            });
            self.paused.store(next);
        }
        self.current.store(Arc::new(policy));
    }

    pub fn last_reload(&self) -> Option<ReloadEvent> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ReloadEvent> {
        self.events.subscribe()
    }

    fn remember_read(&self, texts: Option<SettingsTexts>) {
        if let Ok(mut last) = self.last_read.lock() {
            *last = texts;
        }
    }

    /// Reads the settings files and applies them if they are valid (an explicit reload: SIGHUP,
    /// the app, the start).
    pub fn reload(&self, paths: &SettingsPaths) -> ReloadEvent {
        self.reload_texts(read_both(paths))
    }

    /// Like [`PolicyStore::reload`], but `None` without applying or publishing anything when the
    /// files hold the texts the last reload read: the watch's reload, which must not turn an
    /// event that changed no byte into a reload.
    pub fn reload_if_changed(&self, paths: &SettingsPaths) -> Option<ReloadEvent> {
        let texts = read_both(paths);
        let same = match (&texts, self.last_read.lock()) {
            (Ok(now), Ok(last)) => last.as_ref() == Some(now),
            _ => false,
        };
        if same {
            tracing::debug!("settings files unchanged; nothing to reload");
            return None;
        }
        Some(self.reload_texts(texts))
    }

    fn reload_texts(&self, texts: Result<SettingsTexts, String>) -> ReloadEvent {
        let kept = || self.current.load().version.clone();
        let outcome = match texts {
            Err(e) => {
                self.remember_read(None);
                ReloadOutcome::Unreadable {
                    kept_version: kept(),
                    error: e,
                }
            }
            Ok((admin, user)) => match settings::load(admin.as_deref(), user.as_deref()) {
                Ok(loaded) => {
                    let version = loaded.policy.version.clone();
                    self.put(loaded.policy);
                    self.remember_read(Some((admin, user)));
                    ReloadOutcome::Applied {
                        version,
                        warnings: loaded.warnings,
                        user_ignored: loaded.user_ignored,
                    }
                }
                Err(e) => {
                    // Rejected again by the same bytes would say the same: remember them too.
                    self.remember_read(Some((admin, user)));
                    ReloadOutcome::Rejected {
                        kept_version: kept(),
                        errors: e.files,
                    }
                }
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

/// Both settings files, or why one cannot be read.
fn read_both(paths: &SettingsPaths) -> Result<SettingsTexts, String> {
    Ok((read(paths.admin.as_deref())?, read(paths.user.as_deref())?))
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
    // One reload at a time, the watcher's and the debounced one: the later read is applied later.
    let one = Arc::new(Mutex::new(()));
    let reload = {
        let (store, paths, one) = (store.clone(), paths.clone(), one.clone());
        move || {
            let _one = one.lock().unwrap_or_else(|e| e.into_inner());
            store.reload_if_changed(&paths)
        }
    };
    let debounced = reload.clone();
    // A swap hook may need the runtime (a digest source's fetches); the watcher's thread is none
    // of its workers.
    let runtime = tokio::runtime::Handle::current();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if !can_change_content(&event) {
                return;
            }
            let hit = event.paths.iter().any(|p| {
                relevant
                    .iter()
                    // The file itself (written, or renamed into place by an editor) or a
                    // directory above it (removed, recreated); not its neighbours, which would
                    // make every write in a shared directory a reload.
                    .any(|f| p == f || f.starts_with(p))
            });
            if hit && written_whole(&event, &relevant) {
                let _in = runtime.enter();
                reload();
            }
            // Lost events may have been about the settings: read them again.
            if hit || event.need_rescan() {
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
            let _ = tokio::task::spawn_blocking(debounced.clone()).await;
        }
    });
    Ok(WatchHandle {
        _watcher: watcher,
        task,
    })
}

/// Whether `event` can stand for a change of a settings file's content: a create, a write (or
/// the close after one), a rename, a removal, an attribute change (permissions decide whether
/// the file can be read), or a lost-events rescan. Opens, reads and read-only closes — the
/// reload's own read among them — cannot.
fn can_change_content(event: &notify::Event) -> bool {
    event.need_rescan()
        || match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Any
            | EventKind::Other => true,
        }
}

/// Whether `event` says one of `files` now holds its whole new content: renamed into place (an
/// atomic save) or closed after a write. A create, a truncate or a single write may be the first
/// step of a save still under way, and a removal the first half of a replace: those wait for the
/// debounce.
fn written_whole(event: &notify::Event, files: &[PathBuf]) -> bool {
    let whole = matches!(
        event.kind,
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    // For a rename both ways, the destination is the last path.
    whole && event.paths.last().is_some_and(|p| files.contains(p))
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind, RenameMode};

    #[test]
    fn only_events_that_can_change_content_count() {
        let kinds = [
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (EventKind::Access(AccessKind::Read), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                true,
            ),
            (EventKind::Remove(RemoveKind::File), true),
        ];
        for (kind, want) in kinds {
            assert_eq!(
                can_change_content(&notify::Event::new(kind)),
                want,
                "{kind:?}"
            );
        }
        let lost = notify::Event::new(EventKind::Access(AccessKind::Read))
            .set_flag(notify::event::Flag::Rescan);
        assert!(can_change_content(&lost));
    }

    #[test]
    fn only_a_file_written_whole_is_reloaded_without_the_debounce() {
        let file = PathBuf::from("/etc/eci/admin-settings.json");
        let files = [file.clone()];
        let on = |kind: EventKind, paths: &[&str]| {
            let mut e = notify::Event::new(kind);
            for p in paths {
                e = e.add_path(PathBuf::from(p));
            }
            written_whole(&e, &files)
        };
        let f = "/etc/eci/admin-settings.json";
        let tmp = "/etc/eci/admin-settings.json.tmp";
        let renamed_to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        let renamed_both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(on(renamed_to, &[f]));
        assert!(on(renamed_both, &[tmp, f]));
        assert!(on(closed, &[f]));
        // Renamed away from the settings path, or a neighbour written: not the settings.
        assert!(!on(renamed_both, &[f, tmp]));
        assert!(!on(
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            &[f]
        ));
        assert!(!on(closed, &[tmp]));
        // Steps of a save under way, or half of a replace.
        assert!(!on(EventKind::Create(CreateKind::File), &[f]));
        assert!(!on(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &[f]
        ));
        assert!(!on(EventKind::Remove(RemoveKind::File), &[f]));
        assert!(!on(
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            &["/etc/eci"]
        ));
    }

    #[test]
    fn identical_bytes_are_not_applied_again() {
        let dir = tempfile::tempdir().unwrap();
        let admin = dir.path().join("admin-settings.json");
        let paths = SettingsPaths {
            admin: Some(admin.clone()),
            user: None,
        };
        let text = |images: &str| {
            format!(
                r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {{"locked": true, "value": true,
                "iechorSocketMount": {{"imageList": {{"images": [{images}]}}}}}}}}"#
            )
        };
        let store = PolicyStore::fail_closed();
        let mut reloads = store.subscribe();
        std::fs::write(&admin, text(r#""busybox""#)).unwrap();
        let first = store.reload_if_changed(&paths).expect("new bytes reload");
        assert!(
            matches!(first.outcome, ReloadOutcome::Applied { .. }),
            "{first:?}"
        );
        assert!(reloads.try_recv().is_ok());
        // The same bytes again (a touch, a read, a rewrite of the same text): nothing happens.
        std::fs::write(&admin, text(r#""busybox""#)).unwrap();
        assert_eq!(store.reload_if_changed(&paths), None);
        assert!(reloads.try_recv().is_err(), "nothing published");
        // A rejected text is not rejected again for the same bytes either.
        std::fs::write(&admin, "{ broken").unwrap();
        assert!(matches!(
            store.reload_if_changed(&paths).map(|e| e.outcome),
            Some(ReloadOutcome::Rejected { .. })
        ));
        assert_eq!(store.reload_if_changed(&paths), None);
        // A policy put in force by hand makes the file count again; an explicit reload always
        // applies.
        std::fs::write(&admin, text(r#""alpine""#)).unwrap();
        assert!(store.reload_if_changed(&paths).is_some());
        store.set(PolicyStore::fail_closed().snapshot().as_ref().clone());
        assert!(store.reload_if_changed(&paths).is_some());
        assert!(matches!(
            store.reload(&paths).outcome,
            ReloadOutcome::Applied { .. }
        ));
        // Deleted: the fail-closed default, once.
        std::fs::remove_file(&admin).unwrap();
        assert!(store.reload_if_changed(&paths).is_some());
        assert_eq!(store.reload_if_changed(&paths), None);
    }

    fn loaded(locked: bool, images: &str) -> Policy {
        let text = format!(
            r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {{"locked": {locked}, "value": true,
            "iechorSocketMount": {{"imageList": {{"images": [{images}]}}}}}}}}"#
        );
        settings::load(Some(&text), None).unwrap().policy
    }

    #[test]
    fn a_pause_turns_eci_off_until_its_deadline_then_enforcing_resumes_by_itself() {
        let store = PolicyStore::new(loaded(false, r#""busybox""#));
        let enforced = store.snapshot();
        assert!(enforced.eci_enabled);
        assert_eq!(store.paused_until(), None);
        let until = store.pause(Duration::from_millis(300)).unwrap();
        assert!(until > SystemTime::now());
        let during = store.snapshot();
        assert!(!during.eci_enabled, "paused, yet ECI on");
        assert_eq!(
            during.images, enforced.images,
            "a pause changes nothing else"
        );
        assert_ne!(during.version, enforced.version);
        assert_eq!(store.paused_until(), Some(until));
        // New settings during the pause: still paused, with the new settings behind it.
        store.set(loaded(false, r#""alpine""#));
        let after_change = store.snapshot();
        assert!(!after_change.eci_enabled);
        assert_eq!(
            after_change.images[0].to_string(),
            "iechor.io/library/alpine:latest"
        );
        std::thread::sleep(Duration::from_millis(350));
        assert!(store.snapshot().eci_enabled, "enforcing did not resume");
        assert_eq!(store.paused_until(), None);
        // Ended early by hand.
        store.pause(Duration::from_secs(600)).unwrap();
        assert!(store.resume());
        assert!(store.snapshot().eci_enabled);
        assert!(!store.resume());
    }

    #[test]
    fn a_locked_policy_cannot_be_paused_and_locking_ends_a_pause() {
        let store = PolicyStore::new(loaded(true, r#""busybox""#));
        assert_eq!(
            store.pause(Duration::from_secs(600)),
            Err(PauseError::Locked)
        );
        assert!(store.snapshot().eci_enabled);
        store.set(loaded(false, r#""busybox""#));
        store.pause(Duration::from_secs(600)).unwrap();
        assert!(!store.snapshot().eci_enabled);
        store.set(loaded(true, r#""busybox""#));
        assert!(
            store.snapshot().eci_enabled,
            "the admin locked ECI on, yet still paused"
        );
        assert_eq!(store.paused_until(), None);
    }
}
