//! The host's state that tests must leave as they found it (issue 13): its network (interfaces,
//! addresses, routes, firewall rules, forwarding), the system engine's objects, mounts and
//! temporary entries, taken before and compared after; and the processes a run left behind.
//!
//! `cargo xtask test` takes a [`HostState`] before `cargo test --workspace` and fails on any
//! change after it; `tests/host_network.rs` checks that a private engine leaves the network of
//! the namespace it starts from alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{process, HarnessError, Result};

/// Where a system engine listens.
pub const SYSTEM_ENGINE: &str = "/var/run/docker.sock";

const TMP: &str = "temporary entries";

/// Named parts of the host's state, each a list of lines with volatile fields removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    parts: BTreeMap<&'static str, Vec<String>>,
}

impl HostState {
    /// The network of this process's namespace: interfaces, addresses, routes, iptables and
    /// ip6tables rules, forwarding switches.
    pub fn network() -> Result<HostState> {
        let mut parts = BTreeMap::new();
        parts.insert("interfaces", lines(&["ip", "-o", "link"])?);
        parts.insert("addresses", stable(lines(&["ip", "-o", "addr"])?));
        parts.insert("routes", stable(lines(&["ip", "route"])?));
        parts.insert("routes (IPv6)", stable(lines(&["ip", "-6", "route"])?));
        parts.insert("iptables rules", rules(&["iptables-save"])?);
        parts.insert("ip6tables rules", rules(&["ip6tables-save"])?);
        let forwarding = [
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv6/conf/all/forwarding",
        ]
        .iter()
        .map(|p| format!("{p} = {}", read(p).trim()))
        .collect();
        parts.insert("forwarding", forwarding);
        Ok(HostState { parts })
    }

    /// [`HostState::network`] plus the system engine's containers, images, volumes and networks
    /// (when one answers on [`SYSTEM_ENGINE`]), the mounts of this mount namespace, and the
    /// entries of `/tmp`.
    pub fn take() -> Result<HostState> {
        let mut state = HostState::network()?;
        state.parts.insert("system engine", system_engine()?);
        let mounts = read("/proc/self/mountinfo")
            .lines()
            .filter_map(mount_line)
            .collect();
        state.parts.insert("mounts", mounts);
        let mut tmp: Vec<String> = std::fs::read_dir("/tmp")
            .map_err(HarnessError::io("listing /tmp"))?
            .filter_map(|e| e.ok())
            .map(|e| format!("/tmp/{}", e.file_name().to_string_lossy()))
            .collect();
        tmp.sort();
        state.parts.insert(TMP, tmp);
        Ok(state)
    }

    /// What differs from `before`, one line per difference (`part: + line` appeared,
    /// `part: - line` vanished); empty when nothing changed.
    pub fn changes_since(&self, before: &HostState) -> Vec<String> {
        let mut out = Vec::new();
        for (part, now) in &self.parts {
            let then = before.parts.get(part).map(Vec::as_slice).unwrap_or(&[]);
            // The janitor rightly removes what earlier, dead runs left in /tmp: only what
            // appeared there counts.
            if *part != TMP {
                out.extend(
                    then.iter()
                        .filter(|l| !now.contains(l))
                        .map(|l| format!("{part}: - {l}")),
                );
            }
            out.extend(
                now.iter()
                    .filter(|l| !then.contains(l))
                    .map(|l| format!("{part}: + {l}")),
            );
        }
        out
    }

    /// The lines of one part (`"interfaces"`, `"routes"`, …).
    pub fn part(&self, name: &str) -> &[String] {
        self.parts.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Whether a system engine answers on [`SYSTEM_ENGINE`].
pub fn system_engine_answers() -> bool {
    crate::engine::ping(Path::new(SYSTEM_ENGINE))
}

/// When a system engine answers: proves that it still starts a container with its default
/// networking (the `bridge` network, on `docker0`), from a `FROM scratch` busybox image imported
/// for this and removed after. `Ok(false)` when no system engine answers.
pub fn system_engine_runs_a_bridged_container() -> Result<bool> {
    if !system_engine_answers() {
        return Ok(false);
    }
    // The static busybox the test images are made of; it also writes the tar.
    let busybox = Path::new(crate::images::BUSYBOX);
    let dir = tempfile::tempdir().map_err(HarnessError::io("creating a temp dir"))?;
    std::fs::create_dir(dir.path().join("bin")).map_err(HarnessError::io("creating bin/"))?;
    std::fs::copy(busybox, dir.path().join("bin/busybox"))
        .map_err(HarnessError::io("copying busybox"))?;
    let tar = dir.path().join("image.tar");
    process::run(
        Command::new(busybox)
            .args(["tar", "-C"])
            .arg(dir.path())
            .arg("-cf")
            .arg(&tar)
            .arg("bin"),
    )?;
    let tag = format!("eci-e2e-host-check:{}", std::process::id());
    let docker = || {
        let mut cmd = Command::new(process::docker_cli().unwrap_or_else(|_| "docker".into()));
        cmd.arg("-H")
            .arg(format!("unix://{SYSTEM_ENGINE}"))
            .env_remove("DOCKER_CONTEXT");
        cmd
    };
    process::run(docker().arg("import").arg(&tar).arg(&tag))?;
    let ran = process::run(docker().args([
        "run",
        "--rm",
        "--network",
        "bridge",
        &tag,
        "/bin/busybox",
        "true",
    ]));
    let removed = process::run(docker().args(["rmi", &tag]));
    ran.and(removed).map(|_| true)
}

/// Makes this process the reaper of its orphaned descendants, so that [`leftover_children`]
/// sees every process a test run left behind instead of init.
pub fn adopt_orphans() -> Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| HarnessError::io("becoming a child subreaper")(e.into()))
}

