//! `explain` against the enforcer: the e2e suite's kinds of request (socket mounts of every shape,
//! allowed images, directories above the socket, volumes, `VolumesFrom`, services, starts of
//! containers made behind the enforcer's back, unreadable bodies, the command list on a filtered
//! socket) sent to a real enforcer in front of the real engine, and explained with the same
//! settings, engine and digests. The two must agree on the outcome, the status and the message.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use eci_e2e::shared;
use eci_proxy::{ExplainConfig, Explainer, Outcome, Socket};
use serde_json::Value;
use support::*;

/// What the enforcer answered, reduced to what `explain` predicts.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Passed to the engine (whatever the engine then said, e.g. 201 or its own 404).
    Passed(u16),
    /// Refused by the enforcer.
    Refused(u16, String),
}

fn ask_enforcer(sock: &Path, method: &str, target: &str, body: &str) -> Answer {
    let (status, text, _) = exchange(
        sock,
        &request(method, target, body),
        Duration::from_secs(30),
    );
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str::<Value>(b.trim()).ok());
    let message = json
        .as_ref()
        .and_then(|j| j["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    if message.starts_with("enhanced container isolation:") {
        Answer::Refused(status, message)
    } else {
        Answer::Passed(status)
    }
}

fn created_id(sock: &Path, target: &str, body: &str) -> Option<String> {
    let (status, text, _) = exchange(sock, &post(target, body), Duration::from_secs(30));
    (status == 201).then(|| {
        let body = text.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str::<Value>(body.trim()).unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_owned()
    })
}

