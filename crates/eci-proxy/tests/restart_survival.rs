//! Containers that keep running across an enforcer restart (a clean stop, or kill -9) get a
//! working filtered socket back, judged from inside the container: the engine answers through
//! it and the command list still applies. A container that replaced its socket's destination by
//! a symlink gets no mount anywhere, and a warning names it.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use eci_e2e::{shared, ImageSpec, PushedImage};
use eci_proxy::Enforcer;
use support::*;

/// Everything the enforcers of this process log, for the warnings.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogWriter(buf))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buf
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines that mention `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// A clean stop and start, twice (the second restart finds the container with the socket the
/// first one mounted): each time docker inside works again and push is still refused.
#[test]
fn a_running_container_gets_its_filtered_socket_back_after_a_restart() {
    logs();
    let (mut g, c) = Guard::start_with_socket_container("survivor", "before any restart");
    let SocketContainer {
        image: cli,
        name,
        id,
    } = c;
    for round in 1..=2 {
        g.stop();
        // While no enforcer serves it, the socket refuses: what a restart has to repair.
        let out = engine_docker(g.engine, &["exec", &name, "docker", "version"]);
        assert!(!out.status.success(), "round {round}: served while stopped");
        g.restart();
        assert_filtered_socket_works(g.cli(), &name, &cli, &format!("restart {round}"));
    }
    assert_eq!(
        log_lines(&id)
            .iter()
            .filter(|l| l.contains("mounted back into the running container"))
            .count(),
        2
    );
    assert!(log_lines(&format!("container {id} keeps")).is_empty());
    // The old sockets the new ones are mounted on are kept while the container lives, and go
    // with it.
    let filtered = g.config.state_dir.join("filtered");
    let files = || std::fs::read_dir(&filtered).unwrap().count();
    assert_eq!(files(), 3, "the socket and the two it is mounted over");
    remove_container(g.engine, &name);
    eventually(10, "the container's socket files to go", || files() == 0);
}

const CHILD_IMAGE: &str = "ECI_SURVIVAL_CHILD_IMAGE";

/// The registry's digests for the CLI image, passed to the child as
/// `registry repository tag manifest-digest config-digest`.
fn image_to_env(img: &PushedImage) -> String {
    [
        &img.registry,
        &img.repository,
        &img.tag,
        &img.manifest_digest,
        &img.config_digest,
    ]
    .map(String::as_str)
    .join(" ")
}

fn image_from_env(v: &str) -> PushedImage {
    let f: Vec<&str> = v.split(' ').collect();
    PushedImage {
        registry: f[0].into(),
        repository: f[1].into(),
        tag: f[2].into(),
        spec: ImageSpec::new("cli").with_docker_cli(),
        manifest_digest: f[3].into(),
        manifest_media_type: String::new(),
        manifest_size: 0,
        config_digest: f[4].into(),
    }
}

fn digests_for(img: &PushedImage) -> Arc<PushedDigests> {
    Arc::new(PushedDigests::new(&[img]))
}

/// The enforcer is killed with SIGKILL (its sockets stay, nothing is cleaned up) and a new one
/// starts on the same state directory: docker inside the still running container works again
/// and push is still refused.
#[test]
fn a_running_container_gets_its_filtered_socket_back_after_kill_9() {
    // The child: an enforcer in a process of its own until it is killed.
    if let Some(config) = child_config_from_env() {
        let img = image_from_env(&std::env::var(CHILD_IMAGE).unwrap());
        serve_until_killed(
            config,
            digests_for(&img),
            None,
            Duration::from_secs(1),
            || {},
        );
    }
    logs();
    let s = shared();
    let cli = s.cli().reference();
    let mut child = ChildEnforcer::spawn(
        "a_running_container_gets_its_filtered_socket_back_after_kill_9",
        &admin_settings(&[cli.as_str()], "deny", &["push"]),
        &[(CHILD_IMAGE, image_to_env(s.cli()))],
        Duration::from_secs(60),
    );
    let engine = child.engine;
    let name = working_socket_container(child.cli(), "killed", &cli, "before the kill").name;

    child.kill_9();
    let out = engine_docker(engine, &["exec", &name, "docker", "version"]);
    assert!(!out.status.success(), "served after the kill");

    let again = child.start_again(digests_for(s.cli()));
    assert_filtered_socket_works(child.cli(), &name, &cli, "after kill -9 and a new start");
    remove_container(engine, &name);
    again.stop();
}

/// The mount points of a mountinfo text (field 5), escapes left as the kernel writes them.
fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .collect()
}

/// The mounts of a mountinfo text by id and mount point (the root of a mount shows `//deleted`
/// once its file is unlinked, which is no new mount).
fn mounts(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f.first()?.to_string(), f.get(4)?.to_string()))
        })
        .collect()
}

