//! Load and soak run (issue 6, point 2), not part of the test suite: an in-process enforcer in
//! front of the real engine (the e2e harness's) or a trivial upstream, held by many idle
//! connections while active clients mix pings, lists, allowed and denied creates and event
//! streams. Prints throughput, latency percentiles, unexpected answers, file descriptors and
//! memory early and at the end, and history rows against blocks answered.
//!
//! `cargo run --release -p eci-proxy --example soak -- [engine|trivial] [SECONDS] [ACTIVE] [IDLE]`
//! (defaults: engine 600 256 10000; as root with the e2e harness's packages for `engine`).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests};
use eci_policy::reference::{Digest, ImageEntry, Repository};
use eci_proxy::{BlockSink, DigestSource, Enforcer, EnforcerConfig, Limits, SettingsPaths};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

// The suites' raw HTTP and settings helpers, shared rather than copied.
#[path = "../tests/support/mod.rs"]
mod support;
use support::{admin_settings, exchange, request};

/// Nothing is published: every image-list entry is unavailable, which denies its mounts.
struct NoDigests;

impl DigestFacts for NoDigests {
    fn entry_digests(&self, _: &ImageEntry) -> EntryDigests {
        EntryDigests::Unavailable("soak".into())
    }
    fn any_tag(&self, _: &Repository, _: &Digest, _: &str) -> AnyTagFact {
        AnyTagFact::Mismatch
    }
}

impl DigestSource for NoDigests {}

async fn trivial(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let _ = req.into_body().collect().await;
    let body = if path.ends_with("/containers/create") {
        r#"{"Id":"0123456789ab","Warnings":[]}"#
    } else if path.ends_with("/_ping") {
        "OK"
    } else {
        "[]"
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

fn trivial_upstream(rt: &tokio::runtime::Runtime, path: &Path) {
    let l = rt
        .block_on(async { tokio::net::UnixListener::bind(path) })
        .unwrap();
    rt.spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), hyper::service::service_fn(trivial))
                    .await;
            });
        }
    });
}

/// How long one answer may take under full load before it counts as unexpected.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The body of a whole HTTP answer.
fn answer_body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Latencies in a fixed-size histogram (1 µs to 10 min, 3 significant digits): a list of
/// millions of samples would itself grow the process being measured for leaks.
struct Totals {
    latencies: Histogram<u64>,
    unexpected: Vec<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

struct Load {
    sock: PathBuf,
    upstream: PathBuf,
    image: String,
    stop: AtomicBool,
    requests: AtomicU64,
    blocks: AtomicU64,
    totals: Mutex<Totals>,
}

impl Load {
    /// One active client: a fixed mix, each answer checked against what it must be.
    fn client(&self, n: usize) {
        let mut lat = histogram();
        let mut unexpected = Vec::new();
        let denied = serde_json::json!({
            "Image": self.image,
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "none", "Binds": [format!("{}:/var/run/docker.sock", self.upstream.display())]}
        })
        .to_string();
        let allowed = serde_json::json!({"Image": self.image, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}).to_string();
        let mut i = n;
        while !self.stop.load(Ordering::Relaxed) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let (what, req, want): (&str, Vec<u8>, &[u16]) = match i % 5 {
                0 => ("ping", request("GET", "/v1.41/_ping", ""), &[200]),
                1 => (
                    "list",
                    request("GET", "/v1.41/containers/json?all=1", ""),
                    &[200],
                ),
                2 => (
                    "denied create",
                    request("POST", "/v1.41/containers/create", &denied),
                    &[403],
                ),
                3 => (
                    "allowed create",
                    request("POST", "/v1.41/containers/create", &allowed),
                    &[200, 201],
                ),
                _ => (
                    "events stream",
                    request(
                        "GET",
                        &format!("/v1.41/events?since={}&until={}", now - 1, now + 1),
                        "",
                    ),
                    &[200],
                ),
            };
            i += 1;
            let (status, answer, took) = exchange(&self.sock, &req, ANSWER_TIMEOUT);
            let body = answer_body(&answer);
            lat.saturating_record(took.as_micros() as u64);
            self.requests.fetch_add(1, Ordering::Relaxed);
            if status == 403 {
                self.blocks.fetch_add(1, Ordering::Relaxed);
            }
            if !want.contains(&status) {
                unexpected.push(format!(
                    "{what}: {status} {}",
                    body.chars().take(200).collect::<String>()
                ));
            } else if what == "allowed create" {
                if let Some(id) = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["Id"].as_str().map(str::to_owned))
                {
                    let (status, answer, _) = exchange(
                        &self.sock,
                        &request("DELETE", &format!("/v1.41/containers/{id}?force=1"), ""),
                        ANSWER_TIMEOUT,
                    );
                    if !(200..300).contains(&status) {
                        unexpected.push(format!("remove: {status} {}", answer_body(&answer)));
                    }
                }
            }
        }
        let mut t = self.totals.lock().unwrap();
        let _ = t.latencies.add(&lat);
        t.unexpected.extend(unexpected);
    }
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Raises the descriptor limit to `want` where allowed; returns the limit in force.
fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want.max(lim.current.unwrap_or(0))),
            maximum: Some(want.max(lim.maximum.unwrap_or(0))),
        },
    );
    let hard = getrlimit(Resource::Nofile).maximum.unwrap_or(u64::MAX);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The idle holder, a child process so that its descriptors do not count against the
