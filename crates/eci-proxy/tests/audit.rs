//! Audit mode against the real engine (issue 17): the requests enforce mode refuses are, with
//! their families in audit mode, forwarded (the engine's own state shows them done) and recorded
//! as audited with the same kind and reason; a family left enforced still refuses.

mod support;

use std::collections::BTreeSet;

use eci_e2e::shared;
use eci_policy::decide::BlockKind;
use serde_json::{json, Value};
use support::*;

/// Admin settings: the CLI image may mount the socket, `ps` is denied on filtered sockets, and
/// these families are in audit mode.
fn settings(cli_image: &str, audit: Value) -> String {
    json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true,
            "value": true,
            "iechorSocketMount": {
                "imageList": { "images": [cli_image] },
                "commandList": { "type": "deny", "commands": ["ps"] }
            },
            "eciGuard": { "audit": audit }
        }
    })
    .to_string()
}

fn apply(g: &Guard, admin: &str) {
    // Read before the write: the settings watch may apply the new file before `reload` does.
    let before = g.enforcer().policy().snapshot().version.clone();
    std::fs::write(&g.admin, admin).unwrap();
    g.enforcer().reload();
    assert_ne!(g.enforcer().policy().snapshot().version, before, "reloaded");
}

/// The refusals recorded in `range`, as (kind, audited, reason).
fn recorded(sink: &Collect, range: std::ops::Range<usize>) -> Vec<(BlockKind, bool, String)> {
    sink.all()[range]
        .iter()
        .map(|b| (b.kind, b.audited, b.reason.clone()))
        .collect()
}

/// One round of the scripted session with names ending in `tag`: what each step answered.
struct Round {
    create_socket: bool,
    create_privileged: bool,
    proc_volume: bool,
    ps_inside: bool,
}

fn round(g: &Guard, tag: &str, names: &mut Vec<String>) -> Round {
    let s = shared();
    let bb = s.busybox().reference();
    let cli = s.cli().reference();
    let bind = g.socket_bind();
    let socket_name = unique(&format!("aud-sock-{tag}"));
    let privileged_name = unique(&format!("aud-priv-{tag}"));
    let volume_name = unique(&format!("aud-proc-{tag}"));
    let holder = unique(&format!("aud-cli-{tag}"));
    names.extend([
        socket_name.clone(),
        privileged_name.clone(),
        volume_name.clone(),
        holder.clone(),
    ]);
    let ok = |args: &[&str]| g.run(args).status.success();
    let create_socket = ok(&["create", "--name", &socket_name, "-v", &bind, &bb, "true"]);
    let create_privileged = ok(&[
        "create",
        "--name",
        &privileged_name,
        "--privileged",
        &bb,
        "true",
    ]);
    let proc_volume = ok(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=proc",
        "--opt",
        "device=proc",
        &volume_name,
    ]);
    g.ok(&[
        "run", "-d", "--name", &holder, "-v", &bind, &cli, "sleep", "300",
    ]);
    let ps_inside = docker_inside(g.cli(), &holder, &["ps", "-q"])
        .status
        .success();
    Round {
        create_socket,
        create_privileged,
        proc_volume,
        ps_inside,
    }
}

fn cleanup(names: &[String]) {
    let engine = shared().engine();
    for n in names {
        remove_container(engine, n);
        let _ = engine_docker(engine, &["volume", "rm", "-f", n]);
    }
}

