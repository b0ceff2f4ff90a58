//! `eci-guard probe` through the real binary: the exit statuses and JSON shape a script relies on.
//! (What a real registry answers is tested in eci-registry's suite against the loopback registry.)

use std::process::{Command, Output};

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eci-guard"))
        .arg("probe")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_invalid_reference_exits_1_and_says_why() {
    let out = probe(&["Busybox:latest", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed", "{report}");
    assert!(report.to_string().contains("invalid-reference"), "{report}");
}

#[test]
fn an_unreachable_registry_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let registries = dir.path().join("registries.json");
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    std::fs::write(&registries, r#"{"127.0.0.1:1": {"insecure": true}}"#).unwrap();
    let out = probe(&[
        "127.0.0.1:1/app:1",
        "--registries",
        registries.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unreachable"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_broken_registries_file_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let registries = dir.path().join("registries.json");
    std::fs::write(&registries, "{not json").unwrap();
    let out = probe(&["busybox", "--registries", registries.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}
