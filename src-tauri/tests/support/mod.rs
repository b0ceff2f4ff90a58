//! What the app's end-to-end test and its memory bench share: child processes killed with their
//! process group, waiting, the tools they need, a private X server, and the memory of the app's
//! processes (`memory`). Each test crate uses a part of it, hence `allow(dead_code)`.
#![allow(dead_code)]

pub mod memory;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process, started in its own process group, whose whole group is killed when the
/// test ends however it ends (tauri-driver's WebKitWebDriver and the app with it).
pub struct Proc(pub Child);

impl Proc {
    pub fn spawn(cmd: &mut Command, what: &str) -> Proc {
        use std::os::unix::process::CommandExt;
        Proc(
            cmd.process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {what}: {e}")),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: Xvfb removes its `/tmp/.X<n>-lock` only then (SIGKILL left it behind);
        // SIGKILL for whatever is still there after 3 s.
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn tool(name: &str, package: &str) -> PathBuf {
    which::which(name)
        .or_else(|_| {
            let cargo_bin = Path::new(&std::env::var("HOME").unwrap_or_default())
                .join(".cargo/bin")
                .join(name);
            cargo_bin.is_file().then_some(cargo_bin).ok_or(())
        })
        .unwrap_or_else(|()| panic!("{name} is missing: install {package}"))
}

/// An X server of its own, on a display number nobody uses.
pub fn xvfb() -> (Proc, String) {
    let xvfb = tool("Xvfb", "Debian's xvfb");
    let n = (100..400)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .expect("a free X display");
    let proc = Proc::spawn(
        Command::new(xvfb)
            .args([
                format!(":{n}"),
                "-screen".into(),
                "0".into(),
                "1280x800x24".into(),
            ])
            .args(["-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "Xvfb",
    );
    wait_until("Xvfb", || {
        Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
    });
    (proc, format!(":{n}"))
}

/// Writes `rows` blocks into the history under `state_dir`, as months of use would (the
/// benchmarks' realistic history).
pub fn fill_history(state_dir: &Path, rows: usize) {
    let history = eci_history::History::open(state_dir, eci_history::Retention::default());
    let recorder = history.recorder();
    for i in 0..rows {
        let record = eci_history::BlockRecord {
            time: eci_history::Timestamp::now(),
            socket: eci_history::SocketKind::Main,
            socket_path: "/run/eci-guard/docker.sock".into(),
            container_id: None,
            container_name: None,
            image: Some(format!("127.0.0.1:5000/team/app-{}:1", i % 500)),
            image_id: Some(format!("sha256:{i:064x}")),
            kind: eci_history::BlockKind::SocketMount,
            audited: false,
            commands: vec!["create".into(), "run".into()],
            method: "POST".into(),
            path: "/v1.41/containers/create".into(),
            reason: "image is not in the allowed list".into(),
            message: "the image may not mount the engine socket".into(),
            policy_version: "0011223344556677".into(),
            client: None,
        };
        while recorder.record(record.clone()) == eci_history::Recorded::Dropped {
            history.flush().unwrap();
        }
    }
    history.flush().unwrap();
    history.close().unwrap();
}
