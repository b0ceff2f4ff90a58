//! Puts a restored filtered socket back into a container that kept running across an enforcer
//! restart: its bind mount pins the old socket's inode, so the new socket is mounted over it.
//!
//! Only root can do this: entering another mount namespace needs `CAP_SYS_ADMIN` and
//! `CAP_SYS_CHROOT`, and another process's `/proc` entries `CAP_SYS_PTRACE`. Everything the
//! container controls is resolved inside its own root and checked to still be the old socket
//! before anything is mounted; whatever fails leaves the container as it was, and the caller
//! says that it needs a restart.

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
    /// A step the enforcer's privileges do not allow.
    #[error("{step}: {source}; mounting into a container needs CAP_SYS_ADMIN, CAP_SYS_CHROOT and CAP_SYS_PTRACE, and open_tree, move_mount and setns into a mount namespace allowed (systemd: SystemCallFilter=@mount, RestrictNamespaces=mnt)")]
    NotPermitted {
        step: String,
        #[source]
        source: std::io::Error,
    },
    /// A step this kernel has no call for.
    #[error("{step}: {source}; open_tree and move_mount need Linux 5.2, openat2 Linux 5.6")]
    Unsupported {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}: {source}")]
    Failed {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{destination} inside the container is no longer the old filtered socket (replaced, or a symlink); nothing is mounted there")]
    Replaced { destination: PathBuf },
    #[error("cannot run the mount thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl ReattachError {
    /// What `step` failing with `errno` says about the cause.
    fn at(step: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> ReattachError {
        move |errno| {
            let step = step.into();
            let source = std::io::Error::from(errno);
            match errno {
                rustix::io::Errno::PERM | rustix::io::Errno::ACCESS => {
                    ReattachError::NotPermitted { step, source }
                }
                rustix::io::Errno::NOSYS => ReattachError::Unsupported { step, source },
                _ => ReattachError::Failed { step, source },
            }
        }
    }
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
    let tree = new_socket_tree(&t.socket)?;
    let (mnt_ns, root) = open_process(engine, t.pid)?;
    let target = stale_destination(&root, t)?;
    enter_mount_namespace(&mnt_ns)?;
    // setns also moved this thread's root and working directory to the namespace's root (the
    // container's root after runc's pivot_root); nothing here depends on it. The mount goes
    // onto the descriptor checked above, not a path: nothing the container renames or links
    // between the check and now can redirect it. (Not `/proc/self/fd/N` either: `/proc` is now
    // the container's, where this thread does not exist.) move_mount attaches only to a mount
    // of the caller's namespace, hence the setns.
    rustix::mount::move_mount(
        tree.as_fd(),
        "",
        target.as_fd(),
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(ReattachError::at(format!(
        "cannot mount the new socket over {} inside the container",
        t.destination.display()
    )))
}

/// The new socket on the host, cloned as a detached mount to be moved into the container.
fn new_socket_tree(socket: &Path) -> Result<OwnedFd, ReattachError> {
    rustix::mount::open_tree(
        CWD,
        socket,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(ReattachError::at(format!(
        "cannot take the new socket {} as a mount",
        socket.display()
    )))
}

/// The mount namespace and the root of the container's process `pid` (in the engine's pid
/// namespace when the engine's pid is known).
fn open_process(engine: Option<u32>, pid: u32) -> Result<(OwnedFd, OwnedFd), ReattachError> {
    let proc_dir = match engine {
        Some(e) => PathBuf::from(format!("/proc/{e}/root/proc/{pid}")),
        None => PathBuf::from(format!("/proc/{pid}")),
    };
    let process = || {
        ReattachError::at(format!(
            "cannot reach the container's process through {} (is it gone?)",
            proc_dir.display()
        ))
    };
    // Namespace and root through one directory fd: both belong to the same process even if the
    // pid is reused meanwhile.
    let proc_fd = rustix::fs::open(
        &proc_dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process())?;
    let mnt_ns = rustix::fs::openat(
        &proc_fd,
        "ns/mnt",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process())?;
    let root = rustix::fs::openat(
        &proc_fd,
        "root",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(process())?;
    Ok((mnt_ns, root))
}

/// The destination inside the container, opened, when it is still the old socket.
fn stale_destination(root: &OwnedFd, t: &Target) -> Result<File, ReattachError> {
    let target = File::from(open_destination(root, &t.destination)?);
    let meta = target.metadata().map_err(|e| ReattachError::Failed {
        step: format!(
            "cannot inspect {} inside the container",
            t.destination.display()
        ),
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
    Ok(target)
}

/// Moves this thread into the container's mount namespace, for good.
fn enter_mount_namespace(mnt_ns: &OwnedFd) -> Result<(), ReattachError> {
    let enter = || ReattachError::at("cannot enter the container's mount namespace");
    // setns into a mount namespace refuses a thread that shares its root and working directory
    // with others, as every thread of this process does (`fs->users != 1` is EINVAL in the
    // kernel's `mntns_install`), hence the unshare. rustix deprecates its safe `unshare` because
    // unsharing `CLONE_FILES` would split the descriptor table under other threads' feet; only
    // `CLONE_FS` is unshared here, and the crate forbids the unsafe variant.
    #[allow(deprecated)]
    rustix::thread::unshare(UnshareFlags::FS).map_err(enter())?;
    rustix::thread::move_into_link_name_space(mnt_ns.as_fd(), Some(LinkNameSpaceType::Mount))
        .map_err(enter())
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
    .map_err(ReattachError::at(format!(
        "cannot open {} inside the container",
        destination.display()
    )))
}
