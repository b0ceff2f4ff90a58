//! The decisions: may this container mount the engine socket, may this request pass the command
//! list. Pure functions over the policy and facts the caller gathered; each verdict carries its
//! reason and the exact message the client sees.

use std::collections::HashSet;

use crate::commands::CommandEntry;
use crate::gojson::BodyError;
use crate::mounts::{MountRef, MountSource};
use crate::privileges::HostFlag;
use crate::reference::{Digest, ImageEntry, Reference, Repository};
use crate::routes::{self, Route};
use crate::settings::{ListKind, Policy};

/// What kind of block a denial is, as recorded in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BlockKind {
    SocketMount,
    Command,
    InvalidRequest,
    /// A host privilege (privileged, host namespaces, host devices, lifted confinement, a kernel
    /// filesystem volume, a swarm join) refused because it reaches the engine socket without
    /// mounting it.
    HostAccess,
}

/// A refusal: the HTTP status, the message the client prints, and a short reason for the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub kind: BlockKind,
    pub status: u16,
    pub message: String,
    pub reason: String,
}

impl Denial {
    /// A request the enforcer cannot read safely (ambiguous path, body, encoding); the cases are
    /// named in [`crate::unreadable`].
    pub(crate) fn invalid(status: u16, why: impl Into<String>) -> Denial {
        let why = why.into();
        Denial {
            kind: BlockKind::InvalidRequest,
            status,
            message: format!("enhanced container isolation: request refused: {why}"),
            reason: why,
        }
    }
}

/// The refusal of a body the engine would read differently, or could not be checked, or (a kernel
/// filesystem volume) asks for the host itself.
pub fn body_denial(e: &BodyError) -> Denial {
    match e {
        BodyError::HostFilesystem { fs, .. } => Denial {
            kind: BlockKind::HostAccess,
            status: 403,
            message: format!("enhanced container isolation: host access denied; {e}."),
            reason: format!("a {fs:?} volume exposes the host"),
        },
        _ => Denial::invalid(e.status(), e.to_string()),
    }
}

/// Which socket a request came in on, for the decisions that differ by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The enforcer's main socket (users, the CLI).
    Main,
    /// A container's filtered socket: everything it creates is under ECI, whatever the lists say.
    Filtered,
}

/// May a request that asks for these host privileges pass? With ECI on: never through a filtered
/// socket; through the main socket only for an image the admin lists for host access (verified by
/// digest like the image list). `image` is the image that will run, when there is one.
pub fn host_verdict(
    policy: &Policy,
    via: Via,
    flags: &[HostFlag],
    image: Option<&ImageFacts>,
    facts: &dyn DigestFacts,
) -> Result<(), Denial> {
    let Some(first) = flags.first() else {
        return Ok(());
    };
    if !policy.eci_enabled || policy.waived.host_access {
        return Ok(());
    }
    let name = image.map(ImageFacts::display_name);
    if via == Via::Main {
        if let Some(image) = image {
            if matching_entry(&policy.host_access_images, image, facts, &mut None).is_some() {
                return Ok(());
            }
        }
    }
    let why = match (via, image) {
        (Via::Filtered, _) => format!("{} gives the container the host, and with it the iechor socket; containers created through a filtered socket are under enhanced container isolation and cannot be given host access", first.flag),
        (Via::Main, Some(_)) => format!("{} gives the container the host, and with it the iechor socket; if you wish to allow it, list the image under enhancedContainerIsolation.eciGuard.hostAccess.images in the admin settings", first.flag),
        // Services and plugins: no image the enforcer can verify runs them.
        (Via::Main, None) => format!("{} gives the host, and with it the iechor socket; it cannot be allowed through the enforcer (an administrator can run it on the engine directly)", first.flag),
    };
    Err(host_denial(name.as_deref(), why))
}

/// A container the engine started that could not be judged within the bound: killed, since its
/// mounts may hold the socket.
pub fn unjudged_denial(why: &str) -> Denial {
    let reason = format!("it could not be judged ({why}), and a container that cannot be judged may hold the iechor socket");
    Denial {
        kind: BlockKind::SocketMount,
        status: 403,
        message: format!("enhanced container isolation: container stopped; {reason}."),
        reason,
    }
}

/// A running container in which the kernel shows a mount that reaches a protected socket (a bind
/// source swapped between the check and the engine's mount): it holds what no decision allowed.
/// A container's own filtered socket is no such mount.
pub fn mounted_verdict(policy: &Policy, image: &str, e: &Exposure) -> Option<Denial> {
    if !policy.eci_enabled || policy.waived.socket_mounts {
        return None;
    }
    let what = match e {
        Exposure::Filtered { .. } => return None,
        Exposure::Socket { socket } => format!("the iechor socket \"{socket}\" itself"),
        Exposure::Control { socket } => format!("the host control socket \"{socket}\""),
        Exposure::Ancestor { dir, socket } => {
            format!("a directory above the iechor socket \"{socket}\" at \"{dir}\"")
        }
    };
    Some(mount_denial(
        image,
        format!("the engine mounted {what} into the container (its mount source changed after it was judged)"),
    ))
}