/// Inside the container, the destination's directory is moved away (the stale mount goes with
/// it) and the destination becomes a symlink to a path that exists both in the container and on
/// the host. After the restart nothing is mounted anywhere, in the container or on the host,
/// both files are as they were, and the warning names the container.
#[test]
fn a_destination_replaced_by_a_symlink_gets_no_mount() {
    logs();
    let (mut g, c) = Guard::start_with_socket_container("symlinked", "before the restart");
    let SocketContainer { name, id, .. } = c;

    let victim = g.dir.path().join("victim");
    std::fs::write(&victim, "host\n").unwrap();
    let victim_s = victim.display().to_string();
    let script = format!(
        "set -e; mv /var/run /var/run.moved; mkdir /var/run; mkdir -p {dir}; echo inside > {victim_s}; ln -s {victim_s} /var/run/docker.sock",
        dir = g.dir.path().display()
    );
    let out = engine_docker(g.engine, &["exec", &name, "sh", "-c", &script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let container_mounts = || {
        let out = engine_docker(g.engine, &["exec", &name, "cat", "/proc/self/mountinfo"]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = mounts(&container_mounts());
    assert!(
        before
            .iter()
            .any(|(_, m)| m == "/var/run.moved/docker.sock"),
        "{before:?}"
    );

    g.restart();

    assert_eq!(
        mounts(&container_mounts()),
        before,
        "a mount was made in the container"
    );
    // The victim and the state directory are both under the test's directory.
    let ours = format!("{}/", g.dir.path().display());
    let host_after = mount_points(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
    assert!(
        !host_after.iter().any(|m| m.starts_with(&ours)),
        "a mount on the host under {ours}: {host_after:?}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host\n");
    let out = engine_docker(
        g.engine,
        &[
            "exec",
            &name,
            "sh",
            "-c",
            &format!("test ! -S {victim_s} && cat {victim_s}"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
    assert!(version_inside(g.cli(), &name).is_err());
    let warned = log_lines(&format!("container {id} keeps a dead filtered socket"));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("no longer the old filtered socket")
            && warned[0].contains("needs a restart"),
        "{}",
        warned[0]
    );
    remove_container(g.engine, &name);
}

/// A root enforcer without `CAP_SYS_ADMIN` (as `deploy/eci-guard.service` bounds it, to
/// `CAP_DAC_READ_SEARCH`) cannot mount into the container: the warning names the container, says
/// why and that it needs a restart, and the container is left as it was.
#[test]
fn without_the_privilege_to_mount_the_warning_names_the_container() {
    use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
    logs();
    let (mut g, c) = Guard::start_with_socket_container("unprivileged", "before the restart");
    let SocketContainer { name, id, .. } = c;
    let container_mounts = || {
        let out = engine_docker(g.engine, &["exec", &name, "cat", "/proc/self/mountinfo"]);
        mounts(&String::from_utf8_lossy(&out.stdout))
    };
    let before = container_mounts();
    g.stop();

    // Capabilities are per thread, and inherited by the threads it starts: the runtime here is
    // this thread's own, and so is the thread that would mount.
    let (config, digests) = (g.config.clone(), g.digests.clone());
    std::thread::spawn(move || {
        let mut caps = capabilities(None).unwrap();
        caps.effective &= CapabilitySet::DAC_READ_SEARCH;
        caps.permitted &= CapabilitySet::DAC_READ_SEARCH;
        caps.inheritable = CapabilitySet::empty();
        set_capabilities(None, caps).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let enforcer = rt
            .block_on(Enforcer::start(config, digests, None))
            .expect("starts without the capabilities");
        rt.block_on(enforcer.stop());
    })
    .join()
    .unwrap();

    let warned = log_lines(&format!("container {id} keeps a dead filtered socket"));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("Operation not permitted")
            && warned[0].contains("needs CAP_SYS_ADMIN")
            && warned[0].contains("needs a restart to get its filtered socket back"),
        "{}",
        warned[0]
    );
    assert_eq!(
        container_mounts(),
        before,
        "a mount was made in the container"
    );
    remove_container(g.engine, &name);
}
