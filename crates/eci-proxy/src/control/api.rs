//! The control socket's wire types: what `eci-guard serve --control` answers and what the
//! desktop app, attached, shows. Shared by the server and the typed client.

use std::path::PathBuf;

use eci_history::{Filter, Format, Page, StoredBlock};
use eci_policy::settings::EciSection;
use eci_policy::validate::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::settings_files::{FileView, Mode, Target};
use crate::{ReloadEvent, Status};

/// Both settings files as the editor needs them, the effective policy, and who may change what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SettingsView {
    /// Admin when the asking user may write the admin file.
    pub mode: Mode,
    pub admin: FileView,
    pub user: FileView,
    /// What the enforcer applies now; when it does not run, what the files would give (the
    /// fail-closed default if they have errors). Carried as `eci_policy::settings::Policy`
    /// serialises, which is all a client reads.
    #[cfg_attr(feature = "ts", ts(as = "eci_policy::settings::Policy"))]
    pub effective: serde_json::Value,
    /// The admin section is locked: users cannot change the ECI settings.
    pub locked: bool,
}

impl SettingsView {
    /// The view of both files for a client in `mode`, with the policy `effective`.
    pub fn new(
        mode: Mode,
        admin: FileView,
        user: FileView,
        effective: &eci_policy::settings::Policy,
    ) -> serde_json::Result<SettingsView> {
        Ok(SettingsView {
            mode,
            locked: admin.locks_eci(),
            admin,
            user,
            effective: serde_json::to_value(effective)?,
        })
    }
}

/// The daemon's status: the enforcer's and the history's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub enforcer: Status,
    pub history: eci_history::Status,
}

/// `POST /v1/settings/validate` and `/v1/settings/preview`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SectionRequest {
    pub target: Target,
    pub section: EciSection,
}

/// `PUT /v1/settings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaveRequest {
    pub target: Target,
    pub section: EciSection,
    pub etag: String,
}

/// `POST /v1/history/query`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub filter: Filter,
    pub page: Page,
}

/// `POST /v1/history/audit-count`: audited rows since a time, by kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditCountRequest {
    pub since: eci_history::Timestamp,
}

/// `POST /v1/history/export`: the rows in the body, CSV or JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRequest {
    pub filter: Filter,
    pub format: Format,
}

/// One line of `GET /v1/events` (JSON lines, one event per line, as they happen).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ControlEvent {
    /// A block the history committed.
    Blocked(Box<StoredBlock>),
    /// The settings were reloaded.
    Reload(ReloadEvent),
}

/// Why a request was refused, `{code, message, diagnostics?}` — the app's own error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

/// What went wrong, as clients branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Invalid,
    Conflict,
    Forbidden,
    NotFound,
    Io,
    Internal,
}

impl ApiError {
    pub fn new(code: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            diagnostics: None,
        }
    }

    /// The HTTP status the server answers this error with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.code {
            ErrorKind::Invalid => S::BAD_REQUEST,
            ErrorKind::Conflict => S::CONFLICT,
            ErrorKind::Forbidden => S::FORBIDDEN,
            ErrorKind::NotFound => S::NOT_FOUND,
            ErrorKind::Io | ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::settings_files::FileError> for ApiError {
    fn from(e: crate::settings_files::FileError) -> ApiError {
        use crate::settings_files::FileError as F;
        match e {
            F::Invalid {
                message,
                diagnostics,
            } => ApiError {
                code: ErrorKind::Invalid,
                message,
                diagnostics: Some(diagnostics),
            },
            F::Conflict(message) => ApiError::new(ErrorKind::Conflict, message),
            F::Io { what, source } => {
                let code = match source.kind() {
                    std::io::ErrorKind::PermissionDenied => ErrorKind::Forbidden,
                    std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                    _ => ErrorKind::Io,
                };
                ApiError::new(code, format!("{what}: {source}"))
            }
        }
    }
}

impl From<eci_history::HistoryError> for ApiError {
    fn from(e: eci_history::HistoryError) -> ApiError {
        ApiError::new(ErrorKind::Io, format!("history: {e}"))
    }
}

/// The default control socket: `control.sock` beside the first listening socket.
pub fn default_control_path(listen: &[PathBuf]) -> PathBuf {
    listen
        .first()
        .and_then(|l| l.parent())
        .map_or_else(|| PathBuf::from("control.sock"), |d| d.join("control.sock"))
}
