//! Shared fixture of the end-to-end suites: an enforcer in front of the harness's real engine,
//! the real docker CLI pointed at it, digest facts taken from the harness's registry pushes, raw
//! HTTP over the socket for what the CLI cannot send, and the engine's own state as oracle.

#![allow(dead_code)]

mod block_log;
mod child;
mod fetched_digests;
mod messages;
mod reloads;
mod run_args;
mod socket_container;
mod stall_relay;
mod swappable_bind;

// Each suite includes this module whole and uses some of it: the rest is unused there.
#[allow(unused_imports)]
pub use {
    block_log::*, child::*, fetched_digests::*, messages::*, reloads::*, run_args::*,
    socket_container::*, stall_relay::*, swappable_bind::*,
};

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eci_e2e::{shared, Engine, PushedImage};
use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests};
use eci_policy::reference::{Digest, ImageEntry, Repository};
use eci_proxy::{
    BlockEvent, BlockSink, DigestSource, Enforcer, EnforcerConfig, Limits, SettingsPaths,
};
use serde_json::Value;
use tokio::runtime::Runtime;

/// Digests "published" for the images the harness pushed: what eci-registry would have fetched.
#[derive(Debug, Default)]
pub struct PushedDigests {
    /// Canonical entry → its manifest digests and its config digests.
    entries: HashMap<String, (HashSet<String>, HashSet<String>)>,
    /// (repository, manifest digest, config digest) known to exist.
    any_tag: HashSet<(String, String, String)>,
}

impl PushedDigests {
    pub fn new(images: &[&PushedImage]) -> PushedDigests {
        let mut d = PushedDigests::default();
        for img in images {
            for entry in [img.reference(), img.pinned_reference()] {
                let e = ImageEntry::parse(&entry).expect("entry");
                let (manifests, configs) = d.entries.entry(e.to_string()).or_default();
                manifests.insert(img.manifest_digest.clone());
                configs.insert(img.config_digest.clone());
            }
            let repo = ImageEntry::parse(&img.reference())
                .unwrap()
                .repository()
                .unwrap()
                .to_string();
            d.any_tag
                .insert((repo, img.manifest_digest.clone(), img.config_digest.clone()));
        }
        d
    }
}

impl PushedDigests {
    /// The digests of the harness's busybox and CLI images.
    pub fn of_shared_images() -> PushedDigests {
        let s = shared();
        PushedDigests::new(&[s.busybox(), s.cli()])
    }
}

impl DigestSource for PushedDigests {}

impl DigestFacts for PushedDigests {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests {
        match self.entries.get(&entry.to_string()) {
            Some((manifests, configs)) => EntryDigests::Known {
                manifests: manifests.clone(),
                configs: configs.clone(),
            },
            None => EntryDigests::Unavailable("not published in the test registry".into()),
        }
    }

    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, id: &str) -> AnyTagFact {
        let key = (repo.to_string(), repo_digest.to_string(), id.to_owned());
        if self.any_tag.contains(&key) {
            AnyTagFact::Verified
        } else {
            AnyTagFact::Mismatch
        }
    }
}

/// The admin settings text for ECI on, locked, with these images and this command list.
pub fn admin_settings(images: &[&str], list_type: &str, commands: &[&str]) -> String {
    serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true,
            "value": true,
            "iechorSocketMount": {
                "imageList": { "images": images },
                "commandList": { "type": list_type, "commands": commands }
            }
        }
    })
    .to_string()
}

/// An enforcer on a private socket in front of an engine.
pub struct Guard {
    pub config: EnforcerConfig,
    pub digests: Arc<dyn DigestSource>,
    pub sink: Option<Arc<dyn BlockSink>>,
    pub rt: Runtime,
    pub enforcer: Option<Enforcer>,
    pub dir: tempfile::TempDir,
    pub listen: PathBuf,
    pub admin: PathBuf,
    pub engine: &'static Engine,
    pub blocks: tokio::sync::broadcast::Receiver<BlockEvent>,
}

impl Guard {
    /// An enforcer in front of the shared engine with `admin` as the admin settings.
    pub fn start(admin: &str) -> Guard {
        Guard::start_on(shared().engine(), admin)
    }

    pub fn start_on(engine: &'static Engine, admin: &str) -> Guard {
        let digests = PushedDigests::of_shared_images();
        Guard::start_with(engine, admin, Arc::new(digests), None)
    }

    /// An enforcer in front of the shared engine whose blocks also go to `sink`.
    pub fn start_recording(admin: &str, sink: Arc<dyn BlockSink>) -> Guard {
        Guard::start_recording_on(shared().engine(), admin, sink)
    }

    /// An enforcer in front of `engine` whose blocks also go to `sink`.
    pub fn start_recording_on(
        engine: &'static Engine,
        admin: &str,
        sink: Arc<dyn BlockSink>,
    ) -> Guard {
        let digests = PushedDigests::of_shared_images();
        Guard::start_with(engine, admin, Arc::new(digests), Some(sink))
    }