/// A swarm join hands the node to a manager whose task specs never pass through the enforcer.
pub fn swarm_join_verdict(policy: &Policy) -> Result<(), Denial> {
    if !policy.eci_enabled || policy.waived.host_access {
        return Ok(());
    }
    Err(host_denial(
        None,
        "joining a swarm lets its manager run tasks on this engine that the enforcer never sees (socket mounts, privileges); init a swarm here instead, so services pass through the enforcer".to_owned(),
    ))
}

fn host_denial(image: Option<&str>, why: String) -> Denial {
    let subject = match image {
        Some(image) => format!(" for container with image \"{image}\""),
        None => String::new(),
    };
    Denial {
        kind: BlockKind::HostAccess,
        status: 403,
        message: format!("enhanced container isolation: host access denied{subject}; {why}."),
        reason: why,
    }
}

/// How a mount's host source reaches a protected socket, after cleaning and symlink resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// The source is the socket itself.
    Socket { socket: String },
    /// The source is a directory that contains the socket (`/var/run`, `/`): the command list could
    /// not be enforced on it, so it is denied for every image.
    Ancestor { dir: String, socket: String },
    /// The mount is inherited from another container (`VolumesFrom`) that already holds a
    /// filtered socket; it stays under the command list as it is.
    Filtered { socket: String },
    /// The source is (or is inside a directory of) a host control socket other than the engine's:
    /// containerd and its shims, BuildKit, plugin and network sockets, systemd, D-Bus, podman.
    /// No command list applies to them, so they are denied for every image.
    Control { socket: String },
}

impl Exposure {
    /// The protected path the exposure reaches.
    /// The worse of two exposures: a directory over a socket, then a host control socket, then
    /// the socket itself, then a filtered socket, then none.
    pub fn worst(a: Option<Exposure>, b: Option<Exposure>) -> Option<Exposure> {
        let rank = |e: &Option<Exposure>| e.as_ref().map_or(0, Exposure::severity);
        if rank(&b) > rank(&a) {
            b
        } else {
            a
        }
    }

    /// How bad the exposure is, for ranking: higher is worse.
    pub fn severity(&self) -> u8 {
        match self {
            Exposure::Filtered { .. } => 1,
            Exposure::Socket { .. } => 2,
            Exposure::Control { .. } => 3,
            Exposure::Ancestor { .. } => 4,
        }
    }

    pub fn socket(&self) -> &str {
        match self {
            Exposure::Socket { socket }
            | Exposure::Ancestor { socket, .. }
            | Exposure::Filtered { socket }
            | Exposure::Control { socket } => socket,
        }
    }
}

/// Where a resolved host path stands against the protected sockets. `resolved` must be absolute,
/// cleaned and with symlinks resolved on the host; protected paths likewise.
pub fn exposure(resolved: &str, protected: &[String]) -> Option<Exposure> {
    let dir = resolved.trim_end_matches('/');
    protected.iter().find_map(|socket| {
        if socket == resolved {
            Some(Exposure::Socket {
                socket: socket.clone(),
            })
        } else if dir.is_empty()
            || socket
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        {
            Some(Exposure::Ancestor {
                dir: resolved.to_owned(),
                socket: socket.clone(),
            })
        } else {
            None
        }
    })
}

/// The engine's view of an image (`GET /images/{name}/json`), as the caller fetched it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image as the request named it (`iechor:cli`, an id, …).
    pub name: String,
    /// `Id`: the config digest.
    pub id: String,
    /// `RepoDigests`: `repo@digest` as the engine reports them.
    pub repo_digests: Vec<String>,
    /// `RootFS.Layers`, bottom first.
    pub layers: Vec<String>,
}

impl ImageFacts {
    /// The repository name shown in messages: the normalised name without tag, or the name as given
    /// when it is not a reference (an image id).
    pub fn display_name(&self) -> String {
        Reference::parse_normalized(&self.name)
            .map(|r| r.repository().to_string())
            .unwrap_or_else(|_| self.name.clone())
    }

    fn repo_digests(&self) -> impl Iterator<Item = (Repository, Digest)> + '_ {
        self.repo_digests.iter().filter_map(|rd| {
            let r = Reference::parse_normalized(rd).ok()?;
            let d = r.digest()?.clone();
            Some((r.into_repository(), d))
        })
    }
}

