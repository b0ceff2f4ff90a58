//! The app's commands driven through Tauri's IPC with the mock runtime (no window system): the
//! settings round trip, the save's refusals (conflict, forbidden, invalid), history, status, the
//! error shape, and the capability's limits as the real ACL applies them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod mock_app;

use eci_guard_desktop::{AppError, AppState, ErrorCode};
use mock_app::{app_config, invoke, mock_app, MockApp};
use serde_json::{json, Value};
use tauri::test::MockRuntime;
use tauri::{App, WebviewWindow};

struct Fixture {
    dir: tempfile::TempDir,
    state: Arc<AppState>,
    _app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
}

/// An admin file with other desktop settings and an unknown key inside the ECI section, the
/// Docker Desktop spelling of the socket-mount key, and a key order to keep.
const ADMIN: &str = r#"{
  "configurationFileVersion": 2,
  "analyticsEnabled": { "locked": false, "value": false },
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "dockerSocketMount": {
      "imageList": { "images": ["iechor.io/localstack/localstack:*"], "futureOption": 7 },
      "commandList": { "type": "deny", "commands": ["push"] }
    }
  },
  "proxy": { "mode": "manual", "http": "http://proxy.example:3128" }
}
"#;

const LOCKED_ADMIN: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": { "locked": true, "value": true }
}
"#;

impl Fixture {
    fn new(admin: Option<&str>, user: Option<&str>, force_user_mode: bool) -> Fixture {
        Fixture::with_upstream(admin, user, force_user_mode, None)
    }

    /// Like [`Fixture::new`], in front of the engine at `upstream` (default: none).
    fn with_upstream(
        admin: Option<&str>,
        user: Option<&str>,
        force_user_mode: bool,
        upstream: Option<PathBuf>,
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let admin_path = dir.path().join("admin/admin-settings.json");
        let user_path = dir.path().join("user/settings.json");
        std::fs::create_dir_all(admin_path.parent().unwrap()).unwrap();
        if let Some(text) = admin {
            std::fs::write(&admin_path, text).unwrap();
        }
        if let Some(text) = user {
            std::fs::create_dir_all(user_path.parent().unwrap()).unwrap();
            std::fs::write(&user_path, text).unwrap();
        }
        let upstream = upstream.unwrap_or_else(|| dir.path().join("no-engine.sock"));
        let config = app_config(dir.path(), upstream, force_user_mode);
        let MockApp {
            state,
            app,
            webview,
        } = mock_app(config);
        Fixture {
            dir,
            state,
            _app: app,
            webview,
        }
    }

    fn admin_path(&self) -> PathBuf {
        self.dir.path().join("admin/admin-settings.json")
    }

