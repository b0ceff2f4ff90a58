//! Project automation, the one place for it: `cargo xtask setup|test|run|bench|package`.
//! Every command installs what it needs first, so a fresh Debian machine needs nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use eci_e2e::host::{self, HostState};

/// Debian packages the tests and the app need: the real engine, the real registry, the image
/// payload, certificate tools; the desktop app's WebKitGTK stack, a display and a WebDriver for
/// its window; HAProxy as the benchmark's baseline.
const DEBIAN_PACKAGES: &[&str] = &[
    "docker.io",
    // `ip` and `iptables-save`: the host check before and after the tests, and the test
    // engines' own network namespaces.
    "iproute2",
    "iptables",
    "docker-registry",
    "busybox-static",
    "openssl",
    "apache2-utils",
    "ca-certificates",
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "libsoup-3.0-dev",
    "librsvg2-dev",
    "libayatana-appindicator3-dev",
    "xvfb",
    "webkit2gtk-driver",
    // The app's end-to-end test gives it a desktop: a private session bus (`dbus-daemon`,
    // `dbus-monitor` and `dbus-send` from dbus-bin), a notification daemon and an XEmbed tray.
    "dbus-daemon",
    "dbus-bin",
    "dunst",
    "trayer",
    "haproxy",
    // `perf record`: the enforcer's profile under load (`cargo xtask profile`).
    "linux-perf",
    // systemd-journald and journalctl: the audit log's journal test runs the real journald in a
    // private mount namespace (systemd is not PID 1 here).
    "systemd",
    // The control socket's test speaks HTTP over a unix socket as a second user (with
    // util-linux's setpriv).
    "curl",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test()),
        Some("run") => setup().and_then(|()| run(&args[1..])),
        Some("bench") => setup().and_then(|()| bench()),
        Some("profile") => setup().and_then(|()| profile(args.get(1).map(String::as_str))),
        Some("package") => setup().and_then(|()| package()),
        Some("fuzz") => setup().and_then(|()| fuzz(&args[1..])),
        Some("soak") => setup().and_then(|()| soak(&args[1..])),
        _ => {
            eprintln!("usage: cargo xtask <setup|test|bench|profile [create]|package|fuzz [SECONDS] [TARGET..]|soak [engine|trivial] [SECONDS] [ACTIVE] [IDLE]|run [-- ARGS]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing with the command line when it fails.
fn sh(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs the Debian packages and toolchain components that are missing; does nothing when
/// everything is there, so it is cheap to call before every command.
fn setup() -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing {}", missing.join(" "));
        sh("apt-get", &["update", "-q"])?;
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&missing);
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot start apt-get")?;
        if !status.success() {
            bail!("apt-get install {} failed", missing.join(" "));
        }
    }
    setup_ui()?;
    // The app's window is driven over WebDriver through tauri-driver, from crates.io.
    if Command::new("tauri-driver").arg("--help").output().is_err() {
        sh("cargo", &["install", "tauri-driver", "--locked"])?;
    }
    for component in ["rustfmt", "clippy"] {
        let probe = Command::new("cargo")
            .arg(if component == "rustfmt" {
                "fmt"
            } else {
                "clippy"
            })
            .arg("--version")
            .output();
        if !probe.map(|o| o.status.success()).unwrap_or(false) {
            sh("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}

/// Installs the frontend's locked dependencies when they changed, and builds it: the desktop
/// app embeds `ui/dist` at compile time.
fn setup_ui() -> Result<()> {
    if Command::new("npm").arg("--version").output().is_err() {
        sh("apt-get", &["install", "-y", "-q", "nodejs", "npm"])?;
    }
    let ui = root().join("ui");
    let stamp = ui.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&stamp) < modified(&ui.join("package-lock.json")) {
        sh("npm", &["ci", "--prefix", "ui", "--no-audit", "--no-fund"])?;
    }
    sh("npm", &["run", "--prefix", "ui", "build"])
}

/// fmt check, clippy with warnings as errors, then every test of the workspace and the frontend.
fn test() -> Result<()> {
    sh("cargo", &["fmt", "--all", "--check"])?;
    let clippy = [
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ];
    sh("cargo", &clippy)?;
    let check = HostCheck::before()?;
    let tests = sh("cargo", &["test", "--workspace"]);
    let host = check.after();
    match (tests, host) {
        (Err(tests), Err(host)) => bail!("{tests:#}\n{host:#}"),
        (tests, host) => tests.and(host)?,
    }
    sh("npm", &["test", "--prefix", "ui"])
}

/// The tests leave the host as they found it (issue 13): its network, the system engine and what
/// it holds, mounts, `/tmp`, and no process left running; a system engine still starts a
/// container with its default networking afterwards.
struct HostCheck {
    before: HostState,
}

impl HostCheck {
    fn before() -> Result<HostCheck> {
        // Orphans of the run become our children, so none escapes the count.
        host::adopt_orphans().context("cannot adopt the tests' orphans")?;
        let before = HostState::take().context("cannot record the host's state")?;
        Ok(HostCheck { before })
    }

    fn changes(&self) -> Result<Vec<String>> {
        let now = HostState::take().context("cannot record the host's state")?;
        Ok(now.changes_since(&self.before))
    }

    fn after(self) -> Result<()> {
        let mut problems: Vec<String> = host::leftover_children(Duration::from_secs(15))
            .into_iter()
            .map(|p| format!("process left running: {p}"))
            .collect();
        let mut changes = self.changes()?;
        if !changes.is_empty() {
            // What other programs on the machine make and remove at once (a linker's temp
            // files) is not the tests'; what the tests changed stays changed.
            std::thread::sleep(Duration::from_secs(3));
            let again = self.changes()?;
            changes.retain(|c| again.contains(c));
        }
        problems.extend(changes);
        if host::system_engine_answers() {
            match host::system_engine_runs_a_bridged_container() {
                Ok(_) => eprintln!("xtask: the system engine still runs a container on its bridge"),
                Err(e) => problems.push(format!(
                    "the system engine cannot run a container with default networking: {e}"
                )),
            }
        }
        if !problems.is_empty() {
            bail!(
                "the tests changed the host or left things behind:\n  {}",
                problems.join("\n  ")
            );
        }
        eprintln!("xtask: the host's network, system engine, mounts and /tmp are as before the tests; no process left");
        Ok(())
    }
}

/// Every benchmark, each printing its figures beside its baseline from the same run: the enforcer
/// against a direct connection and HAProxy, the registry digests, the history store, and the
/// app's idle memory against an empty Tauri window built the same way.
fn bench() -> Result<()> {
    sh("cargo", &["bench", "-p", "eci-proxy", "--bench", "proxy"])?;
    sh(
        "cargo",
        &["bench", "-p", "eci-registry", "--bench", "digests"],
    )?;
    let history = [
        "test",
        "--release",
        "-p",
        "eci-history",
        "--test",
        "bench",
        "--",
        "--nocapture",
    ];
    sh("cargo", &history)?;
    // The empty window is an example of the app's crate; tests get no path to examples built
    // for them, so it is built first.
    sh(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "eci-guard-desktop",
            "--bins",
            "--examples",
        ],
    )?;
    sh(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "eci-guard-desktop",
            "--test",
            "app_memory",
            "--",
            "--ignored",
            "--nocapture",
        ],
    )
}

/// The enforcer's profile under the c=32 load (or, with `create`, under allowed creates with a
/// socket bind at c=1): `perf record` through the proxy bench, rendered as a flamegraph with
/// inferno (installed from crates.io when missing) into `docs/perf/`.
fn profile(load: Option<&str>) -> Result<()> {
    let (load, svg_name, title) = match load {
        None => (
            "c32",
            "enforcer-c32.svg",
            "eci-guard enforcer, /_ping and GET /containers/json at c=32",
        ),
        Some("create") => (
            "create",
            "create-allowed.svg",
            "eci-guard enforcer, allowed creates with a socket bind at c=1",
        ),
        Some(other) => bail!("unknown profile {other:?}: `cargo xtask profile [create]`"),
    };
    let has_inferno = Command::new("inferno-flamegraph").arg("--help").output();
    if !has_inferno.map(|o| o.status.success()).unwrap_or(false) {
        sh("cargo", &["install", "inferno", "--locked"])?;
    }
    let out = root().join("docs/perf");
    let data = std::env::temp_dir().join("eci-enforcer.perf.data");
    let status = Command::new("cargo")
        .args(["bench", "-p", "eci-proxy", "--bench", "proxy"])
        .env("ECI_BENCH_PROFILE", &data)
        .env("ECI_BENCH_PROFILE_LOAD", load)
        .current_dir(root())
        .status()
        .context("cannot start cargo bench")?;
    if !status.success() {
        bail!("the profiled bench failed ({status})");
    }
    let script = Command::new("perf")
        .args(["script", "-i"])
        .arg(&data)
        .output()
        .context("cannot start perf script")?;
    let _ = std::fs::remove_file(&data);
    let folded = pipe("inferno-collapse-perf", &[], &script.stdout)?;
    let svg = pipe("inferno-flamegraph", &["--title", title], &folded)?;
    std::fs::write(out.join(svg_name), svg)?;
    eprintln!("xtask: wrote {}", out.join(svg_name).display());
    Ok(())
}

/// Runs `program` with `input` on its stdin and returns its stdout.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writing to {program} panicked"))??;
    if !out.status.success() {
        bail!("{program} failed ({})", out.status);
    }
    Ok(out.stdout)
}

