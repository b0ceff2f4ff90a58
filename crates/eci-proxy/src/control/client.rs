//! The typed client of the control socket: what the desktop app uses when it attaches to a
//! running `eci-guard serve` instead of embedding an enforcer. One connection per request; the
//! event stream holds its own.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use eci_history::{Filter, Format, Page, QueryPage};
use eci_policy::settings::EciSection;
use eci_policy::validate::Diagnostic;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use super::api::*;
use crate::settings_files::{FileView, Target};

/// Why a control request failed: the daemon's answer, or no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon refused or failed the request (its `{code, message}`).
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot reach the enforcer's control socket {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the control socket's answer broke off: {0}")]
    Http(#[from] hyper::Error),
    #[error("the control socket answered something unexpected: {0}")]
    Decode(String),
}

/// A client of one control socket.
#[derive(Debug, Clone)]
pub struct ControlClient {
    path: PathBuf,
}

impl ControlClient {
    pub fn new(path: impl Into<PathBuf>) -> ControlClient {
        ControlClient { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a daemon answers on the socket now.
    pub async fn answers(&self) -> bool {
        self.status().await.is_ok()
    }

    pub async fn status(&self) -> Result<DaemonStatus, ClientError> {
        self.call(Method::GET, "/v1/status", None::<&()>).await
    }

    pub async fn settings(&self) -> Result<SettingsView, ClientError> {
        self.call(Method::GET, "/v1/settings", None::<&()>).await
    }

    pub async fn validate(
        &self,
        target: Target,
        section: &EciSection,
    ) -> Result<Vec<Diagnostic>, ClientError> {
        let r = SectionRequest {
            target,
            section: section.clone(),
        };
        self.call(Method::POST, "/v1/settings/validate", Some(&r))
            .await
    }

    pub async fn preview(
        &self,
        target: Target,
        section: &EciSection,
    ) -> Result<String, ClientError> {
        let r = SectionRequest {
            target,
            section: section.clone(),
        };
        self.call(Method::POST, "/v1/settings/preview", Some(&r))
            .await
    }

    pub async fn save(
        &self,
        target: Target,
        section: &EciSection,
        etag: &str,
    ) -> Result<FileView, ClientError> {
        let r = SaveRequest {
            target,
            section: section.clone(),
            etag: etag.to_owned(),
        };
        self.call(Method::PUT, "/v1/settings", Some(&r)).await
    }

    pub async fn history_query(
        &self,
        filter: &Filter,
        page: &Page,
    ) -> Result<QueryPage, ClientError> {
        let q = HistoryQuery {
            filter: filter.clone(),
            page: *page,
        };
        self.call(Method::POST, "/v1/history/query", Some(&q)).await
    }

    /// The number of exported rows and the export, CSV or JSON, as the daemon wrote it.
    pub async fn history_export(
        &self,
        filter: &Filter,
        format: Format,
    ) -> Result<(u64, Bytes), ClientError> {
        let r = ExportRequest {
            filter: filter.clone(),
            format,
        };
        let mut sender = self.connect().await?;
        let response = sender
            .send_request(request(Method::POST, "/v1/history/export", Some(&r))?)
            .await?;
        let status = response.status();
        let rows = response
            .headers()
            .get(super::server::ROWS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = response.into_body().collect().await?.to_bytes();
        match rows {
            Some(rows) if status.is_success() => Ok((rows, bytes)),
            _ if status.is_success() => Err(ClientError::Decode(
                "an export without its row count".into(),
            )),
            _ => Err(api_error(status, &bytes)),
        }
    }

    /// Audited rows since `since`, by kind.
    pub async fn history_audit_count(
        &self,
        since: eci_history::Timestamp,
    ) -> Result<eci_history::AuditCount, ClientError> {
        let r = AuditCountRequest { since };
        self.call(Method::POST, "/v1/history/audit-count", Some(&r))
            .await
    }

    pub async fn history_clear(&self) -> Result<u64, ClientError> {
        self.call(Method::DELETE, "/v1/history", None::<&()>).await
    }

    /// Every block and reload from now on, until the daemon stops or the receiver is dropped.
    /// Returns once the daemon has subscribed: what happens after this call is delivered.
    pub async fn events(&self) -> Result<mpsc::Receiver<ControlEvent>, ClientError> {
        let mut sender = self.connect().await?;
        let req = request(Method::GET, "/v1/events", None::<&()>)?;
        let response = sender.send_request(req).await?;
        if !response.status().is_success() {
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            return Err(api_error(status, &bytes));
        }
        let (tx, rx) = mpsc::channel(256);
        let mut body = response.into_body();
        tokio::spawn(async move {
            let _sender = sender;
            let mut pending: Vec<u8> = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                pending.extend_from_slice(&data);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    match serde_json::from_slice::<ControlEvent>(&line) {
                        Ok(event) => {
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "control: an event line was not understood")
                        }
                    }
                }
            }
        });
        Ok(rx)
    }

    async fn connect(
        &self,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.path)
            .await
            .map_err(|source| ClientError::Connect {
                path: self.path.clone(),
                source,
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "control client connection ended");
            }
        });
        Ok(sender)
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let mut sender = self.connect().await?;
        let response = sender.send_request(request(method, path, body)?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

fn request<B: Serialize>(
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?,
        None => Vec::new(),
    };
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "eci-guard")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| ClientError::Decode(e.to_string()))
}

fn api_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ApiError>(bytes) {
        Ok(e) => ClientError::Api(e),
        Err(_) => ClientError::Decode(format!(
            "{status}: {}",
            String::from_utf8_lossy(bytes)
                .chars()
                .take(200)
                .collect::<String>()
        )),
    }
}
