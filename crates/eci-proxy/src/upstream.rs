//! The engine's socket: one HTTP/1 connection dialled per client connection (and again after the
//! engine drops it, so an engine restart never wedges a client), which also carries the facts
//! that connection's decisions read; the enforcer's other requests of its own (the engine
//! watch's, `explain`'s) go over pooled keep-alive connections.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::Mutex;

use crate::engine_pool::{self, EnginePool};
use crate::error::ProxyError;

/// The engine connection of one client connection, dialled on first use and again whenever the
/// engine has dropped it. It carries that client's requests and, before each is forwarded, the
/// facts its decision reads (the connection is idle then: HTTP/1 serves one request at a time).
/// It is driven by a task of its own, not by the client connection's: polled there, each
/// hand-off between the two (the request sent, the answer back) woke the very task being
/// polled, which tokio reschedules as a yield and hands to the other worker (two wake-ups and
/// 30 µs more per request at c=1 than a task of its own, docs/perf finding 16). It ends with the
/// client connection, when its sender is dropped.
#[derive(Default)]
pub struct ConnUpstream {
    sender: Mutex<Option<SendRequest<UpstreamBody>>>,
}

impl ConnUpstream {
    /// Sends `req` over this connection, dialled first when there is none or the engine closed
    /// it. A request the engine never got (the connection closed under it before it was
    /// written) is sent once more over a fresh connection.
    ///
    /// The next request waits (in `ready`) until the answer to this one has been read to its
    /// end: whoever sends one must read or drop its answer before sending another over the same
    /// connection, or both wait for good.
    pub async fn send(
        &self,
        upstream: &Upstream,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let mut slot = self.sender.lock().await;
        let alive = match slot.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let sender = match slot.take() {
            Some(s) if alive => slot.insert(s),
            _ => slot.insert(upstream.dial().await?),
        };
        match sender.try_send_request(req).await {
            Ok(resp) => Ok(resp),
            Err(mut e) => match e.take_message() {
                Some(req) => {
                    let sender = slot.insert(upstream.dial().await?);
                    Ok(sender.send_request(req).await?)
                }
                None => Err(e.into_error().into()),
            },
        }
    }
}

/// The body of a request sent to the engine: the client's own stream, or a body we rewrote.
pub type UpstreamBody = Either<Incoming, Full<Bytes>>;

/// A connection to the engine, to be polled by its owner.
pub type UpstreamConn = http1::Connection<TokioIo<UnixStream>, UpstreamBody>;

/// Largest engine answer read for a fact (an inspect); real ones are a few KiB.
const FACT_LIMIT: usize = 8 << 20;
/// A fact request that takes longer than this means a wedged engine; fail closed.
const FACT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `User-Agent` of the enforcer's own requests to the engine.
pub const OWN_USER_AGENT: &str = "eci-guard";

/// The send buffer asked for on each engine connection.
const SEND_BUFFER: usize = 1 << 20;

#[derive(Clone)]
pub struct Upstream {
    path: Arc<PathBuf>,
    /// Keep-alive connections for our own requests: a fresh connection per fact was about 15%
    /// of an allowed create's CPU (docs/perf, finding 8).
    pool: EnginePool,
    /// The engine connection of the client connection whose request is being judged: its facts
    /// go over it instead of the pool (see [`Upstream::over`]).
    line: Option<Arc<ConnUpstream>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("path", &self.path)
            .field("line", &self.line.is_some())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub fn new(path: impl Into<PathBuf>) -> Upstream {
        let path = path.into();
        Upstream {
            pool: engine_pool::new(&path),
            path: Arc::new(path),
            line: None,
        }
    }

    /// This engine with its facts read over `line`, a client connection's engine connection,
    /// idle while that connection's request is judged. Over the pool, each fact cost the
    /// pool's own tasks and a hand-off to the other worker and back: about 45 µs of latency
    /// and 40 µs of CPU more per allowed create than over the line (docs/perf, finding 18).
    pub fn over(&self, line: &Arc<ConnUpstream>) -> Upstream {
        Upstream {
            line: Some(line.clone()),
            ..self.clone()
        }
    }

