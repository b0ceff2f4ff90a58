//! The live history: a recorder the request path calls without waiting, a writer thread that
//! batches blocks into the database and enforces retention, a broadcast of stored blocks, and the
//! status the app shows when recording fails.
//!
//! The writer is a dedicated OS thread rather than a tokio task because every SQLite call blocks.
//! The channel to it is bounded: when it is full the block is counted as dropped instead of
//! making a request wait. A failing database (unwritable directory, full disk, corrupt file) keeps
//! up to one channel's worth of blocks and retries with backoff; beyond that blocks are counted as
//! lost. Every block handed to [`Recorder::record`] ends up in exactly one of `committed`,
//! `dropped`, `lost` or `pending`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::audit::{self, AuditCount};
use crate::error::HistoryError;
use crate::export::{export_from, Format};
use crate::filter::{Filter, Page, QueryPage};
use crate::record::{BlockRecord, StoredBlock, Timestamp};
use crate::store;

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep at most this many of the most recently recorded blocks.
    pub max_rows: u64,
    /// Delete blocks older than this.
    pub max_age: Duration,
    /// How often the writer enforces both; it also does so at start and after every
    /// `max_rows / 8` inserts, so a flood cannot grow the file far past `max_rows`.
    pub check_every: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_rows: 100_000,
            max_age: Duration::from_secs(90 * 24 * 3600),
            check_every: Duration::from_secs(60),
        }
    }
}

/// Tuning of the writer; the defaults suit the enforcer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub retention: Retention,
    /// Blocks the channel holds before `record` drops; also the most a failing store keeps.
    pub capacity: usize,
    /// Most blocks per transaction.
    pub batch: usize,
    /// First retry delay after a database failure; doubles up to `max_retry`.
    pub retry: Duration,
    pub max_retry: Duration,
    /// How long the writer waits for a lock held by another process (a CLI, a backup).
    pub busy_timeout: Duration,
    /// Capacity of the broadcast of stored blocks; a slower subscriber sees `Lagged`.
    pub broadcast: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            retention: Retention::default(),
            capacity: 4096,
            batch: 512,
            retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(2),
            // The broadcast keeps its last `broadcast` blocks in memory; the app re-queries on lag.
            broadcast: 256,
        }
    }
}

/// The last database failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "HistoryFailure"))]
pub struct Failure {
    #[serde(flatten)]
    pub time: Timestamp,
    pub message: String,
}

/// What the app shows about recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "HistoryStatus"))]
pub struct Status {
    pub database: PathBuf,
    /// The last write (or open) succeeded and nothing waits for a retry.
    pub healthy: bool,
    /// Blocks handed to `record`, stored or not.
    pub recorded: u64,
    pub committed: u64,
    /// Refused at once because the writer's channel was full (or the writer had stopped).
    pub dropped: u64,
    /// Accepted, then given up because the database kept failing and the backlog was full.
    pub lost: u64,
    /// Accepted and not yet committed.
    pub pending: u64,
    pub last_error: Option<Failure>,
}

/// Whether `record` queued the block for the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Queued,
    /// Counted in [`Status::dropped`].
    Dropped,
}

struct Shared {
    database: PathBuf,
    recorded: AtomicU64,
    committed: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    healthy: AtomicBool,
    last_error: Mutex<Option<Failure>>,
    /// Unix ms of the last "dropped" warning, to log a flood once a second, not per block.
    last_drop_warning: AtomicI64,
    stored: broadcast::Sender<StoredBlock>,
}

impl Shared {
    fn fail(&self, message: String) {
        let was_healthy = self.healthy.swap(false, Ordering::SeqCst);
        let mut last = lock(&self.last_error);
        if was_healthy || last.as_ref().map(|f| &f.message) != Some(&message) {
            tracing::warn!(database = %self.database.display(), error = %message, "history store failing");
        }
        *last = Some(Failure {
            time: Timestamp::now(),
            message,
        });
    }

