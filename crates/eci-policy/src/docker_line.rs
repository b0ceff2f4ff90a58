//! A `docker run` / `docker create` command line turned into the create request the docker CLI
//! would send: the flags that carry mounts or host access (`-v`, `--mount`, `--volumes-from`,
//! `--privileged`, host namespaces, `--cap-add`, `--device`, `--security-opt`) and the image. Flags that change nothing the enforcer judges are skipped;
//! anything else is refused by name, so `explain` never guesses.

use serde_json::{json, Map, Value};

/// The API version the engine here speaks; the request is explained on this target.
pub const API_VERSION: &str = "v1.41";

/// The request a command line makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub method: &'static str,
    pub target: String,
    pub body: Value,
}

/// Why a command line cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("only `docker run` and `docker create` can be translated, not {0:?}")]
    Command(String),
    #[error("the flag {0} is not translated; explain the request itself with --method, --path and --body")]
    Flag(String),
    #[error("the flag {0} needs a value")]
    MissingValue(String),
    #[error("--mount {0:?} is not translated (only type, source/src, target/dst/destination and readonly/ro)")]
    Mount(String),
    #[error("the command line names no image")]
    NoImage,
}

/// Flags that take a value and change nothing the enforcer judges.
const SKIPPED_WITH_VALUE: &[&str] = &[
    "--name",
    "-e",
    "--env",
    "--env-file",
    "-w",
    "--workdir",
    "-u",
    "--user",
    "-p",
    "--publish",
    "--network",
    "--net",
    "-l",
    "--label",
    "--entrypoint",
    "-h",
    "--hostname",
    "--restart",
    "--stop-signal",
    "--pull",
    "--platform",
];

/// Flags without a value that change nothing the enforcer judges.
const SKIPPED_ALONE: &[&str] = &[
    "-d",
    "--detach",
    "-i",
    "--interactive",
    "-t",
    "--tty",
    "-it",
    "-ti",
    "--rm",
    "--init",
    "-q",
    "--quiet",
];

/// Translates `args` (starting with `docker`, or directly with `run`/`create`).
pub fn translate(args: &[String]) -> Result<Translated, LineError> {
    let mut rest = args.iter().map(String::as_str).peekable();
    if rest.peek() == Some(&"docker") {
        rest.next();
    }
    match rest.next() {
        Some("run" | "create") => {}
        Some("container") if matches!(rest.peek(), Some(&("run" | "create"))) => {
            rest.next();
        }
        other => return Err(LineError::Command(other.unwrap_or("").to_owned())),
    }
    let mut flags = Flags::default();
    let mut image = None;
    while let Some(arg) = rest.next() {
        if !arg.starts_with('-') || arg == "-" {
            image = Some(arg.to_owned());
            break;
        }
        flags.read(arg, &mut rest)?;
    }
    let image = image.ok_or(LineError::NoImage)?;
    let cmd: Vec<&str> = rest.collect();
    let query = flags
        .name
        .as_ref()
        .map(|n| format!("?name={n}"))
        .unwrap_or_default();
    let mut body = json!({ "Image": image, "HostConfig": flags.host_config() });
    if !cmd.is_empty() {
        body["Cmd"] = json!(cmd);
    }
    Ok(Translated {
        method: "POST",
        target: format!("/{API_VERSION}/containers/create{query}"),
        body,
    })
}

/// The flags of a `docker run` line that reach the create request, as read.
#[derive(Default)]
struct Flags {
    binds: Vec<String>,
    mounts: Vec<Value>,
    volumes_from: Vec<String>,
    privileged: bool,
    lists: Vec<(&'static str, Vec<String>)>,
    modes: Vec<(&'static str, String)>,
    name: Option<String>,
}

impl Flags {
    /// Reads one flag (`arg`), taking its value from `rest` when it is not inline.
    fn read<'a>(
        &mut self,
        arg: &'a str,
        rest: &mut impl Iterator<Item = &'a str>,
    ) -> Result<(), LineError> {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, LineError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => rest
                    .next()
                    .map(str::to_owned)
                    .ok_or_else(|| LineError::MissingValue(flag.to_owned())),
            }
        };
        match flag {
            "-v" | "--volume" => self.binds.push(value()?),
            "--mount" => self.mounts.push(mount(&value()?)?),
            "--volumes-from" => self.volumes_from.push(value()?),
            "--privileged" => self.privileged = inline.as_deref() != Some("false"),
            f if namespace_field(f).is_some() => {
                let field = namespace_field(f).unwrap_or_default();
                self.modes.push((field, value()?));
            }
            f if list_field(f).is_some() => {
                let field = list_field(f).unwrap_or_default();
                let v = value()?;
                match self.lists.iter_mut().find(|(k, _)| *k == field) {
                    Some((_, l)) => l.push(v),
                    None => self.lists.push((field, vec![v])),
                }
            }
            "--name" => self.name = Some(value()?),
            f if SKIPPED_WITH_VALUE.contains(&f) => {
                value()?;
            }
            f if SKIPPED_ALONE.contains(&f) && inline.is_none() => {}
            f => return Err(LineError::Flag(f.to_owned())),
        }
        Ok(())
    }

    /// The `HostConfig` the CLI would send.
    fn host_config(self) -> Map<String, Value> {
        let mut host = Map::new();
        if !self.binds.is_empty() {
            host.insert("Binds".into(), json!(self.binds));
        }
        if !self.mounts.is_empty() {
            host.insert("Mounts".into(), Value::Array(self.mounts));
        }
        if !self.volumes_from.is_empty() {
            host.insert("VolumesFrom".into(), json!(self.volumes_from));
        }
        if self.privileged {
            host.insert("Privileged".into(), Value::Bool(true));
        }
        for (field, mode) in self.modes {
            host.insert(field.into(), json!(mode));
        }
        for (field, list) in self.lists {
            let list: Vec<Value> = if field == "Devices" {
                list.iter().map(|d| device(d)).collect()
            } else {
                list.into_iter().map(Value::String).collect()
            };
            host.insert(field.into(), Value::Array(list));
        }
        host
    }
}

