//! The proxy layer alone, in front of a small upstream on a unix socket that records what reaches
//! it: each request of a kept-alive connection is judged, limits and the header timeout hold, the
//! connection cap holds, upgrades splice with half-close, bodies stream both ways unbuffered.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests};
use eci_policy::reference::{Digest, ImageEntry, Repository};
use eci_proxy::{DigestSource, Enforcer, EnforcerConfig, Limits, SettingsPaths};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

struct NoDigests;

impl DigestFacts for NoDigests {
    fn entry_digests(&self, _: &ImageEntry) -> EntryDigests {
        EntryDigests::Unavailable("none in this test".into())
    }
    fn any_tag(&self, _: &Repository, _: &Digest, _: &str) -> AnyTagFact {
        AnyTagFact::Mismatch
    }
}

impl DigestSource for NoDigests {}

type Seen = Arc<Mutex<Vec<(String, String, usize)>>>;

/// A channel-fed body, so the upstream can send a response slowly.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type UpBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

async fn upstream_service(
    seen: Seen,
    mut req: Request<Incoming>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    if req.headers().contains_key(hyper::header::UPGRADE) {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(up) = on.await else { return };
            let mut io = TokioIo::new(up);
            let mut got = Vec::new();
            let _ = io.read_to_end(&mut got).await;
            let _ = io.write_all(&got).await;
            let _ = io.write_all(b"BYE").await;
            let _ = io.shutdown().await;
        });
        seen.lock().unwrap().push((method, path, 0));
        let resp = Response::builder()
            .status(101)
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp")
            .body(http_body_util::Either::Left(Full::new(Bytes::new())))
            .unwrap();
        return Ok(resp);
    }
    let len = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().len())
        .unwrap_or(0);
    seen.lock().unwrap().push((method, path.clone(), len));
    if path.ends_with("/logs") {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _ = tx.send(Bytes::from_static(b"first\n")).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let _ = tx.send(Bytes::from_static(b"second\n")).await;
        });
        return Ok(Response::new(http_body_util::Either::Right(ChannelBody(
            rx,
        ))));
    }
    let body = if path.ends_with("/containers/json") {
        "[]".to_owned()
    } else {
        format!("{len}")
    };
    Ok(Response::new(http_body_util::Either::Left(Full::new(
        Bytes::from(body),
    ))))
}

struct Rig {
    rt: Runtime,
    enforcer: Option<Enforcer>,
    _dir: tempfile::TempDir,
    listen: PathBuf,
    upstream: PathBuf,
    seen: Seen,
}

impl Rig {
    fn start(limits: Limits) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("engine.sock");
        let listen = dir.path().join("guard.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen: Seen = Arc::default();
        let listener = rt
            .block_on(async { tokio::net::UnixListener::bind(&up) })
            .unwrap();
        // A group of its own, as the engine's `docker` group, to see ours follow it.
        std::os::unix::fs::chown(&up, None, Some(1)).unwrap();
        let s2 = seen.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = s2.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |r| upstream_service(seen.clone(), r));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        let config = EnforcerConfig {
            listen: vec![listen.clone()],
            upstream: up.clone(),
            settings: SettingsPaths {
                admin: None,
                user: None,
            },
            state_dir: dir.path().join("state"),
            protect: vec![],
            limits,
            watch_settings: false,
        };
        let enforcer = rt
            .block_on(Enforcer::start(config, Arc::new(NoDigests), None))
            .unwrap();
        Rig {
            rt,
            enforcer: Some(enforcer),
            _dir: dir,
            listen,
            upstream: up,
            seen,
        }
    }

    /// Requests that reached the upstream (the enforcer's own restore and event requests left out).
    fn forwarded(&self) -> Vec<(String, String, usize)> {
        let own: HashSet<&str> = ["/containers/json", "/events"].into_iter().collect();
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| !own.contains(p.as_str()))
            .cloned()
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(e) = self.enforcer.take() {
            self.rt.block_on(e.stop());
        }
    }
}

fn connect(p: &Path) -> StdStream {
    let s = StdStream::connect(p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response (head and a Content-Length body); returns the status and body.
fn read_response(s: &mut StdStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return (0, String::from_utf8_lossy(&buf).into_owned());
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn the_listening_socket_is_0660_with_the_engine_socket_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let rig = Rig::start(Limits::default());
    let meta = std::fs::metadata(&rig.listen).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let engine = std::fs::metadata(&rig.upstream).unwrap();
    assert_eq!(meta.gid(), engine.gid());
}

#[test]
fn every_request_of_a_kept_alive_connection_is_judged() {
    let rig = Rig::start(Limits::default());
    let mut s = connect(&rig.listen);
    // (request, status): unknown routes and non-canonical paths never reach the engine.
    let cases: &[(&str, u16)] = &[
        ("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", 200),
        (
            "GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\n",
            200,
        ),
        ("GET /nope HTTP/1.1\r\nHost: d\r\n\r\n", 404),
        ("GET //containers/json HTTP/1.1\r\nHost: d\r\n\r\n", 400),
        (
            "GET /containers/%2e%2e/json HTTP/1.1\r\nHost: d\r\n\r\n",
            400,
        ),
        // Fold-duplicate keys: the engine would take the last, a naive reader the first.
        (
            "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 25\r\n\r\n{\"Image\":\"a\",\"image\":\"b\"}",
            400,
        ),
        ("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", 200),
    ];
    for (req, want) in cases {
        s.write_all(req.as_bytes()).unwrap();
        let (status, body) = read_response(&mut s);
        assert_eq!(status, *want, "{req:?}: {body}");
        if *want >= 400 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["message"].is_string(), "{body}");
        }
    }
    let paths: Vec<String> = rig.forwarded().into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(paths, ["/_ping", "/v1.41/containers/json", "/_ping"]);
}

