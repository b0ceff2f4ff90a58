//! The control socket of `eci-guard serve` (issue 14, point 2), through the typed client the app
//! attaches with: status, settings views, a live block and the reload after a save, history, and
//! the permission rule — any peer that can connect reads; only a peer whose uid may write the
//! file writes (checked with the kernel's credentials, here a second uid through `setpriv`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use eci_proxy::control::{ControlClient, ControlEvent, ErrorKind};
use eci_proxy::settings_files::{Mode, Target};
use support::*;

/// The unprivileged user and group the second client runs as.
const NOBODY: u32 = 65534;

struct Setup {
    _dir: tempfile::TempDir,
    admin: PathBuf,
    control: PathBuf,
    serve: Serve,
}

fn start(admin_text: &str) -> Setup {
    let dir = tempfile::Builder::new().prefix("ecic").tempdir().unwrap();
    // Searchable by the second uid, which must reach the control socket (and only that).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let admin = dir.path().join("admin/admin-settings.json");
    std::fs::create_dir(admin.parent().unwrap()).unwrap();
    std::fs::write(&admin, admin_text).unwrap();
    let listen = dir.path().join("docker.sock");
    let control = dir.path().join("control.sock");
    let mut cmd = serve_command(dir.path());
    cmd.arg("--control")
        .arg(&control)
        .arg("--control-group")
        .arg(NOBODY.to_string());
    let mut serve = Serve::start(cmd, listen);
    serve.wait_for(Duration::from_secs(5), |l| {
        l.contains("serving the control socket")
    });
    Setup {
        _dir: dir,
        admin,
        control,
        serve,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `curl` on the control socket as uid and gid 65534: status code and body.
fn as_nobody(control: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &NOBODY.to_string(),
            "--regid",
            &NOBODY.to_string(),
        ])
        .arg("--clear-groups")
        .args(["curl", "-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(control)
        .args(["-X", method, "-H", "Content-Type: application/json"])
        .args(["--data-binary", body])
        .arg(format!("http://eci-guard{path}"))
        .output()
        .expect("setpriv and curl run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn attached_clients_see_status_blocks_and_reloads_and_save_settings() {
    let on = settings(true);
    let mut s = start(&on);
    let rt = runtime();
    let client = ControlClient::new(&s.control);
    rt.block_on(async {
        let status = client.status().await.unwrap();
        assert_eq!(status.enforcer.listening, vec![s.serve.listen.clone()]);
        assert!(status.enforcer.eci_enabled);
        assert!(status.enforcer.upstream_reachable);
        assert_eq!(status.enforcer.policy_version, version_of(Some(&on)));

        // A live block, then the same row in the history.
        let mut events = client.events().await.unwrap();
        let listen = s.serve.listen.clone();
        let code = tokio::task::spawn_blocking(move || probe(&listen))
            .await
            .unwrap();
        assert_eq!(code, 400);
        let block = loop {
            match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
                Ok(Some(ControlEvent::Blocked(b))) => break b,
                Ok(Some(ControlEvent::Reload(_))) => continue,
                other => panic!("no block event: {other:?}"),
            }
        };
        let page = client
            .history_query(&Default::default(), &eci_history::Page::default())
            .await
            .unwrap();
        assert_eq!(page.blocks.first().map(|r| r.id), Some(block.id));
        let (rows, csv) = client
            .history_export(&Default::default(), eci_history::Format::Csv)
            .await
            .unwrap();
        assert_eq!(rows, page.total);
        assert_eq!(
            String::from_utf8_lossy(&csv).lines().count() as u64,
            rows + 1,
            "a header and the rows"
        );

        // Root may write the admin file: admin mode, and the save is enforced (a reload).
        let view = client.settings().await.unwrap();
        assert_eq!(view.mode, Mode::Admin);
        assert_eq!(view.admin.text.as_deref(), Some(on.as_str()));
        assert_eq!(view.effective["eciEnabled"], serde_json::json!(true));
        let mut section = view.admin.section.clone().unwrap();
        section.value = Some(false);
        let preview = client.preview(Target::Admin, &section).await.unwrap();
        assert!(preview.contains("\"value\": false"), "{preview}");
        let saved = client
            .save(Target::Admin, &section, &view.admin.etag)
            .await
            .unwrap();
        assert_ne!(saved.etag, view.admin.etag);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
                Ok(Some(ControlEvent::Reload(r))) => {
                    let text = serde_json::to_string(&r).unwrap();
                    assert!(text.contains("applied"), "{text}");
                    break;
                }
                Ok(Some(ControlEvent::Blocked(_))) => continue,
                other => panic!("no reload event: {other:?}"),
            }
        }
        assert!(!client.status().await.unwrap().enforcer.eci_enabled);
        // A save based on what the file was before is a conflict, not an overwrite.
        let stale = client
            .save(Target::Admin, &section, &view.admin.etag)
            .await
            .unwrap_err();
        assert!(
            matches!(&stale, eci_proxy::control::ClientError::Api(e) if e.code == ErrorKind::Conflict),
            "{stale:?}"
        );
    });

    // Another user who can connect reads, in user mode, and may neither save nor clear.
    let (code, body) = as_nobody(&s.control, "GET", "/v1/settings", "");
    assert_eq!(code, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["mode"], "user");
    assert_eq!(view["admin"]["writable"], false);
    let section = serde_json::json!({"locked": true, "value": true});
    let save =
        serde_json::json!({"target": "admin", "section": section, "etag": view["admin"]["etag"]});
    let before = std::fs::read_to_string(&s.admin).unwrap();
    let (code, body) = as_nobody(&s.control, "PUT", "/v1/settings", &save.to_string());
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("\"code\":\"forbidden\""), "{body}");
    assert_eq!(std::fs::read_to_string(&s.admin).unwrap(), before);
    let (code, body) = as_nobody(&s.control, "DELETE", "/v1/history", "");
    assert_eq!(code, 403, "{body}");
    let (code, _) = as_nobody(&s.control, "GET", "/v1/status", "");
    assert_eq!(code, 200);

    // The kernel decides, as the peer, not the mode bits: a world-writable admin file in a
    // directory the peer may not enter is not the peer's to write (the root daemon could).
    let admin_dir = s.admin.parent().unwrap().to_owned();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&s.admin, 0o666).unwrap();
    mode(&admin_dir, 0o700).unwrap();
    let (code, body) = as_nobody(&s.control, "GET", "/v1/settings", "");
    assert_eq!(code, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["mode"], "user", "{body}");
    let save =
        serde_json::json!({"target": "admin", "section": section, "etag": view["admin"]["etag"]});
    let before = std::fs::read_to_string(&s.admin).unwrap();
    let (code, body) = as_nobody(&s.control, "PUT", "/v1/settings", &save.to_string());
    assert_eq!(code, 403, "{body}");
    assert_eq!(std::fs::read_to_string(&s.admin).unwrap(), before);

    // A directory that is the peer's own: the peer saves, and the file is written as the peer.
    std::os::unix::fs::chown(&admin_dir, Some(NOBODY), Some(NOBODY)).unwrap();
    mode(&admin_dir, 0o755).unwrap();
    let (code, body) = as_nobody(&s.control, "GET", "/v1/settings", "");
    assert_eq!(code, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["mode"], "admin", "{body}");
    let mine = serde_json::json!({"value": true});
    let save =
        serde_json::json!({"target": "admin", "section": mine, "etag": view["admin"]["etag"]});
    let (code, body) = as_nobody(&s.control, "PUT", "/v1/settings", &save.to_string());
    assert_eq!(code, 200, "{body}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&s.admin).unwrap().uid(),
        NOBODY,
        "written as the peer"
    );

    // The socket goes with the enforcer.
    s.serve.signal(rustix::process::Signal::TERM);
    let _ = s.serve.child.wait();
    assert!(!s.control.exists(), "the control socket is removed at stop");
}