#[test]
fn explain_agrees_with_the_enforcer_on_every_scenario() {
    let s = shared();
    let engine = s.engine();
    let bb = s.busybox().reference();
    let cli = s.cli().reference();
    let g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
    let sock = engine.socket_path().display().to_string();
    let sock_dir = Path::new(&sock).parent().unwrap().display().to_string();
    let explainer = Explainer::new(
        &ExplainConfig {
            upstream: g.config.upstream.clone(),
            settings: g.config.settings.clone(),
            state_dir: g.config.state_dir.clone(),
            protect: g
                .config
                .listen
                .iter()
                .chain(&g.config.protect)
                .cloned()
                .collect::<Vec<PathBuf>>(),
        },
        g.digests.clone(),
    );
    assert_eq!(explainer.settings_problem, None);

    // Containers the scenarios refer to, made on the engine directly.
    let holder = unique("explain-holder");
    let holder_bind = format!("{sock}:/s");
    engine
        .run_docker(
            RunArgs::create(&holder)
                .volume(&holder_bind)
                .image(&bb, &["true"]),
        )
        .unwrap();
    let vol = unique("explain-vol");
    bind_volume(engine, &vol, &sock_dir);

    let create = "/v1.41/containers/create";
    let binds = |image: &str, bind: &str| {
        format!(r#"{{"Image":"{image}","HostConfig":{{"Binds":["{bind}"]}}}}"#)
    };
    let scenarios: Vec<(&str, &str, String, String)> = vec![
        ("ping", "GET", "/_ping".into(), String::new()),
        (
            "list",
            "GET",
            "/v1.41/containers/json".into(),
            String::new(),
        ),
        (
            "no mounts",
            "POST",
            create.into(),
            format!(r#"{{"Image":"{bb}"}}"#),
        ),
        (
            "socket, image not allowed",
            "POST",
            create.into(),
            binds(&bb, &format!("{sock}:/s")),
        ),
        (
            "socket, allowed image",
            "POST",
            create.into(),
            binds(&cli, &format!("{sock}:/var/run/docker.sock")),
        ),
        (
            "directory above the socket, allowed image",
            "POST",
            create.into(),
            binds(&cli, &format!("{sock_dir}:/d")),
        ),
        (
            "socket via Mounts",
            "POST",
            create.into(),
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{sock}","Target":"/s"}}]}}}}"#
            ),
        ),
        (
            "volume with bind options",
            "POST",
            create.into(),
            binds(&bb, &format!("{vol}:/v")),
        ),
        (
            "VolumesFrom a container with the socket",
            "POST",
            create.into(),
            format!(r#"{{"Image":"{bb}","HostConfig":{{"VolumesFrom":["{holder}"]}}}}"#),
        ),
        (
            "keys that fold together",
            "POST",
            create.into(),
            format!(
                r#"{{"Image":"{bb}","HostConfig":{{"Binds":["/tmp:/t"],"binds":["{sock}:/s"]}}}}"#
            ),
        ),
        (
            "no image",
            "POST",
            create.into(),
            format!(r#"{{"HostConfig":{{"Binds":["{sock}:/s"]}}}}"#),
        ),
        (
            "image the engine lacks",
            "POST",
            create.into(),
            binds("eci-explain/absent:1", &format!("{sock}:/s")),
        ),
        (
            "service spec with the socket",
            "POST",
            "/v1.41/services/create".into(),
            format!(
                r#"{{"Name":"svc","TaskTemplate":{{"ContainerSpec":{{"Image":"{bb}","Mounts":[{{"Type":"bind","Source":"{sock}","Target":"/s"}}]}}}}}}"#
            ),
        ),
        (
            "privileged",
            "POST",
            create.into(),
            format!(r#"{{"Image":"{bb}","HostConfig":{{"Privileged":true}}}}"#),
        ),
        (
            "a writable bind of sysfs",
            "POST",
            create.into(),
            binds(&bb, "/sys:/s"),
        ),
        (
            "a host control socket, allowed image",
            "POST",
            create.into(),
            binds(&cli, "/run/containerd/containerd.sock:/c"),
        ),
        (
            "a proc volume",
            "POST",
            "/v1.41/volumes/create".into(),
            r#"{"Name":"explain-proc","DriverOpts":{"type":"proc","device":"proc"}}"#.into(),
        ),
        (
            "a privileged exec",
            "POST",
            format!("/v1.41/containers/{holder}/exec"),
            r#"{"Cmd":["true"],"Privileged":true}"#.into(),
        ),
        (
            "a swarm join",
            "POST",
            "/v1.41/swarm/join".into(),
            r#"{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"x"}"#.into(),
        ),
        (
            "an archive write into a container holding the socket",
            "PUT",
            format!("/v1.41/containers/{holder}/archive?path=/"),
            "x".into(),
        ),
        (
            "start of a container holding the socket",
            "POST",
            format!("/v1.41/containers/{holder}/start"),
            String::new(),
        ),
        (
            "start with a host config body",
            "POST",
            format!("/v1.23/containers/{holder}/start"),
            format!(r#"{{"Binds":["{sock}:/s"]}}"#),
        ),
        (
            "target the engine would redirect",
            "GET",
            "//containers/json".into(),
            String::new(),
        ),
    ];
    let mut created = Vec::new();
    for (what, method, target, body) in &scenarios {
        let x =
            g.rt.block_on(explainer.explain(Socket::Main, method, target, body.as_bytes()));
        let answer = if *method == "POST" && target == create {
            match created_id(&g.listen, target, body) {
                Some(id) => {
                    created.push(id);
                    Answer::Passed(201)
                }
                None => ask_enforcer(&g.listen, method, target, body),
            }
        } else {
            ask_enforcer(&g.listen, method, target, body)
        };
        match (&answer, x.outcome) {
            (Answer::Refused(status, message), Outcome::Deny) => {
                assert_eq!(
                    (Some(*status), Some(message)),
                    (x.status, x.message.as_ref()),
                    "{what}"
                );
            }
            (Answer::Passed(_), Outcome::Allow | Outcome::AllowFiltered) => {}
            // The enforcer passes the engine's own "no such image" so the CLI pulls and retries;
            // explain cannot know what the pull would bring.
            (Answer::Passed(404), Outcome::CannotTell) => {}
            (a, o) => panic!("{what}: the enforcer {a:?}, explain {o:?}: {x:#?}"),
        }
    }
    let filtered_outcomes: Vec<Outcome> = scenarios
        .iter()
        .filter(|(what, ..)| *what == "socket, allowed image")
        .map(|(_, m, t, b)| {
            g.rt.block_on(explainer.explain(Socket::Main, m, t, b.as_bytes()))
                .outcome
        })
        .collect();
    assert_eq!(filtered_outcomes, vec![Outcome::AllowFiltered]);

    // The command list, on the filtered socket the allowed container was given.
    let (filtered, _) = g
        .enforcer()
        .filtered_sockets()
        .into_iter()
        .next()
        .expect("the allowed create got a filtered socket");
    for (method, target, want) in [
        ("POST", "/v1.41/images/x/push?tag=1", Outcome::Deny),
        ("GET", "/v1.41/containers/json", Outcome::Allow),
        ("GET", "/_ping", Outcome::Allow),
    ] {
        let x =
            g.rt.block_on(explainer.explain(Socket::Filtered, method, target, b""));
        assert_eq!(x.outcome, want, "{method} {target}");
        match ask_enforcer(&filtered, method, target, "") {
            Answer::Refused(status, message) => {
                assert_eq!(
                    (x.status, x.message),
                    (Some(status), Some(message)),
                    "{target}"
                );
            }
            Answer::Passed(_) => assert_eq!(x.outcome, Outcome::Allow, "{target}"),
        }
    }

    for id in created {
        remove_container(engine, &id);
    }
    remove_container(engine, &holder);
    let _ = engine.run_docker(["volume", "rm", &vol]);
}
