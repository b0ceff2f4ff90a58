//! The restart-policy / symlink-swap bypass (issue 4): a container created through the enforcer
//! with a harmless bind source, which is then swapped for a symlink to the engine socket, must not
//! get the socket when the engine starts it again by itself. Judged by the engine's own state
//! (running or not, restart policy, restart count, start times and its events), not by answers.
//!
//! The tests share one engine and each enforcer watches all of its containers, so they run one
//! at a time.

mod support;

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eci_e2e::{shared, Engine};
use eci_proxy::Enforcer;
use serde_json::Value;
use support::*;

fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The engine's inspect over its own socket: faster than the CLI, for racing its back-off.
/// HTTP/1.0, so the answer comes unchunked.
fn inspect(engine: &Engine, name: &str) -> Value {
    let (_, text) = raw_http(
        engine.socket_path(),
        format!("GET /containers/{name}/json HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes(),
    );
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body.trim()).unwrap_or(Value::Null)
}

fn running(info: &Value) -> bool {
    info["State"]["Running"] == true
}

fn restart_policy(info: &Value) -> String {
    info["HostConfig"]["RestartPolicy"]["Name"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn restart_count(info: &Value) -> u64 {
    info["RestartCount"].as_u64().unwrap_or(0)
}

/// Stopped for good: not running, not restarting, and the engine will not start it by itself.
fn disarmed(info: &Value) -> bool {
    !running(info) && info["State"]["Restarting"] == false && restart_policy(info) == "no"
}

fn unix_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The engine's own events for a container between `since` and now: (action, time in ns).
fn engine_events(engine: &Engine, id: &str, since: &str) -> Vec<(String, u128)> {
    let out = engine_docker(
        engine,
        &[
            "events",
            "--since",
            since,
            "--until",
            &unix_now(),
            "--filter",
            &format!("container={id}"),
            "--format",
            "{{.Action}} {{.TimeNano}}",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (a, t) = l.split_once(' ')?;
            Some((a.to_owned(), t.parse().ok()?))
        })
        .collect()
}

/// From the last `start` to the `kill` after it, per the engine's own clock.
fn start_to_kill(events: &[(String, u128)]) -> Option<Duration> {
    let start = events.iter().rposition(|(a, _)| a == "start")?;
    let kill = events[start..].iter().find(|(a, _)| a == "kill")?;
    let ns = kill.1.checked_sub(events[start].1)?;
    Some(Duration::from_nanos(u64::try_from(ns).ok()?))
}

/// An engine time (RFC 3339) in ns since the epoch.
fn unix_ns(t: &Value) -> u128 {
    let t = chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
    u128::try_from(t.timestamp_nanos_opt().unwrap()).unwrap()
}

fn sock() -> PathBuf {
    shared().engine().socket_path().to_path_buf()
}

/// The attack of issue 4 as it happens: `--restart always`, a plain file bound at create and
/// start, swapped for a symlink to the engine socket during the engine's restart back-off (after
/// the die-time check has looked), so the engine's own restart mounts the socket. The start-time
/// check must kill it at once and disarm its restart policy.
#[test]
fn a_restart_with_a_swapped_bind_source_is_killed_at_start() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let (g, sink) = Guard::start_collecting_on(
        engine,
        &admin_settings(&[s.cli().reference().as_str()], "deny", &[]),
    );
    let since = unix_now();
    let c = SwappableContainer::run(
        g.cli(),
        "swap-at-start",
        "always",
        &bb,
        &["sh", "-c", "sleep 1"],
    );
    let id = c.id.clone();
    // Each exit within 10 s doubles the back-off (100 ms, 200, 400, 800…): wait for one of
    // 800 ms, let the die-time check look at the still harmless file, then swap.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = inspect(engine, &id);
        if info["State"]["Restarting"] == true && restart_count(&info) >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "no long back-off: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(250));
    c.swap_for_symlink(&sock());
    let restarts_at_swap = restart_count(&inspect(engine, &id));

    eventually(20, "the container killed and disarmed", || {
        disarmed(&inspect(engine, &id))
    });
    let info = inspect(engine, &id);
    // The engine did start it with the socket (the path under test), once.
    assert_eq!(restart_count(&info), restarts_at_swap, "{info}");
    let b = sink.only_block_about(&id, "swap at start");
    assert_mount_denied(&b);
    assert_reason_says(
        &b,
        &[
            "the engine started container",
            "restart policy or daemon restart",
            "killed",
            "restart policy was set to \"no\"",
        ],
        "swap at start",
    );
    assert_eq!(
        b.image_id.as_deref(),
        Some(s.busybox().config_digest.as_str())
    );

    let events = engine_events(engine, &id, &since);
    let window = start_to_kill(&events).expect("a kill after the last start");
    let kill_ns = events.iter().rev().find(|(a, _)| a == "kill").unwrap().1;
    let process = Duration::from_nanos(
        u64::try_from(kill_ns - unix_ns(&info["State"]["StartedAt"])).unwrap(),
    );
    println!(
        "restart with the socket: SIGKILL {} ms after the engine's start event, {} ms after the process started ({})",
        window.as_millis(),
        process.as_millis(),
        b.reason
    );
    assert!(window < Duration::from_secs(2), "{window:?}");
    // Never started again after the kill.
    std::thread::sleep(Duration::from_millis(1500));
    let after = inspect(engine, &id);
    assert!(disarmed(&after), "{after}");
    assert_eq!(after["State"]["StartedAt"], info["State"]["StartedAt"]);
    remove_container(engine, &id);
}

/// The swap made while the container runs: when it exits, the die-time check sees the socket
/// inside the engine's 100 ms back-off, cancels the pending restart and disarms the policy, so
/// the engine never starts it with the socket. Also when the restart policy was given by
/// `docker update` after the start (the check must not go by the policy read at the start).
#[test]
fn a_swap_before_the_exit_is_caught_at_die_and_never_restarted() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let (g, sink) = Guard::start_collecting_on(engine, &admin_settings(&[], "deny", &[]));
    // (case, restart policy at create, restart policy set by an update once running)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("always at create", "always", None),
        ("on-failure by update", "no", Some("on-failure")),
    ];
    for (case, at_create, updated) in cases {
        let since = unix_now();
        let c = SwappableContainer::run(
            g.cli(),
            "swap-at-die",
            at_create,
            &bb,
            // It exits once told to, after the swap: a fixed sleep raced the set-up under load.
            &[
                "sh",
                "-c",
                "until grep -q go /s; do sleep 0.05; done; exit 3",
            ],
        );
        let id = c.id.clone();
        if let Some(policy) = updated {
            g.ok(&["update", "--restart", policy, &id]);
        }
        let first = inspect(engine, &id);
        assert!(
            running(&first) && restart_count(&first) == 0,
            "{case}: {first}"
        );
        let mut held = c.hold_source();
        c.swap_for_symlink(&sock());
        std::io::Write::write_all(&mut held, b"go\n").unwrap();

        eventually(20, "the container disarmed", || {
            disarmed(&inspect(engine, &id))
        });
        std::thread::sleep(Duration::from_millis(1500));
        let info = inspect(engine, &id);
        assert!(disarmed(&info), "{case}: {info}");
        // The exit counted one restart the engine planned; it never happened.
        assert_eq!(restart_count(&info), 1, "{case}: {info}");
        assert_eq!(
            info["State"]["StartedAt"], first["State"]["StartedAt"],
            "{case}"
        );
        let starts = engine_events(engine, &id, &since)
            .iter()
            .filter(|(a, _)| a == "start")
            .count();
        assert_eq!(starts, 1, "{case}");

        let b = sink.only_block_about(&id, case);
        assert_mount_denied(&b);
        assert_reason_says(
            &b,
            &[
                "exited and the engine was to start it again",
                "pending restart was cancelled",
                "restart policy was set to \"no\"",
            ],
            case,
        );
        println!("die-time check ({case}): {}", b.reason);
        remove_container(engine, &id);
    }
}

