//! Side-by-side figures for the README: a trivial upstream on a unix socket reached directly,
//! through eci-proxy (ECI on, a realistic policy), and through Debian's HAProxy configured the way
//! popular socket proxies configure it (per-API-section ACLs, request logging); then the real
//! engine directly and through eci-proxy, and reload latency.
//!
//! The upstream, the enforcer and HAProxy each run in their own process (this binary re-executed
//! with `ECI_BENCH_ROLE`), so CPU and memory are read per process from `/proc`. Run with
//! `cargo bench -p eci-proxy --bench proxy` (as root, with the e2e harness's packages and
//! Debian's `haproxy`); it prints Markdown tables.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests};
use eci_policy::reference::{Digest, ImageEntry, Repository};
use eci_proxy::{DigestSource, Enforcer, EnforcerConfig, Limits, SettingsPaths};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const PING: &[u8] = b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
const STREAM_BYTES: usize = 100 << 20;

fn admin_settings(eci: bool) -> String {
    serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true,
            "value": eci,
            "iechorSocketMount": {
                "imageList": { "images": [
                    "iechor.io/localstack/localstack:*",
                    "iechor.io/testcontainers/ryuk:*",
                    "iechor:cli"
                ] },
                "commandList": { "type": "deny", "commands": ["push", "build*"] }
            }
        }
    })
    .to_string()
}

fn main() {
    match std::env::var("ECI_BENCH_ROLE").as_deref() {
        Ok("upstream") => upstream(&arg(1)),
        Ok("enforcer") => enforcer(&arg(1), &arg(2), &arg(3)),
        _ => orchestrate(),
    }
}

fn arg(i: usize) -> PathBuf {
    PathBuf::from(std::env::args().nth(i).expect("role argument"))
}

// ---- roles ----

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    // Counted frame by frame, not collected: copying 100 MiB into one buffer would make the
    // upstream, not the proxies, the limit of the streaming figure.
    let mut body = req.into_body();
    let mut n = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        n += frame.data_ref().map_or(0, |d| d.len());
    }
    let body = if path.ends_with("/_ping") {
        "OK".to_owned()
    } else {
        format!("upstream {n}")
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

fn upstream(path: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = tokio::net::UnixListener::bind(path).unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), hyper::service::service_fn(answer))
                    .await;
            });
        }
    });
}

struct NoDigests;

impl DigestFacts for NoDigests {
    fn entry_digests(&self, _: &ImageEntry) -> EntryDigests {
        EntryDigests::Unavailable("benchmark".into())
    }
    fn any_tag(&self, _: &Repository, _: &Digest, _: &str) -> AnyTagFact {
        AnyTagFact::Mismatch
    }
}

impl DigestSource for NoDigests {}

