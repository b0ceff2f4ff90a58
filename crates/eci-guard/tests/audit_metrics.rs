//! The shipped `eci-guard serve` observed (issue 17): after a scripted session of the real docker
//! CLI against the real engine, the JSON-lines audit log holds one event per refusal (blocked
//! and audited) with the history row's fields, and the Prometheus metrics (on a unix socket and
//! on loopback TCP) count what the history holds.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use eci_e2e::shared;
use serde_json::Value;
use support::*;

fn admin_text(audit_host_access: bool) -> String {
    serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true,
            "value": true,
            "iechorSocketMount": {"imageList": {"images": []}},
            "eciGuard": {"audit": {"hostAccess": audit_host_access}}
        }
    })
    .to_string()
}

/// One `GET /metrics` on a connected stream: the whole answer, head and body.
fn scrape(mut s: impl Read + Write) -> String {
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn scrape_unix(socket: &Path) -> String {
    scrape(UnixStream::connect(socket).expect("metrics socket"))
}

/// Scrapes loopback TCP once it listens: serve binds the metrics after its own socket.
fn scrape_tcp(port: u16) -> String {
    for _ in 0..100 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            return scrape(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing serves metrics on 127.0.0.1:{port}");
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_audit_log_and_the_metrics_match_the_history() {
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let dir = tempfile::Builder::new()
        .prefix("ecia")
        .tempdir_in("/tmp")
        .unwrap();
    let admin_path = dir.path().join("admin-settings.json");
    std::fs::write(&admin_path, admin_text(false)).unwrap();
    let listen = dir.path().join("docker.sock");
    let state = dir.path().join("state");
    let log = dir.path().join("log/audit.jsonl");
    let metrics_sock = dir.path().join("metrics.sock");
    let port = free_port();
    let start = |metrics: String| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eci-guard"));
        cmd.arg("serve")
            .arg("--upstream")
            .arg(engine.socket_path())
            .arg("--listen")
            .arg(&listen)
            .arg("--admin-settings")
            .arg(&admin_path)
            .arg("--user-settings")
            .arg(dir.path().join("user.json"))
            .arg("--state-dir")
            .arg(&state)
            .arg("--audit-log")
            .arg(&log)
            .arg("--audit-allowed")
            .arg("1")
            .arg("--metrics")
            .arg(metrics)
            .env_remove("JOURNAL_STREAM");
        Serve::start(cmd, listen.clone())
    };
    // A network address is refused: metrics stay on this host.
    let out = Command::new(env!("CARGO_BIN_EXE_eci-guard"))
        .args(["serve", "--metrics", "0.0.0.0:9323"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loopback or a unix socket only"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut serve = start(format!("unix:{}", metrics_sock.display()));
    serve.wait_for(
        Duration::from_secs(10),
        applied(&version_of(Some(&admin_text(false)))),
    );
    let docker = |args: &[&str]| {
        engine
            .docker()
            .env("DOCKER_HOST", format!("unix://{}", listen.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let sock = engine.socket_path().display().to_string();
    let bind = format!("{sock}:/var/run/docker.sock");
    // Blocked: a socket mount and a privileged container; allowed: a listing.
    assert!(!docker(&["create", "-v", &bind, &bb, "true"])
        .status
        .success());
    assert!(!docker(&["create", "--privileged", &bb, "true"])
        .status
        .success());
    assert!(docker(&["ps", "-q"]).status.success());
    // Host access audited: the privileged create passes, recorded as audited.
    std::fs::write(&admin_path, admin_text(true)).unwrap();
    serve.wait_for(
        Duration::from_secs(10),
        applied(&version_of(Some(&admin_text(true)))),
    );
    let made = docker(&["create", "--privileged", &bb, "true"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let id = String::from_utf8_lossy(&made.stdout).trim().to_owned();

    let text = scrape_unix(&metrics_sock);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    // The history, as the CLI prints it (newest first), once the recorder has written all three.
    let read_history = || {
        let out = Command::new(env!("CARGO_BIN_EXE_eci-guard"))
            .args(["history", "--state-dir"])
            .arg(&state)
            .env_remove("ECI_GUARD_STATE_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
    };
    let mut rows = read_history();
    for _ in 0..50 {
        if rows.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        rows = read_history();
    }
    let mut counted: BTreeMap<(String, bool), f64> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["kind"].as_str().unwrap().to_owned(),
            r["audited"].as_bool().unwrap_or(false),
        );
        *counted.entry(key).or_default() += 1.0;
    }
    assert_eq!(
        counted,
        BTreeMap::from([
            (("host_access".to_owned(), false), 1.0),
            (("host_access".to_owned(), true), 1.0),
            (("socket_mount".to_owned(), false), 1.0),
        ]),
        "{rows:#?}"
    );
    for ((kind, audited), n) in &counted {
        let family = if *audited { "audited" } else { "blocks" };
        assert_eq!(
            metric(
                &text,
                &format!("eci_guard_{family}_total{{kind=\"{kind}\"}}")
            ),
            *n,
            "{kind} {audited}: {text}"
        );
    }
    assert_eq!(
        metric(
            &text,
            r#"eci_guard_requests_total{group="containers",verdict="blocked"}"#
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"eci_guard_requests_total{group="containers",verdict="audited"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"eci_guard_requests_total{group="containers",verdict="allowed"}"#
        ) >= 1.0
    );
    assert_eq!(
        metric(&text, r#"eci_guard_reloads_total{outcome="applied"}"#),
        2.0,
        "{text}"
    );
    assert_eq!(metric(&text, "eci_guard_filtered_sockets"), 0.0);
    assert!(text.contains("eci_guard_open_connections"), "{text}");
    assert!(text.contains("eci_guard_upstream_errors_total"), "{text}");

    // The audit log: one line per history row, same fields, and the allowed requests sampled.
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refusals: Vec<&Value> = lines.iter().filter(|l| l["event"] != "allowed").collect();
    assert_eq!(refusals.len(), rows.len(), "{lines:#?}");
    for (line, row) in refusals.iter().zip(rows.iter().rev()) {
        for field in [
            "kind",
            "audited",
            "image",
            "method",
            "path",
            "reason",
            "message",
            "policy_version",
        ] {
            assert_eq!(line[field], row[field], "{field}: {line} vs {row}");
        }
        let event = if row["audited"] == true {
            "audited"
        } else {
            "blocked"
        };
        assert_eq!(line["event"], event);
    }
    assert!(
        lines.iter().any(|l| l["event"] == "allowed"
            && l["path"]
                .as_str()
                .unwrap_or("")
                .contains("/containers/json")),
        "the allowed listing is sampled: {lines:#?}"
    );
    drop(serve);

    // Loopback TCP serves the same.
    let serve = start(format!("127.0.0.1:{port}"));
    let text = scrape_tcp(port);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("eci_guard_reloads_total"), "{text}");
    drop(serve);
    let _ = engine.docker().args(["rm", "-f", &id]).output();
}

/// Under systemd (`JOURNAL_STREAM` set, the journal's socket present) the audit events go to the
/// journal as structured fields. Shown with the real systemd-journald, started in a private mount
/// namespace whose `/run` is a fresh tmpfs (the host's `/run` is not touched), the shipped serve
/// in it, and the real journalctl reading what it wrote.
#[test]
fn under_systemd_refusals_go_to_the_journal_as_fields() {
    let journald = Path::new("/lib/systemd/systemd-journald");
    assert!(
        journald.exists(),
        "systemd-journald is installed by the project (Debian's systemd)"
    );
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let dir = tempfile::Builder::new()
        .prefix("ecij")
        .tempdir_in("/tmp")
        .unwrap();
    let admin = dir.path().join("admin-settings.json");
    std::fs::write(&admin, admin_text(false)).unwrap();
    let listen = dir.path().join("docker.sock");
    let sock = engine.socket_path().display().to_string();
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
{journald} & J=$!
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
JOURNAL_STREAM=9:9 {exe} serve --upstream {sock} --listen {listen} --admin-settings {admin} \
  --user-settings {dir}/user.json --state-dir {dir}/state 2>{dir}/serve.err & S=$!
for i in $(seq 200); do [ -S {listen} ] && break; sleep 0.05; done
DOCKER_HOST=unix://{listen} DOCKER_CONFIG={config} {docker} create -v {sock}:/var/run/docker.sock {bb} true >/dev/null 2>&1
kill $S; wait $S
journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=eci-guard
kill $J; wait $J
"#,
        journald = journald.display(),
        exe = env!("CARGO_BIN_EXE_eci-guard"),
        listen = listen.display(),
        admin = admin.display(),
        dir = dir.path().display(),
        config = engine.docker_config_dir().display(),
        docker = engine.docker_cli_path().display(),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let refusal = entries
        .iter()
        .find(|e| e["EVENT"] == "blocked")
        .unwrap_or_else(|| {
            panic!(
                "no audit event in the journal: {entries:#?}\nstderr: {}\nserve: {}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.path().join("serve.err")).unwrap_or_default()
            )
        });
    assert_eq!(refusal["KIND"], "socket_mount");
    assert_eq!(refusal["METHOD"], "POST");
    assert!(refusal["PATH"]
        .as_str()
        .unwrap()
        .contains("/containers/create"));
    assert!(refusal["REASON"]
        .as_str()
        .unwrap()
        .contains("not in the allowed list"));
    assert!(refusal["MESSAGE"]
        .as_str()
        .unwrap()
        .contains("iechor socket mount denied"));
    assert!(refusal["IMAGE"].as_str().unwrap().contains("busybox"));
    // Audit events are not also written to stderr, which systemd would journal a second time.
    let stderr = std::fs::read_to_string(dir.path().join("serve.err")).unwrap_or_default();
    assert!(stderr.contains("request blocked"), "{stderr}");
    assert!(!stderr.contains("eci_guard::audit"), "{stderr}");
}
