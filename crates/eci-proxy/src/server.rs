//! Listeners and connections: unix sockets (mode 0660) accepted under a connection cap, one task
//! per client connection serving HTTP/1 with upgrades, header limits and a header-read timeout,
//! each with its own engine connection. Shutdown reaches every loop through one `watch`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch, Mutex, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::blocks::Blocks;
use crate::digests::DigestSource;
use crate::facts::Protected;
use crate::filtered::FilteredSockets;
use crate::policy::PolicyStore;
use crate::upstream::{Upstream, UpstreamBody, UpstreamConn};
use crate::Limits;

/// Everything a request needs, shared by all connections of one enforcer.
pub struct Shared {
    pub upstream: Upstream,
    pub policy: Arc<PolicyStore>,
    pub digests: Arc<dyn DigestSource>,
    pub protected: Protected,
    pub filtered: FilteredSockets,
    pub blocks: Blocks,
    pub limits: Limits,
    pub permits: Arc<Semaphore>,
    pub shutdown: watch::Receiver<bool>,
    /// Held from the check of a create that judged named volumes until the engine has answered
    /// it, and around every volume create, remove and prune: a volume judged is the volume used.
    pub volumes: tokio::sync::Mutex<()>,
    /// Containers whose start the enforcer forwarded in audit mode, and when: the engine watch
    /// sees those starts too, and must not record them a second time as starts made behind the
    /// enforcer's back.
    pub audited_starts: std::sync::Mutex<HashMap<String, Instant>>,
}

/// How long a start forwarded in audit mode is known to the engine watch as the enforcer's own.
const AUDITED_START_MEMORY: Duration = Duration::from_secs(30);

impl Shared {
    /// Notes that the enforcer forwards the start of container `id` in audit mode.
    pub fn note_audited_start(&self, id: &str) {
        if let Ok(mut starts) = self.audited_starts.lock() {
            starts.retain(|_, at| at.elapsed() < AUDITED_START_MEMORY);
            starts.insert(id.to_owned(), Instant::now());
        }
    }

    /// Whether the enforcer itself forwarded a start of container `id` in audit mode just now.
    pub fn forwarded_audited_start(&self, id: &str) -> bool {
        self.audited_starts
            .lock()
            .map(|starts| {
                starts
                    .get(id)
                    .is_some_and(|at| at.elapsed() < AUDITED_START_MEMORY)
            })
            .unwrap_or(false)
    }
}

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

/// The engine connection of one client connection, dialled on first use and again whenever the
/// engine has dropped it. Its driver is handed to the client connection's task.
pub struct ConnUpstream {
    pub sender: Mutex<Option<SendRequest<UpstreamBody>>>,
    pub drivers: mpsc::UnboundedSender<UpstreamConn>,
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

/// Accepts on `listener` until shutdown, one task per connection.
pub fn spawn_listener(
    shared: Arc<Shared>,
    listener: UnixListener,
    origin: Origin,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut shutdown = shared.shutdown.clone();
        loop {
            // Waiting for a permit before accepting makes the cap push back on clients (they
            // queue in the kernel backlog) rather than accept and drop them.
            let permit = tokio::select! {
                p = shared.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = shutdown.changed() => return,
            };
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            let shared = shared.clone();
            let origin = origin.clone();
            let span = tracing::debug_span!("connection", socket = %match &origin {
                Origin::Main { path } | Origin::Filtered { path, .. } => path.clone(),
            });
            tokio::spawn(
                async move {
                    serve_connection(shared, stream, origin).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
    })
}

async fn serve_connection(shared: Arc<Shared>, stream: UnixStream, origin: Origin) {
    let peer = stream.peer_cred().ok().map(|c| Peer {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    });
    let (drivers_tx, mut drivers_rx) = mpsc::unbounded_channel();
    let upstream = Arc::new(ConnUpstream {
        sender: Mutex::new(None),
        drivers: drivers_tx,
    });
    let svc_shared = shared.clone();
    let service = service_fn(move |req| {
        let shared = svc_shared.clone();
        let origin = origin.clone();
        let upstream = upstream.clone();
        async move {
            Ok::<_, Infallible>(
                crate::service::handle(&shared, &origin, peer, &upstream, req).await,
            )
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .max_buf_size(shared.limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut drivers = FuturesUnordered::new();
    let mut shutdown = shared.shutdown.clone();
    // One wait for shutdown for the connection's life: made anew on every wake-up, it would
    // lock the watch's waiter list twice per request (seen in the c=32 profile, docs/perf).
    let shutdown = shutdown.changed();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "client connection ended");
                }
                return;
            }
            Some(r) = drivers.next(), if !drivers.is_empty() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "engine connection ended");
                }
            }
            Some(d) = drivers_rx.recv() => drivers.push(d),
            _ = &mut shutdown => break,
        }
    }
    conn.as_mut().graceful_shutdown();
    let drive = async {
        loop {
            tokio::select! {
                biased;
                _ = conn.as_mut() => return,
                Some(_) = drivers.next(), if !drivers.is_empty() => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drive).await;
}