/// No false positives: a harmless bind and a container holding its own filtered socket (an
/// allowed image that asked for the engine socket) keep restarting by their policy.
#[test]
fn harmless_and_filtered_mounts_keep_restarting() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let cli = s.cli().reference();
    let (g, sink) =
        Guard::start_collecting_on(engine, &admin_settings(&[cli.as_str()], "deny", &[]));
    let (_dir, x) = bind_source();
    let cases = [
        ("harmless", format!("{}:/s", x.display())),
        (
            "filtered",
            format!("{}:/var/run/docker.sock", sock().display()),
        ),
    ];
    let mut ids = Vec::new();
    for (what, bind) in &cases {
        let name = unique(what);
        let id = run_restarting(
            g.cli(),
            &name,
            "always",
            bind,
            &cli,
            &["sh", "-c", "sleep 0.3"],
        );
        ids.push((*what, id));
    }
    let filtered = inspect(engine, &ids[1].1);
    let source = filtered["Mounts"][0]["Source"].as_str().unwrap_or("");
    assert!(
        source.starts_with(&g.config.state_dir.join("filtered").display().to_string()),
        "not a filtered socket: {source}"
    );
    for (what, id) in &ids {
        eventually(30, &format!("{what} restarted three times"), || {
            restart_count(&inspect(engine, id)) >= 3
        });
        let info = inspect(engine, id);
        assert_eq!(restart_policy(&info), "always", "{what}");
        assert!(sink.about(id).is_empty(), "{what}: {:#?}", sink.about(id));
    }
    for (_, id) in &ids {
        remove_container(engine, id);
    }
}

