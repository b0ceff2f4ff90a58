//! A separately started `eci-guard serve` with its control socket, for the tests of the app's
//! attached mode (`attached.rs` through the IPC, `ui_e2e.rs` through the real window).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A running `eci-guard serve`; killed when dropped.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `eci-guard serve ARGS` with none of this process's `ECI_GUARD_*` variables, once it says it
/// serves its control socket.
pub fn serve(args: &[&std::ffi::OsStr]) -> Daemon {
    let mut cmd = Command::new(eci_guard_binary());
    cmd.arg("serve")
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("ECI_GUARD_") {
            cmd.env_remove(key);
        }
    }
    let mut daemon = Daemon(cmd.spawn().unwrap());
    let err = BufReader::new(daemon.0.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("eci-guard serve starts");
        if line.contains("serving the control socket") {
            return daemon;
        }
    }
}
