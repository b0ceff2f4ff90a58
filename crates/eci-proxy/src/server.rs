//! Listeners and connections: unix sockets accepted under a connection cap, one task per client
//! connection serving HTTP/1 with upgrades, header limits and a header-read timeout, each with its
//! own engine connection. Shutdown reaches every loop through one `watch`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::filtered::Listen;
use crate::shared::Shared;
use crate::socket::{Origin, Peer};
use crate::upstream::ConnUpstream;
use crate::Limits;

/// The filtered sockets are served like the main ones, by the enforcer that owns them.
impl Listen for Arc<Shared> {
    fn listen(&self, listener: UnixListener, origin: Origin) -> JoinHandle<()> {
        spawn_listener(self.clone(), listener, origin)
    }
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
            // The permit is waited for after the accept, holding that one connection: the next
            // ones queue in the kernel backlog, so the cap pushes back on clients. A listener
            // never holds a permit while it waits for a connection: with one per container's
            // filtered socket, idle listeners would take every permit and lock every client
            // out (1,024 containers with a socket mount at the default cap).
            let permit = tokio::select! {
                p = shared.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
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

/// The credentials of the process at the other end of `stream`, when the kernel tells them.
fn peer_of(stream: &UnixStream) -> Option<Peer> {
    stream.peer_cred().ok().map(|c| Peer {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// HTTP/1 for a client connection: keep-alive, bounded headers read within a timeout.
fn http1_builder(limits: &Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
}

async fn serve_connection(shared: Arc<Shared>, stream: UnixStream, origin: Origin) {
    let peer = peer_of(&stream);
    let upstream = Arc::new(ConnUpstream::default());
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
    let conn = http1_builder(&shared.limits)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "client connection ended");
            }
            return;
        }
        _ = shutdown.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
}
