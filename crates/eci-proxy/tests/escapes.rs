//! The escape classes of issue 11, each against the real engine, with the engine's own state as
//! the oracle: volumes the engine resolves later, check-to-use races, writes into containers, a
//! starved start check, host control sockets, host privileges, and Go's reading of field names.
//!
//! Every enforcer here watches the shared engine's events, so the tests run one at a time.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use eci_e2e::shared;
use eci_policy::decide::BlockKind;
use serde_json::Value;
use support::*;

fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn engine_sock() -> (String, String) {
    let sock = shared().engine().socket_path().display().to_string();
    let dir = std::path::Path::new(&sock)
        .parent()
        .unwrap()
        .display()
        .to_string();
    (sock, dir)
}

/// The engine's view of a volume's options, `Null` when there is no such volume.
fn volume_options(name: &str) -> Value {
    let out = engine_docker(shared().engine(), &["volume", "inspect", name]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v[0]["Options"].clone()
}

fn remove_volume(name: &str) {
    let _ = engine_docker(shared().engine(), &["volume", "rm", "-f", name]);
}

fn status_of(text: &str) -> u16 {
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Class 1: a named volume is judged by what the engine will use (an existing volume wins over
/// the request's inline options), and local volumes of kernel filesystems are host access.
#[test]
fn volumes_are_judged_as_the_engine_will_resolve_them() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[bb.as_str()], "deny", &[]));
    let (_sock, sock_dir) = engine_sock();
    let harmless = tempfile::tempdir().unwrap();
    let harmless = harmless.path().display().to_string();

    // An existing volume binding the socket's directory, made before (or around) the enforcer.
    let existing = unique("bindvol");
    bind_volume(engine, &existing, &sock_dir);
    let holder = unique("volholder");
    engine
        .run_docker(
            RunArgs::create(&holder)
                .volume(&format!("{existing}:/v"))
                .image(&bb, &[]),
        )
        .unwrap();
    let inline_harmless = |name: &str| {
        format!(
            r#"{{"Type":"volume","Source":"{name}","Target":"/s","VolumeOptions":{{"DriverConfig":{{"Name":"local","Options":{{"type":"none","o":"bind","device":"{harmless}"}}}}}}}}"#
        )
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "existing volume with harmless inline options",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{}]}}}}"#,
                inline_harmless(&existing)
            ),
        ),
        (
            "existing volume by Binds",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{existing}:/s"]}}}}"#),
        ),
        (
            "volumes from a container using it",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"VolumesFrom":["{holder}"]}}}}"#),
        ),
    ];
    for (what, body) in &cases {
        let name = unique("vol");
        let (statuses, text) = raw_http(
            &g.listen,
            &post(&format!("/containers/create?name={name}"), body),
        );
        assert!(
            exposing_mounts(engine, &name, engine.socket_path()).is_empty(),
            "{what}: {text}"
        );
        assert_eq!(statuses.first(), Some(&403), "{what}: {text}");
        remove_container(engine, &name);
    }

    // A service whose volume mount names the existing volume with harmless inline options is
    // refused before the engine sees it (its tasks would use the existing volume).
    let spec = format!(
        r#"{{"Name":"{}","TaskTemplate":{{"ContainerSpec":{{"Image":"{bb}","Mounts":[{}]}}}}}}"#,
        unique("svc"),
        inline_harmless(&existing)
    );
    let (statuses, text) = raw_http(&g.listen, &post("/v1.41/services/create", &spec));
    assert_eq!(statuses.first(), Some(&403), "{text}");

    // Kernel filesystems: a volume create, an inline volume, and an existing volume of one.
    let procvol = unique("procvol");
    let (statuses, text) = raw_http(
        &g.listen,
        &post(
            "/volumes/create",
            &format!(r#"{{"Name":"{procvol}","DriverOpts":{{"type":"proc","device":"proc"}}}}"#),
        ),
    );
    assert_eq!(statuses.first(), Some(&403), "{text}");
    assert!(text.contains("host access denied"), "{text}");
    assert_eq!(
        volume_options(&procvol),
        Value::Null,
        "the engine made the proc volume"
    );
    let name = unique("sysfs");
    let body = format!(
        r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{}","Target":"/sys2","VolumeOptions":{{"DriverConfig":{{"Options":{{"type":"sysfs","device":"sysfs"}}}}}}}}]}}}}"#,
        unique("sysvol")
    );
    let (statuses, text) = raw_http(
        &g.listen,
        &post(&format!("/containers/create?name={name}"), &body),
    );
    assert_eq!(statuses.first(), Some(&403), "{text}");
    assert!(
        inspect_container(engine, &name).is_none(),
        "sysfs volume container made"
    );
    engine
        .run_docker([
            "volume",
            "create",
            "--name",
            &procvol,
            "--opt",
            "type=proc",
            "--opt",
            "device=proc",
        ])
        .unwrap();
    let out = g.run(
        &RunArgs::create(&name)
            .volume(&format!("{procvol}:/p"))
            .image(&bb, &[]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a container got the existing proc volume"
    );
    assert!(err.contains("host access denied"), "{err}");
    assert!(inspect_container(engine, &name).is_none());

    // An allowed image still gets its filtered socket, and plain named volumes still work.
    let plain = unique("plainvol");
    let ok = unique("okvol");
    g.ok(&RunArgs::create(&ok)
        .volume(&g.socket_bind())
        .volume(&format!("{plain}:/data"))
        .image(&bb, &[]));
    assert!(exposing_mounts(engine, &ok, engine.socket_path()).is_empty());

    for c in [&holder, &ok] {
        remove_container(engine, c);
    }
    for v in [&existing, &procvol, &plain] {
        remove_volume(v);
    }
}

/// Class 2: a second client creates, through the enforcer, the volume a create names while that
/// create's check is stalled (the engine holds the enforcer's inspect). The create judged is the
/// create the engine runs: the volume the container gets is the one judged.
#[test]
fn a_volume_made_while_a_create_is_checked_is_not_the_one_the_engine_uses() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let (relay, g, _) = Guard::start_held(engine, &admin_settings(&[], "deny", &[]));
    let (_sock, sock_dir) = engine_sock();
    let harmless = tempfile::tempdir().unwrap();
    let harmless = harmless.path().display().to_string();
    let vol = unique("racevol");
    let victim = unique("race");

    // The racing client's connection reaches the engine before the stall.
    let mut racer = UnixStream::connect(&g.listen).unwrap();
    racer
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = racer.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains(" 200 "));

    relay.hold();
    let listen = g.listen.clone();
    let body = format!(
        r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{vol}","Target":"/s","VolumeOptions":{{"DriverConfig":{{"Name":"local","Options":{{"type":"none","o":"bind","device":"{harmless}"}}}}}}}}]}}}}"#
    );
    let target = format!("/containers/create?name={victim}");
    let create = std::thread::spawn(move || raw_http(&listen, &post(&target, &body)));
    std::thread::sleep(Duration::from_millis(500));
    let race_body = format!(
        r#"{{"Name":"{vol}","DriverOpts":{{"type":"none","o":"bind","device":"{sock_dir}"}}}}"#
    );
    let race = std::thread::spawn(move || {
        racer
            .write_all(
                format!(
                    "POST /volumes/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{race_body}",
                    race_body.len()
                )
                .as_bytes(),
            )
            .unwrap();
        let mut out = String::new();
        let _ = racer.read_to_string(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(500));
    relay.release();
    let (_, created) = create.join().unwrap();
    let raced = race.join().unwrap();

    let exposed = exposing_mounts(engine, &victim, engine.socket_path());
    assert!(
        exposed.is_empty(),
        "{exposed:?}\ncreate: {created}\nrace: {raced}"
    );
    let opts = volume_options(&vol);
    assert_ne!(
        opts["device"].as_str(),
        Some(sock_dir.as_str()),
        "the engine holds a volume of the socket's directory under the judged name\ncreate: {created}\nrace: {raced}"
    );
    remove_container(engine, &victim);
    remove_volume(&vol);

    // VolumesFrom is pinned to the container judged: the engine gets its id.
    let donor = unique("donor");
    engine
        .run_docker(RunArgs::create(&donor).image(&bb, &[]))
        .unwrap();
    let taker = unique("taker");
    g.ok(&[
        "create",
        "--name",
        &taker,
        "--network",
        "none",
        "--volumes-from",
        &donor,
        &bb,
    ]);
    let info = inspect_container(engine, &taker).unwrap();
    let donor_id = container_id(engine, &donor);
    assert_eq!(
        info["HostConfig"]["VolumesFrom"],
        serde_json::json!([donor_id]),
        "{info}"
    );
    remove_container(engine, &taker);
    remove_container(engine, &donor);
}

/// Class 3: `docker cp` into or out of a container whose bind source now leads to the socket's
/// directory is refused; the engine would mount it and write through it (never started or not).
#[test]
fn archive_reads_and_writes_through_a_swapped_bind_are_refused() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    let (_sock, sock_dir) = engine_sock();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("data");
    std::fs::create_dir(&src).unwrap();
    let name = unique("cp");
    g.ok(&RunArgs::create(&name)
        .volume(&format!("{}:/data", src.display()))
        .image(&bb, &[]));
    // Harmless while it is a directory of the user's.
    let file = work.path().join("payload");
    std::fs::write(&file, b"x").unwrap();
    g.ok(&[
        "cp",
        &file.display().to_string(),
        &format!("{name}:/data/ok"),
    ]);
    assert!(src.join("ok").exists());
    // Swapped for a link to the socket's directory after the create was judged.
    std::fs::remove_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(&sock_dir, &src).unwrap();
    let planted = std::path::Path::new(&sock_dir).join("planted-by-cp");
    g.fails(&[
        "cp",
        &file.display().to_string(),
        &format!("{name}:/data/planted-by-cp"),
    ]);
    assert!(
        !planted.exists(),
        "docker cp wrote into the socket's directory"
    );
    // The same write without the CLI's stat first: the archive upload itself is refused.
    let (statuses, text) = raw_http(
        &g.listen,
        &request(
            "PUT",
            &format!("/containers/{name}/archive?path=/data"),
            "not a tar",
        ),
    );
    assert_eq!(statuses.first(), Some(&403), "{text}");
    assert!(text.contains("iechor socket mount denied"), "{text}");
    let out_dir = work.path().join("out");
    g.fails(&[
        "cp",
        &format!("{name}:/data"),
        &out_dir.display().to_string(),
    ]);
    assert!(!out_dir.exists(), "docker cp read the socket's directory");
    remove_container(engine, &name);
}

