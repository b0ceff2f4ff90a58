//! Every mount a request body asks the engine for (container create, volume create, service
//! create and update), read with the engine's own rules, and the rewrite of a bind's source.
//!
//! Rules followed (moby 20.10): `runconfig` decoding (`ContainerConfigWrapper`), the Linux mount
//! parser (`volume/mounts/linux_parser.go`: `ParseMountRaw`, `validateMountConfigImpl`,
//! `ParseVolumesFrom`), `api/types/mount`, `daemon/volumes.go` `registerMountPoints`, the swarm
//! conversion (`daemon/cluster/convert/container.go`) and the local volume driver
//! (`volume/local/local_unix.go` with `moby/sys/mount`'s option flags). Fields are looked up with
//! [`field`](crate::gojson::field), so `binds`, `BINDS` and `Bindſ` are all `Binds`, as for the
//! engine. The behaviours below marked (seen) were checked against Debian's 20.10.24 engine.
//!
//! Where the engine takes a host path, and how it is reported:
//!
//! - `HostConfig.Binds`: `src:dst[:mode]`, split on the first three `:`. An absolute source is a
//!   bind of that host path; anything else is a named volume, and a lone `dst` an anonymous one
//!   (`/var/run/docker.sock` alone is an empty volume at that path, seen).
//! - `HostConfig.Mounts`: `Type` is matched exactly (`bind`, `volume`, `tmpfs`; anything else,
//!   `npipe` and `cluster` included, is an engine error on Linux). `tmpfs` takes no host path and
//!   is not reported.
//! - `HostConfig.VolumesFrom`: `container[:mode]`; the new container gets every mount of that
//!   container, binds included, so the caller must look that container's mounts up.
//! - The same three fields at the top level of the body: 20.10 still embeds a deprecated
//!   `*HostConfig` in its wrapper and uses it when `HostConfig` is absent or null (seen). Both places are
//!   reported always; a mount the engine then ignores costs at most a needless check.
//! - Volumes with driver options (`Mounts[].VolumeOptions.DriverConfig.Options`, volume create's
//!   `DriverOpts`, service mounts): the local driver mounts `device` at the volume's path with the
//!   flags in `o`, so `o` holding `bind` or `rbind` makes the volume a bind of `device`. Reported
//!   as `bind_device` whatever the driver is named, and also for any absolute `device` (a block
//!   device there cannot expose a socket, so checking it costs nothing). A relative bind device
//!   (resolved against the engine's working directory) and `overlay` (host directories named in
//!   `lowerdir`/`upperdir`/`workdir`) are refused as uncheckable.
//! - A named volume without options may already exist with bind options (created before the
//!   enforcer ran, or through another engine socket): the engine reuses it and ignores new
//!   options (seen), so the caller must inspect named volumes too.
//! - Service specs: `TaskTemplate.ContainerSpec.Mounts`. Swarm upper-cases `Type` with Go's
//!   `strings.ToUpper` (so `Bind`, `BIND` and `bınd` with a dotless i are binds) and an empty type
//!   is a bind (seen); `csi` and `cluster` are refused by this engine (seen).
//!
//! Other create-body fields checked and found not to matter for socket mounts: `Config.Volumes`
//! (anonymous volumes of `HostConfig.VolumeDriver`, no host path and no options);
//! `HostConfig.VolumeDriver` (only names the driver, reported with the volumes it applies to);
//! `HostConfig.Tmpfs` (tmpfs only); `HostConfig.Devices` (device nodes only: the engine skips
//! anything under `PathOnHost` that is not a character or block device, so a socket never
//! passes); `HostConfig.StorageOpt`, `LogConfig` (log drivers write framed records to their
//! address, they mount nothing). Outside mounts, `PidMode: host` with `CAP_SYS_PTRACE` or
//! `Privileged` reaches the host through `/proc/1/root`; that is a privilege question for the
//! policy, not a mount.

use serde_json::{Map, Value};

use crate::gojson::{field_entry, field_mut, pointer_push, BodyError};
use crate::settings::Policy;

/// The body field a mount came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    Binds,
    Mounts,
    VolumesFrom,
}

/// What the engine would mount from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host path, as given in the body (the engine cleans it with [`clean_path`] first).
    Bind { path: String },
    /// A volume: `name` is `None` for an anonymous one, `driver` `None` for the default
    /// (`local`). `bind_device` is the host path the volume's driver options mount from.
    Volume {
        name: Option<String>,
        driver: Option<String>,
        bind_device: Option<String>,
    },
    /// Every mount of another container, by name or id (prefix).
    VolumesFrom { container: String },
}

/// One mount of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRef {
    pub surface: Surface,
    /// Position in its array in the body.
    pub index: usize,
    /// JSON pointer to the element, with the keys as the body spells them (`/hostconfig/Binds/0`).
    pub pointer: String,
    pub source: MountSource,
    /// Path in the container, as given; empty for `VolumesFrom`.
    pub target: String,
    pub read_only: bool,
}

/// What `POST /containers/create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCreate {
    /// The image as given; empty when absent (the engine then refuses the request).
    pub image: String,
    pub mounts: Vec<MountRef>,
}

/// What `POST /volumes/create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCreate {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub bind_device: Option<String>,
}

/// What `POST /services/create` and `POST /services/{id}/update` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub image: Option<String>,
    pub mounts: Vec<MountRef>,
}

/// How a local volume of a kernel filesystem that exposes the host (procfs, sysfs, cgroups, …) is
/// read: refused as host access, or read as a plain volume where host access does not refuse
/// (ECI off, or host access audited for this request: it was recorded as audited, and the other
/// families still judge the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFs {
    Refuse,
    Accept,
}

impl KernelFs {
    pub fn under(policy: &Policy) -> KernelFs {
        if policy.eci_enabled && !policy.waived.host_access {
            KernelFs::Refuse
        } else {
            KernelFs::Accept
        }
    }
}

/// Reads a parsed container create body, kernel filesystem volumes refused.
pub fn container_create(body: &Value) -> Result<ContainerCreate, BodyError> {
    container_create_under(body, KernelFs::Refuse)
}

