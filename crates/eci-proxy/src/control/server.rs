//! The control socket's server: a local HTTP/JSON API on a unix socket (mode 0660, the group of
//! whoever may use it) over a running enforcer, its history and its settings files. Reads for
//! any peer that can connect; writes only for a peer that may write the file (the admin file for
//! admin saves and history clears), checked and written with the peer's own credentials
//! ([`super::peer`]), so the kernel decides.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::*;
use super::peer::{as_peer, peer_of, AsPeerError, Peer};
use crate::settings_files::{self as files, Mode, Target};
use crate::{Enforcer, EnforcerConfig};

/// The number of rows of an export, beside its bytes.
pub const ROWS_HEADER: &str = "x-eci-guard-rows";

/// Largest request body (a settings section or a history filter).
const MAX_BODY: usize = 4 << 20;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Where the control socket listens and who may connect.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub path: PathBuf,
    /// The socket file's group (mode 0660); `None` keeps the process's group.
    pub group: Option<u32>,
}

/// A running control server; stops with [`ControlServer::stop`] or when dropped.
pub struct ControlServer {
    path: PathBuf,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

struct Ctx {
    enforcer: Arc<crate::shared::Shared>,
    config: EnforcerConfig,
    history: Arc<eci_history::History>,
    save_lock: tokio::sync::Mutex<()>,
}

impl Enforcer {
    /// Serves the control socket for this enforcer and `history` until stopped.
    pub fn serve_control(
        &self,
        control: &ControlConfig,
        history: Arc<eci_history::History>,
    ) -> std::io::Result<ControlServer> {
        if let Some(parent) = control.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let listener = crate::socket::bind_socket(&control.path, false)?;
        if let Some(gid) = control.group {
            std::os::unix::fs::chown(&control.path, None, Some(gid))?;
        }
        let ctx = Arc::new(Ctx {
            enforcer: self.shared.clone(),
            config: self.config.clone(),
            history,
            save_lock: tokio::sync::Mutex::new(()),
        });
        let (shutdown, rx) = watch::channel(false);
        tracing::info!(socket = %control.path.display(), "serving the control socket");
        let task = tokio::spawn(accept(ctx, listener, rx));
        Ok(ControlServer {
            path: control.path.clone(),
            shutdown,
            task: Some(task),
        })
    }
}

impl ControlServer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, ends the connections (event streams included), removes the socket.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            let _ = self.shutdown.send(true);
            task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn accept(ctx: Arc<Ctx>, listener: UnixListener, mut shutdown: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        connections.spawn(connection(ctx.clone(), stream, shutdown.clone()));
    }
    connections.shutdown().await;
}

async fn connection(ctx: Arc<Ctx>, stream: UnixStream, mut shutdown: watch::Receiver<bool>) {
    let Some(peer) = peer_of(&stream) else {
        tracing::warn!("control: a client without credentials was refused");
        return;
    };
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(respond(&ctx, &peer, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "control connection ended");
            }
        }
        _ = shutdown.changed() => {}
    }
}

async fn respond(ctx: &Ctx, peer: &Peer, req: Request<Incoming>) -> Response<Body> {
    let route = (req.method().clone(), req.uri().path().to_owned());
    let result = match (&route.0, route.1.as_str()) {
        (&Method::GET, "/v1/status") => Ok(json(&status(ctx).await)),
        (&Method::GET, "/v1/settings") => settings(ctx, peer).await.map(|v| json(&v)),
        (&Method::POST, "/v1/settings/validate") => match body::<SectionRequest>(req).await {
            Ok(r) => validate(ctx, r).await.map(|v| json(&v)),
            Err(e) => Err(e),
        },
        (&Method::POST, "/v1/settings/preview") => match body::<SectionRequest>(req).await {
            Ok(r) => preview(ctx, r).await.map(|v| json(&v)),
            Err(e) => Err(e),
        },
        (&Method::PUT, "/v1/settings") => match body::<SaveRequest>(req).await {
            Ok(r) => save(ctx, peer, r).await.map(|v| json(&v)),
            Err(e) => Err(e),
        },
        (&Method::POST, "/v1/history/query") => match body::<HistoryQuery>(req).await {
            Ok(q) => {
                let history = ctx.history.clone();
                blocking(move || Ok(history.query(&q.filter, &q.page)?))
                    .await
                    .map(|v| json(&v))
            }
            Err(e) => Err(e),
        },
        (&Method::POST, "/v1/history/audit-count") => match body::<AuditCountRequest>(req).await {
            Ok(r) => {
                let history = ctx.history.clone();
                blocking(move || Ok(history.audited_since(r.since)?))
                    .await
                    .map(|v| json(&v))
            }
            Err(e) => Err(e),
        },
        (&Method::POST, "/v1/history/export") => match body::<ExportRequest>(req).await {
            Ok(r) => export(ctx, r).await,
            Err(e) => Err(e),
        },
        (&Method::DELETE, "/v1/history") => clear(ctx, peer).await.map(|v| json(&v)),
        (&Method::GET, "/v1/events") => Ok(events(ctx)),
        _ => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no such control request: {} {}", route.0, route.1),
        )),
    };
    result.unwrap_or_else(|e| {
        let mut r = json(&e);
        *r.status_mut() = e.status();
        r
    })
}

