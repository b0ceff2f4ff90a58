//! Process plumbing shared by the parts: finding the programs (and naming their packages),
//! spawning daemons that die with the test process, per-run directories and their janitor.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::FlockOperation;
use rustix::process::{Pid, Signal};
use tempfile::TempDir;

use crate::{HarnessError, Result};

/// Where run directories live: short, because unix socket paths are limited to 108 bytes.
const RUN_PARENT: &str = "/tmp";
const RUN_PREFIX: &str = "eci-e2e-";
const OWNER_LOCK: &str = "owner.lock";

/// A program the harness runs and the Debian package that installs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Program {
    pub name: &'static str,
    pub package: &'static str,
}

pub(crate) const DOCKERD: Program = Program {
    name: "dockerd",
    package: "docker.io",
};
pub(crate) const CONTAINERD: Program = Program {
    name: "containerd",
    package: "containerd",
};
pub(crate) const RUNC: Program = Program {
    name: "runc",
    package: "runc",
};
pub(crate) const TINI: Program = Program {
    name: "tini",
    package: "tini",
};
pub(crate) const REGISTRY: Program = Program {
    name: "docker-registry",
    package: "docker-registry",
};
pub(crate) const SETPRIV: Program = Program {
    name: "setpriv",
    package: "util-linux",
};
pub(crate) const UNSHARE: Program = Program {
    name: "unshare",
    package: "util-linux",
};
pub(crate) const IP: Program = Program {
    name: "ip",
    package: "iproute2",
};
pub(crate) const FLOCK: Program = Program {
    name: "flock",
    package: "util-linux",
};
pub(crate) const MOUNT: Program = Program {
    name: "mount",
    package: "mount",
};
pub(crate) const SH: Program = Program {
    name: "sh",
    package: "dash",
};
pub(crate) const DOCKER: Program = Program {
    name: "docker",
    package: "docker.io",
};

/// `PATH` plus the sbin directories: `cargo test` may run with a user's `PATH`, and dockerd finds
/// containerd, runc and docker-init through it.
pub(crate) fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let extra = PathBuf::from(extra);
        if !dirs.contains(&extra) {
            dirs.push(extra);
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

pub(crate) fn find(program: Program) -> Result<PathBuf> {
    which::which_in(program.name, Some(search_path()), "/").map_err(|_| {
        HarnessError::MissingProgram {
            program: program.name,
            package: program.package,
        }
    })
}

pub(crate) fn require_root() -> Result<()> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(HarnessError::NotRoot)
    }
}

/// The docker CLI the tests drive: an explicit override, the static CLI the machine provides,
/// or the distribution's.
pub(crate) fn docker_cli() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ECI_E2E_DOCKER_CLI") {
        return Ok(PathBuf::from(path));
    }
    let local = Path::new("/usr/local/bin/docker");
    if local.is_file() {
        return Ok(local.to_path_buf());
    }
    find(DOCKER)
}

/// `setpriv --pdeathsig KILL -- program`: the kernel kills the daemon when its parent thread ends.
pub(crate) fn tied_command(program: &Path) -> Result<Command> {
    let mut cmd = Command::new(find(SETPRIV)?);
    cmd.arg("--pdeathsig")
        .arg("KILL")
        .arg("--")
        .arg(program)
        .env("PATH", search_path())
        .stdin(Stdio::null());
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    Ok(cmd)
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns on one thread that lives until the process exits: the parent-death signal fires when
/// the spawning *thread* ends, and test threads end long before a shared engine should.
pub(crate) fn spawn_tied(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("eci-e2e-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the eci-e2e spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the eci-e2e spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the eci-e2e spawner thread is gone"))?
}

pub(crate) fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // The process may already be gone; that is the state the caller wants.
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Waits for `child` to exit; kills it when `grace` runs out.
pub(crate) fn wait_or_kill(child: &mut Child, grace: Duration) {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A log file opened for appending, for a daemon's stdout and stderr.
pub(crate) fn log_stdio(path: &Path) -> Result<(Stdio, Stdio)> {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(HarnessError::io(format!("opening {}", path.display())))
    };
    Ok((open()?.into(), open()?.into()))
}

/// The last lines of a log, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command to completion and returns its stdout, or an error with its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(HarnessError::io(format!("running {cmd:?}")))?;
    check(cmd, output)
}

