//! `GET /metrics` over loopback TCP or a unix socket: the enforcer's metrics for Prometheus.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::MetricsAddr;

/// What renders the metrics at each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A bound metrics listener.
pub enum Bound {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, std::path::PathBuf),
}

/// Binds `addr`; a unix socket is made readable by its group only, like the enforcer's own.
pub async fn bind(addr: &MetricsAddr) -> std::io::Result<Bound> {
    match addr {
        MetricsAddr::Tcp(a) => Ok(Bound::Tcp(tokio::net::TcpListener::bind(a).await?)),
        MetricsAddr::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let _ = std::fs::remove_file(path);
            let listener = tokio::net::UnixListener::bind(path)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
            Ok(Bound::Unix(listener, path.clone()))
        }
    }
}

/// Serves scrapes until `shutdown` completes; a unix socket is removed then.
pub async fn run(bound: Bound, render: Render, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    match bound {
        Bound::Tcp(listener) => {
            if let Ok(a) = listener.local_addr() {
                tracing::info!(addr = %a, "serving metrics");
            }
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            spawn_connection(stream, render.clone());
                        }
                    }
                    () = &mut shutdown => return,
                }
            }
        }
        Bound::Unix(listener, path) => {
            tracing::info!(socket = %path.display(), "serving metrics");
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            spawn_connection(stream, render.clone());
                        }
                    }
                    () = &mut shutdown => break,
                }
            }
            let _ = std::fs::remove_file(path);
        }
    }
}

fn spawn_connection<S>(stream: S, render: Render)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let service = service_fn(move |req: Request<Incoming>| {
            let render = render.clone();
            async move { Ok::<_, Infallible>(answer(&req, &render)) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
}

fn answer(req: &Request<Incoming>, render: &Render) -> Response<Full<Bytes>> {
    let mut resp = if req.method() == Method::GET && req.uri().path() == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(render())));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        r
    } else {
        Response::new(Full::new(Bytes::from_static(b"only GET /metrics\n")))
    };
    if req.method() != Method::GET || req.uri().path() != "/metrics" {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    resp
}
