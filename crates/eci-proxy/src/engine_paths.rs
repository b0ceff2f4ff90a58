//! Where the engine behind the upstream socket keeps its own control sockets: its exec root
//! (the managed containerd and its shims, plugin and network sockets), found from the process
//! that answers on the socket, so an engine run with another `--exec-root` is protected too.

use std::path::{Path, PathBuf};

/// dockerd's default exec root.
const DEFAULT_EXEC_ROOT: &str = "/var/run/docker";
/// dockerd's default configuration file, where `exec-root` may also be set.
const DEFAULT_CONFIG_FILE: &str = "/etc/docker/daemon.json";

/// The exec root of the engine serving `upstream`, when the process holding the socket is a
/// dockerd: its `--exec-root`, else its configuration file's `exec-root`, else the default.
pub async fn exec_root(upstream: &Path) -> Option<PathBuf> {
    let stream = tokio::net::UnixStream::connect(upstream).await.ok()?;
    let pid = stream.peer_cred().ok()?.pid()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    from_args(&args, |p| std::fs::read_to_string(p).ok())
}

/// The exec root a dockerd command line gives, reading its configuration file with `read`.
fn from_args(args: &[String], read: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let program = args.first()?;
    if !program.ends_with("dockerd") {
        return None;
    }
    let flag = |name: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{name}="))
                .map(str::to_owned)
                .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    if let Some(root) = flag("--exec-root") {
        return Some(PathBuf::from(root));
    }
    let config = flag("--config-file").unwrap_or_else(|| DEFAULT_CONFIG_FILE.to_owned());
    let from_config = read(&config)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["exec-root"].as_str().map(PathBuf::from));
    Some(from_config.unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_ROOT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_exec_root_as_dockerd_takes_it() {
        let none = |_: &str| None;
        let config =
            |p: &str| (p == "/etc/eng.json").then(|| r#"{"exec-root":"/srv/x"}"#.to_owned());
        let cases: &[(&str, Option<&str>)] = &[
            (
                "/usr/sbin/dockerd --exec-root /tmp/e/x -H unix:///s",
                Some("/tmp/e/x"),
            ),
            ("/usr/sbin/dockerd --exec-root=/tmp/e/y", Some("/tmp/e/y")),
            ("dockerd -H fd://", Some("/var/run/docker")),
            ("/usr/bin/containerd --config x", None),
        ];
        for (line, want) in cases {
            assert_eq!(
                from_args(&args(line), none),
                want.map(PathBuf::from),
                "{line}"
            );
        }
        assert_eq!(
            from_args(&args("dockerd --config-file /etc/eng.json"), config),
            Some(PathBuf::from("/srv/x"))
        );
    }
}
