//! `eci-guard write-admin-settings` (issue 14, point 4), the helper the app runs through pkexec:
//! it writes a valid section keeping the admin file's other keys and mode, refuses a file with
//! errors, and refuses to overwrite a file that changed since the edit was made on it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const ADMIN: &str = include_str!("fixtures/admin-with-proxy.json");

const EDITED: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": true,
    "value": true,
    "iechorSocketMount": {
      "imageList": { "images": ["iechor.io/testcontainers/ryuk:*"] },
      "commandList": { "type": "deny", "commands": ["push"] }
    }
  }
}
"#;

fn helper(from: &Path, to: &Path, etag: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eci-guard"));
    cmd.arg("write-admin-settings")
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to);
    if let Some(etag) = etag {
        cmd.args(["--etag", etag]);
    }
    cmd.output().unwrap()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::Builder::new().prefix("eciw").tempdir().unwrap();
    let admin = dir.path().join("admin-settings.json");
    std::fs::write(&admin, ADMIN).unwrap();
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o640)).unwrap();
    let from = dir.path().join("edited.json");
    std::fs::write(&from, EDITED).unwrap();
    (dir, admin, from)
}

#[test]
fn writes_the_section_and_keeps_the_other_keys_and_the_mode() {
    let (_dir, admin, from) = setup();
    let etag = eci_proxy::settings_files::read_view(&admin, true)
        .unwrap()
        .etag;
    let out = helper(&from, &admin, Some(&etag));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    assert_eq!(written["analyticsEnabled"]["value"], false);
    assert_eq!(written["proxy"]["http"], "http://proxy.example:3128");
    let eci = &written["enhancedContainerIsolation"];
    assert_eq!(eci["locked"], true);
    // The admin file's own spelling of the socket-mount key is kept.
    assert_eq!(
        eci["dockerSocketMount"]["imageList"]["images"],
        serde_json::json!(["iechor.io/testcontainers/ryuk:*"])
    );
    assert_eq!(
        eci["dockerSocketMount"]["commandList"]["commands"],
        serde_json::json!(["push"])
    );
    // Every top-level key of the admin file, in its order.
    let keys_of =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let before: serde_json::Value = serde_json::from_str(ADMIN).unwrap();
    assert_eq!(keys_of(&written), keys_of(&before));
    assert_eq!(keys_of(&before).len(), 4, "the fixture's own keys");
    let mode = std::fs::metadata(&admin).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn refuses_a_file_with_errors_and_a_stale_etag() {
    let (dir, admin, _) = setup();
    for bad in [
        EDITED.replace(
            "\"configurationFileVersion\": 2",
            "\"configurationFileVersion\": 3",
        ),
        EDITED.replace("ryuk:*", "Ryuk:*"),
        EDITED.replace("\"deny\"", "\"sometimes\""),
        "{ not json".to_owned(),
    ] {
        let from = dir.path().join("bad.json");
        std::fs::write(&from, &bad).unwrap();
        let out = helper(&from, &admin, None);
        assert_eq!(out.status.code(), Some(1), "{bad}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
        assert_eq!(std::fs::read_to_string(&admin).unwrap(), ADMIN);
    }
    let from = dir.path().join("edited.json");
    let out = helper(&from, &admin, Some("0-0-stale"));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(std::fs::read_to_string(&admin).unwrap(), ADMIN);
    let out = helper(&dir.path().join("absent.json"), &admin, None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Through pkexec (`PKEXEC_UID` set, as pkexec sets it) the helper is root on a user's word:
/// it reads only its stdin, and writes only the system's admin file. A caller's `--to` (here a
/// file of the test's) and a `--from` path root could read for the caller are refused, and
/// nothing is written; stdin into another file is refused as well.
#[test]
fn through_pkexec_it_reads_stdin_and_writes_only_the_system_admin_file() {
    use std::io::Write;
    let (_dir, admin, from) = setup();
    let run = |from: &Path, stdin: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eci-guard"));
        cmd.env("PKEXEC_UID", "1000")
            .arg("write-admin-settings")
            .arg("--from")
            .arg(from)
            .arg("--to")
            .arg(&admin)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            // A refusal may come before the helper reads: a broken pipe then is the point.
            let _ = input.write_all(text.as_bytes());
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let out = run(&from, None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stdin"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&admin).unwrap(), ADMIN);
    let out = run(Path::new("-"), Some(EDITED));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only the system's admin settings file"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&admin).unwrap(), ADMIN);

    // Without pkexec the same stdin reaches the file given (the caller's own rights apply).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eci-guard"));
    cmd.env_remove("PKEXEC_UID")
        .args(["write-admin-settings", "--from", "-", "--to"])
        .arg(&admin)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(EDITED.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read_to_string(&admin).unwrap().contains("ryuk:*"));
}
