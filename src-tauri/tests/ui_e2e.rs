//! End to end through the real window (issue 5): the app under Xvfb, driven over WebDriver
//! (`tauri-driver` + `WebKitWebDriver`), with a real engine and registry (eci-e2e) behind the
//! embedded enforcer. Each step writes a screenshot to `docs/screenshots/`.
//!
//! Prerequisites (missing ones fail the test, naming what to install): root, Debian's `xvfb`,
//! `webkit2gtk-driver`, `tauri-driver` (`cargo install tauri-driver --locked`), the built UI in
//! `ui/dist`, and eci-e2e's (docker.io, docker-registry, busybox-static).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod daemon;
mod desktop;
mod support;

use eci_e2e::{push_image, shared, ImageSpec};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use support::memory::{app_memory, mb};
use support::{tool, wait_until, xvfb, Proc, STEP_TIMEOUT};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the enforcement the app shows runs (issue 14: the same views work both ways).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Enforcing {
    /// The app's own enforcer.
    Embedded,
    /// A separately started `eci-guard serve`, which the app attaches to through its control
    /// socket. The app is given a listening socket and state dir of its own that nobody uses:
    /// only an app that really attached shows the daemon's socket, blocks and reloads.
    Attached,
}

/// Where the app keeps everything for one run.
struct AppEnv {
    dir: tempfile::TempDir,
    upstream: PathBuf,
    registries: PathBuf,
    enforcing: Enforcing,
}

impl AppEnv {
    /// A fresh run directory on the harness's engine: `registries` as the registries file and
    /// `admin` as the admin settings file.
    fn new(registries: &Value, admin: &str, enforcing: Enforcing) -> AppEnv {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registries.json");
        std::fs::write(&file, registries.to_string()).unwrap();
        let env = AppEnv {
            upstream: shared().engine().socket_path().to_owned(),
            registries: file,
            dir,
            enforcing,
        };
        std::fs::create_dir_all(env.admin().parent().unwrap()).unwrap();
        std::fs::write(env.admin(), admin).unwrap();
        env
    }

    fn admin(&self) -> PathBuf {
        self.dir.path().join("admin/admin-settings.json")
    }
    /// The socket clients use: the app's enforcer's, or the daemon's when attached.
    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/docker.sock")
    }
    fn control(&self) -> PathBuf {
        self.dir.path().join("run/control.sock")
    }
    /// `eci-guard serve` on this run's files when the app attaches to one; `None` embedded.
    fn daemon(&self) -> Option<daemon::Daemon> {
        if self.enforcing == Enforcing::Embedded {
            return None;
        }
        let d = self.dir.path();
        let paths = [
            "--upstream".into(),
            self.upstream.clone().into_os_string(),
            "--listen".into(),
            self.socket().into_os_string(),
            "--admin-settings".into(),
            self.admin().into_os_string(),
            "--user-settings".into(),
            d.join("user/settings.json").into_os_string(),
            "--state-dir".into(),
            d.join("state").into_os_string(),
            "--registries".into(),
            self.registries.clone().into_os_string(),
            "--control".into(),
            self.control().into_os_string(),
        ];
        let args: Vec<&std::ffi::OsStr> = paths.iter().map(std::ffi::OsString::as_os_str).collect();
        Some(daemon::serve(&args, self.socket()))
    }
}

/// How the app's page is rendered in a run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rendering {
    /// The app's default: no compositing (see `src/webview.rs`).
    AppDefault,
    /// WebKitGTK's compositing: WebKitWebDriver's click on Save hangs without it (5 of 6 runs).
    Composited,
}