fn json<T: Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder()
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)).boxed())
            .unwrap_or_default(),
        Err(e) => {
            let mut r = Response::new(Full::new(Bytes::from(e.to_string())).boxed());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::new(ErrorKind::Invalid, format!("cannot read the request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorKind::Invalid, format!("malformed request: {e}")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("a worker failed: {e}")))?
}

/// Whether the kernel lets `peer` write `path` (or create it), asked as the peer.
fn peer_may_write(peer: &Peer, path: &Path) -> Result<bool, ApiError> {
    let path = path.to_owned();
    Ok(as_peer(peer, move || files::may_write(&path))?)
}

impl From<AsPeerError> for ApiError {
    fn from(e: AsPeerError) -> ApiError {
        let code = match e {
            AsPeerError::CannotSwitch { .. } | AsPeerError::Switch { .. } => ErrorKind::Forbidden,
            AsPeerError::Panicked { .. } => ErrorKind::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

fn admin_path(ctx: &Ctx) -> PathBuf {
    ctx.config
        .settings
        .admin
        .clone()
        .unwrap_or_else(crate::ServeConfig::default_admin_settings)
}

fn user_path(ctx: &Ctx) -> PathBuf {
    ctx.config
        .settings
        .user
        .clone()
        .unwrap_or_else(crate::ServeConfig::default_user_settings)
}

fn path_of(ctx: &Ctx, target: Target) -> PathBuf {
    match target {
        Target::Admin => admin_path(ctx),
        Target::User => user_path(ctx),
    }
}

async fn status(ctx: &Ctx) -> DaemonStatus {
    DaemonStatus {
        enforcer: crate::status_of(&ctx.enforcer, &ctx.config).await,
        history: ctx.history.status(),
    }
}

async fn settings(ctx: &Ctx, peer: &Peer) -> Result<SettingsView, ApiError> {
    let (admin_path, user_path) = (admin_path(ctx), user_path(ctx));
    let peer = peer.clone();
    let (admin, user, mode) = blocking(move || {
        let admin_writable = peer_may_write(&peer, &admin_path)?;
        let admin = files::read_view(&admin_path, admin_writable)?;
        let user_writable = peer_may_write(&peer, &user_path)?;
        let user = files::read_view(&user_path, user_writable)?;
        let mode = if admin_writable {
            Mode::Admin
        } else {
            Mode::User
        };
        Ok((admin, user, mode))
    })
    .await?;
    SettingsView::new(mode, admin, user, &ctx.enforcer.policy.snapshot())
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))
}

async fn validate(
    ctx: &Ctx,
    r: SectionRequest,
) -> Result<Vec<eci_policy::validate::Diagnostic>, ApiError> {
    let path = path_of(ctx, r.target);
    let view = blocking(move || Ok(files::read_view(&path, false)?)).await?;
    Ok(eci_policy::validate::validate_section(
        &r.section,
        view.mount_key,
    ))
}

async fn preview(ctx: &Ctx, r: SectionRequest) -> Result<String, ApiError> {
    let path = path_of(ctx, r.target);
    blocking(move || Ok(files::render(&path, &r.section)?.0)).await
}

/// A save: the peer must be allowed to write the file itself, and a user save must not be
/// locked out by the admin file.
async fn save(ctx: &Ctx, peer: &Peer, r: SaveRequest) -> Result<files::FileView, ApiError> {
    let path = path_of(ctx, r.target);
    let (check, asking) = (path.clone(), peer.clone());
    let allowed = blocking(move || peer_may_write(&asking, &check)).await?;
    if !allowed {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "only whoever can write {} can change it; the control socket does not write it \
                 for you",
                path.display()
            ),
        ));
    }
    if r.target == Target::User {
        let admin_path = admin_path(ctx);
        let admin = blocking(move || Ok(files::read_view(&admin_path, false)?)).await?;
        if admin.locks_eci() {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "locked by your administrator: the ECI settings cannot be changed here",
            ));
        }
    }
    let _one_at_a_time = ctx.save_lock.lock().await;
    let peer = peer.clone();
    // Written as the peer: the check above gives the message, this is what decides.
    blocking(move || {
        as_peer(&peer, move || {
            files::save(&path, &r.section, &r.etag)?;
            Ok(files::read_view(&path, true)?)
        })?
    })
    .await
}

async fn export(ctx: &Ctx, r: ExportRequest) -> Result<Response<Body>, ApiError> {
    let history = ctx.history.clone();
    let (rows, bytes) = blocking(move || {
        let mut out = Vec::new();
        let rows = history.export(&r.filter, r.format, &mut out)?;
        Ok((rows, out))
    })
    .await?;
    Ok(Response::builder()
        .header(ROWS_HEADER, rows)
        .body(Full::new(Bytes::from(bytes)).boxed())
        .unwrap_or_default())
}

async fn clear(ctx: &Ctx, peer: &Peer) -> Result<u64, ApiError> {
    let (admin, peer) = (admin_path(ctx), peer.clone());
    let allowed = blocking(move || peer_may_write(&peer, &admin)).await?;
    if !allowed {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only an administrator (who can write the admin settings) can clear the history",
        ));
    }
    let history = ctx.history.clone();
    blocking(move || Ok(history.clear()?)).await
}

/// `GET /v1/events`: one JSON line per committed block or reload, from now on, until the
/// client goes away or the server stops.
fn events(ctx: &Ctx) -> Response<Body> {
    use tokio::sync::broadcast::error::RecvError;
    let blocks = ctx.history.subscribe();
    let reloads = ctx.enforcer.policy.subscribe();
    let stream = futures_util::stream::unfold((blocks, reloads), |(mut b, mut r)| async move {
        loop {
            let event = tokio::select! {
                block = b.recv() => match block {
                    Ok(block) => ControlEvent::Blocked(Box::new(block)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                reload = r.recv() => match reload {
                    Ok(reload) => ControlEvent::Reload(reload),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            };
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            return Some((Bytes::from(line), (b, r)));
        }
    });
    let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(BodyExt::boxed(body))
        .unwrap_or_default()
}
