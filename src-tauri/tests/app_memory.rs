//! Issue 14's memory bench: the app's idle memory as a ratio of an empty Tauri 2 window built the
//! same way (`examples/empty_window`), both measured in one run, and where the difference goes.
//!
//! Each runs alone (one after the other: two at once would share their libraries' pages and
//! halve each other's PSS) under the same private X server and desktop (session bus,
//! notification daemon, tray), with the same environment; the app has its real engine and a
//! history of 100,000 blocks, as in the start-and-memory bench of `ui_e2e.rs`. Once the web
//! process exists, each settles for [`SETTLE`] and until its PSS holds still; then the PSS of
//! each process of its group (the app or the window, `WebKitWebProcess`,
//! `WebKitNetworkProcess`) is read from `smaps_rollup`, and per mapping from `smaps`.
//!
//! A benchmark, so not part of the test run; `cargo xtask bench` runs it:
//! `cargo build --release -p eci-guard-desktop --bins --examples` then
//! `cargo test --release -p eci-guard-desktop --test app_memory -- --ignored --nocapture`.

mod support;
// The end-to-end test's desktop; this bench uses its session bus, notification daemon and tray,
// not its X client.
#[allow(dead_code)]
mod desktop;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::memory::{self, mb, Mem, Process};
// `desktop` reaches these through `super::`.
use support::{tool, wait_until, xvfb, Proc};

/// Issue 14's goal: the app at idle takes at most this many times the empty window's PSS.
const TARGET_RATIO: f64 = 1.3;
/// The least time from the web process's start to the reading: the app's first view with data
/// shows within about a second; WebKit's and the app's timers have run by then.
const SETTLE: Duration = Duration::from_secs(10);
/// How long the group's PSS must hold within [`STILL_KB`] before it is read.
const STILL_FOR: Duration = Duration::from_secs(3);
const STILL_KB: u64 = 1024;
/// How many of the mappings that differ most are printed.
const TOP: usize = 15;
const ROWS: usize = 100_000;

/// The settings the app starts with: ECI on, nothing allowed (so the enforcer asks no registry).
const ADMIN: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "iechorSocketMount": { "imageList": { "images": [] } }
  }
}
"#;

