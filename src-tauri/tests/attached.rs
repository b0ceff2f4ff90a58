//! The app attached to a separately started `eci-guard serve` (issue 14, point 2), its commands
//! driven through Tauri's IPC with the mock runtime: the daemon's status, settings, history and
//! socket come back through the same commands as embedded; a save is enforced by the daemon; no
//! second enforcer starts. Also the settings import and export commands (point 4; the native
//! dialogs only pick their paths) and the admin write route.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod daemon;
mod mock_app;

use daemon::Daemon;
use eci_e2e::shared;
use eci_guard_desktop::AppState;
use mock_app::{app_config, invoke, mock_app, MockApp};
use serde_json::{json, Value};
use tauri::test::MockRuntime;
use tauri::{App, WebviewWindow};

const ADMIN: &str = include_str!("fixtures/attached-admin.json");

/// `eci-guard serve` on this test's layout under `dir`.
fn serve(dir: &Path) -> Daemon {
    let paths = [
        "--upstream".into(),
        shared().engine().socket_path().as_os_str().to_owned(),
        "--listen".into(),
        dir.join("daemon/docker.sock").into_os_string(),
        "--admin-settings".into(),
        dir.join("admin/admin-settings.json").into_os_string(),
        "--user-settings".into(),
        dir.join("user/settings.json").into_os_string(),
        "--state-dir".into(),
        dir.join("daemon/state").into_os_string(),
        "--control".into(),
        dir.join("daemon/control.sock").into_os_string(),
    ];
    let args: Vec<&std::ffi::OsStr> = paths.iter().map(std::ffi::OsString::as_os_str).collect();
    daemon::serve(&args, dir.join("daemon/docker.sock"))
}

struct AttachedApp {
    state: Arc<AppState>,
    app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

/// The app attached to the daemon's control socket; its own (unused) enforcer paths elsewhere.
fn attach(dir: &Path, force_user_mode: bool) -> AttachedApp {
    let mut config = app_config(
        dir,
        shared().engine().socket_path().to_owned(),
        force_user_mode,
    );
    config.attach = Some(dir.join("daemon/control.sock"));
    config.enforcer.listen = vec![dir.join("app/docker.sock")];
    config.enforcer.state_dir = dir.join("app/state");
    let MockApp {
        state,
        app,
        webview,
    } = mock_app(config);
    AttachedApp {
        state,
        app,
        webview,
    }
}

impl AttachedApp {
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke(&self.webview, cmd, args)
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_attached_app_shows_and_edits_the_daemons_enforcement() {
    let dir = tempfile::Builder::new().prefix("ecia").tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("admin")).unwrap();
    std::fs::write(d.join("admin/admin-settings.json"), ADMIN).unwrap();
    let _daemon = serve(d);
    let daemon_socket = d.join("daemon/docker.sock");
    let a = attach(d, false);
    a.state.start(a.app.handle().clone());

    // The daemon's status and socket, not an enforcer of the app's own.
    let status = a.ok("status", json!({}));
    assert_eq!(status["enforcer"]["listening"], json!([daemon_socket]));
    assert_eq!(status["enforcer"]["eci_enabled"], true);
    assert_eq!(status["enforcer"]["upstream_reachable"], true);
    assert_eq!(
        status["docker_host"],
        format!("unix://{}", daemon_socket.display())
    );
    assert_eq!(
        a.ok("docker_host_line", json!({})),
        format!("export DOCKER_HOST=unix://{}", daemon_socket.display())
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !d.join("app/docker.sock").exists(),
        "attached, the app starts no enforcer of its own"
    );

    // The daemon's history, through the app's commands.
    assert_eq!(eci_e2e::serve::probe(&daemon_socket), 400);
    wait_until("the block in the history", || {
        a.ok(
            "history_query",
            json!({"filter": {}, "page": {"limit": 10, "offset": 0}}),
        )["total"]
            == 1
    });
    let export = d.join("export.csv");
    let rows = a.ok(
        "history_export",
        json!({"filter": {}, "format": "csv", "path": export}),
    );
    assert_eq!(rows, 1);
    assert_eq!(std::fs::read_to_string(&export).unwrap().lines().count(), 2);

    // Settings: admin mode (root may write the admin file), a preview, and a save the daemon
    // enforces.
    let view = a.ok("load_settings", json!({}));
    assert_eq!(view["mode"], "admin");
    assert_eq!(view["admin"]["text"], ADMIN);
    assert_eq!(view["effective"]["eciEnabled"], true);
    let mut section = view["admin"]["section"].clone();
    section["value"] = json!(false);
    let preview = a.ok(
        "preview_settings",
        json!({"target": "admin", "section": section}),
    );
    assert!(preview.as_str().unwrap().contains("\"analyticsEnabled\""));
    a.ok(
        "save_settings",
        json!({"target": "admin", "section": section, "etag": view["admin"]["etag"]}),
    );
    wait_until("the daemon enforcing the save", || {
        a.ok("status", json!({}))["enforcer"]["eci_enabled"] == false
    });
    assert_eq!(
        eci_e2e::serve::probe(&daemon_socket),
        404,
        "ECI off passes through"
    );

    // Export the admin file as it is now, and import it back into the editor.
    let exported = d.join("exported-admin.json");
    a.ok(
        "export_settings",
        json!({"target": "admin", "path": exported}),
    );
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap(),
        std::fs::read_to_string(d.join("admin/admin-settings.json")).unwrap()
    );
    let imported = a.ok("import_settings", json!({"path": exported}));
    assert_eq!(imported["section"]["value"], false);
    std::fs::write(d.join("broken.json"), r#"{"configurationFileVersion": 3}"#).unwrap();
    let imported = a.ok("import_settings", json!({"path": d.join("broken.json")}));
    assert!(imported["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["severity"] == "error"));
    let missing = a
        .invoke("import_settings", json!({"path": d.join("absent.json")}))
        .unwrap_err();
    assert_eq!(missing["code"], "not_found");
    let relative = a
        .invoke(
            "export_settings",
            json!({"target": "admin", "path": "x.json"}),
        )
        .unwrap_err();
    assert_eq!(relative["code"], "invalid");
    assert_eq!(a.ok("admin_write_route", json!({})), "direct");

    // Seen as a user (ECI_GUARD_USER_MODE): user mode, no admin save, and polkit as the route.
    let u = attach(d, true);
    let view = u.ok("load_settings", json!({}));
    assert_eq!(view["mode"], "user");
    let refused = u
        .invoke(
            "save_settings",
            json!({"target": "admin", "section": section, "etag": view["admin"]["etag"]}),
        )
        .unwrap_err();
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(u.ok("admin_write_route", json!({})), "polkit");
    tauri::async_runtime::block_on(a.state.stop());
}
