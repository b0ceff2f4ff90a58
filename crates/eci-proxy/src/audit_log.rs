//! The audit log (issue 17): every refusal, blocked or audited, as one structured event with the
//! history row's fields — to the systemd journal when running under systemd, otherwise to a
//! JSON-lines file with size rotation — and optionally a sample of allowed requests.
//!
//! Writing never waits on the request path: events go through a bounded queue to a writer
//! thread; when it is full, events are dropped and counted, and the count is logged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use serde::Serialize;

use crate::blocks::{record_of, AllowedRequest, BlockEvent, BlockSink};

/// The tracing target of audit events: the journal layer takes exactly these.
pub const AUDIT_TARGET: &str = "eci_guard::audit";

/// Where the audit log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// The systemd journal, as structured fields (through `tracing` events with target
    /// [`AUDIT_TARGET`], which the journal layer of `eci-guard serve` sends).
    Journal,
    /// JSON lines in this file, rotated at `max_bytes` into `.1` … `.{keep}`.
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
}

/// What one line says.
#[derive(Debug, Serialize)]
struct Line<'a, T: Serialize> {
    /// `blocked`, `audited` or `allowed`.
    event: &'static str,
    #[serde(flatten)]
    fields: &'a T,
}

/// The audit log sink.
pub struct AuditLog {
    target: AuditTarget,
    queue: Option<SyncSender<String>>,
    dropped: Arc<AtomicU64>,
    /// One allowed request in this many is logged; 0: none.
    sample_allowed: u64,
    allowed_seen: AtomicU64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("target", &self.target)
            .field("sample_allowed", &self.sample_allowed)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log; for a file, creates its directory and starts the writer thread.
    pub fn open(target: AuditTarget, sample_allowed: u64) -> std::io::Result<AuditLog> {
        let dropped = Arc::new(AtomicU64::new(0));
        let queue = match &target {
            AuditTarget::Journal => None,
            AuditTarget::File {
                path,
                max_bytes,
                keep,
            } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut writer = RotatingFile::open(path.clone(), *max_bytes, *keep)?;
                let (tx, rx) = sync_channel::<String>(4096);
                std::thread::Builder::new()
                    .name("eci-audit-log".into())
                    .spawn(move || {
                        for line in rx {
                            if let Err(e) = writer.write_line(&line) {
                                tracing::warn!(error = %e, "cannot write the audit log");
                            }
                        }
                    })?;
                Some(tx)
            }
        };
        Ok(AuditLog {
            target,
            queue,
            dropped,
            sample_allowed,
            allowed_seen: AtomicU64::new(0),
        })
    }

    /// Whether the journal is where this process's structured logs go: systemd sets
    /// `JOURNAL_STREAM` for a service whose output it captures.
    pub fn under_systemd() -> bool {
        std::env::var_os("JOURNAL_STREAM").is_some()
            && Path::new("/run/systemd/journal/socket").exists()
    }

    fn write<T: Serialize>(&self, event: &'static str, fields: &T) {
        let Some(queue) = &self.queue else {
            return;
        };
        let line = match serde_json::to_string(&Line { event, fields }) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialise an audit event");
                return;
            }
        };
        match queue.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "the audit log cannot keep up; events dropped");
                }
            }
        }
    }
}

impl BlockSink for AuditLog {
    fn record(&self, block: &BlockEvent) {
        let record = record_of(block);
        let event = if block.audited { "audited" } else { "blocked" };
        match self.target {
            AuditTarget::Journal => {
                let kind = crate::metrics::kind_label(record.kind);
                let client = record.client.clone().unwrap_or_default();
                tracing::warn!(
                    target: AUDIT_TARGET,
                    event,
                    kind,
                    time = %record.time.rfc3339(),
                    socket = record.socket.as_str(),
                    socket_path = %record.socket_path,
                    container_id = record.container_id.as_deref().unwrap_or(""),
                    image = record.image.as_deref().unwrap_or(""),
                    image_id = record.image_id.as_deref().unwrap_or(""),
                    commands = %record.commands.join(","),
                    method = %record.method,
                    path = %record.path,
                    reason = %record.reason,
                    policy_version = %record.policy_version,
                    client_pid = client.pid.unwrap_or(0),
                    client_uid = client.uid.unwrap_or(u32::MAX),
                    user_agent = client.user_agent.as_deref().unwrap_or(""),
                    "{}",
                    record.message
                );
            }
            AuditTarget::File { .. } => self.write(event, &record),
        }
    }

    fn samples_allowed(&self) -> bool {
        self.sample_allowed > 0
    }

    fn allowed(&self, request: &AllowedRequest) {
        let n = self.allowed_seen.fetch_add(1, Ordering::Relaxed);
        if self.sample_allowed == 0 || !n.is_multiple_of(self.sample_allowed) {
            return;
        }
        match self.target {
            AuditTarget::Journal => tracing::info!(
                target: AUDIT_TARGET,
                event = "allowed",
                method = %request.method,
                path = %request.path,
                socket_path = %request.socket_path,
                sample_one_in = self.sample_allowed,
                "allowed"
            ),
            AuditTarget::File { .. } => self.write("allowed", request),
        }
    }
}

/// Several sinks as one: the history and the audit log.
pub struct Tee(pub Vec<Arc<dyn BlockSink>>);

impl BlockSink for Tee {
    fn record(&self, block: &BlockEvent) {
        for s in &self.0 {
            s.record(block);
        }
    }

    fn samples_allowed(&self) -> bool {
        self.0.iter().any(|s| s.samples_allowed())
    }

    fn allowed(&self, request: &AllowedRequest) {
        for s in &self.0 {
            s.allowed(request);
        }
    }
}

/// A file that is renamed to `.1` (and older ones up to `.{keep}`) once it reaches `max_bytes`.
struct RotatingFile {
    path: PathBuf,
    file: File,
    len: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            file,
            len,
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.len > 0 && self.len + line.len() as u64 + 1 > self.max_bytes {
            self.rotate()?;
        }
        // One write per line: a reader never sees half a line from a crash between two.
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_and_keeps_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut f = RotatingFile::open(path.clone(), 100, 2).unwrap();
        for i in 0..10 {
            f.write_line(&format!("{{\"n\": {i}, \"pad\": \"{}\"}}", "x".repeat(30)))
                .unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(&path);
        let one = read(&f.rotated(1));
        let two = read(&f.rotated(2));
        assert!(!f.rotated(3).exists(), "only `keep` old files");
        for text in [&current, &one, &two] {
            assert!(text.len() <= 100, "{text}");
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
        // The newest line is in the current file, the ones before it in .1.
        assert!(current.contains("\"n\": 9"), "{current}");
        assert!(one.contains("\"n\": 7"), "{one}");
    }
}
