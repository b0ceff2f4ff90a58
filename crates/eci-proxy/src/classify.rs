//! The bridge from the route table to what the proxy does with a request: which body it must
//! read, and which commands it belongs to (for the block record).

use eci_policy::decide::Denial;
use eci_policy::routes::{self, BodyKind, Endpoint, Route};
use eci_policy::unreadable::{self, Unreadable};

/// Which request body the enforcer must read before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspect {
    /// Streamed through unread: no body, or one that carries no mount.
    None,
    ContainerCreate,
    /// A start (whose body, API < 1.24, would carry a `HostConfig`) or restart: the container's
    /// mounts are checked again, since host paths may have changed since the create.
    ContainerStart {
        id: String,
        body: bool,
    },
    /// Service create and update: a spec with mounts.
    Service,
    /// A plugin about to run: its configured host mounts are checked (however they were set:
    /// pull with privileges, create from a tar, `plugin set`, upgrade).
    PluginEnable {
        name: String,
    },
    /// An archive read or write (`docker cp`): the engine mounts the container's volumes and
    /// binds, resolving their sources again, even for a container never started. Judged like a
    /// start.
    Archive {
        id: String,
    },
    /// An exec create: its body may ask for a privileged exec.
    ExecCreate {
        id: String,
    },
    /// A volume create: its options are judged (kernel filesystems), and it takes the volume
    /// lock so no create that judged a volume's options races it.
    VolumeCreate,
    /// A volume remove or prune: forwarded under the volume lock, for the same reason.
    VolumeChange,
    /// A swarm join: the manager's tasks would never pass through the enforcer.
    SwarmJoin,
}

impl Inspect {
    /// Whether the decision needs the request's whole body.
    pub fn reads_body(&self) -> bool {
        match self {
            Inspect::ContainerCreate
            | Inspect::ContainerStart { body: true, .. }
            | Inspect::ExecCreate { .. }
            | Inspect::VolumeCreate
            | Inspect::Service => true,
            Inspect::None
            | Inspect::ContainerStart { body: false, .. }
            | Inspect::PluginEnable { .. }
            | Inspect::Archive { .. }
            | Inspect::VolumeChange
            | Inspect::SwarmJoin => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Classified {
    pub route: &'static Route,
    pub inspect: Inspect,
}

/// The route's commands and groups, as the history shows them.
pub fn commands_of(route: &Route) -> Vec<String> {
    route
        .commands
        .iter()
        .map(|c| (*c).to_owned())
        .chain(route.groups.iter().map(|g| g.wildcard().to_owned()))
        .collect()
}

/// Classifies a request as the engine's router would see it; what cannot be classified is
/// refused, never forwarded.
pub fn classify(method: &str, target: &str) -> Result<Classified, Denial> {
    let c = routes::classify(method, target)
        .map_err(|e| unreadable::unreadable(Unreadable::Route(&e)))?;
    let route = c.route;
    // A volume's bind options expose nothing until a container mounts it, and every container
    // create and service spec inspects the named volumes it uses (including volumes made before
    // the enforcer ran or through another socket); a volume create is read for kernel
    // filesystems, and volume changes are ordered against creates that judged a volume.
    let id = || c.param("id").unwrap_or_default().to_owned();
    let inspect = match route.body {
        _ if route.endpoint == Endpoint::PluginEnable => Inspect::PluginEnable {
            name: c.param("name").unwrap_or_default().to_owned(),
        },
        _ if matches!(
            route.endpoint,
            Endpoint::ContainerArchive
                | Endpoint::ContainerArchiveInfo
                | Endpoint::PutContainerArchive
                | Endpoint::ContainerCopy
        ) =>
        {
            Inspect::Archive { id: id() }
        }
        _ if route.endpoint == Endpoint::ContainerExec => Inspect::ExecCreate { id: id() },
        _ if route.endpoint == Endpoint::SwarmJoin => Inspect::SwarmJoin,
        _ if matches!(
            route.endpoint,
            Endpoint::VolumeDelete | Endpoint::VolumePrune
        ) =>
        {
            Inspect::VolumeChange
        }
        BodyKind::VolumeCreate => Inspect::VolumeCreate,
        BodyKind::ContainerCreate => Inspect::ContainerCreate,
        BodyKind::ContainerStart => Inspect::ContainerStart {
            id: c.param("id").unwrap_or_default().to_owned(),
            body: true,
        },
        _ if route.endpoint == Endpoint::ContainerRestart => Inspect::ContainerStart {
            id: c.param("id").unwrap_or_default().to_owned(),
            body: false,
        },
        BodyKind::ServiceCreate | BodyKind::ServiceUpdate => Inspect::Service,
        BodyKind::None | BodyKind::Opaque => Inspect::None,
    };
    Ok(Classified { route, inspect })
}
