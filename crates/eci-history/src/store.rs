//! The SQLite database: schema, connection settings, batched inserts, retention, clear, and the
//! queries. Synchronous; the writer thread and the readers call it.
//!
//! Durability: WAL with `synchronous=FULL`. A committed batch is in the WAL and fsynced before
//! the commit returns, so it survives a kill -9 of the enforcer and also a power loss or kernel
//! crash. (`NORMAL` would survive only a process crash: the last transactions could roll back on
//! power loss.) The cost is one fsync per batch, paid on the writer thread, never on the request
//! path, and shared by every block in the batch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, Row, TransactionBehavior};

use crate::error::HistoryError;
use crate::filter::{Filter, Page, QueryPage, MAX_PAGE};
use crate::record::{
    kind_str, parse_kind, BlockRecord, ClientInfo, SocketKind, StoredBlock, Timestamp,
};

/// The database's file name inside the state directory.
pub const DB_FILE: &str = "history.sqlite3";

/// `PRAGMA user_version` of the current schema: [`SCHEMA`] and every step of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// The schema of version 1, as first shipped. Never edited: a new database is made at version 1
/// and migrated like an old one, so the two cannot differ.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unix_ms INTEGER NOT NULL,
    socket TEXT NOT NULL,
    socket_path TEXT NOT NULL,
    container_id TEXT,
    container_name TEXT,
    image TEXT,
    image_id TEXT,
    kind TEXT NOT NULL,
    commands TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    client TEXT
);
CREATE INDEX IF NOT EXISTS blocks_by_time ON blocks(unix_ms);
CREATE INDEX IF NOT EXISTS blocks_by_kind_time ON blocks(kind, unix_ms);
CREATE TABLE IF NOT EXISTS block_commands (
    block_id INTEGER NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    unix_ms INTEGER NOT NULL,
    PRIMARY KEY (block_id, command)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS block_commands_by_command ON block_commands(command, unix_ms, block_id);
";

/// Step `i` takes the schema from version `i + 1` to `i + 2`. Append only.
const MIGRATIONS: &[&str] = &[
    // 2: audit mode. Every row before it was refused. Partial indexes hold the audited rows
    // only, so "audited only" pages (by time) and the count by kind for "Enforce now" never walk
    // the refused rows, and cost nothing while audit mode is off.
    "ALTER TABLE blocks ADD COLUMN audited INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX IF NOT EXISTS blocks_audited_by_time ON blocks(unix_ms) WHERE audited = 1;
     CREATE INDEX IF NOT EXISTS blocks_audited_by_kind_time ON blocks(kind, unix_ms)
         WHERE audited = 1;",
];

const COLUMNS: &str =
    "blocks.id, blocks.unix_ms, socket, socket_path, container_id, container_name, \
     image, image_id, kind, commands, method, path, reason, message, policy_version, client, \
     audited";

/// The database path for a state directory.
pub fn db_path(state_dir: &Path) -> PathBuf {
    state_dir.join(DB_FILE)
}

/// The writer's connection: creates the directory, the file and the schema.
pub(crate) fn open_writer(state_dir: &Path, busy: Duration) -> Result<Connection, HistoryError> {
    std::fs::create_dir_all(state_dir).map_err(|source| HistoryError::StateDir {
        path: state_dir.to_owned(),
        source,
    })?;
    let path = db_path(state_dir);
    let db = |source| HistoryError::Database {
        path: path.clone(),
        source,
    };
    let mut conn = Connection::open(&path).map_err(db)?;
    conn.busy_timeout(busy).map_err(db)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(HistoryError::Unavailable(format!(
            "{}: journal mode stays {mode:?}, not WAL",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    // Appends touch only the right edge of the table and its indexes: a small cache suffices and
    // keeps the enforcer's idle memory low.
    conn.pragma_update(None, "cache_size", -1024).map_err(db)?;
    if schema_version(&conn, &path)? < SCHEMA_VERSION {
        migrate(&mut conn, &path)?;
    }
    Ok(conn)
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction: all steps and the new version, or
/// nothing (a crash mid-way leaves the old schema and its rows, migrated again on the next open).
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), HistoryError> {
    let db = |source| HistoryError::Database {
        path: path.to_owned(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    // Read again under the write lock: another process (the app beside `eci-guard serve`) may
    // have migrated since.
    let from = schema_version(&tx, path)?;
    if from == 0 {
        tx.execute_batch(SCHEMA).map_err(db)?;
    }
    for step in MIGRATIONS.iter().skip((from.max(1) - 1) as usize) {
        tx.execute_batch(step).map_err(db)?;
    }
    if from > 0 {
        tracing::info!(
            database = %path.display(),
            from,
            to = SCHEMA_VERSION,
            "history schema migrated; rows kept"
        );
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db)?;
    tx.commit().map_err(db)
}

/// A reading connection on an existing database; never creates one.
pub(crate) fn open_reader(state_dir: &Path) -> Result<Connection, HistoryError> {
    let path = db_path(state_dir);
    if !path.exists() {
        return Err(HistoryError::NotFound(path));
    }
    let db = |source| HistoryError::Database {
        path: path.clone(),
        source,
    };
    // Read-write lets SQLite recover a WAL left by a killed writer; a user who may only read the
    // enforcer's database still can.
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .or_else(|_| {
        Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    })
    .map_err(db)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
    let version = schema_version(&conn, &path)?;
    if version == 0 {
        return Err(HistoryError::NotHistory(path));
    }
    if version < 2 {
        // Not migrated yet (no writer has opened it since audit mode), and a reader never
        // migrates: it sees every row of version 1 as refused, which they all were. A temporary
        // view, private to this connection, shadows the table in every query.
        conn.execute_batch("CREATE TEMP VIEW blocks AS SELECT *, 0 AS audited FROM main.blocks")
            .map_err(db)?;
    }
    conn.pragma_update(None, "query_only", true).map_err(db)?;
    // Scans of a large history read through the OS page cache instead of copying every page
    // into SQLite's; the mapping costs address space, not memory.
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)
        .map_err(db)?;
    Ok(conn)
}

fn schema_version(conn: &Connection, path: &Path) -> Result<i64, HistoryError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| HistoryError::Database {
            path: path.to_owned(),
            source,
        })?;
    if version > SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// Inserts the records in one transaction and returns their ids, in order.
pub(crate) fn insert_batch(
    conn: &mut Connection,
    batch: &[BlockRecord],
) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO blocks (unix_ms, socket, socket_path, container_id, container_name, image, \
             image_id, kind, commands, method, path, reason, message, policy_version, client, \
             audited) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        let mut command = tx.prepare_cached(
            "INSERT OR IGNORE INTO block_commands (block_id, command, unix_ms) VALUES (?, ?, ?)",
        )?;
        for r in batch {
            let client = r.client.as_ref().map(to_json).transpose()?;
            insert.execute(params![
                r.time.unix_ms(),
                r.socket.as_str(),
                r.socket_path,
                r.container_id,
                r.container_name,
                r.image,
                r.image_id,
                kind_str(r.kind),
                to_json(&r.commands)?,
                r.method,
                r.path,
                r.reason,
                r.message,
                r.policy_version,
                client,
                r.audited,
            ])?;
            let id = tx.last_insert_rowid();
            for c in &r.commands {
                command.execute(params![id, c, r.time.unix_ms()])?;
            }
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

fn to_json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// How many rows a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pruned {
    pub by_age: usize,
    pub by_count: usize,
}

/// Deletes blocks older than `oldest_ms`, then all but the `max_rows` most recently recorded.
pub(crate) fn prune(
    conn: &mut Connection,
    oldest_ms: i64,
    max_rows: u64,
) -> rusqlite::Result<Pruned> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let by_age = tx.execute("DELETE FROM blocks WHERE unix_ms < ?", [oldest_ms])?;
    let keep = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let by_count = tx.execute(
        "DELETE FROM blocks WHERE id <= (SELECT id FROM blocks ORDER BY id DESC LIMIT 1 OFFSET ?)",
        [keep],
    )?;
    tx.commit()?;
    // Keeps the planner's statistics current as the table grows; cheap when nothing changed.
    conn.execute_batch("PRAGMA optimize")?;
    Ok(Pruned { by_age, by_count })
}

/// Deletes every block; returns how many.
pub(crate) fn clear(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.execute("DELETE FROM blocks", [])?;
    tx.commit()?;
    Ok(n)
}

/// Blocks matching the filter.
pub(crate) fn count(conn: &Connection, filter: &Filter) -> rusqlite::Result<u64> {
    let cond = filter.condition();
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {}",
        cond.count_from, cond.sql
    );
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(cond.params), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One page, newest first, and the total.
pub(crate) fn query(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    page: &Page,
) -> Result<QueryPage, HistoryError> {
    let db = |source| HistoryError::Database {
        path: path.to_owned(),
        source,
    };
    let total = count(conn, filter).map_err(db)?;
    let limit = page.limit.min(MAX_PAGE);
    let mut blocks = Vec::with_capacity(limit as usize);
    each(
        conn,
        path,
        filter,
        page.after,
        Some((limit, page.offset)),
        |b| {
            blocks.push(b);
            Ok(())
        },
    )?;
    let next = (limit > 0 && blocks.len() == limit as usize)
        .then(|| blocks.last().map(crate::filter::Cursor::of))
        .flatten();
    Ok(QueryPage {
        total,
        blocks,
        next,
    })
}

/// Calls `f` on each matching block, newest first, without holding them all.
pub(crate) fn each(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    after: Option<crate::filter::Cursor>,
    window: Option<(u32, u64)>,
    mut f: impl FnMut(StoredBlock) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let db = |source| HistoryError::Database {
        path: path.to_owned(),
        source,
    };
    let mut cond = filter.condition();
    if let Some(after) = after {
        cond.sql
            .push_str(&format!(" AND ({}, {}) < (?, ?)", cond.time, cond.id));
        cond.params.push(Value::Integer(after.unix_ms));
        cond.params.push(Value::Integer(after.id));
    }
    let mut sql = format!(
        "SELECT {COLUMNS} FROM {} WHERE {} ORDER BY {} DESC, {} DESC",
        cond.from, cond.sql, cond.time, cond.id
    );
    if let Some((limit, offset)) = window {
        sql.push_str(" LIMIT ? OFFSET ?");
        cond.params.push(Value::Integer(limit.into()));
        cond.params
            .push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(cond.params)).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        f(block(row).map_err(|e| match e {
            RowError::Sql(source) => db(source),
            RowError::Bad { id, why } => HistoryError::CorruptRow { id, why },
        })?)?;
    }
    Ok(())
}

enum RowError {
    Sql(rusqlite::Error),
    Bad { id: i64, why: String },
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> RowError {
        RowError::Sql(e)
    }
}

fn block(row: &Row<'_>) -> Result<StoredBlock, RowError> {
    let id: i64 = row.get(0)?;
    let bad = |why: String| RowError::Bad { id, why };
    let unix_ms: i64 = row.get(1)?;
    let socket: String = row.get(2)?;
    let kind: String = row.get(8)?;
    let commands: String = row.get(9)?;
    let client: Option<String> = row.get(15)?;
    let record = BlockRecord {
        time: Timestamp::from_unix_ms(unix_ms)
            .ok_or_else(|| bad(format!("time {unix_ms} out of range")))?,
        socket: SocketKind::parse(&socket).ok_or_else(|| bad(format!("socket {socket:?}")))?,
        socket_path: row.get(3)?,
        container_id: row.get(4)?,
        container_name: row.get(5)?,
        image: row.get(6)?,
        image_id: row.get(7)?,
        kind: parse_kind(&kind).map_err(|e| bad(e.to_string()))?,
        audited: row.get(16)?,
        commands: serde_json::from_str(&commands).map_err(|e| bad(format!("commands: {e}")))?,
        method: row.get(10)?,
        path: row.get(11)?,
        reason: row.get(12)?,
        message: row.get(13)?,
        policy_version: row.get(14)?,
        client: client
            .map(|c| serde_json::from_str::<ClientInfo>(&c))
            .transpose()
            .map_err(|e| bad(format!("client: {e}")))?,
    };
    Ok(StoredBlock { id, record })
}