/// The `HostConfig` field of a namespace flag.
fn namespace_field(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--pid" => "PidMode",
        "--ipc" => "IpcMode",
        "--uts" => "UTSMode",
        "--userns" => "UsernsMode",
        "--cgroupns" => "CgroupnsMode",
        _ => return None,
    })
}

/// The `HostConfig` list a repeatable flag adds to.
fn list_field(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--cap-add" => "CapAdd",
        "--device" => "Devices",
        "--device-cgroup-rule" => "DeviceCgroupRules",
        "--security-opt" => "SecurityOpt",
        _ => return None,
    })
}

/// `--device /dev/x[:/dev/y[:rwm]]` as the CLI sends it.
fn device(spec: &str) -> Value {
    let mut parts = spec.splitn(3, ':');
    let host = parts.next().unwrap_or_default();
    let inside = parts.next().unwrap_or(host);
    let perms = parts.next().unwrap_or("rwm");
    json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms})
}

/// `--mount type=bind,source=/x,target=/y[,readonly]` as the CLI sends it.
fn mount(spec: &str) -> Result<Value, LineError> {
    let mut m = Map::new();
    m.insert("Type".into(), json!("volume"));
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (key, value) {
            ("type", Some(v)) => {
                m.insert("Type".into(), json!(v));
            }
            ("source" | "src", Some(v)) => {
                m.insert("Source".into(), json!(v));
            }
            ("target" | "dst" | "destination", Some(v)) => {
                m.insert("Target".into(), json!(v));
            }
            ("readonly" | "ro", None | Some("true" | "1")) => {
                m.insert("ReadOnly".into(), json!(true));
            }
            ("readonly" | "ro", Some("false" | "0")) => {}
            _ => return Err(LineError::Mount(spec.to_owned())),
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn run_and_create_lines_become_create_requests() {
        // (line, target, body)
        let cases = [
            (
                "docker run -v /var/run/docker.sock:/var/run/docker.sock busybox",
                "/v1.41/containers/create",
                json!({"Image": "busybox", "HostConfig": {"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}}),
            ),
            (
                "docker run --rm -it --name x --volume=/run:/r:ro -e A=1 docker:cli sh -c true",
                "/v1.41/containers/create?name=x",
                json!({"Image": "docker:cli", "HostConfig": {"Binds": ["/run:/r:ro"]}, "Cmd": ["sh", "-c", "true"]}),
            ),
            (
                "create --mount type=bind,src=/run/docker.sock,dst=/s,readonly --volumes-from c1 --privileged busybox",
                "/v1.41/containers/create",
                json!({"Image": "busybox", "HostConfig": {
                    "Mounts": [{"Type": "bind", "Source": "/run/docker.sock", "Target": "/s", "ReadOnly": true}],
                    "VolumesFrom": ["c1"], "Privileged": true}}),
            ),
            (
                "docker run --pid=host --ipc host --cap-add SYS_ADMIN --cap-add=sys_ptrace --device /dev/fuse --security-opt seccomp=unconfined busybox",
                "/v1.41/containers/create",
                json!({"Image": "busybox", "HostConfig": {
                    "PidMode": "host", "IpcMode": "host",
                    "CapAdd": ["SYS_ADMIN", "sys_ptrace"],
                    "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
                    "SecurityOpt": ["seccomp=unconfined"]}}),
            ),
            (
                "docker container run --mount source=vol,target=/v busybox",
                "/v1.41/containers/create",
                json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "vol", "Target": "/v"}]}}),
            ),
        ];
        for (l, target, body) in cases {
            let t = translate(&line(l)).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(
                (t.method, t.target.as_str(), &t.body),
                ("POST", target, &body),
                "{l}"
            );
        }
    }

    #[test]
    fn what_cannot_be_translated_is_named() {
        let cases = [
            ("docker exec c ls", LineError::Command("exec".into())),
            (
                "docker run --memory 1g busybox",
                LineError::Flag("--memory".into()),
            ),
            ("docker run -v", LineError::MissingValue("-v".into())),
            ("docker run --rm", LineError::NoImage),
            (
                "docker run --mount type=volume,src=v,dst=/v,volume-opt=o=bind busybox",
                LineError::Mount("type=volume,src=v,dst=/v,volume-opt=o=bind".into()),
            ),
        ];
        for (l, want) in cases {
            assert_eq!(translate(&line(l)), Err(want), "{l}");
        }
    }
}