fn enforcer(listen: &Path, upstream: &Path, state: &Path) {
    // `ECI_BENCH_THREADS=0`: a current-thread runtime; `N`: N workers; unset: tokio's default.
    let rt = match std::env::var("ECI_BENCH_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(0) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .unwrap();
    rt.block_on(async {
        let config = EnforcerConfig {
            listen: vec![listen.to_path_buf()],
            upstream: upstream.to_path_buf(),
            settings: SettingsPaths {
                admin: Some(state.join("admin-settings.json")),
                user: None,
            },
            state_dir: state.to_path_buf(),
            protect: vec![],
            limits: Limits::default(),
            watch_settings: true,
        };
        let _e = Enforcer::start(config, Arc::new(NoDigests), None)
            .await
            .unwrap();
        std::future::pending::<()>().await;
    });
}

// ---- orchestration ----

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_role(role: &str, args: &[&Path]) -> Proc {
    let child = Command::new(std::env::current_exe().unwrap())
        .env("ECI_BENCH_ROLE", role)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

fn wait_for(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} never answered",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn haproxy_config(dir: &Path, upstream: &Path, listen: &Path) -> PathBuf {
    // The shape of the popular docker-socket-proxy configuration: every API section allowed or
    // denied by a path regex, logging each request.
    let sections = [
        "_ping",
        "auth",
        "build",
        "commit",
        "configs",
        "containers",
        "distribution",
        "events",
        "exec",
        "grpc",
        "images",
        "info",
        "networks",
        "nodes",
        "plugins",
        "secrets",
        "services",
        "session",
        "swarm",
        "system",
        "tasks",
        "version",
        "volumes",
    ];
    let mut acls = String::new();
    for s in sections {
        acls.push_str(&format!(
            "    http-request allow if {{ path,url_dec -m reg -i ^(/v[\\d\\.]+)?/{s} }}\n"
        ));
    }
    let cfg = format!(
        "global\n    log stdout format raw local0 info\n    maxconn 4000\n\
         defaults\n    mode http\n    log global\n    option httplog\n    option dontlognull\n    \
         timeout connect 10s\n    timeout client 10m\n    timeout server 10m\n    timeout tunnel 3600s\n\
         backend dockerbackend\n    server dockersocket {}\n\
         frontend dockerfrontend\n    bind {} mode 660\n{acls}    http-request deny\n    default_backend dockerbackend\n",
        upstream.display(),
        listen.display()
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Reads one HTTP/1.1 response with a Content-Length body.
fn read_response(s: &mut UnixStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head[9..12].parse().unwrap();
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Round-trip times of `n` pings on one kept-alive connection.
fn latencies(sock: &Path, n: usize) -> Vec<Duration> {
    let mut s = UnixStream::connect(sock).unwrap();
    let mut buf = Vec::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 500 {
        let t = Instant::now();
        s.write_all(PING).unwrap();
        assert_eq!(read_response(&mut s, &mut buf), 200);
        if i >= 500 {
            times.push(t.elapsed());
        }
    }
    times
}

/// Pings completed in `secs` by `conns` clients, each on its own kept-alive connection.
fn throughput(sock: &Path, conns: usize, secs: f64) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, count, sock) = (stop.clone(), count.clone(), sock.to_path_buf());
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(PING).unwrap();
                    assert_eq!(read_response(&mut s, &mut buf), 200);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().unwrap();
    }
    count.load(Ordering::Relaxed)
}

/// Seconds to send a 100 MiB body and read the answer.
fn stream(sock: &Path) -> f64 {
    let chunk = vec![b'x'; 1 << 20];
    {
        let mut s = UnixStream::connect(sock).unwrap();
        let t = Instant::now();
        s.write_all(
            format!("POST /v1.41/images/load HTTP/1.1\r\nHost: docker\r\nContent-Length: {STREAM_BYTES}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        for _ in 0..STREAM_BYTES / chunk.len() {
            s.write_all(&chunk).unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf), 200);
        t.elapsed().as_secs_f64()
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

struct Row {
    name: &'static str,
    p50: Duration,
    p99: Duration,
    rps: f64,
    cpu_us: Option<f64>,
    gbps: f64,
    rss: Option<(f64, f64)>,
}

/// Rounds of each measurement, taken in turn on every path so that the load of a busy machine,
/// which drifts over seconds, weighs on all of them alike rather than on whichever ran last.
const ROUNDS: usize = 5;

fn measure_all(paths: &[(&'static str, &Path, Option<u32>)]) -> Vec<Row> {
    let n = paths.len();
    let idle: Vec<_> = paths.iter().map(|p| p.2.map(rss_mib)).collect();
    let mut times = vec![Vec::new(); n];
    let mut reqs = vec![0u64; n];
    let mut busy = vec![0.0f64; n];
    let mut cpu = vec![0.0f64; n];
    let mut best = vec![f64::MAX; n];
    for _ in 0..ROUNDS {
        for (i, (_, sock, pid)) in paths.iter().enumerate() {
            times[i].extend(latencies(sock, 4_000));
            let c0 = pid.map(cpu_seconds);
            let t = Instant::now();
            reqs[i] += throughput(sock, 32, 0.6);
            busy[i] += t.elapsed().as_secs_f64();
            if let (Some(p), Some(c0)) = (pid, c0) {
                cpu[i] += cpu_seconds(*p) - c0;
            }
        }
        for (i, (_, sock, _)) in paths.iter().enumerate() {
            best[i] = best[i].min(stream(sock));
        }
    }
    paths
        .iter()
        .enumerate()
        .map(|(i, &(name, _, pid))| {
            let t = &mut times[i];
            t.sort();
            Row {
                name,
                p50: t[t.len() / 2],
                p99: t[t.len() * 99 / 100],
                rps: reqs[i] as f64 / busy[i],
                cpu_us: pid.map(|_| cpu[i] / reqs[i] as f64 * 1e6),
                gbps: STREAM_BYTES as f64 / best[i] / 1e9,
                rss: idle[i].zip(pid.map(rss_mib)),
            }
        })
        .collect()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn orchestrate() {
    let dir = tempfile::Builder::new()
        .prefix("ecib")
        .tempdir_in("/tmp")
        .unwrap();
    let up = dir.path().join("up.sock");
    let guard = dir.path().join("guard.sock");
    let ha = dir.path().join("ha.sock");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // `ECI_BENCH_ECI=0` measures the pass-through of ECI off, for comparison.
    let eci = std::env::var("ECI_BENCH_ECI").map_or(true, |v| v != "0");
    std::fs::write(state.join("admin-settings.json"), admin_settings(eci)).unwrap();

    let _upstream = spawn_role("upstream", &[&up]);
    wait_for(&up);
    let enforcer = spawn_role("enforcer", &[&guard, &up, &state]);
    wait_for(&guard);
    let cfg = haproxy_config(dir.path(), &up, &ha);
    let haproxy = Proc(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (Debian package haproxy)"),
    );
    wait_for(&ha);
    std::thread::sleep(Duration::from_millis(500));

    let rows = measure_all(&[
        ("direct", &up, None),
        ("eci-proxy", &guard, Some(enforcer.0.id())),
        ("haproxy", &ha, Some(haproxy.0.id())),
    ]);
    let direct = &rows[0];

    println!("| path | p50 µs (added) | p99 µs (added) | req/s c=32 | CPU µs/req | 100 MiB GB/s | RSS idle/loaded MiB |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let added = |d: Duration, base: Duration| micros(d) - micros(base);
        println!(
            "| {} | {:.1} ({:+.1}) | {:.1} ({:+.1}) | {:.0} | {} | {:.2} | {} |",
            r.name,
            micros(r.p50),
            added(r.p50, direct.p50),
            micros(r.p99),
            added(r.p99, direct.p99),
            r.rps,
            r.cpu_us.map_or("-".into(), |c| format!("{c:.1}")),
            r.gbps,
            r.rss
                .map_or("-".into(), |(i, l)| format!("{i:.1} / {l:.1}")),
        );
    }

    // Reload: from the atomic replace of the settings file to the first request judged by the
    // new policy (ECI off passes an unknown route through to the upstream; ECI on refuses it).
    let probe = |want_upstream: bool| {
        let mut s = UnixStream::connect(&guard).unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\nHost: docker\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        (read_response(&mut s, &mut buf) == 200) == want_upstream
    };
    let mut reloads = Vec::new();
    for i in 0..10 {
        let eci_on = i % 2 == 1;
        let tmp = state.join("admin-settings.json.tmp");
        std::fs::write(&tmp, admin_settings(eci_on)).unwrap();
        let t = Instant::now();
        std::fs::rename(&tmp, state.join("admin-settings.json")).unwrap();
        while !probe(!eci_on) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "reload never enforced"
            );
        }
        reloads.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    reloads.sort();
    println!(
        "\nreload (write → enforced), 10 runs: median {:.1} ms, max {:.1} ms",
        reloads[5].as_secs_f64() * 1e3,
        reloads[9].as_secs_f64() * 1e3
    );
    drop(haproxy);
    drop(enforcer);

    real_engine(dir.path());
}

/// `docker run` end to end and `/containers/json`, against the harness's real engine.
fn real_engine(dir: &Path) {
    let s = eci_e2e::shared();
    let engine = s.engine();
    let image = s.busybox().reference();
    let guard = dir.join("real.sock");
    let state = dir.join("real-state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("admin-settings.json"), admin_settings(true)).unwrap();
    let enforcer = spawn_role("enforcer", &[&guard, engine.socket_path(), &state]);
    wait_for(&guard);
    let run = |host: &str| {
        let mut times = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let out = engine
                .docker()
                .env("DOCKER_HOST", host)
                .args(["run", "--rm", "--network", "none", &image, "true"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            times.push(t.elapsed());
        }
        times.sort();
        times[3]
    };
    let list = |sock: &Path| {
        let mut s = UnixStream::connect(sock).unwrap();
        let mut buf = Vec::new();
        let mut times = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            s.write_all(b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut s, &mut buf), 200);
            times.push(t.elapsed());
        }
        times.sort();
        times[250]
    };
    let direct_run = run(&engine.host());
    let guard_run = run(&format!("unix://{}", guard.display()));
    let direct_list = list(engine.socket_path());
    let guard_list = list(&guard);
    println!("\nreal engine (docker.io 20.10.24), medians:");
    println!("| request | direct | eci-proxy |");
    println!("|---|---|---|");
    println!(
        "| `docker run --rm busybox true` | {:.0} ms | {:.0} ms |",
        direct_run.as_secs_f64() * 1e3,
        guard_run.as_secs_f64() * 1e3
    );
    println!(
        "| `GET /containers/json?all=1` | {:.0} µs | {:.0} µs |",
        micros(direct_list),
        micros(guard_list)
    );
    drop(enforcer);
}
