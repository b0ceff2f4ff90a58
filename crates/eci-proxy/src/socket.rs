//! The enforcer's unix sockets: binding one (mode 0660, a stale file replaced), and who a
//! connection came from on which of them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio::net::UnixListener;

/// The socket a connection came in on.
#[derive(Debug, Clone)]
pub enum Origin {
    Main {
        path: Arc<str>,
    },
    /// A container's filtered socket: the command list applies. The container id is set once
    /// the engine has answered the create.
    Filtered {
        path: Arc<str>,
        container: Arc<OnceLock<String>>,
    },
}

/// The credentials of a client connection's peer.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub pid: Option<i32>,
    pub uid: u32,
    pub gid: u32,
}

/// Binds a unix listener at `path` with mode 0660. A socket file nobody answers on is stale and
/// replaced; a live socket is an error unless `replace` (our own filtered sockets, restored).
pub fn bind_socket(path: &Path, replace: bool) -> std::io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if !replace && std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "{} is already being served by another process",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}