    fn user_path(&self) -> PathBuf {
        self.dir.path().join("user/settings.json")
    }

    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke(&self.webview, cmd, args)
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        match self.invoke(cmd, args) {
            Ok(v) => v,
            Err(e) => panic!("{cmd} failed: {e}"),
        }
    }

    /// The error code a failing command returned (and checks the error's shape).
    fn err_code(&self, cmd: &str, args: Value) -> String {
        let e = match self.invoke(cmd, args) {
            Ok(v) => panic!("{cmd} succeeded: {v}"),
            Err(e) => e,
        };
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code: {e}"))
            .to_owned()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn load_validate_preview_save_keeps_unknown_keys() {
    let f = Fixture::new(Some(ADMIN), None, false);
    let view = f.ok("load_settings", json!({}));
    assert_eq!(view["mode"], "admin");
    assert_eq!(view["locked"], false);
    assert_eq!(view["admin"]["exists"], true);
    assert_eq!(view["admin"]["writable"], true);
    assert_eq!(view["admin"]["mount_key"], "dockerSocketMount");
    assert_eq!(view["user"]["exists"], false);
    assert_eq!(view["user"]["etag"], "");
    assert_eq!(
        view["effective"]["images"],
        json!(["iechor.io/localstack/localstack:*"])
    );
    // The lenient read types what it can (the section's serde form names the key
    // `iechorSocketMount`; `mount_key` keeps the file's spelling) and flags the unknown key in
    // place.
    let section = view["admin"]["section"].clone();
    assert_eq!(
        section["iechorSocketMount"]["commandList"]["commands"],
        json!(["push"])
    );
    assert!(view["admin"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["pointer"]
            == "/enhancedContainerIsolation/dockerSocketMount/imageList/futureOption"));

    // Live validation points at the entry, under the file's spelling of the key.
    let mut edited = section.clone();
    edited["iechorSocketMount"]["imageList"]["images"] = json!(["Busybox:latest"]);
    let diags = f.ok(
        "validate_section",
        json!({ "target": "admin", "section": edited }),
    );
    let diags = diags.as_array().unwrap();
    assert!(
        diags.iter().any(|d| d["severity"] == "error"
            && d["pointer"] == "/enhancedContainerIsolation/dockerSocketMount/imageList/images/0"),
        "{diags:?}"
    );
    // An invalid section is never written.
    let before = read(&f.admin_path());
    let etag = view["admin"]["etag"].clone();
    let e = f
        .invoke(
            "save_settings",
            json!({ "target": "admin", "section": edited, "etag": etag }),
        )
        .unwrap_err();
    assert_eq!(e["code"], "invalid");
    assert!(!e["diagnostics"].as_array().unwrap().is_empty());
    assert_eq!(read(&f.admin_path()), before);

    // A valid edit: preview equals what save writes, and both keep every unknown key in order.
    let mut edited = section;
    edited["locked"] = json!(true);
    edited["iechorSocketMount"]["imageList"]["images"] = json!([
        "iechor.io/localstack/localstack:*",
        "127.0.0.1:5000/tools/agent:1"
    ]);
    edited["iechorSocketMount"]["imageList"]["allowDerivedImages"] = json!(false);
    let preview = f.ok(
        "preview_settings",
        json!({ "target": "admin", "section": edited }),
    );
    let saved = f.ok(
        "save_settings",
        json!({ "target": "admin", "section": edited, "etag": etag }),
    );
    let on_disk = read(&f.admin_path());
    assert_eq!(preview.as_str().unwrap(), on_disk);
    let doc: serde_json::Map<String, Value> = serde_json::from_str(&on_disk).unwrap();
    let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "configurationFileVersion",
            "analyticsEnabled",
            "enhancedContainerIsolation",
            "proxy"
        ]
    );
    assert_eq!(doc["proxy"]["http"], "http://proxy.example:3128");
    let eci = &doc["enhancedContainerIsolation"];
    assert_eq!(eci["locked"], true);
    assert!(eci.get("iechorSocketMount").is_none());
    let list = &eci["dockerSocketMount"]["imageList"];
    assert_eq!(list["futureOption"], 7);
    assert_eq!(list["allowDerivedImages"], false);
    assert_eq!(list["images"][1], "127.0.0.1:5000/tools/agent:1");
    // The returned view is the file as now on disk, with a new etag that a next save can use.
    assert_eq!(saved["text"].as_str().unwrap(), on_disk);
    assert_ne!(saved["etag"], etag);
    let again = f.ok("load_settings", json!({}));
    assert_eq!(again["admin"]["etag"], saved["etag"]);
    assert_eq!(again["locked"], true);
    f.ok(
        "save_settings",
        json!({ "target": "admin", "section": again["admin"]["section"], "etag": saved["etag"] }),
    );
}

