//! What can go wrong with the history store, as one typed error for the enforcer, the CLI and the
//! app.

use std::path::PathBuf;

/// A failure of the history store or of an export.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot create the history directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no history database at {0}")]
    NotFound(PathBuf),
    #[error("{0} is not an eci-guard history database")]
    NotHistory(PathBuf),
    #[error(
        "history database {path} has schema version {found}; this build reads version {supported}"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("history database {path}: {source}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history row {id} cannot be read: {why}")]
    CorruptRow { id: i64, why: String },
    #[error("history rows cannot be counted: {0}")]
    CorruptCount(#[from] crate::record::UnknownKind),
    #[error("the history store is failing: {0}")]
    Unavailable(String),
    #[error("the history writer has stopped")]
    WriterStopped,
    #[error("writing the CSV export: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the JSON export: {0}")]
    Json(#[from] serde_json::Error),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}