    fn unavailable(&self, source: std::io::Error) -> ProxyError {
        ProxyError::UpstreamUnavailable {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// A fresh HTTP/1 connection to the engine and the future that drives it, for the caller
    /// to poll or spawn.
    pub async fn connect(&self) -> Result<(SendRequest<UpstreamBody>, UpstreamConn), ProxyError> {
        let stream = UnixStream::connect(self.path.as_path())
            .await
            .map_err(|e| self.unavailable(e))?;
        // A unix socket's send buffer bounds the bytes in flight to the engine: the default
        // (about 208 KiB) costs a wake-up per 208 KiB of an image load or a build context. The
        // kernel caps the size at net.core.wmem_max and allocates only what is in flight.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&stream, SEND_BUFFER);
        Ok(http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?)
    }

    /// A fresh HTTP/1 connection to the engine driven by a task of its own, with upgrades
    /// enabled so attach, exec and BuildKit sessions can be spliced once the engine answers 101.
    /// A client connection's kept-alive engine connection is one of these too (see
    /// [`ConnUpstream`]).
    pub async fn dial(&self) -> Result<SendRequest<UpstreamBody>, ProxyError> {
        let (sender, conn) = self.connect().await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "engine connection ended");
            }
        });
        Ok(sender)
    }

    /// Sends one request of our own over a pooled connection and reads the whole answer (a JSON
    /// `body` when given). A connection goes back to the pool only once its answer was read to
    /// the end; one abandoned midway (timeout, limit) is closed.
    async fn call(
        &self,
        method: Method,
        target: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ProxyError> {
        let fut = async {
            // Names the enforcer's own questions apart from the clients' requests it relays
            // (in the engine's view, and for the tests' stalling relay).
            let mut req = Request::builder()
                .method(method)
                .header(header::USER_AGENT, OWN_USER_AGENT);
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let body = Full::new(body.unwrap_or_default());
            let resp = match &self.line {
                Some(line) => {
                    let req = req
                        .uri(target)
                        .header(header::HOST, HeaderValue::from_static("docker"))
                        .body(Either::Right(body))
                        .map_err(|e| self.unavailable(std::io::Error::other(e)))?;
                    line.send(self, req).await.map_err(|e| match e {
                        ProxyError::Upstream(e) => self.unavailable(std::io::Error::other(e)),
                        other => other,
                    })?
                }
                None => {
                    // The pool needs an authority to key connections by; it also becomes the
                    // Host.
                    let req = req
                        .uri(format!("http://docker{target}"))
                        .body(body)
                        .map_err(|e| self.unavailable(std::io::Error::other(e)))?;
                    self.pool
                        .request(req)
                        .await
                        .map_err(|e| self.pool_error(&e))?
                }
            };
            let status = resp.status();
            let body = http_body_util::Limited::new(resp.into_body(), FACT_LIMIT)
                .collect()
                .await
                .map_err(|e| self.unavailable(std::io::Error::other(e)))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(FACT_TIMEOUT, fut)
            .await
            .map_err(|_| self.unavailable(std::io::ErrorKind::TimedOut.into()))?
    }

    /// A pooled request that failed (connect, send, a connection closed under it): the engine
    /// is unavailable, with the causes as the reason.
    fn pool_error(&self, e: &hyper_util::client::legacy::Error) -> ProxyError {
        let mut causes = Vec::new();
        let mut kind = std::io::ErrorKind::Other;
        let mut next = std::error::Error::source(e);
        while let Some(cause) = next {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                kind = io.kind();
            }
            causes.push(cause.to_string());
            next = cause.source();
        }
        let reason = if causes.is_empty() {
            e.to_string()
        } else {
            causes.join(": ")
        };
        self.unavailable(std::io::Error::new(kind, reason))
    }

    /// `POST target` of our own (an action, not a fact): its status and whole answer.
    pub async fn post(
        &self,
        target: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ProxyError> {
        self.call(Method::POST, target, body).await
    }

    /// `GET target` as untyped JSON, expecting 200: for answers no decision reads (the engine's
    /// version).
    pub async fn get(&self, target: &str, what: &str) -> Result<Value, ProxyError> {
        self.fetch(target, what).await
    }

    /// `GET target`, expecting 200, read as `T`; anything else is a [`ProxyError::Facts`] (404
    /// included: the caller decides what a missing object means by calling
    /// [`Upstream::fetch_optional`]), an answer `T` cannot read a [`ProxyError::EngineAnswer`].
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        target: &str,
        what: &str,
    ) -> Result<T, ProxyError> {
        match self.fetch_optional(target, what).await? {
            Some(v) => Ok(v),
            None => Err(ProxyError::Facts {
                what: what.to_owned(),
                status: 404,
                message: "not found".to_owned(),
            }),
        }
    }

    /// `GET target` read as `T`: `Some` on 200, `None` on 404, an error otherwise.
    pub async fn fetch_optional<T: DeserializeOwned>(
        &self,
        target: &str,
        what: &str,
    ) -> Result<Option<T>, ProxyError> {
        let (status, body) = self.call(Method::GET, target, None).await?;
        match status {
            StatusCode::OK => {
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|source| ProxyError::EngineAnswer {
                        endpoint: format!("GET {target}"),
                        what: what.to_owned(),
                        source,
                    })
            }
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(ProxyError::Facts {
                what: what.to_owned(),
                status: s.as_u16(),
                message: engine_message(&serde_json::from_slice(&body).unwrap_or(Value::Null)),
            }),
        }
    }
}

