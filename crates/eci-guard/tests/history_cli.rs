//! `eci-guard history` through the real binary over a history written by the real store.

use std::process::{Command, Output};

use eci_history::{BlockKind, BlockRecord, History, Retention, SocketKind, Timestamp};

fn record(i: i64, kind: BlockKind, image: &str, command: &str) -> BlockRecord {
    BlockRecord {
        time: Timestamp::from_unix_ms(1_790_000_000_000 + i).unwrap(),
        socket: SocketKind::Filtered,
        socket_path: "/run/eci-guard/filtered/c1.sock".into(),
        container_id: Some("c1".into()),
        container_name: Some("tool".into()),
        image: Some(image.into()),
        image_id: Some(format!("sha256:{i:064x}")),
        kind,
        audited: false,
        commands: vec![command.into()],
        method: "POST".into(),
        path: format!("/v1.41/images/app{i}/push?tag=latest"),
        reason: "\"push\" is in the denied command list".into(),
        message: format!("enhanced container isolation: iechor command \"/v1.41/images/app{i}/push?tag=latest\" is blocked"),
        policy_version: "0123456789abcdef".into(),
        client: None,
    }
}

fn history(state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eci-guard"))
        .arg("history")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("ECI_GUARD_STATE_DIR")
        .output()
        .unwrap()
}

#[test]
fn prints_filtered_rows_as_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path(), Retention::default());
    let rec = h.recorder();
    rec.record(record(
        1,
        BlockKind::Command,
        "iechor.io/library/iechor",
        "push",
    ));
    rec.record(record(
        2,
        BlockKind::SocketMount,
        "iechor.io/library/evil",
        "run",
    ));
    rec.record(record(
        3,
        BlockKind::Command,
        "iechor.io/library/iechor",
        "build",
    ));
    h.flush().unwrap();
    h.close().unwrap();

    let out = history(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["path"], "/v1.41/images/app3/push?tag=latest",
        "newest first"
    );

    let out = history(dir.path(), &["--kind", "command", "--command", "push"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "command");
    assert_eq!(rows[0]["container_id"], "c1");

    let out = history(dir.path(), &["--format", "csv", "--image", "evil"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("reason") && lines[1].contains("iechor.io/library/evil"),
        "{text}"
    );
}

#[test]
fn a_directory_without_history_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = history(&dir.path().join("nothing-here"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history in"));
}