/// Reads a parsed container create body.
pub fn container_create_under(
    body: &Value,
    kernel: KernelFs,
) -> Result<ContainerCreate, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let image = string_field(top, "Image", "")?.unwrap_or_default();
    let inner = object_field(top, "HostConfig", "")?;

    // The engine copies a top-level VolumeDriver into the inner HostConfig when that has none.
    let mut volume_driver = None;
    for (hc, _) in inner.iter().chain(std::iter::once(&(top, String::new()))) {
        if volume_driver.is_none() {
            volume_driver = string_field(hc, "VolumeDriver", "")?.filter(|d| !d.is_empty());
        }
    }

    let mut mounts = Vec::new();
    for (hc, ptr) in inner.iter().chain(std::iter::once(&(top, String::new()))) {
        for (index, (p, v)) in array_field(hc, "Binds", ptr)?.into_iter().enumerate() {
            let raw = element_string(v, &p)?;
            mounts.push(bind_ref(raw, index, p, volume_driver.as_deref())?);
        }
        for (index, (p, v)) in array_field(hc, "Mounts", ptr)?.into_iter().enumerate() {
            if let Some(m) = container_mount(v, index, p, kernel)? {
                mounts.push(m);
            }
        }
        for (index, (p, v)) in array_field(hc, "VolumesFrom", ptr)?.into_iter().enumerate() {
            let raw = element_string(v, &p)?;
            let (container, read_only) = parse_volumes_from(raw).map_err(|r| invalid(&p, r))?;
            mounts.push(MountRef {
                surface: Surface::VolumesFrom,
                index,
                pointer: p,
                source: MountSource::VolumesFrom {
                    container: container.to_owned(),
                },
                target: String::new(),
                read_only,
            });
        }
    }
    Ok(ContainerCreate { image, mounts })
}

/// Reads a parsed volume create body (`VolumeCreateBody`: `Name`, `Driver`, `DriverOpts`), kernel
/// filesystem volumes refused.
pub fn volume_create(body: &Value) -> Result<VolumeCreate, BodyError> {
    volume_create_under(body, KernelFs::Refuse)
}

/// Reads a parsed volume create body.
pub fn volume_create_under(body: &Value, kernel: KernelFs) -> Result<VolumeCreate, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let name = string_field(top, "Name", "")?.filter(|s| !s.is_empty());
    let driver = string_field(top, "Driver", "")?.filter(|s| !s.is_empty());
    let opts = string_map_field(top, "DriverOpts", "")?;
    let bind_device = match opts {
        Some((p, opts)) => local_bind_device(&opts, &p, kernel)?,
        None => None,
    };
    Ok(VolumeCreate {
        name,
        driver,
        bind_device,
    })
}

/// Reads a parsed service spec (`TaskTemplate.ContainerSpec.{Image,Mounts}`), kernel filesystem
/// volumes refused.
pub fn service_spec(body: &Value) -> Result<ServiceSpec, BodyError> {
    service_spec_under(body, KernelFs::Refuse)
}

/// Reads a parsed service spec.
pub fn service_spec_under(body: &Value, kernel: KernelFs) -> Result<ServiceSpec, BodyError> {
    let top = object(body, "")?.ok_or_else(|| wrong("", "an object"))?;
    let Some((task, task_ptr)) = object_field(top, "TaskTemplate", "")? else {
        return Ok(ServiceSpec {
            image: None,
            mounts: Vec::new(),
        });
    };
    let Some((spec, spec_ptr)) = object_field(task, "ContainerSpec", &task_ptr)? else {
        return Ok(ServiceSpec {
            image: None,
            mounts: Vec::new(),
        });
    };
    let image = string_field(spec, "Image", &spec_ptr)?.filter(|s| !s.is_empty());
    let mut mounts = Vec::new();
    for (index, (p, v)) in array_field(spec, "Mounts", &spec_ptr)?
        .into_iter()
        .enumerate()
    {
        if let Some(m) = service_mount(v, index, p, kernel)? {
            mounts.push(m);
        }
    }
    Ok(ServiceSpec { image, mounts })
}

/// Points the bind `mount` (from [`container_create`] or [`service_spec`] on this same body) at
/// `new_source`, keeping its target, mode and options, and the key spellings of the body.
pub fn rewrite_source(
    body: &mut Value,
    mount: &MountRef,
    new_source: &str,
) -> Result<(), BodyError> {
    let refuse = |reason: &str| BodyError::Rewrite {
        pointer: mount.pointer.clone(),
        reason: reason.to_owned(),
    };
    let MountSource::Bind { path } = &mount.source else {
        return Err(refuse("only a bind mount has a host path to replace"));
    };
    if !new_source.starts_with('/') {
        return Err(refuse("the new source must be an absolute path"));
    }
    let element = body
        .pointer_mut(&mount.pointer)
        .ok_or_else(|| refuse("the body has no such element"))?;
    match mount.surface {
        Surface::Binds => {
            if new_source.contains(':') {
                return Err(refuse("a Binds source cannot contain ':'"));
            }
            let Value::String(raw) = element else {
                return Err(refuse("the element is not a Binds string"));
            };
            let parsed = parse_bind(raw).map_err(|r| refuse(&r))?;
            if parsed.source != path.as_str() {
                return Err(refuse("the element no longer holds this mount"));
            }
            let rewritten = format!("{new_source}{}", &raw[parsed.source.len()..]);
            let check = parse_bind(&rewritten).map_err(|r| refuse(&r))?;
            if check.target != parsed.target || check.mode != parsed.mode {
                return Err(refuse("the new source changes how the entry splits"));
            }
            *raw = rewritten;
        }
        Surface::Mounts => {
            let Value::Object(obj) = element else {
                return Err(refuse("the element is not a mount object"));
            };
            let source =
                field_mut(obj, "Source").ok_or_else(|| refuse("the mount has no Source"))?;
            if source.as_str() != Some(path.as_str()) {
                return Err(refuse("the element no longer holds this mount"));
            }
            *source = Value::String(new_source.to_owned());
        }
        Surface::VolumesFrom => return Err(refuse("volumes-from names a container, not a path")),
    }
    Ok(())
}

/// Go's `filepath.Clean` on Unix: the shortest lexically equal path. `..` is taken lexically,
/// as the engine does before it mounts; symlinks are the caller's to resolve afterwards.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

// ---- Binds and VolumesFrom strings (linux_parser.go) ----

struct ParsedBind<'a> {
    source: &'a str,
    target: &'a str,
    mode: &'a str,
}

fn bind_ref(
    raw: &str,
    index: usize,
    pointer: String,
    volume_driver: Option<&str>,
) -> Result<MountRef, BodyError> {
    let parsed = parse_bind(raw).map_err(|r| invalid(&pointer, r))?;
    let read_only = has_token(parsed.mode, "ro");
    let source = if parsed.source.starts_with('/') {
        MountSource::Bind {
            path: parsed.source.to_owned(),
        }
    } else {
        MountSource::Volume {
            name: Some(parsed.source.to_owned()).filter(|s| !s.is_empty()),
            driver: volume_driver.map(str::to_owned),
            bind_device: None,
        }
    };
    Ok(MountRef {
        surface: Surface::Binds,
        index,
        pointer,
        source,
        target: parsed.target.to_owned(),
        read_only,
    })
}

