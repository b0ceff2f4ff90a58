//! The exact messages the enforcer answers blocks with, as the docker CLI prints them, and the
//! targets they name.

/// How every socket-mount denial ends.
pub const MOUNT_DENIED_TAIL: &str = "image is not in the allowed list; if you wish to allow it, configure the iechor socket image list in the iEchor Desktop settings.";

/// The CLI's error for a container of `image` (a repository, as messages show it) refused the
/// engine socket.
pub fn mount_denied(image: &str) -> String {
    format!("Error response from daemon: enhanced container isolation: iechor socket mount denied for container with image \"{image}\"; {MOUNT_DENIED_TAIL}")
}

/// The CLI's error for a request to `target` refused by the command list.
pub fn command_blocked(target: &str) -> String {
    format!("Error response from daemon: enhanced container isolation: iechor command \"{target}\" is blocked; if you wish to allow it, configure the iechor socket command list in the iEchor Desktop settings or admin-settings.")
}

/// `repo` without the tag, as messages show it.
pub fn repo_of(reference: &str) -> String {
    reference
        .rsplit_once(':')
        .map(|(r, _)| r.to_owned())
        .unwrap()
}

/// The target of `docker push <reference>` as the CLI sends it (API 1.41).
pub fn push_target(reference: &str) -> String {
    format!("/v1.41/images/{}/push?tag=latest", repo_of(reference))
}
