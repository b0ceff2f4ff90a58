//! Filtered sockets: one unix listener per container allowed to mount the engine socket, made
//! before the create is forwarded (a few are kept ready ahead of the next creates), bound to the
//! container id once the engine answers, removed when the container is destroyed, and restored
//! for existing containers after a restart (and mounted back into those that kept running, see
//! [`crate::reattach`]).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use crate::error::ProxyError;
use crate::facts;
use crate::inspect::ContainerSummary;
use crate::reattach::{self, FileId, ReattachError, Target};
use crate::socket::{bind_socket, Origin};
use crate::upstream::Upstream;

struct Slot {
    container: Arc<OnceLock<String>>,
    /// The table's generation when the engine's answer gave the socket its container; `None`
    /// while the create is pending (and for the spares).
    bound_in: Option<u64>,
    task: JoinHandle<()>,
}

/// What one enforcer knows of its filtered sockets, under one lock: a sync reading the directory
/// or the engine's list must see each socket's file, slot and spare state change together.
#[derive(Default)]
struct Table {
    served: HashMap<PathBuf, Slot>,
    /// Files being bound at these paths, not served yet: no stray, whatever a sync reads of the
    /// directory meanwhile.
    binding: HashSet<PathBuf>,
    /// The spares: sockets in `served`, bound ahead of the next creates, since binding one (an
    /// inode on the state directory's filesystem, a listener) was most of an allowed create's
    /// added latency (docs/perf, finding 13). Each is a filtered socket like any other (the
    /// command list applies, it is in the owner-only directory); it only has no container yet,
    /// like a create's socket before the engine answers.
    spares: Vec<PathBuf>,
    /// A refill was asked for and has not ended: no other is asked for meanwhile.
    refilling: bool,
    /// Counts the syncs begun: a socket bound in generation `g` was bound before the engine
    /// listed its containers for each sync begun after it, so only such a list may decide that
    /// its container is gone.
    generation: u64,
    /// [`FilteredSockets::stop_all`] ran: no socket is served any more, no spare made.
    stopped: bool,
}

impl Table {
    /// The slot of a socket just served at `path`; stopped, it is not served.
    fn insert(&mut self, path: &Path, slot: Slot) {
        self.binding.remove(path);
        if self.stopped {
            slot.task.abort();
            return;
        }
        if let Some(old) = self.served.insert(path.to_path_buf(), slot) {
            old.task.abort();
        }
    }

    fn is_spare(&self, path: &Path) -> bool {
        self.spares.iter().any(|p| p == path)
    }
}

/// Spares kept ready. A refill is asked for once fewer than [`REFILL_BELOW`] are left and makes
/// them all: the spare thread's wake-up, the binds and the listeners' hand-off to the runtime then
/// come once per few creates instead of beside every one, where they took the cores the create's
/// own exchange with the engine needed (docs/perf, finding 18).
pub const SPARES: usize = 8;
/// See [`SPARES`].
const REFILL_BELOW: usize = SPARES / 2;

/// The filtered sockets of one enforcer, in one directory.
#[derive(Clone)]
pub struct FilteredSockets {
    dir: PathBuf,
    table: Arc<Mutex<Table>>,
    maker: Arc<Mutex<Option<std::sync::mpsc::Sender<Refill>>>>,
}

/// A spare to make, and who serves it.
type Refill = (FilteredSockets, Box<dyn Listen>);

impl std::fmt::Debug for FilteredSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredSockets")
            .field("dir", &self.dir)
            .field("count", &self.count())
            .finish()
    }
}

/// A filtered socket made for a create that the engine has not answered yet. Dropped without
/// [`Pending::bind`], it removes its socket (the create failed or was refused).
pub struct Pending {
    sockets: FilteredSockets,
    path: PathBuf,
    container: Arc<OnceLock<String>>,
    bound: bool,
}