/// `ParseMountRaw` with the validation its `parseMountSpec(spec, false)` call makes.
fn parse_bind(raw: &str) -> Result<ParsedBind<'_>, String> {
    let spec_err = || format!("invalid volume specification: {raw:?}");
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(spec_err());
    }
    let parsed = match arr[..] {
        [target] => ParsedBind {
            source: "",
            target,
            mode: "",
        },
        // `/foo:rw` would be a volume with a mode, which the engine refuses.
        [_, second] if valid_mount_mode(second) => return Err(spec_err()),
        [source, target] => ParsedBind {
            source,
            target,
            mode: "",
        },
        [source, target, mode] => ParsedBind {
            source,
            target,
            mode,
        },
        _ => return Err(spec_err()),
    };
    if !valid_mount_mode(parsed.mode) {
        return Err(format!("invalid mode: {:?}", parsed.mode));
    }
    validate_target(parsed.target)?;
    let is_bind = parsed.source.starts_with('/');
    let has_propagation = tokens(parsed.mode).any(is_propagation);
    let has_copy_mode = tokens(parsed.mode).any(|o| o == "nocopy");
    if is_bind && has_copy_mode {
        return Err(format!(
            "{}: a bind mount takes no volume options",
            spec_err()
        ));
    }
    if !is_bind && has_propagation {
        return Err(format!(
            "{}: a volume takes no bind propagation",
            spec_err()
        ));
    }
    Ok(parsed)
}

/// `ParseVolumesFrom`: `container[:mode]`, no propagation or copy mode.
fn parse_volumes_from(raw: &str) -> Result<(&str, bool), String> {
    if raw.is_empty() {
        return Err("volumes-from specification cannot be an empty string".to_owned());
    }
    let (id, mode) = raw.split_once(':').unwrap_or((raw, ""));
    if !valid_mount_mode(mode)
        || tokens(mode).any(is_propagation)
        || tokens(mode).any(|o| o == "nocopy")
    {
        return Err(format!("invalid mode: {mode:?}"));
    }
    Ok((id, has_token(mode, "ro")))
}

/// `linuxValidMountMode`: comma-separated, at most one of each kind.
fn valid_mount_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in tokens(mode) {
        let kind = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            _ if is_propagation(o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[kind] += 1;
    }
    counts.iter().all(|&c| c <= 1)
}

fn is_propagation(o: &str) -> bool {
    matches!(
        o,
        "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
    )
}

fn tokens(mode: &str) -> impl Iterator<Item = &str> + Clone {
    mode.split(',')
}

fn has_token(mode: &str, token: &str) -> bool {
    tokens(mode).any(|o| o == token)
}

/// Target checks of `validateMountConfigImpl` (`\` counts as `/` there).
fn validate_target(target: &str) -> Result<(), String> {
    let slashed = target.replace('\\', "/");
    if target.is_empty() {
        return Err("the mount has no target".to_owned());
    }
    if clean_path(&slashed) == "/" {
        return Err("invalid specification: destination can't be '/'".to_owned());
    }
    if !slashed.starts_with('/') {
        return Err(format!(
            "invalid mount path: {target:?} mount path must be absolute"
        ));
    }
    Ok(())
}

// ---- Mount objects ----

/// Which kind of mount a `Mount` object is, once its type is read.
enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// `HostConfig.Mounts[i]`: the type is an exact string for the container API.
fn container_mount(
    v: &Value,
    index: usize,
    pointer: String,
    kernel: KernelFs,
) -> Result<Option<MountRef>, BodyError> {
    let obj =
        object(v, &pointer)?.ok_or_else(|| invalid(&pointer, "mount type unknown".to_owned()))?;
    let ty = string_field(obj, "Type", &pointer)?.unwrap_or_default();
    let kind = match ty.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        _ => return Err(invalid(&pointer, format!("mount type unknown: {ty:?}"))),
    };
    mount_object(obj, kind, Surface::Mounts, index, pointer, kernel)
}

/// A service's `ContainerSpec.Mounts[i]`: swarm upper-cases the type, and empty means bind.
fn service_mount(
    v: &Value,
    index: usize,
    pointer: String,
    kernel: KernelFs,
) -> Result<Option<MountRef>, BodyError> {
    let Some(obj) = object(v, &pointer)? else {
        // A null element decodes to the zero Mount: type "" (a bind) with no source.
        return Err(invalid(&pointer, "bind mount without a source".to_owned()));
    };
    let ty = string_field(obj, "Type", &pointer)?.unwrap_or_default();
    let kind = match go_to_upper(&ty).as_str() {
        "" | "BIND" => MountKind::Bind,
        "VOLUME" => MountKind::Volume,
        "TMPFS" => MountKind::Tmpfs,
        "NPIPE" => {
            return Err(BodyError::Unsupported {
                pointer,
                reason: "npipe mounts exist only on Windows engines".to_owned(),
            })
        }
        _ => return Err(invalid(&pointer, format!("invalid MountType: {ty:?}"))),
    };
    mount_object(obj, kind, Surface::Mounts, index, pointer, kernel)
}

/// Go's `strings.ToUpper` as far as it can produce ASCII: only `ı` and `ſ` outside ASCII
/// upper-case into it, so every other character can be left as it is for comparing to ASCII.
pub(crate) fn go_to_upper(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{131}' => 'I',
            '\u{17F}' => 'S',
            _ => c.to_ascii_uppercase(),
        })
        .collect()
}

fn mount_object(
    obj: &Map<String, Value>,
    kind: MountKind,
    surface: Surface,
    index: usize,
    pointer: String,
    kernel: KernelFs,
) -> Result<Option<MountRef>, BodyError> {
    let source = string_field(obj, "Source", &pointer)?.unwrap_or_default();
    let target = string_field(obj, "Target", &pointer)?.unwrap_or_default();
    let read_only = bool_field(obj, "ReadOnly", &pointer)?;
    let volume_options = object_field(obj, "VolumeOptions", &pointer)?;
    object_field(obj, "BindOptions", &pointer)?;
    let source = match kind {
        MountKind::Tmpfs => return Ok(None),
        MountKind::Bind => bind_source(source, &pointer)?,
        MountKind::Volume => volume_source(source, volume_options, kernel)?,
    };
    Ok(Some(MountRef {
        surface,
        index,
        pointer,
        source,
        target,
        read_only,
    }))
}

/// A `Mounts` entry's bind source: absolute, with `/` as its separator.
fn bind_source(source: String, pointer: &str) -> Result<MountSource, BodyError> {
    if source.is_empty() {
        return Err(invalid(pointer, "bind mount without a source".to_owned()));
    }
    if !source.replace('\\', "/").starts_with('/') {
        return Err(invalid(
            pointer,
            format!("invalid mount path: {source:?} mount path must be absolute"),
        ));
    }
    if !source.starts_with('/') {
        // Valid for the engine's check, yet mounted relative to its working directory.
        return Err(BodyError::Unsupported {
            pointer: pointer.to_owned(),
            reason: format!("bind source {source:?} uses '\\' as a path separator"),
        });
    }
    Ok(MountSource::Bind { path: source })
}

