//! Fault injection against the real parts (issue 6, point 3): the engine, a registry, the
//! settings files, the history's state directory and the enforcer process itself fail while the
//! enforcer serves, and slow or stalled clients hold connections. Each test states the outcome it
//! expects in its doc comment.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use eci_e2e::{push_image, shared, Engine, ImageSpec, Registry, RegistryConfig};
use eci_history::{Filter, History, Page, Retention};
use eci_policy::decide::{DigestFacts, EntryDigests};
use eci_policy::reference::ImageEntry;
use eci_proxy::{BlockSink, Limits, ReloadOutcome};
use support::*;

/// A `GET` with `Connection: close`.
/// The JSON body of an answer.
fn body_json(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null)
}

/// A create whose container mounts the engine socket.
fn socket_mount_create(engine: &Engine, image: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "Image": image,
        "Cmd": ["true"],
        "HostConfig": {
            "NetworkMode": "none",
            "Binds": [format!("{}:/var/run/docker.sock", engine.socket_path().display())]
        }
    });
    post("/v1.41/containers/create", &body.to_string())
}

/// The engine is SIGKILLed while a client is attached through the enforcer, and again between
/// requests. Expected: the attached client sees its stream end within seconds (no hang); while
/// the engine is down a request through the enforcer is answered promptly with a 502 whose JSON
/// `message` says the engine cannot be reached; once the engine is back, the first request
/// through the enforcer succeeds, and so do the CLI's.
#[test]
fn engine_killed_during_attach_and_between_requests() {
    let s = shared();
    let engine: &'static Engine = Box::leak(Box::new(Engine::start().expect("private engine")));
    let bb = s.busybox().reference();
    engine.run_docker(["pull", "-q", &bb]).unwrap();
    let g = Guard::start_on(engine, &admin_settings(&["*"], "deny", &[]));
    let name = unique("attached");
    engine
        .run_docker(RunArgs::detached(&name).image(
            &bb,
            &["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
        ))
        .unwrap();
    let mut attach = g
        .docker()
        .args(["attach", "--no-stdin", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = attach.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(15)).expect("a tick");
    assert_eq!(first.unwrap(), "tick");

    engine.kill();
    let killed = Instant::now();
    loop {
        if attach.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the attached client still waits 10 s after the engine died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Between requests: the engine is down.
    let (code, answer, took) = exchange(&g.listen, &get("/_ping"), Duration::from_secs(10));
    assert_eq!(code, 502, "{answer}");
    assert!(took < Duration::from_secs(5), "the 502 took {took:?}");
    let msg = body_json(&answer)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("cannot reach the engine"), "{answer}");

    engine.start_again().expect("engine starts again");
    let (code, answer, took) = exchange(&g.listen, &get("/_ping"), Duration::from_secs(10));
    assert_eq!(code, 200, "first request after the restart: {answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        g.ok(&["version", "--format", "{{.Server.APIVersion}}"]),
        "1.41\n"
    );
    g.ok(&["rm", "-f", &name]);
}

/// The registry stops while the digests are refreshed and before a probe. Expected: the refresh
/// returns (reporting the failure) and the digests fetched before still answer, so an allowed
/// image still mounts the socket through the enforcer; a probe of the stopped registry reports
/// it unreachable (exit code 2) within a few seconds.
#[test]
fn registry_stopped_during_refresh_and_probe() {
    use eci_registry::{CredentialSource, FailureKind, ProbeOutcome, Prober, Timeouts};
    let s = shared();
    let registry = Registry::start(RegistryConfig::plain()).expect("registry");
    let pushed = push_image(
        s.engine(),
        &registry,
        &ImageSpec::new("faults-registry"),
        "eci-faults/cached",
        "1",
    )
    .expect("push");
    let reference = pushed.reference();
    let fetched = FetchedDigests::insecure(&registry.addr());
    let FetchedDigests {
        registries,
        service,
        digests,
        ..
    } = &fetched;
    let g = Guard::start_fetched(
        s.engine(),
        &admin_settings(&[reference.as_str()], "deny", &[]),
        &fetched,
    );
    let entry = ImageEntry::parse(&reference).unwrap();
    let before = digests.entry_digests(&entry);
    let EntryDigests::Known { manifests, .. } = &before else {
        panic!("digests not fetched: {before:?}");
    };
    assert!(manifests.contains(&pushed.manifest_digest));

    // Stopped while the refresh runs: the refresh is already on its way when the registry goes.
    let refresh = {
        let service = service.clone();
        g.rt.spawn(async move { service.refresh_all().await })
    };
    registry.stop();
    let started = Instant::now();
    let report =
        g.rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), refresh).await })
            .expect("the refresh returns")
            .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "{report:?}");
    assert_eq!(digests.entry_digests(&entry), before, "cached digests lost");
    let (code, answer, _) = exchange(
        &g.listen,
        &socket_mount_create(s.engine(), &reference),
        Duration::from_secs(30),
    );
    assert_eq!(code, 201, "the allowed image must still mount: {answer}");
    let id = body_json(&answer)["Id"].as_str().unwrap().to_owned();
    remove_container(s.engine(), &id);

    let prober = Prober::new(
        CredentialSource::Anonymous,
        Timeouts {
            request: Duration::from_secs(10),
            connect: Duration::from_secs(2),
        },
        Duration::ZERO,
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    let probe = g.rt.block_on(prober.probe(&reference, registries, &cancel));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the probe took {:?}",
        started.elapsed()
    );
    assert_eq!(probe.exit_code(), 2, "{probe:?}");
    match &probe.outcome {
        ProbeOutcome::Failed { failure } => {
            assert_eq!(failure.kind, FailureKind::Unreachable, "{probe:?}")
        }
        other => panic!("a stopped registry probed as {other:?}"),
    }
}