    fn recover(&self) {
        if !self.healthy.swap(true, Ordering::SeqCst) {
            tracing::info!(database = %self.database.display(), "history store writing again");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Control {
    Flush(mpsc::Sender<Result<(), HistoryError>>),
    Clear(mpsc::Sender<Result<u64, HistoryError>>),
    Close(mpsc::Sender<Result<(), HistoryError>>),
}

enum Msg {
    /// Boxed: the channel's slots are allocated up front, at the size of the largest message.
    Record(Box<BlockRecord>),
    Control(Control),
}

/// The history of one state directory: owns the writer thread. Dropping it without
/// [`History::close`] lets the writer finish what it holds once every [`Recorder`] is gone.
pub struct History {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    writer: Option<JoinHandle<()>>,
    state_dir: PathBuf,
    reader: Mutex<Option<Connection>>,
}

impl Drop for History {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

/// The request path's handle: cheap to clone, never waits.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
}

impl Recorder {
    /// Queues a block for the database. Returns at once: a full channel drops the block, counts
    /// it and logs a warning (once a second at most).
    pub fn record(&self, record: BlockRecord) -> Recorded {
        self.shared.recorded.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => Recorded::Queued,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.shared.dropped.fetch_add(1, Ordering::SeqCst) + 1;
                let now = Timestamp::now().unix_ms();
                let last = self.shared.last_drop_warning.load(Ordering::Relaxed);
                if now - last >= 1000
                    && self
                        .shared
                        .last_drop_warning
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        dropped,
                        "history writer is behind; blocked request not recorded"
                    );
                }
                Recorded::Dropped
            }
        }
    }
}

impl History {
    /// Opens (creating if needed) the history in `state_dir` with default tuning.
    pub fn open(state_dir: impl AsRef<Path>, retention: Retention) -> History {
        History::open_with(
            state_dir,
            Config {
                retention,
                ..Config::default()
            },
        )
    }

    /// Never fails: a database that cannot be opened leaves the history unhealthy (see
    /// [`History::status`]) and the writer retries, so the enforcer runs without it.
    pub fn open_with(state_dir: impl AsRef<Path>, config: Config) -> History {
        let state_dir = state_dir.as_ref().to_owned();
        let (stored, _) = broadcast::channel(config.broadcast.max(1));
        let shared = Arc::new(Shared {
            database: store::db_path(&state_dir),
            recorded: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            last_error: Mutex::new(None),
            last_drop_warning: AtomicI64::new(i64::MIN / 2),
            stored,
        });
        let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
        let mut writer = Writer {
            shared: shared.clone(),
            rx,
            state_dir: state_dir.clone(),
            config,
            conn: None,
            pending: Vec::new(),
            retry_at: None,
            backoff: config.retry,
            next_prune: Instant::now(),
            inserted_since_prune: 0,
        };
        // Opening here, not in the thread, makes a broken directory visible in the first status.
        writer.prune();
        let writer = std::thread::Builder::new()
            .name("eci-history-writer".into())
            .spawn(move || writer.run())
            .ok();
        if writer.is_none() {
            shared.fail("cannot start the history writer thread".into());
        }
        History {
            shared,
            tx,
            writer,
            state_dir,
            reader: Mutex::new(None),
        }
    }

    pub fn recorder(&self) -> Recorder {
        Recorder {
            shared: self.shared.clone(),
            tx: self.tx.clone(),
        }
    }