/// What the registry layer knows about one entry's digests, from its in-memory cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryDigests {
    /// The digests published for the entry, kept apart by what they may prove: `manifests` (the
    /// index or manifest the tag or pin names, and each platform manifest) are what a local
    /// image's repo digest may be, `configs` what its ID may be. A repo digest equal to a config
    /// digest proves nothing.
    Known {
        manifests: HashSet<String>,
        configs: HashSet<String>,
    },
    /// Never fetched successfully; the reason says why (unreachable, not found, auth required, …).
    Unavailable(String),
}

/// A `name:*` check of one local image: does its repo digest exist in the repository with a config
/// digest equal to the local id?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyTagFact {
    Verified,
    Mismatch,
    Unavailable(String),
}

/// The registry facts the image decision needs, answered from cache (no I/O on the hot path).
pub trait DigestFacts {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests;
    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, id: &str) -> AnyTagFact;
}

/// Why an image may mount the socket, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageVerdict {
    /// Allowed by this entry (canonical form); `derived_from` names the base for derived images.
    Allowed {
        entry: String,
        derived_from: Option<String>,
    },
    /// Not allowed; `unavailable` holds why the digests of a relevant entry were never fetched.
    Denied {
        unavailable: Option<(String, String)>,
    },
}

/// Is this image allowed to mount the socket? `derived_bases` are the local images the caller
/// found whose layer chain may be a prefix of this one's (checked here again).
pub fn image_verdict(
    policy: &Policy,
    image: &ImageFacts,
    derived_bases: &[ImageFacts],
    facts: &dyn DigestFacts,
) -> ImageVerdict {
    let mut unavailable = None;
    if let Some(entry) = matching_entry(&policy.images, image, facts, &mut unavailable) {
        return ImageVerdict::Allowed {
            entry,
            derived_from: None,
        };
    }
    // Derived images are local builds: an image that is on a registry is judged by its own digests.
    if policy.allow_derived_images && image.repo_digests.is_empty() {
        for base in derived_bases {
            // Equal chains count too: a build that only changes the config adds no layer.
            let extends = !base.layers.is_empty() && image.layers.starts_with(&base.layers);
            if extends {
                if let Some(entry) = matching_entry(&policy.images, base, facts, &mut None) {
                    return ImageVerdict::Allowed {
                        entry,
                        derived_from: Some(base.display_name()),
                    };
                }
            }
        }
    }
    ImageVerdict::Denied { unavailable }
}

fn matching_entry(
    entries: &[ImageEntry],
    image: &ImageFacts,
    facts: &dyn DigestFacts,
    unavailable: &mut Option<(String, String)>,
) -> Option<String> {
    let requested = Reference::parse_normalized(&image.name)
        .ok()
        .map(Reference::into_repository);
    let repo_digests: Vec<(Repository, Digest)> = image.repo_digests().collect();
    for entry in entries {
        let relevant = requested.as_ref().is_some_and(|r| entry.covers(r))
            || repo_digests.iter().any(|(r, _)| entry.covers(r));
        let ok = match entry {
            ImageEntry::All => true,
            ImageEntry::Tag { repo, .. } | ImageEntry::Digest { repo, .. } => {
                match facts.entry_digests(entry) {
                    EntryDigests::Known { manifests, configs } => {
                        configs.contains(&image.id)
                            || repo_digests
                                .iter()
                                .any(|(r, d)| r == repo && manifests.contains(&d.to_string()))
                    }
                    EntryDigests::Unavailable(why) => {
                        if relevant && unavailable.is_none() {
                            *unavailable = Some((entry.to_string(), why));
                        }
                        false
                    }
                }
            }
            // `name:*` and `ns/*:*`: each repo digest the entry covers is asked about lazily.
            ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. } => repo_digests
                .iter()
                .filter(|(r, _)| entry.covers(r))
                .any(|(r, d)| match facts.any_tag(r, d, &image.id) {
                    AnyTagFact::Verified => true,
                    AnyTagFact::Mismatch => false,
                    AnyTagFact::Unavailable(why) => {
                        if unavailable.is_none() {
                            *unavailable = Some((entry.to_string(), why));
                        }
                        false
                    }
                }),
        };
        if ok {
            return Some(entry.to_string());
        }
    }
    None
}

/// The outcome of the socket-mount check of a create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountVerdict {
    /// No mount reaches a protected socket, or ECI is off.
    Allow,
    /// The image is allowed: point these mounts (indices into the request's mounts) at the
    /// container's filtered socket.
    Rewrite {
        mounts: Vec<usize>,
        entry: String,
    },
    Deny(Denial),
}