impl Pending {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The engine created the container: the socket is now that container's.
    pub fn bind(mut self, container_id: &str) {
        let _ = self.container.set(container_id.to_owned());
        if let Ok(mut table) = self.sockets.table.lock() {
            let generation = table.generation;
            if let Some(slot) = table.served.get_mut(&self.path) {
                slot.bound_in = Some(generation);
            }
        }
        self.bound = true;
        tracing::info!(socket = %self.path.display(), container = %container_id, "filtered socket bound");
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.bound {
            self.sockets.remove_path(&self.path);
        }
    }
}

/// Serves a filtered socket's listener: given by the enforcer that owns the sockets, so that they
/// are served like its main ones without this module knowing the server.
pub trait Listen: Send + Sync {
    fn listen(&self, listener: UnixListener, origin: Origin) -> JoinHandle<()>;
}

/// Why the filtered sockets could not be brought in line with the engine.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The engine did not list its containers.
    #[error(transparent)]
    Containers(ProxyError),
}

/// Why a running container keeps its dead filtered socket.
#[derive(Debug, thiserror::Error)]
enum PutBackError {
    #[error("no old socket was left at {} to recognise the one the container has", path.display())]
    NoOldSocket { path: PathBuf },
    #[error(transparent)]
    Inspect(#[from] ProxyError),
    #[error(transparent)]
    Reattach(#[from] ReattachError),
}

/// A filtered socket a running container has mounted: the mount was made from the socket that
/// was at the path then.
struct RunningMount {
    socket: PathBuf,
    container: String,
    destination: PathBuf,
}

/// What the engine's containers have of the directory.
struct EngineMounts {
    /// Each socket path a container mounts, and that container.
    wanted: HashMap<PathBuf, String>,
    running: Vec<RunningMount>,
}

impl EngineMounts {
    fn of(dir: &Path, list: &[ContainerSummary]) -> EngineMounts {
        let mut engine = EngineMounts {
            wanted: HashMap::new(),
            running: Vec::new(),
        };
        for c in list {
            let id = c.id.as_str();
            let is_running = c.state.as_deref() == Some("running");
            for m in &c.mounts {
                let Some(src) = &m.source else {
                    continue;
                };
                let src = Path::new(src);
                if src.parent() == Some(dir) {
                    engine.wanted.insert(src.to_path_buf(), id.to_owned());
                    if let (true, Some(dest)) = (is_running, &m.destination) {
                        engine.running.push(RunningMount {
                            socket: src.to_path_buf(),
                            container: id.to_owned(),
                            destination: PathBuf::from(dest),
                        });
                    }
                }
            }
        }
        engine
    }
}

/// Per restored socket path, the old socket moved aside and its identity (`None`: nothing was
/// there to move).
type Restored = HashMap<PathBuf, Option<(PathBuf, FileId)>>;

impl FilteredSockets {
    pub fn new(dir: PathBuf) -> FilteredSockets {
        FilteredSockets {
            dir,
            table: Arc::new(Mutex::new(Table::default())),
            maker: Arc::new(Mutex::new(None)),
        }
    }

    pub fn count(&self) -> usize {
        self.table.lock().map_or(0, |t| {
            t.served.len()
                - t.spares
                    .iter()
                    .filter(|p| t.served.contains_key(*p))
                    .count()
        })
    }

    /// The filtered sockets and the containers they belong to (`None` while a create is pending);
    /// the spare is no container's and not listed.
    pub fn list(&self) -> Vec<(PathBuf, Option<String>)> {
        let Ok(table) = self.table.lock() else {
            return Vec::new();
        };
        table
            .served
            .iter()
            .filter(|(p, _)| !table.is_spare(p))
            .map(|(p, s)| (p.clone(), s.container.get().cloned()))
            .collect()
    }

    /// The spares ready, the next one taken last.
    #[cfg(test)]
    fn spare_paths(&self) -> Vec<PathBuf> {
        self.table
            .lock()
            .map(|t| t.spares.clone())
            .unwrap_or_default()
    }

    /// A served filtered socket for a create about to be forwarded: a spare when one is ready,
    /// else one bound now. Then [`FilteredSockets::refill_in_background`] makes the next spares,
    /// off this create's path.
    pub fn create(&self, listen: &dyn Listen) -> std::io::Result<Pending> {
        let spare = self.table.lock().ok().and_then(|mut t| {
            let path = t.spares.pop()?;
            let container = t.served.get(&path)?.container.clone();
            Some((path, container))
        });
        let (path, container) = match spare {
            Some(ready) => ready,
            None => {
                let (path, slot) = self.bind_new(listen)?;
                let container = slot.container.clone();
                if let Ok(mut table) = self.table.lock() {
                    table.insert(&path, slot);
                }
                (path, container)
            }
        };
        Ok(Pending {
            sockets: self.clone(),
            path,
            container,
            bound: false,
        })
    }

    /// Binds and serves spare sockets until [`SPARES`] are ready (or the sockets are stopped).
    /// Blocking: each bind is a file system write. Called only by the one thread of
    /// [`FilteredSockets::refill_in_background`], so no two refills overlap.
    fn refill(&self, listen: &dyn Listen) {
        // Ended however the refill ends: a panic on the thread must not leave a refill asked
        // for forever, or no refill (nor the thread's restart) would ever be asked for again.
        struct Ended<'a>(&'a FilteredSockets);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                self.0.end_refill();
            }
        }
        let _ended = Ended(self);
        while self.refill_one(listen) {}
    }

    /// Binds and serves one spare if fewer than [`SPARES`] are ready; `false` when none was made.
    fn refill_one(&self, listen: &dyn Listen) -> bool {
        let wanted = self
            .table
            .lock()
            .is_ok_and(|t| t.spares.len() < SPARES && !t.stopped);
        if !wanted {
            return false;
        }
        let (path, slot) = match self.bind_new(listen) {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(error = %e, "cannot make a spare filtered socket");
                return false;
            }
        };
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        if table.stopped {
            table.binding.remove(&path);
            slot.task.abort();
            // A spare is no container's: unlike the sockets stop_all leaves for the next start,
            // its file has no use.
            drop(table);
            let _ = std::fs::remove_file(&path);
            return false;
        }
        // Served and made a spare at once: never listed as a pending create meanwhile.
        table.spares.push(path.clone());
        table.insert(&path, slot);
        true
    }

    /// Whether a refill is to be asked for now, marking it asked: fewer than [`REFILL_BELOW`]
    /// spares are left and no refill is under way.
    fn ask_refill(&self) -> bool {
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        let wanted = table.spares.len() < REFILL_BELOW && !table.refilling && !table.stopped;
        table.refilling |= wanted;
        wanted
    }

    /// The refill asked for has ended (or will never run): the next may be asked for.
    fn end_refill(&self) {
        if let Ok(mut table) = self.table.lock() {
            table.refilling = false;
        }
    }

    /// Makes the next spares on a thread of its own at the lowest CPU priority (nice 19),
    /// started on first use in the current runtime, once fewer than [`REFILL_BELOW`] are left:
    /// the binds' file system work (hundreds of µs on a churned ext4 directory) then takes an
    /// idle core, not one the next request needs. The thread ends with the last of these sockets.
    pub fn refill_in_background(&self, listen: Box<dyn Listen>) {
        if !self.ask_refill() {
            return;
        }
        let Ok(mut maker) = self.maker.lock() else {
            return;
        };
        let job = (self.clone(), listen);
        // A thread that is gone (it panicked) hands the job back: a new one is started.
        let job = match maker.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Refill>();
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name("eci-spare-sock".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                if let Err(e) =
                    rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19)
                {
                    tracing::debug!(error = %e, "the spare socket's thread keeps its priority");
                }
                // Each job holds the sockets only while it runs: the sender, kept by them, goes
                // with them, and so does this loop.
                while let Ok((sockets, listen)) = rx.recv() {
                    sockets.refill(listen.as_ref());
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                *maker = Some(tx);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the spare socket's thread");
                self.end_refill();
            }
        }
    }

    /// A new filtered socket with no container yet, bound and served; its path stays in
    /// [`Table::binding`] until the caller puts its slot in the table.
    fn bind_new(&self, listen: &dyn Listen) -> std::io::Result<(PathBuf, Slot)> {
        let name = format!("{:016x}.sock", fastrand::u64(..));
        let path = self.dir.join(name);
        self.reserve(&path, true);
        let listener = match bind_fresh(&path) {
            Ok(l) => l,
            Err(e) => {
                self.reserve(&path, false);
                return Err(e);
            }
        };
        let slot = self.serve(listen, &path, listener, Arc::new(OnceLock::new()));
        Ok((path, slot))
    }

    /// Marks `path` as being bound (`true`), or no longer (`false`): a sync's look at the
    /// directory leaves its file alone.
    fn reserve(&self, path: &Path, binding: bool) {
        if let Ok(mut table) = self.table.lock() {
            if binding {
                table.binding.insert(path.to_path_buf());
            } else {
                table.binding.remove(path);
            }
        }
    }

    /// Serves the socket of container `container` again at `path`, replacing what is there.
    fn start(
        &self,
        listen: &dyn Listen,
        path: &Path,
        container: Arc<OnceLock<String>>,
    ) -> std::io::Result<()> {
        self.reserve(path, true);
        let listener = match bind_socket(path, true) {
            Ok(l) => l,
            Err(e) => {
                self.reserve(path, false);
                return Err(e);
            }
        };
        let mut slot = self.serve(listen, path, listener, container);
        if let Ok(mut table) = self.table.lock() {
            slot.bound_in = Some(table.generation);
            table.insert(path, slot);
        }
        Ok(())
    }

    fn serve(
        &self,
        listen: &dyn Listen,
        path: &Path,
        listener: UnixListener,
        container: Arc<OnceLock<String>>,
    ) -> Slot {
        let origin = Origin::Filtered {
            path: path.to_string_lossy().into(),
            container: container.clone(),
        };
        Slot {
            task: listen.listen(listener, origin),
            container,
            bound_in: None,
        }
    }

    fn remove_path(&self, path: &Path) {
        let slot = self
            .table
            .lock()
            .ok()
            .and_then(|mut t| t.served.remove(path));
        if let Some(slot) = slot {
            slot.task.abort();
        }
        let _ = std::fs::remove_file(path);
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                if aside_of(&p).as_deref() == Some(path) {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }

    /// The container is gone: so are its filtered sockets.
    pub fn remove_container(&self, id: &str) {
        let paths: Vec<PathBuf> = self
            .table
            .lock()
            .map(|t| {
                t.served
                    .iter()
                    .filter(|(_, slot)| slot.container.get().map(String::as_str) == Some(id))
                    .map(|(p, _)| p.clone())
                    .collect()
            })
            .unwrap_or_default();
        for p in paths {
            tracing::info!(socket = %p.display(), container = %id, "filtered socket removed");
            self.remove_path(&p);
        }
    }

    /// Brings the sockets in line with the engine: every container whose mounts point into the
    /// directory gets its socket back (after a restart of the enforcer), also inside the
    /// container when it kept running, sockets of containers that no longer exist go, and stray
    /// files are removed. Creates made meanwhile are left alone: their sockets are bound after
    /// the engine's list was asked for, so the list says nothing of them.
    pub async fn sync(&self, listen: &dyn Listen, upstream: &Upstream) -> Result<(), SyncError> {
        let listed_after = self.begin_generation();
        let list: Vec<ContainerSummary> = upstream
            .fetch("/containers/json?all=1", "the containers")
            .await
            .map_err(SyncError::Containers)?;
        let engine = EngineMounts::of(&self.dir, &list);
        self.drop_unwanted(&engine.wanted, listed_after);
        let restored = self.restore(listen, &engine);
        let mounted_on = put_back_all(upstream, engine.running, &restored).await;
        // An old socket with nothing mounted on it is of no use; one with the new socket
        // mounted on it stays until its container goes (unlinking a mount point detaches the
        // mounts on it, in every namespace).
        for (aside, _) in restored.into_values().flatten() {
            if !mounted_on.contains(&aside) {
                let _ = std::fs::remove_file(aside);
            }
        }
        self.remove_strays();
        Ok(())
    }

    /// Starts a generation: sockets bound from now on belong to it. The last generation whose
    /// sockets were all bound before now.
    fn begin_generation(&self) -> u64 {
        self.table.lock().map_or(0, |mut t| {
            t.generation += 1;
            t.generation - 1
        })
    }

    /// Removes the sockets of containers that no longer have them mounted (or are gone), as far
    /// as an engine's list asked for after generation `listed_after` can tell: only sockets bound
    /// in it or before.
    fn drop_unwanted(&self, wanted: &HashMap<PathBuf, String>, listed_after: u64) {
        let unwanted: Vec<String> = self.table.lock().map_or_else(
            |_| Vec::new(),
            |t| {
                t.served
                    .iter()
                    .filter(|(_, s)| s.bound_in.is_some_and(|g| g <= listed_after))
                    .filter_map(|(p, s)| {
                        let c = s.container.get()?;
                        (wanted.get(p) != Some(c)).then(|| c.clone())
                    })
                    .collect()
            },
        );
        for c in unwanted {
            self.remove_container(&c);
        }
    }

    /// Serves again each wanted socket that is not served, the old socket moved aside first
    /// where a running container still has it mounted. Per restored path, that old socket, moved
    /// aside, and its identity.
    fn restore(&self, listen: &dyn Listen, engine: &EngineMounts) -> Restored {
        let current: HashMap<PathBuf, Option<String>> = self.list().into_iter().collect();
        let mounted: HashSet<&PathBuf> = engine.running.iter().map(|r| &r.socket).collect();
        let mut restored = Restored::new();
        for (path, id) in &engine.wanted {
            if current.contains_key(path) {
                continue;
            }
            let aside = if mounted.contains(path) {
                set_aside(path)
            } else {
                None
            };
            let cell = Arc::new(OnceLock::new());
            let _ = cell.set(id.clone());
            match self.start(listen, path, cell) {
                Ok(()) => {
                    tracing::info!(socket = %path.display(), container = %id, "filtered socket restored");
                    restored.insert(path.clone(), aside);
                }
                Err(e) => {
                    if let Some((aside, _)) = aside {
                        let _ = std::fs::rename(aside, path);
                    }
                    tracing::warn!(socket = %path.display(), error = %e, "cannot restore a filtered socket")
                }
            }
        }
        restored
    }

    /// Removes the files of the directory that are neither a socket served or being bound nor
    /// one moved aside from a served one.
    fn remove_strays(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            // Checked under the lock per file: a create may have added one meanwhile, and a file
            // read from the directory while its bind runs is in `binding`.
            let known = self.table.lock().map_or(true, |t| {
                t.served.contains_key(&p)
                    || t.binding.contains(&p)
                    || aside_of(&p).is_some_and(|b| t.served.contains_key(&b))
            });
            if !known {
                let _ = std::fs::remove_file(&p);
            }
        }
    }

    /// Stops serving every filtered socket. The files stay, so the next start restores them (and
    /// removes the spares', which no container has).
    pub fn stop_all(&self) {
        if let Ok(mut table) = self.table.lock() {
            table.stopped = true;
            table.spares.clear();
            for (_, slot) in table.served.drain() {
                slot.task.abort();
            }
        }
    }
}

