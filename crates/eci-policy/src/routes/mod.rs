//! The Engine API route table and the request-target classifier: which endpoint a raw request
//! reaches as the engine routes it, and which commands of the command list it belongs to.
//!
//! # The table
//!
//! [`ROUTES`] has one row per route of the Engine API reference (API 1.56) plus the routes moby
//! registers beyond it (checkpoints, the deprecated `POST /containers/{id}/copy`, `/build/cancel`,
//! `/grpc`). Rows are in moby's registration order (`docker.io` 20.10.24 printed it with
//! `dockerd --debug`): gorilla/mux serves the first registered route that matches, and that order
//! decides targets such as `DELETE /containers/a/checkpoints/b` (checkpoint delete, registered
//! before the container delete whose `{name:.*}` would also take it). Each row carries the
//! template as moby registered it ([`Route::engine`]) next to the reference's ([`Route::pattern`]).
//!
//! How rows are attributed to the command list, and why:
//! - `groups`: the wildcard groups whose own subcommands issue the request (`docker image build`
//!   → `/build` is `image*` and `build*`; `docker system prune` → every prune is also `system*`).
//!   A group is never listed for a request its commands only use as a helper, so `container*`
//!   in a deny list does not block `docker pull`.
//! - `commands`: top-level commands whose own action the request is. The API cannot tell `docker
//!   create` from `docker run`, nor `pull` from `import`, nor `port` from `inspect`, so such
//!   commands share a row, and denying one denies the request for all of them: a denied command
//!   must be blocked, and its collateral is shown by the path in the message.
//! - `used_by`: commands that issue the request while doing their job. Observed with the docker
//!   28 CLI against the 20.10 engine: `run`/`start`/`attach` wait, resize, attach and proxy
//!   signals (`kill`); `exec`, `logs`, `attach`, `start` inspect the container; `run` and
//!   `create` pull a missing image; `stats` lists containers and follows events. From older
//!   CLIs: before 23 they read `GET /info` to elect the registry auth server. Not observed but
//!   listed so SDK-based clients (Testcontainers, docker-py) work under an allow list: `cp` and
//!   `run` inspect the container, lifecycle commands read `GET /version`. `used_by` counts only
//!   for allow lists, so `allow: ["run"]` runs `docker run -it` end to end while `deny: ["wait"]`
//!   still blocks every wait.
//! - `build` names the whole builder: `/build`, `/build/prune`, `/build/cancel`, `/session` and
//!   `/grpc` (BuildKit) all list it.
//! - `GET /_ping` and `HEAD /_ping` belong to no command: [`Route::always_allowed`].
//!
//! # The classifier
//!
//! [`classify`] reads the request target as Go's `url.ParseRequestURI` and moby's gorilla/mux
//! router do, and refuses whatever it cannot read exactly as the engine would:
//! - The engine routes on the percent-decoded path (`/containers%2Fcreate` is container create,
//!   `/images/a%2Fb/push` pushes `a/b`), so the path is decoded, then matched. Go refuses
//!   malformed escapes (400) and so do we; decoded control bytes and non-UTF-8 are refused too.
//! - mux answers a path that `path.Clean` would change (`//`, `/./`, `/../`, also when decoded
//!   from `%2F` or `%2E`) with a 301 redirect, never a handler: refused as non-canonical. mux keeps
//!   a trailing slash, so `/containers/json/` matches nothing (404) and is refused as unknown.
//! - `ParseRequestURI` does not split a fragment: `#` would be part of the path (or query). No
//!   client sends a raw `#`; refused. Absolute-form targets (`http://host/…`), which Go would
//!   accept, and the authority and asterisk forms are refused: clients of a local socket send
//!   origin-form.
//! - Every route exists with and without `/v{version:[0-9.]+}`. mux would also route versions
//!   such as `1..41` or `1.41.` that the engine then reads oddly; only `N(.N)*` is accepted.
//! - Methods are case-sensitive tokens, matched exactly like mux (`get` and `HEAD` on a GET
//!   route are 404 at the engine).
//! - Several templates take names with slashes (`/images/{name:.*}/json`); matching follows Go's
//!   leftmost-first regexp semantics, so `/images/foo/json/json` inspects `foo/json`, as the
//!   engine does.
//! - The engine also serves `GET /networks/` (a list), `OPTIONS /{anyroute:.*}` and the
//!   unversioned `/debug/…` handlers; no client needs them and they are refused.
//!
//! The query is kept raw; [`Classified::query_pairs`] decodes it like Go's `url.ParseQuery`.

