//! A private Docker Engine: Debian's dockerd on its own directories and socket, inside its own pid,
//! mount and network namespaces so several engines (and several test processes) never share
//! state, and none touches the host's network (see `netns`).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::netns::NetNamespace;
use crate::process::{self, RunDir};
use crate::{HarnessError, Registry, Result};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// dockerd waits `--shutdown-timeout` for containers, then needs a moment for itself.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Runs inside the new namespaces before dockerd: `/etc/docker` becomes the engine's own
/// directory (so `certs.d` and `key.json` are private), and `/run/containerd` an empty tmpfs
/// (so dockerd starts its own containerd rather than adopting a system one, and the shim
/// sockets containerd keeps there vanish with the namespace). A new network namespace has `lo`
/// down: the engine reaches the registries' forwarders on 127.0.0.1 through it.
const NAMESPACE_SETUP: &str = r#"set -e
ip link set lo up
mount --bind "$1" /etc/docker
mount -t tmpfs -o mode=0711 tmpfs /run/containerd
shift
exec "$@""#;

/// Extra settings for [`Engine::start_with`].
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Appended to dockerd's command line after the harness's own flags (a repeated scalar flag
    /// overrides the harness's value).
    pub daemon_args: Vec<String>,
}

/// A private dockerd. Dropping it kills the daemon, its containerd and every container, and
/// removes its directory.
#[derive(Debug)]
pub struct Engine {
    dir: RunDir,
    socket: PathBuf,
    docker_config: PathBuf,
    docker_cli: PathBuf,
    config: EngineConfig,
    /// The `unshare` process; its child is the namespace's init (tini), whose child is dockerd.
    child: Mutex<Option<Child>>,
    /// The running daemon's network namespace, with the registries forwarded into it.
    netns: Mutex<Option<Arc<NetNamespace>>>,
}

impl Engine {
    /// Starts an engine with the default settings and waits until `/_ping` answers.
    pub fn start() -> Result<Engine> {
        Engine::start_with(EngineConfig::default())
    }

    /// Starts an engine with extra daemon flags and waits until `/_ping` answers.
    pub fn start_with(config: EngineConfig) -> Result<Engine> {
        process::require_root()?;
        for program in [
            process::DOCKERD,
            process::CONTAINERD,
            process::RUNC,
            process::TINI,
            process::SETPRIV,
            process::UNSHARE,
            process::IP,
            process::MOUNT,
            process::SH,
        ] {
            process::find(program)?;
        }
        let docker_cli = process::docker_cli()?;
        let dir = RunDir::new()?;
        let root = dir.path();
        for sub in ["etc", "data", "x", "docker-config", "tmp"] {
            fs::create_dir_all(root.join(sub)).map_err(HarnessError::io(format!(
                "creating {}",
                root.join(sub).display()
            )))?;
        }
        fs::write(root.join("daemon.json"), "{}\n")
            .map_err(HarnessError::io("writing daemon.json"))?;
        let engine = Engine {
            socket: root.join("docker.sock"),
            docker_config: root.join("docker-config"),
            docker_cli,
            config,
            child: Mutex::new(None),
            netns: Mutex::new(None),
            dir,
        };
        engine.start_again()?;
        Ok(engine)
    }

    /// The engine's API socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix://` URL of the socket, the value of `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The engine's run directory (data root, exec root, logs, config).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// dockerd's `--data-root`.
    pub fn data_root(&self) -> PathBuf {
        self.root().join("data")
    }

