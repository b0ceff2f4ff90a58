//! Why a registry could not say what an image's digests are, in kinds a person (and the app's
//! badge) can act on, classified from the client's errors without matching message text.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciErrorCode};
use serde::{Deserialize, Serialize};

/// The kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FailureKind {
    /// Not an image reference or image-list entry.
    InvalidReference,
    /// No connection to the registry (refused, no route, DNS).
    Unreachable,
    /// The registry did not answer in time.
    Timeout,
    /// The TLS handshake failed (untrusted certificate, HTTP spoken to HTTPS…).
    Tls,
    /// The registry answered that the repository, tag or digest does not exist.
    NotFound,
    /// The registry wants credentials, or refused the ones given.
    AuthRequired,
    /// The registry answered something this client cannot use.
    Registry,
    /// Not fetched yet: the entry is new and its first fetch has not finished.
    Pending,
    /// The caller gave up (the app's admin kept typing).
    Cancelled,
}

impl FailureKind {
    /// Whether the registry itself said no, rather than not being asked successfully.
    pub fn is_definitive(self) -> bool {
        matches!(self, FailureKind::InvalidReference | FailureKind::NotFound)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::InvalidReference => "invalid reference",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timed out",
            FailureKind::Tls => "TLS error",
            FailureKind::NotFound => "not found",
            FailureKind::AuthRequired => "authentication required",
            FailureKind::Registry => "registry error",
            FailureKind::Pending => "not fetched yet",
            FailureKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with its kind and the detail behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RegistryFailure"))]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn timeout(what: &str, after: Duration) -> Failure {
        Failure::new(
            FailureKind::Timeout,
            format!("{what}: no answer within {} s", after.as_secs_f32()),
        )
    }

    /// Classifies a client error met while doing `what` (e.g. `GET manifest x:1 from http://…`).
    pub(crate) fn from_client(what: &str, error: &OciDistributionError) -> Failure {
        let kind = classify(error);
        let detail = match error {
            OciDistributionError::RequestError(e) => chain(e),
            other => other.to_string(),
        };
        Failure::new(kind, format!("{what}: {detail}"))
    }
}

fn classify(error: &OciDistributionError) -> FailureKind {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => FailureKind::AuthRequired,
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                FailureKind::AuthRequired
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            }) {
                FailureKind::NotFound
            } else {
                FailureKind::Registry
            }
        }
        OciDistributionError::ServerError { code, .. } => match code {
            401 | 403 => FailureKind::AuthRequired,
            404 => FailureKind::NotFound,
            _ => FailureKind::Registry,
        },
        OciDistributionError::RequestError(e) => classify_request(e),
        _ => FailureKind::Registry,
    }
}

fn classify_request(error: &reqwest::Error) -> FailureKind {
    if causes(error).any(is_tls) {
        FailureKind::Tls
    } else if error.is_timeout() {
        FailureKind::Timeout
    } else if error.is_connect() {
        FailureKind::Unreachable
    } else {
        FailureKind::Registry
    }
}

/// Every error in the chain, looking inside `io::Error`s, whose `source()` skips the error they
/// wrap (rustls' certificate errors arrive that way).
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    error.downcast_ref::<rustls::Error>().is_some()
}

/// The error and its causes, `: `-joined, so "error sending request" says why.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