/// Class 4: a container the engine starts while the enforcer's questions to it are held still
/// gets killed within the bound, without the engine's help, and the history says why.
#[test]
fn a_start_that_cannot_be_judged_is_killed_within_the_bound() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let (relay, g, collect) = Guard::start_held(engine, &admin_settings(&[], "deny", &[]));
    let (sock, _) = engine_sock();
    // Made directly on the engine: it holds the raw socket.
    let name = unique("unjudged");
    engine
        .run_docker(
            RunArgs::create(&name)
                .volume(&format!("{sock}:/s"))
                .image(&bb, &["sleep", "600"]),
        )
        .unwrap();
    let id = container_id(engine, &name);
    // Let the enforcer's event stream settle, then hold every new question it asks the engine.
    std::thread::sleep(Duration::from_millis(300));
    relay.hold();
    let started = Instant::now();
    engine.run_docker(["start", &name]).unwrap();
    let ran = stopped_since(engine, &name, started);
    relay.release();
    let ran = ran.expect("the unjudged container kept running");
    eprintln!(
        "unjudged container ran {} ms (bound {} ms)",
        ran.as_millis(),
        eci_proxy::UNJUDGED_BOUND.as_millis()
    );
    assert!(
        ran < eci_proxy::UNJUDGED_BOUND + Duration::from_millis(1500),
        "ran {ran:?}"
    );
    eventually(30, "the block of the unjudged container", || {
        !collect.about(&id).is_empty()
    });
    let block = collect.only_block_about(&id, "unjudged");
    assert_eq!(block.kind, BlockKind::SocketMount);
    assert_reason_says(
        &block,
        &["could not be checked", "could not be judged"],
        "unjudged",
    );
    eventually(20, "restart policy no", || {
        inspect_container(engine, &name).unwrap()["HostConfig"]["RestartPolicy"]["Name"] == "no"
    });
    drop(g);
    remove_container(engine, &name);
}