/// Waits up to 3 s for the last reload to match `want` with `version` in force.
fn settle(g: &Guard, what: &str, want: impl Fn(&ReloadOutcome) -> bool, version: &str) {
    let mut seen = None;
    let ok = (0..150).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        seen = g.enforcer().policy().last_reload().map(|r| r.outcome);
        seen.as_ref().is_some_and(&want) && g.enforcer().policy().snapshot().version == version
    });
    assert!(
        ok,
        "{what}: want {version} in force; last reload {seen:?}, in force {}",
        g.enforcer().policy().snapshot().version
    );
}

/// Puts what `make` creates at a temporary name in place of `path` with one rename, as editors
/// save: the watcher sees no intermediate state.
fn replace(path: &Path, make: impl FnOnce(&Path)) {
    let tmp = path.with_extension("tmp");
    make(&tmp);
    std::fs::rename(&tmp, path).unwrap();
}

/// The settings file is replaced by garbage, by a directory (through a symlink, so that the
/// swap is one rename), by a dangling symlink, deleted, and its directory removed and recreated.
/// Expected (SPEC §7): garbage is rejected and an unreadable path is reported, both keeping the
/// last good policy; a missing file (deleted, dangling symlink, directory gone) is the documented
/// fail-closed default (ECI on, no image may mount the socket); every later valid write is picked
/// up again, including one into a recreated directory.
#[test]
fn settings_file_faults_keep_the_last_good_policy_or_fail_closed() {
    let (a, b) = two_settings();
    let g = Guard::start(&a);
    let v_a = g.enforcer().policy().snapshot().version.clone();
    let fail_closed = policy_version(None);
    let path = g.admin.clone();
    let dir = path.parent().unwrap().to_path_buf();
    let write = |text: &str| replace(&path, |tmp| std::fs::write(tmp, text).unwrap());
    let symlink = |to: PathBuf| replace(&path, |tmp| std::os::unix::fs::symlink(&to, tmp).unwrap());
    let applied = |o: &ReloadOutcome| matches!(o, ReloadOutcome::Applied { .. });
    let rejected = |o: &ReloadOutcome| matches!(o, ReloadOutcome::Rejected { .. });
    let unreadable = |o: &ReloadOutcome| matches!(o, ReloadOutcome::Unreadable { .. });
    let v_b = policy_version(Some(&b));
    assert!(v_b != v_a && v_a != fail_closed && v_b != fail_closed);
    write(&b);
    settle(&g, "valid b", applied, &v_b);

    write("{ garbage");
    settle(&g, "garbage keeps the last good", rejected, &v_b);
    write(&a);
    settle(&g, "valid after garbage", applied, &v_a);

    let a_dir = g.dir.path().join("a-directory");
    std::fs::create_dir(&a_dir).unwrap();
    symlink(a_dir);
    settle(&g, "a directory keeps the last good", unreadable, &v_a);
    write(&b);
    settle(&g, "valid after a directory", applied, &v_b);

    symlink(dir.join("nowhere.json"));
    settle(&g, "a dangling symlink fails closed", applied, &fail_closed);
    write(&a);
    settle(&g, "valid after a dangling symlink", applied, &v_a);

    std::fs::remove_file(&path).unwrap();
    settle(&g, "deleted fails closed", applied, &fail_closed);
    std::fs::write(&path, &b).unwrap();
    settle(&g, "valid after a delete", applied, &v_b);

    std::fs::remove_dir_all(&dir).unwrap();
    settle(&g, "directory removed fails closed", applied, &fail_closed);
}

