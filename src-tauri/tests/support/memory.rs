//! The memory of a process group (the app or the empty window, each with its WebKit processes):
//! RSS and PSS per process from `smaps_rollup`, and PSS per mapping from `smaps`, named by what
//! the mapping holds, to tell where a difference between two groups goes.

use std::collections::BTreeMap;

/// Memory of one process, kB.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mem {
    /// Resident set: every page the process maps, shared libraries counted in full.
    pub rss: u64,
    /// Proportional set: each shared page divided among the processes that map it; the sum over
    /// processes is the memory they take together.
    pub pss: u64,
}

impl std::ops::AddAssign for Mem {
    fn add_assign(&mut self, other: Mem) {
        self.rss += other.rss;
        self.pss += other.pss;
    }
}

pub fn mb(kb: u64) -> u64 {
    kb / 1024
}

/// One process of a group.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    /// The kernel's name for it (at most 15 bytes: `eci-guard-deskt`).
    pub comm: String,
    pub mem: Mem,
}

/// Every process in process group `group` except WebDriver's own (`tauri-driver`,
/// `WebKitWebDriver`): the app, or the empty window, and their WebKit processes.
pub fn processes(group: u32) -> Vec<Process> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name: state, ppid, pgrp, …
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let pgrp: Option<u32> = after.split_whitespace().nth(2).and_then(|p| p.parse().ok());
        if pgrp != Some(group) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim().to_owned();
        if matches!(comm.as_str(), "tauri-driver" | "WebKitWebDriver") {
            continue;
        }
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(kb)
                .unwrap_or(0)
        };
        let mem = Mem {
            rss: field("Rss:"),
            pss: field("Pss:"),
        };
        found.push(Process { pid, comm, mem });
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// The memory of the app and its web processes, each printed: every process in the group
/// except the drivers.
pub fn app_memory(group: u32, when: &str) -> Mem {
    printed_total(&processes(group), when)
}

/// The memory of `processes` together, each printed under `when`.
pub fn printed_total(processes: &[Process], when: &str) -> Mem {
    let mut total = Mem::default();
    for p in processes {
        println!(
            "bench:   {when}: {:<16} (pid {}): RSS {:>4} MB, PSS {:>4} MB",
            p.comm,
            p.pid,
            mb(p.mem.rss),
            mb(p.mem.pss)
        );
        total += p.mem;
    }
    total
}

/// `"  1234 kB"` → 1234.
fn kb(value: &str) -> Option<u64> {
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

/// One line of `/proc/PID/smaps` with its PSS.
#[derive(Debug)]
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    path: String,
    pss: u64,
}

fn smaps(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut maps: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut tokens = line.split_whitespace();
        let Some(first) = tokens.next() else { continue };
        if let Some(name) = first.strip_suffix(':') {
            if name == "Pss" {
                if let (Some(m), Some(v)) = (maps.last_mut(), line.strip_prefix("Pss:")) {
                    m.pss = kb(v).unwrap_or(0);
                }
            }
            continue;
        }
        // A mapping's header: `start-end perms offset dev inode [path, which may hold spaces]`.
        let Some((start, end)) = first.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let perms = tokens.next().unwrap_or_default().to_owned();
        let path = tokens.skip(3).collect::<Vec<_>>().join(" ");
        maps.push(Mapping {
            start,
            end,
            perms,
            path,
            pss: 0,
        });
    }
    maps
}

/// glibc's malloc gives each thread arena a 64 MiB reservation aligned to its size.
const ARENA: u64 = 64 << 20;

/// What mapping `i` holds. Libraries by file and segment; anonymous memory by its shape, since
/// this glibc (2.36) does not name its mappings: a thread arena is a 64 MiB-aligned read-write
/// start of a 64 MiB reservation, a thread's stack sits right above its guard page.
fn kind(maps: &[Mapping], i: usize, exe: &str) -> String {
    let m = &maps[i];
    let segment = if m.perms.contains('x') {
        "code"
    } else if m.perms.starts_with("rw") {
        "data"
    } else if m.perms.starts_with('r') {
        "read-only data"
    } else {
        "reserved"
    };
    let path = m.path.trim_end_matches(" (deleted)");
    if path.is_empty() {
        if !m.perms.starts_with("rw") {
            return "anonymous, reserved".into();
        }
        let next = maps
            .get(i + 1)
            .filter(|n| n.start == m.end && n.path.is_empty());
        let reserved_to = next
            .filter(|n| n.perms.starts_with("---"))
            .map_or(m.end, |n| n.end);
        if m.start.is_multiple_of(ARENA) && reserved_to - m.start == ARENA {
            return "malloc thread arenas".into();
        }
        let prev = i.checked_sub(1).map(|p| &maps[p]);
        let guarded = prev.is_some_and(|p| {
            p.end == m.start
                && p.path.is_empty()
                && p.perms.starts_with("---")
                && p.end - p.start <= 64 << 10
        });
        if guarded {
            return "thread stacks".into();
        }
        return "anonymous (large mallocs, JS heap, buffers)".into();
    }
    match path {
        "[heap]" => "malloc main arena ([heap])".into(),
        "[stack]" => "main thread stack".into(),
        _ if path == exe => format!("the executable, {segment}"),
        _ if path.starts_with("/memfd:") => format!("shared memory ({path})"),
        _ if path.starts_with('/') => {
            let file = path.rsplit('/').next().unwrap_or(path);
            format!("{file}, {segment}")
        }
        _ => path.to_owned(),
    }
}

/// PSS by what each mapping holds, kB, over every process of the group; keys are
/// `"<process>: <kind>"`, the group's leader named `main process` so that two groups compare.
pub fn by_mapping(group: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for p in processes(group) {
        let exe = std::fs::read_link(format!("/proc/{}/exe", p.pid))
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let process = if p.pid == group {
            "main process"
        } else {
            p.comm.as_str()
        };
        let maps = smaps(p.pid);
        for i in 0..maps.len() {
            if maps[i].pss > 0 {
                *out.entry(format!("{process}: {}", kind(&maps, i, &exe)))
                    .or_default() += maps[i].pss;
            }
        }
    }
    out
}

/// Processes outside `group` that have WebKitGTK loaded: another app or test on this machine. PSS
/// divides each shared page among every process that maps it, so while they run the group's
/// PSS reads low (libwebkit2gtk and libLLVM alone are tens of MB).
pub fn others_mapping_webkit(group: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let in_group = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1.to_owned();
                after.split_whitespace().nth(2)?.parse::<u32>().ok()
            })
            == Some(group);
        if in_group {
            continue;
        }
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        // Loaded as a library (its code mapped executable), not a linker reading the file.
        let loaded = maps
            .lines()
            .any(|l| l.contains("libwebkit2gtk") && l.split_whitespace().nth(1) == Some("r-xp"));
        if loaded {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            found.push(format!("{} (pid {pid})", comm.trim()));
        }
    }
    found
}
