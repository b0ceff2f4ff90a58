//! Records for the history tests: realistic blocks whose fields are all distinct per index.

#![allow(dead_code)]

use eci_history::{BlockKind, BlockRecord, ClientInfo, SocketKind, Timestamp};

/// A block at `unix_ms`, as the enforcer records a denied socket mount.
pub fn mount(unix_ms: i64, image: &str) -> BlockRecord {
    BlockRecord {
        time: Timestamp::from_unix_ms(unix_ms).unwrap(),
        socket: SocketKind::Main,
        socket_path: "/run/user/1000/eci-guard.sock".into(),
        container_id: None,
        container_name: None,
        image: Some(image.into()),
        image_id: Some(format!("sha256:{:064x}", unix_ms)),
        kind: BlockKind::SocketMount,
        audited: false,
        commands: vec!["run".into(), "create".into()],
        method: "POST".into(),
        path: "/v1.41/containers/create".into(),
        reason: format!("image {image} is not in the allowed list"),
        message: format!(
            "enhanced container isolation: iechor socket mount denied for container with image \"{image}\"; image is not in the allowed list; if you wish to allow it, configure the iechor socket image list in the iEchor Desktop settings."
        ),
        policy_version: "0123456789abcdef".into(),
        client: Some(ClientInfo { pid: Some(4242), uid: Some(1000), gid: Some(1000), user_agent: Some("Docker-Client/20.10.24 (linux)".into()) }),
    }
}

/// A block at `unix_ms`, as the enforcer records a command denied on a filtered socket.
pub fn command(unix_ms: i64, container: &str, command: &str, path: &str) -> BlockRecord {
    BlockRecord {
        time: Timestamp::from_unix_ms(unix_ms).unwrap(),
        socket: SocketKind::Filtered,
        socket_path: format!("/run/user/1000/eci-guard/{container}.sock"),
        container_id: Some(format!("{container}-id")),
        container_name: Some(container.into()),
        image: Some("iechor.io/library/iechor:cli".into()),
        image_id: Some("sha256:cafe".into()),
        kind: BlockKind::Command,
        audited: false,
        commands: vec![command.into()],
        method: "POST".into(),
        path: path.into(),
        reason: format!("command {command} is denied"),
        message: format!("enhanced container isolation: iechor command \"{path}\" is blocked; if you wish to allow it, configure the iechor socket command list in the iEchor Desktop settings or admin-settings."),
        policy_version: "0123456789abcdef".into(),
        client: None,
    }
}

/// The i-th record of a long run: kinds, images and commands rotate so filters select known
/// fractions.
pub fn nth(i: u64, base_ms: i64) -> BlockRecord {
    let t = base_ms + i as i64;
    match i % 4 {
        0 => mount(t, &format!("registry.example/team{}/app", i % 10)),
        1 => command(
            t,
            &format!("agent-{}", i % 7),
            "push",
            &format!("/v1.41/images/img{i}/push?tag=latest"),
        ),
        2 => command(t, &format!("agent-{}", i % 7), "build", "/v1.41/build?t=x"),
        _ => {
            let mut r = mount(t, "busybox");
            r.kind = BlockKind::InvalidRequest;
            r.commands = vec![];
            r.path = format!("/v1.41/containers/create?n={i}");
            r.reason = "duplicate key HostConfig".into();
            r
        }
    }
}
