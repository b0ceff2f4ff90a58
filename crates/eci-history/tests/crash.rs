//! Committed history survives a kill -9 of the process that wrote it: the test re-runs itself as
//! a child that records without pause, kills it with SIGKILL mid-stream, and reopens the store.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use eci_history::{Config, Filter, History, Page, Retention};

const CHILD_DIR: &str = "ECI_HISTORY_CRASH_CHILD_DIR";
const BASE_MS: i64 = 1_700_000_000_000;

/// Keeps everything the test writes, whatever today's date.
fn keep_all() -> Retention {
    Retention {
        max_rows: u64::MAX / 2,
        max_age: Duration::from_secs(1000 * 365 * 86_400),
        ..Retention::default()
    }
}

/// The child: records in rounds, reporting after each flush how many blocks are committed, and
/// keeps recording (with no flush) until it is killed.
fn child(dir: &str) -> ! {
    let h = History::open_with(
        dir,
        Config {
            batch: 64,
            retention: keep_all(),
            ..Config::default()
        },
    );
    let recorder = h.recorder();
    let mut i = 0u64;
    loop {
        for _ in 0..100 {
            recorder.record(common::nth(i, BASE_MS));
            i += 1;
        }
        h.flush().expect("child flush");
        println!("committed {i}");
    }
}

#[test]
fn committed_rows_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "committed_rows_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut committed = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print its "test … ..." prefix on the child's first line.
        if let Some((_, n)) = line.rsplit_once("committed ") {
            committed = n.parse().unwrap();
            if committed >= 3000 {
                break;
            }
        }
    }
    // SIGKILL, while the child is between a report and its next flush: mid-transaction or
    // mid-record, wherever it happens to be.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        committed >= 3000,
        "the child stopped reporting at {committed}"
    );

    let h = History::open(dir.path(), keep_all());
    let mut stored = h
        .query(
            &Filter::default(),
            &Page {
                limit: 10_000,
                ..Page::default()
            },
        )
        .unwrap()
        .blocks;
    stored.reverse();
    assert!(
        stored.len() as u64 >= committed,
        "{} rows stored, {committed} reported committed",
        stored.len()
    );
    // Every row is whole, in order, and nothing after the reported point is torn.
    for (i, block) in stored.iter().enumerate() {
        assert_eq!(block.id, i as i64 + 1);
        assert_eq!(
            block.record,
            common::nth(i as u64, BASE_MS),
            "row {}",
            block.id
        );
    }
    let conn = rusqlite::Connection::open(eci_history::db_path(dir.path())).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