/// Mounts each restored socket back into the running containers that have its old socket
/// mounted; the old sockets that now have the new one mounted on them.
async fn put_back_all(
    upstream: &Upstream,
    running: Vec<RunningMount>,
    restored: &Restored,
) -> HashSet<PathBuf> {
    let stale_mounts: Vec<_> = running
        .into_iter()
        .filter_map(|r| Some((restored.get(&r.socket)?.clone(), r)))
        .collect();
    let mut mounted_on: HashSet<PathBuf> = HashSet::new();
    if stale_mounts.is_empty() {
        return mounted_on;
    }
    let engine_pid = reattach::engine_pid(upstream).await;
    for (aside, r) in stale_mounts {
        let RunningMount {
            socket: path,
            container: id,
            destination,
        } = &r;
        let outcome = match &aside {
            Some((aside, stale)) => {
                let outcome = put_back(upstream, engine_pid, id, path, destination, *stale).await;
                if matches!(outcome, Ok(true)) {
                    mounted_on.insert(aside.clone());
                }
                outcome
            }
            None => Err(PutBackError::NoOldSocket { path: path.clone() }),
        };
        match outcome {
            Ok(true) => {
                tracing::info!(container = %id, destination = %destination.display(), socket = %path.display(), "filtered socket mounted back into the running container")
            }
            Ok(false) => {}
            Err(reason) => tracing::warn!(
                container = %id,
                destination = %destination.display(),
                socket = %path.display(),
                "container {id} keeps a dead filtered socket at {}: {reason}; it needs a restart to get its filtered socket back",
                destination.display()
            ),
        }
    }
    mounted_on
}

