//! The enforcer in front of the real engine, driven by the real docker CLI and by raw HTTP: the
//! seed's scenarios, the command list, image identity, bypass attempts judged by the engine's own
//! state, transparency, reload and block records.

mod support;

use std::path::Path;
use std::time::Duration;

use eci_e2e::images::LABEL_PATH;
use eci_e2e::shared;
use eci_policy::decide::BlockKind;
use eci_proxy::{ReloadOutcome, SocketKind};
use support::*;

fn sock() -> String {
    shared().engine().socket_path().display().to_string()
}

/// The engine socket's path and its directory.
fn sock_and_dir() -> (String, String) {
    let sock = sock();
    let dir = Path::new(&sock).parent().unwrap().display().to_string();
    (sock, dir)
}

#[test]
fn seed_socket_mount_by_a_non_allowed_image_is_denied_with_the_exact_message() {
    let s = shared();
    let engine = s.engine();
    let mut g = Guard::start(&admin_settings(
        &[s.cli().reference().as_str()],
        "deny",
        &["push"],
    ));
    engine
        .run_docker(["tag", &s.busybox().reference(), "iechor:cli"])
        .unwrap();
    let name = unique("seed-denied");
    let bind = format!("{}:/var/run/iechor.sock", sock());
    let err = g.fails(
        &RunArgs::rm()
            .name(&name)
            .volume(&bind)
            .image("iechor:cli", &["true"]),
    );
    assert!(
        err.contains(&mount_denied("iechor.io/library/iechor")),
        "{err}"
    );
    assert!(inspect_container(engine, &name).is_none());

    let block = g.next_block();
    assert_mount_denied(&block);
    assert_eq!(block.method, "POST");
    assert!(block.path.contains("/containers/create"), "{}", block.path);
    assert_eq!(block.image_name.as_deref(), Some("iechor:cli"));
    assert_eq!(
        block.image_id.as_deref(),
        Some(s.busybox().config_digest.as_str())
    );
    assert!(matches!(block.socket, SocketKind::Main { .. }));
    assert_eq!(block.status, 403);
    assert_eq!(
        block.policy_version,
        g.enforcer().policy().snapshot().version
    );
    // The suite runs as root; the CLI names itself.
    assert_eq!(block.client.uid, Some(0));
    assert!(block.client.pid.is_some());
    assert!(
        block
            .client
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("Docker-Client/")),
        "{:?}",
        block.client
    );
}

