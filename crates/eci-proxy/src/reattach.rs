//! Puts a restored filtered socket back into a container that kept running across an enforcer
//! restart: its bind mount pins the old socket's inode, so the new socket is mounted over it.
//!
//! Only root can do this (entering another mount namespace needs `CAP_SYS_ADMIN` and
//! `CAP_SYS_CHROOT`). Everything the container controls is resolved inside its own root and
//! checked to still be the old socket before anything is mounted; whatever fails leaves the
//! container as it was, and the caller says that it needs a restart.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
use rustix::mount::{MoveMountFlags, OpenTreeFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::upstream::Upstream;

/// A file's identity (device and inode): what the container's stale bind mount still shows at
/// its destination, whatever path leads there now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The socket at `path` itself (a symlink is not followed); `None` when there is no socket.
    pub fn of_socket(path: &Path) -> Option<FileId> {
        socket_id(&std::fs::symlink_metadata(path).ok()?)
    }
}

fn socket_id(meta: &std::fs::Metadata) -> Option<FileId> {
    meta.file_type().is_socket().then(|| FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// A running container whose socket mount still shows the socket of an enforcer gone since.
#[derive(Debug, Clone)]
pub struct Target {
    /// `State.Pid` as the engine reports it: a pid in the engine's pid namespace.
    pub pid: u32,
    /// `Mounts[].Destination`: where the container has the socket, inside its own root.
    pub destination: PathBuf,
    /// The new socket on the host, at the path the container's mount was made from.
    pub socket: PathBuf,
    /// The socket that was at that path before it was bound again.
    pub stale: FileId,
}

/// Why a container keeps its stale socket.
#[derive(Debug, thiserror::Error)]
pub enum ReattachError {
    #[error("the enforcer does not run as root, so it cannot mount into containers")]
    NotRoot,
    #[error("cannot take the new socket {path} as a mount (a kernel before 5.2 has no open_tree): {source}")]
    CloneSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach the container's process {pid} through {proc_dir} (the container is gone?): {source}")]
    Process {
        pid: u32,
        proc_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open {destination} inside the container (a kernel before 5.6 has no openat2): {source}")]
    Destination {
        destination: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{destination} inside the container is no longer the old filtered socket (replaced, or a symlink); nothing is mounted there")]
    Replaced { destination: PathBuf },
    #[error("cannot enter the container's mount namespace (a user namespace?): {0}")]
    EnterNamespace(#[source] std::io::Error),
    #[error("cannot mount the new socket over {destination} inside the container: {source}")]
    Mount {
        destination: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run the mount thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The engine's pid as this process sees it, from the peer credentials of a connection to its
/// socket. `State.Pid` is a pid in the engine's pid namespace, which need not be ours (an engine
/// in a pid namespace of its own, as in the tests): `/proc/<engine>/root/proc/<pid>` names the
/// container's process either way, through the engine's own `/proc`. With a socket-activated
/// engine this is the pid of systemd, which shares the engine's view.
pub async fn engine_pid(upstream: &Upstream) -> Option<u32> {
    let (_, conn) = upstream.connect().await.ok()?;
    let cred = conn.into_parts().io.inner().peer_cred().ok()?;
    cred.pid().and_then(|p| u32::try_from(p).ok())
}

/// Mounts `target.socket` over the stale socket inside the running container.
pub async fn reattach(engine: Option<u32>, target: Target) -> Result<(), ReattachError> {
    if !rustix::process::geteuid().is_root() {
        return Err(ReattachError::NotRoot);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread of its own: it leaves the host's mount namespace and never comes back, so it
    // must be no runtime's worker that would go on to serve other work from in there.
    std::thread::Builder::new()
        .name("eci-reattach".into())
        .spawn(move || {
            let _ = tx.send(mount_in_container(engine, &target));
        })
        .map_err(ReattachError::Thread)?;
    rx.await.unwrap_or_else(|_| {
        Err(ReattachError::Thread(std::io::Error::other(
            "the mount thread ended without an answer",
        )))
    })
}

fn mount_in_container(engine: Option<u32>, t: &Target) -> Result<(), ReattachError> {
    let tree = rustix::mount::open_tree(
        CWD,
        &t.socket,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| ReattachError::CloneSocket {
        path: t.socket.clone(),
        source: e.into(),
    })?;
    let proc_dir = match engine {
        Some(e) => PathBuf::from(format!("/proc/{e}/root/proc/{}", t.pid)),
        None => PathBuf::from(format!("/proc/{}", t.pid)),
    };
    let process = |e: rustix::io::Errno| ReattachError::Process {
        pid: t.pid,
        proc_dir: proc_dir.clone(),
        source: e.into(),
    };
    // Namespace and root through one directory fd: both belong to the same process even if the
    // pid is reused meanwhile.
    let proc_fd = rustix::fs::open(
        &proc_dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process)?;
    let mnt_ns = rustix::fs::openat(
        &proc_fd,
        "ns/mnt",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process)?;
    let root = rustix::fs::openat(
        &proc_fd,
        "root",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process)?;
    let target = File::from(open_destination(&root, &t.destination)?);
    let meta = target.metadata().map_err(|e| ReattachError::Destination {
        destination: t.destination.clone(),
        source: e,
    })?;
    // The container owns everything on the way to its destination and may have replaced it by
    // now: only the very inode of the old socket, still mounted there, is mounted over. A
    // process that reused the pid cannot show it either.
    if socket_id(&meta) != Some(t.stale) {
        return Err(ReattachError::Replaced {
            destination: t.destination.clone(),
        });
    }
    // setns into a mount namespace refuses a thread that shares its root and working directory
    // with others (every thread of this process does: `fs->users != 1` is EINVAL), and moves
    // them to the namespace's root. Only `CLONE_FS` is unshared: the descriptor table stays
    // shared, which is why rustix deprecates the safe `unshare` (and the crate forbids the
    // unsafe one).
    #[allow(deprecated)]
    rustix::thread::unshare(UnshareFlags::FS)
        .map_err(|e| ReattachError::EnterNamespace(e.into()))?;
    rustix::thread::move_into_link_name_space(mnt_ns.as_fd(), Some(LinkNameSpaceType::Mount))
        .map_err(|e| ReattachError::EnterNamespace(e.into()))?;
    // Onto the descriptor checked above, not a path: nothing the container renames or links
    // between the check and now can redirect the mount (move_mount only attaches to a mount
    // of the caller's namespace, hence the setns).
    rustix::mount::move_mount(
        tree.as_fd(),
        "",
        target.as_fd(),
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| ReattachError::Mount {
        destination: t.destination.clone(),
        source: e.into(),
    })
}

/// The destination inside the container's root. `RESOLVE_IN_ROOT` keeps every symlink and `..`
/// on the way inside that root (as the engine resolved it when it made the mount), magic links
/// (`/proc/<pid>/root`, which lead out of it) are refused, and `O_NOFOLLOW` opens a symlink at
/// the destination itself rather than where it points: the check that follows then sees a
/// symlink, not the socket.
fn open_destination(root: &OwnedFd, destination: &Path) -> Result<OwnedFd, ReattachError> {
    rustix::fs::openat2(
        root,
        destination,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| ReattachError::Destination {
        destination: destination.to_path_buf(),
        source: e.into(),
    })
}