/// Mounts the new socket over the stale one inside the running container `id`; `Ok(false)`
/// when the container stopped meanwhile (its next start mounts the new socket anyway).
async fn put_back(
    upstream: &Upstream,
    engine_pid: Option<u32>,
    id: &str,
    socket: &Path,
    destination: &Path,
    stale: FileId,
) -> Result<bool, PutBackError> {
    let Some(info) = facts::container(upstream, id).await? else {
        return Ok(false);
    };
    let state = &info.state;
    let pid = state.pid.and_then(|p| u32::try_from(p).ok());
    let pid = match pid {
        Some(pid) if pid > 0 && state.running == Some(true) => pid,
        _ => return Ok(false),
    };
    reattach::reattach(
        engine_pid,
        Target {
            pid,
            destination: destination.to_path_buf(),
            socket: socket.to_path_buf(),
            stale,
        },
    )
    .await?;
    Ok(true)
}

/// Binds a filtered socket at a new random name, mode 0660. `bind` itself refuses a name that is
/// taken, so nothing is replaced; [`bind_socket`]'s look for an existing file first (an ext4
/// lookup in a directory of many sockets) was 3% of an allowed create (docs/perf, finding 8).
fn bind_fresh(path: &Path) -> std::io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Marks a filtered socket moved aside: `<socket>.stale-<random>`.
const ASIDE: &str = ".stale-";

