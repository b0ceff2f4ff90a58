//! `eci-guard validate` as a user runs it: real binary, real files, exit statuses and output.

use std::path::PathBuf;
use std::process::{Command, Output};

const SEED: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": true,
    "value": true,
    "iechorSocketMount": {
      "imageList": {
        "images": [
          "iechor.io/localstack/localstack:*",
          "iechor.io/testcontainers/ryuk:*",
          "iechor:cli"
        ]
      },
      "commandList": {
        "type": "deny",
        "commands": ["push"]
      }
    }
  }
}
"#;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("admin-settings.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(path: &std::path::Path, json: bool) -> Output {
    validate_with(path, if json { &["--format", "json"] } else { &[] })
}

fn validate_with(path: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eci-guard"))
        .arg("validate")
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

fn diagnostics(out: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice(&out.stdout).expect("validate --format json prints a JSON array")
}

#[test]
fn the_seed_example_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(&write(&dir, SEED), true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(diagnostics(&out).iter().all(|d| d["severity"] != "error"));
}

#[test]
fn an_unsupported_command_is_a_warning_at_its_pointer_and_strict_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &SEED.replace(r#"["push"]"#, r#"["push", "compose"]"#));
    let out = validate(&path, true);
    assert_eq!(out.status.code(), Some(0));
    let diags = diagnostics(&out);
    let d = diags
        .iter()
        .find(|d| {
            d["pointer"] == "/enhancedContainerIsolation/iechorSocketMount/commandList/commands/1"
        })
        .expect("a diagnostic at the command's pointer");
    assert_eq!(d["severity"], "warning");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("cannot be enforced") && message.contains("it is ignored"),
        "{d}"
    );

    let human = validate(&path, false);
    assert_eq!(human.status.code(), Some(0));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("commandList/commands/1") && text.contains("0 error(s), 1 warning(s)"),
        "{text}"
    );

    let strict = validate_with(&path, &["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    let strict = validate_with(&write(&dir, SEED), &["--strict"]);
    assert_eq!(strict.status.code(), Some(0));
}

#[test]
fn a_truncated_file_reports_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(
        &write(&dir, &SEED[..SEED.find("\"commandList\"").unwrap()]),
        true,
    );
    assert_eq!(out.status.code(), Some(1));
    let diags = diagnostics(&out);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["severity"], "error");
    assert!(diags[0]["line"].as_u64().unwrap() >= 14, "{diags:?}");
    assert!(diags[0]["column"].as_u64().is_some(), "{diags:?}");
}

#[test]
fn a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(&dir.path().join("nope.json"), false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn warnings_alone_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let text = SEED.replace(
        r#""iechor:cli""#,
        r#""iechor:cli", "iechor.io/library/iechor:cli""#,
    );
    let out = validate(&write(&dir, &text), true);
    assert_eq!(out.status.code(), Some(0));
    let diags = diagnostics(&out);
    assert!(
        diags
            .iter()
            .any(|d| d["severity"] == "warning"
                && d["pointer"].as_str().unwrap().ends_with("/images/3")),
        "{diags:?}"
    );
}

/// Docker's documented admin files (`tests/fixtures/admin-settings/`) validate unchanged; those
/// naming commands the enforcer cannot enforce fail only under `--strict`.
#[test]
fn documented_admin_files_validate_and_strict_fails_unsupported_commands() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/admin-settings");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".expected.json") {
            continue;
        }
        seen += 1;
        let out = validate(&path, true);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let unsupported = diagnostics(&out)
            .iter()
            .any(|d| d["code"] == "unsupported-command");
        let strict = validate_with(&path, &["--strict"]);
        let want = if unsupported { 1 } else { 0 };
        assert_eq!(strict.status.code(), Some(want), "{name} --strict");
    }
    assert!(seen >= 8, "{seen} files in {}", dir.display());
}
