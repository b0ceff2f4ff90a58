//! Filtered sockets: one unix listener per container allowed to mount the engine socket, created
//! before the create is forwarded, bound to the container id once the engine answers, removed
//! when the container is destroyed, and restored for existing containers after a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tokio::task::JoinHandle;

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
    /// directory gets its socket back (after a restart of the enforcer), sockets of containers
    /// that no longer exist go, and stray files are removed. Pending creates are left alone.
    pub async fn sync(&self, shared: &Arc<Shared>, upstream: &Upstream) -> Result<(), String> {
        let list = upstream
            .get("/containers/json?all=1", "the containers")
            .await
            .map_err(|e| e.to_string())?;
        let mut wanted: HashMap<PathBuf, String> = HashMap::new();
        for c in list.as_array().into_iter().flatten() {
            let Some(id) = c.get("Id").and_then(Value::as_str) else {
                continue;
            };
            for m in c
                .get("Mounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(src) = m.get("Source").and_then(Value::as_str) else {
                    continue;
                };
                let src = Path::new(src);
                if src.parent() == Some(self.dir.as_path()) {
                    wanted.insert(src.to_path_buf(), id.to_owned());
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
        for (path, id) in &wanted {
            if !current.contains_key(path) {
                let cell = Arc::new(OnceLock::new());
                let _ = cell.set(id.clone());
                match self.start(shared, path, cell) {
                    Ok(()) => {
                        tracing::info!(socket = %path.display(), container = %id, "filtered socket restored")
                    }
                    Err(e) => {
                        tracing::warn!(socket = %path.display(), error = %e, "cannot restore a filtered socket")
                    }
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let p = entry.path();
                // Checked under the lock per file: a create may have added one meanwhile.
                let known = self
                    .slots
                    .lock()
                    .map(|s| s.contains_key(&p))
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