/// Moves the socket at `path` aside so that a new one can be bound there, rather than unlinking
/// it: running containers still have it mounted, and the kernel mounts on no deleted file
/// (`d_set_mounted` is ENOENT), so the new socket can only be mounted over it while it has a
/// name. `None` when there is no socket there.
fn set_aside(path: &Path) -> Option<(PathBuf, FileId)> {
    let id = FileId::of_socket(path)?;
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!("{ASIDE}{:016x}", fastrand::u64(..)));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside).ok()?;
    Some((aside, id))
}

/// The filtered socket that `path` was moved aside from, if it is such a file.
fn aside_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (base, _) = name.rsplit_once(ASIDE)?;
    Some(path.with_file_name(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves nothing: the sockets' listeners are held by an idle task.
    struct Idle;

    impl Listen for Idle {
        fn listen(&self, listener: UnixListener, _: Origin) -> JoinHandle<()> {
            tokio::spawn(async move {
                let _listener = listener;
                std::future::pending::<()>().await
            })
        }
    }

    fn sockets(dir: &Path) -> FilteredSockets {
        FilteredSockets::new(dir.to_path_buf())
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_create_takes_a_spare_made_ahead_and_spares_are_no_containers() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        // No spare yet: the first create binds its own.
        let first = f.create(&Idle).unwrap();
        let first_path = first.path().to_path_buf();
        f.refill(&Idle);
        let spares = f.spare_paths();
        assert_eq!(spares.len(), SPARES, "a refill makes them all");
        assert!(!spares.contains(&first_path));
        assert!(spares.iter().all(|p| p.exists()));
        first.bind("c1");
        // Listed and counted: only the sockets of creates, never a spare.
        assert_eq!(f.list(), vec![(first_path, Some("c1".to_owned()))]);
        assert_eq!(f.count(), 1);
        // A refill with the spares ready makes none.
        f.refill(&Idle);
        assert_eq!(files(dir.path()).len(), 1 + SPARES);
        // The next create is given a spare, already bound and served.
        let second = f.create(&Idle).unwrap();
        let taken = second.path().to_path_buf();
        assert_eq!(Some(&taken), spares.last());
        assert_eq!(f.spare_paths().len(), SPARES - 1);
        assert_eq!(f.count(), 2, "the taken spare is that create's socket");
        // A create that fails removes its socket, spare or not.
        drop(second);
        assert!(!taken.exists());
        assert_eq!(f.count(), 1);
    }

    /// A refill is asked for once fewer than half the spares are left, and not again while it
    /// runs: the spare thread is woken once per few creates, not by each.
    #[tokio::test]
    async fn a_refill_is_asked_for_only_below_half_the_spares_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        assert!(f.ask_refill(), "none ready: asked for");
        assert!(!f.ask_refill(), "asked for already");
        f.refill(&Idle);
        let mut asked = Vec::new();
        for _ in 0..SPARES {
            let taken = f.create(&Idle).unwrap();
            taken.bind("c");
            asked.push(f.ask_refill());
        }
        let expected: Vec<bool> = (1..=SPARES)
            .map(|taken| SPARES - taken == REFILL_BELOW - 1)
            .collect();
        assert_eq!(
            asked,
            expected,
            "asked for at {} left only",
            REFILL_BELOW - 1
        );
        f.refill(&Idle);
        assert_eq!(f.spare_paths().len(), SPARES);
        f.stop_all();
        assert!(!f.ask_refill(), "stopped: none asked for");
    }

    /// Panics when asked to serve a socket.
    struct Panics;

    impl Listen for Panics {
        fn listen(&self, _: UnixListener, _: Origin) -> JoinHandle<()> {
            panic!("a listener that cannot be served");
        }
    }

    /// A refill that panics on the spare thread ends its refill all the same: the next create
    /// asks for one again (and so starts a new thread).
    #[tokio::test]
    async fn a_refill_that_panics_is_asked_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        assert!(f.ask_refill());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.refill(&Panics)));
        assert!(panicked.is_err());
        assert!(f.ask_refill(), "a refill is asked for again");
    }

    /// The nice value of this process's thread named `name`, from `/proc`.
    fn nice_of_thread(name: &str) -> Option<i64> {
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() == name {
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                let after = &stat[stat.rfind(')')? + 2..];
                // Fields from the state (3rd) on: the nice value is the 19th.
                return after.split_whitespace().nth(16)?.parse().ok();
            }
        }
        None
    }

    /// Waits for `f` to have all its spares.
    async fn all_spares(f: &FilteredSockets, what: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while f.spare_paths().len() < SPARES {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_spares_are_made_on_a_thread_of_lowest_priority() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        f.refill_in_background(Box::new(Idle));
        all_spares(&f, "no spares were made").await;
        assert_eq!(nice_of_thread("eci-spare-sock"), Some(19));
        // Taken down below half, then made again by the same thread.
        let mut taken = Vec::new();
        for _ in 0..=SPARES - REFILL_BELOW {
            let t = f.create(&Idle).unwrap();
            taken.push(t.path().to_path_buf());
            t.bind("c");
            f.refill_in_background(Box::new(Idle));
        }
        all_spares(&f, "no spares were made again").await;
        assert!(f.spare_paths().iter().all(|p| !taken.contains(p)));
        assert_eq!(files(dir.path()).len(), taken.len() + SPARES);
    }

    #[tokio::test]
    async fn once_stopped_no_spare_is_made_and_the_ready_ones_are_left_to_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        f.refill(&Idle);
        let mut spares = f.spare_paths();
        spares.sort();
        f.stop_all();
        assert!(f.spare_paths().is_empty());
        f.refill(&Idle);
        assert_eq!(files(dir.path()), spares);
        // The next start's sync finds no container for them: strays, removed.
        let again = sockets(dir.path());
        again.remove_strays();
        assert!(files(dir.path()).is_empty());
    }

    /// Runs `work` on this thread while `sync_part` runs again and again on another.
    fn beside(
        f: &FilteredSockets,
        sync_part: impl Fn(&FilteredSockets) + Send + 'static,
        work: impl FnOnce(),
    ) {
        let other = f.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let looping = std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                sync_part(&other);
            }
        });
        work();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        looping.join().unwrap();
    }

    /// A sync reads the directory for stray files while creates bind their sockets: a file whose
    /// bind is under way is no stray. (Removed mid-bind, the create failed or its container got
    /// a socket path with nothing behind it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sync_beside_creates_and_refills_removes_none_of_their_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        let mut lost = Vec::new();
        beside(&f, FilteredSockets::remove_strays, || {
            for round in 0..2000 {
                if round % 2 == 0 {
                    f.refill(&Idle);
                }
                let pending = f.create(&Idle).expect("a socket for the create");
                let path = pending.path().to_path_buf();
                pending.bind("c");
                if !path.exists() {
                    lost.push(path.clone());
                }
                f.remove_path(&path);
            }
        });
        assert!(lost.is_empty(), "{} sockets lost: {lost:?}", lost.len());
    }

    /// A sync lists the engine's containers, then drops the sockets whose container the list
    /// lacks. A container created after the list was asked for is not in it: its socket stays.
    #[tokio::test]
    async fn a_list_asked_for_before_a_create_does_not_drop_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        let old = f.create(&Idle).unwrap();
        let old_path = old.path().to_path_buf();
        old.bind("gone");
        // The sync asks the engine for its containers here ...
        let listed_after = f.begin_generation();
        // ... and the engine creates one more before it answers.
        let new = f.create(&Idle).unwrap();
        let new_path = new.path().to_path_buf();
        new.bind("created-meanwhile");
        let pending = f.create(&Idle).unwrap();
        f.drop_unwanted(&HashMap::new(), listed_after);
        let mut left = f.list();
        left.sort();
        let mut expected = vec![
            (new_path.clone(), Some("created-meanwhile".to_owned())),
            (pending.path().to_path_buf(), None),
        ];
        expected.sort();
        assert_eq!(left, expected);
        assert!(!old_path.exists() && new_path.exists());
        // The next sync's list has it, and it stays; without it, it goes.
        let listed_after = f.begin_generation();
        let wanted = HashMap::from([(new_path.clone(), "created-meanwhile".to_owned())]);
        f.drop_unwanted(&wanted, listed_after);
        assert!(new_path.exists());
        f.drop_unwanted(&HashMap::new(), listed_after);
        assert!(!new_path.exists());
    }

    /// The spare is served and made the spare at once: no one sees it as a pending create's
    /// socket while it is made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_spare_is_never_listed_while_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let f = sockets(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_watcher = seen.clone();
        let watch = move |w: &FilteredSockets| {
            let listed = w.list();
            if !listed.is_empty() || w.count() != 0 {
                seen_by_watcher.lock().unwrap().push(listed);
            }
        };
        beside(&f, watch, || {
            for _ in 0..1000 {
                f.refill(&Idle);
                let taken = {
                    let mut t = f.table.lock().unwrap();
                    let path = t.spares.pop().expect("a spare");
                    t.served.remove(&path).unwrap().task.abort();
                    path
                };
                std::fs::remove_file(taken).unwrap();
            }
        });
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    }
}
