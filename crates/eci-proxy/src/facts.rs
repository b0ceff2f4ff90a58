//! The facts a mount decision needs, gathered from the host and the engine: where a mount's host
//! source really leads (cleaned, symlinks resolved), what named volumes and `VolumesFrom`
//! containers bring with them, and the engine's view of the image that will run.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use eci_policy::decide::{exposure, Exposure, ImageFacts};
use eci_policy::mounts::{self, clean_path, KernelFs, MountRef, MountSource, Surface};
use eci_policy::privileges::HostFlag;
use eci_policy::reference::Reference;
use eci_policy::settings::Policy;
use eci_policy::unreadable;
use serde_json::json;

use crate::error::ProxyError;
use crate::inspect::{self, ImageSummary};
use crate::upstream::{segment, Upstream};

/// Linux's own limit on symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;
/// At most this many local images are inspected as possible bases of a derived image.
const MAX_DERIVED_CANDIDATES: usize = 64;

/// Resolves `path` as the kernel would when the engine mounts it: lexically cleaned like Go's
/// `filepath.Clean`, then every symlink followed, including dangling ones and ones met in the
/// part of the path that does not exist yet. Whatever is missing is kept as written, so a path
/// the engine would create still resolves to where it would be created.
pub fn resolve_host(path: &str) -> String {
    let cleaned = clean_path(path);
    let mut pending: Vec<Vec<u8>> = components(&cleaned);
    pending.reverse();
    let mut resolved: PathBuf = PathBuf::from("/");
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        match comp.as_slice() {
            b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let next = resolved.join(OsStr::from_bytes(&comp));
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() && links < MAX_SYMLINKS => {
                links += 1;
                let Ok(target) = std::fs::read_link(&next) else {
                    resolved = next;
                    continue;
                };
                let target_bytes = target.as_os_str().as_bytes();
                if target_bytes.starts_with(b"/") {
                    resolved = PathBuf::from("/");
                }
                let mut more = components(&String::from_utf8_lossy(target_bytes));
                more.reverse();
                pending.extend(more);
            }
            _ => resolved = next,
        }
    }
    clean_path(&resolved.to_string_lossy())
}

fn components(path: &str) -> Vec<Vec<u8>> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(|c| c.as_bytes().to_vec())
        .collect()
}

/// The paths whose exposure matters, resolved on the host.
#[derive(Debug, Clone)]
pub struct Protected {
    /// Listening sockets, the engine socket, configured extra paths, and the filtered-socket
    /// directory (as a whole: mounting it would hand out every filtered socket).
    pub paths: Vec<String>,
    /// The filtered-socket directory; a source inside it is a filtered socket.
    pub filtered_dir: String,
    /// Host control sockets other than the engine's, and directories of them (also in `paths`):
    /// a source that is one, or is inside one of the directories, is denied for every image.
    pub control: Vec<String>,
}

/// Host control sockets protected by default beside the engine's own: each hands out the host to
/// whoever can write to it. Directories stand for every socket inside them (containerd's shim
/// sockets, plugin and network sockets, BuildKit's, podman's).
pub const HOST_CONTROL_SOCKETS: &[&str] = &[
    // containerd: main, ttrpc and debug sockets, shims; the engine's own managed containerd.
    "/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock.ttrpc",
    "/run/containerd/debug.sock",
    "/run/containerd/s",
    "/var/run/docker/containerd",
    // BuildKit.
    "/run/buildkit",
    // The engine's plugin and network (external key) sockets.
    "/run/docker/plugins",
    "/var/run/docker/plugins",
    "/run/docker/libnetwork",
    "/var/run/docker/libnetwork",
    // systemd's private bus and notify socket; the D-Bus system bus.
    "/run/systemd/private",
    "/run/systemd/notify",
    "/run/dbus/system_bus_socket",
    // podman.
    "/run/podman",
];

impl Protected {
    pub fn new(paths: impl IntoIterator<Item = PathBuf>, filtered_dir: &Path) -> Protected {
        let filtered_dir = resolve_host(&filtered_dir.to_string_lossy());
        let mut resolved: Vec<String> = Vec::new();
        for p in paths {
            let r = resolve_host(&p.to_string_lossy());
            if !resolved.contains(&r) {
                resolved.push(r);
            }
        }
        resolved.push(filtered_dir.clone());
        Protected {
            paths: resolved,
            filtered_dir,
            control: Vec::new(),
        }
    }

