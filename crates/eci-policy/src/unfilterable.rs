//! Socket-mount decisions for what cannot be given a filtered socket: service specs (their tasks
//! run on swarm nodes), plugins (the engine mounts their sources itself), and existing containers
//! judged again at start. Each refusal is a socket-mount block, with its exact message.

use crate::decide::{mount_denial, BlockKind, Denial, Exposure, ImageFacts, MountVerdict};
use crate::settings::Policy;

/// The protected socket an exposure reaches.
fn socket_of(e: &Exposure) -> &str {
    e.socket()
}

/// A service create or update: any mount that reaches a protected socket is refused, for every
/// image, since no task container could be given a filtered socket. `image` is the spec's.
pub fn service_verdict(
    policy: &Policy,
    image: Option<&str>,
    exposures: &[Option<Exposure>],
) -> Result<(), Denial> {
    if !policy.eci_enabled || policy.waived.socket_mounts {
        return Ok(());
    }
    let Some(exposed) = exposures.iter().flatten().next() else {
        return Ok(());
    };
    let shown = image
        .map(|i| {
            ImageFacts {
                name: i.to_owned(),
                ..ImageFacts::default()
            }
            .display_name()
        })
        .unwrap_or_default();
    let reason = format!(
        "a service cannot mount the iechor socket \"{}\": its tasks' containers cannot be given filtered sockets",
        socket_of(exposed)
    );
    Err(Denial {
        kind: BlockKind::SocketMount,
        status: 403,
        message: format!(
            "enhanced container isolation: iechor socket mount denied for service with image \"{shown}\"; {reason}."
        ),
        reason,
    })
}

/// `POST /plugins/{name}/enable`: a plugin whose mounts (`source`, where it leads) reach a
/// protected socket is not enabled.
pub fn plugin_verdict(
    policy: &Policy,
    name: &str,
    exposed: Option<(&str, &Exposure)>,
) -> Result<(), Denial> {
    let Some((source, e)) = exposed.filter(|_| policy.eci_enabled && !policy.waived.socket_mounts)
    else {
        return Ok(());
    };
    let reason = format!(
        "plugin \"{name}\" mounts \"{source}\", which exposes the iechor socket \"{}\"; plugins cannot be given filtered sockets",
        socket_of(e)
    );
    Err(Denial {
        kind: BlockKind::SocketMount,
        status: 403,
        message: format!(
            "enhanced container isolation: iechor socket mount denied for plugin \"{name}\"; {reason}."
        ),
        reason,
    })
}

/// An existing container about to start, its mounts judged as a create would be (`verdict`):
/// it may start only without a socket mount, or with filtered sockets it already holds.
pub fn start_verdict(image: &ImageFacts, container: &str, verdict: MountVerdict) -> Option<Denial> {
    match verdict {
        MountVerdict::Allow => None,
        MountVerdict::Rewrite { mounts, .. } if mounts.is_empty() => None,
        MountVerdict::Rewrite { .. } => Some(mount_denial(
            &image.display_name(),
            format!("container {container} mounts the iechor socket itself, not a filtered socket; create it again through the enforcer"),
        )),
        MountVerdict::Deny(d) => Some(d),
    }
}

/// An existing container with a socket mount whose image the engine no longer has: it cannot be
/// verified, so it does not start.
pub fn start_image_gone(
    policy: &Policy,
    shown: &str,
    image_id: &str,
    container: &str,
) -> Option<Denial> {
    if policy.waived.socket_mounts {
        return None;
    }
    let name = if shown.is_empty() { image_id } else { shown };
    Some(mount_denial(
        name,
        format!("the image {image_id} of container {container} is gone, so its socket mount cannot be checked"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CommandList, Policy, Provenance};

    fn policy(on: bool) -> Policy {
        Policy::new(
            on,
            Vec::new(),
            true,
            CommandList::default(),
            Provenance::DEFAULT,
        )
    }

    fn socket() -> Exposure {
        Exposure::Socket {
            socket: "/run/docker.sock".into(),
        }
    }

    #[test]
    fn services_with_a_socket_mount_are_socket_mount_blocks() {
        let d =
            service_verdict(&policy(true), Some("busybox:1"), &[None, Some(socket())]).unwrap_err();
        assert_eq!((d.kind, d.status), (BlockKind::SocketMount, 403));
        assert_eq!(
            d.message,
            "enhanced container isolation: iechor socket mount denied for service with image \"iechor.io/library/busybox\"; a service cannot mount the iechor socket \"/run/docker.sock\": its tasks' containers cannot be given filtered sockets."
        );
        assert_eq!(service_verdict(&policy(true), None, &[None]), Ok(()));
        assert_eq!(
            service_verdict(&policy(false), None, &[Some(socket())]),
            Ok(())
        );
    }

    #[test]
    fn plugins_with_a_socket_mount_are_socket_mount_blocks() {
        let e = socket();
        let d = plugin_verdict(&policy(true), "p:latest", Some(("/run", &e))).unwrap_err();
        assert_eq!((d.kind, d.status), (BlockKind::SocketMount, 403));
        assert!(
            d.message.starts_with("enhanced container isolation: iechor socket mount denied for plugin \"p:latest\"; plugin \"p:latest\" mounts \"/run\", which exposes the iechor socket \"/run/docker.sock\"; plugins cannot be given filtered sockets"),
            "{}",
            d.message
        );
        assert_eq!(plugin_verdict(&policy(true), "p", None), Ok(()));
        assert_eq!(
            plugin_verdict(&policy(false), "p", Some(("/run", &e))),
            Ok(())
        );
    }

    #[test]
    fn containers_judged_at_start_are_socket_mount_blocks() {
        let image = ImageFacts {
            name: "iechor:cli".into(),
            ..ImageFacts::default()
        };
        let raw = MountVerdict::Rewrite {
            mounts: vec![0],
            entry: "iechor.io/library/iechor:cli".into(),
        };
        let d = start_verdict(&image, "abc", raw).unwrap();
        assert_eq!(d.kind, BlockKind::SocketMount);
        assert!(d.message.contains("for container with image \"iechor.io/library/iechor\"; container abc mounts the iechor socket itself"), "{}", d.message);
        let held = MountVerdict::Rewrite {
            mounts: vec![],
            entry: String::new(),
        };
        assert_eq!(start_verdict(&image, "abc", held), None);
        assert_eq!(start_verdict(&image, "abc", MountVerdict::Allow), None);
        let gone = start_image_gone(&Policy::default(), "", "sha256:0f", "abc").unwrap();
        assert_eq!(gone.kind, BlockKind::SocketMount);
        assert!(
            gone.message
                .contains("image \"sha256:0f\"; the image sha256:0f of container abc is gone"),
            "{}",
            gone.message
        );
    }
}
