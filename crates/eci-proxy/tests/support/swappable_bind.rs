//! The setup of the symlink-swap attack: a container whose bind source is a plain file at
//! create and start, swapped later for a symlink (to the engine socket) in one rename, as an
//! attacker who shares a host directory with it would.

use std::path::{Path, PathBuf};

use super::{run_restarting, unique, Cli};

/// A temp dir holding `x`, a plain file: the harmless bind source at create.
pub fn bind_source() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("ecirb")
        .tempdir_in("/tmp")
        .unwrap();
    let x = dir.path().join("x");
    std::fs::write(&x, b"plain file\n").unwrap();
    (dir, x)
}

/// Replaces `path` with a symlink to `target` in one rename.
pub fn swap_for_symlink(path: &Path, target: &Path) {
    let tmp = path.with_extension("swap");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running container with a plain file bound at `/s`, which the engine starts again by its
/// restart policy.
pub struct SwappableContainer {
    pub id: String,
    source: PathBuf,
    _dir: tempfile::TempDir,
}

impl SwappableContainer {
    /// Through `cli`, `run -d` of a container named after `prefix`, of `image` running `cmd`,
    /// restarted by `policy`.
    pub fn run(cli: Cli, prefix: &str, policy: &str, image: &str, cmd: &[&str]) -> Self {
        let (dir, source) = bind_source();
        let bind = format!("{}:/s", source.display());
        let id = run_restarting(cli, &unique(prefix), policy, &bind, image, cmd);
        SwappableContainer {
            id,
            source,
            _dir: dir,
        }
    }

    /// Its bind source, opened for appending: still the file the container has mounted once
    /// the path is swapped, so a line written to it afterwards reaches the container.
    pub fn hold_source(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&self.source)
            .unwrap()
    }

    /// Its bind source becomes a symlink to `target`.
    pub fn swap_for_symlink(&self, target: &Path) {
        swap_for_symlink(&self.source, target);
    }
}