/// The empty window: examples get no `CARGO_BIN_EXE_*`; Cargo puts them in the profile's
/// `examples/`, beside this test's `deps/`.
fn empty_window() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let path = profile.join("examples/empty_window");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p eci-guard-desktop --bins \
         --examples`",
        path.display()
    );
    path
}

/// One group's memory once it settled.
struct Reading {
    /// The process group, its leader's pid: the app or the window.
    group: u32,
    processes: Vec<Process>,
    /// Other processes that mapped WebKitGTK at the reading.
    others: Vec<String>,
    total: Mem,
    by_mapping: BTreeMap<String, u64>,
}

/// Starts `cmd` in a process group of its own, lets it settle, checks it is `up`, reads its
/// memory, stops it.
fn measure(what: &str, cmd: &mut Command, up: impl Fn() -> bool) -> Reading {
    let proc = Proc::spawn(cmd, what);
    let group = proc.0.id();
    let web = |ps: &[Process]| ps.iter().any(|p| p.comm.starts_with("WebKitWebProc"));
    wait_until(&format!("{what}'s web process"), || {
        web(&memory::processes(group))
    });
    let web_started = Instant::now();
    let pss = || {
        memory::processes(group)
            .iter()
            .map(|p| p.mem.pss)
            .sum::<u64>()
    };
    let (mut last, mut still_since) = (pss(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = pss();
        if now.abs_diff(last) > STILL_KB {
            (last, still_since) = (now, Instant::now());
        }
        if web_started.elapsed() >= SETTLE && still_since.elapsed() >= STILL_FOR {
            break;
        }
        assert!(
            web_started.elapsed() < SETTLE * 6,
            "{what}'s memory did not settle: {} MB, then {} MB",
            mb(last),
            mb(now)
        );
    }
    let processes = memory::processes(group);
    assert!(web(&processes) && up(), "{what} is not up: {processes:?}");
    let by_mapping = memory::by_mapping(group);
    let others = memory::others_mapping_webkit(group);
    if !others.is_empty() {
        println!(
            "bench:   WARNING: other processes map WebKitGTK while {what} is read ({}): they \
             share its libraries' pages, so its PSS reads low and the ratio is off; run the \
             bench alone",
            others.join(", ")
        );
    }
    let total = memory::printed_total(&processes, what);
    println!(
        "bench:   {what}: PSS {} MB in all, read {:.1} s after its web process started",
        mb(total.pss),
        web_started.elapsed().as_secs_f64()
    );
    drop(proc);
    Reading {
        group,
        processes,
        others,
        total,
        by_mapping,
    }
}

/// A process's role in its group, the same in both: the group's leader is the main process.
fn role(p: &Process, group: u32) -> String {
    if p.pid == group {
        "main process".into()
    } else {
        p.comm.clone()
    }
}

fn mb1(kb: i64) -> String {
    format!("{:+.1} MB", kb as f64 / 1024.0)
}

/// Prints the difference per process and the mappings that differ most.
fn where_the_rest_goes(app: &Reading, empty: &Reading) {
    let per_role = |r: &Reading| -> BTreeMap<String, u64> {
        r.processes
            .iter()
            .map(|p| (role(p, r.group), p.mem.pss))
            .collect()
    };
    let (a, e) = (per_role(app), per_role(empty));
    println!(
        "bench:   the rest, {} in all, per process (app − empty window):",
        mb1(app.total.pss as i64 - empty.total.pss as i64)
    );
    for name in a.keys().chain(e.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(name).copied(), e.get(name).copied());
        println!(
            "bench:     {name:<22} {:>5} MB vs {:>5} MB  {}",
            x.map_or("-".into(), |v| mb(v).to_string()),
            y.map_or("-".into(), |v| mb(v).to_string()),
            mb1(x.unwrap_or(0) as i64 - y.unwrap_or(0) as i64)
        );
    }
    let mut diffs: Vec<(i64, &String)> = app
        .by_mapping
        .keys()
        .chain(empty.by_mapping.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| {
            let x = app.by_mapping.get(k).copied().unwrap_or(0) as i64;
            let y = empty.by_mapping.get(k).copied().unwrap_or(0) as i64;
            (x - y, k)
        })
        .filter(|(d, _)| *d != 0)
        .collect();
    diffs.sort_by_key(|(d, _)| -d);
    println!("bench:   where it goes, by mapping (PSS, app − empty window), the top {TOP}:");
    for (d, k) in diffs.iter().take(TOP) {
        println!("bench:     {:>10}  {k}", mb1(*d));
    }
    let rest: i64 = diffs
        .iter()
        .skip(TOP)
        .map(|(d, _)| d)
        .filter(|d| **d > 0)
        .sum();
    let less: i64 = diffs.iter().map(|(d, _)| d).filter(|d| **d < 0).sum();
    println!(
        "bench:     {:>10}  the other mappings the app has more of; {} where it has less",
        mb1(rest),
        mb1(less)
    );
}

#[test]
#[ignore = "benchmark: run on a release build with --ignored (cargo xtask bench)"]
fn idle_memory_against_an_empty_tauri_window() {
    let empty_window = empty_window();
    let engine = eci_e2e::Engine::start().unwrap_or_else(|e| panic!("starting the engine: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let admin = root.join("admin/admin-settings.json");
    std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
    std::fs::write(&admin, ADMIN).unwrap();
    let registries = root.join("registries.json");
    std::fs::write(&registries, "{}").unwrap();
    support::fill_history(&root.join("state"), ROWS);

    let (_x, display) = xvfb();
    let desktop = desktop::Desktop::start(&display, root);
    // The same environment for both: the display, the desktop's bus, and every place GTK,
    // WebKit and the app write to under this run's directory.
    let run_dir = root.join("run-user");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(
        &run_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let common = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", root.join("home"))
            .env("XDG_CONFIG_HOME", root.join("home/.config"))
            .env("XDG_DATA_HOME", root.join("home/.local/share"))
            .env("XDG_CACHE_HOME", root.join("home/.cache"))
            .env("XDG_RUNTIME_DIR", &run_dir)
            .env("TMPDIR", root)
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &desktop.bus)
            .stdout(Stdio::null());
    };

    let log = |name: &str| std::fs::File::create(root.join(name)).unwrap();
    let mut cmd = Command::new(&empty_window);
    common(&mut cmd);
    cmd.stderr(log("empty-window.log"));
    let empty = measure("empty window", &mut cmd, || true);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eci-guard-desktop"));
    common(&mut cmd);
    let socket = root.join("run/docker.sock");
    cmd.stderr(log("app.log"))
        .env("ECI_GUARD_UPSTREAM", engine.socket_path())
        .env("ECI_GUARD_LISTEN", &socket)
        .env("ECI_GUARD_ADMIN_SETTINGS", &admin)
        .env("ECI_GUARD_USER_SETTINGS", root.join("user/settings.json"))
        .env("ECI_GUARD_STATE_DIR", root.join("state"))
        .env("ECI_GUARD_REGISTRIES", &registries)
        .env("ECI_GUARD_USER_MODE", "0")
        // Its own enforcer, not a system service's it would otherwise attach to.
        .env("ECI_GUARD_ATTACH", "off");
    // Up: its enforcer serves its socket.
    let app = measure("app", &mut cmd, || socket.exists());

    let ratio = app.total.pss as f64 / empty.total.pss as f64;
    println!(
        "bench: memory at idle, app {} MB vs empty Tauri 2 window {} MB (PSS of each group): \
         {ratio:.2}× (target ≤ {TARGET_RATIO}×): {}",
        mb(app.total.pss),
        mb(empty.total.pss),
        if !app.others.is_empty() || !empty.others.is_empty() {
            "not judged: other WebKit processes ran (see the warning)"
        } else if ratio <= TARGET_RATIO {
            "met"
        } else {
            "not met"
        }
    );
    where_the_rest_goes(&app, &empty);
    // Other builds share these cores; what they took shows in the start, less in memory.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("bench:   load average (1, 5, 15 min): {}", load.join(", "));
    drop(desktop);
}