    /// Adds host control sockets (and directories of them), denied for every image.
    pub fn with_control<P: AsRef<Path>>(mut self, paths: impl IntoIterator<Item = P>) -> Protected {
        for p in paths {
            let r = resolve_host(&p.as_ref().to_string_lossy());
            if !self.control.contains(&r) {
                self.control.push(r.clone());
            }
            if !self.paths.contains(&r) {
                self.paths.push(r);
            }
        }
        self
    }

    /// The protected paths that exist on this machine now, each with what it is.
    pub fn present(&self) -> Vec<(String, &'static str)> {
        self.paths
            .iter()
            .filter(|p| Path::new(p.as_str()).exists())
            .map(|p| {
                let kind = if *p == self.filtered_dir {
                    "filtered sockets"
                } else if self.control.contains(p) {
                    "host control socket"
                } else {
                    "engine socket"
                };
                (p.clone(), kind)
            })
            .collect()
    }

    fn control_holding(&self, resolved: &str) -> Option<&String> {
        self.control.iter().find(|c| {
            resolved == c.as_str()
                || resolved
                    .strip_prefix(c.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Where a host path (already resolved) stands.
    pub fn classify(&self, resolved: &str) -> Option<Exposure> {
        // A procfs reaches every process's root (`/proc/1/root/run/docker.sock`), wherever it
        // is mounted: as good as mounting `/`.
        if on_procfs(resolved) {
            return self.paths.first().map(|socket| Exposure::Ancestor {
                dir: resolved.to_owned(),
                socket: socket.clone(),
            });
        }
        if resolved
            .strip_prefix(&self.filtered_dir)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        {
            return Some(Exposure::Filtered {
                socket: resolved.to_owned(),
            });
        }
        if let Some(c) = self.control_holding(resolved) {
            return Some(Exposure::Control { socket: c.clone() });
        }
        let found = exposure(resolved, &self.paths)
            .or_else(|| self.same_file(resolved))
            .or_else(|| self.alias_below(resolved));
        match found? {
            // Another name for a control socket or its directory.
            Exposure::Socket { socket } if self.control.contains(&socket) => {
                Some(Exposure::Control { socket })
            }
            // The directory of filtered sockets is no socket to filter: mounting it is like
            // mounting a directory that holds one.
            Exposure::Socket { socket } if socket == self.filtered_dir => {
                Some(Exposure::Ancestor {
                    dir: resolved.to_owned(),
                    socket,
                })
            }
            e => Some(e),
        }
    }

    /// A path can reach a protected socket under another name: a hard link to the socket, or a
    /// bind mount of the socket or of a directory above it (`mount --bind /run /srv/run`). Names
    /// differ, files do not: the source is the same file (device and inode) as the socket or as
    /// one of its directories. Stat'ed at each check, since the engine recreates its socket
    /// when it restarts.
    fn same_file(&self, resolved: &str) -> Option<Exposure> {
        let source = file_id(Path::new(resolved))?;
        self.paths.iter().find_map(|socket| {
            let mut at = Some(Path::new(socket.as_str()));
            let mut first = true;
            while let Some(p) = at {
                if file_id(p) == Some(source) {
                    return Some(if first {
                        Exposure::Socket {
                            socket: socket.clone(),
                        }
                    } else {
                        Exposure::Ancestor {
                            dir: resolved.to_owned(),
                            socket: socket.clone(),
                        }
                    });
                }
                first = false;
                at = p.parent();
            }
            None
        })
    }

    pub fn classify_host(&self, path: &str) -> Option<Exposure> {
        self.classify(&resolve_host(path))
    }

    /// A directory can hold another name for the socket further down: a mount point below it
    /// that is a bind mount of the socket or of a directory above it (`/srv` when `/srv/run` is
    /// `/run` bind-mounted). The engine's bind mount of the directory is recursive (`rbind`), so
    /// the container would see it. Every mount point below is judged by identity.
    fn alias_below(&self, resolved: &str) -> Option<Exposure> {
        if !Path::new(resolved).is_dir() {
            return None;
        }
        let dir = resolved.trim_end_matches('/');
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let found = mount_points(&mountinfo)
            .map(|(m, _)| m)
            .filter(|m| {
                m.strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .find_map(|m| match self.same_file(&m)? {
                Exposure::Socket { socket }
                | Exposure::Ancestor { socket, .. }
                | Exposure::Control { socket } => Some(Exposure::Ancestor {
                    dir: resolved.to_owned(),
                    socket,
                }),
                Exposure::Filtered { .. } => None,
            });
        found
    }
}

/// The mount points of a `/proc/<pid>/mountinfo`, each with its filesystem type.
fn mount_points(mountinfo: &str) -> impl Iterator<Item = (String, String)> + '_ {
    mount_table(mountinfo).map(|m| (m.point, m.fstype))
}

/// One line of a `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountLine {
    /// `major:minor` of the filesystem (the same numbers in every mount namespace).
    dev: String,
    /// The path within that filesystem that is mounted (a bind mount's source, as the kernel
    /// knows it: no name, link or alias can hide it).
    root: String,
    point: String,
    fstype: String,
}

/// Reads a mount table: fields 3 (device), 4 (root) and 5 (mount point), and the type after the
/// ` - ` separator. The kernel escapes space, tab, newline and backslash as three octal digits.
fn mount_table(mountinfo: &str) -> impl Iterator<Item = MountLine> + '_ {
    mountinfo.lines().filter_map(|line| {
        let mut fields = line.split(' ');
        let dev = fields.nth(2)?.to_owned();
        let root = unescape(fields.next()?)?;
        let point = unescape(fields.next()?)?;
        let fstype = line.split_once(" - ")?.1.split(' ').next()?.to_owned();
        Some(MountLine {
            dev,
            root,
            point,
            fstype,
        })
    })
}

fn unescape(field: &str) -> Option<String> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Where a host path lives for the kernel: its filesystem's device and its path within it, from
/// the host's mount table (the deepest mount holding it).
fn kernel_location(path: &str, host: &[MountLine]) -> Option<(String, String)> {
    let m = host
        .iter()
        .filter(|m| {
            m.point == "/"
                || path == m.point
                || path
                    .strip_prefix(m.point.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.point.len())?;
    let rest = path
        .strip_prefix(m.point.trim_end_matches('/'))
        .unwrap_or("");
    let within = format!("{}{rest}", m.root.trim_end_matches('/'));
    Some((
        m.dev.clone(),
        if within.is_empty() {
            "/".into()
        } else {
            within
        },
    ))
}

impl Protected {
    /// What the kernel actually mounted into the process `pid`'s mount namespace (a running
    /// container) that reaches a protected path, whatever names led there when it was judged:
    /// each mount's filesystem and root compared with each protected path's. The worst found.
    pub fn mounted_in(&self, pid: u32) -> Option<Exposure> {
        let host_text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let host: Vec<MountLine> = mount_table(&host_text).collect();
        let theirs = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
        let places: Vec<(&String, String, String)> = self
            .paths
            .iter()
            .filter_map(|p| kernel_location(p, &host).map(|(dev, within)| (p, dev, within)))
            .collect();
        let filtered = kernel_location(&self.filtered_dir, &host);
        let mut worst = None;
        for m in mount_table(&theirs) {
            let under = |within: &str| {
                within
                    .strip_prefix(m.root.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/'))
            };
            // A container's own filtered socket, bind-mounted from inside the directory.
            if filtered.as_ref().is_some_and(|(dev, within)| {
                *dev == m.dev && m.root.starts_with(&format!("{within}/"))
            }) {
                continue;
            }
            for (path, dev, within) in &places {
                if *dev != m.dev {
                    continue;
                }
                let e = if m.root == *within {
                    if **path == self.filtered_dir {
                        Exposure::Ancestor {
                            dir: m.point.clone(),
                            socket: (*path).clone(),
                        }
                    } else if self.control.contains(path) {
                        Exposure::Control {
                            socket: (*path).clone(),
                        }
                    } else {
                        Exposure::Socket {
                            socket: (*path).clone(),
                        }
                    }
                } else if m.root == "/" || under(within) {
                    Exposure::Ancestor {
                        dir: m.point.clone(),
                        socket: (*path).clone(),
                    }
                } else if self.control.contains(path) && m.root.starts_with(&format!("{within}/")) {
                    Exposure::Control {
                        socket: (*path).clone(),
                    }
                } else {
                    continue;
                };
                worst = Exposure::worst(worst, Some(e));
            }
        }
        worst
    }
}

/// A file's identity: its device and inode, whatever name reaches it.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// `PROC_SUPER_MAGIC` from `linux/magic.h`.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Kernel filesystems (magic numbers from `linux/magic.h`) whose files, written, control the host:
/// sysfs (`/sys/kernel/uevent_helper`), cgroups (`release_agent`), the debugging, tracing,
/// security, BPF, configuration, EFI and pstore filesystems, binfmt_misc.
const HOST_KERNEL_FS: &[(i64, &str)] = &[
    (0x6265_6572, "sysfs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0x6165_676c, "pstore"),
    (0x4249_4e4d, "binfmt_misc"),
    // The host's terminals: writable whatever the mount's flags, since writing to a device node
    // changes no file.
    (0x1cd1, "devpts"),
    (0x1980_0202, "mqueue"),
    (0x6573_5543, "fusectl"),
    (0x6e73_6673, "nsfs"),
];

/// Kernel filesystems whose files are written through a read-only mount all the same.
const WRITABLE_WHEN_READ_ONLY: &[&str] = &["devpts"];

/// The kernel filesystem a resolved host path is on (or would be created on), when it is one
/// whose files control the host.
pub fn host_kernel_fs(resolved: &str) -> Option<&'static str> {
    let magic = filesystem_type(resolved)?;
    HOST_KERNEL_FS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// The host privilege a bind gives when it exposes a writable kernel filesystem that controls the
/// host.
pub fn kernel_fs_flag(m: &MountRef) -> Option<HostFlag> {
    match &m.source {
        MountSource::Bind { path } => {
            kernel_fs_flag_at(&m.pointer, path, &resolve_host(path), m.read_only)
        }
        MountSource::Volume {
            bind_device: Some(device),
            ..
        } => kernel_fs_flag_at(&m.pointer, device, &resolve_host(device), m.read_only),
        _ => None,
    }
}

/// The host privilege a bind (or a volume's bind device) of `path` gives, if any.
fn kernel_fs_flag_at(
    pointer: &str,
    path: &str,
    resolved: &str,
    read_only: bool,
) -> Option<HostFlag> {
    let (point, fs) = writable_kernel_fs(resolved, read_only)?;
    Some(HostFlag {
        pointer: pointer.to_owned(),
        flag: format!("a bind of {path:?} with a writable {fs} at {point:?}"),
    })
}

/// Where a bind of `resolved` would give a container a writable kernel filesystem that controls
/// the host: the source itself (unless the bind is read-only), or any mount below it, since the
/// engine binds recursively and (20.10) makes only the top mount read-only. The mount point and
/// its filesystem.
pub fn writable_kernel_fs(resolved: &str, read_only: bool) -> Option<(String, &'static str)> {
    if let Some(fs) = host_kernel_fs(resolved) {
        if !read_only || WRITABLE_WHEN_READ_ONLY.contains(&fs) {
            return Some((resolved.to_owned(), fs));
        }
    }
    if !Path::new(resolved).is_dir() {
        return None;
    }
    let dir = resolved.trim_end_matches('/');
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let found = mount_points(&mountinfo).find_map(|(point, fstype)| {
        let below = point
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'));
        let fs = HOST_KERNEL_FS
            .iter()
            .map(|(_, name)| *name)
            .chain(std::iter::once("proc"))
            .find(|name| *name == fstype)?;
        below.then_some((point, fs))
    });
    found
}

/// The filesystem type of the path, or of the nearest existing directory above it.
fn filesystem_type(resolved: &str) -> Option<i64> {
    let mut p = Path::new(resolved);
    loop {
        match rustix::fs::statfs(p) {
            #[allow(clippy::unnecessary_cast)]
            Ok(fs) => return Some(fs.f_type as i64),
            Err(_) => p = p.parent()?,
        }
    }
}

/// Whether `resolved` is on a procfs: the path itself, or the nearest existing directory above it
/// (what the engine would create there would be on that procfs).
fn on_procfs(resolved: &str) -> bool {
    filesystem_type(resolved) == Some(PROC_SUPER_MAGIC)
}

/// The exposure of each mount of a request, in order.
pub async fn exposures(
    upstream: &Upstream,
    protected: &Protected,
    mounts: &[MountRef],
    kernel: KernelFs,
) -> Result<Vec<Option<Exposure>>, ProxyError> {
    Ok(gather(upstream, protected, mounts, kernel).await?.exposures)
}

/// What the mounts of a request lead to, and the facts that must not change before the engine
/// uses them.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The exposure of each mount, in order.
    pub exposures: Vec<Option<Exposure>>,
    /// For each `VolumesFrom` mount (by index), the full id of the container judged: the request
    /// is rewritten to name it, so a rename after the check cannot put another container there.
    pub volumes_from: Vec<(usize, String)>,
    /// Host privileges the mounts give: writable binds of kernel filesystems that control the
    /// host (`/sys`, `/sys/fs/cgroup`).
    pub host_flags: Vec<HostFlag>,
}

/// Gathers the facts of each mount: where a bind leads on the host; for a named volume, the
/// existing volume's options first (the engine reuses it and ignores the request's own), else the
/// request's; for `VolumesFrom`, every mount of that container.
pub async fn gather(
    upstream: &Upstream,
    protected: &Protected,
    mounts: &[MountRef],
    kernel: KernelFs,
) -> Result<Gathered, ProxyError> {
    let mut out = Gathered {
        exposures: Vec::with_capacity(mounts.len()),
        ..Gathered::default()
    };
    for (i, m) in mounts.iter().enumerate() {
        let e = match &m.source {
            MountSource::Bind { path } => {
                // Resolved once: the exposure and the kernel filesystem are judged on one walk.
                let resolved = resolve_host(path);
                out.host_flags
                    .extend(kernel_fs_flag_at(&m.pointer, path, &resolved, m.read_only));
                protected.classify(&resolved)
            }
            MountSource::Volume {
                name, bind_device, ..
            } => {
                let volume = (name.as_deref(), bind_device.as_ref());
                let (exposure, device) = volume_facts(upstream, protected, volume, kernel).await?;
                if let Some(device) = device {
                    let resolved = resolve_host(&device);
                    out.host_flags.extend(kernel_fs_flag_at(
                        &m.pointer,
                        &device,
                        &resolved,
                        m.read_only,
                    ));
                }
                exposure
            }
            MountSource::VolumesFrom { container: name } => {
                let Some(info) = container(upstream, name).await? else {
                    // Judged by name, the engine would resolve it later: a container made in
                    // between would be the one used. Refused as the engine would refuse it now.
                    return Err(ProxyError::Engine {
                        status: 404,
                        message: format!("No such container: {name}"),
                    });
                };
                out.volumes_from.push((i, info.id.clone()));
                let (_, exposures) = container_mounts(upstream, protected, &info, kernel).await?;
                exposures.into_iter().fold(None, Exposure::worst)
            }
        };
        out.exposures.push(e);
    }
    Ok(out)
}

/// Where a volume mount stands and the host path it binds: the existing volume's, else what the
/// request asks for (`(name, bind_device)`).
async fn volume_facts(
    upstream: &Upstream,
    protected: &Protected,
    (name, bind_device): (Option<&str>, Option<&String>),
    kernel: KernelFs,
) -> Result<(Option<Exposure>, Option<String>), ProxyError> {
    let existing = match name {
        Some(name) => existing_volume(upstream, protected, name, kernel).await?,
        None => None,
    };
    Ok(existing.unwrap_or_else(|| {
        (
            bind_device.and_then(|d| protected.classify_host(d)),
            bind_device.cloned(),
        )
    }))
}

/// A named volume that already exists is reused with its own options, whatever the request says;
/// a local volume created with bind options mounts its `device`. `None`: no such volume;
/// otherwise where it stands and the host path it binds.
async fn existing_volume(
    upstream: &Upstream,
    protected: &Protected,
    name: &str,
    kernel: KernelFs,
) -> Result<Option<VolumeSeen>, ProxyError> {
    let target = format!("/volumes/{}", segment(name).replace('/', "%2F"));
    let Some(vol) = upstream
        .fetch_optional::<inspect::Volume>(&target, &format!("volume {name:?}"))
        .await?
    else {
        return Ok(None);
    };
    let as_create = json!({
        "Name": vol.name,
        "Driver": vol.driver,
        "DriverOpts": vol.options,
    });
    match mounts::volume_create_under(&as_create, kernel) {
        Ok(v) => Ok(Some((
            v.bind_device
                .as_ref()
                .and_then(|d| protected.classify_host(d)),
            v.bind_device,
        ))),
        // Options the engine accepted but we cannot check (overlay, relative devices), or a
        // kernel filesystem: no container may use the volume while ECI is on.
        Err(e) => Err(ProxyError::Denied(unreadable::volume_denial(name, &e))),
    }
}

/// An existing volume: where it stands, and the host path it binds.
type VolumeSeen = (Option<Exposure>, Option<String>);

/// The engine's inspect of a container; `None` when there is no such container.
pub async fn container(
    upstream: &Upstream,
    name: &str,
) -> Result<Option<inspect::Container>, ProxyError> {
    let target = format!("/containers/{}/json", segment(name).replace('/', "%2F"));
    upstream
        .fetch_optional(&target, &format!("container {name:?}"))
        .await
}

/// The mounts an existing container gets when it starts (its `Mounts`, where the engine has
/// already expanded `VolumesFrom`), with where each stands now.
pub async fn container_mounts(
    upstream: &Upstream,
    protected: &Protected,
    info: &inspect::Container,
    kernel: KernelFs,
) -> Result<(Vec<MountRef>, Vec<Option<Exposure>>), ProxyError> {
    let mut mounts = Vec::new();
    let mut exposures = Vec::new();
    for (index, m) in info.mounts.iter().enumerate() {
        let source = m.source.clone();
        let (source, e) = match m.r#type.as_str() {
            "bind" => {
                let e = protected.classify_host(&source);
                (MountSource::Bind { path: source }, e)
            }
            "volume" => {
                let name = m.name.clone();
                let (e, bind_device) = match &name {
                    Some(n) => existing_volume(upstream, protected, n, kernel)
                        .await?
                        .unwrap_or((None, None)),
                    None => (None, None),
                };
                let driver = m.driver.clone();
                (
                    MountSource::Volume {
                        name,
                        driver,
                        bind_device,
                    },
                    e,
                )
            }
            _ => continue,
        };
        mounts.push(MountRef {
            surface: Surface::Mounts,
            index,
            pointer: format!("/Mounts/{index}"),
            source,
            target: m.destination.clone(),
            read_only: m.rw == Some(false),
        });
        exposures.push(e);
    }
    Ok((mounts, exposures))
}

/// The engine's inspect of a plugin; `None` when there is no such plugin.
pub async fn plugin(
    upstream: &Upstream,
    name: &str,
) -> Result<Option<inspect::Plugin>, ProxyError> {
    let target = format!("/plugins/{}/json", segment(name));
    upstream
        .fetch_optional(&target, &format!("plugin {name:?}"))
        .await
}

/// The host paths a plugin mounts when enabled (its settings and its config's defaults) and
/// where the worst of them stands.
pub fn plugin_exposure(
    protected: &Protected,
    plugin: &inspect::Plugin,
) -> Option<(String, Exposure)> {
    plugin
        .mount_sources
        .iter()
        .filter_map(|source| Some((source.clone(), protected.classify_host(source)?)))
        .max_by_key(|(_, e)| e.severity())
}

/// The engine's view of an image; `None` when the engine has no such image.
pub async fn image(upstream: &Upstream, name: &str) -> Result<Option<ImageFacts>, ProxyError> {
    let target = format!("/images/{}/json", segment(name));
    Ok(upstream
        .fetch_optional::<inspect::Image>(&target, &format!("image {name:?}"))
        .await?
        .map(|i| i.facts(name)))
}

/// The engine's answer when a create names an image it does not have, so the CLI pulls and
/// retries exactly as it does without the enforcer.
pub fn no_such_image(name: &str) -> ProxyError {
    let shown = Reference::parse_normalized(name)
        .map(|r| {
            if r.tag().is_none() && r.digest().is_none() {
                format!("{}:latest", r.repository().familiar())
            } else {
                name.to_owned()
            }
        })
        .unwrap_or_else(|_| name.to_owned());
    ProxyError::Engine {
        status: 404,
        message: format!("No such image: {shown}"),
    }
}

/// Local images that may be the allowed base of a derived image: those on a registry whose
/// repository an image-list entry names (or every one for `"*"`), with their layers.
pub async fn derived_bases(
    upstream: &Upstream,
    policy: &Policy,
    image: &ImageFacts,
) -> Result<Vec<ImageFacts>, ProxyError> {
    if !policy.allow_derived_images || !image.repo_digests.is_empty() || image.layers.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<ImageSummary> = upstream.fetch("/images/json", "the local images").await?;
    let mut bases = Vec::new();
    for summary in &list {
        if bases.len() >= MAX_DERIVED_CANDIDATES {
            break;
        }
        let id = summary.id.as_str();
        if id.is_empty() || id == image.id {
            continue;
        }
        let relevant = summary
            .repo_digests
            .iter()
            .filter_map(|rd| Reference::parse_normalized(rd).ok())
            .any(|r| policy.images.iter().any(|e| e.covers(r.repository())));
        if !relevant {
            continue;
        }
        let name = summary
            .repo_tags
            .first()
            .map(String::as_str)
            .filter(|t| *t != "<none>:<none>")
            .unwrap_or(id);
        let target = format!("/images/{}/json", segment(id));
        if let Some(base) = upstream
            .fetch_optional::<inspect::Image>(&target, "a base image")
            .await?
        {
            bases.push(base.facts(name));
        }
    }
    Ok(bases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_like_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let root = resolve_host(&dir.path().to_string_lossy());
        let sock = format!("{root}/run/docker.sock");
        std::fs::create_dir_all(format!("{root}/run")).unwrap();
        std::fs::write(&sock, b"").unwrap();
        symlink(format!("{root}/run"), format!("{root}/varrun")).unwrap();
        symlink(format!("{root}/run/docker.sock"), format!("{root}/link")).unwrap();
        symlink("run", format!("{root}/rel")).unwrap();
        std::fs::create_dir_all(format!("{root}/deep")).unwrap();
        symlink("../run", format!("{root}/deep/up")).unwrap();
        symlink(
            format!("{root}/run/missing/deeper"),
            format!("{root}/dangling"),
        )
        .unwrap();
        symlink(format!("{root}/loop2"), format!("{root}/loop1")).unwrap();
        symlink(format!("{root}/loop1"), format!("{root}/loop2")).unwrap();
        let cases: &[(&str, String)] = &[
            // Each of these reaches the socket; reading the path as written would miss it.
            ("varrun/docker.sock", sock.clone()),
            ("link", sock.clone()),
            ("sub/../rel/docker.sock", sock.clone()),
            ("rel/./docker.sock", sock.clone()),
            ("deep/up/docker.sock", sock.clone()),
            ("/varrun//docker.sock/", sock.clone()),
            ("varrun", format!("{root}/run")),
            // A missing tail keeps its spelling under the resolved prefix.
            ("varrun/nothing/here", format!("{root}/run/nothing/here")),
            // A dangling link resolves to where the engine would create the directory.
            ("dangling/x", format!("{root}/run/missing/deeper/x")),
        ];
        for (rel, want) in cases {
            let path = if rel.starts_with('/') {
                format!("{root}{rel}")
            } else {
                format!("{root}/{rel}")
            };
            assert_eq!(&resolve_host(&path), want, "{rel}");
        }
        // A symlink loop ends (the kernel gives ELOOP; the engine then fails the mount).
        let looped = resolve_host(&format!("{root}/loop1/x"));
        assert!(looped.starts_with(&root), "{looped}");
    }

    #[test]
    fn classifies_against_protected_paths() {
        let p = Protected {
            paths: vec!["/run/docker.sock".into(), "/state/filtered".into()],
            filtered_dir: "/state/filtered".into(),
            control: vec![],
        };
        let socket = || Exposure::Socket {
            socket: "/run/docker.sock".into(),
        };
        let cases: &[(&str, Option<Exposure>)] = &[
            ("/run/docker.sock", Some(socket())),
            (
                "/run",
                Some(Exposure::Ancestor {
                    dir: "/run".into(),
                    socket: "/run/docker.sock".into(),
                }),
            ),
            (
                "/",
                Some(Exposure::Ancestor {
                    dir: "/".into(),
                    socket: "/run/docker.sock".into(),
                }),
            ),
            (
                "/state/filtered",
                Some(Exposure::Ancestor {
                    dir: "/state/filtered".into(),
                    socket: "/state/filtered".into(),
                }),
            ),
            (
                "/state",
                Some(Exposure::Ancestor {
                    dir: "/state".into(),
                    socket: "/state/filtered".into(),
                }),
            ),
            (
                "/state/filtered/ab.sock",
                Some(Exposure::Filtered {
                    socket: "/state/filtered/ab.sock".into(),
                }),
            ),
            (
                "/proc",
                Some(Exposure::Ancestor {
                    dir: "/proc".into(),
                    socket: "/run/docker.sock".into(),
                }),
            ),
            (
                "/proc/1",
                Some(Exposure::Ancestor {
                    dir: "/proc/1".into(),
                    socket: "/run/docker.sock".into(),
                }),
            ),
            ("/run/docker.sock2", None),
            ("/run/docker", None),
            ("/home", None),
        ];
        for (path, want) in cases {
            assert_eq!(&p.classify(path), want, "{path}");
        }
    }

    #[test]
    fn reads_mount_points_with_their_escapes() {
        let info = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /proc rw - proc proc rw\n\
                    38 35 0:6 / /a\\134b\\011c rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_points(info).collect::<Vec<_>>(),
            vec![
                ("/mnt/with space".to_owned(), "ext3".to_owned()),
                ("/proc".to_owned(), "proc".to_owned()),
                ("/a\\b\tc".to_owned(), "tmpfs".to_owned())
            ]
        );
    }

    /// Other names for the socket or its directory: a hard link, and bind mounts (the tests run
    /// as root, as the engine they drive needs).
    #[test]
    fn other_names_for_a_socket_or_its_directory_are_caught() {
        use rustix::mount::{mount_bind, unmount, UnmountFlags};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["run/sub", "elsewhere", "alias-dir", "filtered"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let sock = root.join("run/sub/engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let _other =
            std::os::unix::net::UnixListener::bind(root.join("elsewhere/other.sock")).unwrap();
        std::fs::hard_link(&sock, root.join("elsewhere/link.sock")).unwrap();
        std::fs::write(root.join("alias-file"), b"").unwrap();
        std::fs::create_dir_all(root.join("holder/deeper/mnt")).unwrap();
        mount_bind(root.join("run"), root.join("alias-dir")).unwrap();
        mount_bind(root.join("run/sub"), root.join("holder/deeper/mnt")).unwrap();
        mount_bind(&sock, root.join("alias-file")).unwrap();
        let p = Protected::new([sock.clone()], &root.join("filtered"));
        let s = |p: &Path| resolve_host(&p.to_string_lossy());
        let socket = s(&sock);
        let ancestor = |d: &str| {
            Some(Exposure::Ancestor {
                dir: s(&root.join(d)),
                socket: socket.clone(),
            })
        };
        let cases: Vec<(&str, Option<Exposure>)> = vec![
            (
                "elsewhere/link.sock",
                Some(Exposure::Socket {
                    socket: socket.clone(),
                }),
            ),
            (
                "alias-file",
                Some(Exposure::Socket {
                    socket: socket.clone(),
                }),
            ),
            ("alias-dir", ancestor("alias-dir")),
            ("alias-dir/sub", ancestor("alias-dir/sub")),
            // A directory with an alias mounted further down.
            ("holder", ancestor("holder")),
            ("holder/deeper", ancestor("holder/deeper")),
            ("holder/deeper/mnt", ancestor("holder/deeper/mnt")),
            // The same names and kinds of file, but other files.
            ("elsewhere/other.sock", None),
            ("elsewhere", None),
            ("holder/deeper/unrelated", None),
        ];
        let got: Vec<_> = cases
            .iter()
            .map(|(rel, _)| p.classify_host(&root.join(rel).to_string_lossy()))
            .collect();
        let _ = unmount(root.join("holder/deeper/mnt"), UnmountFlags::DETACH);
        let _ = unmount(root.join("alias-file"), UnmountFlags::DETACH);
        let _ = unmount(root.join("alias-dir"), UnmountFlags::DETACH);
        for ((rel, want), got) in cases.iter().zip(got) {
            assert_eq!(&got, want, "{rel}");
        }
    }
}