#[test]
fn seed_allowed_image_starts_and_push_from_inside_is_blocked_with_the_exact_message() {
    let s = shared();
    let cli = s.cli().reference();
    let mut g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
    let script = format!("docker ps -q >/dev/null && echo PS-OK; docker push {cli}");
    let run = g.script_with_socket(&cli, &script);
    let ScriptRun { stdout, stderr, .. } = &run;
    assert!(
        stdout.contains("PS-OK"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let target = push_target(&cli);
    assert!(stderr.contains(&command_blocked(&target)), "{stderr}");
    assert!(!run.success);

    let block = g.next_block();
    assert_eq!(block.kind, BlockKind::Command);
    assert_eq!(block.path, target);
    match &block.socket {
        SocketKind::Filtered { container, .. } => assert!(container.is_some()),
        other => panic!("block on {other:?}"),
    }
    assert!(
        block.commands.iter().any(|c| c == "push"),
        "{:?}",
        block.commands
    );
    // The container is gone (--rm): so is its filtered socket.
    g.until_no_filtered_socket();
}

#[test]
fn nested_creates_from_inside_are_judged_again() {
    let s = shared();
    let cli = s.cli().reference();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
    let bind = g.socket_bind();
    // Inside: a non-allowed image is refused; an allowed one runs and has a socket of its own.
    let script = format!(
        "docker run --rm --network none -v {bind} {bb} true; \
         docker run --rm --network none -v {bind} {cli} docker version --format NESTED-{{{{.Server.APIVersion}}}}"
    );
    let ScriptRun { stdout, stderr, .. } = g.script_with_socket(&cli, &script);
    assert!(stderr.contains(&mount_denied(&repo_of(&bb))), "{stderr}");
    assert!(
        stdout.contains("NESTED-1.41"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
}

#[test]
fn command_lists_allow_and_deny_with_groups() {
    let s = shared();
    let cli = s.cli().reference();
    let script = "docker ps -q >/dev/null && echo PS-OK; docker images -q >/dev/null && echo IMAGES-OK; docker volume ls -q >/dev/null && echo VOLUMES-OK; true";
    // (list type, commands, what passes)
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("deny", &[], &["PS-OK", "IMAGES-OK", "VOLUMES-OK"]),
        ("deny", &["images"], &["PS-OK", "VOLUMES-OK"]),
        ("deny", &["image*"], &["PS-OK", "VOLUMES-OK"]),
        ("deny", &["container*"], &["IMAGES-OK", "VOLUMES-OK"]),
        ("allow", &["ps"], &["PS-OK"]),
        ("allow", &["ps", "volume*"], &["PS-OK", "VOLUMES-OK"]),
        ("allow", &[], &[]),
    ];
    for (kind, commands, passes) in cases {
        let g = Guard::start(&admin_settings(&[cli.as_str()], kind, commands));
        let ScriptRun { stdout, stderr, .. } = g.script_with_socket(&cli, script);
        for marker in ["PS-OK", "IMAGES-OK", "VOLUMES-OK"] {
            assert_eq!(
                stdout.contains(marker),
                passes.contains(&marker),
                "{kind} {commands:?}: {marker}\nstdout: {stdout}\nstderr: {stderr}"
            );
        }
        if !passes.contains(&"IMAGES-OK") {
            assert!(
                stderr.contains(&command_blocked("/v1.41/images/json")),
                "{kind} {commands:?}: {stderr}"
            );
        }
    }
}

#[test]
fn retagged_images_are_refused_and_any_tag_and_digest_entries_work() {
    let s = shared();
    let engine = s.engine();
    let cli = s.cli();
    let bb = s.busybox();
    let bind = socket_bind(engine);
    let cli_repo = repo_of(&cli.reference());
    let evil = format!("{cli_repo}:evil-{}", std::process::id());
    engine.run_docker(["tag", &bb.reference(), &evil]).unwrap();
    for entry in [
        format!("{cli_repo}:*"),
        cli.pinned_reference(),
        cli.reference(),
    ] {
        let g = Guard::start(&admin_settings(&[entry.as_str()], "deny", &[]));
        // The retagged busybox carries an allowed name, but not an allowed digest.
        let err = g.fails(&RunArgs::rm().volume(&bind).image(&evil, &["true"]));
        assert!(err.contains(&mount_denied(&cli_repo)), "{entry}: {err}");
        g.ok(&RunArgs::rm()
            .volume(&bind)
            .image(&cli.reference(), &["true"]));
    }
    let _ = engine.run_docker(["rmi", &evil]);
}

#[test]
fn eci_off_passes_everything_through() {
    let s = shared();
    let engine = s.engine();
    let g = Guard::start(
        r#"{"configurationFileVersion": 2, "enhancedContainerIsolation": {"locked": true, "value": false}}"#,
    );
    let name = unique("eci-off");
    let bind = g.socket_bind();
    g.ok(&RunArgs::create(&name)
        .volume(&bind)
        .image(&s.busybox().reference(), &[]));
    assert_eq!(
        exposing_mounts(engine, &name, engine.socket_path()),
        vec![sock()]
    );
    remove_container(engine, &name);
}

/// Each body reaches the engine socket some way the engine honours; none may yield a container
/// that mounts it. The oracle is the engine's state, not the status code.
#[test]
fn bypass_attempts_leave_no_container_exposing_the_socket() {
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    let (sock, sock_dir) = sock_and_dir();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("sock-link");
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    let dir_link = links.path().join("dir-link");
    std::os::unix::fs::symlink(&sock_dir, &dir_link).unwrap();
    // Other names for the same files: a hard link to the socket, a bind mount of its directory.
    let hard_link = links.path().join("hard-link");
    std::fs::hard_link(&sock, &hard_link).unwrap();
    let alias_dir = links.path().join("alias-dir");
    std::fs::create_dir(&alias_dir).unwrap();
    rustix::mount::mount_bind(&sock_dir, &alias_dir).unwrap();
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _unmount = Unmount(&alias_dir);
    let holder_dir = links.path().join("holder");
    let deeper = holder_dir.join("deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    rustix::mount::mount_bind(&sock_dir, &deeper).unwrap();
    let _unmount_deeper = Unmount(&deeper);

    // A container holding the socket, made directly on the engine, to inherit from.
    let holder = unique("holder");
    let holder_bind = format!("{sock}:/s");
    engine
        .run_docker(
            RunArgs::create(&holder)
                .volume(&holder_bind)
                .image(&bb, &[]),
        )
        .unwrap();
    let vol = unique("bindvol");
    bind_volume(engine, &vol, &sock_dir);

    let binds = |src: &str| format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{src}:/s"]}}}}"#);
    let cases: Vec<(&str, String)> = vec![
        ("binds", binds(&sock)),
        (
            "dot segments",
            binds(&format!("{sock_dir}/./x/../docker.sock")),
        ),
        ("double slash", binds(&format!("{sock_dir}//docker.sock"))),
        ("symlink to the socket", binds(&link.display().to_string())),
        (
            "symlink to its directory",
            binds(&format!("{}/docker.sock", dir_link.display())),
        ),
        ("parent directory", binds(&sock_dir)),
        (
            "hard link to the socket",
            binds(&hard_link.display().to_string()),
        ),
        (
            "bind mount of its directory",
            binds(&alias_dir.display().to_string()),
        ),
        (
            "a directory with a bind mount of the socket's directory below it",
            binds(&holder_dir.display().to_string()),
        ),
        (
            "the socket through a bind mount of its directory",
            binds(&format!("{}/docker.sock", alias_dir.display())),
        ),
        ("root", binds("/")),
        ("proc root", binds(&format!("/proc/self/root{sock}"))),
        ("the host's procfs", binds("/proc")),
        ("a process's root through procfs", binds("/proc/1")),
        (
            "read-only mode",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":["{sock}:/s:ro"]}}}}"#),
        ),
        (
            "lower-case keys",
            format!(r#"{{"image":"{bb}","hostconfig":{{"binds":["{sock}:/s"]}}}}"#),
        ),
        (
            "long s folds to s",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Bind\u017f":["{sock}:/s"]}}}}"#),
        ),
        (
            "top-level binds",
            format!(r#"{{"Image":"{bb}","Binds":["{sock}:/s"]}}"#),
        ),
        (
            "mounts bind",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{sock}","Target":"/s"}}]}}}}"#
            ),
        ),
        (
            "mounts volume with bind options",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{}","Target":"/s","VolumeOptions":{{"DriverConfig":{{"Name":"local","Options":{{"type":"none","o":"bind","device":"{sock_dir}"}}}}}}}}]}}}}"#,
                unique("v")
            ),
        ),
        ("existing bind volume", binds(&vol)),
        (
            "existing bind volume as a mount",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{vol}","Target":"/s"}}]}}}}"#
            ),
        ),
        (
            "volumes from, read-only",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"VolumesFrom":["{holder}:ro"]}}}}"#),
        ),
        (
            "volumes from",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"VolumesFrom":["{holder}"]}}}}"#),
        ),
        (
            "duplicate keys",
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Binds":[],"Binds":["{sock}:/s"]}}}}"#),
        ),
        (
            "fold-duplicate keys",
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Binds":["/tmp:/t"],"binds":["{sock}:/s"]}}}}"#
            ),
        ),
        (
            "trailing value",
            format!(
                r#"{{"Image":"{bb}"}} {{"Image":"{bb}","HostConfig":{{"Binds":["{sock}:/s"]}}}}"#
            ),
        ),
    ];
    // Path forms the engine routes to container create (percent-encoded, old API versions),
    // and one it would redirect.
    let targets = [
        "/containers/create",
        "/v1.41/containers/create",
        "/v1.23/containers/create",
        "/containers%2Fcreate",
        "/v1.41/containers/%63reate",
        "/v1.41//containers/create",
    ];
    for (what, body) in &cases {
        for target in targets {
            let name = unique("bypass");
            let (statuses, text) =
                raw_http(&g.listen, &post(&format!("{target}?name={name}"), body));
            let exposed = exposing_mounts(engine, &name, engine.socket_path());
            assert!(
                exposed.is_empty(),
                "{what} via {target}: {exposed:?}\n{text}"
            );
            assert!(
                statuses.first().is_some_and(|s| *s >= 400),
                "{what} via {target}: {statuses:?}\n{text}"
            );
            remove_container(engine, &name);
        }
    }

    // Framing: chunked, chunked with a stale Content-Length, pipelined behind a harmless request.
    let body = binds(&sock);
    let chunked = |extra: &str, name: &str| {
        format!(
            "POST /containers/create?name={name} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n{extra}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    let n1 = unique("chunked");
    let n2 = unique("smuggle");
    let n3 = unique("pipelined");
    let pipelined = {
        let mut r = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n".to_vec();
        r.extend(post(&format!("/containers/create?name={n3}"), &body));
        r
    };
    for (name, request) in [
        (n1.clone(), chunked("", &n1).into_bytes()),
        (
            n2.clone(),
            chunked("Content-Length: 2\r\n", &n2).into_bytes(),
        ),
        (n3.clone(), pipelined),
    ] {
        let (statuses, text) = raw_http(&g.listen, &request);
        assert!(
            exposing_mounts(engine, &name, engine.socket_path()).is_empty(),
            "{name}: {text}"
        );
        assert!(!statuses.contains(&201), "{name}: {text}");
        remove_container(engine, &name);
    }

    // A start with a host config body (API < 1.24): the engine would apply its binds.
    let started = unique("start-body");
    g.ok(&RunArgs::create(&started).image(&bb, &["true"]));
    for target in [
        format!("/v1.23/containers/{started}/start"),
        format!("/containers/{started}/start"),
    ] {
        let (statuses, text) = raw_http(
            &g.listen,
            &post(&target, &format!(r#"{{"Binds":["{sock}:/s"]}}"#)),
        );
        assert_eq!(statuses.first(), Some(&400), "{target}: {text}");
        assert!(exposing_mounts(engine, &started, engine.socket_path()).is_empty());
    }
    remove_container(engine, &started);

    // A service spec mounting the socket is refused before the engine sees it.
    let spec = format!(
        r#"{{"Name":"svc","TaskTemplate":{{"ContainerSpec":{{"Image":"{bb}","Mounts":[{{"Type":"bind","Source":"{sock}","Target":"/s"}}]}}}}}}"#
    );
    let (statuses, text) = raw_http(&g.listen, &post("/v1.41/services/create", &spec));
    assert_eq!(statuses.first(), Some(&403), "{text}");

    remove_container(engine, &holder);
    let _ = engine.run_docker(["volume", "rm", &vol]);
}

#[test]
fn transparency_of_allowed_commands() {
    let s = shared();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(
        &[s.cli().reference().as_str()],
        "deny",
        &["push"],
    ));

    // run, with stdin through an upgraded, half-closed attach.
    assert_eq!(
        g.ok(&["run", "--rm", "--network", "none", &bb, "cat", LABEL_PATH]),
        s.busybox().spec.label()
    );
    let mut child = g
        .docker()
        .args(
            RunArgs::rm()
                .stdin()
                .image(&bb, &["sh", "-c", "cat; echo EOF-SEEN"]),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through the pipe\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "through the pipe\nEOF-SEEN\n"
    );

    // exec, attach, logs -f on a long-lived container.
    let name = unique("transparent");
    let cmd = ["sh", "-c", "echo started; sleep 3; echo finished"];
    g.ok(&RunArgs::detached(&name).image(&bb, &cmd));
    assert_eq!(g.ok(&["exec", &name, "echo", "exec-ok"]), "exec-ok\n");
    let mut exec = g
        .docker()
        .args(["exec", "-i", &name, "wc", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        exec.stdin
            .take()
            .unwrap()
            .write_all(&[b'x'; 100_000])
            .unwrap();
    }
    let out = exec.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
    let attach = g
        .docker()
        .args(["attach", "--no-stdin", &name])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&attach.stdout).contains("finished"),
        "{attach:?}"
    );
    assert_eq!(g.ok(&["logs", "-f", &name]), "started\nfinished\n");

    // events, bounded in time.
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let since = (unix() - 1).to_string();
    g.ok(&["rm", &name]);
    let until = (unix() + 1).to_string();
    let events = g.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.contains("destroy"), "{events}");

    // build, cp both ways, save and load.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {bb}\nCOPY hello /hello\n"),
    )
    .unwrap();
    std::fs::write(ctx.path().join("hello"), "built through the enforcer\n").unwrap();
    let tag = format!("eci-proxy-build:{}", std::process::id());
    g.ok(&["build", "-q", "-t", &tag, &ctx.path().display().to_string()]);
    assert_eq!(
        g.ok(&["run", "--rm", "--network", "none", &tag, "cat", "/hello"]),
        "built through the enforcer\n"
    );
    let c = unique("cp");
    g.ok(&RunArgs::create(&c).image(&tag, &[]));
    let into = ctx.path().join("out");
    g.ok(&["cp", &format!("{c}:/hello"), &into.display().to_string()]);
    assert_eq!(
        std::fs::read_to_string(&into).unwrap(),
        "built through the enforcer\n"
    );
    g.ok(&[
        "cp",
        &ctx.path().join("Dockerfile").display().to_string(),
        &format!("{c}:/Dockerfile"),
    ]);
    g.ok(&["rm", &c]);
    let archive = ctx.path().join("image.tar");
    g.ok(&["save", "-o", &archive.display().to_string(), &tag]);
    g.ok(&["rmi", &tag]);
    let loaded = g.ok(&["load", "-i", &archive.display().to_string()]);
    assert!(loaded.contains(&tag), "{loaded}");
    g.ok(&["rmi", &tag]);
}