#[test]
fn save_creates_a_missing_file_readable_by_all() {
    let f = Fixture::new(None, None, false);
    let section =
        json!({ "value": true, "iechorSocketMount": { "imageList": { "images": ["*"] } } });
    let saved = f.ok(
        "save_settings",
        json!({ "target": "user", "section": section, "etag": "" }),
    );
    assert_eq!(saved["exists"], true);
    let doc: Value = serde_json::from_str(&read(&f.user_path())).unwrap();
    assert_eq!(doc["configurationFileVersion"], 2);
    assert_eq!(
        doc["enhancedContainerIsolation"]["iechorSocketMount"]["imageList"]["images"],
        json!(["*"])
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.user_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(f.user_path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["settings.json"]);
}

#[test]
fn save_refuses_a_file_changed_since_load() {
    type Change = fn(&Path);
    let cases: [(&str, Change); 3] = [
        ("edited", |p| {
            let t = read(p).replace("push", "pull");
            std::fs::write(p, t).unwrap();
        }),
        ("removed", |p| std::fs::remove_file(p).unwrap()),
        ("replaced with the same length", |p| {
            let t = read(p).replace("\"push\"", "\"tag\" ");
            std::fs::write(p, t).unwrap();
        }),
    ];
    for (name, change) in cases {
        let f = Fixture::new(Some(ADMIN), None, false);
        let view = f.ok("load_settings", json!({}));
        change(&f.admin_path());
        let after_change = std::fs::read_to_string(f.admin_path()).ok();
        let code = f.err_code(
            "save_settings",
            json!({ "target": "admin", "section": view["admin"]["section"], "etag": view["admin"]["etag"] }),
        );
        assert_eq!(code, "conflict", "{name}");
        assert_eq!(
            std::fs::read_to_string(f.admin_path()).ok(),
            after_change,
            "{name}: the other writer's change must stay"
        );
    }
    // A file that appeared after an empty load is a conflict too.
    let f = Fixture::new(None, None, false);
    std::fs::create_dir_all(f.user_path().parent().unwrap()).unwrap();
    std::fs::write(f.user_path(), "{\"configurationFileVersion\": 2}\n").unwrap();
    let code = f.err_code(
        "save_settings",
        json!({ "target": "user", "section": { "value": false }, "etag": "" }),
    );
    assert_eq!(code, "conflict");
}

#[test]
fn user_mode_cannot_write_the_admin_file_or_clear_history() {
    let f = Fixture::new(Some(ADMIN), None, true);
    let view = f.ok("load_settings", json!({}));
    assert_eq!(view["mode"], "user");
    assert_eq!(view["admin"]["writable"], false);
    let before = read(&f.admin_path());
    let code = f.err_code(
        "save_settings",
        json!({ "target": "admin", "section": { "value": false }, "etag": view["admin"]["etag"] }),
    );
    assert_eq!(code, "forbidden");
    assert_eq!(read(&f.admin_path()), before);
    assert_eq!(f.err_code("history_clear", json!({})), "forbidden");
    // Unlocked: the user's own file is theirs to write.
    f.ok(
        "save_settings",
        json!({ "target": "user", "section": { "value": false }, "etag": "" }),
    );
}

#[test]
fn a_locked_admin_section_forbids_user_saves_in_every_mode() {
    for force_user_mode in [true, false] {
        let f = Fixture::new(
            Some(LOCKED_ADMIN),
            Some("{\"configurationFileVersion\": 2}\n"),
            force_user_mode,
        );
        let view = f.ok("load_settings", json!({}));
        assert_eq!(view["locked"], true);
        let before = read(&f.user_path());
        let code = f.err_code(
            "save_settings",
            json!({ "target": "user", "section": { "value": false }, "etag": view["user"]["etag"] }),
        );
        assert_eq!(code, "forbidden", "user mode forced: {force_user_mode}");
        assert_eq!(read(&f.user_path()), before);
    }
}

#[test]
fn a_broken_file_loads_for_fixing_but_is_never_overwritten() {
    let broken = "{ \"configurationFileVersion\": 2, \"other\": [1, 2,\n";
    let f = Fixture::new(Some(broken), None, false);
    let view = f.ok("load_settings", json!({}));
    assert_eq!(view["admin"]["text"], broken);
    let diags = view["admin"]["diagnostics"].as_array().unwrap();
    assert!(diags
        .iter()
        .any(|d| d["code"] == "syntax" && d["line"].is_number()));
    // Nothing applies from a broken file: the effective policy is the fail-closed default.
    assert_eq!(view["effective"]["images"], json!([]));
    let code = f.err_code(
        "save_settings",
        json!({ "target": "admin", "section": { "value": true }, "etag": view["admin"]["etag"] }),
    );
    assert_eq!(code, "invalid");
    assert_eq!(read(&f.admin_path()), broken);
}

fn block(image: &str, command: &str) -> eci_history::BlockRecord {
    eci_history::BlockRecord {
        time: eci_history::Timestamp::now(),
        socket: eci_history::SocketKind::Main,
        socket_path: "/run/eci-guard/docker.sock".into(),
        container_id: None,
        container_name: None,
        image: Some(image.into()),
        image_id: Some("sha256:0123".into()),
        kind: eci_history::BlockKind::SocketMount,
        audited: false,
        commands: vec![command.into()],
        method: "POST".into(),
        path: "/v1.41/containers/create".into(),
        reason: "image not allowed to mount the engine socket".into(),
        message: "denied".into(),
        policy_version: "0011223344556677".into(),
        client: None,
    }
}

#[test]
fn history_query_export_and_clear() {
    let f = Fixture::new(None, None, false);
    let recorder = f.state.history.recorder();
    recorder.record(block("busybox:latest", "run"));
    recorder.record(block("alpine:3", "run"));
    recorder.record(block("busybox:1", "create"));
    f.state.history.flush().unwrap();

    let page = f.ok(
        "history_query",
        json!({ "filter": { "image": "busybox" }, "page": { "limit": 1 } }),
    );
    assert_eq!(page["total"], 2);
    assert_eq!(page["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(page["blocks"][0]["image"], "busybox:1", "newest first");
    assert!(page["next"].is_object());
    let rest = f.ok(
        "history_query",
        json!({ "filter": { "image": "busybox" }, "page": { "limit": 10, "after": page["next"] } }),
    );
    assert_eq!(rest["blocks"][0]["image"], "busybox:latest");

    let out = f.dir.path().join("export.csv");
    let rows = f.ok(
        "history_export",
        json!({ "filter": { "command": "run" }, "format": "csv", "path": out }),
    );
    assert_eq!(rows, 2);
    let csv = read(&out);
    assert!(csv.starts_with("id,time,"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    assert_eq!(
        f.err_code(
            "history_export",
            json!({ "filter": {}, "format": "json", "path": "relative.json" })
        ),
        "invalid"
    );

    assert_eq!(f.ok("history_clear", json!({})), 3);
    let empty = f.ok("history_query", json!({ "filter": {}, "page": {} }));
    assert_eq!(empty["total"], 0);
}

/// "Enforce now" as the app does it: the user's own file (the section is unlocked) gets every
/// audit flag off, previewed and saved like any edit, keeping every other key; the effective
/// policy then audits nothing though the admin file still asks for it.
#[test]
fn enforce_now_saves_every_audit_flag_off_in_the_user_file() {
    let admin = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "eciGuard": { "audit": { "socketMounts": true } }
  }
}"#;
    let user = r#"{
  "configurationFileVersion": 2,
  "otherSetting": { "keep": [1, 2] },
  "enhancedContainerIsolation": {
    "iechorSocketMount": { "imageList": { "images": ["busybox"] } },
    "eciGuard": { "audit": { "commands": true } }
  }
}"#;
    let f = Fixture::new(Some(admin), Some(user), true);
    let view = f.ok("load_settings", json!({}));
    assert_eq!(
        view["effective"]["audit"],
        json!({ "socketMounts": true, "commands": true, "hostAccess": false })
    );
    let mut section = view["user"]["section"].clone();
    assert_eq!(section["eciGuard"]["audit"], json!({ "commands": true }));
    section["eciGuard"]["audit"] =
        json!({ "socketMounts": false, "commands": false, "hostAccess": false });

    let preview = f.ok(
        "preview_settings",
        json!({ "target": "user", "section": section }),
    );
    f.ok(
        "save_settings",
        json!({ "target": "user", "section": section, "etag": view["user"]["etag"] }),
    );
    let on_disk = read(&f.user_path());
    assert_eq!(preview.as_str().unwrap(), on_disk);
    let doc: Value = serde_json::from_str(&on_disk).unwrap();
    assert_eq!(doc["otherSetting"], json!({ "keep": [1, 2] }));
    let eci = &doc["enhancedContainerIsolation"];
    assert_eq!(
        eci["iechorSocketMount"]["imageList"]["images"],
        json!(["busybox"])
    );
    assert_eq!(
        eci["eciGuard"]["audit"],
        json!({ "socketMounts": false, "commands": false, "hostAccess": false })
    );
    let after = f.ok("load_settings", json!({}));
    assert_eq!(
        after["effective"]["audit"],
        json!({ "socketMounts": false, "commands": false, "hostAccess": false })
    );
}

/// Audit mode in History: the outcome filter reaches the store, rows say whether they were
/// audited, and "Enforce now" gets the count of audited requests since a time, by kind.
#[test]
fn history_filters_by_outcome_and_counts_audited_requests() {
    let f = Fixture::new(None, None, false);
    let recorder = f.state.history.recorder();
    let audited = |image: &str, command: &str| {
        let mut b = block(image, command);
        b.audited = true;
        b
    };
    let mut old = audited("old:1", "run");
    old.time = eci_history::Timestamp::from_unix_ms(1_000).unwrap();
    recorder.record(old);
    recorder.record(block("busybox:latest", "run"));
    recorder.record(audited("busybox:1", "run"));
    let mut push = audited("alpine:3", "push");
    push.kind = eci_history::BlockKind::Command;
    recorder.record(push);
    f.state.history.flush().unwrap();

    let images = |outcome: Value| -> Vec<String> {
        let page = f.ok(
            "history_query",
            json!({ "filter": { "outcome": outcome }, "page": {} }),
        );
        page["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["image"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(images(json!("blocked")), ["busybox:latest"]);
    assert_eq!(images(json!("audited")), ["alpine:3", "busybox:1", "old:1"]);
    assert_eq!(images(Value::Null).len(), 4);
    let page = f.ok("history_query", json!({ "filter": {}, "page": {} }));
    assert_eq!(page["blocks"][0]["audited"], true);
    assert_eq!(page["blocks"][1]["audited"], true);
    assert_eq!(page["blocks"][2]["audited"], false);
    // Not an outcome the store knows: refused before it reaches the store.
    assert!(f
        .invoke(
            "history_query",
            json!({ "filter": { "outcome": "allowed" }, "page": {} })
        )
        .is_err());

    let day_ago = eci_history::Timestamp::now().unix_ms() - 86_400_000;
    let count = f.ok("history_audit_count", json!({ "since": day_ago }));
    assert_eq!(count["total"], 2, "{count}");
    assert_eq!(
        count["by_kind"],
        json!([{ "kind": "command", "count": 1 }, { "kind": "socket_mount", "count": 1 }])
    );
    assert_eq!(count["since"]["unix_ms"], day_ago);
    let all = f.ok(
        "history_audit_count",
        json!({ "since": "1970-01-01T00:00:00Z" }),
    );
    assert_eq!(all["total"], 3);
}

#[test]
fn status_says_why_the_enforcer_is_not_running() {
    let f = Fixture::new(None, None, false);
    let status = f.ok("status", json!({}));
    assert!(status["enforcer"].is_null());
    assert_eq!(
        status["docker_host"],
        format!("unix://{}", f.dir.path().join("run/docker.sock").display())
    );
    assert_eq!(
        f.ok("docker_host_line", json!({})),
        format!(
            "export DOCKER_HOST=unix://{}",
            f.dir.path().join("run/docker.sock").display()
        )
    );
    // Started without an engine: the app stays up and the status names the missing socket.
    f.state.start(f._app.handle().clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    let why = loop {
        let status = f.ok("status", json!({}));
        if let Some(why) = status["enforcer_error"].as_str() {
            if why.contains("no-engine.sock") {
                break why.to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no start error in {status}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(why.contains("does not exist"), "{why}");
    tauri::async_runtime::block_on(f.state.stop());
    let status = f.ok("status", json!({}));
    assert_eq!(status["enforcer_error"], "the enforcer has stopped");
}

#[test]
fn the_enforcer_runs_forwards_its_events_and_stops_cleanly() {
    use tauri::Listener;
    let f = Fixture::new(Some(ADMIN), None, false);
    // Enforcer::start needs the engine's socket to exist; an engine that hangs up at once is
    // enough here (the enforcer then finds no containers and the engine unreachable).
    let engine =
        std::os::unix::net::UnixListener::bind(f.dir.path().join("no-engine.sock")).unwrap();
    std::thread::spawn(move || {
        for conn in engine.incoming() {
            drop(conn);
        }
    });
    let (tx, rx) = std::sync::mpsc::channel::<(String, Value)>();
    for name in [
        eci_guard_desktop::state::POLICY_CHANGED,
        eci_guard_desktop::state::HISTORY_BLOCKED,
        eci_guard_desktop::state::STATUS_CHANGED,
    ] {
        let tx = tx.clone();
        f._app.listen_any(name, move |e| {
            let _ = tx.send((name.to_owned(), serde_json::from_str(e.payload()).unwrap()));
        });
    }
    let next = |want: &str, ok: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((name, payload)) if name == want && ok(&payload) => return payload,
                Ok(_) => {}
                Err(_) => panic!("no {want} event"),
            }
        }
    };
    f.state.start(f._app.handle().clone());
    let socket = f.dir.path().join("run/docker.sock");
    let status = next(eci_guard_desktop::state::STATUS_CHANGED, &|s| {
        !s["enforcer"].is_null()
    });
    assert_eq!(status["enforcer"]["listening"], json!([socket]));
    assert!(socket.exists());

    // An edit on disk is reloaded and forwarded.
    std::fs::write(f.admin_path(), ADMIN.replace("\"push\"", "\"pull\"")).unwrap();
    let reload = next(eci_guard_desktop::state::POLICY_CHANGED, &|_| true);
    assert_eq!(reload["outcome"]["outcome"], "applied", "{reload}");
    let effective = f.ok("load_settings", json!({}))["effective"].clone();
    assert_eq!(effective["commandList"]["commands"], json!(["pull"]));

    // A committed block is forwarded with its id.
    f.state
        .history
        .recorder()
        .record(block("busybox:latest", "run"));
    let stored = next(eci_guard_desktop::state::HISTORY_BLOCKED, &|_| true);
    assert!(stored["id"].as_i64().is_some());
    assert_eq!(stored["image"], "busybox:latest");

    tauri::async_runtime::block_on(f.state.stop());
    assert!(!socket.exists(), "the enforcer's socket outlived the app");
    assert_eq!(
        f.ok("status", json!({}))["enforcer_error"],
        "the enforcer has stopped"
    );
}

#[test]
fn probes_report_registry_failures_and_can_be_cancelled() {
    let f = Fixture::new(None, None, false);
    assert_eq!(
        f.err_code("probe_image", json!({ "entry": " ", "requestId": "a" })),
        "invalid"
    );
    // A registry port nobody listens on: the report says so; the command itself succeeds.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let report = f.ok(
        "probe_image",
        json!({ "entry": format!("127.0.0.1:{port}/team/tool:1"), "requestId": "b" }),
    );
    assert_eq!(report["status"], "failed", "{report}");

    // A registry that accepts and never answers: only cancelling ends the probe early.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let probing = {
        let webview = f.webview.clone();
        std::thread::spawn(move || {
            invoke(
                &webview,
                "probe_image",
                json!({ "entry": format!("127.0.0.1:{port}/team/tool:1"), "requestId": "c" }),
            )
        })
    };
    let started = Instant::now();
    let mut cancelled = false;
    while !cancelled && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        cancelled = f.ok("cancel_probe", json!({ "requestId": "c" })) == true;
    }
    assert!(cancelled, "the probe never registered");
    let result = probing.join().unwrap().unwrap_err();
    assert_eq!(result["code"], "cancelled", "{result}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(f.ok("cancel_probe", json!({ "requestId": "c" })), false);
    drop(silent);
}

#[test]
fn docker_context_names_are_checked_before_running_docker() {
    let f = Fixture::new(None, None, false);
    for name in ["", "a", "-x", "bad name", "x/../y"] {
        assert_eq!(
            f.err_code("create_docker_context", json!({ "name": name })),
            "invalid",
            "{name:?}"
        );
    }
}

#[test]
fn the_capability_allows_only_the_apps_commands_and_listening() {
    let f = Fixture::new(None, None, false);
    // Allowed: listening to events (the event plugin's listen command).
    f.ok(
        "plugin:event|listen",
        json!({ "event": "status://changed", "target": { "kind": "Any" }, "handler": 7 }),
    );
    // Not allowed: emitting events, window control, anything else of core.
    for cmd in [
        "plugin:event|emit",
        "plugin:window|close",
        "plugin:webview|print",
        "plugin:app|app_hide",
        "plugin:path|resolve_directory",
    ] {
        let e = f.invoke(cmd, json!({})).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("not allowed"),
            "{cmd} must be refused by the ACL, got {text}"
        );
    }
}

/// "Try a command" judges a docker line with the enforcer's own judge against the real engine,
/// under the section as edited (not as saved), and says why when it cannot read the line.
#[test]
fn try_command_judges_the_edited_settings_against_the_engine() {
    let s = eci_e2e::shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let saved = r#"{"configurationFileVersion": 2, "enhancedContainerIsolation": {"locked": false, "value": true}}"#;
    let f = Fixture::with_upstream(
        Some(saved),
        None,
        false,
        Some(engine.socket_path().to_path_buf()),
    );
    let sock = engine.socket_path().display().to_string();
    let try_line = |value: bool, line: &str| {
        f.invoke(
            "try_command",
            json!({"target": "admin", "section": {"locked": false, "value": value}, "line": line}),
        )
    };
    let mount = format!("docker run -v {sock}:/var/run/docker.sock {bb}");
    // The draft turns ECI off: allowed, though the saved file has it on.
    let off = try_line(false, &mount).unwrap();
    assert_eq!(off["outcome"], "allow", "{off}");
    let on = try_line(true, &mount).unwrap();
    assert_eq!(on["outcome"], "deny", "{on}");
    assert_eq!(on["kind"], "socket_mount");
    assert!(
        on["message"]
            .as_str()
            .unwrap()
            .contains("iechor socket mount denied for container with image"),
        "{on}"
    );
    let privileged = try_line(true, &format!("docker run --privileged {bb}")).unwrap();
    assert_eq!(privileged["outcome"], "deny", "{privileged}");
    assert_eq!(privileged["kind"], "host_access");
    for bad in [
        format!("docker run --memory 1g {bb}"),
        "docker run 'unclosed".to_owned(),
    ] {
        let e = try_line(true, &bad).unwrap_err();
        assert_eq!(e["code"], "invalid", "{bad}: {e}");
    }
}

#[test]
fn the_error_shape_is_code_and_message() {
    let cases = [
        (
            AppError::new(ErrorCode::Conflict, "changed"),
            json!({ "code": "conflict", "message": "changed" }),
        ),
        (
            AppError::new(ErrorCode::NotFound, "gone"),
            json!({ "code": "not_found", "message": "gone" }),
        ),
        (
            AppError::invalid("bad", Vec::new()),
            json!({ "code": "invalid", "message": "bad", "diagnostics": [] }),
        ),
        (
            AppError::io(
                "cannot write x",
                &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            ),
            json!({ "code": "forbidden", "message": "cannot write x: permission denied" }),
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(serde_json::to_value(&error).unwrap(), expected);
    }
}