/// A `Mounts` entry's volume: its name (`source`), and the driver and local bind device its
/// `VolumeOptions` ask for.
fn volume_source(
    source: String,
    volume_options: Option<Located<'_>>,
    kernel: KernelFs,
) -> Result<MountSource, BodyError> {
    let mut driver = None;
    let mut bind_device = None;
    if let Some((vo, vo_ptr)) = volume_options {
        if let Some((dc, dc_ptr)) = object_field(vo, "DriverConfig", &vo_ptr)? {
            driver = string_field(dc, "Name", &dc_ptr)?.filter(|s| !s.is_empty());
            if let Some((opts_ptr, opts)) = string_map_field(dc, "Options", &dc_ptr)? {
                bind_device = local_bind_device(&opts, &opts_ptr, kernel)?;
            }
        }
    }
    Ok(MountSource::Volume {
        name: Some(source).filter(|s| !s.is_empty()),
        driver,
        bind_device,
    })
}

/// Kernel filesystems a local volume's `type` may name that expose the host rather than hold
/// data: procfs (`/proc/1/root` is the host's root), sysfs, cgroups (`release_agent`), the
/// kernel's debugging, tracing, security, BPF, EFI and configuration filesystems, devtmpfs (host
/// device nodes), devpts (the host's terminals without `newinstance`), binfmt_misc (interpreters
/// run as root), and the namespace and RPC pipe filesystems.
const HOST_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "devtmpfs",
    "debugfs",
    "tracefs",
    "securityfs",
    "bpf",
    "configfs",
    "efivarfs",
    "pstore",
    "fusectl",
    "binfmt_misc",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
    "autofs",
];

/// The host path a volume with these driver options mounts from, if it can be one.
///
/// Option keys are exact (a Go map). The local driver calls `mount(device, path, type, o)`;
/// `moby/sys/mount` turns the `o` items `bind`/`rbind` into `MS_BIND`, and then the kernel
/// ignores `type`. Matching here is looser (any case, trimmed, `type` too) so it can only
/// report more.
fn local_bind_device(
    opts: &[(&str, &str)],
    pointer: &str,
    kernel: KernelFs,
) -> Result<Option<String>, BodyError> {
    let get = |key: &str| opts.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| *v);
    let (device, o, ty) = (get("device"), get("o"), get("type"));
    let items = || o.split(',').map(str::trim);
    let overlay = ty.trim().eq_ignore_ascii_case("overlay")
        || items().any(|i| {
            let lower = i.to_ascii_lowercase();
            ["lowerdir=", "upperdir=", "workdir="]
                .iter()
                .any(|p| lower.starts_with(p))
        });
    if overlay {
        return Err(BodyError::Unsupported {
            pointer: pointer.to_owned(),
            reason: "an overlay volume mounts host directories named in its options; use a bind \
                     mount instead"
                .to_owned(),
        });
    }
    let is_bind = |s: &str| s.eq_ignore_ascii_case("bind") || s.eq_ignore_ascii_case("rbind");
    let binds = items().any(is_bind) || is_bind(ty.trim());
    // With MS_BIND the kernel ignores `type`; without it, a kernel filesystem is mounted fresh,
    // and these show the host (the engine's pid namespace, the host's sysfs and cgroups).
    let fs = ty.trim().to_ascii_lowercase();
    if !binds && kernel == KernelFs::Refuse && HOST_FILESYSTEMS.contains(&fs.as_str()) {
        return Err(BodyError::HostFilesystem {
            pointer: pointer.to_owned(),
            fs,
        });
    }
    if device.is_empty() || !(binds || device.starts_with('/')) {
        return Ok(None);
    }
    if !device.starts_with('/') {
        return Err(BodyError::Unsupported {
            pointer: pointer.to_owned(),
            reason: format!(
                "bind device {device:?} is relative to the engine's working directory; use an \
                 absolute path"
            ),
        });
    }
    Ok(Some(device.to_owned()))
}

// ---- typed reading: a wrong JSON type is a decode error for the engine ----

pub(crate) fn wrong(pointer: &str, expected: &'static str) -> BodyError {
    BodyError::WrongType {
        pointer: pointer.to_owned(),
        expected,
    }
}

fn invalid(pointer: &str, reason: String) -> BodyError {
    BodyError::InvalidMount {
        pointer: pointer.to_owned(),
        reason,
    }
}

/// An object, or `None` for null (Go leaves a struct pointer nil).
pub(crate) fn object<'a>(
    v: &'a Value,
    pointer: &str,
) -> Result<Option<&'a Map<String, Value>>, BodyError> {
    match v {
        Value::Object(o) => Ok(Some(o)),
        Value::Null => Ok(None),
        _ => Err(wrong(pointer, "an object")),
    }
}

/// An object found in a body, with its JSON pointer.
pub(crate) type Located<'a> = (&'a Map<String, Value>, String);

pub(crate) fn object_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    pointer: &str,
) -> Result<Option<Located<'a>>, BodyError> {
    let Some((key, v)) = field_entry(obj, name) else {
        return Ok(None);
    };
    let p = pointer_push(pointer, key);
    Ok(object(v, &p)?.map(|o| (o, p)))
}

pub(crate) fn string_field(
    obj: &Map<String, Value>,
    name: &str,
    pointer: &str,
) -> Result<Option<String>, BodyError> {
    match field_entry(obj, name) {
        None | Some((_, Value::Null)) => Ok(None),
        Some((_, Value::String(s))) => Ok(Some(s.clone())),
        Some((key, _)) => Err(wrong(&pointer_push(pointer, key), "a string")),
    }
}

pub(crate) fn bool_field(
    obj: &Map<String, Value>,
    name: &str,
    pointer: &str,
) -> Result<bool, BodyError> {
    match field_entry(obj, name) {
        None | Some((_, Value::Null)) => Ok(false),
        Some((_, Value::Bool(b))) => Ok(*b),
        Some((key, _)) => Err(wrong(&pointer_push(pointer, key), "true or false")),
    }
}

/// The elements of an array field with their pointers; null or absent is empty.
pub(crate) fn array_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    pointer: &str,
) -> Result<Vec<(String, &'a Value)>, BodyError> {
    match field_entry(obj, name) {
        None | Some((_, Value::Null)) => Ok(Vec::new()),
        Some((key, Value::Array(items))) => {
            let p = pointer_push(pointer, key);
            Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (pointer_push(&p, &i.to_string()), v))
                .collect())
        }
        Some((key, _)) => Err(wrong(&pointer_push(pointer, key), "an array")),
    }
}

/// A `[]string` element: null decodes to "".
pub(crate) fn element_string<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, BodyError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Null => Ok(""),
        _ => Err(wrong(pointer, "a string")),
    }
}

/// A `map[string]string` as pairs (keys are unique: [`crate::gojson::parse`] refuses duplicates).
pub(crate) type StringPairs<'a> = Vec<(&'a str, &'a str)>;

