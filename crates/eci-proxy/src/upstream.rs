//! The engine's socket: one HTTP/1 connection dialled per client connection (and again after the
//! engine drops it, so an engine restart never wedges a client), plus short requests of our own
//! to read the facts a decision needs, over pooled keep-alive connections.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::UnixStream;

use crate::engine_pool::{self, EnginePool};
use crate::error::ProxyError;

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

#[derive(Debug, Clone)]
pub struct Upstream {
    path: PathBuf,
    /// Keep-alive connections for our own requests: a fresh connection per fact was about 15%
    /// of an allowed create's CPU (docs/perf, finding 8).
    pool: EnginePool,
}

impl Upstream {
    pub fn new(path: impl Into<PathBuf>) -> Upstream {
        let path = path.into();
        Upstream {
            pool: engine_pool::new(&path),
            path,
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
        let stream = UnixStream::connect(&self.path)
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
    /// [`crate::service::ConnUpstream`]).
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
            // The pool needs an authority to key connections by; it also becomes the Host.
            let uri: Uri = format!("http://docker{target}")
                .parse()
                .map_err(|e| self.unavailable(std::io::Error::other(e)))?;
            // Names the enforcer's own questions apart from the clients' requests it relays
            // (in the engine's view, and for the tests' stalling relay).
            let mut req = Request::builder()
                .method(method)
                .uri(uri)
                .header(header::USER_AGENT, OWN_USER_AGENT);
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let req = req
                .body(Full::new(body.unwrap_or_default()))
                .map_err(|e| self.unavailable(std::io::Error::other(e)))?;
            let resp = self
                .pool
                .request(req)
                .await
                .map_err(|e| self.pool_error(&e))?;
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
}