/// The settings directory is removed, then recreated with a valid file. Expected: the removal
/// fails closed (the default policy) and the file written into the recreated directory is
/// applied within the reload bound, with no restart and no manual reload — like a first
/// install, which the watch already handles by watching the nearest existing ancestor.
#[test]
fn settings_written_into_a_recreated_directory_are_picked_up() {
    let (a, b) = two_settings();
    let g = Guard::start(&a);
    let v_b = policy_version(Some(&b));
    let fail_closed = policy_version(None);
    let applied = |o: &ReloadOutcome| matches!(o, ReloadOutcome::Applied { .. });
    let path = g.admin.clone();
    let dir = path.parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(&dir).unwrap();
    settle(&g, "directory removed fails closed", applied, &fail_closed);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&path, &b).unwrap();
    settle(&g, "valid in the recreated directory", applied, &v_b);
}

/// A tmpfs mount removed when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The history cannot write: its file system is full, or its database path is a directory.
/// Expected: every mount of a non-allowed image is still refused at once with the exact message;
/// the history's status turns unhealthy with the error and commits none of them; no request
/// waits on the failing store.
#[test]
fn state_dir_full_or_unwritable_blocks_still_happen() {
    let s = shared();
    let cli = s.cli().reference();
    let bb = s.busybox().reference();
    let repo = bb.rsplit_once(':').unwrap().0.to_owned();
    for case in ["tmpfs full", "database path is a directory"] {
        let state = tempfile::tempdir().unwrap();
        let _mount = match case {
            "tmpfs full" => {
                let m = Tmpfs::mount(state.path(), "64k");
                let mut f = std::fs::File::create(state.path().join("filler")).unwrap();
                let chunk = vec![0u8; 4096];
                while f.write_all(&chunk).is_ok() {}
                let _ = f.sync_all();
                Some(m)
            }
            _ => {
                std::fs::create_dir_all(eci_history::db_path(state.path())).unwrap();
                None
            }
        };
        let history = History::open(state.path(), Retention::default());
        let sink: Arc<dyn BlockSink> = Arc::new(history.recorder());
        let g = Guard::start_recording(&admin_settings(&[cli.as_str()], "deny", &[]), sink);
        let n = 30;
        let started = Instant::now();
        for i in 0..n {
            let (code, answer, took) = exchange(
                &g.listen,
                &socket_mount_create(s.engine(), &bb),
                Duration::from_secs(10),
            );
            assert_eq!(code, 403, "{case} #{i}: {answer}");
            let msg = body_json(&answer)["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                msg.starts_with(&format!(
                    "enhanced container isolation: iechor socket mount denied for container with image \"{repo}\""
                )),
                "{case}: {msg}"
            );
            assert!(took < Duration::from_secs(2), "{case} #{i} took {took:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{case}: {n} blocks took {:?}",
            started.elapsed()
        );
        eventually(10, "the history to report the failure", || {
            let st = history.status();
            !st.healthy && st.last_error.is_some() && st.recorded >= n
        });
        let st = history.status();
        assert_eq!(st.committed, 0, "{case}: {st:?}");
        drop(g);
        drop(history);
    }
}

