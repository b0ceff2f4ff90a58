//! Who a control client is, and acting as them. The kernel gives the client's uid and gid
//! (`SO_PEERCRED`, fixed at connect); the user database gives that user's groups, as polkit and
//! sudo read membership (a process's own group list, read later from `/proc`, could belong to
//! another process by then). Every check and write of a file for a client runs on a thread of
//! its own with the client's ids and groups, so the kernel decides — ACLs, directory
//! permissions, read-only mounts, a path swapped between the check and the write — exactly as
//! for the user's own process, and the daemon's privileges never do it for them.

use std::ffi::CString;

use rustix::thread::{Gid, Uid};
use tokio::net::UnixStream;

/// A control client's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    /// The user's supplementary groups (its primary group among them).
    pub groups: Vec<u32>,
}

/// Why something could not be done as the client.
#[derive(Debug, thiserror::Error)]
pub enum AsPeerError {
    /// This daemon runs neither as root nor as the client's user.
    #[error("this daemon (uid {daemon}) cannot act as uid {peer}")]
    CannotSwitch { daemon: u32, peer: u32 },
    #[error("cannot take the credentials of uid {uid}: {source}")]
    Switch { uid: u32, source: std::io::Error },
    #[error("the thread acting as uid {uid} failed")]
    Panicked { uid: u32 },
}

/// The client at the other end of `stream`, or `None` without kernel credentials.
pub fn peer_of(stream: &UnixStream) -> Option<Peer> {
    let cred = stream.peer_cred().ok()?;
    let (uid, gid) = (cred.uid(), cred.gid());
    Some(Peer {
        uid,
        gid,
        groups: user_groups(uid, gid),
    })
}

/// `uid`'s groups in the user database, with `gid`; just `gid` for a uid it does not know.
fn user_groups(uid: u32, gid: u32) -> Vec<u32> {
    use nix::unistd::{getgrouplist, Gid as NixGid, Uid as NixUid, User};
    let mut groups = User::from_uid(NixUid::from_raw(uid))
        .ok()
        .flatten()
        .and_then(|user| CString::new(user.name).ok())
        .and_then(|name| getgrouplist(&name, NixGid::from_raw(gid)).ok())
        .map(|list| list.into_iter().map(NixGid::as_raw).collect::<Vec<_>>())
        .unwrap_or_default();
    if !groups.contains(&gid) {
        groups.push(gid);
    }
    groups
}

/// Runs `f` on a thread of its own holding `peer`'s uid, gid and groups (real, effective and
/// saved, so `access` answers for the client too); the thread ends with `f`, and with it those
/// credentials. A daemon running as the client's user runs `f` as itself.
pub fn as_peer<T: Send + 'static>(
    peer: &Peer,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AsPeerError> {
    let daemon = rustix::process::geteuid().as_raw();
    let switch = daemon != peer.uid;
    if switch && daemon != 0 {
        return Err(AsPeerError::CannotSwitch {
            daemon,
            peer: peer.uid,
        });
    }
    let peer = peer.clone();
    let uid = peer.uid;
    std::thread::spawn(move || {
        if switch {
            take_credentials(&peer).map_err(|source| AsPeerError::Switch { uid, source })?;
        }
        Ok(f())
    })
    .join()
    .map_err(|_| AsPeerError::Panicked { uid })?
}

/// This thread's groups, then gid, then uid (after which it has no privilege left to change
/// them back: every id is the client's, so its capabilities are cleared).
fn take_credentials(peer: &Peer) -> std::io::Result<()> {
    let groups: Vec<Gid> = peer.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    rustix::thread::set_thread_groups(&groups)?;
    let gid = Gid::from_raw(peer.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)?;
    let uid = Uid::from_raw(peer.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: u32 = 65534;

    fn nobody() -> Peer {
        Peer {
            uid: NOBODY,
            gid: NOBODY,
            groups: vec![NOBODY],
        }
    }

    #[test]
    fn acts_with_the_clients_ids_and_leaves_the_daemons_alone() {
        if rustix::process::geteuid().as_raw() != 0 {
            // Only root can take another user's ids; a non-root daemon refuses instead.
            assert!(matches!(
                as_peer(&nobody(), || ()),
                Err(AsPeerError::CannotSwitch { .. })
            ));
            return;
        }
        let ids = as_peer(&nobody(), || {
            (
                rustix::process::getuid().as_raw(),
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        })
        .unwrap();
        assert_eq!(ids, (NOBODY, NOBODY, NOBODY));
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "the daemon stays root"
        );
    }

    #[test]
    fn the_kernel_decides_what_the_client_may_write() {
        if rustix::process::geteuid().as_raw() != 0 {
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.json");
        std::fs::write(&file, "{}").unwrap();
        // World-writable by its mode, but in a directory nobody may search: the mode bits alone
        // say yes, the kernel says no.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let f = file.clone();
        assert!(!as_peer(&nobody(), move || crate::settings_files::may_write(&f)).unwrap());
        let f = file.clone();
        assert!(std::fs::write(&f, "{}").is_ok(), "root still may");
        let f = file.clone();
        let write = as_peer(&nobody(), move || std::fs::write(&f, "{\"x\":1}")).unwrap();
        assert_eq!(
            write.unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        // Searchable: now the kernel lets the client write it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = file.clone();
        assert!(as_peer(&nobody(), move || crate::settings_files::may_write(&f)).unwrap());
    }

    #[test]
    fn groups_come_from_the_user_database() {
        // root's groups include root; an unknown uid has only the gid it connected with.
        assert!(user_groups(0, 0).contains(&0));
        assert_eq!(user_groups(4_000_000, 4_000_001), vec![4_000_001]);
    }
}
