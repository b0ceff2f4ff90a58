//! A refused request as one structured record (SPEC §6), made at one point in the request path
//! and handed to the history store and to live subscribers without waiting on either.

use std::sync::Arc;
use std::time::SystemTime;

use eci_policy::decide::BlockKind;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::metrics::Metrics;

/// Which socket a request came in on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "socket", rename_all = "snake_case")]
pub enum SocketKind {
    /// A main listening socket.
    Main { path: String },
    /// A container's filtered socket; `container` is its id once the engine has answered.
    Filtered {
        path: String,
        container: Option<String>,
    },
}

/// Who sent a request: the peer's credentials from the socket (`SO_PEERCRED`) and its
/// `User-Agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientInfo {
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user_agent: Option<String>,
}

/// One blocked request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockEvent {
    /// Serialised as unix milliseconds.
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    pub socket: SocketKind,
    /// The image of the container being created, as named and as the engine resolved it.
    pub image_name: Option<String>,
    pub image_id: Option<String>,
    pub kind: BlockKind,
    /// Would have been refused, and was forwarded: its rule family is in audit mode.
    pub audited: bool,
    /// The commands the request belongs to (`push`, `run`, …).
    pub commands: Vec<String>,
    pub method: String,
    /// The request target as the client sent it (path and query).
    pub path: String,
    pub status: u16,
    pub reason: String,
    /// The message the client was given.
    pub message: String,
    pub policy_version: String,
    pub client: ClientInfo,
}

/// A time as unix milliseconds, the form the app and the history use.
pub(crate) fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The inverse of [`unix_ms`], for clients of the control socket.
pub(crate) fn from_unix_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let ms = <u64 as serde::Deserialize>::deserialize(d)?;
    Ok(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// Where blocks go besides the live broadcast: the history store. `record` must not block (the
/// store queues it).
pub trait BlockSink: Send + Sync {
    fn record(&self, block: &BlockEvent);

    /// Whether [`BlockSink::allowed`] wants allowed requests (asked once, at start).
    fn samples_allowed(&self) -> bool {
        false
    }

    /// An allowed request, for sinks that sample them (the audit log).
    fn allowed(&self, _request: &AllowedRequest) {}
}

/// An allowed request, as the audit log samples it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowedRequest {
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    pub socket_path: String,
    pub method: String,
    pub path: String,
}

/// The history's row for a block: what the store keeps and the audit log writes.
pub fn record_of(block: &BlockEvent) -> eci_history::BlockRecord {
    let (socket, socket_path, container_id) = match &block.socket {
        SocketKind::Main { path } => (eci_history::SocketKind::Main, path.clone(), None),
        SocketKind::Filtered { path, container } => (
            eci_history::SocketKind::Filtered,
            path.clone(),
            container.clone(),
        ),
    };
    let at = chrono::DateTime::<chrono::Utc>::from(block.at);
    eci_history::BlockRecord {
        time: eci_history::Timestamp::from_datetime(at),
        socket,
        socket_path,
        container_id,
        container_name: None,
        image: block.image_name.clone(),
        image_id: block.image_id.clone(),
        kind: block.kind,
        audited: block.audited,
        commands: block.commands.clone(),
        method: block.method.clone(),
        path: block.path.clone(),
        reason: block.reason.clone(),
        message: block.message.clone(),
        policy_version: block.policy_version.clone(),
        client: Some(eci_history::ClientInfo {
            pid: block.client.pid,
            uid: block.client.uid,
            gid: block.client.gid,
            user_agent: block.client.user_agent.clone(),
        }),
    }
}

/// The history store records every block it is given, queued (never waits).
impl BlockSink for eci_history::Recorder {
    fn record(&self, block: &BlockEvent) {
        eci_history::Recorder::record(self, record_of(block));
    }
}

/// The one exit of every block.
#[derive(Clone)]
pub struct Blocks {
    live: broadcast::Sender<BlockEvent>,
    sink: Option<Arc<dyn BlockSink>>,
    samples_allowed: bool,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("subscribers", &self.live.receiver_count())
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Blocks {
    pub fn new(sink: Option<Arc<dyn BlockSink>>, metrics: Arc<Metrics>) -> Blocks {
        Blocks {
            live: broadcast::channel(256).0,
            samples_allowed: sink.as_ref().is_some_and(|s| s.samples_allowed()),
            sink,
            metrics,
        }
    }

    /// The enforcer's metrics, which count every block recorded here.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// An allowed request, built only when a sink samples them.
    pub fn allowed(&self, request: impl FnOnce() -> AllowedRequest) {
        if let (true, Some(sink)) = (self.samples_allowed, &self.sink) {
            sink.allowed(&request());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BlockEvent> {
        self.live.subscribe()
    }

    pub fn record(&self, block: BlockEvent) {
        tracing::info!(
            kind = ?block.kind,
            method = %block.method,
            path = %block.path,
            reason = %block.reason,
            "request blocked"
        );
        self.metrics.refusal(block.kind, block.audited);
        if let Some(sink) = &self.sink {
            sink.record(&block);
        }
        let _ = self.live.send(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_app_reads_times_as_unix_ms_and_sockets_tagged() {
        let block = BlockEvent {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_897_809_123),
            socket: SocketKind::Filtered {
                path: "/s/f.sock".into(),
                container: Some("abc".into()),
            },
            image_name: None,
            image_id: None,
            kind: BlockKind::Command,
            audited: false,
            commands: vec!["push".into()],
            method: "POST".into(),
            path: "/v1.41/images/x/push".into(),
            status: 403,
            reason: "r".into(),
            message: "m".into(),
            policy_version: "v".into(),
            client: ClientInfo::default(),
        };
        let v = serde_json::to_value(&block).unwrap();
        assert_eq!(v["at"], 1_795_897_809_123_u64);
        assert_eq!(v["socket"]["socket"], "filtered");
        assert_eq!(v["socket"]["container"], "abc");
        assert_eq!(v["kind"], "command");
    }
}