/// Class 5: every host control socket is protected, not only the engine's: denied for every
/// image, allowed ones included, under its own name, a directory above it, or inside its
/// directory.
#[test]
fn host_control_sockets_are_protected_for_every_image() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[bb.as_str()], "deny", &[]));
    for source in [
        "/run/containerd/containerd.sock",
        "/run/containerd/containerd.sock.ttrpc",
        "/run/containerd/s/0123456789abcdef",
        "/run/containerd",
        "/run/buildkit/buildkitd.sock",
        "/run/docker/plugins/some.sock",
        "/run/systemd/private",
        "/run/systemd/notify",
        "/run/dbus/system_bus_socket",
        "/var/run/dbus/system_bus_socket",
        "/run/podman/podman.sock",
    ] {
        let name = unique("control");
        let body = format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{source}:/c"]}}}}"#);
        let (statuses, text) = raw_http(
            &g.listen,
            &post(&format!("/containers/create?name={name}"), &body),
        );
        assert_eq!(statuses.first(), Some(&403), "{source}: {text}");
        assert!(
            inspect_container(engine, &name).is_none(),
            "{source}: created"
        );
    }
    // The engine's own socket is still the one an allowed image may have (filtered).
    let ok = unique("engine-socket");
    g.ok(&RunArgs::create(&ok)
        .volume(&g.socket_bind())
        .image(&bb, &[]));
    remove_container(engine, &ok);
}