    /// Every block as it is committed, with its id.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredBlock> {
        self.shared.stored.subscribe()
    }

    pub fn status(&self) -> Status {
        let s = &self.shared;
        // Read `recorded` last so that `pending` never goes negative under concurrent records.
        let committed = s.committed.load(Ordering::SeqCst);
        let dropped = s.dropped.load(Ordering::SeqCst);
        let lost = s.lost.load(Ordering::SeqCst);
        let recorded = s.recorded.load(Ordering::SeqCst);
        Status {
            database: s.database.clone(),
            healthy: s.healthy.load(Ordering::SeqCst),
            recorded,
            committed,
            dropped,
            lost,
            pending: recorded.saturating_sub(committed + dropped + lost),
            last_error: lock(&s.last_error).clone(),
        }
    }

    /// Blocks until everything recorded before the call is committed, or the database has failed
    /// on it (the blocks stay pending). Not for the request path.
    pub fn flush(&self) -> Result<(), HistoryError> {
        let (tx, rx) = mpsc::channel();
        self.control(Control::Flush(tx))?;
        rx.recv().map_err(|_| HistoryError::WriterStopped)?
    }

    /// Deletes every block, including those recorded before the call and not yet written.
    /// Returns how many rows were deleted. Blocking.
    pub fn clear(&self) -> Result<u64, HistoryError> {
        let (tx, rx) = mpsc::channel();
        self.control(Control::Clear(tx))?;
        rx.recv().map_err(|_| HistoryError::WriterStopped)?
    }

    /// Writes what is pending and stops the writer; later records are counted as dropped.
    /// Blocking.
    pub fn close(mut self) -> Result<(), HistoryError> {
        let (tx, rx) = mpsc::channel();
        self.control(Control::Close(tx))?;
        let result = rx.recv().map_err(|_| HistoryError::WriterStopped)?;
        if let Some(writer) = self.writer.take() {
            writer.join().map_err(|_| HistoryError::WriterStopped)?;
        }
        result
    }

    /// What `close` does, for a handle dropped without it: the writer finishes before the owner
    /// goes on. Left running, its last write could re-create a state directory the owner had
    /// just removed (tests' temp dirs were left behind that way).
    fn stop_writer(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let (tx, rx) = mpsc::channel();
        if self.control(Control::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
        let _ = writer.join();
    }

    fn control(&self, c: Control) -> Result<(), HistoryError> {
        // Blocks while the channel is full: controls must not be dropped, and only the app and
        // the CLI send them.
        self.tx
            .send(Msg::Control(c))
            .map_err(|_| HistoryError::WriterStopped)
    }

    /// One page of blocks, newest first. Blocking (a few milliseconds at 100,000 rows); from
    /// async code call it inside `spawn_blocking`.
    pub fn query(&self, filter: &Filter, page: &Page) -> Result<QueryPage, HistoryError> {
        self.read(|conn, path| store::query(conn, path, filter, page))
    }

    /// Requests forwarded in audit mode at or after `since`, by kind: what enforcing would have
    /// refused. Blocking; answered from an index of audited rows only.
    pub fn audited_since(&self, since: Timestamp) -> Result<AuditCount, HistoryError> {
        self.read(|conn, path| audit::audited_since(conn, path, since))
    }

    /// Writes the matching blocks to `out`; returns how many. Blocking.
    pub fn export<W: std::io::Write>(
        &self,
        filter: &Filter,
        format: Format,
        out: W,
    ) -> Result<u64, HistoryError> {
        self.read(|conn, path| export_from(conn, path, filter, format, out))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection, &Path) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        let mut reader = lock(&self.reader);
        if reader.is_none() {
            *reader = Some(store::open_reader(&self.state_dir)?);
        }
        let conn = reader.as_ref().ok_or(HistoryError::WriterStopped)?;
        let result = f(conn, &self.shared.database);
        if matches!(result, Err(HistoryError::Database { .. })) {
            // A replaced or repaired file is picked up by the next query.
            *reader = None;
        }
        result
    }
}

struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    state_dir: PathBuf,
    config: Config,
    conn: Option<Connection>,
    pending: Vec<BlockRecord>,
    /// While the database fails: no write attempt for records before this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
    next_prune: Instant,
    inserted_since_prune: u64,
}