mod classify;
mod table;

#[cfg(test)]
mod tests;

pub use classify::{classify, Classified, ClassifyError, QueryError, MAX_TARGET_LEN};
pub use table::ROUTES;

use crate::commands::{CommandEntry, Group};

/// One Engine API route and its attribution to the command list.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, `HEAD`, `PUT` or `DELETE`, as the engine matches it (case-sensitive).
    pub method: &'static str,
    /// The path as written in the API reference, e.g. `/images/{name}/push`; its parameter names
    /// are those of [`Classified::params`].
    pub pattern: &'static str,
    /// The gorilla/mux template moby registers, e.g. `/images/{name:.*}/push`: what is matched.
    pub engine: &'static str,
    pub endpoint: Endpoint,
    /// Wildcard groups whose own subcommands issue this request.
    pub groups: &'static [Group],
    /// Top-level commands whose own action this request is.
    pub commands: &'static [&'static str],
    /// Other commands that issue this request while doing their job (counts for allow lists).
    pub used_by: &'static [&'static str],
    /// What the enforcer must read of the request body.
    pub body: BodyKind,
}

impl Route {
    /// `/_ping` (GET and HEAD): every client's handshake, allowed whatever the command list says.
    pub fn always_allowed(&self) -> bool {
        matches!(
            self.endpoint,
            Endpoint::SystemPing | Endpoint::SystemPingHead
        )
    }

    /// Whether the request may change what an image name points to, or what the engine tells of
    /// the image: a pull or import, a load, a tag, a removal, a prune, a build (BuildKit's `/grpc`
    /// connection included: its builds name images, and a 20.10 engine announces none of them), a
    /// commit, a push (it adds a repo digest).
    pub fn changes_image_names(&self) -> bool {
        matches!(
            self.endpoint,
            Endpoint::ImageCreate
                | Endpoint::ImageLoad
                | Endpoint::ImageTag
                | Endpoint::ImageDelete
                | Endpoint::ImagePrune
                | Endpoint::ImageBuild
                | Endpoint::Grpc
                | Endpoint::ImageCommit
                | Endpoint::ImagePush
        )
    }
}

/// What the enforcer must read of a request body before forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// The endpoint defines no request body.
    None,
    /// `POST /containers/create`: a container config with `HostConfig` (binds, mounts, …).
    ContainerCreate,
    /// `POST /containers/{id}/start`: no body since API 1.24, but for a request with an older
    /// `/v1.xx` prefix the engine (20.10 included) applies a `HostConfig` body, binds and all, to
    /// the container it starts. Refuse such a body or read it like a create's `HostConfig`.
    ContainerStart,
    /// `POST /volumes/create`: driver options (a local volume can bind a host path).
    VolumeCreate,
    /// `POST /services/create`: a service spec with mounts.
    ServiceCreate,
    /// `POST /services/{id}/update`: a service spec with mounts.
    ServiceUpdate,
    /// A body the engine reads (JSON options, tar streams, credentials) that carries no mount the
    /// image or mount decisions look at; forwarded unread.
    Opaque,
}