/// Class 6: host privileges reach the socket without mounting it. Refused through the main socket
/// unless the admin lists the image for host access, and always through a filtered socket.
#[test]
fn host_privileges_are_host_access() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let cli = s.cli().reference();
    let g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &[]));
    let flags: &[&[&str]] = &[
        &["--privileged"],
        &["--pid", "host"],
        &["--ipc", "host"],
        &["--uts", "host"],
        &["--userns", "host"],
        &["--cap-add", "SYS_ADMIN"],
        &["--cap-add", "all"],
        &["--cap-add", "sys_ptrace"],
        &["--device", "/dev/null"],
        &["--device-cgroup-rule", "c 1:3 rwm"],
        &["--security-opt", "seccomp=unconfined"],
        &["--security-opt", "apparmor=unconfined"],
        &["--security-opt", "systempaths=unconfined"],
    ];
    for flag in flags {
        let name = unique("host");
        let mut args = vec!["create", "--name", &name, "--network", "none"];
        args.extend_from_slice(flag);
        args.push(&bb);
        let err = g.fails(&args);
        assert!(
            err.contains(
                "enhanced container isolation: host access denied for container with image"
            ),
            "{flag:?}: {err}"
        );
        assert!(
            inspect_container(engine, &name).is_none(),
            "{flag:?}: created"
        );
    }
    // The API's own capability set, which replaces the default one.
    let name = unique("capset");
    let body = format!(r#"{{"Image":"{bb}","HostConfig":{{"Capabilities":["CAP_SYS_ADMIN"]}}}}"#);
    let (statuses, text) = raw_http(
        &g.listen,
        &post(&format!("/containers/create?name={name}"), &body),
    );
    assert_eq!(statuses.first(), Some(&403), "{text}");
    assert!(inspect_container(engine, &name).is_none());
    // Binds that give a writable kernel filesystem that controls the host: the source itself,
    // or a mount below it (the engine binds recursively and makes only the top read-only).
    // Read-only with nothing below passes.
    let sys_ro_refused = kernel_fs_below("/sys");
    for (bind, refused) in [
        ("/sys:/s", true),
        ("/sys/kernel:/k", true),
        ("/sys:/s:ro", sys_ro_refused),
        ("/sys/class/net:/n:ro", false),
    ] {
        let name = unique("kernelfs");
        let out = g.run(&RunArgs::create(&name).volume(bind).image(&bb, &[]));
        let err = String::from_utf8_lossy(&out.stderr);
        if refused {
            assert!(
                err.contains("host access denied") && err.contains("with a writable"),
                "{bind}: {err}"
            );
            assert!(
                inspect_container(engine, &name).is_none(),
                "{bind}: created"
            );
        } else {
            assert!(out.status.success(), "{bind}: {err}");
            remove_container(engine, &name);
        }
    }
    // Privileged exec into a running container; a swarm join.
    let running = unique("exec");
    g.ok(&RunArgs::detached(&running).image(&bb, &["sleep", "600"]));
    let err = g.fails(&["exec", "--privileged", &running, "true"]);
    assert!(err.contains("host access denied"), "{err}");
    g.ok(&["exec", &running, "true"]);
    let (statuses, text) = raw_http(
        &g.listen,
        &post(
            "/swarm/join",
            r#"{"ListenAddr":"0.0.0.0:2377","RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"x"}"#,
        ),
    );
    assert_eq!(statuses.first(), Some(&403), "{text}");
    assert!(text.contains("host access denied"), "{text}");
    remove_container(engine, &running);

    // Listed for host access by the admin: allowed through the main socket...
    let mut settings: Value =
        serde_json::from_str(&admin_settings(&[cli.as_str()], "deny", &[])).unwrap();
    settings["enhancedContainerIsolation"]["eciGuard"] =
        serde_json::json!({"hostAccess": {"images": [cli]}});
    std::fs::write(&g.admin, settings.to_string()).unwrap();
    eventually(10, "the host-access list applied", || {
        g.enforcer().policy().snapshot().host_access_images.len() == 1
    });
    let listed = unique("listed");
    g.ok(&[
        "create",
        "--name",
        &listed,
        "--network",
        "none",
        "--privileged",
        &cli,
    ]);
    assert_eq!(
        inspect_container(engine, &listed).unwrap()["HostConfig"]["Privileged"],
        true
    );
    remove_container(engine, &listed);
    // ...but not for another image, and never through a filtered socket.
    let err = g.fails(&["create", "--network", "none", "--privileged", &bb]);
    assert!(err.contains("host access denied"), "{err}");
    let inner = unique("inner");
    let run = g.script_with_socket(
        &cli,
        &format!("docker create --name {inner} --network none --privileged {cli}"),
    );
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "containers created through a filtered socket are under enhanced container isolation"
        ),
        "{}",
        run.stderr
    );
    assert!(inspect_container(engine, &inner).is_none());
}