impl Writer {
    fn run(mut self) {
        loop {
            let deadline = match (self.pending.is_empty(), self.retry_at) {
                (false, Some(retry)) => retry.min(self.next_prune),
                _ => self.next_prune,
            };
            let timeout = deadline.saturating_duration_since(Instant::now());
            let mut next = match self.rx.recv_timeout(timeout) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.write(true);
                    self.give_up();
                    return;
                }
            };
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(r) => self.push(*r),
                    Msg::Control(c) => {
                        if self.control(c) {
                            return;
                        }
                    }
                }
                if self.pending.len() >= self.config.batch {
                    break;
                }
                next = self.rx.try_recv().ok();
            }
            self.write(false);
            if Instant::now() >= self.next_prune
                || self.inserted_since_prune > self.config.retention.max_rows / 8
            {
                self.prune();
            }
        }
    }

    fn push(&mut self, mut r: BlockRecord) {
        if self.pending.len() >= self.config.capacity.max(self.config.batch) {
            let lost = self.shared.lost.fetch_add(1, Ordering::SeqCst) + 1;
            if lost.is_power_of_two() {
                tracing::warn!(
                    lost,
                    "history store failing and its backlog is full; blocked request not recorded"
                );
            }
        } else {
            r.clip();
            self.pending.push(r);
        }
    }

    /// Handles a control after writing what came before it; true when the writer must stop.
    fn control(&mut self, c: Control) -> bool {
        self.write(true);
        match c {
            Control::Flush(reply) => {
                let _ = reply.send(self.settled());
                false
            }
            Control::Clear(reply) => {
                let result = self.settled().and_then(|()| {
                    let conn = self
                        .conn
                        .as_mut()
                        .ok_or_else(|| HistoryError::Unavailable("no database".into()))?;
                    store::clear(conn)
                        .map(|n| n as u64)
                        .map_err(|source| HistoryError::Database {
                            path: self.shared.database.clone(),
                            source,
                        })
                });
                if let Err(e) = &result {
                    self.shared.fail(e.to_string());
                }
                let _ = reply.send(result);
                false
            }
            Control::Close(reply) => {
                let _ = reply.send(self.settled());
                self.give_up();
                true
            }
        }
    }

    /// The writer is stopping: what it could not write is lost.
    fn give_up(&mut self) {
        if !self.pending.is_empty() {
            let n = self.pending.len() as u64;
            self.shared.lost.fetch_add(n, Ordering::SeqCst);
            tracing::warn!(lost = n, "history writer stopping with unwritten blocks");
            self.pending.clear();
        }
    }

    fn settled(&self) -> Result<(), HistoryError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let why = lock(&self.shared.last_error)
            .as_ref()
            .map(|f| f.message.clone());
        Err(HistoryError::Unavailable(
            why.unwrap_or_else(|| "blocks still pending".into()),
        ))
    }

    fn connect(&mut self) -> bool {
        if self.conn.is_none() {
            match store::open_writer(&self.state_dir, self.config.busy_timeout) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    self.failed(e.to_string());
                    return false;
                }
            }
        }
        true
    }

    fn failed(&mut self, message: String) {
        self.shared.fail(message);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.config.max_retry);
    }

    /// Writes the pending blocks in batches; `force` ignores the retry delay.
    fn write(&mut self, force: bool) {
        if self.pending.is_empty() || (!force && self.retry_at.is_some_and(|t| Instant::now() < t))
        {
            return;
        }
        if !self.connect() {
            return;
        }
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.config.batch.max(1));
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            match store::insert_batch(conn, &self.pending[..n]) {
                Ok(ids) => {
                    self.shared.committed.fetch_add(n as u64, Ordering::SeqCst);
                    self.inserted_since_prune += n as u64;
                    for (id, record) in ids.into_iter().zip(self.pending.drain(..n)) {
                        // No subscriber is not an error.
                        let _ = self.shared.stored.send(StoredBlock { id, record });
                    }
                    self.retry_at = None;
                    self.backoff = self.config.retry;
                    self.shared.recover();
                }
                Err(e) => {
                    // Reopen next time: the file may have been replaced or repaired. A lock held
                    // elsewhere is also just retried.
                    self.conn = None;
                    let message = format!("{}: {e}", self.shared.database.display());
                    self.failed(message);
                    return;
                }
            }
        }
    }

    fn prune(&mut self) {
        let r = self.config.retention;
        self.next_prune = Instant::now() + r.check_every;
        self.inserted_since_prune = 0;
        if self.conn.is_none() && self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        if !self.connect() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let max_age_ms = i64::try_from(r.max_age.as_millis()).unwrap_or(i64::MAX);
        let oldest = Timestamp::now().unix_ms().saturating_sub(max_age_ms);
        match store::prune(conn, oldest, r.max_rows) {
            Ok(p) => {
                if p.by_age + p.by_count > 0 {
                    tracing::debug!(
                        by_age = p.by_age,
                        by_count = p.by_count,
                        "history retention"
                    );
                }
                // A write transaction went through: the database works again.
                self.retry_at = None;
                self.backoff = self.config.retry;
                self.shared.recover();
            }
            Err(e) => {
                self.conn = None;
                let message = format!("{}: retention: {e}", self.shared.database.display());
                self.failed(message);
            }
        }
    }
}
