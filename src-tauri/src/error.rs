//! The one error shape the frontend sees, `{code, message}` (plus `diagnostics` for `invalid`):
//! every command returns `Result<T, AppError>` and the UI branches on `code`, never on text.

use eci_policy::validate::Diagnostic;
use serde::Serialize;

/// What went wrong, as the frontend branches on it (`code` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input has errors; `diagnostics` says where.
    Invalid,
    /// The file changed on disk since it was loaded.
    Conflict,
    /// No write access, or locked by the administrator.
    Forbidden,
    NotFound,
    Io,
    Registry,
    Enforcer,
    Cancelled,
    Internal,
}

/// A command's failure. Serialises as `{ "code", "message", "diagnostics"? }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, ts_rs::TS)]
#[error("{message}")]
#[ts(optional_fields)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// For [`ErrorCode::Invalid`]: the diagnostics that make the input unusable (warnings
    /// included, so the UI can show them in place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            code,
            message: message.into(),
            diagnostics: None,
        }
    }

    pub fn invalid(message: impl Into<String>, diagnostics: Vec<Diagnostic>) -> AppError {
        AppError {
            code: ErrorCode::Invalid,
            message: message.into(),
            diagnostics: Some(diagnostics),
        }
    }

    pub fn io(what: impl std::fmt::Display, e: &std::io::Error) -> AppError {
        let code = match e.kind() {
            std::io::ErrorKind::PermissionDenied => ErrorCode::Forbidden,
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            _ => ErrorCode::Io,
        };
        AppError::new(code, format!("{what}: {e}"))
    }
}

impl From<eci_history::HistoryError> for AppError {
    fn from(e: eci_history::HistoryError) -> AppError {
        use eci_history::HistoryError as H;
        let code = match &e {
            H::NotFound(_) => ErrorCode::NotFound,
            H::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => ErrorCode::Forbidden,
            H::Io(_) | H::Csv(_) | H::Json(_) | H::StateDir { .. } | H::Database { .. } => {
                ErrorCode::Io
            }
            _ => ErrorCode::Internal,
        };
        AppError::new(code, format!("history: {e}"))
    }
}

impl From<tauri::Error> for AppError {
    fn from(e: tauri::Error) -> AppError {
        AppError::new(ErrorCode::Internal, e.to_string())
    }
}