/// The `message` of an engine error body.
pub fn engine_message(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Percent-encodes one path segment (an image name or id) for a target we build ourselves.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else if b == b'/' {
            // Image names hold slashes and the engine's image routes take them unescaped
            // (`/images/{name:.*}/json`).
            out.push('/');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::service::service_fn;
    use tokio::net::UnixListener;

    /// A stand-in for the engine on a unix socket: it answers every request 200 with `body`.
    fn answering(body: &'static str) -> (tempfile::TempDir, Upstream) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = service_fn(move |_| async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(body.as_bytes()),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), answer),
                );
            }
        });
        (dir, Upstream::new(path))
    }

    #[tokio::test]
    async fn an_answer_of_another_shape_is_an_error_naming_its_endpoint() {
        let target = "/containers/abc/json";
        for body in [r#"{"Id": 5}"#, "not json", ""] {
            let (_dir, upstream) = answering(body);
            let err = upstream
                .fetch_optional::<crate::inspect::Container>(target, "container \"abc\"")
                .await
                .unwrap_err();
            assert!(
                matches!(err, ProxyError::EngineAnswer { .. }),
                "{body}: {err}"
            );
            assert_eq!(err.status(), StatusCode::BAD_GATEWAY, "{body}");
            let text = err.to_string();
            assert!(text.contains("GET /containers/abc/json"), "{body}: {text}");
        }
        let (_dir, upstream) = answering(r#"{"Id": "abc", "Unknown": [1]}"#);
        let read = upstream
            .fetch::<crate::inspect::Container>(target, "container \"abc\"")
            .await
            .unwrap();
        assert_eq!(read.id, "abc");
    }

    /// What a stand-in engine saw: per request, the connection it came on (numbered in order of
    /// accept), its target and its `User-Agent`.
    type Seen = Arc<std::sync::Mutex<Vec<(usize, String, String)>>>;

    /// A stand-in for the engine that records each request and answers 200 `{"Id":"x"}`,
    /// closing each connection after its answer when `close` is set (as an engine restarting
    /// would between two requests).
    fn recording(close: bool) -> (tempfile::TempDir, Upstream, Seen) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                n += 1;
                let log = log.clone();
                let answer = service_fn(move |req: Request<Incoming>| {
                    let agent = req
                        .headers()
                        .get(header::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    log.lock().unwrap().push((n, req.uri().to_string(), agent));
                    async move {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(br#"{"Id":"x"}"#),
                        )))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(!close)
                        .serve_connection(TokioIo::new(stream), answer),
                );
            }
        });
        (dir, Upstream::new(path), seen)
    }

    fn forwarded(target: &str) -> Request<UpstreamBody> {
        Request::builder()
            .uri(target)
            .header(header::HOST, "docker")
            .body(Either::Right(Full::new(Bytes::new())))
            .unwrap()
    }

    /// What a judged request does: a fact read over `line`, then the request forwarded on it and
    /// its answer read.
    async fn fact_then_forward(upstream: &Upstream, line: &Arc<ConnUpstream>) {
        upstream
            .over(line)
            .fetch::<crate::inspect::Container>("/containers/x/json", "container")
            .await
            .unwrap();
        let resp = line
            .send(upstream, forwarded("/containers/create"))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.into_body().collect().await.unwrap();
    }

    /// A request's facts go over its client connection's own engine connection, in turn with
    /// the requests forwarded on it; the enforcer's other facts go over the pool.
    #[tokio::test]
    async fn a_requests_facts_go_over_its_client_connections_engine_connection() {
        let (_dir, upstream, seen) = recording(false);
        let line = Arc::new(ConnUpstream::default());
        for _ in 0..2 {
            fact_then_forward(&upstream, &line).await;
        }
        upstream
            .fetch::<crate::inspect::Container>("/containers/y/json", "container")
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        let on_line: Vec<_> = seen.iter().filter(|(n, _, _)| *n == seen[0].0).collect();
        assert_eq!(on_line.len(), 4, "{seen:?}");
        assert_eq!(
            on_line
                .iter()
                .map(|(_, t, _)| t.as_str())
                .collect::<Vec<_>>(),
            [
                "/containers/x/json",
                "/containers/create",
                "/containers/x/json",
                "/containers/create"
            ]
        );
        assert_eq!(on_line[0].2, OWN_USER_AGENT);
        let last = seen.last().unwrap();
        assert_eq!(last.1, "/containers/y/json");
        assert_ne!(last.0, seen[0].0, "the pool's own connection: {seen:?}");
    }

    /// An engine that closes the connection after each answer (as one restarting between two
    /// requests does): each fact and each forwarded request still gets its answer, over a
    /// connection dialled again.
    #[tokio::test]
    async fn a_closed_engine_connection_is_dialled_again_for_facts_and_forwards() {
        let (_dir, upstream, seen) = recording(true);
        let line = Arc::new(ConnUpstream::default());
        for _ in 0..20 {
            fact_then_forward(&upstream, &line).await;
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 40);
        let connections: std::collections::HashSet<usize> = seen.iter().map(|s| s.0).collect();
        assert_eq!(connections.len(), 40, "one connection per answer: {seen:?}");
    }
}