    pub fn start_with(
        engine: &'static Engine,
        admin: &str,
        digests: Arc<dyn DigestSource>,
        sink: Option<Arc<dyn BlockSink>>,
    ) -> Guard {
        Guard::start_via(engine, engine.socket_path(), admin, digests, sink)
    }

    /// An enforcer in front of `engine` reached through `upstream` (a relay of the engine's
    /// socket), which protects the engine's own socket too.
    pub fn start_via(
        engine: &'static Engine,
        upstream: &Path,
        admin: &str,
        digests: Arc<dyn DigestSource>,
        sink: Option<Arc<dyn BlockSink>>,
    ) -> Guard {
        let dir = tempfile::Builder::new()
            .prefix("ecig")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let listen = dir.path().join("guard.sock");
        let admin_path = dir.path().join("settings/admin-settings.json");
        std::fs::create_dir_all(admin_path.parent().unwrap()).unwrap();
        std::fs::write(&admin_path, admin).unwrap();
        let config = EnforcerConfig {
            listen: vec![listen.clone()],
            upstream: upstream.to_path_buf(),
            settings: SettingsPaths {
                admin: Some(admin_path.clone()),
                user: Some(dir.path().join("settings/user-settings.json")),
            },
            state_dir: dir.path().join("state"),
            protect: vec![engine.socket_path().to_path_buf()],
            limits: Limits::default(),
            watch_settings: true,
        };
        let rt = runtime();
        let enforcer = rt
            .block_on(Enforcer::start(
                config.clone(),
                digests.clone(),
                sink.clone(),
            ))
            .expect("enforcer starts");
        let blocks = enforcer.subscribe_blocks();
        Guard {
            config,
            digests,
            sink,
            rt,
            enforcer: Some(enforcer),
            dir,
            listen,
            admin: admin_path,
            engine,
            blocks,
        }
    }

    pub fn enforcer(&self) -> &Enforcer {
        self.enforcer.as_ref().unwrap()
    }

    /// The bind that gives a container this enforcer's engine socket (which the enforcer
    /// replaces by a filtered one, or refuses).
    pub fn socket_bind(&self) -> String {
        socket_bind(self.engine)
    }

