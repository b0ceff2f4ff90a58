//! An enforcer in a child process of the test binary, for the tests that kill it with SIGKILL:
//! the test runs itself again alone (`--exact`) with the child's directory and upstream in the
//! environment, and the child starts the enforcer and says `ready` on its stdout.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use eci_e2e::{shared, Engine};
use eci_proxy::{BlockSink, DigestSource, Enforcer, EnforcerConfig};
use tokio::runtime::Runtime;

use super::{dir_config, runtime, Cli};

const CHILD_DIR: &str = "ECI_CHILD_ENFORCER_DIR";
const CHILD_UPSTREAM: &str = "ECI_CHILD_ENFORCER_UPSTREAM";

/// In the child, the config its parent gave it; `None` in the parent.
pub fn child_config_from_env() -> Option<EnforcerConfig> {
    let dir = std::env::var(CHILD_DIR).ok()?;
    let upstream = std::env::var(CHILD_UPSTREAM).ok()?;
    Some(dir_config(Path::new(&dir), PathBuf::from(upstream)))
}

/// In the child: starts the enforcer, says `ready`, then calls `tick` every `every` until it is
/// killed.
pub fn serve_until_killed(
    config: EnforcerConfig,
    digests: Arc<dyn DigestSource>,
    sink: Option<Arc<dyn BlockSink>>,
    every: Duration,
    mut tick: impl FnMut(),
) -> ! {
    let rt = runtime();
    let _enforcer = rt
        .block_on(Enforcer::start(config, digests, sink))
        .expect("child enforcer");
    println!("ready");
    loop {
        std::thread::sleep(every);
        tick();
    }
}

/// The parent's handle on the child enforcer: its directory, its config and its stdout lines.
pub struct ChildEnforcer {
    pub dir: tempfile::TempDir,
    pub config: EnforcerConfig,
    pub engine: &'static Engine,
    process: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildEnforcer {
    /// Runs `test` of this binary alone as the child, in front of the shared engine with `admin`
    /// as its settings and `env` besides, and waits up to `ready_within` for it to say `ready`.
    pub fn spawn(
        test: &str,
        admin: &str,
        env: &[(&str, String)],
        ready_within: Duration,
    ) -> ChildEnforcer {
        let engine = shared().engine();
        let dir = tempfile::Builder::new()
            .prefix("ecic")
            .tempdir_in("/tmp")
            .unwrap();
        let config = dir_config(dir.path(), engine.socket_path().to_owned());
        std::fs::write(config.settings.admin.as_ref().unwrap(), admin).unwrap();
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_UPSTREAM, engine.socket_path())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel::<String>();
        let out = process.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let child = ChildEnforcer {
            dir,
            config,
            engine,
            process,
            lines,
        };
        loop {
            let line = child
                .lines
                .recv_timeout(ready_within)
                .expect("the child reports ready");
            if line.ends_with("ready") {
                break;
            }
        }
        child
    }

    /// The child's main socket.
    pub fn host(&self) -> &Path {
        &self.config.listen[0]
    }

    /// The real docker CLI through the child.
    pub fn cli(&self) -> Cli<'_> {
        Cli {
            engine: self.engine,
            host: self.host(),
        }
    }

    /// The child's next line on stdout, within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> String {
        self.lines.recv_timeout(timeout).unwrap()
    }

    /// SIGKILL, and the child reaped: nothing of it cleans up.
    pub fn kill_9(&mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }

    /// A new enforcer in this process on the child's sockets, settings and state.
    pub fn start_again(&self, digests: Arc<dyn DigestSource>) -> InProcess {
        let rt = runtime();
        let enforcer = rt
            .block_on(Enforcer::start(self.config.clone(), digests, None))
            .expect("the enforcer starts again after kill -9");
        InProcess { rt, enforcer }
    }
}

impl Drop for ChildEnforcer {
    fn drop(&mut self) {
        // A test that failed before its kill must not leave the child serving forever.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// An enforcer in this process with its own runtime.
pub struct InProcess {
    pub rt: Runtime,
    pub enforcer: Enforcer,
}

impl InProcess {
    pub fn stop(self) {
        self.rt.block_on(self.enforcer.stop());
    }
}
