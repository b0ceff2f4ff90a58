//! `eci-guard explain` as an admin runs it: the real binary, a private engine, the loopback
//! registry for the digests, docker command lines and raw requests.

use std::path::Path;
use std::process::{Command, Output};

use eci_e2e::shared;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(images: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let admin = serde_json::json!({
            "configurationFileVersion": 2,
            "enhancedContainerIsolation": {
                "locked": true,
                "value": true,
                "dockerSocketMount": {
                    "imageList": { "images": images },
                    "commandList": { "type": "deny", "commands": ["push", "compose"] }
                }
            }
        });
        std::fs::write(dir.path().join("admin.json"), admin.to_string()).unwrap();
        let registries = format!(
            r#"{{"{}": {{"insecure": true}}}}"#,
            shared().registry().addr()
        );
        std::fs::write(dir.path().join("registries.json"), registries).unwrap();
        Setup { dir }
    }

    fn explain(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        let p = |n: &str| d.join(n).display().to_string();
        Command::new(env!("CARGO_BIN_EXE_eci-guard"))
            .arg("explain")
            .args([
                "--upstream",
                &shared().engine().socket_path().display().to_string(),
            ])
            .args(["--admin-settings", &p("admin.json")])
            .args(["--user-settings", &p("user.json")])
            .args(["--state-dir", &p("state")])
            .args(["--listen", &p("guard.sock")])
            .args(["--registries", &p("registries.json")])
            .args(args)
            .output()
            .unwrap()
    }
}

fn sock() -> String {
    shared().engine().socket_path().display().to_string()
}

#[test]
fn a_docker_line_with_the_socket_is_denied_with_the_exact_message() {
    let s = shared();
    let setup = Setup::new(&[&s.cli().reference()]);
    let bind = format!("{}:/var/run/docker.sock", sock());
    let bb = s.busybox().reference();
    let out = setup.explain(&["--", "docker", "run", "--rm", "-v", &bind, &bb]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = bb.rsplit_once(':').unwrap().0;
    for want in [
        "route     POST /containers/create; counts as: create, run, container*",
        "exposes the socket",
        "verdict   deny",
        "history kind: socket_mount",
        &format!("message   enhanced container isolation: iechor socket mount denied for container with image \"{repo}\"; image is not in the allowed list"),
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn an_allowed_image_gets_a_filtered_socket_after_its_digests_are_fetched() {
    let s = shared();
    let cli = s.cli();
    let setup = Setup::new(&[&cli.reference()]);
    let bind = format!("{}:/var/run/docker.sock", sock());
    let out = setup.explain(&[
        "--format",
        "json",
        "--",
        "docker",
        "run",
        "-v",
        &bind,
        &cli.reference(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(x["outcome"], "allow-filtered", "{x:#}");
    assert_eq!(x["image"]["id"], cli.config_digest.as_str(), "{x:#}");
    assert!(
        x["allowed_by"].as_str().unwrap().ends_with(&cli.tag),
        "{x:#}"
    );
    assert!(
        x["entries"][0]["finding"]
            .as_str()
            .unwrap()
            .contains("the image is one of them"),
        "{x:#}"
    );
}

#[test]
fn requests_on_a_filtered_socket_meet_the_command_list() {
    let setup = Setup::new(&[]);
    let push = "/v1.41/images/x/push?tag=1";
    let out = setup.explain(&["--socket", "filtered", "--method", "POST", "--path", push]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "enhanced container isolation: iechor command \"{push}\" is blocked"
        )),
        "{text}"
    );
    assert!(text.contains("history kind: command"), "{text}");
    let body = setup.dir.path().join("create.json");
    std::fs::write(
        &body,
        // A directory that holds no protected socket: allowed whatever the image.
        format!(
            r#"{{"Image":"busybox","HostConfig":{{"Binds":["{}:/t"]}}}}"#,
            setup.dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = setup.explain(&[
        "--method",
        "POST",
        "--path",
        "/v1.41/containers/create",
        "--body",
        &body.display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn what_cannot_be_translated_exits_2_and_says_what() {
    let setup = Setup::new(&[]);
    let out = setup.explain(&["--", "docker", "run", "--memory", "1g", "busybox"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the flag --memory is not translated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!Path::new(&setup.dir.path().join("guard.sock")).exists());
}