#[test]
fn limits_hold() {
    let rig = Rig::start(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    // A long URI.
    let mut s = connect(&rig.listen);
    let long = format!(
        "GET /containers/json?x={} HTTP/1.1\r\nHost: d\r\n\r\n",
        "a".repeat(1 << 20)
    );
    s.write_all(long.as_bytes()).unwrap();
    assert_eq!(read_response(&mut s).0, 414);
    // A huge header block.
    let mut s = connect(&rig.listen);
    let huge = format!(
        "GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2 << 20)
    );
    let _ = s.write_all(huge.as_bytes());
    let status = read_response(&mut s).0;
    assert!(status == 431 || status == 0, "{status}");
    // An inspected body over the cap: 413, and nothing forwarded.
    let mut s = connect(&rig.listen);
    let body = format!("{{\"Image\":\"x\",\"Env\":[\"{}\"]}}", "c".repeat(5 << 20));
    let req = format!(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(req.as_bytes());
    assert_eq!(read_response(&mut s).0, 413);
    // A client that never finishes its headers is dropped.
    let mut s = connect(&rig.listen);
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost:").unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(rig.forwarded().is_empty(), "{:?}", rig.forwarded());
}

#[test]
fn the_connection_cap_holds() {
    let rig = Rig::start(Limits {
        max_connections: 2,
        ..Limits::default()
    });
    let a = connect(&rig.listen);
    let mut b = connect(&rig.listen);
    b.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut b).0, 200);
    let mut c = connect(&rig.listen);
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(c.read(&mut byte).is_err(), "a third connection was served");
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_response(&mut c).0, 200);
}

#[test]
fn upgrades_splice_with_half_close() {
    let rig = Rig::start(Limits::default());
    let mut s = connect(&rig.listen);
    s.write_all(b"POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(b"hello through the splice").unwrap();
    // Half-close: the engine side sees EOF, and can still answer.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"hello through the spliceBYE");
}

#[test]
fn bodies_stream_both_ways() {
    let rig = Rig::start(Limits::default());
    // 64 MiB up, through an opaque endpoint: streamed, not capped.
    let mut s = connect(&rig.listen);
    let size = 64usize << 20;
    s.write_all(
        format!("POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Length: {size}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..64 {
        s.write_all(&chunk).unwrap();
    }
    assert_eq!(read_response(&mut s), (200, size.to_string()));
    // A slow stream down: the first line arrives long before the second is sent.
    let mut s = connect(&rig.listen);
    s.write_all(b"GET /containers/abc/logs?follow=1 HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("first") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    while !String::from_utf8_lossy(&got).contains("second") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_missing_upstream_or_a_taken_socket_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new().unwrap();
    let config = |listen: &Path, upstream: &Path| EnforcerConfig {
        listen: vec![listen.to_path_buf()],
        upstream: upstream.to_path_buf(),
        settings: SettingsPaths {
            admin: None,
            user: None,
        },
        state_dir: dir.path().join("state"),
        protect: vec![],
        limits: Limits::default(),
        watch_settings: false,
    };
    let err = rt
        .block_on(Enforcer::start(
            config(&dir.path().join("l.sock"), &dir.path().join("missing.sock")),
            Arc::new(NoDigests),
            None,
        ))
        .unwrap_err();
    assert!(
        matches!(err, eci_proxy::StartError::UpstreamMissing { .. }),
        "{err}"
    );
    let taken = dir.path().join("taken.sock");
    let _held = std::os::unix::net::UnixListener::bind(&taken).unwrap();
    let up = dir.path().join("up.sock");
    let _up = std::os::unix::net::UnixListener::bind(&up).unwrap();
    let err = rt
        .block_on(Enforcer::start(
            config(&taken, &up),
            Arc::new(NoDigests),
            None,
        ))
        .unwrap_err();
    assert!(matches!(err, eci_proxy::StartError::Listen { .. }), "{err}");
}

#[test]
fn serve_runs_until_shutdown_and_cleans_up() {
    let rig = Rig::start(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let listen = dir.path().join("served.sock");
    let config = eci_proxy::ServeConfig {
        listen: vec![listen.clone()],
        upstream: rig.upstream.clone(),
        admin_settings: Some(dir.path().join("admin.json")),
        user_settings: Some(dir.path().join("user.json")),
        state_dir: Some(dir.path().join("state")),
        registries: None,
        protect: vec![],
        max_connections: 16,
        metrics: None,
        audit_log: None,
        audit_allowed: 0,
        // The default control socket, beside the listening one: removed at the end too.
        control: None,
        control_group: None,
        no_control: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = rig.rt.spawn(eci_proxy::serve(config, async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while StdStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = connect(&listen);
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    // No settings files: the fail-closed default (ECI on) classifies, so unknown routes are 404.
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 404);
    drop(s);
    stop.send(()).unwrap();
    rig.rt.block_on(served).unwrap().unwrap();
    assert!(!listen.exists(), "the listening socket is removed");
    assert!(
        !dir.path().join("control.sock").exists(),
        "the control socket is removed"
    );
    // The block was recorded in the history under the state directory.
    let history =
        eci_history::History::open(dir.path().join("state"), eci_history::Retention::default());
    let page = history
        .query(
            &eci_history::Filter::default(),
            &eci_history::Page::default(),
        )
        .unwrap();
    assert_eq!(page.total, 1, "{page:?}");
    assert_eq!(page.blocks[0].record.path, "/nope");
}