/// `tauri-driver` with the app's environment (the app inherits it through WebKitWebDriver).
/// `bus`: the session bus the app uses (single instance, notifications, the tray); without one
/// the app runs without them, and never on the host's own bus.
fn driver(
    display: &str,
    env: &AppEnv,
    user_mode: bool,
    rendering: Rendering,
    bus: Option<&str>,
) -> (Proc, u16) {
    let port = free_port();
    let native = free_port();
    let mut cmd = Command::new(tool(
        "tauri-driver",
        "`cargo install tauri-driver --locked`",
    ));
    cmd.args([
        "--port",
        &port.to_string(),
        "--native-port",
        &native.to_string(),
    ])
    .args([
        "--native-driver",
        tool("WebKitWebDriver", "Debian's webkit2gtk-driver")
            .to_str()
            .unwrap(),
    ])
    .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
    .env_remove("DBUS_SESSION_BUS_ADDRESS")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (key, value) in app_env(display, env) {
        cmd.env(key, value);
    }
    cmd.env("ECI_GUARD_USER_MODE", if user_mode { "1" } else { "0" });
    if let Some(bus) = bus {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", bus);
    }
    if rendering == Rendering::Composited {
        cmd.env("WEBKIT_DISABLE_COMPOSITING_MODE", "0");
    }
    let proc = Proc::spawn(&mut cmd, "tauri-driver");
    wait_until("tauri-driver", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (proc, port)
}

/// The app's environment: its display and where everything of this run is.
fn app_env(display: &str, env: &AppEnv) -> Vec<(&'static str, std::ffi::OsString)> {
    let d = env.dir.path();
    let (listen, state, attach) = match env.enforcing {
        Enforcing::Embedded => (env.socket(), d.join("state"), "off".into()),
        Enforcing::Attached => (
            d.join("app/docker.sock"),
            d.join("app/state"),
            env.control().into(),
        ),
    };
    vec![
        ("DISPLAY", display.into()),
        ("ECI_GUARD_UPSTREAM", env.upstream.clone().into()),
        ("ECI_GUARD_LISTEN", listen.into()),
        ("ECI_GUARD_ADMIN_SETTINGS", env.admin().into()),
        (
            "ECI_GUARD_USER_SETTINGS",
            d.join("user/settings.json").into(),
        ),
        ("ECI_GUARD_STATE_DIR", state.into()),
        ("ECI_GUARD_REGISTRIES", env.registries.clone().into()),
        ("ECI_GUARD_ATTACH", attach),
        // The tray writes its icons under the temp dir (`tray-icon/`): the test's, not /tmp.
        ("TMPDIR", d.into()),
    ]
}

async fn session(port: u16) -> Client {
    // fantoccini's rustls build needs a process-wide provider; the driver is plain HTTP anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "tauri:options".into(),
        json!({ "application": env!("CARGO_BIN_EXE_eci-guard-desktop") }),
    );
    // tauri-driver accepts before its WebKitWebDriver is ready; a first attempt may be refused.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return client,
            Err(e) if attempt < 3 => {
                eprintln!("WebDriver session attempt {attempt} failed: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("no WebDriver session with the app: {e}"),
        }
    }
}

fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

async fn find(c: &Client, selector: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(css(selector))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            shot(c, "zz-failure").await;
            panic!("no {selector}: {e} (see docs/screenshots/zz-failure.png)")
        }
    }
}

/// Waits for the element and clicks it.
async fn click(c: &Client, selector: &str) {
    find(c, selector).await.click().await.unwrap();
}

