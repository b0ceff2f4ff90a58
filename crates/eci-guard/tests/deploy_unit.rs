//! The shipped unit, `deploy/eci-guard.service`, starts the binary as written (issue 13, point
//! 2), in front of the harness's real engine. This machine has no systemd as PID 1 (a
//! container), so neither `systemd-run` nor a private systemd can run here; instead the test
//! reads the unit and applies its `ExecStart` line and what of its hardening can be applied
//! without systemd: `User`, `UMask`, `Environment`, `NoNewPrivileges`, `CapabilityBoundingSet`,
//! `RuntimeDirectory`/`StateDirectory` with their modes, `ProtectSystem=strict` (every mount
//! read-only but the API file systems and the unit's own directories) and with it
//! `ProtectHome=read-only`. The unit's paths (`/run/docker-engine`, `/run/eci-guard`,
//! `/var/lib/eci-guard`, `/usr/share/iechor-desktop`) are this test's directories, mounted in a
//! private mount namespace, so nothing outside temp dirs is written. Not applied: the seccomp
//! and namespace filters (`SystemCallFilter`, `RestrictAddressFamilies`, `RestrictNamespaces`,
//! `MemoryDenyWriteExecute`, …) and `Group=eci-guard` when the group does not exist (creating it
//! would change the host); `deploy/verify.sh` checks those parse.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use eci_e2e::shared;
use support::*;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/eci-guard.service"
);

/// The `[Service]` keys of a unit, continuation lines joined; repeated keys keep every value.
fn service_section(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut joined = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => joined.push_str(head),
            None => {
                joined.push_str(line);
                joined.push('\n');
            }
        }
    }
    let mut section = "";
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in joined.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]" {
            if let Some((k, v)) = line.split_once('=') {
                keys.entry(k.into()).or_default().push(v.trim().into());
            }
        }
    }
    keys
}

/// Runs inside the private mount namespace: the unit's paths on the test's directories, its
/// directories with their modes, `ProtectSystem=strict`, then `UMask` and the binary.
const SETUP: &str = r#"set -e
t=$1; engine=$2; runtime_mode=$3; state_mode=$4; umask_value=$5; shift 5
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/docker-engine /run/eci-guard
mount --bind "$engine" /run/docker-engine
mount --bind "$t/run" /run/eci-guard
chmod "$runtime_mode" /run/eci-guard
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mkdir /var/lib/eci-guard
mount --bind "$t/state" /var/lib/eci-guard
chmod "$state_mode" /var/lib/eci-guard
mount -t tmpfs -o mode=0755 tmpfs /usr/share
mkdir /usr/share/iechor-desktop
mount --bind "$t/admin" /usr/share/iechor-desktop
# ProtectSystem=strict: everything read-only but /dev, /proc, /sys and the unit's directories.
cut -d' ' -f5 /proc/self/mountinfo | while read -r m; do
    case "$m" in
        /dev|/dev/*|/proc|/proc/*|/sys|/sys/*|/run/eci-guard|/var/lib/eci-guard) ;;
        *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;;
    esac
done
umask "$umask_value"
exec "$@""#;

#[test]
fn the_unit_starts_the_binary_as_written() {
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "systemd runs here: start the unit with systemd-run instead of this emulation"
    );
    let unit = service_section(&std::fs::read_to_string(UNIT).unwrap());
    let one = |k: &str| -> String {
        let v = unit.get(k).unwrap_or_else(|| panic!("the unit has no {k}"));
        v.last().unwrap().clone()
    };
    assert_eq!(one("User"), "root");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("ProtectSystem"), "strict");
    let exec: Vec<String> = one("ExecStart")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        exec[..2],
        ["/usr/bin/eci-guard".to_owned(), "serve".to_owned()]
    );

    let t = tempfile::Builder::new()
        .prefix("ecid")
        .tempdir_in("/tmp")
        .unwrap();
    for d in ["run", "state", "admin"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
    }
    std::fs::write(t.path().join("admin/admin-settings.json"), settings(true)).unwrap();
    let engine = shared().engine();
    let caps: Vec<String> = one("CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        SETUP,
        "sh",
    ])
    .arg(t.path())
    .arg(engine.root())
    .arg(one("RuntimeDirectoryMode"))
    .arg(one("StateDirectoryMode"))
    .arg(one("UMask"))
    .args(["setpriv", "--no-new-privs", "--inh-caps", "-all"])
    .arg(format!("--bounding-set=-all,{}", caps.join(",")));
    let group = one("Group");
    let group_exists = Command::new("getent")
        .args(["group", &group])
        .output()
        .is_ok_and(|o| o.status.success());
    if group_exists {
        cmd.args(["--regid", &group, "--clear-groups"]);
    }
    // systemd's environment for a service: its `Environment=` lines and the user's HOME.
    cmd.args([
        "--",
        "env",
        "-i",
        "HOME=/root",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    for env in unit.get("Environment").into_iter().flatten() {
        cmd.arg(env);
    }
    cmd.arg(env!("CARGO_BIN_EXE_eci-guard")).args(&exec[1..]);
    let listen = t.path().join("run/docker.sock");
    let mut serve = Serve::start(cmd, listen.clone());

    // Listening where the unit says, with the mode the unit's umask gives, in front of the
    // engine.
    let meta = std::fs::metadata(&listen).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode");
    let runtime_mode = u32::from_str_radix(&one("RuntimeDirectoryMode"), 8).unwrap();
    let dir_mode = std::fs::metadata(t.path().join("run"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, runtime_mode, "runtime directory mode");
    assert_eq!(probe(&listen), 400, "ECI on refuses the probe");
    assert!(ping(&listen), "the engine answers through the enforcer");
    // The enforcer's state went where the unit says.
    assert!(t.path().join("state/history.sqlite3").exists());

    // The unit files and their flags, against the binary that runs.
    let verify = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/verify.sh"
    ))
    .arg(env!("CARGO_BIN_EXE_eci-guard"))
    .output()
    .unwrap();
    assert!(
        verify.status.success(),
        "deploy/verify.sh: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // A file change reloads; SIGHUP, which the unit's reload sends, reloads.
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    std::fs::write(t.path().join("admin/admin-settings.json"), settings(false)).unwrap();
    serve.wait_for(
        Duration::from_secs(2),
        applied(&version_of(Some(&settings(false)))),
    );
    assert_eq!(
        probe(&listen),
        404,
        "ECI off passes the probe to the engine"
    );
    serve.signal(rustix::process::Signal::HUP);
    serve.wait_for(Duration::from_secs(2), |l| {
        l.contains("SIGHUP: reloading the settings")
    });

    // SIGTERM (the unit's KillSignal): a clean exit, no socket left.
    assert_eq!(one("KillSignal"), "SIGTERM");
    serve.signal(rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "running 20 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!listen.exists(), "stale socket left behind");
}

/// `GET /_ping` answered `OK`.
fn ping(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains(" 200 ") && answer.ends_with("OK")
}