/// enforcer's: opens `n` connections, reports how many, and on a line on stdin reports how many
/// are still open (nothing to read yet, no end of stream).
fn idle_holder(sock: &Path, n: usize) -> ! {
    raise_nofile(n as u64 + 256);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        match UnixStream::connect(sock) {
            Ok(s) => conns.push(s),
            Err(e) => {
                eprintln!("idle connection {}: {e}", conns.len());
                break;
            }
        }
    }
    println!("held {}", conns.len());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let mut alive = 0;
    for s in &mut conns {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            alive += 1;
        }
    }
    println!("alive {alive}");
    std::process::exit(0);
}

fn main() {
    if let Ok(spec) = std::env::var("ECI_SOAK_IDLE") {
        let (sock, n) = spec.rsplit_once(',').expect("socket,count");
        idle_holder(Path::new(sock), n.parse().expect("count"));
    }
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("engine")
        .to_owned();
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(600);
    let active: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(256);
    let idle: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(10_000);

    let limit = raise_nofile((idle + 4 * active + 4096) as u64);
    assert!(
        limit >= (idle + 4 * active + 1024) as u64,
        "the descriptor limit {limit} is too low for {idle} idle connections"
    );

    let dir = tempfile::Builder::new()
        .prefix("ecisoak")
        .tempdir_in("/tmp")
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (upstream, image) = if mode == "trivial" {
        let path = dir.path().join("upstream.sock");
        trivial_upstream(&rt, &path);
        (path, "busybox:latest".to_owned())
    } else {
        let s = eci_e2e::shared();
        (s.engine().socket_path().to_owned(), s.busybox().reference())
    };
    let admin = dir.path().join("admin-settings.json");
    std::fs::write(
        &admin,
        admin_settings(&["iechor.io/testcontainers/ryuk:*"], "deny", &["push"]),
    )
    .unwrap();
    let listen = dir.path().join("guard.sock");
    let history = eci_history::History::open(
        dir.path().join("history"),
        eci_history::Retention::default(),
    );
    let sink: Arc<dyn BlockSink> = Arc::new(history.recorder());
    let config = EnforcerConfig {
        listen: vec![listen.clone()],
        upstream: upstream.clone(),
        settings: SettingsPaths {
            admin: Some(admin),
            user: None,
        },
        state_dir: dir.path().join("state"),
        protect: vec![],
        limits: Limits {
            // Idle connections hold a permit each; the actives must still get theirs.
            max_connections: idle + active + 1024,
            // The idle connections are meant to stay for the whole run.
            header_read_timeout: Duration::from_secs(secs + 120),
            ..Limits::default()
        },
        watch_settings: false,
    };
    let enforcer = rt
        .block_on(Enforcer::start(config, Arc::new(NoDigests), Some(sink)))
        .expect("enforcer");

    let fds0 = fds();
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .env("ECI_SOAK_IDLE", format!("{},{idle}", listen.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("idle holder");
    let mut holder_out = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut report = |prefix: &str| -> usize {
        use std::io::BufRead;
        let mut line = String::new();
        holder_out.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix(prefix)
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let held = report("held");
    let load = Arc::new(Load {
        sock: listen.clone(),
        upstream,
        image,
        stop: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        blocks: AtomicU64::new(0),
        totals: Mutex::new(Totals {
            latencies: histogram(),
            unexpected: Vec::new(),
        }),
    });
    let clients: Vec<_> = (0..active)
        .map(|n| {
            let load = load.clone();
            std::thread::spawn(move || load.client(n))
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs.min(10)));
    let (fds_early, rss_early) = (fds(), rss_mib());
    // A sample a minute shows the trend: growth that levels off is caches and the allocator,
    // growth that keeps going is a leak.
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        let left = Duration::from_secs(secs).saturating_sub(started.elapsed());
        std::thread::sleep(left.min(Duration::from_secs(60)));
        samples.push((started.elapsed().as_secs(), fds(), rss_mib()));
    }
    let (fds_end, rss_end) = (fds(), rss_mib());
    load.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let elapsed = started.elapsed();
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"check\n").unwrap();
    let idle_alive = report("alive");
    let _ = holder.wait();
    rt.block_on(enforcer.stop());
    let _ = history.flush();
    let hs = history.status();

    let totals = load.totals.lock().unwrap();
    let lat = &totals.latencies;
    let pct = |p: f64| Duration::from_micros(lat.value_at_quantile(p));
    let requests = load.requests.load(Ordering::Relaxed);
    let blocks = load.blocks.load(Ordering::Relaxed);
    println!("| upstream | {mode} |");
    println!("|---|---|");
    println!("| duration | {:.0} s |", elapsed.as_secs_f64());
    println!(
        "| active clients / idle connections held of {idle} (alive at end) | {active} / {held} ({idle_alive}) |"
    );
    println!(
        "| requests | {requests} ({:.0}/s) |",
        requests as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        Duration::from_micros(lat.max()).as_secs_f64() * 1e3
    );
    println!("| unexpected answers | {} |", totals.unexpected.len());
    println!("| enforcer-process fds before idle / after 10 s / end | {fds0} / {fds_early} / {fds_end} |");
    println!("| RSS after 10 s / end | {rss_early:.1} / {rss_end:.1} MiB |");
    let trend: Vec<String> = samples
        .iter()
        .map(|(t, f, r)| format!("{t} s: {f} fds, {r:.1} MiB"))
        .collect();
    println!("| per minute | {} |", trend.join("; "));
    println!(
        "| blocks answered / history committed (dropped, lost) | {blocks} / {} ({}, {}) |",
        hs.committed, hs.dropped, hs.lost
    );
    for u in totals.unexpected.iter().take(10) {
        println!("unexpected: {u}");
    }
    let ok = totals.unexpected.is_empty()
        && hs.committed == blocks
        && held == idle
        && idle_alive == idle;
    std::process::exit(if ok { 0 } else { 1 });
}