/// The `.deb` (release build): app, CLI, systemd unit, polkit action, desktop entry, icons.
fn package() -> Result<()> {
    let deb = xtask::package::build_deb(xtask::package::Profile::Release)?;
    eprintln!("xtask: built {}", deb.display());
    eprintln!("xtask: install with `apt install {}`", deb.display());
    Ok(())
}

/// Every fuzz target (libFuzzer, stable toolchain) for SECONDS each, default 600; not part of
/// `test`, since a useful run is long.
fn fuzz(args: &[String]) -> Result<()> {
    let has_fuzz = Command::new("cargo").args(["fuzz", "--version"]).output();
    if !has_fuzz.map(|o| o.status.success()).unwrap_or(false) {
        sh("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sh("fuzz/run.sh", &args)
}

/// The load and soak run of the enforcer (default: real engine, 600 s, 256 active clients,
/// 10,000 idle connections); not part of `test`.
fn soak(args: &[String]) -> Result<()> {
    let mut full = vec![
        "run",
        "--release",
        "-p",
        "eci-proxy",
        "--example",
        "soak",
        "--",
    ];
    full.extend(args.iter().map(String::as_str));
    sh("cargo", &full)
}

/// Builds and runs eci-guard with the given arguments; with none, makes sure an engine is
/// running and opens the desktop app (headless: `eci-guard serve`) on the embedded defaults.
fn run(args: &[String]) -> Result<()> {
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--")
        .collect();
    let mut full = vec!["run", "--release", "-p", "eci-guard", "--"];
    if args.is_empty() {
        ensure_engine()?;
        eprintln!("xtask: point the CLI at the enforcer with");
        eprintln!("  export DOCKER_HOST=unix://{}", default_listen().display());
        // With a display, the desktop app (which embeds the enforcer); without one, headless.
        let display = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if display {
            return sh("cargo", &["run", "--release", "-p", "eci-guard-desktop"]);
        }
        eprintln!("xtask: no display: starting the enforcer headless (eci-guard serve)");
        full.push("serve");
    } else {
        full.extend(args);
    }
    sh("cargo", &full)
}

/// Where `eci-guard serve` listens by default (root: system path; others: the runtime dir).
fn default_listen() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !is_root() => PathBuf::from(dir).join("eci-guard/docker.sock"),
        _ => PathBuf::from("/run/eci-guard/docker.sock"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Starts the system engine when its socket does not answer: through systemd where it runs,
/// otherwise dockerd in the background as its service would start it, with its default network.
/// (`--bridge=none` made dockerd delete an existing `docker0`, and the containers of the
/// engine, which keep its data root, no longer started with their default network.)
fn ensure_engine() -> Result<()> {
    let socket = Path::new("/var/run/docker.sock");
    let answers = || std::os::unix::net::UnixStream::connect(socket).is_ok();
    if answers() {
        return Ok(());
    }
    if Path::new("/run/systemd/system").exists() {
        sh("systemctl", &["start", "docker"])?;
    } else {
        let log = std::fs::File::create("/var/log/eci-guard-dockerd.log")
            .context("cannot create the dockerd log")?;
        eprintln!("xtask: starting dockerd (log: /var/log/eci-guard-dockerd.log)");
        Command::new("dockerd")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start dockerd")?;
    }
    for _ in 0..100 {
        if answers() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    bail!("the engine did not come up at {}", socket.display())
}