/// A `map[string]string` field with its pointer: values are strings, null decodes to "".
pub(crate) fn string_map_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    pointer: &str,
) -> Result<Option<(String, StringPairs<'a>)>, BodyError> {
    let Some((map, p)) = object_field(obj, name, pointer)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        out.push((k.as_str(), element_string(v, &pointer_push(&p, k))?));
    }
    Ok(Some((p, out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::{parse, Limits};
    use serde_json::json;

    const SOCK: &str = "/var/run/docker.sock";

    fn bind(path: &str) -> MountSource {
        MountSource::Bind { path: path.into() }
    }

    fn vol(name: Option<&str>, driver: Option<&str>, device: Option<&str>) -> MountSource {
        MountSource::Volume {
            name: name.map(Into::into),
            driver: driver.map(Into::into),
            bind_device: device.map(Into::into),
        }
    }

    fn mref(
        surface: Surface,
        index: usize,
        pointer: &str,
        source: MountSource,
        target: &str,
        read_only: bool,
    ) -> MountRef {
        MountRef {
            surface,
            index,
            pointer: pointer.into(),
            source,
            target: target.into(),
            read_only,
        }
    }

    fn create(body: &str) -> Result<ContainerCreate, BodyError> {
        container_create(&parse(body.as_bytes(), &Limits::default()).expect("body parses"))
    }

    /// Each case is a body whose socket mount would slip through a reader without the rule.
    #[test]
    fn container_create_finds_every_mount() {
        use Surface::*;
        let cases: Vec<(&str, String, Vec<MountRef>)> = vec![
            (
                "HostConfig.Binds",
                format!(r#"{{"Image":"x","HostConfig":{{"Binds":["{SOCK}:{SOCK}"]}}}}"#),
                vec![mref(Binds, 0, "/HostConfig/Binds/0", bind(SOCK), SOCK, false)],
            ),
            (
                "lower-case keys",
                format!(r#"{{"hostconfig":{{"binds":["{SOCK}:/s"]}}}}"#),
                vec![mref(Binds, 0, "/hostconfig/binds/0", bind(SOCK), "/s", false)],
            ),
            (
                "upper-case keys",
                format!(r#"{{"HOSTCONFIG":{{"BINDS":["{SOCK}:/s"]}}}}"#),
                vec![mref(Binds, 0, "/HOSTCONFIG/BINDS/0", bind(SOCK), "/s", false)],
            ),
            (
                "long s in both keys",
                format!("{{\"Ho\u{17F}tConfig\":{{\"Bind\u{17F}\":[\"{SOCK}:/s\"]}}}}"),
                vec![mref(
                    Binds,
                    0,
                    "/Ho\u{17F}tConfig/Bind\u{17F}/0",
                    bind(SOCK),
                    "/s",
                    false,
                )],
            ),
            (
                "escaped key",
                format!(r#"{{"HostConfig":{{"\u0042inds":["{SOCK}:/s"]}}}}"#),
                vec![mref(Binds, 0, "/HostConfig/Binds/0", bind(SOCK), "/s", false)],
            ),
            (
                "top-level Binds (deprecated embedded HostConfig)",
                format!(r#"{{"Image":"x","Binds":["{SOCK}:/s"]}}"#),
                vec![mref(Binds, 0, "/Binds/0", bind(SOCK), "/s", false)],
            ),
            (
                "top-level Binds beside a null HostConfig",
                format!(r#"{{"HostConfig":null,"binds":["{SOCK}:/s"]}}"#),
                vec![mref(Binds, 0, "/binds/0", bind(SOCK), "/s", false)],
            ),
            (
                "top-level and inner both reported",
                format!(r#"{{"HostConfig":{{"Binds":["/tmp:/t"]}},"Binds":["{SOCK}:/s"]}}"#),
                vec![
                    mref(Binds, 0, "/HostConfig/Binds/0", bind("/tmp"), "/t", false),
                    mref(Binds, 0, "/Binds/0", bind(SOCK), "/s", false),
                ],
            ),
            (
                "modes :ro, :z, :rw,Z and propagation",
                format!(
                    r#"{{"HostConfig":{{"Binds":["{SOCK}:/a:ro","{SOCK}:/b:z","{SOCK}:/c:rw,Z","/var/run:/d:ro,rshared"]}}}}"#
                ),
                vec![
                    mref(Binds, 0, "/HostConfig/Binds/0", bind(SOCK), "/a", true),
                    mref(Binds, 1, "/HostConfig/Binds/1", bind(SOCK), "/b", false),
                    mref(Binds, 2, "/HostConfig/Binds/2", bind(SOCK), "/c", false),
                    mref(Binds, 3, "/HostConfig/Binds/3", bind("/var/run"), "/d", true),
                ],
            ),
            (
                "unclean source kept as given",
                r#"{"HostConfig":{"Binds":["/var//run/../run/./docker.sock:/s"]}}"#.to_owned(),
                vec![mref(
                    Binds,
                    0,
                    "/HostConfig/Binds/0",
                    bind("/var//run/../run/./docker.sock"),
                    "/s",
                    false,
                )],
            ),
            (
                "named volume gets the VolumeDriver, from the top level too",
                r#"{"VolumeDriver":"vd","HostConfig":{"Binds":["data:/d"]}}"#.to_owned(),
                vec![mref(
                    Binds,
                    0,
                    "/HostConfig/Binds/0",
                    vol(Some("data"), Some("vd"), None),
                    "/d",
                    false,
                )],
            ),
            (
                "a lone path is an anonymous volume at that target, not a bind",
                format!(r#"{{"HostConfig":{{"Binds":["{SOCK}"]}}}}"#),
                vec![mref(Binds, 0, "/HostConfig/Binds/0", vol(None, None, None), SOCK, false)],
            ),
            (
                "a relative source is a volume name",
                r#"{"HostConfig":{"Binds":["var/run/docker.sock:/s"]}}"#.to_owned(),
                vec![mref(
                    Binds,
                    0,
                    "/HostConfig/Binds/0",
                    vol(Some("var/run/docker.sock"), None, None),
                    "/s",
                    false,
                )],
            ),
            (
                "Mounts bind with lower-case keys",
                format!(
                    r#"{{"HostConfig":{{"mounts":[{{"type":"bind","source":"{SOCK}","target":"/s","readonly":true}}]}}}}"#
                ),
                vec![mref(Mounts, 0, "/HostConfig/mounts/0", bind(SOCK), "/s", true)],
            ),
            (
                "Mounts tmpfs is skipped, indexes stay those of the array",
                format!(
                    r#"{{"HostConfig":{{"Mounts":[{{"Type":"tmpfs","Target":"/t"}},{{"Type":"bind","Source":"{SOCK}","Target":"/s"}}]}}}}"#
                ),
                vec![mref(Mounts, 1, "/HostConfig/Mounts/1", bind(SOCK), "/s", false)],
            ),
            (
                "Mounts volume, local driver, o=bind",
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/var/run"}}}}]}}"#.to_owned(),
                vec![mref(
                    Mounts,
                    0,
                    "/HostConfig/Mounts/0",
                    vol(Some("v"), Some("local"), Some("/var/run")),
                    "/s",
                    false,
                )],
            ),
            (
                "Mounts volume, o=rbind,ro, no driver named",
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/s","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"rbind,ro","device":"/run"}}}}]}}"#.to_owned(),
                vec![mref(
                    Mounts,
                    0,
                    "/HostConfig/Mounts/0",
                    vol(None, None, Some("/run")),
                    "/s",
                    false,
                )],
            ),
            (
                "Mounts volume, o=ro,bind with a plugin driver name",
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Name":"other","Options":{"type":"ext4","o":"ro,bind","device":"/var/run/docker.sock"}}}}]}}"#.to_owned(),
                vec![mref(
                    Mounts,
                    0,
                    "/HostConfig/Mounts/0",
                    vol(Some("v"), Some("other"), Some(SOCK)),
                    "/s",
                    false,
                )],
            ),
            (
                "Mounts volume, nfs device is not a host path",
                r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Options":{"type":"nfs","o":"addr=10.0.0.1,rw","device":":/export"}}}}]}}"#.to_owned(),
                vec![mref(Mounts, 0, "/HostConfig/Mounts/0", vol(Some("v"), None, None), "/s", false)],
            ),
            (
                "VolumesFrom with :ro and without mode",
                r#"{"HostConfig":{"VolumesFrom":["sockholder:ro","other"]}}"#.to_owned(),
                vec![
                    mref(
                        VolumesFrom,
                        0,
                        "/HostConfig/VolumesFrom/0",
                        MountSource::VolumesFrom {
                            container: "sockholder".into(),
                        },
                        "",
                        true,
                    ),
                    mref(
                        VolumesFrom,
                        1,
                        "/HostConfig/VolumesFrom/1",
                        MountSource::VolumesFrom {
                            container: "other".into(),
                        },
                        "",
                        false,
                    ),
                ],
            ),
            (
                "null fields decode to nothing",
                r#"{"HostConfig":{"Binds":null,"Mounts":null,"VolumesFrom":null}}"#.to_owned(),
                vec![],
            ),
        ];
        for (name, body, want) in cases {
            let got = create(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.mounts, want, "{name}");
        }
    }

    #[test]
    fn image_is_read_case_insensitively() {
        assert_eq!(create(r#"{"iMaGe":"busybox"}"#).unwrap().image, "busybox");
        assert_eq!(create(r#"{"Image":null}"#).unwrap().image, "");
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Invalid,
        WrongType,
        Unsupported,
    }

    /// What the engine refuses is refused, so nothing is read one way here and another there.
    #[test]
    fn container_create_refusals() {
        let b0 = "/HostConfig/Binds/0";
        let m0 = "/HostConfig/Mounts/0";
        let cases: Vec<(&str, String, Want, &str)> = vec![
            ("mode as second part", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:ro"]}}}}"#), Want::Invalid, b0),
            ("empty second part", r#"{"HostConfig":{"Binds":["data:"]}}"#.into(), Want::Invalid, b0),
            ("four parts", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:/s:ro:x"]}}}}"#), Want::Invalid, b0),
            ("empty source", r#"{"HostConfig":{"Binds":[":/s"]}}"#.into(), Want::Invalid, b0),
            ("empty string", r#"{"HostConfig":{"Binds":[""]}}"#.into(), Want::Invalid, b0),
            ("null element is an empty string", r#"{"HostConfig":{"Binds":[null]}}"#.into(), Want::Invalid, b0),
            ("two rw modes", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:/s:rw,ro"]}}}}"#), Want::Invalid, b0),
            ("unknown mode", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:/s:RO"]}}}}"#), Want::Invalid, b0),
            ("volume with propagation", r#"{"HostConfig":{"Binds":["v:/s:rshared"]}}"#.into(), Want::Invalid, b0),
            ("bind with nocopy", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:/s:nocopy"]}}}}"#), Want::Invalid, b0),
            ("target is root", r#"{"HostConfig":{"Binds":["/var/run:/"]}}"#.into(), Want::Invalid, b0),
            ("relative target", format!(r#"{{"HostConfig":{{"Binds":["{SOCK}:s"]}}}}"#), Want::Invalid, b0),
            ("empty target", r#"{"HostConfig":{"Binds":["/s::ro"]}}"#.into(), Want::Invalid, b0),
            ("Binds as a string", format!(r#"{{"HostConfig":{{"Binds":"{SOCK}:/s"}}}}"#), Want::WrongType, "/HostConfig/Binds"),
            ("Binds element a number", r#"{"HostConfig":{"Binds":[1]}}"#.into(), Want::WrongType, b0),
            ("HostConfig an array", r#"{"HostConfig":[]}"#.into(), Want::WrongType, "/HostConfig"),
            ("body an array", "[]".into(), Want::WrongType, ""),
            ("body null", "null".into(), Want::WrongType, ""),
            ("Image a number", r#"{"Image":1}"#.into(), Want::WrongType, "/Image"),
            ("Mounts type is exact: Bind", format!(r#"{{"HostConfig":{{"Mounts":[{{"Type":"Bind","Source":"{SOCK}","Target":"/s"}}]}}}}"#), Want::Invalid, m0),
            ("Mounts type empty", format!(r#"{{"HostConfig":{{"Mounts":[{{"Source":"{SOCK}","Target":"/s"}}]}}}}"#), Want::Invalid, m0),
            ("Mounts type npipe", format!(r#"{{"HostConfig":{{"Mounts":[{{"Type":"npipe","Source":"{SOCK}","Target":"/s"}}]}}}}"#), Want::Invalid, m0),
            ("Mounts type cluster", r#"{"HostConfig":{"Mounts":[{"Type":"cluster","Source":"v","Target":"/s"}]}}"#.into(), Want::Invalid, m0),
            ("Mounts null element", r#"{"HostConfig":{"Mounts":[null]}}"#.into(), Want::Invalid, m0),
            ("Mounts bind without source", r#"{"HostConfig":{"Mounts":[{"Type":"bind","Target":"/s"}]}}"#.into(), Want::Invalid, m0),
            ("Mounts bind relative source", r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"var/run","Target":"/s"}]}}"#.into(), Want::Invalid, m0),
            ("Mounts bind backslash source", r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"\\var\\run","Target":"/s"}]}}"#.into(), Want::Unsupported, m0),
            ("Mounts ReadOnly a string", format!(r#"{{"HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{SOCK}","Target":"/s","ReadOnly":"true"}}]}}}}"#), Want::WrongType, "/HostConfig/Mounts/0/ReadOnly"),
            ("Mounts Source a number", r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":1,"Target":"/s"}]}}"#.into(), Want::WrongType, "/HostConfig/Mounts/0/Source"),
            ("driver option a number", r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Options":{"device":1}}}}]}}"#.into(), Want::WrongType, "/HostConfig/Mounts/0/VolumeOptions/DriverConfig/Options/device"),
            ("overlay volume", r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Options":{"type":"overlay","device":"overlay","o":"lowerdir=/var/run,upperdir=/u,workdir=/w"}}}}]}}"#.into(), Want::Unsupported, "/HostConfig/Mounts/0/VolumeOptions/DriverConfig/Options"),
            ("relative bind device", r#"{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","device":"var/run","o":"bind"}}}}]}}"#.into(), Want::Unsupported, "/HostConfig/Mounts/0/VolumeOptions/DriverConfig/Options"),
            ("VolumesFrom empty", r#"{"HostConfig":{"VolumesFrom":[""]}}"#.into(), Want::Invalid, "/HostConfig/VolumesFrom/0"),
            ("VolumesFrom propagation", r#"{"HostConfig":{"VolumesFrom":["c:rshared"]}}"#.into(), Want::Invalid, "/HostConfig/VolumesFrom/0"),
            ("VolumesFrom nocopy", r#"{"HostConfig":{"VolumesFrom":["c:nocopy"]}}"#.into(), Want::Invalid, "/HostConfig/VolumesFrom/0"),
            ("top-level Binds checked too", r#"{"HostConfig":{},"Binds":["/a:ro"]}"#.into(), Want::Invalid, "/Binds/0"),
        ];
        for (name, body, want, at) in cases {
            match create(&body) {
                Err(e) => {
                    let (kind, pointer) = match &e {
                        BodyError::InvalidMount { pointer, .. } => (Want::Invalid, pointer),
                        BodyError::WrongType { pointer, .. } => (Want::WrongType, pointer),
                        BodyError::Unsupported { pointer, .. } => (Want::Unsupported, pointer),
                        other => panic!("{name}: {other:?}"),
                    };
                    assert_eq!((kind, pointer.as_str()), (want, at), "{name}: {e}");
                }
                Ok(c) => panic!("{name}: accepted {c:?}"),
            }
        }
    }

    #[test]
    fn volume_create_reads_local_bind_options() {
        let cases: Vec<(&str, Value, Result<VolumeCreate, &str>)> = vec![
            (
                "o=bind",
                json!({"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/var/run"}}),
                Ok(VolumeCreate {
                    name: Some("v".into()),
                    driver: Some("local".into()),
                    bind_device: Some("/var/run".into()),
                }),
            ),
            (
                "lower-case field names, no driver named",
                json!({"name":"v","driveropts":{"type":"none","o":"rbind","device":SOCK}}),
                Ok(VolumeCreate {
                    name: Some("v".into()),
                    driver: None,
                    bind_device: Some(SOCK.into()),
                }),
            ),
            (
                "type bind without o",
                json!({"DriverOpts":{"type":"bind","device":"/run"}}),
                Ok(VolumeCreate {
                    name: None,
                    driver: None,
                    bind_device: Some("/run".into()),
                }),
            ),
            (
                "absolute device of another filesystem type",
                json!({"DriverOpts":{"type":"ext4","device":"/dev/sdb1"}}),
                Ok(VolumeCreate {
                    name: None,
                    driver: None,
                    bind_device: Some("/dev/sdb1".into()),
                }),
            ),
            (
                "o spelled with spaces and capitals",
                json!({"DriverOpts":{"type":"none","o":"ro, BIND","device":"/run"}}),
                Ok(VolumeCreate {
                    name: None,
                    driver: None,
                    bind_device: Some("/run".into()),
                }),
            ),
            (
                "plain volume",
                json!({"Name":"v"}),
                Ok(VolumeCreate {
                    name: Some("v".into()),
                    driver: None,
                    bind_device: None,
                }),
            ),
            (
                "tmpfs volume",
                json!({"DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=100m"}}),
                Ok(VolumeCreate {
                    name: None,
                    driver: None,
                    bind_device: None,
                }),
            ),
            (
                "DriverOpts an array",
                json!({"DriverOpts":[]}),
                Err("/DriverOpts"),
            ),
            ("Name a number", json!({"Name":1}), Err("/Name")),
            (
                "overlay",
                json!({"DriverOpts":{"type":"overlay","device":"overlay","o":"lowerdir=/run"}}),
                Err("/DriverOpts"),
            ),
        ];
        for (name, body, want) in cases {
            match (volume_create(&body), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
                (Err(e), Err(p)) => assert!(
                    matches!(&e, BodyError::WrongType { pointer, .. } | BodyError::Unsupported { pointer, .. } if pointer == p),
                    "{name}: {e:?}"
                ),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn service_spec_mounts() {
        let spec = |mounts: Value| json!({"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"img","Mounts":mounts}}});
        let p0 = "/TaskTemplate/ContainerSpec/Mounts/0";
        type Case = (&'static str, Value, Result<Vec<MountRef>, &'static str>);
        let cases: Vec<Case> = vec![
            (
                "empty type is a bind in swarm",
                spec(json!([{"Source":SOCK,"Target":"/s"}])),
                Ok(vec![mref(Surface::Mounts, 0, p0, bind(SOCK), "/s", false)]),
            ),
            (
                "type is upper-cased: BIND",
                spec(json!([{"Type":"BIND","Source":SOCK,"Target":"/s","ReadOnly":true}])),
                Ok(vec![mref(Surface::Mounts, 0, p0, bind(SOCK), "/s", true)]),
            ),
            (
                "dotless i upper-cases to I",
                spec(json!([{"Type":"b\u{131}nd","Source":SOCK,"Target":"/s"}])),
                Ok(vec![mref(Surface::Mounts, 0, p0, bind(SOCK), "/s", false)]),
            ),
            (
                "volume with bind options",
                spec(
                    json!([{"Type":"Volume","Source":"v","Target":"/s","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/var/run"}}}}]),
                ),
                Ok(vec![mref(
                    Surface::Mounts,
                    0,
                    p0,
                    vol(Some("v"), Some("local"), Some("/var/run")),
                    "/s",
                    false,
                )]),
            ),
            (
                "tmpfs skipped",
                spec(json!([{"Type":"tmpfs","Target":"/t"}])),
                Ok(vec![]),
            ),
            (
                "npipe refused",
                spec(json!([{"Type":"npipe","Source":SOCK,"Target":"/s"}])),
                Err(p0),
            ),
            (
                "unknown type refused",
                spec(json!([{"Type":"bindx","Source":SOCK,"Target":"/s"}])),
                Err(p0),
            ),
            (
                "null element is a bind without source",
                spec(json!([null])),
                Err(p0),
            ),
            (
                "bind without source",
                spec(json!([{"Target":"/s"}])),
                Err(p0),
            ),
            (
                "Mounts an object",
                spec(json!({"Source":SOCK})),
                Err("/TaskTemplate/ContainerSpec/Mounts"),
            ),
        ];
        for (name, body, want) in cases {
            match (service_spec(&body), want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.mounts, want, "{name}");
                    assert_eq!(got.image.as_deref(), Some("img"), "{name}");
                }
                (Err(e), Err(p)) => assert!(
                    matches!(&e, BodyError::WrongType { pointer, .. } | BodyError::InvalidMount { pointer, .. } | BodyError::Unsupported { pointer, .. } if pointer == p),
                    "{name}: {e:?}"
                ),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn service_spec_keys_fold_and_absent_parts() {
        let body = json!({"ta\u{17F}\u{212A}template":{"containerspec":{"image":"i","mounts":[{"source":SOCK,"target":"/s"}]}}});
        let got = service_spec(&body).unwrap();
        assert_eq!(got.image.as_deref(), Some("i"));
        assert_eq!(
            got.mounts,
            vec![mref(
                Surface::Mounts,
                0,
                "/ta\u{17F}\u{212A}template/containerspec/mounts/0",
                bind(SOCK),
                "/s",
                false
            )]
        );
        let none = ServiceSpec {
            image: None,
            mounts: vec![],
        };
        assert_eq!(service_spec(&json!({"Name":"s"})).unwrap(), none);
        assert_eq!(
            service_spec(&json!({"TaskTemplate":{"ContainerSpec":null}})).unwrap(),
            none
        );
    }

    #[test]
    fn rewrite_source_round_trip() {
        const NEW: &str = "/run/eci-guard/filtered/abc.sock";
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "Binds keeps target and mode",
                json!({"HostConfig":{"Binds":["/tmp:/t", format!("{SOCK}:/var/run/docker.sock:ro,z")]}}),
                json!({"HostConfig":{"Binds":["/tmp:/t", format!("{NEW}:/var/run/docker.sock:ro,z")]}}),
            ),
            (
                "top-level Binds",
                json!({"Binds":[format!("{SOCK}:/s")]}),
                json!({"Binds":[format!("{NEW}:/s")]}),
            ),
            (
                "Mounts keeps the body's key spelling and options",
                json!({"hostconfig":{"mounts":[{"type":"bind","source":SOCK,"target":"/s","BindOptions":{"Propagation":"rslave"}}]}}),
                json!({"hostconfig":{"mounts":[{"type":"bind","source":NEW,"target":"/s","BindOptions":{"Propagation":"rslave"}}]}}),
            ),
        ];
        for (name, mut body, want) in cases {
            let found = container_create(&body).unwrap().mounts;
            for m in found.iter().filter(|m| m.source == bind(SOCK)) {
                rewrite_source(&mut body, m, NEW).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            assert_eq!(body, want, "{name}");
            let again = container_create(&body).unwrap().mounts;
            assert_eq!(again.len(), found.len(), "{name}");
            for (a, b) in again.iter().zip(&found) {
                assert_eq!((&a.target, a.read_only), (&b.target, b.read_only), "{name}");
                if b.source == bind(SOCK) {
                    assert_eq!(a.source, bind(NEW), "{name}");
                }
            }
        }

        let mut svc =
            json!({"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Source":SOCK,"Target":"/s"}]}}});
        let m = service_spec(&svc).unwrap().mounts.remove(0);
        rewrite_source(&mut svc, &m, NEW).unwrap();
        assert_eq!(service_spec(&svc).unwrap().mounts[0].source, bind(NEW));
    }

    #[test]
    fn rewrite_source_refusals() {
        let body = json!({"HostConfig":{
            "Binds":[format!("{SOCK}:/s"), "v:/v"],
            "VolumesFrom":["c"],
            "Mounts":[{"Type":"bind","Source":SOCK,"Target":"/m"}]}});
        let mounts = container_create(&body).unwrap().mounts;
        let (bind0, volume, mount, from) = (&mounts[0], &mounts[1], &mounts[2], &mounts[3]);
        let cases: Vec<(&str, &MountRef, &str, Value)> = vec![
            ("relative new source", bind0, "run/x.sock", body.clone()),
            ("colon in a Binds source", bind0, "/run/a:b", body.clone()),
            ("volume has no path", volume, "/run/x.sock", body.clone()),
            (
                "volumes-from has no path",
                from,
                "/run/x.sock",
                body.clone(),
            ),
            (
                "stale Binds element",
                bind0,
                "/run/x.sock",
                json!({"HostConfig":{"Binds":["/tmp:/s"]}}),
            ),
            (
                "stale Mounts element",
                mount,
                "/run/x.sock",
                json!({"HostConfig":{"Binds":[], "VolumesFrom":[], "Mounts":[{"Type":"bind","Source":"/tmp","Target":"/m"}]}}),
            ),
            ("missing element", mount, "/run/x.sock", json!({})),
        ];
        for (name, m, new, mut b) in cases {
            let before = b.clone();
            assert!(
                matches!(
                    rewrite_source(&mut b, m, new),
                    Err(BodyError::Rewrite { .. })
                ),
                "{name}"
            );
            assert_eq!(b, before, "{name}: body changed");
        }
    }

    #[test]
    fn clean_path_matches_go() {
        // From Go's path/filepath tests.
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
            ("/var/run/../run/./docker.sock/", "/var/run/docker.sock"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "{input:?}");
        }
    }

    #[test]
    fn kernel_filesystem_volumes_are_host_access() {
        let read = |opts: Value| volume_create(&json!({"Name": "v", "DriverOpts": opts}));
        for fs in [
            "proc", "sysfs", "cgroup", "cgroup2", "devpts", "debugfs", " PROC ",
        ] {
            match read(json!({"type": fs, "device": fs})) {
                Err(BodyError::HostFilesystem { pointer, fs: got }) => {
                    assert_eq!(pointer, "/DriverOpts");
                    assert_eq!(got, fs.trim().to_ascii_lowercase());
                }
                other => panic!("{fs}: {other:?}"),
            }
        }
        // The same in a container's volume mount.
        let body = json!({"Image": "x", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "v",
            "Target": "/p", "VolumeOptions": {"DriverConfig": {"Options": {"type": "sysfs", "device": "x"}}}}]}});
        assert!(matches!(
            container_create(&body),
            Err(BodyError::HostFilesystem { .. })
        ));
        // Where host access does not refuse (audited for this request), it is a plain volume.
        let accepted = volume_create_under(
            &json!({"Name": "v", "DriverOpts": {"type": "proc", "device": "proc"}}),
            KernelFs::Accept,
        )
        .unwrap();
        assert_eq!(accepted.bind_device, None);
        assert!(container_create_under(&body, KernelFs::Accept).is_ok());
        let mut audited = Policy::default();
        assert_eq!(KernelFs::under(&audited), KernelFs::Refuse);
        audited.waived.host_access = true;
        assert_eq!(KernelFs::under(&audited), KernelFs::Accept);
        // With bind options the kernel ignores the type: a bind of the device, judged as one.
        let v = read(json!({"type": "proc", "o": "bind", "device": "/srv"})).unwrap();
        assert_eq!(v.bind_device.as_deref(), Some("/srv"));
        // A tmpfs holds nothing of the host.
        assert_eq!(
            read(json!({"type": "tmpfs", "device": "tmpfs"}))
                .unwrap()
                .bind_device,
            None
        );
    }
}
