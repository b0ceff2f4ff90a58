//! Requests the enforcer cannot read safely, and what it refuses because the engine would read
//! them differently: each refusal with its status and exact message, made here so that no other
//! crate builds one.

use serde_json::Value;

use crate::decide::{body_denial, Denial};
use crate::gojson::{self, BodyError};
use crate::routes::ClassifyError;

/// Why a request cannot be read safely.
#[derive(Debug)]
pub enum Unreadable<'a> {
    /// The method and target match no route the enforcer knows, or match ambiguously.
    Route(&'a ClassifyError),
    /// The request target is no valid URI.
    Target(String),
    /// The body could not be read from the connection.
    Body(String),
    /// A create that names no image (the engine would refuse it too, after our checks).
    NoImage,
    /// A `VolumesFrom` entry that cannot be rewritten to the container judged.
    PinVolumesFrom { pointer: &'a str },
}

/// The refusal of a request that cannot be read safely.
pub fn unreadable(u: Unreadable<'_>) -> Denial {
    match u {
        Unreadable::Route(e) => Denial::invalid(e.status(), e.to_string()),
        Unreadable::Target(e) => Denial::invalid(400, format!("invalid request target: {e}")),
        Unreadable::Body(e) => Denial::invalid(400, format!("cannot read the request body: {e}")),
        Unreadable::NoImage => Denial::invalid(400, "the create request names no image"),
        Unreadable::PinVolumesFrom { pointer } => Denial::invalid(
            400,
            format!("cannot pin the VolumesFrom entry at {pointer:?}"),
        ),
    }
}

/// Engines apply a `HostConfig` sent with a start (API < 1.24), binds and all. Clients send
/// none; an empty body, `null` or `{}` passes, anything else is refused rather than checked.
pub fn start_body_verdict(body: &[u8], limits: &gojson::Limits) -> Result<(), Denial> {
    let trivial = body.iter().all(u8::is_ascii_whitespace)
        || match gojson::parse(body, limits) {
            Ok(Value::Null) => true,
            Ok(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
    if trivial {
        Ok(())
    } else {
        Err(Denial::invalid(
            400,
            "a container start with a host config body (API before 1.24) cannot be checked; give the host config at create",
        ))
    }
}

/// An existing volume whose options the engine accepted and we cannot check (overlay, relative
/// devices), or of a kernel filesystem: no container may use it while ECI is on.
pub fn volume_denial(name: &str, e: &BodyError) -> Denial {
    let mut denial = body_denial(e);
    denial.message = format!("{} (volume {name:?})", denial.message);
    if denial.kind == crate::decide::BlockKind::InvalidRequest {
        denial = Denial::invalid(403, format!("volume {name:?} cannot be checked: {e}"));
    }
    denial
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::BlockKind;

    #[test]
    fn start_bodies_pass_only_when_empty() {
        let limits = gojson::Limits::default();
        for ok in ["", "  ", "null", "{}", " { } "] {
            assert_eq!(start_body_verdict(ok.as_bytes(), &limits), Ok(()), "{ok:?}");
        }
        for bad in [r#"{"Binds": ["/:/h"]}"#, "[]", "{", "1"] {
            let d = start_body_verdict(bad.as_bytes(), &limits).unwrap_err();
            assert_eq!(
                (d.kind, d.status),
                (BlockKind::InvalidRequest, 400),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unreadable_requests_are_invalid_requests_with_their_reason() {
        let d = unreadable(Unreadable::NoImage);
        assert_eq!(d.kind, BlockKind::InvalidRequest);
        assert_eq!(
            d.message,
            "enhanced container isolation: request refused: the create request names no image"
        );
        let d = volume_denial(
            "v",
            &BodyError::HostFilesystem {
                pointer: "/DriverOpts".into(),
                fs: "proc".into(),
            },
        );
        assert_eq!(d.kind, BlockKind::HostAccess);
        assert!(d.message.ends_with("(volume \"v\")"), "{}", d.message);
    }
}
