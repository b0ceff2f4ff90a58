//! A container holding the engine socket through the enforcer, judged from inside: the docker
//! CLI in it reaches the engine, and the command list still applies (its socket is a filtered
//! one, not the engine's).

use std::process::Output;

use eci_e2e::Engine;

use eci_e2e::shared;

use super::{
    admin_settings, command_blocked, inspect_container, push_target, unique, Cli, Guard, RunArgs,
};

/// `docker ARGS` run inside container `name` (by `docker exec` through `cli`).
pub fn docker_inside(cli: Cli, name: &str, args: &[&str]) -> Output {
    cli.docker()
        .args(["exec", name, "docker"])
        .args(args)
        .output()
        .expect("docker runs")
}

/// The engine's API version as the container's docker CLI gets it through its socket mount.
pub fn version_inside(cli: Cli, name: &str) -> Result<String, String> {
    let out = docker_inside(
        cli,
        name,
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The container works through its socket and is under the command list (which denies push):
/// `docker version` answers 1.41 and pushing `image` is refused with the exact message.
pub fn assert_filtered_socket_works(cli: Cli, name: &str, image: &str, when: &str) {
    assert_eq!(
        version_inside(cli, name).as_deref(),
        Ok("1.41\n"),
        "{when}: docker version inside the container"
    );
    let out = docker_inside(cli, name, &["push", image]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{when}: the push went through");
    assert!(
        err.contains(&command_blocked(&push_target(image))),
        "{when}: {err}"
    );
}

pub fn container_id(engine: &Engine, name: &str) -> String {
    inspect_container(engine, name).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts container `name` of `image`, mounting the engine socket and sleeping, through `cli`.
pub fn run_socket_container(cli: Cli, name: &str, image: &str) {
    let bind = super::socket_bind(cli.engine);
    cli.ok(&RunArgs::detached(name)
        .volume(&bind)
        .image(image, &["sleep", "600"]));
}

/// A running container that mounts the engine socket.
pub struct SocketContainer {
    pub image: String,
    pub name: String,
    pub id: String,
}

/// Through `cli`, a container named after `prefix`, of `image`, holding a filtered socket that
/// works (checked as `when`).
pub fn working_socket_container(
    cli: Cli,
    prefix: &str,
    image: &str,
    when: &str,
) -> SocketContainer {
    let name = unique(prefix);
    run_socket_container(cli, &name, image);
    assert_filtered_socket_works(cli, &name, image, when);
    SocketContainer {
        image: image.to_owned(),
        id: container_id(cli.engine, &name),
        name,
    }
}

impl Guard {
    /// An enforcer in front of the shared engine that allows the harness's CLI image and denies
    /// push, with a container of that image whose filtered socket works (checked as `when`).
    pub fn start_with_socket_container(prefix: &str, when: &str) -> (Guard, SocketContainer) {
        let cli = shared().cli().reference();
        let g = Guard::start(&admin_settings(&[cli.as_str()], "deny", &["push"]));
        let c = working_socket_container(g.cli(), prefix, &cli, when);
        (g, c)
    }
}

/// What a script printed, and whether it exited with success.
pub struct ScriptRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Guard {
    /// Runs `script` (by `sh -c`) through this enforcer in a throwaway container of `image` that
    /// asks for the engine socket.
    pub fn script_with_socket(&self, image: &str, script: &str) -> ScriptRun {
        let bind = self.socket_bind();
        let out = self.run(
            &RunArgs::rm()
                .volume(&bind)
                .image(image, &["sh", "-c", script]),
        );
        ScriptRun {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