/// The enforcer process is killed with SIGKILL while clients hammer a filtered socket with
/// blocked commands. Expected: the history holds at least every block it had reported committed
/// and no more than were answered (plus those in flight), each the right block; a new enforcer
/// on the same state restores the container's filtered socket, which blocks and serves again.
#[test]
fn enforcer_killed_9_during_heavy_blocking() {
    // The child: an enforcer recording into the history of its state directory, reporting how
    // many blocks are committed until it is killed.
    if let Some(config) = child_config_from_env() {
        let history = History::open(&config.state_dir, Retention::default());
        let sink: Arc<dyn BlockSink> = Arc::new(history.recorder());
        serve_until_killed(
            config,
            Arc::new(PushedDigests::default()),
            Some(sink),
            Duration::from_millis(20),
            || println!("committed {}", history.status().committed),
        );
    }
    let mut child = ChildEnforcer::spawn(
        "enforcer_killed_9_during_heavy_blocking",
        &admin_settings(&["*"], "deny", &["ps"]),
        &[],
        Duration::from_secs(30),
    );
    let (engine, config) = (child.engine, child.config.clone());
    let bb = shared().busybox().reference();
    let name = unique("killed9");
    let bind = socket_bind(engine);
    child
        .cli()
        .ok(&RunArgs::create(&name).volume(&bind).image(&bb, &["true"]));
    let filtered = mounted_filtered_socket(engine, &name, &config.state_dir.join("filtered"));

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let threads = 8;
    let hammers: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, answered, filtered) = (stop.clone(), answered.clone(), filtered.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (code, answer, _) = exchange(
                        &filtered,
                        &get("/v1.41/containers/json"),
                        Duration::from_secs(5),
                    );
                    match code {
                        403 => {
                            assert!(answer.contains("is blocked"), "{answer}");
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        0 => std::thread::sleep(Duration::from_millis(5)),
                        other => panic!("unexpected {other}: {answer}"),
                    }
                }
            })
        })
        .collect();
    let mut committed = 0u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while committed < 300 && Instant::now() < deadline {
        let line = child.next_line(Duration::from_secs(5));
        if let Some((_, n)) = line.rsplit_once("committed ") {
            committed = n.parse().unwrap();
        }
    }
    child.kill_9();
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    let answered = answered.load(Ordering::SeqCst);
    assert!(
        committed >= 300,
        "only {committed} committed before the kill"
    );

    let history = History::open(&config.state_dir, Retention::default());
    let rows = history
        .query(
            &Filter::default(),
            &Page {
                limit: 1_000_000,
                ..Page::default()
            },
        )
        .unwrap()
        .blocks;
    let n = rows.len() as u64;
    assert!(
        n >= committed,
        "{n} rows after the kill, {committed} reported committed"
    );
    assert!(
        n <= answered + threads,
        "{n} rows, only {answered} blocks answered"
    );
    for row in &rows {
        assert_eq!(row.record.method, "GET");
        assert!(row.record.path.ends_with("/containers/json"), "{row:?}");
        assert!(row.record.commands.contains(&"ps".to_owned()), "{row:?}");
    }

    let again = child.start_again(Arc::new(PushedDigests::default()));
    let id = container_id(engine, &name);
    let restored = again.enforcer.filtered_sockets();
    assert!(
        restored
            .iter()
            .any(|(p, c)| p == &filtered && c.as_deref() == Some(id.as_str())),
        "{restored:?}"
    );
    let (code, answer, _) = exchange(
        &filtered,
        &get("/v1.41/containers/json"),
        Duration::from_secs(5),
    );
    assert_eq!(code, 403, "{answer}");
    let (code, answer, _) = exchange(&filtered, &get("/_ping"), Duration::from_secs(5));
    assert_eq!(code, 200, "{answer}");
    let (code, answer, _) = exchange(&config.listen[0], &get("/_ping"), Duration::from_secs(5));
    assert_eq!(code, 200, "main socket after kill -9: {answer}");
    remove_container(engine, &name);
    again.stop();
}