#[test]
fn settings_reload_within_100ms_keeps_last_good_and_fails_closed() {
    let s = shared();
    let cli = s.cli().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    let mut reloads = g.enforcer().subscribe_reloads();
    let bind = g.socket_bind();
    let run_cli = RunArgs::rm().volume(&bind).image(&cli, &["true"]);
    let denied = g.fails(&run_cli);
    assert!(denied.contains(&mount_denied(&repo_of(&cli))), "{denied}");

    // An atomic replace, the way editors save.
    let allowed = admin_settings(&[cli.as_str()], "deny", &[]);
    let tmp = g.admin.with_extension("tmp");
    std::fs::write(&tmp, &allowed).unwrap();
    let written = std::time::SystemTime::now();
    std::fs::rename(&tmp, &g.admin).unwrap();
    let want = policy_version(Some(&allowed));
    // The swap's own time, so polling adds nothing to the figure.
    let applied = next_reload_where(
        &g.rt,
        &mut reloads,
        |o| matches!(o, ReloadOutcome::Applied { version, .. } if *version == want),
    );
    assert_eq!(g.enforcer().policy().snapshot().version, want);
    let took = applied.at.duration_since(written).unwrap();
    assert!(took < Duration::from_millis(100), "reload took {took:?}");
    g.ok(&run_cli);

    // A corrupt file: rejected, the last good policy stays.
    std::fs::write(&g.admin, "{ not json").unwrap();
    let rejected = next_reload_where(&g.rt, &mut reloads, |o| {
        matches!(o, ReloadOutcome::Rejected { .. })
    });
    match rejected.outcome {
        ReloadOutcome::Rejected {
            kept_version,
            errors,
        } => {
            assert_eq!(kept_version, want);
            assert!(!errors.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.enforcer().policy().snapshot().version, want);
    g.ok(&run_cli);

    // No settings at all: the fail-closed default (ECI on, no image allowed).
    std::fs::remove_file(&g.admin).unwrap();
    let default = eci_policy::settings::load(None, None).unwrap().policy;
    eventually(2, "the fail-closed default", || {
        g.enforcer().policy().snapshot().version == default.version
    });
    assert!(default.eci_enabled && default.images.is_empty());
    let denied = g.fails(&run_cli);
    assert!(denied.contains(&mount_denied(&repo_of(&cli))), "{denied}");
}

#[test]
fn filtered_sockets_are_restored_after_a_restart_and_removed_with_their_container() {
    let s = shared();
    let engine = s.engine();
    let cli = s.cli().reference();
    let mut g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
    let bind = g.socket_bind();
    let name = unique("restored");
    g.ok(&RunArgs::detached(&name)
        .volume(&bind)
        .image(&cli, &["sleep", "300"]));
    assert_eq!(g.enforcer().filtered_sockets().len(), 1);
    // The container runs the image that was checked, by id: a tag moved later changes nothing.
    let info = inspect_container(engine, &name).unwrap();
    assert_eq!(info["Config"]["Image"], s.cli().config_digest.as_str());
    assert_eq!(info["Image"], s.cli().config_digest.as_str());
    assert_eq!(version_inside(g.cli(), &name).as_deref(), Ok("1.41\n"));
    g.restart();
    let restored = g.enforcer().filtered_sockets();
    assert_eq!(restored.len(), 1, "{restored:?}");
    let id = container_id(engine, &name);
    assert_eq!(restored[0].1.as_deref(), Some(id.as_str()));
    // A restarted container mounts the restored socket.
    g.ok(&["restart", "-t", "0", &name]);
    assert_eq!(version_inside(g.cli(), &name).as_deref(), Ok("1.41\n"));
    let err = String::from_utf8_lossy(&docker_inside(g.cli(), &name, &["push", &cli]).stderr)
        .into_owned();
    assert!(err.contains("is blocked"), "{err}");
    // Removed directly on the engine: the enforcer follows the engine's events.
    let path = restored[0].0.clone();
    remove_container(engine, &name);
    eventually(10, "the filtered socket to go", || {
        g.enforcer().filtered_sockets().is_empty() && !path.exists()
    });
}

#[test]
fn digests_fetched_from_the_real_registry_decide() {
    let s = shared();
    let cli = s.cli();
    let bind = socket_bind(s.engine());
    let cli_repo = repo_of(&cli.reference());
    for entry in [
        cli.reference(),
        format!("{cli_repo}:*"),
        cli.pinned_reference(),
    ] {
        let fetched = FetchedDigests::insecure(&cli.registry);
        let g = Guard::start_fetched(
            s.engine(),
            &admin_settings(&[entry.as_str()], "deny", &[]),
            &fetched,
        );
        let status = g.rt.block_on(g.enforcer().status());
        assert!(status.upstream_reachable);
        assert!(
            status
                .engine_version
                .as_deref()
                .is_some_and(|v| v.starts_with("20.10")),
            "{status:?}"
        );
        assert_eq!(status.engine_api_version.as_deref(), Some("1.41"));
        assert_eq!(status.listening, vec![g.listen.clone()]);
        assert!(matches!(
            status.last_reload.as_ref().map(|r| &r.outcome),
            Some(ReloadOutcome::Applied { .. })
        ));
        if !entry.ends_with(":*") {
            assert_eq!(status.digests.len(), 1, "{status:?}");
            assert!(status.digests[0].fetched_at.is_some() && status.digests[0].digests >= 2);
        }
        g.ok(&RunArgs::rm()
            .volume(&bind)
            .image(&cli.reference(), &["true"]));
        let err = g.fails(
            &RunArgs::rm()
                .volume(&bind)
                .image(&s.busybox().reference(), &["true"]),
        );
        assert!(
            err.contains(&mount_denied(&repo_of(&s.busybox().reference()))),
            "{err}"
        );
    }
}

#[test]
fn an_engine_restart_mid_session_does_not_wedge_the_enforcer() {
    let s = shared();
    let engine: &'static eci_e2e::Engine =
        Box::leak(Box::new(eci_e2e::Engine::start().expect("private engine")));
    let cli = s.cli().reference();
    let bb = s.busybox().reference();
    let g = Guard::start_on(engine, &admin_settings(&[cli.as_str()], "deny", &["push"]));
    // pull and push through the enforcer (the main socket: no command list).
    g.ok(&["pull", "-q", &bb]);
    let pushed = format!(
        "{}/eci-e2e/through-guard:{}",
        s.registry().addr(),
        std::process::id()
    );
    g.ok(&["tag", &bb, &pushed]);
    g.ok(&["push", "-q", &pushed]);
    engine.run_docker(["rmi", &pushed]).unwrap();
    g.ok(&["pull", "-q", &pushed]);

    let mut client = std::os::unix::net::UnixStream::connect(&g.listen).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ping = |c: &mut std::os::unix::net::UnixStream| {
        use std::io::{Read, Write};
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(ping(&mut client).starts_with("HTTP/1.1 200"));
    engine.restart().expect("engine restarts");
    // The same client connection goes on: the enforcer dials the engine again.
    assert!(ping(&mut client).starts_with("HTTP/1.1 200"));
    // The allowed image is not on this engine yet: the create answers "No such image" as the
    // engine would, the CLI pulls through the enforcer and creates again.
    let bind = g.socket_bind();
    let out = g.ok(&RunArgs::rm().volume(&bind).image(
        &cli,
        &["docker", "version", "--format", "{{.Server.APIVersion}}"],
    ));
    assert_eq!(out, "1.41\n");
    // The event follower reconnected: the --rm container's filtered socket is gone.
    g.until_no_filtered_socket();
}

#[test]
fn blocks_are_recorded_in_the_history_and_kept() {
    use eci_history::{Filter, Format, History, Page, Retention};
    let s = shared();
    let cli = s.cli().reference();
    let bb = s.busybox();
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(dir.path(), Retention::default());
    let g = Guard::start_recording(
        &admin_settings(&[cli.as_str()], "deny", &["push"]),
        std::sync::Arc::new(history.recorder()),
    );
    let bind = g.socket_bind();
    g.fails(
        &RunArgs::rm()
            .volume(&bind)
            .image(&bb.reference(), &["true"]),
    );
    g.script_with_socket(&cli, &format!("docker push {cli}"));
    history.flush().unwrap();
    let page = history.query(&Filter::default(), &Page::default()).unwrap();
    assert_eq!(page.total, 2, "{page:?}");
    // Newest first.
    let command = &page.blocks[0].record;
    assert_eq!(command.kind, BlockKind::Command);
    assert_eq!(command.socket, eci_history::SocketKind::Filtered);
    assert!(command.container_id.is_some());
    assert!(command.commands.iter().any(|c| c == "push"));
    assert_eq!(command.path, push_target(&cli));
    let mount = &page.blocks[1].record;
    assert_eq!(mount.kind, BlockKind::SocketMount);
    assert_eq!(mount.socket, eci_history::SocketKind::Main);
    assert_eq!(mount.image.as_deref(), Some(bb.reference().as_str()));
    assert_eq!(mount.image_id.as_deref(), Some(bb.config_digest.as_str()));
    assert_eq!(mount.method, "POST");
    assert!(
        mount.message.ends_with(MOUNT_DENIED_TAIL),
        "{}",
        mount.message
    );
    assert_eq!(mount.client.as_ref().and_then(|c| c.uid), Some(0));
    assert!(!mount.policy_version.is_empty());

    let only_commands = Filter {
        kinds: vec![BlockKind::Command],
        ..Filter::default()
    };
    let mut out = Vec::new();
    history
        .export(&only_commands, Format::Json, &mut out)
        .unwrap();
    let exported: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(exported.as_array().map(Vec::len), Some(1), "{exported}");

    drop(g);
    history.close().unwrap();
    let again = History::open(dir.path(), Retention::default());
    assert_eq!(
        again
            .query(&Filter::default(), &Page::default())
            .unwrap()
            .total,
        2
    );
}

#[test]
fn derived_images_follow_allow_derived_images() {
    let s = shared();
    let cli = s.cli().reference();
    let bind = socket_bind(s.engine());
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {cli}\nRUN echo derived > /derived\n"),
    )
    .unwrap();
    let tag = format!("eci-proxy-derived:{}", std::process::id());
    let with = |allow: bool| {
        serde_json::json!({
            "configurationFileVersion": 2,
            "enhancedContainerIsolation": {
                "locked": true, "value": true,
                "iechorSocketMount": {
                    "imageList": { "images": [cli], "allowDerivedImages": allow },
                    "commandList": { "type": "deny", "commands": [] }
                }
            }
        })
        .to_string()
    };
    let g = Guard::start(&with(true));
    g.ok(&["build", "-q", "-t", &tag, &ctx.path().display().to_string()]);
    // A local build on top of the allowed image may mount the socket...
    assert_eq!(
        g.ok(&RunArgs::rm()
            .volume(&bind)
            .image(&tag, &["cat", "/derived"])),
        "derived\n"
    );
    drop(g);
    // ...unless derived images are not allowed.
    let g = Guard::start(&with(false));
    let err = g.fails(&RunArgs::rm().volume(&bind).image(&tag, &["true"]));
    assert!(
        err.contains(&mount_denied("iechor.io/library/eci-proxy-derived")),
        "{err}"
    );
    g.ok(&["rmi", &tag]);
}

#[test]
fn run_and_exec_with_a_terminal() {
    let s = shared();
    let bb = s.busybox().reference();
    let g = Guard::start(&admin_settings(&[], "deny", &[]));
    let cli = s.engine().docker_cli_path().display().to_string();
    let name = unique("tty");
    // `script` gives the CLI a pseudo-terminal, as a user's shell would.
    let in_pty = |line: &str| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", line, "/dev/null"]);
        for (k, v) in g.docker().get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let out = c.stdin(std::process::Stdio::null()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = in_pty(&format!(
        "{cli} run -it --rm --network none {bb} sh -c 'test -t 0 && test -t 1 && echo tty-ok'"
    ));
    assert!(out.contains("tty-ok"), "{out}");
    g.ok(&RunArgs::detached(&name).image(&bb, &["sleep", "60"]));
    let out = in_pty(&format!(
        "{cli} exec -it {name} sh -c 'test -t 0 && echo exec-tty-ok'"
    ));
    assert!(out.contains("exec-tty-ok"), "{out}");
    remove_container(s.engine(), &name);
}

#[test]
fn plugins_mounting_the_socket_are_not_enabled() {
    let s = shared();
    let engine = s.engine();
    let mut g = Guard::start(&admin_settings(
        &[s.cli().reference().as_str()],
        "deny",
        &[],
    ));
    let (sock, sock_dir) = sock_and_dir();
    let busybox = which_busybox();
    // (mount source in the plugin's config, source set afterwards with `plugin set`)
    let cases = [
        (sock_dir.clone(), None),
        ("/tmp".to_owned(), Some(sock.clone())),
    ];
    for (i, (source, set)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs/bin")).unwrap();
        std::fs::copy(&busybox, dir.path().join("rootfs/bin/busybox")).unwrap();
        let config = serde_json::json!({
            "description": "eci-proxy test plugin",
            "documentation": "-",
            "entrypoint": ["/bin/busybox", "sleep", "600"],
            "interface": { "types": ["docker.dummy/1.0"], "socket": "p.sock" },
            "network": { "type": "none" },
            "mounts": [{
                "name": "host", "source": source, "destination": "/host",
                "type": "bind", "options": ["rbind"], "settable": ["source"]
            }]
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let name = format!("eci-proxy-plugin-{}-{i}:latest", std::process::id());
        g.ok(&["plugin", "create", &name, &dir.path().display().to_string()]);
        if let Some(set) = set {
            g.ok(&["plugin", "set", &name, &format!("host.source={set}")]);
        }
        let err = g.fails(&["plugin", "enable", &name]);
        assert!(
            err.contains("plugins cannot be given filtered sockets"),
            "{err}"
        );
        let block = g.next_block();
        assert_eq!(
            (block.kind, block.method.as_str(), block.status),
            (BlockKind::SocketMount, "POST", 403),
            "{}",
            block.path
        );
        assert!(
            block.path.contains(&format!("/plugins/{name}/enable")),
            "{}",
            block.path
        );
        let enabled = engine
            .run_docker(["plugin", "inspect", "-f", "{{.Enabled}}", &name])
            .unwrap();
        assert_eq!(enabled.trim(), "false");
        let _ = engine.run_docker(["plugin", "rm", "-f", &name]);
    }
}

fn which_busybox() -> std::path::PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox-static")
}

#[test]
fn starts_judge_the_mounts_again() {
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let cli = s.cli().reference();
    let mut g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &[]));
    let (_, sock_dir) = sock_and_dir();
    let never_started = |name: &str| {
        let info = inspect_container(engine, name).unwrap();
        info["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    };

    // A harmless directory at create, a symlink to the socket's directory at start (planted,
    // say, by another container writing into a shared host directory).
    let shared_dir = tempfile::tempdir().unwrap();
    let planted = shared_dir.path().join("data");
    std::fs::create_dir(&planted).unwrap();
    let swapped = unique("swapped");
    let planted_bind = format!("{}:/data", planted.display());
    g.ok(&RunArgs::create(&swapped)
        .volume(&planted_bind)
        .image(&bb, &["true"]));
    std::fs::remove_dir(&planted).unwrap();
    std::os::unix::fs::symlink(&sock_dir, &planted).unwrap();
    for verb in ["start", "restart"] {
        let err = g.fails(&[verb, &swapped]);
        assert!(err.contains(&mount_denied(&repo_of(&bb))), "{verb}: {err}");
        assert!(never_started(&swapped), "{verb}");
        let block = g.next_block();
        assert_eq!(block.kind, BlockKind::SocketMount, "{verb}");
        assert!(block.path.ends_with(&format!("/{verb}")), "{}", block.path);
    }
    remove_container(engine, &swapped);

    // Made directly on the engine with the socket itself: an allowed image still gets no
    // unfiltered socket.
    let direct = unique("direct");
    let bind = socket_bind(engine);
    engine
        .run_docker(
            RunArgs::create(&direct)
                .volume(&bind)
                .image(&cli, &["true"]),
        )
        .unwrap();
    let err = g.fails(&["start", &direct]);
    assert!(err.contains("not a filtered socket"), "{err}");
    assert!(never_started(&direct));
    let block = g.next_block();
    assert_eq!(block.kind, BlockKind::SocketMount, "{}", block.message);
    assert_eq!(block.image_name.as_deref(), Some(cli.as_str()));
    remove_container(engine, &direct);
}

/// Service specs that mount the socket are socket-mount blocks (never "invalid request"), on
/// both routes that carry a spec, and the engine never sees them.
#[test]
fn services_mounting_the_socket_are_socket_mount_blocks() {
    let s = shared();
    let bb = s.busybox().reference();
    let mut g = Guard::start(&admin_settings(&[], "deny", &[]));
    let (sock, _) = sock_and_dir();
    let spec = format!(
        r#"{{"Name":"svc","TaskTemplate":{{"ContainerSpec":{{"Image":"{bb}","Mounts":[{{"Type":"bind","Source":"{sock}","Target":"/s"}}]}}}}}}"#
    );
    for target in [
        "/v1.41/services/create".to_owned(),
        "/v1.41/services/nosuchservice/update?version=1".to_owned(),
    ] {
        let (statuses, text) = raw_http(&g.listen, &post(&target, &spec));
        assert_eq!(statuses.first(), Some(&403), "{target}: {text}");
        assert!(
            text.contains("iechor socket mount denied for service with image"),
            "{target}: {text}"
        );
        let block = g.next_block();
        assert_eq!(block.kind, BlockKind::SocketMount, "{target}");
        assert_eq!(block.path, target);
        assert_eq!(block.image_name.as_deref(), Some(bb.as_str()));
        assert!(
            block.commands.iter().any(|c| c == "service"),
            "{:?}",
            block.commands
        );
    }
}

/// Each container allowed the socket has a filtered socket whose listener waits for connections.
/// A listener must hold no connection slot while it waits: with one held per idle filtered
/// socket, as many containers as slots locked every client out of the enforcer.
#[test]
fn idle_filtered_sockets_hold_no_connection_slot() {
    let s = shared();
    let cli = s.cli().reference();
    let mut g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
    g.config.limits.max_connections = 2;
    g.restart();
    let bind = g.socket_bind();
    let names: Vec<String> = (0..4).map(|i| unique(&format!("slots{i}"))).collect();
    let wait = Duration::from_secs(20);
    let body = serde_json::json!({"Image": cli, "HostConfig": {"Binds": [bind]}}).to_string();
    for name in &names {
        let create = request("POST", &format!("/containers/create?name={name}"), &body);
        let (status, answer, _) = exchange(&g.listen, &create, wait);
        assert_eq!(status, 201, "create {name}: {answer}");
    }
    let sockets = g.enforcer().filtered_sockets();
    assert_eq!(sockets.len(), names.len(), "{sockets:?}");
    // Twice as many idle filtered sockets as slots: the main socket and each filtered one still
    // answer, one connection after another.
    let ping = get("/_ping");
    for round in 0..3 {
        let (status, answer, _) = exchange(&g.listen, &ping, wait);
        assert_eq!(status, 200, "main socket, round {round}: {answer}");
        for (path, _) in &sockets {
            let (status, answer, _) = exchange(path, &ping, wait);
            assert_eq!(
                status,
                200,
                "{}, round {round} (the file exists: {}): {answer}",
                path.display(),
                path.exists()
            );
        }
    }
    for name in &names {
        remove_container(g.engine, name);
    }
    g.until_no_filtered_socket();
}

/// The sockets made ahead for the next creates exist before their containers: each is a filtered
/// socket like every container's (the command list applies), listed as no container's, and a
/// restart of the enforcer removes them.
#[test]
fn the_sockets_made_ahead_for_the_next_creates_are_filtered_and_go_with_a_restart() {
    let s = shared();
    let cli = s.cli().reference();
    let mut g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["ps"]));
    let bind = g.socket_bind();
    let name = unique("spare");
    g.ok(&RunArgs::create(&name).volume(&bind).image(&cli, &["true"]));
    let dir = g.config.state_dir.join("filtered");
    let mounted = mounted_filtered_socket(g.engine, &name, &dir);
    let others = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p != &mounted)
            .collect()
    };
    // Made on a thread of its own after the create.
    eventually(5, "the spare sockets", || {
        others().len() == eci_proxy::SPARE_FILTERED_SOCKETS
    });
    let spares = others();
    let wait = Duration::from_secs(10);
    for spare in &spares {
        assert_eq!(exchange(spare, &get("/_ping"), wait).0, 200);
        let (status, answer, _) = exchange(spare, &get("/v1.41/containers/json"), wait);
        assert_eq!(status, 403, "{answer}");
        assert!(answer.contains("is blocked"), "{answer}");
    }
    // The main socket is not filtered by the command list.
    assert_eq!(
        exchange(&g.listen, &get("/v1.41/containers/json"), wait).0,
        200
    );
    let listed = g.enforcer().filtered_sockets();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, mounted);
    g.restart();
    for spare in &spares {
        assert!(!spare.exists(), "a spare outlived a restart");
    }
    assert!(mounted.exists());
    remove_container(g.engine, &name);
    g.until_no_filtered_socket();
}