/// A container made and started directly on the engine with the socket, before the enforcer runs
/// (as after a daemon restart that brought back a `restart always` container): the sweep when the
/// enforcer connects kills and disarms it.
#[test]
fn the_sweep_on_connect_kills_a_running_container_with_the_socket() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let name = unique("swept");
    let id = run_restarting(
        Cli::direct(engine),
        &name,
        "always",
        &format!("{}:/s", sock().display()),
        &s.busybox().reference(),
        &["sleep", "600"],
    );
    assert!(running(&inspect(engine, &id)));
    let started = Instant::now();
    let (_g, sink) = Guard::start_collecting_on(engine, &admin_settings(&[], "deny", &[]));
    eventually(20, "the swept container disarmed", || {
        disarmed(&inspect(engine, &id))
    });
    println!(
        "sweep: disarmed {} ms after the enforcer started",
        started.elapsed().as_millis()
    );
    let b = sink.only_block_about(&id, "sweep");
    assert_reason_says(&b, &["found running when the enforcer connected"], "sweep");
    remove_container(engine, &id);
}

/// A real daemon restart: the engine crashes while a `restart always` container runs with a
/// harmless bind, the bind source is swapped for a symlink to the engine socket, and the engine
/// comes back and starts the container before its API answers. The sweep when the enforcer
/// reconnects kills and disarms it.
#[test]
fn after_an_engine_crash_the_container_it_brings_back_is_swept_on_reconnect() {
    let _one = serial();
    let s = shared();
    let engine: &'static Engine = Box::leak(Box::new(Engine::start().expect("private engine")));
    let bb = s.busybox().reference();
    engine.run_docker(["pull", "-q", &bb]).unwrap();
    let (g, sink) = Guard::start_collecting_on(engine, &admin_settings(&[], "deny", &[]));
    let c = SwappableContainer::run(g.cli(), "crash", "always", &bb, &["sleep", "600"]);
    let id = c.id.clone();
    engine.kill();
    c.swap_for_symlink(engine.socket_path());
    engine.start_again().expect("engine starts again");
    eventually(30, "the restored container disarmed", || {
        disarmed(&inspect(engine, &id))
    });
    let info = inspect(engine, &id);
    let held = unix_ns(&info["State"]["FinishedAt"]) - unix_ns(&info["State"]["StartedAt"]);
    let b = sink.only_block_about(&id, "daemon restart");
    assert_reason_says(
        &b,
        &["found running when the enforcer connected"],
        "daemon restart",
    );
    println!(
        "daemon restart: the container ran {} ms with the socket ({})",
        held / 1_000_000,
        b.reason
    );
    drop(g);
    engine.kill();
}

/// An engine socket that accepts connections and never answers: start and status still return
/// promptly (status says the engine is unreachable).
#[test]
fn a_silent_engine_does_not_hang_start_or_status() {
    let dir = tempfile::Builder::new()
        .prefix("ecisil")
        .tempdir_in("/tmp")
        .unwrap();
    let silent = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&silent).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let config = dir_config(dir.path(), silent);
    std::fs::write(
        config.settings.admin.as_ref().unwrap(),
        admin_settings(&[], "deny", &[]),
    )
    .unwrap();
    let rt = runtime();
    let digests = Arc::new(PushedDigests::default());
    let t = Instant::now();
    let enforcer = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                Enforcer::start(config, digests, None),
            )
            .await
        })
        .expect("start returns within 10 s")
        .expect("enforcer starts");
    let start_took = t.elapsed();
    let t = Instant::now();
    let status = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), enforcer.status()).await })
        .expect("status returns within 10 s");
    let status_took = t.elapsed();
    assert!(!status.upstream_reachable);
    assert!(start_took < Duration::from_secs(5), "{start_took:?}");
    assert!(status_took < Duration::from_secs(5), "{status_took:?}");
    rt.block_on(enforcer.stop());
}
