//! Keep-alive engine connections for the enforcer's own short requests (the facts a decision
//! reads, the engine watch's kills), pooled by hyper-util's client over the engine's unix socket.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::UnixStream;

/// Idle connections kept per enforcer: enough for the facts of a few concurrent requests; more
/// concurrent ones dial and their extra connections close when done.
const MAX_IDLE: usize = 8;
/// An idle connection is closed after this long, so a quiet enforcer holds none of the engine's.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Pooled requests with whole bodies. Only connections are reused, never answers: every fact is
/// read from the engine at the time it is asked for.
pub type EnginePool = Client<UnixConnector, Full<Bytes>>;

/// The pool over the engine socket at `path`.
pub fn new(path: &Path) -> EnginePool {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(MAX_IDLE)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(UnixConnector {
            path: Arc::from(path),
        })
}

/// Dials the engine socket whatever the URI says (the pool keys every connection by the one
/// authority of the URIs built for it).
#[derive(Debug, Clone)]
pub struct UnixConnector {
    path: Arc<Path>,
}

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.path.clone();
        Box::pin(async move { Ok(TokioIo::new(UnixStream::connect(&*path).await?)) })
    }
}