/// The image ids of the creates named `names`, as the engine made them.
fn image_ids(engine: &eci_e2e::Engine, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| inspect_container(engine, n))
        .map(|c| c["Image"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_moved_tag_is_judged_anew_whoever_moved_it() {
    let s = shared();
    let engine = s.engine();
    let (cli, bb) = (s.cli(), s.busybox());
    let cli_repo = repo_of(&cli.reference());
    let tag = format!("moving-{}", std::process::id());
    let moving = format!("{cli_repo}:{tag}");
    engine
        .run_docker(["tag", &cli.reference(), &moving])
        .unwrap();
    // Through a relay that can hold the engine's events, so that only the enforcer's own
    // bookkeeping can tell it of a change made through it.
    let admin = admin_settings(&[&format!("{cli_repo}:*")], "deny", &[]);
    let (relay, g, _blocks) = Guard::start_held(engine, &admin);
    let body = serde_json::json!({"Image": moving, "HostConfig": {"Binds": [g.socket_bind()]}});
    let mut made = Vec::new();
    let mut create = || {
        let name = unique("moving");
        let target = format!("/v1.41/containers/create?name={name}");
        made.push(name);
        request("POST", &target, &body.to_string())
    };
    let created = |req: Vec<u8>| exchange(&g.listen, &req, Duration::from_secs(30));
    let denied = mount_denied(&cli_repo);
    let denied = denied.trim_start_matches("Error response from daemon: ");
    let refusal = |answer: &str| -> serde_json::Value {
        serde_json::from_str(answer.rsplit("\r\n\r\n").next().unwrap()).unwrap_or_default()
    };
    let (status, answer, _) = created(create());
    assert_eq!(status, 201, "{answer}");
    // Once that answer has expired, on one connection with the engine's events held: a create
    // (whose answer is kept), a move of the tag through the enforcer, and a create right behind
    // it, judged on what the tag now names, not on the answer kept before the move.
    std::thread::sleep(eci_proxy::IMAGE_INSPECT_KEPT_FOR);
    relay.hold_events();
    let kept_alive = |req: Vec<u8>| {
        String::from_utf8(req)
            .unwrap()
            .replace("Connection: close\r\n", "")
            .into_bytes()
    };
    let mut pipelined = kept_alive(create());
    pipelined.extend(format!(
        "POST /v1.41/images/{}/tag?repo={cli_repo}&tag={tag} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        bb.reference()
    ).into_bytes());
    pipelined.extend(create());
    let (statuses, answer) = raw_http(&g.listen, &pipelined);
    assert_eq!(statuses, [201, 201, 403], "{answer}");
    assert_eq!(refusal(&answer)["message"], denied, "{answer}");
    // Moved back on the engine's own socket, its events still held: an answer is kept for a
    // second at most, so the allowed image is created again all the same.
    engine
        .run_docker(["tag", &cli.reference(), &moving])
        .unwrap();
    eventually(5, "the allowed image again, events held", || {
        created(create()).0 == 201
    });
    // The engine tells of image changes on the events the enforcer follows.
    relay.release_events();
    engine
        .run_docker(["tag", &bb.reference(), &moving])
        .unwrap();
    eventually(5, "the engine's tag event", || {
        relay
            .events_carried()
            .lines()
            .any(|e| e.contains(r#""Type":"image""#) && e.contains(r#""Action":"tag""#))
    });
    eventually(5, "the other image refused", || {
        let (status, answer, _) = created(create());
        status == 403 && refusal(&answer)["message"] == denied
    });
    // Whatever the timing, what ran is what was checked: the allowed image, never the other.
    let ids = image_ids(engine, &made);
    assert!(ids.len() >= 3, "{ids:?}");
    assert!(
        ids.iter()
            .all(|i| *i == image_id_of(engine, &cli.reference())),
        "{ids:?}"
    );
    for name in &made {
        remove_container(engine, name);
    }
    let _ = engine.run_docker(["rmi", &moving]);
}

/// The engine's id of image `reference`.
fn image_id_of(engine: &eci_e2e::Engine, reference: &str) -> String {
    let out = engine_docker(
        engine,
        &["image", "inspect", "--format", "{{.Id}}", reference],
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Tags `image` as `repo:tag` on the engine's own socket, in one exchange: the enforcer hears of
/// it through the engine's events alone.
fn tag_on_engine(engine: &eci_e2e::Engine, image: &str, repo: &str, tag: &str) {
    let (statuses, answer) = raw_http(
        engine.socket_path(),
        format!(
            "POST /v1.41/images/{image}/tag?repo={repo}&tag={tag} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(statuses, [201], "{answer}");
}

/// Creates of one body through an enforcer, each under a new name; the containers made are read
/// from the engine, then removed, at the end.
struct Creates<'a> {
    listen: &'a Path,
    body: String,
    prefix: &'static str,
    made: Vec<String>,
}

impl<'a> Creates<'a> {
    fn new(g: &'a Guard, prefix: &'static str, body: serde_json::Value) -> Creates<'a> {
        Creates {
            listen: &g.listen,
            body: body.to_string(),
            prefix,
            made: Vec::new(),
        }
    }

    /// The status of one more create.
    fn create(&mut self) -> u16 {
        let name = unique(self.prefix);
        let target = format!("/v1.41/containers/create?name={name}");
        self.made.push(name);
        exchange(
            self.listen,
            &post(&target, &self.body),
            Duration::from_secs(30),
        )
        .0
    }

    /// The engine's inspect of each container made (by name), all removed, and the moved tag
    /// `moving` too.
    fn finish(self, engine: &eci_e2e::Engine, moving: &str) -> Vec<(String, serde_json::Value)> {
        let made = self
            .made
            .iter()
            .filter_map(|n| inspect_container(engine, n).map(|c| (n.clone(), c)))
            .collect();
        for name in &self.made {
            remove_container(engine, name);
        }
        let _ = engine.run_docker(["rmi", moving]);
        made
    }
}

/// The image names a test moves, and how it creates (the status of each create).
struct Moving<'a> {
    engine: &'a eci_e2e::Engine,
    repo: String,
    tag: String,
    /// The image allowed, and the other one.
    allowed: String,
    other: String,
}

impl Moving<'_> {
    /// The name that moves.
    fn reference(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }

    fn to_allowed(&self) {
        tag_on_engine(self.engine, &self.allowed, &self.repo, &self.tag);
    }

    fn to_other(&self) {
        tag_on_engine(self.engine, &self.other, &self.repo, &self.tag);
    }

    /// Once the enforcer follows the engine's events through `relay`, holds them, and makes sure
    /// the image answers are kept and used (a create right after the tag moved to the other image
    /// passes on the answer kept); ends with the tag on the allowed image and a fresh answer kept,
    /// for a second.
    fn hold_events_with_answers_kept(&self, relay: &StallRelay, create: &mut dyn FnMut() -> u16) {
        eventually(10, "the enforcer to follow the engine's events", || {
            !relay.events_carried().is_empty()
        });
        relay.hold_events();
        eventually(10, "an answer kept and used", || {
            self.to_allowed();
            let asked = create();
            self.to_other();
            asked == 201 && create() == 201
        });
        std::thread::sleep(eci_proxy::IMAGE_INSPECT_KEPT_FOR);
        self.to_allowed();
        assert_eq!(create(), 201, "a fresh answer");
    }
}

#[test]
fn a_privileged_create_with_its_socket_mount_audited_runs_the_image_its_host_access_was_judged_on()
{
    let engine = shared().engine();
    let m = moving_cli_tag("hostly");
    // Host access for the CLI's repository; no image may mount the socket, but socket mounts
    // are audited: such a create is allowed as it is, with no filtered socket (nothing to pin
    // for the mounts' sake).
    let admin = serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true,
            "value": true,
            "iechorSocketMount": {
                "imageList": { "images": [] },
                "commandList": { "type": "deny", "commands": [] }
            },
            "eciGuard": {
                "audit": { "socketMounts": true },
                "hostAccess": { "images": [format!("{}:*", m.repo)] }
            }
        }
    })
    .to_string();
    let (relay, g, _blocks) = Guard::start_held(engine, &admin);
    let body = serde_json::json!({
        "Image": m.reference(),
        "HostConfig": {"Privileged": true, "Binds": [g.socket_bind()]}
    });
    let mut creates = Creates::new(&g, "hostly", body);
    // Within the second an answer is kept, the tag moves to an image without host access on the
    // engine's own socket (its event held), and the same create comes again: judged on the
    // answer kept, it must run the image judged.
    m.hold_events_with_answers_kept(&relay, &mut || creates.create());
    m.to_other();
    let last = creates.create();
    relay.release_events();
    let allowed = image_id_of(engine, &m.allowed);
    let privileged = creates.finish(engine, &m.reference());
    assert!(last == 201 || last == 403, "{last}");
    assert!(privileged.len() >= 4, "{privileged:?}");
    for (name, c) in &privileged {
        assert_eq!(c["HostConfig"]["Privileged"], true, "{name}");
        assert_eq!(c["Image"], allowed, "{name} runs another image than judged");
    }
}

/// Opens BuildKit's `/grpc` connection through `listen`: upgraded to h2c, its client preface
/// sent. The connection stays open while the stream lives.
fn open_grpc(listen: &Path) -> std::os::unix::net::UnixStream {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /v1.41/grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // HTTP/2's client preface and an empty SETTINGS frame.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    s
}

/// A moving tag in the CLI's repository, on the CLI's image for now.
fn moving_cli_tag(prefix: &str) -> Moving<'static> {
    let s = shared();
    let m = Moving {
        engine: s.engine(),
        repo: repo_of(&s.cli().reference()),
        tag: format!("{prefix}-{}", std::process::id()),
        allowed: s.cli().reference(),
        other: s.busybox().reference(),
    };
    m.to_allowed();
    m
}