async fn shot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits until `selector` matches an element whose content contains `text`.
async fn wait_text(c: &Client, selector: &str, text: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        for e in c.find_all(css(selector)).await.unwrap_or_default() {
            // The markup, not the rendered text: cells are cut with an ellipsis on screen.
            if e.html(true).await.unwrap_or_default().contains(text) {
                return;
            }
        }
        if Instant::now() >= deadline {
            shot(c, "zz-failure").await;
            panic!("no {selector} showing {text:?} (see docs/screenshots/zz-failure.png)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the input `selector` holds a value containing `text`.
async fn wait_value(c: &Client, selector: &str, text: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let value = find(c, selector).await.prop("value").await.ok().flatten();
        if value.as_deref().is_some_and(|v| v.contains(text)) {
            return;
        }
        if Instant::now() >= deadline {
            shot(c, "zz-failure").await;
            panic!(
                "{selector} holds {value:?}, not {text:?} (see docs/screenshots/zz-failure.png)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Other desktop settings and an unknown key in the ECI section, which a save must keep.
const ADMIN: &str = r#"{
  "configurationFileVersion": 2,
  "analyticsEnabled": { "locked": false, "value": false },
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "iechorSocketMount": {
      "imageList": { "images": [], "futureOption": "kept" }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_allows_an_image_locks_and_sees_blocks_live_then_a_user_sees_it_locked() {
    admin_then_user(Enforcing::Embedded).await
}

/// The same views and steps with the app attached to a separately started `eci-guard serve`:
/// the save goes through the daemon's control socket and the daemon enforces it, its blocks
/// reach History live, and Status shows the daemon's socket, not the app's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_admin_allows_an_image_locks_and_sees_blocks_live_then_a_user_sees_it_locked() {
    admin_then_user(Enforcing::Attached).await
}

/// A screenshot, taken once: in the embedded run (the attached run looks the same).
async fn shot_once(c: &Client, enforcing: Enforcing, name: &str) {
    if enforcing == Enforcing::Embedded {
        shot(c, name).await;
    }
}

async fn admin_then_user(enforcing: Enforcing) {
    let s = shared();
    let engine = s.engine();
    let registry = s.registry();
    let blocked_image = s.busybox().reference();
    let allowed = tokio::task::spawn_blocking(move || {
        push_image(
            shared().engine(),
            shared().registry(),
            &ImageSpec::new("tool"),
            "team/tool",
            "1",
        )
        .expect("pushing the allowed image")
    })
    .await
    .unwrap();
    let entry = allowed.reference();

    let env = AppEnv::new(
        &json!({ registry.addr(): { "insecure": true } }),
        ADMIN,
        enforcing,
    );
    let _daemon = env.daemon();

    let (_x, display) = xvfb();
    let guard_host = format!("unix://{}", env.socket().display());
    let docker_through_guard = |args: Vec<String>| {
        let mut cmd = engine.docker();
        cmd.env("DOCKER_HOST", &guard_host).args(args);
        cmd.output().expect("running docker")
    };
    let socket_mount = format!("{}:/var/run/docker.sock", env.socket().display());

    let notice = {
        let (_driver, port) = driver(&display, &env, false, Rendering::Composited, None);
        let c = session(port).await;
        find(&c, "[data-testid=mode-badge][data-mode=admin]").await;
        find(&c, "[data-testid=new-image-input]").await;
        shot_once(&c, enforcing, "01-settings-admin").await;

        // Add the image: the badge turns green from the real registry.
        find(&c, "[data-testid=new-image-input]")
            .await
            .send_keys(&entry)
            .await
            .unwrap();
        click(&c, "[data-testid=add-image]").await;
        find(&c, "[data-testid=image-badge][data-state=found]").await;
        shot_once(&c, enforcing, "02-settings-image-found").await;

        // Lock and save: the file holds the change and the keys it had.
        click(&c, "[data-testid=lock-toggle]").await;
        click(&c, "[data-testid=save-settings]").await;
        // Judged at the end, so one run shows every later step too.
        let notice = find(&c, "[data-testid=save-notice]")
            .await
            .attr("data-kind")
            .await
            .unwrap()
            .unwrap_or_default();
        shot_once(&c, enforcing, "03-settings-saved-locked").await;
        let saved: Value =
            serde_json::from_str(&std::fs::read_to_string(env.admin()).unwrap()).unwrap();
        let eci = &saved["enhancedContainerIsolation"];
        assert_eq!(eci["locked"], true);
        assert_eq!(
            eci["iechorSocketMount"]["imageList"]["images"],
            json!([entry])
        );
        assert_eq!(
            eci["iechorSocketMount"]["imageList"]["futureOption"],
            "kept"
        );
        assert_eq!(saved["analyticsEnabled"]["value"], false);

        // The enforcer reloaded: the allowed image may now mount the socket through it.
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let out = docker_through_guard(
                [
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "-v",
                    &socket_mount,
                    &entry,
                    "true",
                ]
                .map(String::from)
                .to_vec(),
            );
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the allowed image was never let through: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // History open; a blocked run shows up in it without a refresh.
        click(&c, "[data-testid=tab-history]").await;
        find(&c, "[data-testid=history-total]").await;
        let out = docker_through_guard(
            [
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                &socket_mount,
                &blocked_image,
                "true",
            ]
            .map(String::from)
            .to_vec(),
        );
        assert!(
            !out.status.success(),
            "an unlisted image mounted the socket"
        );
        wait_text(&c, "[data-testid=history-row]", "eci-e2e/busybox").await;
        click(&c, "[data-testid=history-row]").await;
        find(&c, "[data-testid=history-details]").await;
        shot_once(&c, enforcing, "04-history-live-block").await;

        click(&c, "[data-testid=tab-status]").await;
        find(&c, "[data-testid=engine-version]").await;
        // Attached, the card names the daemon's control socket; embedded, there is none.
        match enforcing {
            Enforcing::Attached => {
                wait_text(
                    &c,
                    "[data-testid=enforcer-attached]",
                    &env.control().display().to_string(),
                )
                .await;
                shot(&c, "15-status-attached").await;
            }
            Enforcing::Embedded => assert!(c
                .find_all(css("[data-testid=enforcer-attached]"))
                .await
                .unwrap()
                .is_empty()),
        }
        // The socket the daemon serves (attached, the app's own is elsewhere and unused).
        wait_value(
            &c,
            "[data-testid=docker-host-line]",
            &env.socket().display().to_string(),
        )
        .await;
        shot_once(&c, enforcing, "05-status").await;
        c.close().await.unwrap();
        notice
    };

    // A user's run: the locked fields are read-only, with the administrator's note.
    let (_driver, port) = driver(&display, &env, true, Rendering::Composited, None);
    let c = session(port).await;
    find(&c, "[data-testid=mode-badge][data-mode=user]").await;
    find(&c, "[data-testid=locked-banner]").await;
    let input = find(&c, "[data-testid=image-entry]").await;
    assert!(
        !input.is_enabled().await.unwrap(),
        "a locked entry is editable"
    );
    let lock = find(&c, "[data-testid=lock-toggle]").await;
    assert!(!lock.is_enabled().await.unwrap(), "the lock is editable");
    let save = find(&c, "[data-testid=save-settings]").await;
    assert!(
        !save.is_enabled().await.unwrap(),
        "save is offered to a user"
    );
    shot_once(&c, enforcing, "06-settings-user-locked").await;
    c.close().await.unwrap();
    assert_eq!(
        notice, "saved",
        "the admin's save was reported as {notice:?} (its own reload taken for someone else's edit)"
    );
}

/// ECI on, no image allowed, socket mounts in audit mode (issue 17).
const ADMIN_AUDIT: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "iechorSocketMount": { "imageList": { "images": [] } },
    "eciGuard": { "audit": { "socketMounts": true } }
  }
}
"#;

/// Audit mode in the real window: a socket mount the policy refuses is forwarded by the real
/// enforcer, and History shows it apart from refused rows, with its badge, the day's count in the
/// banner, the outcome filter, and "Enforce now" previewing the file it would write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audited_request_shows_apart_in_history_with_the_enforce_now_banner() {
    audited_then_enforced(Enforcing::Embedded).await
}

/// The same, attached to a separately started `eci-guard serve`: the daemon forwards and
/// records, "Enforce now" is saved through its control socket, and the daemon refuses after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_an_audited_request_shows_apart_in_history_with_the_enforce_now_banner() {
    audited_then_enforced(Enforcing::Attached).await
}

async fn audited_then_enforced(enforcing: Enforcing) {
    let s = shared();
    let engine = s.engine();
    let image = s.busybox().reference();
    let env = AppEnv::new(&json!({}), ADMIN_AUDIT, enforcing);
    let _daemon = env.daemon();

    let (_x, display) = xvfb();
    let (_driver, port) = driver(&display, &env, false, Rendering::Composited, None);
    let c = session(port).await;
    find(&c, "[data-testid=mode-badge][data-mode=admin]").await;
    click(&c, "[data-testid=tab-history]").await;
    find(&c, "[data-testid=audit-banner]").await;
    wait_text(
        &c,
        "[data-testid=audit-count]",
        "Nothing would have been refused",
    )
    .await;

    // Refused in enforce mode; in audit mode the engine runs it.
    let mut run = engine.docker();
    run.env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:/var/run/docker.sock", env.socket().display()))
        .args([&image, "true"]);
    let out = run.output().expect("running docker");
    assert!(
        out.status.success(),
        "an audited socket mount was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    wait_text(
        &c,
        "[data-testid=history-row][data-outcome=audited]",
        "eci-e2e/busybox",
    )
    .await;
    wait_text(
        &c,
        "[data-testid=history-row][data-outcome=audited]",
        r#"data-testid="audited-badge" role="img" aria-label="audited — would be refused""#,
    )
    .await;
    click(&c, "[data-testid=history-row][data-outcome=audited]").await;
    find(&c, "[data-testid=detail-audited]").await;

    // The outcome filter asks the store: nothing was refused, and every row was audited.
    let outcome = |value: &'static str| {
        let c = &c;
        async move {
            find(c, "[data-testid=filter-outcome]")
                .await
                .select_by_value(value)
                .await
                .unwrap();
        }
    };
    outcome("blocked").await;
    wait_text(
        &c,
        "[data-testid=history-total]",
        "No blocked requests match",
    )
    .await;
    outcome("audited").await;
    wait_text(
        &c,
        "[data-testid=history-row][data-outcome=audited]",
        "eci-e2e/busybox",
    )
    .await;
    // One `docker run` is judged more than once (create, start): the banner counts what the
    // store holds, the same total as the audited rows.
    let total = find(&c, "[data-testid=history-total]")
        .await
        .text()
        .await
        .unwrap();
    let audited: u64 = total
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {total:?}"));
    assert!(audited >= 1, "{total}");
    let plural = if audited == 1 { "" } else { "s" };
    wait_text(
        &c,
        "[data-testid=audit-count]",
        &format!(
            "{audited} request{plural} would have been refused in the last 24 hours (socket mount: {audited})"
        ),
    )
    .await;
    shot_once(&c, enforcing, "07-history-audited").await;

    // "Enforce now" shows the user file it would write (the section is unlocked), and Cancel
    // leaves it unwritten.
    click(&c, "[data-testid=enforce-now]").await;
    find(&c, "[data-testid=enforce-preview]").await;
    wait_text(&c, "[data-testid=audit-banner]", "user/settings.json").await;
    shot_once(&c, enforcing, "08-history-enforce-now").await;
    click(&c, "[data-testid=enforce-cancel]").await;
    assert!(!env.dir.path().join("user/settings.json").exists());
    // Confirmed: the user file holds every family enforced, the enforcer reloads, and the same
    // run is refused and recorded as blocked.
    click(&c, "[data-testid=enforce-now]").await;
    wait_text(
        &c,
        "[data-testid=enforce-preview]",
        "\"socketMounts\": false",
    )
    .await;
    shot_once(&c, enforcing, "08-history-enforce-now").await;
    click(&c, "[data-testid=enforce-confirm]").await;
    find(&c, "[data-testid=enforce-done]").await;
    shot_once(&c, enforcing, "09-history-enforced").await;
    let user: Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("user/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        user["enhancedContainerIsolation"]["eciGuard"]["audit"],
        json!({"socketMounts": false, "commands": false, "hostAccess": false})
    );
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let mut again = engine.docker();
        again
            .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
            .args(["run", "--rm", "--network", "none", "-v"])
            .arg(format!("{}:/var/run/docker.sock", env.socket().display()))
            .args([&image, "true"]);
        let out = again.output().unwrap();
        if !out.status.success() {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("iechor socket mount denied"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still forwarded after Enforce now"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    outcome("blocked").await;
    wait_text(
        &c,
        "[data-testid=history-row][data-outcome=blocked]",
        "eci-e2e/busybox",
    )
    .await;
    shot_once(&c, enforcing, "10-history-blocked-after-enforce").await;
    c.close().await.unwrap();
}

/// The app's processes for this run (its environment names this run's socket).
fn app_pids(env: &AppEnv) -> Vec<u32> {
    let want = format!("ECI_GUARD_LISTEN={}", env.socket().display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            comm.trim().starts_with("eci-guard-desk")
                && environ.split(|&b| b == 0).any(|v| v == want.as_bytes())
        })
        .collect()
}

/// The enforcer's answer to `GET /_ping` on its socket.
fn ping(socket: &Path) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return "no connection".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The tray's menu as the app builds it now (the same model the tray shows).
async fn tray_menu(c: &Client) -> Value {
    c.execute(
        "return await window.__TAURI_INTERNALS__.invoke('tray_menu');",
        vec![],
    )
    .await
    .expect("tray_menu")
}

/// Waits until the tray's state satisfies `ok`.
async fn wait_tray(c: &Client, what: &str, ok: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let menu = tray_menu(c).await;
        if ok(&menu["state"]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {menu}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const XK_DOWN: u32 = 0xff54;
const XK_RETURN: u32 = 0xff0d;

/// Opens the tray icon's menu with a click on the icon, and picks its `nth` enabled item with the
/// keyboard (the state line is disabled: 1 is Open, 2 Pause or Resume, 3 Quit).
fn tray_pick(x: &desktop::X, nth: usize, screenshot: Option<&str>) {
    let before = x.popups().len();
    let icon = x
        .tray_icons()
        .into_iter()
        .next()
        .expect("the tray holds the app's icon");
    x.click(icon.x + icon.w as i16 / 2, icon.y + icon.h as i16 / 2);
    desktop::wait_for("the tray menu", STEP_TIMEOUT, || x.popups().len() > before);
    std::thread::sleep(Duration::from_millis(500));
    if let Some(name) = screenshot {
        let w = x.screen_width();
        x.screenshot(
            desktop::Rect {
                x: w as i16 - 520,
                y: 0,
                w: 520,
                h: 260,
            },
            name,
        );
    }
    for _ in 0..nth {
        x.key(XK_DOWN);
    }
    x.key(XK_RETURN);
}

/// Issue 14: the app as a desktop product. Closing the window hides it and the enforcer keeps
/// answering and refusing; a block raises a desktop notification (seen on the session bus and
/// on screen) whose click opens its History entry; a second launch exits and shows the first;
/// the tray's menu pauses enforcing for real and resumes it; the History entry allows the image by
/// digest after showing the diff; and the tray's Quit stops the enforcer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_keeps_guarding_blocks_notify_one_instance_and_the_tray_pauses_and_quits() {
    let s = shared();
    let engine = s.engine();
    let registry = s.registry();
    let blocked_image = s.busybox().reference();
    let env = AppEnv::new(
        &json!({ registry.addr(): { "insecure": true } }),
        ADMIN,
        Enforcing::Embedded,
    );
    let (_x, display) = xvfb();
    let desk = desktop::Desktop::start(&display, env.dir.path());
    let x = desktop::X::connect(&display);
    let (_driver, port) = driver(
        &display,
        &env,
        false,
        Rendering::Composited,
        Some(&desk.bus),
    );
    let c = session(port).await;
    find(&c, "[data-testid=mode-badge][data-mode=admin]").await;
    let pids = app_pids(&env);
    assert_eq!(pids.len(), 1, "one app process: {pids:?}");
    let pid = pids[0];
    let window = x.window_titled("eci-guard").expect("the app's window");
    assert!(x.viewable(window));
    let run_mounting_the_socket = || {
        let mut cmd = engine.docker();
        cmd.env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
            .args(["run", "--rm", "--network", "none", "-v"])
            .arg(format!("{}:/var/run/docker.sock", env.socket().display()))
            .args([&blocked_image, "true"]);
        cmd.output().expect("running docker")
    };
    desktop::wait_for("the enforcer", STEP_TIMEOUT, || {
        ping(&env.socket()).ends_with("OK")
    });
    wait_until("the tray icon", || !x.tray_icons().is_empty());
    let menu = tray_menu(&c).await;
    assert_eq!(menu["title"], "eci-guard: enforcing", "{menu}");

    // 1. Closing the window hides it; the app and its enforcer keep running.
    x.close(window);
    desktop::wait_for("the window to hide", STEP_TIMEOUT, || !x.viewable(window));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app_pids(&env),
        [pid],
        "the app exited when its window closed"
    );
    assert!(
        ping(&env.socket()).ends_with("OK"),
        "the enforcer no longer answers /_ping after the window closed"
    );
    let out = run_mounting_the_socket();
    assert!(
        !out.status.success(),
        "with the window closed an unlisted image mounted the socket"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("socket mount denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. That block raised a desktop notification naming the image and the reason.
    let short = blocked_image.rsplit('/').next().unwrap().to_owned();
    desktop::wait_for("the notification", STEP_TIMEOUT, || {
        let calls = desk.notify_calls();
        calls.contains("member=Notify") && calls.contains(&short)
    });
    let calls = desk.notify_calls();
    assert!(
        calls.contains("image is not in the allowed list"),
        "{calls}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let w = x.screen_width();
    x.screenshot(
        desktop::Rect {
            x: w as i16 - 520,
            y: 0,
            w: 520,
            h: 260,
        },
        "12-notification",
    );

    // 3. A click on it shows the window on that History entry.
    desk.click_notification();
    desktop::wait_for("the window to show", STEP_TIMEOUT, || x.viewable(window));
    wait_text(&c, "[data-testid=history-row][aria-selected=true]", &short).await;
    find(
        &c,
        "[data-testid=history-details] [data-testid=detail-reason]",
    )
    .await;
    shot(&c, "13-history-from-notification").await;

    // 4. A second launch with the same environment hands over to this one and exits.
    x.close(window);
    desktop::wait_for("the window to hide", STEP_TIMEOUT, || !x.viewable(window));
    let mut second = Command::new(env!("CARGO_BIN_EXE_eci-guard-desktop"));
    second
        .envs(app_env(&display, &env))
        .env("DBUS_SESSION_BUS_ADDRESS", &desk.bus)
        .env("ECI_GUARD_USER_MODE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let launched = Instant::now();
    let mut second = Proc::spawn(&mut second, "a second instance");
    let status = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            launched.elapsed() < STEP_TIMEOUT,
            "the second instance is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "a second launch exited with {status} after {} ms",
        launched.elapsed().as_millis()
    );
    assert!(status.success(), "the second instance exited with {status}");
    desktop::wait_for("the first window to show", STEP_TIMEOUT, || {
        x.viewable(window)
    });
    assert_eq!(app_pids(&env), [pid], "one app process, the first");
    assert!(ping(&env.socket()).ends_with("OK"));

    // 5. The tray: its menu, and Pause for 10 minutes really stops enforcing.
    tray_pick(&x, 2, Some("11-tray-menu"));
    wait_tray(&c, "the pause", |s| s.get("paused").is_some()).await;
    let out = run_mounting_the_socket();
    assert!(
        out.status.success(),
        "paused, yet the socket mount was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Resume from the tray: refused again.
    tray_pick(&x, 2, None);
    wait_tray(&c, "enforcing again", |s| s == "enforcing").await;
    assert!(!run_mounting_the_socket().status.success());

    // 6. The History entry's "Allow this image" for the admin: the digest form, the diff of the
    // admin file shown before the write, and the write lets the image mount the socket.
    click(&c, "[data-testid=allow-image-file]").await;
    find(&c, "[data-testid=allow-diff]").await;
    let digest_entry = find(&c, "[data-testid=allow-entry-digest]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        digest_entry.contains("@sha256:"),
        "no digest form for a pushed image: {digest_entry}"
    );
    click(&c, "[data-testid=allow-choice-digest]").await;
    wait_text(
        &c,
        "[data-testid=allow-diff] [data-op=insert]",
        &digest_entry,
    )
    .await;
    // The details pane scrolls; WebKitWebDriver does not scroll a nested pane to the button.
    c.execute(
        "const pane = document.querySelector('[data-testid=history-details]');
         pane.scrollTop = pane.scrollHeight;
         const diff = document.querySelector('[data-testid=allow-diff]');
         const added = [...diff.querySelectorAll('[data-op=insert]')]
           .find((l) => l.textContent.includes('@sha256:'));
         diff.scrollTop += added.getBoundingClientRect().top - diff.getBoundingClientRect().top - 80;",
        vec![],
    )
    .await
    .unwrap();
    // Painted before the screenshot.
    tokio::time::sleep(Duration::from_millis(400)).await;
    shot(&c, "14-history-allow-image-diff").await;
    click(&c, "[data-testid=allow-save]").await;
    find(&c, "[data-testid=allow-saved]").await;
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.admin()).unwrap()).unwrap();
    let eci = &saved["enhancedContainerIsolation"];
    assert_eq!(
        eci["iechorSocketMount"]["imageList"]["images"],
        json!([digest_entry])
    );
    assert_eq!(
        eci["iechorSocketMount"]["imageList"]["futureOption"],
        "kept"
    );
    assert_eq!(saved["analyticsEnabled"]["value"], false);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let out = run_mounting_the_socket();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the image allowed by digest was never let through: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // 7. Quit from the tray stops the enforcer: its socket is gone with the app.
    tray_pick(&x, 3, None);
    desktop::wait_for("the app to exit", STEP_TIMEOUT, || {
        app_pids(&env).is_empty()
    });
    assert!(
        !env.socket().exists(),
        "the enforcer's socket is left behind"
    );
}

/// Where the start went, read from the page: navigation start (`performance.timeOrigin`, wall
/// clock), DOM ready and the UI's first view with data (`eci:interactive`, set in `App.tsx`), in
/// milliseconds after `requested` (the session request, wall clock).
async fn start_phases(c: &Client, requested: std::time::SystemTime) -> Option<[f64; 3]> {
    let v = c
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             const mark = performance.getEntriesByName('eci:interactive')[0];
             return [performance.timeOrigin, nav ? nav.domContentLoadedEventEnd : null,
                     mark ? mark.startTime : null];",
            vec![],
        )
        .await
        .ok()?;
    let v: Vec<f64> = v
        .as_array()?
        .iter()
        .map(|x| x.as_f64())
        .collect::<Option<_>>()?;
    let origin = v[0]
        - requested
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64()
            * 1000.0;
    Some([origin, origin + v[1], origin + v[2]])
}

/// Issue 5's benchmark: app start to the first interactive view, and memory at idle and with
/// 100,000 history rows shown, against 1.5 s and 150 MB. Prints the figures beside the targets;
/// fails past them. Memory is judged by PSS summed over the app and its WebKit processes (RSS
/// counts the libraries they share once per process); both are printed. A benchmark, so not part
/// of the test run: run it on a release build with
/// `cargo test --release -p eci-guard-desktop --test ui_e2e -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run on a release build with --ignored"]
async fn start_time_and_memory_with_100k_history_rows() {
    const ROWS: usize = 100_000;
    const START_TARGET: Duration = Duration::from_millis(1500);
    const MEMORY_TARGET_MB: u64 = 150;
    let env = AppEnv::new(&json!({}), ADMIN, Enforcing::Embedded);
    let state_dir = env.dir.path().join("state");
    tokio::task::spawn_blocking(move || support::fill_history(&state_dir, ROWS))
        .await
        .unwrap();

    let (_x, display) = xvfb();
    let (driver, port) = driver(&display, &env, false, Rendering::AppDefault, None);
    let requested = std::time::SystemTime::now();
    let started = Instant::now();
    let c = session(port).await;
    let session_at = started.elapsed();
    // Polled every 10 ms, not fantoccini's default 250 ms, which would add up to a quarter of a
    // second of waiting to the figure.
    for selector in [
        "[data-testid=mode-badge][data-mode=admin]",
        "[data-testid=new-image-input]",
    ] {
        c.wait()
            .at_most(STEP_TIMEOUT)
            .every(Duration::from_millis(10))
            .for_element(css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"));
    }
    let start = started.elapsed();
    let phases = start_phases(&c, requested).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = app_memory(driver.0.id(), "idle");
    click(&c, "[data-testid=tab-history]").await;
    wait_text(&c, "[data-testid=history-total]", &format!("of {ROWS}")).await;
    find(&c, "[data-testid=history-row]").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_rows = app_memory(driver.0.id(), "history");
    c.close().await.unwrap();
    println!(
        "bench: start to interactive view {} ms (target < {} ms); the session (app launched by \
         WebKitWebDriver) at {} ms",
        start.as_millis(),
        START_TARGET.as_millis(),
        session_at.as_millis()
    );
    match phases {
        Some([navigation, dom_ready, interactive]) => println!(
            "bench:   in the page: navigation start {navigation:.0} ms, DOM ready {dom_ready:.0} \
             ms, first view with data {interactive:.0} ms"
        ),
        None => println!("bench:   the page's timings could not be read"),
    }
    for (what, mem) in [
        ("idle", idle),
        (&*format!("History with {ROWS} rows"), with_rows),
    ] {
        println!(
            "bench: memory {what}: PSS {} MB (target < {MEMORY_TARGET_MB} MB, judged on PSS); \
             RSS {} MB (shared libraries counted once per process)",
            mb(mem.pss),
            mb(mem.rss)
        );
    }
    assert!(idle.pss > 0, "no app process found in the driver's group");
    assert!(start < START_TARGET, "start took {start:?}");
    assert!(
        idle.pss < MEMORY_TARGET_MB * 1024,
        "idle memory (PSS) {} kB",
        idle.pss
    );
    assert!(
        with_rows.pss < MEMORY_TARGET_MB * 1024,
        "memory (PSS) with {ROWS} rows {} kB",
        with_rows.pss
    );
}