    /// The real docker CLI through this enforcer.
    pub fn cli(&self) -> Cli<'_> {
        Cli {
            engine: self.engine,
            host: &self.listen,
        }
    }

    pub fn docker(&self) -> Command {
        self.cli().docker()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cli().run(args)
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.cli().ok(args)
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.cli().fails(args)
    }

    /// Waits up to 10 s for every filtered socket to go (with their containers).
    pub fn until_no_filtered_socket(&self) {
        eventually(10, "the filtered socket to go", || {
            self.enforcer().filtered_sockets().is_empty()
        });
    }

    /// The next block recorded, within a few seconds.
    pub fn next_block(&mut self) -> BlockEvent {
        let rx = &mut self.blocks;
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), rx.recv()).await })
            .expect("a block within 5 s")
            .expect("block channel open")
    }

    /// Stops the enforcer and starts a new one on the same sockets, settings and state.
    pub fn restart(&mut self) {
        self.stop();
        let e = self
            .rt
            .block_on(Enforcer::start(
                self.config.clone(),
                self.digests.clone(),
                None,
            ))
            .expect("enforcer restarts");
        self.blocks = e.subscribe_blocks();
        self.enforcer = Some(e);
    }

    pub fn stop(&mut self) {
        if let Some(e) = self.enforcer.take() {
            self.rt.block_on(e.stop());
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The real docker CLI through the enforcer listening at `host`, in front of `engine`.
#[derive(Clone, Copy)]
pub struct Cli<'a> {
    pub engine: &'a Engine,
    pub host: &'a Path,
}

impl<'a> Cli<'a> {
    /// The CLI straight at `engine`, bypassing any enforcer.
    pub fn direct(engine: &'a Engine) -> Cli<'a> {
        Cli {
            engine,
            host: engine.socket_path(),
        }
    }

    pub fn docker(&self) -> Command {
        let mut c = self.engine.docker();
        c.env("DOCKER_HOST", format!("unix://{}", self.host.display()));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.docker().args(args).output().expect("docker runs")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "docker {} should have failed; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// The runtime every enforcer of the suites runs on: two workers, as on the 2-core machine.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The config of an enforcer kept in `dir`: its socket `guard.sock`, admin settings only
/// (`admin-settings.json`, not watched) and its state in `state`.
pub fn dir_config(dir: &Path, upstream: PathBuf) -> EnforcerConfig {
    EnforcerConfig {
        listen: vec![dir.join("guard.sock")],
        upstream,
        settings: SettingsPaths {
            admin: Some(dir.join("admin-settings.json")),
            user: None,
        },
        state_dir: dir.join("state"),
        protect: vec![],
        limits: Limits::default(),
        watch_settings: false,
    }
}

/// The engine directly, bypassing the enforcer (the oracle).
pub fn engine_docker(engine: &Engine, args: &[&str]) -> Output {
    engine.docker().args(args).output().expect("docker runs")
}

/// The engine's inspect of a container, `None` when it does not exist.
pub fn inspect_container(engine: &Engine, name: &str) -> Option<Value> {
    let out = engine_docker(engine, &["inspect", "--type", "container", name]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?.first().cloned()
}

/// Whether `path` is, under another name (hard link, bind mount), the socket or a directory
/// above it, or holds one within a few levels: the same device and inode.
fn same_file_as_socket_or_above(path: &str, socket: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let targets: Vec<_> = Path::new(socket).ancestors().filter_map(id).collect();
    fn walk(p: &Path, depth: u8, hit: &dyn Fn(&Path) -> bool) -> bool {
        hit(p)
            || (depth > 0
                && std::fs::read_dir(p).is_ok_and(|entries| {
                    entries.flatten().any(|e| walk(&e.path(), depth - 1, hit))
                }))
    }
    walk(Path::new(path), 3, &|p| {
        id(p).is_some_and(|i| targets.contains(&i))
    })
}

/// The host paths a container mounts, resolved on the host, that reach `socket` (the socket
/// itself or a directory above it, under any name). The oracle of every bypass test.
pub fn exposing_mounts(engine: &Engine, name: &str, socket: &Path) -> Vec<String> {
    let Some(info) = inspect_container(engine, name) else {
        return Vec::new();
    };
    let socket = eci_proxy::resolve_host(&socket.to_string_lossy());
    let mut out = Vec::new();
    for m in info["Mounts"].as_array().into_iter().flatten() {
        let mut sources = vec![m["Source"].as_str().unwrap_or("").to_owned()];
        if m["Type"] == "volume" {
            if let Some(name) = m["Name"].as_str() {
                let v = engine_docker(engine, &["volume", "inspect", name]);
                let v: Value = serde_json::from_slice(&v.stdout).unwrap_or(Value::Null);
                if let Some(dev) = v[0]["Options"]["device"].as_str() {
                    sources.push(dev.to_owned());
                }
            }
        }
        for s in sources {
            if s.is_empty() {
                continue;
            }
            let r = eci_proxy::resolve_host(&s);
            let dir = r.trim_end_matches('/');
            // A procfs reaches every process's root, the engine's socket included.
            let procfs = r == "/proc" || r.starts_with("/proc/");
            if r == socket
                || dir.is_empty()
                || socket.starts_with(&format!("{dir}/"))
                || procfs
                || same_file_as_socket_or_above(&r, &socket)
            {
                out.push(s);
            }
        }
    }
    out
}

/// A local volume `name` made directly on the engine, binding the host path `device`.
pub fn bind_volume(engine: &Engine, name: &str, device: &str) {
    engine
        .run_docker([
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            &format!("device={device}"),
            name,
        ])
        .unwrap();
}

pub fn remove_container(engine: &Engine, name: &str) {
    let _ = engine_docker(engine, &["rm", "-f", "-v", name]);
}

/// One HTTP exchange (or several pipelined) written raw to a unix socket; returns every status
/// code in the answer and the whole answer text.
pub fn raw_http(sock: &Path, request: &[u8]) -> (Vec<u16>, String) {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let statuses = text
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect();
    (statuses, text)
}

/// One request with `Connection: close`, bounded by `timeout` each way: the status of its answer
/// (0 when none came), the whole answer, and how long it took. Never fails: a refused connection
/// or a cut answer is what some tests expect.
pub fn exchange(sock: &Path, request: &[u8], timeout: Duration) -> (u16, String, Duration) {
    let start = Instant::now();
    let Ok(mut s) = UnixStream::connect(sock) else {
        return (0, String::new(), start.elapsed());
    };
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    if s.write_all(request).is_err() {
        return (0, String::new(), start.elapsed());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text, start.elapsed())
}

/// A `GET` with `Connection: close`.
pub fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").into_bytes()
}

/// The filtered socket in `dir` that the engine mounts into container `name` (the directory
/// also holds the spare made ahead of the next create).
pub fn mounted_filtered_socket(engine: &Engine, name: &str, dir: &Path) -> PathBuf {
    inspect_container(engine, name).unwrap()["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Source"].as_str().map(PathBuf::from))
        .find(|p| p.parent() == Some(dir))
        .expect("the container's filtered socket")
}

/// A request with a JSON body and `Connection: close`.
pub fn request(method: &str, target: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `POST` with a JSON body and `Connection: close`.
pub fn post(target: &str, body: &str) -> Vec<u8> {
    request("POST", target, body)
}

/// Polls `check` for up to `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A name unique to this test process.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}