    /// dockerd's stdout and stderr, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.root().join("dockerd.log")
    }

    /// The engine's private `/etc/docker` (holds `certs.d`).
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("etc")
    }

    /// The `DOCKER_CONFIG` directory the CLI uses (logins are stored here).
    pub fn docker_config_dir(&self) -> &Path {
        &self.docker_config
    }

    /// The docker CLI binary [`Engine::docker`] runs.
    pub fn docker_cli_path(&self) -> &Path {
        &self.docker_cli
    }

    /// The real docker CLI aimed at this engine, with a private `DOCKER_CONFIG` and the legacy
    /// builder (this engine has no BuildKit). Context and TLS variables of the caller are cleared.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(&self.docker_cli);
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    /// Runs `docker ARGS` and returns its stdout, or an error carrying its stderr.
    pub fn run_docker<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        process::run(self.docker().args(args))
    }

    /// Whether `GET /_ping` answers `OK` now.
    pub fn ping(&self) -> bool {
        ping(&self.socket)
    }

    /// Whether the daemon process is alive (it may not answer yet).
    pub fn is_running(&self) -> bool {
        self.lock()
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the engine the way a service manager does: SIGTERM to dockerd, which stops the
    /// containers (2 s grace) and its containerd. Data and paths stay for [`Engine::start_again`].
    pub fn stop(&self) {
        self.forget_netns();
        let mut guard = self.lock();
        if let Some(mut child) = guard.take() {
            match namespace_init(child.id()) {
                Some(init) => {
                    process::signal(init, Signal::TERM);
                    process::wait_or_kill(&mut child, STOP_GRACE);
                }
                None => process::wait_or_kill(&mut child, Duration::ZERO),
            }
        }
    }

    /// Kills the engine at once (SIGKILL to everything in its namespace), as a crash would. The
    /// socket file stays behind, as it does after a real crash.
    pub fn kill(&self) {
        self.forget_netns();
        if let Some(mut child) = self.lock().take() {
            process::wait_or_kill(&mut child, Duration::ZERO);
            // The launcher is gone at once, but the kernel kills the namespace's processes (the
            // daemon among them) after it: wait until the daemon has stopped answering.
            let deadline = Instant::now() + Duration::from_secs(10);
            while ping(&self.socket) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts the daemon again on the same paths and waits until it answers; does nothing if it
    /// is running.
    pub fn start_again(&self) -> Result<()> {
        let mut guard = self.lock();
        if let Some(child) = guard.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                return Ok(());
            }
        }
        *guard = None;
        let mut child = self.launch()?;
        let log = self.log_path();
        let started = Instant::now();
        loop {
            if ping(&self.socket) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HarnessError::Exited {
                    what: "dockerd",
                    status,
                    tail: process::tail(&log, 20),
                    log,
                });
            }
            if started.elapsed() > READY_TIMEOUT {
                process::wait_or_kill(&mut child, Duration::ZERO);
                return Err(HarnessError::NotReady {
                    what: "dockerd",
                    seconds: READY_TIMEOUT.as_secs(),
                    tail: process::tail(&log, 20),
                    log,
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
        let netns = namespace_init(child.id())
            .ok_or_else(|| HarnessError::Unexpected {
                what: "the engine's namespace".into(),
                detail: "unshare has no child".into(),
            })
            .and_then(NetNamespace::of_process);
        let netns = match netns {
            Ok(netns) => netns,
            Err(e) => {
                process::wait_or_kill(&mut child, Duration::ZERO);
                return Err(e);
            }
        };
        *self.netns.lock().unwrap_or_else(|e| e.into_inner()) = Some(netns);
        *guard = Some(child);
        Ok(())
    }

    /// Ends the forwarders into the engine's namespace, so that nothing keeps it once the engine
    /// is gone.
    fn forget_netns(&self) {
        self.netns.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// [`Engine::stop`] then [`Engine::start_again`].
    pub fn restart(&self) -> Result<()> {
        self.stop();
        self.start_again()
    }

    /// Writes `registry`'s CA to the engine's private `/etc/docker/certs.d/127.0.0.1:PORT/ca.crt`,
    /// the file dockerd reads on every connection to that registry (no restart needed). A
    /// plain-HTTP registry needs nothing.
    ///
    /// moby hard-codes `127.0.0.0/8` as an insecure range: for these loopback registries dockerd
    /// skips certificate verification whether or not the CA is there, so the engine reaches the
    /// registry's auth either way. Clients that verify (rustls, the product's registry client)
    /// need [`Registry::ca_pem_path`] instead.
    pub fn trust_registry(&self, registry: &Registry) -> Result<()> {
        let Some(ca) = registry.ca_pem() else {
            return Ok(());
        };
        let dir = self.config_dir().join("certs.d").join(registry.addr());
        fs::create_dir_all(&dir)
            .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
        fs::write(dir.join("ca.crt"), ca).map_err(HarnessError::io(format!(
            "writing {}/ca.crt",
            dir.display()
        )))
    }

    /// `docker login` to `registry` with its credentials (stored in this engine's
    /// `DOCKER_CONFIG`). A registry without credentials needs no login.
    pub fn login(&self, registry: &Registry) -> Result<()> {
        let Some(credentials) = registry.credentials() else {
            return Ok(());
        };
        self.login_as(registry, &credentials.username, &credentials.password)
    }

    /// `docker login` with the given username and password (to test refusals).
    pub fn login_as(&self, registry: &Registry, username: &str, password: &str) -> Result<()> {
        let mut cmd = self.docker();
        cmd.args(["login", "--username", username, "--password-stdin"])
            .arg(registry.addr())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(HarnessError::io("running docker login"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(password.as_bytes())
                .map_err(HarnessError::io("writing the password to docker login"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(HarnessError::io("running docker login"))?;
        process::check(&cmd, output).map(drop)
    }

    fn launch(&self) -> Result<Child> {
        // Mount points for the namespace setup; creating them on the host is harmless.
        for dir in ["/etc/docker", "/run/containerd"] {
            fs::create_dir_all(dir).map_err(HarnessError::io(format!("creating {dir}")))?;
        }
        let root = self.root();
        // After a kill the pid files stay; their pids are from the dead namespace and may name
        // a live process in the new one, which dockerd would take for a running daemon or
        // containerd.
        for stale in ["x/dockerd.pid", "x/containerd/containerd.pid"] {
            match fs::remove_file(root.join(stale)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(HarnessError::io(format!("removing {stale}"))(e));
                }
                _ => {}
            }
        }
        let mut cmd = process::tied_command(&process::find(process::UNSHARE)?)?;
        cmd.args([
            "--pid",
            "--net",
            "--fork",
            "--kill-child",
            "--mount",
            "--mount-proc",
            "--propagation",
            // Host mounts made after the start still reach the engine; its own never leave.
            "slave",
            "--",
        ])
        .arg(process::find(process::TINI)?)
        .arg("--")
        .arg(process::find(process::SH)?)
        .arg("-c")
        .arg(NAMESPACE_SETUP)
        .arg("sh")
        .arg(self.config_dir())
        .arg(process::find(process::DOCKERD)?)
        .arg("--data-root")
        .arg(self.data_root())
        .arg("--exec-root")
        .arg(root.join("x"))
        .arg("--pidfile")
        .arg(root.join("x/dockerd.pid"))
        .arg("--config-file")
        .arg(root.join("daemon.json"))
        .arg("-H")
        .arg(self.host())
        .args([
            // Harmless only because the engine has a network namespace of its own: in the host's
            // it deletes the host's `docker0`.
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            "--shutdown-timeout=2",
        ])
        .args(&self.config.daemon_args)
        // The engine's and its containerd's own temporary files (containerd writes its stack
        // dumps to the temp dir) stay in the run directory and go with it, never in the host's
        // `/tmp`.
        .env("TMPDIR", root.join("tmp"));
        let (stdout, stderr) = process::log_stdio(&self.log_path())?;
        cmd.stdout(stdout).stderr(stderr);
        process::spawn_tied(cmd).map_err(HarnessError::io("spawning dockerd"))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // When the namespace's init dies the kernel kills and reaps everything in it before
        // `unshare` sees the exit, so the directory is free of processes and mounts afterwards.
        self.kill();
    }
}

/// The host pid of the namespace's init, the child of `unshare --fork`.
fn namespace_init(unshare: u32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub(crate) fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("\r\n\r\nOK")
}