/// The socket-mount decision for a container create (or a service spec). `exposures[i]` is the
/// caller's resolution of `mounts[i]`; `image` is the image that will run.
pub fn mount_verdict(
    policy: &Policy,
    mounts: &[MountRef],
    exposures: &[Option<Exposure>],
    image: &ImageFacts,
    derived_bases: &[ImageFacts],
    facts: &dyn DigestFacts,
) -> MountVerdict {
    if !policy.eci_enabled || policy.waived.socket_mounts {
        return MountVerdict::Allow;
    }
    let exposed: Vec<(usize, &Exposure)> = exposures
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
        .collect();
    if exposed.is_empty() {
        return MountVerdict::Allow;
    }
    let name = image.display_name();
    let entry = match allowing_entry(policy, image, derived_bases, facts, &name) {
        Ok(entry) => entry,
        Err(d) => return MountVerdict::Deny(d),
    };
    match filtered_mounts(mounts, exposed, &name) {
        Ok(rewrite) => MountVerdict::Rewrite {
            mounts: rewrite,
            entry,
        },
        Err(d) => MountVerdict::Deny(d),
    }
}

/// The image-list entry that allows `image` (shown as `name`) to have a socket mount.
fn allowing_entry(
    policy: &Policy,
    image: &ImageFacts,
    derived_bases: &[ImageFacts],
    facts: &dyn DigestFacts,
    name: &str,
) -> Result<String, Denial> {
    match image_verdict(policy, image, derived_bases, facts) {
        ImageVerdict::Allowed { entry, .. } => Ok(entry),
        ImageVerdict::Denied { unavailable: None } => Err(mount_denial(
            name,
            "image is not in the allowed list; if you wish to allow it, configure the iechor socket image list in the iEchor Desktop settings".to_owned(),
        )),
        ImageVerdict::Denied { unavailable: Some((entry, why)) } => Err(mount_denial(
            name,
            format!("the digests of the allowed image \"{entry}\" could not be fetched ({why}), so the image cannot be verified; access stays denied until they are"),
        )),
    }
}

/// Of an allowed image's mounts that expose something (`exposed`: index and exposure), the ones
/// to point at its filtered socket; refused when one exposes what no filtered socket can stand
/// for.
fn filtered_mounts(
    mounts: &[MountRef],
    exposed: Vec<(usize, &Exposure)>,
    name: &str,
) -> Result<Vec<usize>, Denial> {
    let mut rewrite = Vec::new();
    for (i, e) in exposed {
        match (e, mounts.get(i).map(|m| &m.source)) {
            (Exposure::Filtered { .. }, _) => {}
            (Exposure::Socket { .. }, Some(MountSource::Bind { .. })) => rewrite.push(i),
            (Exposure::Socket { socket }, _) => {
                return Err(mount_denial(
                    name,
                    format!("the iechor socket \"{socket}\" is reached through a volume, which cannot be filtered; bind-mount the socket instead"),
                ))
            }
            (Exposure::Ancestor { dir, socket }, _) => {
                return Err(ancestor_denial(name, dir, socket))
            }
            (Exposure::Control { socket }, _) => {
                return Err(mount_denial(
                    name,
                    format!("\"{socket}\" is a host control socket, which hands out the host and on which the command list cannot be enforced"),
                ))
            }
        }
    }
    Ok(rewrite)
}

fn ancestor_denial(image: &str, dir: &str, socket: &str) -> Denial {
    mount_denial(
        image,
        format!("mounting \"{dir}\" exposes the iechor socket \"{socket}\", on which the command list cannot be enforced; mount the socket itself instead"),
    )
}

pub(crate) fn mount_denial(image: &str, why: String) -> Denial {
    Denial {
        kind: BlockKind::SocketMount,
        status: 403,
        message: format!(
            "enhanced container isolation: iechor socket mount denied for container with image \"{image}\"; {why}."
        ),
        reason: why,
    }
}

/// The command-list decision for a request that arrived on a filtered socket. `target` is the
/// request target as the client sent it; the message quotes it.
pub fn command_verdict(policy: &Policy, route: &Route, target: &str) -> Result<(), Denial> {
    if route.always_allowed() || policy.waived.commands {
        return Ok(());
    }
    let list = &policy.command_list;
    let hit = |for_allow| {
        list.entries
            .iter()
            .find(|e| routes::matches(route, e, for_allow))
    };
    let blocked_by: Option<&CommandEntry> = match list.kind {
        ListKind::Deny => hit(false),
        ListKind::Allow => {
            if hit(true).is_some() {
                None
            } else {
                return Err(command_denial(
                    target,
                    "not in the allowed command list".to_owned(),
                ));
            }
        }
    };
    match blocked_by {
        None => Ok(()),
        Some(e) => Err(command_denial(
            target,
            format!("\"{e}\" is in the denied command list"),
        )),
    }
}

fn command_denial(target: &str, reason: String) -> Denial {
    Denial {
        kind: BlockKind::Command,
        status: 403,
        message: format!(
            "enhanced container isolation: iechor command \"{target}\" is blocked; if you wish to allow it, configure the iechor socket command list in the iEchor Desktop settings or admin-settings."
        ),
        reason,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