/// One variant per row of [`ROUTES`], named after the reference's `operationId` (routes beyond
/// the reference are named in the same style).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    CheckpointList,
    CheckpointCreate,
    CheckpointDelete,
    ContainerArchiveInfo,
    ContainerList,
    ContainerExport,
    ContainerChanges,
    ContainerInspect,
    ContainerTop,
    ContainerLogs,
    ContainerStats,
    ContainerAttachWebsocket,
    ExecInspect,
    ContainerArchive,
    ContainerCreate,
    ContainerKill,
    ContainerPause,
    ContainerUnpause,
    ContainerRestart,
    ContainerStart,
    ContainerStop,
    ContainerWait,
    ContainerResize,
    ContainerAttach,
    ContainerCopy,
    ContainerExec,
    ExecStart,
    ExecResize,
    ContainerRename,
    ContainerUpdate,
    ContainerPrune,
    ImageCommit,
    PutContainerArchive,
    ContainerDelete,
    ImageList,
    ImageSearch,
    ImageGetAll,
    ImageGet,
    ImageHistory,
    ImageInspect,
    ImageAttestations,
    ImageLoad,
    ImageCreate,
    ImagePush,
    ImageTag,
    ImagePrune,
    ImageDelete,
    SystemPing,
    SystemPingHead,
    SystemEvents,
    SystemInfo,
    SystemVersion,
    SystemDataUsage,
    SystemAuth,
    VolumeList,
    VolumeInspect,
    VolumeUpdate,
    VolumeCreate,
    VolumePrune,
    VolumeDelete,
    ImageBuild,
    BuildPrune,
    BuildCancel,
    Session,
    SwarmInit,
    SwarmJoin,
    SwarmLeave,
    SwarmInspect,
    SwarmUnlockkey,
    SwarmUpdate,
    SwarmUnlock,
    ServiceList,
    ServiceInspect,
    ServiceCreate,
    ServiceUpdate,
    ServiceDelete,
    ServiceLogs,
    NodeList,
    NodeInspect,
    NodeDelete,
    NodeUpdate,
    TaskList,
    TaskInspect,
    TaskLogs,
    SecretList,
    SecretCreate,
    SecretDelete,
    SecretInspect,
    SecretUpdate,
    ConfigList,
    ConfigCreate,
    ConfigDelete,
    ConfigInspect,
    ConfigUpdate,
    PluginList,
    PluginInspect,
    GetPluginPrivileges,
    PluginDelete,
    PluginEnable,
    PluginDisable,
    PluginPull,
    PluginPush,
    PluginUpgrade,
    PluginSet,
    PluginCreate,
    DistributionInspect,
    Grpc,
    NetworkList,
    NetworkInspect,
    NetworkCreate,
    NetworkConnect,
    NetworkDisconnect,
    NetworkPrune,
    NetworkDelete,
}

impl Endpoint {
    /// The row of [`ROUTES`] for this endpoint.
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.endpoint == self)
            .expect("every endpoint has exactly one row (tested)")
    }
}

/// The top-level commands that are the same as a subcommand of `g` (`docker run` is `docker
/// container run`). An allowed group also passes the requests these commands use as helpers.
pub fn group_commands(g: Group) -> &'static [&'static str] {
    match g {
        Group::Container => &[
            "attach", "commit", "cp", "create", "diff", "exec", "export", "inspect", "kill",
            "logs", "pause", "port", "ps", "rename", "restart", "rm", "run", "start", "stats",
            "stop", "top", "unpause", "update", "wait",
        ],
        Group::Image => &[
            "build", "history", "images", "import", "inspect", "load", "pull", "push", "rmi",
            "save", "tag",
        ],
        Group::Build => &["build"],
        Group::System => &["events", "info"],
        Group::Volume | Group::Network => &[],
    }
}

/// Whether a command-list entry names this route. A deny entry matches the route's `commands` or
/// `groups`; an allow entry also matches its `used_by` (for a group: a `used_by` command of that
/// group). `/_ping` matches every allow entry and no deny entry, though callers should test
/// [`Route::always_allowed`] first and skip the list.
pub fn matches(route: &Route, entry: &CommandEntry, for_allow: bool) -> bool {
    if route.always_allowed() {
        return for_allow;
    }
    match entry {
        CommandEntry::Name(name) => {
            route.commands.contains(name) || (for_allow && route.used_by.contains(name))
        }
        CommandEntry::Group(g) => {
            route.groups.contains(g)
                || (for_allow && route.used_by.iter().any(|c| group_commands(*g).contains(c)))
        }
    }
}