/// An enforcer like `Guard::start`'s with other limits.
fn guard_with_limits(limits: Limits) -> Guard {
    let mut g = Guard::start(&admin_settings(&["*"], "deny", &[]));
    g.stop();
    g.config.limits = limits;
    g.restart();
    g
}

/// Pings on the main socket while something else holds connections: each must answer 200 within
/// a second.
fn pings_meanwhile(sock: &Path, n: usize) {
    for i in 0..n {
        let (code, answer, took) = exchange(sock, &get("/_ping"), Duration::from_secs(5));
        assert_eq!(code, 200, "ping #{i}: {answer}");
        assert!(took < Duration::from_secs(1), "ping #{i} took {took:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Clients send their request head one byte a second. Expected: each connection is closed once
/// the header-read timeout (2 s here) has passed, long before the head could be complete, while
/// other clients are served at once throughout.
#[test]
fn headers_one_byte_a_second_are_cut_off_by_the_header_timeout() {
    let timeout = Duration::from_secs(2);
    let g = guard_with_limits(Limits {
        header_read_timeout: timeout,
        ..Limits::default()
    });
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let sock = g.listen.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(900)))
                    .unwrap();
                let start = Instant::now();
                let mut buf = [0u8; 1024];
                for &b in b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n" {
                    if s.write_all(&[b]).is_err() {
                        return start.elapsed();
                    }
                    match s.read(&mut buf) {
                        // Closed, or a 408 before the close.
                        Ok(_) => return start.elapsed(),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return start.elapsed(),
                    }
                }
                panic!("the whole head went through one byte a second");
            })
        })
        .collect();
    pings_meanwhile(&g.listen, 30);
    for h in slow {
        let closed = h.join().unwrap();
        assert!(
            closed >= timeout - Duration::from_millis(200) && closed < timeout * 3,
            "a slow head was closed after {closed:?}"
        );
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// A client asks for a large image tarball (`/images/get`) and never reads it. Expected: other
/// clients are served normally meanwhile, and the enforcer (in this process) does not buffer the
/// tarball: its resident memory grows by far less than the tarball's size.
#[test]
fn a_client_that_never_reads_its_response() {
    let s = shared();
    let cli = s.cli().reference();
    let size: u64 = s
        .engine()
        .run_docker(["image", "inspect", "--format", "{{.Size}}", &cli])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let bound = 16 << 20;
    assert!(
        size > 2 * bound,
        "the image ({size} B) is too small to show buffering"
    );
    let g = guard_with_limits(Limits::default());
    pings_meanwhile(&g.listen, 3);
    let before = rss_bytes();
    let mut stalled = UnixStream::connect(&g.listen).unwrap();
    let target = format!("/v1.41/images/get?names={}", cli.replace('/', "%2F"));
    stalled
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: docker\r\n\r\n").as_bytes())
        .unwrap();
    pings_meanwhile(&g.listen, 30);
    let after = rss_bytes();
    assert!(
        after < before + bound,
        "memory grew from {before} to {after} with a stalled {size} B download"
    );
    // The stalled download really was under way: it can still be read.
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    drop(stalled);
    pings_meanwhile(&g.listen, 3);
}