/// Whether a filesystem other than a tmpfs is mounted below `dir` on this machine (below
/// `/sys`, each is a kernel filesystem: cgroups, debugfs, securityfs, …).
fn kernel_fs_below(dir: &str) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().any(|l| {
        let point = l.split(' ').nth(4).unwrap_or("");
        let fs = l
            .split_once(" - ")
            .and_then(|(_, r)| r.split(' ').next())
            .unwrap_or("");
        point.starts_with(&format!("{dir}/")) && fs != "tmpfs"
    })
}

/// Class 7: field names are matched as current engines' Go matches them: `ſ` and `K` fold to
/// ASCII letters, the dotless `ı` and dotted `İ` do not (Go's case orbits keep them apart, in
/// every Go since 1.21's rewrite of encoding/json's folding as before). Both spellings of each,
/// against the engine.
#[test]
fn field_names_fold_as_the_engine_folds_them() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    // `ı`/`İ` in a name: the engine ignores the field; so does the enforcer (the create passes
    // and is not privileged).
    for key in ["Prıvileged", "PRİVILEGED"] {
        let name = unique("fold");
        let body = format!(r#"{{"Image":"{bb}","HostConfig":{{"{key}":true}}}}"#);
        let (statuses, text) = raw_http(
            &g.listen,
            &post(&format!("/containers/create?name={name}"), &body),
        );
        assert_eq!(statuses.first(), Some(&201), "{key}: {text}");
        assert_eq!(
            inspect_container(engine, &name).unwrap()["HostConfig"]["Privileged"],
            false,
            "{key}"
        );
        remove_container(engine, &name);
    }
    // `ſ` folds to `s`: `ſecurityOpt` is SecurityOpt for the engine, and for the enforcer.
    let name = unique("fold");
    let body =
        format!(r#"{{"Image":"{bb}","HostConfig":{{"ſecurityOpt":["seccomp=unconfined"]}}}}"#);
    let (_, text) = raw_http(
        &g.listen,
        &post(&format!("/containers/create?name={name}"), &body),
    );
    assert_eq!(status_of(&text), 403, "{text}");
    assert!(inspect_container(engine, &name).is_none());
    // What the engine itself makes of it, directly: it is SecurityOpt.
    let (_, text) = raw_http(
        engine.socket_path(),
        &post(&format!("/containers/create?name={name}"), &body),
    );
    assert_eq!(status_of(&text), 201, "{text}");
    assert_eq!(
        inspect_container(engine, &name).unwrap()["HostConfig"]["SecurityOpt"],
        serde_json::json!(["seccomp=unconfined"])
    );
    remove_container(engine, &name);
}

/// Routes an adversarial review found past the first fixes, each closed: a volume binding `/sys`,
/// the host's terminals, the engine's own containerd under a custom exec root, a seccomp profile
/// the enforcer read differently from the engine, and a plugin's own privileges.
#[test]
fn routes_found_in_review_are_closed() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    let create = |body: String| {
        let name = unique("review");
        let (statuses, text) = raw_http(
            &g.listen,
            &post(&format!("/containers/create?name={name}"), &body),
        );
        let made = inspect_container(engine, &name).is_some();
        remove_container(engine, &name);
        (statuses.first().copied(), text, made)
    };
    let sysvol = unique("sysvol");
    bind_volume(engine, &sysvol, "/sys");
    let containerd = engine.root().join("x/containerd/containerd.sock");
    let cases: Vec<(&str, String)> = vec![
        (
            "a volume binding /sys, inline",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{}","Target":"/h","VolumeOptions":{{"DriverConfig":{{"Options":{{"type":"none","o":"rbind","device":"/sys"}}}}}}}}]}}}}"#,
                unique("sysinline")
            ),
        ),
        (
            "an existing volume binding /sys",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{sysvol}:/h"]}}}}"#),
        ),
        (
            "the host's terminals",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["/dev/pts:/p"]}}}}"#),
        ),
        (
            "the host's terminals, read-only",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["/dev/pts:/p:ro"]}}}}"#),
        ),
        (
            "the engine's managed containerd under its exec root",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{}:/c.sock"]}}}}"#,
                containerd.display()
            ),
        ),
        (
            "a seccomp profile with a lone surrogate",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"SecurityOpt":["seccomp={{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"x\":\"\\ud800\"}}"]}}}}"#
            ),
        ),
        (
            "a seccomp profile with repeated keys",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"SecurityOpt":["seccomp={{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"DefaultAction\":\"SCMP_ACT_ERRNO\"}}"]}}}}"#
            ),
        ),
    ];
    for (what, body) in cases {
        let (status, text, made) = create(body);
        assert_eq!(status, Some(403), "{what}: {text}");
        assert!(!made, "{what}: the engine made it");
    }
    remove_volume(&sysvol);

    // A plugin asking for the host's PID namespace and ptrace is never enabled.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rootfs/bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    std::fs::copy(busybox, dir.path().join("rootfs/bin/busybox")).unwrap();
    let config = serde_json::json!({
        "description": "host pid", "documentation": "-",
        "entrypoint": ["/bin/busybox", "sleep", "600"],
        "interface": {"types": ["docker.dummy/1.0"], "socket": "p.sock"},
        "network": {"type": "none"},
        "pidhost": true,
        "linux": {"capabilities": ["CAP_SYS_PTRACE"]}
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let plugin = format!("eci-review-plugin-{}:latest", std::process::id());
    g.ok(&[
        "plugin",
        "create",
        &plugin,
        &dir.path().display().to_string(),
    ]);
    let err = g.fails(&["plugin", "enable", &plugin]);
    assert!(err.contains("host access denied"), "{err}");
    let p = engine_docker(engine, &["plugin", "inspect", &plugin]);
    let p: Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(p[0]["Enabled"], false, "{p}");
    let _ = engine_docker(engine, &["plugin", "rm", "-f", &plugin]);
}

/// The engine watch judges what the kernel mounted, not the names that led there, and the host
/// privileges of containers made behind the enforcer's back: a bind source switched to the
/// socket's directory only while the engine mounts it, and a host-PID container made directly on
/// the engine, are both killed.
#[test]
fn the_watch_judges_the_mounts_the_kernel_made_and_host_privileges() {
    let _one = serial();
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let (relay, g, collect) = Guard::start_held(engine, &admin_settings(&[], "deny", &[]));
    let (_, sock_dir) = engine_sock();

    // Host privileges, made and started directly on the engine.
    let hostpid = unique("hostpid");
    engine
        .run_docker([
            "create",
            "--name",
            &hostpid,
            "--network",
            "none",
            "--pid",
            "host",
            "--cap-add",
            "SYS_PTRACE",
            &bb,
            "sleep",
            "600",
        ])
        .unwrap();
    let id = container_id(engine, &hostpid);
    engine.run_docker(["start", &hostpid]).unwrap();
    assert!(
        stopped_since(engine, &hostpid, Instant::now()).is_some(),
        "the host-PID container kept running"
    );
    eventually(20, "its block", || !collect.about(&id).is_empty());
    let block = collect.only_block_about(&id, "host pid");
    assert_eq!(block.kind, BlockKind::HostAccess, "{block:?}");
    remove_container(engine, &hostpid);

    // A bind source that leads to the socket's directory only while the engine mounts it.
    let d = tempfile::tempdir().unwrap();
    let harmless = d.path().join("harmless");
    std::fs::create_dir(&harmless).unwrap();
    let link = d.path().join("link");
    swap_for_symlink(&link, &harmless);
    let flip = unique("flip");
    g.ok(&RunArgs::create(&flip)
        .volume(&format!("{}:/s", link.display()))
        .image(&bb, &["sleep", "600"]));
    let id = container_id(engine, &flip);
    relay.hold();
    swap_for_symlink(&link, std::path::Path::new(&sock_dir));
    engine.run_docker(["start", &flip]).unwrap();
    swap_for_symlink(&link, &harmless);
    std::thread::sleep(Duration::from_millis(300));
    relay.release();
    assert!(
        stopped_since(engine, &flip, Instant::now()).is_some(),
        "the container kept the socket's directory"
    );
    eventually(20, "its block", || !collect.about(&id).is_empty());
    let block = collect.only_block_about(&id, "flip");
    assert_reason_says(
        &block,
        &["the engine mounted", "into the container"],
        "flip",
    );
    drop(g);
    remove_container(engine, &flip);
}
