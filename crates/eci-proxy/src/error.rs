//! Why a request is not forwarded as it came, and the one place where that becomes an HTTP answer
//! the docker CLI prints (`{"message": …}`, so it shows `Error response from daemon: …`).

use bytes::Bytes;
use eci_policy::decide::Denial;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// A request the enforcer answers itself.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The policy refuses it (socket mount, command list, unreadable request).
    #[error("{}", .0.message)]
    Denied(Denial),
    /// The engine could not be reached or dropped the connection.
    #[error("cannot reach the engine at {path}: {source}")]
    UpstreamUnavailable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the engine connection failed: {0}")]
    Upstream(#[from] hyper::Error),
    /// A fact the decision needs (image, container, volume) could not be read from the engine.
    #[error("cannot check the request: the engine answered {status} to {what}: {message}")]
    Facts {
        what: String,
        status: u16,
        message: String,
    },
    /// The engine answered a fact request with something of another shape than the one read.
    #[error("cannot check the request: the engine's answer to {endpoint} ({what}) has an unexpected shape: {source}")]
    EngineAnswer {
        endpoint: String,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// The engine's own answer, passed on unchanged (e.g. `No such image` on a create, so the CLI
    /// pulls and retries as it does without the enforcer).
    #[error("{message}")]
    Engine { status: u16, message: String },
    #[error("cannot create a filtered socket: {0}")]
    FilteredSocket(std::io::Error),
    #[error("the request URI is longer than {limit} bytes")]
    UriTooLong { limit: usize },
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        let code = match self {
            ProxyError::Denied(d) => d.status,
            ProxyError::UpstreamUnavailable { .. } | ProxyError::Upstream(_) => 502,
            ProxyError::Facts { .. } | ProxyError::EngineAnswer { .. } => 502,
            ProxyError::Engine { status, .. } => *status,
            ProxyError::FilteredSocket(_) => 500,
            ProxyError::UriTooLong { .. } => 414,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The answer to the client: the engine's error shape.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let body = serde_json::json!({ "message": self.to_string() }).to_string();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}