/// Admin settings that let the images of `m`'s repository mount the socket.
fn repo_allowed(m: &Moving<'_>) -> String {
    admin_settings(&[&format!("{}:*", m.repo)], "deny", &[])
}

#[test]
fn no_kept_image_answer_is_used_while_a_buildkit_connection_is_open() {
    let engine = shared().engine();
    let m = moving_cli_tag("grpc");
    let (relay, g, _blocks) = Guard::start_held(engine, &repo_allowed(&m));
    let body =
        serde_json::json!({"Image": m.reference(), "HostConfig": {"Binds": [g.socket_bind()]}});
    let mut creates = Creates::new(&g, "grpc", body);
    m.hold_events_with_answers_kept(&relay, &mut || creates.create());
    // A build over BuildKit's connection names images inside it, where the enforcer cannot see,
    // and a 20.10 engine announces none of those names. While one is open no kept answer is
    // used: here the tag moves on the engine's socket (its event held), standing for the build's
    // naming.
    let grpc = open_grpc(&g.listen);
    m.to_other();
    let judged_anew = creates.create();
    // Once it is closed, answers are kept and used again.
    drop(grpc);
    let mut kept_again = false;
    for _ in 0..50 {
        m.to_allowed();
        let asked = creates.create();
        m.to_other();
        if asked == 201 && creates.create() == 201 {
            kept_again = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    relay.release_events();
    let allowed = image_id_of(engine, &m.allowed);
    let made = creates.finish(engine, &m.reference());
    assert_eq!(
        judged_anew, 403,
        "judged on the answer kept before the move"
    );
    assert!(kept_again, "answers kept again once the connection closed");
    assert!(made.iter().all(|(_, c)| c["Image"] == allowed), "{made:?}");
}

#[test]
fn a_tag_moved_through_the_enforcer_with_eci_off_is_not_judged_on_an_answer_kept_before() {
    let engine = shared().engine();
    let m = moving_cli_tag("offon");
    let on = repo_allowed(&m);
    let off = on.replace(r#""value":true"#, r#""value":false"#);
    assert_ne!(on, off);
    let (relay, g, _blocks) = Guard::start_held(engine, &on);
    let apply = |admin: &str| {
        let before = g.enforcer().policy().snapshot().version.clone();
        std::fs::write(&g.admin, admin).unwrap();
        g.enforcer().reload();
        assert_ne!(g.enforcer().policy().snapshot().version, before, "reloaded");
    };
    let body =
        serde_json::json!({"Image": m.reference(), "HostConfig": {"Binds": [g.socket_bind()]}});
    let mut creates = Creates::new(&g, "offon", body);
    m.hold_events_with_answers_kept(&relay, &mut || creates.create());
    // ECI off for a moment, the tag moved through the enforcer meanwhile (its event held), and
    // ECI back on: the next create is judged on what the tag names now.
    apply(&off);
    let (statuses, answer) = raw_http(
        &g.listen,
        format!(
            "POST /v1.41/images/{}/tag?repo={}&tag={} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            m.other, m.repo, m.tag
        )
        .as_bytes(),
    );
    assert_eq!(statuses, [201], "{answer}");
    apply(&on);
    let status = creates.create();
    relay.release_events();
    let allowed = image_id_of(engine, &m.allowed);
    let made = creates.finish(engine, &m.reference());
    assert_eq!(status, 403, "judged on the answer kept before ECI went off");
    assert!(made.iter().all(|(_, c)| c["Image"] == allowed), "{made:?}");
}
