//! A separately started `eci-guard serve` with its control socket, for the tests of the app's
//! attached mode (`attached.rs` through the IPC, `ui_e2e.rs` through the real window).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running `eci-guard serve` (the harness's process of it); killed when dropped.
pub use eci_e2e::serve::Serve as Daemon;

/// The `eci-guard` binary of this build (beside the test's own target directory), brought up
/// to date first: another package's binary is not rebuilt for this test by cargo itself.
pub fn eci_guard_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "eci-guard", "--bin", "eci-guard"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building eci-guard");
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    dir.join("eci-guard")
}

/// `eci-guard serve ARGS`, listening on `listen`, once it serves its control socket.
pub fn serve(args: &[&OsStr], listen: PathBuf) -> Daemon {
    let mut cmd = Command::new(eci_guard_binary());
    cmd.arg("serve").args(args);
    let mut daemon = Daemon::start(cmd, listen);
    daemon.wait_for(Duration::from_secs(20), |l| {
        l.contains("serving the control socket")
    });
    daemon
}
