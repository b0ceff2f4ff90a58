//! The history of blocked requests (SPEC §6): an embedded SQLite store that survives restarts and
//! kill -9, a recorder the request path calls without waiting, query, export and a live stream.
//!
//! ```text
//! enforcer ──Recorder::record (try_send)──▶ bounded channel ──▶ writer thread ──▶ SQLite (WAL)
//!                                                                   └─▶ broadcast ──▶ app
//! app / CLI ──query / export──▶ reading connection (WAL: never waits for the writer)
//! ```

mod audit;
mod error;
mod export;
mod filter;
mod history;
mod record;
mod store;

pub use audit::{AuditCount, KindCount};
pub use error::HistoryError;
pub use export::{export, Format, CSV_COLUMNS};
pub use filter::{Cursor, Filter, Page, QueryPage, MAX_PAGE};
pub use history::{Config, Failure, History, Recorded, Recorder, Retention, Status};
pub use record::{
    kind_str, parse_kind, BadTimestamp, BlockKind, BlockRecord, ClientInfo, Outcome, SocketKind,
    StoredBlock, Timestamp, UnknownKind, MAX_COMMANDS, MAX_FIELD,
};
pub use store::{db_path, DB_FILE, SCHEMA_VERSION};