/// The children of this process still alive after `grace` (zombies are reaped): after
/// [`adopt_orphans`] and the end of every process this one waited for, these are what a run
/// left behind, as `pid command line`.
pub fn leftover_children(grace: Duration) -> Vec<String> {
    let deadline = Instant::now() + grace;
    loop {
        let me = std::process::id();
        let mut alive = Vec::new();
        for pid in children_of(me) {
            let raw = rustix::process::Pid::from_raw(pid as i32);
            // A zombie is reaped here; a live child is not waited for.
            let reaped = raw.is_some_and(|p| {
                matches!(
                    rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG),
                    Ok(Some(_))
                )
            });
            if !reaped {
                let cmdline = read(&format!("/proc/{pid}/cmdline")).replace('\0', " ");
                alive.push(format!("{pid} {}", cmdline.trim()));
            }
        }
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = read(&format!("/proc/{pid}/stat"));
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The output lines of a command found on the sbin-including path.
fn lines(argv: &[&str]) -> Result<Vec<String>> {
    let program = which::which_in(argv[0], Some(process::search_path()), "/").map_err(|_| {
        HarnessError::MissingProgram {
            program: "ip or iptables-save",
            package: "iproute2 and iptables",
        }
    })?;
    let out = process::run(Command::new(program).args(&argv[1..]))?;
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    Ok(lines)
}

/// Address and route lines without what changes by itself: lifetimes, expiry, DAD state.
fn stable(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| {
            let mut out = Vec::new();
            let mut tokens = l.split_whitespace();
            while let Some(t) = tokens.next() {
                match t {
                    "valid_lft" | "preferred_lft" | "expires" => {
                        tokens.next();
                    }
                    "tentative" | "\\" => {}
                    t => out.push(t),
                }
            }
            out.join(" ")
        })
        .collect()
}

/// Firewall rules of an `*tables-save`.
fn rules(argv: &[&str]) -> Result<Vec<String>> {
    Ok(uncounted(lines(argv)?))
}

/// Rules without comments (they carry the time) and chain packet counters.
fn uncounted(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => l[..i].to_owned(),
            _ => l,
        })
        .collect()
}

/// `mount point fstype source options` of a mountinfo line (its ids change nothing).
fn mount_line(line: &str) -> Option<String> {
    let (before, after) = line.split_once(" - ")?;
    let point = before.split(' ').nth(4)?;
    let mut after = after.split(' ');
    let (fstype, source) = (after.next()?, after.next()?);
    Some(format!("{point} {fstype} {source}"))
}

/// The system engine's objects, or that none answers.
fn system_engine() -> Result<Vec<String>> {
    if !system_engine_answers() {
        return Ok(vec!["no system engine answers".into()]);
    }
    let cli = process::docker_cli()?;
    let mut out = vec!["a system engine answers".to_owned()];
    for (what, args) in [
        (
            "container",
            &[
                "ps",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Image}} {{.State}}",
            ][..],
        ),
        (
            "image",
            &[
                "images",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Repository}}:{{.Tag}}",
            ][..],
        ),
        ("volume", &["volume", "ls", "--format", "{{.Name}}"][..]),
        (
            "network",
            &[
                "network",
                "ls",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Name}} {{.Driver}}",
            ][..],
        ),
    ] {
        let listed = process::run(
            Command::new(&cli)
                .arg("-H")
                .arg(format!("unix://{SYSTEM_ENGINE}"))
                .env_remove("DOCKER_CONTEXT")
                .args(args),
        )?;
        out.extend(listed.lines().map(|l| format!("{what} {l}")));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_fields_are_dropped_and_the_rest_kept() {
        let addr = "2: eth0    inet6 fd00::2/64 scope global dynamic tentative \\       valid_lft 86391sec preferred_lft 14391sec";
        assert_eq!(
            stable(vec![addr.into()]),
            ["2: eth0 inet6 fd00::2/64 scope global dynamic"]
        );
        let route = "fd00::/64 dev eth0 proto ra metric 100 expires 86391sec pref medium";
        assert_eq!(
            stable(vec![route.into()]),
            ["fd00::/64 dev eth0 proto ra metric 100 pref medium"]
        );
        let counted = ":DOCKER - [12:3456]".to_owned();
        let rule = "-A FORWARD -o docker0 -j DOCKER".to_owned();
        let comment = "# Generated by iptables-save v1.8.9 on Thu Dec  3 05:00:00 2026".to_owned();
        assert_eq!(
            uncounted(vec![comment, counted, rule.clone()]),
            [":DOCKER -".to_owned(), rule]
        );
        let mount = "36 25 0:32 / /tmp/x rw,relatime shared:1 - tmpfs tmpfs rw,size=1024k";
        assert_eq!(mount_line(mount).as_deref(), Some("/tmp/x tmpfs tmpfs"));
    }

    #[test]
    fn changes_name_their_part_and_direction() {
        let state = |links: &[&str], tmp: &[&str]| HostState {
            parts: BTreeMap::from([
                ("interfaces", links.iter().map(|s| s.to_string()).collect()),
                (TMP, tmp.iter().map(|s| s.to_string()).collect()),
            ]),
        };
        let before = state(&["1: lo", "3: docker0"], &["/tmp/old"]);
        let after = state(&["1: lo"], &["/tmp/eci-e2e-left"]);
        assert_eq!(
            after.changes_since(&before),
            [
                "interfaces: - 3: docker0",
                "temporary entries: + /tmp/eci-e2e-left"
            ]
        );
        assert!(before.changes_since(&before).is_empty());
    }
}
