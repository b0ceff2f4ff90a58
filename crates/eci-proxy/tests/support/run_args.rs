//! The docker CLI lines that make containers, as the suites write them: always on no network
//! (no test needs one), options first, then the image and its command.

use eci_e2e::Engine;

use super::Cli;

/// The bind that gives a container `engine`'s socket where the docker CLI looks for it.
pub fn socket_bind(engine: &Engine) -> String {
    format!("{}:/var/run/docker.sock", engine.socket_path().display())
}

/// The arguments of a `docker run` or `docker create`, built option by option.
pub struct RunArgs<'a> {
    args: Vec<&'a str>,
}

impl<'a> RunArgs<'a> {
    /// `run --rm --network none`: a container that goes when it exits.
    pub fn rm() -> RunArgs<'a> {
        RunArgs {
            args: vec!["run", "--rm", "--network", "none"],
        }
    }

    /// `run -d --name <name> --network none`: a container left running.
    pub fn detached(name: &'a str) -> RunArgs<'a> {
        RunArgs {
            args: vec!["run", "-d", "--name", name, "--network", "none"],
        }
    }

    /// `create --name <name> --network none`: a container made, not started.
    pub fn create(name: &'a str) -> RunArgs<'a> {
        RunArgs {
            args: vec!["create", "--name", name, "--network", "none"],
        }
    }

    /// `--name <name>`.
    pub fn name(mut self, name: &'a str) -> RunArgs<'a> {
        self.args.extend(["--name", name]);
        self
    }

    /// `--restart <policy>`.
    pub fn restart(mut self, policy: &'a str) -> RunArgs<'a> {
        self.args.extend(["--restart", policy]);
        self
    }

    /// `-v <bind>`.
    pub fn volume(mut self, bind: &'a str) -> RunArgs<'a> {
        self.args.extend(["-v", bind]);
        self
    }

    /// `-i`: the container reads the CLI's stdin.
    pub fn stdin(mut self) -> RunArgs<'a> {
        self.args.push("-i");
        self
    }

    /// The whole line: the options, `image`, then `cmd`.
    pub fn image(mut self, image: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
        self.args.push(image);
        self.args.extend_from_slice(cmd);
        self.args
    }
}

/// Through `cli`, `run -d` of a container `name` of `image` with `bind`, which the engine starts
/// again by `policy`; its id.
pub fn run_restarting(
    cli: Cli,
    name: &str,
    policy: &str,
    bind: &str,
    image: &str,
    cmd: &[&str],
) -> String {
    let args = RunArgs::detached(name)
        .restart(policy)
        .volume(bind)
        .image(image, cmd);
    cli.ok(&args).trim().to_owned()
}