pub(crate) fn check(cmd: &Command, output: Output) -> Result<String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(HarnessError::Command {
            command: describe(cmd),
            status: output.status,
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an ELF executable needs a loader (has a `PT_INTERP` program header). Only 64-bit
/// little-endian ELF is understood, which is what the harness's machines run.
pub(crate) fn is_dynamic_elf(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).map_err(HarnessError::io(format!("reading {}", path.display())))?;
    let malformed = || HarnessError::unexpected(path.display().to_string(), "not a 64-bit ELF");
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return Err(malformed());
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().map_err(|_| malformed())?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = bytes.get(at..at + 4).ok_or_else(malformed)?;
        if u32::from_le_bytes(p_type.try_into().map_err(|_| malformed())?) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A per-run directory under `/tmp`, removed on drop. It holds a lock for as long as its owner
/// lives, which is how the janitor tells a dead run's directory from a live one.
#[derive(Debug)]
pub(crate) struct RunDir {
    _owner: File,
    dir: TempDir,
}

impl RunDir {
    pub(crate) fn new() -> Result<RunDir> {
        static JANITOR: Once = Once::new();
        JANITOR.call_once(|| {
            sweep_dead_runs();
            sweep_at_exit();
        });
        let dir = tempfile::Builder::new()
            .prefix(RUN_PREFIX)
            .tempdir_in(RUN_PARENT)
            .map_err(HarnessError::io("creating a run directory in /tmp"))?;
        let lock_path = dir.path().join(OWNER_LOCK);
        let owner = File::create(&lock_path).map_err(HarnessError::io(format!(
            "creating {}",
            lock_path.display()
        )))?;
        rustix::fs::flock(&owner, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| HarnessError::io(format!("locking {}", lock_path.display()))(e.into()))?;
        Ok(RunDir { _owner: owner, dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes this process's run directories once it has exited. Statics (the shared engine and
/// registry) are never dropped, so their directories outlive the test process; a detached shell
/// waits for the process to end, then removes every run directory whose owner lock is free,
/// retrying while the killed daemons finish dying. Without it each test binary left a directory
/// in `/tmp` until the next run's janitor.
fn sweep_at_exit() {
    const SWEEPER: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
for _ in $(seq 50); do
    left=
    for d in $2; do
        [ -d "$d" ] || continue
        # Only a directory whose owner is gone; one still being created has no lock yet.
        if [ -e "$d/owner.lock" ] && flock -n "$d/owner.lock" true; then
            rm -rf "$d" 2>/dev/null
            [ -d "$d" ] && left=1
        fi
    done
    [ -z "$left" ] && exit 0
    sleep 0.2
done"#;
    let (Ok(sh), Ok(_)) = (find(SH), find(FLOCK)) else {
        return;
    };
    // Not tied to this process: it must outlive it. It exits on its own once the directories
    // are gone.
    let _ = Command::new(sh)
        .arg("-c")
        .arg(SWEEPER)
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(format!("{RUN_PARENT}/{RUN_PREFIX}*"))
        .env("PATH", search_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Removes the run directories of processes that died without cleaning up. Their daemons are
/// already dead (parent-death signal), and their mounts lived in namespaces that died with them.
fn sweep_dead_runs() {
    let Ok(entries) = fs::read_dir(RUN_PARENT) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(RUN_PREFIX) {
            continue;
        }
        let path = entry.path();
        let dead = match File::open(path.join(OWNER_LOCK)) {
            Ok(lock) => rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok(),
            // A directory without its lock is either being created right now or was left by a
            // crash between the two steps; only the latter is old.
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(60)),
        };
        if dead {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package() {
        let err = find(Program {
            name: "eci-e2e-no-such-program",
            package: "eci-e2e-some-package",
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("eci-e2e-no-such-program"), "{message}");
        assert!(
            message.contains("install the Debian package `eci-e2e-some-package`"),
            "{message}"
        );
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        let sh = find(SH).unwrap();
        let cases: &[(&Path, bool)] = &[(Path::new("/bin/busybox"), false), (&sh, true)];
        for (path, dynamic) in cases {
            assert_eq!(
                is_dynamic_elf(path).unwrap(),
                *dynamic,
                "{}",
                path.display()
            );
        }
    }
}
