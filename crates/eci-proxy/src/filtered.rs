//! Filtered sockets: one unix listener per container allowed to mount the engine socket, created
//! before the create is forwarded, bound to the container id once the engine answers, removed
//! when the container is destroyed, and restored for existing containers after a restart (and
//! mounted back into those that kept running, see [`crate::reattach`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::task::JoinHandle;

use crate::facts;
use crate::inspect::ContainerSummary;
use crate::reattach::{self, FileId, Target};
use crate::server::{bind_socket, spawn_listener, Origin, Shared};
use crate::upstream::Upstream;

struct Slot {
    container: Arc<OnceLock<String>>,
    task: JoinHandle<()>,
}

/// The filtered sockets of one enforcer, in one directory.
#[derive(Clone)]
pub struct FilteredSockets {
    dir: PathBuf,
    slots: Arc<Mutex<HashMap<PathBuf, Slot>>>,
}

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

impl FilteredSockets {
    pub fn new(dir: PathBuf) -> FilteredSockets {
        FilteredSockets {
            dir,
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn count(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// The filtered sockets and the containers they belong to (`None` while a create is pending).
    pub fn list(&self) -> Vec<(PathBuf, Option<String>)> {
        let Ok(slots) = self.slots.lock() else {
            return Vec::new();
        };
        slots
            .iter()
            .map(|(p, s)| (p.clone(), s.container.get().cloned()))
            .collect()
    }

    /// Creates and starts serving a new filtered socket for a create about to be forwarded.
    pub fn create(&self, shared: &Arc<Shared>) -> std::io::Result<Pending> {
        let name = format!("{:016x}.sock", fastrand::u64(..));
        let path = self.dir.join(name);
        let container = Arc::new(OnceLock::new());
        self.start(shared, &path, container.clone())?;
        Ok(Pending {
            sockets: self.clone(),
            path,
            container,
            bound: false,
        })
    }

    fn start(
        &self,
        shared: &Arc<Shared>,
        path: &Path,
        container: Arc<OnceLock<String>>,
    ) -> std::io::Result<()> {
        let listener = bind_socket(path, true)?;
        let origin = Origin::Filtered {
            path: path.to_string_lossy().into(),
            container: container.clone(),
        };
        let task = spawn_listener(shared.clone(), listener, origin);
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(old) = slots.insert(path.to_path_buf(), Slot { container, task }) {
                old.task.abort();
            }
        }
        Ok(())
    }

    fn remove_path(&self, path: &Path) {
        let slot = self.slots.lock().ok().and_then(|mut s| s.remove(path));
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
            .slots
            .lock()
            .map(|s| {
                s.iter()
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
    /// files are removed. Pending creates are left alone.
    pub async fn sync(&self, shared: &Arc<Shared>, upstream: &Upstream) -> Result<(), String> {
        let list: Vec<ContainerSummary> = upstream
            .fetch("/containers/json?all=1", "the containers")
            .await
            .map_err(|e| e.to_string())?;
        let mut wanted: HashMap<PathBuf, String> = HashMap::new();
        // (socket, container, destination) of the running containers: their mounts were made
        // from the socket that was at the path then.
        let mut running: Vec<(PathBuf, String, PathBuf)> = Vec::new();
        for c in &list {
            let id = c.id.as_str();
            let is_running = c.state.as_deref() == Some("running");
            for m in &c.mounts {
                let Some(src) = &m.source else {
                    continue;
                };
                let src = Path::new(src);
                if src.parent() == Some(self.dir.as_path()) {
                    wanted.insert(src.to_path_buf(), id.to_owned());
                    if let (true, Some(dest)) = (is_running, &m.destination) {
                        running.push((src.to_path_buf(), id.to_owned(), PathBuf::from(dest)));
                    }
                }
            }
        }
        let current = self.list();
        for (path, container) in &current {
            if let Some(c) = container {
                if wanted.get(path) != Some(c) {
                    self.remove_container(c);
                }
            }
        }
        let current: HashMap<PathBuf, Option<String>> = self.list().into_iter().collect();
        let mounted: HashSet<&PathBuf> = running.iter().map(|(path, _, _)| path).collect();
        // Per restored path, the old socket that running containers still have mounted, moved
        // aside and its identity.
        let mut restored: HashMap<PathBuf, Option<(PathBuf, FileId)>> = HashMap::new();
        for (path, id) in &wanted {
            if !current.contains_key(path) {
                let aside = if mounted.contains(path) {
                    set_aside(path)
                } else {
                    None
                };
                let cell = Arc::new(OnceLock::new());
                let _ = cell.set(id.clone());
                match self.start(shared, path, cell) {
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
        }
        let stale_mounts: Vec<_> = running
            .into_iter()
            .filter_map(|(path, id, dest)| Some((restored.get(&path)?.clone(), path, id, dest)))
            .collect();
        let mut mounted_on: HashSet<PathBuf> = HashSet::new();
        if !stale_mounts.is_empty() {
            let engine_pid = reattach::engine_pid(upstream).await;
            for (aside, path, id, destination) in stale_mounts {
                let outcome = match &aside {
                    Some((aside, stale)) => {
                        let r =
                            put_back(upstream, engine_pid, &id, &path, &destination, *stale).await;
                        if r == Ok(true) {
                            mounted_on.insert(aside.clone());
                        }
                        r
                    }
                    None => Err(format!(
                        "no old socket was left at {} to recognise the one the container has",
                        path.display()
                    )),
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
        }
        // An old socket with nothing mounted on it is of no use; one with the new socket
        // mounted on it stays until its container goes (unlinking a mount point detaches the
        // mounts on it, in every namespace).
        for (aside, _) in restored.into_values().flatten() {
            if !mounted_on.contains(&aside) {
                let _ = std::fs::remove_file(aside);
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                // Checked under the lock per file: a create may have added one meanwhile.
                let known = self
                    .slots
                    .lock()
                    .map(|s| s.contains_key(&p) || aside_of(&p).is_some_and(|b| s.contains_key(&b)))
                    .unwrap_or(true);
                if !known {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        Ok(())
    }

    /// Stops serving every filtered socket. The files stay, so the next start restores them.
    pub fn stop_all(&self) {
        if let Ok(mut slots) = self.slots.lock() {
            for (_, slot) in slots.drain() {
                slot.task.abort();
            }
        }
    }
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
) -> Result<bool, String> {
    let info = match facts::container(upstream, id).await {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(false),
        Err(e) => return Err(e.to_string()),
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
    .await
    .map(|()| true)
    .map_err(|e| e.to_string())
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