#[test]
fn audit_mode_forwards_and_records_exactly_what_enforce_mode_refuses() {
    let s = shared();
    let engine = s.engine();
    let cli = s.cli().reference();
    let (g, sink) = Guard::start_collecting_on(engine, &settings(&cli, json!({})));
    let mut names = Vec::new();

    // Enforce: all four refused, none done.
    let from = sink.all().len();
    let enforced = round(&g, "enf", &mut names);
    assert!(
        !enforced.create_socket
            && !enforced.create_privileged
            && !enforced.proc_volume
            && !enforced.ps_inside,
        "enforce mode refuses all four"
    );
    let (sock_n, priv_n, vol_n) = (&names[0], &names[1], &names[2]);
    assert!(inspect_container(engine, sock_n).is_none());
    assert!(inspect_container(engine, priv_n).is_none());
    assert!(engine_docker(engine, &["volume", "inspect", vol_n])
        .stdout
        .starts_with(b"[]"));
    let enforce_end = sink.all().len();
    let refused = recorded(&sink, from..enforce_end);
    assert!(
        refused.iter().all(|(_, audited, _)| !audited),
        "{refused:#?}"
    );
    let kinds: BTreeSet<String> = refused.iter().map(|r| format!("{:?}", r.0)).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["Command", "HostAccess", "SocketMount"].map(String::from))
    );

    // Audit every family: the same requests pass, and the engine did each.
    apply(
        &g,
        &settings(
            &cli,
            json!({"socketMounts": true, "commands": true, "hostAccess": true}),
        ),
    );
    let from_audit = sink.all().len();
    let audited = round(&g, "aud", &mut names);
    assert!(
        audited.create_socket
            && audited.create_privileged
            && audited.proc_volume
            && audited.ps_inside,
        "audit mode forwards all four"
    );
    let (sock_a, priv_a, vol_a) = (&names[4], &names[5], &names[6]);
    let sock = engine.socket_path().display().to_string();
    let binds = inspect_container(engine, sock_a).unwrap()["HostConfig"]["Binds"].clone();
    assert!(
        binds.to_string().contains(&sock),
        "the raw socket bind was forwarded as asked: {binds}"
    );
    assert_eq!(
        inspect_container(engine, priv_a).unwrap()["HostConfig"]["Privileged"],
        true
    );
    let vol: Value =
        serde_json::from_slice(&engine_docker(engine, &["volume", "inspect", vol_a]).stdout)
            .unwrap();
    assert_eq!(vol[0]["Options"]["type"], "proc");

    // Recorded as audited, and exactly what enforce mode refused: same kinds, same reasons.
    let strip = |r: Vec<(BlockKind, bool, String)>| -> Vec<(String, String)> {
        let mut v: Vec<_> = r
            .into_iter()
            .map(|(k, _, reason)| (format!("{k:?}"), reason))
            .collect();
        v.sort();
        v
    };
    let audit_records = recorded(&sink, from_audit..sink.all().len());
    assert!(
        audit_records.iter().all(|(_, a, _)| *a),
        "{audit_records:#?}"
    );
    assert_eq!(strip(audit_records), strip(refused));

    // A `docker run` in audit mode: its create and its start are each recorded once; the engine
    // watch, which also sees the start, knows the enforcer forwarded it.
    let runner = unique("aud-run");
    names.push(runner.clone());
    let from_run = sink.all().len();
    let bb = s.busybox().reference();
    g.ok(&[
        "run",
        "-d",
        "--name",
        &runner,
        "-v",
        &g.socket_bind(),
        &bb,
        "sleep",
        "30",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let run_records: Vec<String> = sink.all()[from_run..]
        .iter()
        .map(|b| format!("{} {}", b.method, b.path))
        .collect();
    assert_eq!(run_records.len(), 2, "{run_records:#?}");
    assert!(
        run_records[0].contains("/containers/create"),
        "{run_records:#?}"
    );
    assert!(run_records[1].ends_with("/start"), "{run_records:#?}");
    assert!(
        sink.all()[from_run..]
            .iter()
            .all(|b| b.audited && !b.reason.contains("by itself")),
        "{:#?}",
        &sink.all()[from_run..]
    );

    // Mixed: host access audited, socket mounts enforced. A privileged create with a socket
    // mount is refused as a socket mount, and its host access is recorded as audited.
    apply(&g, &settings(&cli, json!({"hostAccess": true})));
    let from_mixed = sink.all().len();
    let both = unique("aud-both");
    names.push(both.clone());
    let bb = s.busybox().reference();
    let privileged_with_socket = || {
        g.fails(&[
            "create",
            "--name",
            &both,
            "--privileged",
            "-v",
            &g.socket_bind(),
            &bb,
            "true",
        ])
    };
    let err = privileged_with_socket();
    assert!(err.contains("iechor socket mount denied"), "{err}");
    assert!(inspect_container(engine, &both).is_none());
    let mixed: Vec<(BlockKind, bool)> = recorded(&sink, from_mixed..sink.all().len())
        .into_iter()
        .map(|(k, a, _)| (k, a))
        .collect();
    assert_eq!(
        mixed,
        vec![
            (BlockKind::HostAccess, true),
            (BlockKind::SocketMount, false)
        ]
    );
    // And the reverse: socket mounts audited, host access enforced: refused as host access.
    apply(&g, &settings(&cli, json!({"socketMounts": true})));
    let err = privileged_with_socket();
    assert!(err.contains("host access denied"), "{err}");
    assert!(inspect_container(engine, &both).is_none());

    cleanup(&names);
}
