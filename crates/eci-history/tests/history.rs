//! The history through its public API: filters, paging, every field kept, restart, retention,
//! clear, the live stream, exports, and recording that never waits on a failing or locked store.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{command, mount};
use eci_history::{
    export, BlockKind, Config, Cursor, Filter, Format, History, HistoryError, Page, Retention,
    SocketKind, StoredBlock, Timestamp, CSV_COLUMNS,
};

fn ids(blocks: &[StoredBlock]) -> Vec<i64> {
    blocks.iter().map(|b| b.id).collect()
}

fn all(h: &History) -> Vec<StoredBlock> {
    h.query(
        &Filter::default(),
        &Page {
            limit: 10_000,
            ..Page::default()
        },
    )
    .unwrap()
    .blocks
}

fn fast() -> Config {
    Config {
        retry: Duration::from_millis(10),
        max_retry: Duration::from_millis(50),
        ..Config::default()
    }
}

/// Six blocks, ids 1..=6; 5 and 6 share a time, so ties are ordered by id.
fn six(dir: &Path) -> History {
    let h = History::open_with(dir, fast());
    let r = h.recorder();
    let mut invalid = mount(4000, "Busybox_x");
    invalid.kind = BlockKind::InvalidRequest;
    invalid.commands = vec![];
    invalid.reason = "body has duplicate keys".into();
    for block in [
        mount(1000, "evil/socket-grabber"),
        command(
            2000,
            "ci-agent",
            "push",
            "/v1.41/images/myimage/push?tag=latest",
        ),
        command(3000, "ci-agent", "build", "/v1.41/build?t=100%25done"),
        invalid,
        command(5000, "tc-ryuk", "image push", "/v1.43/images/a/push"),
        mount(5000, "localstack/localstack"),
    ] {
        r.record(block);
    }
    h.flush().unwrap();
    h
}

#[test]
fn filters_select_exactly_the_matching_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let h = six(dir.path());
    let t = |ms| Timestamp::from_unix_ms(ms);
    let s = |v: &str| Some(v.to_owned());
    let cases: Vec<(&str, Filter, Vec<i64>)> = vec![
        (
            "everything, newest first, ties by id",
            Filter::default(),
            vec![6, 5, 4, 3, 2, 1],
        ),
        (
            "one kind",
            Filter {
                kinds: vec![BlockKind::Command],
                ..Filter::default()
            },
            vec![5, 3, 2],
        ),
        (
            "two kinds",
            Filter {
                kinds: vec![BlockKind::SocketMount, BlockKind::InvalidRequest],
                ..Filter::default()
            },
            vec![6, 4, 1],
        ),
        (
            "socket",
            Filter {
                socket: Some(SocketKind::Filtered),
                ..Filter::default()
            },
            vec![5, 3, 2],
        ),
        (
            "image, any case",
            Filter {
                image: s("BUSYBOX"),
                ..Filter::default()
            },
            vec![4],
        ),
        (
            "image id",
            Filter {
                image: s("sha256:cafe"),
                ..Filter::default()
            },
            vec![5, 3, 2],
        ),
        (
            "LIKE's _ is literal",
            Filter {
                image: s("_"),
                ..Filter::default()
            },
            vec![4],
        ),
        (
            "command is exact",
            Filter {
                command: s("push"),
                ..Filter::default()
            },
            vec![2],
        ),
        (
            "command is not a prefix",
            Filter {
                command: s("pu"),
                ..Filter::default()
            },
            vec![],
        ),
        (
            "two-word command",
            Filter {
                command: s("image push"),
                ..Filter::default()
            },
            vec![5],
        ),
        (
            "since is inclusive",
            Filter {
                since: t(3000),
                ..Filter::default()
            },
            vec![6, 5, 4, 3],
        ),
        (
            "until is exclusive",
            Filter {
                until: t(3000),
                ..Filter::default()
            },
            vec![2, 1],
        ),
        (
            "range",
            Filter {
                since: t(2000),
                until: t(4000),
                ..Filter::default()
            },
            vec![3, 2],
        ),
        (
            "LIKE's % is literal",
            Filter {
                text: s("100%"),
                ..Filter::default()
            },
            vec![3],
        ),
        (
            "text in the container name",
            Filter {
                text: s("CI-AGENT"),
                ..Filter::default()
            },
            vec![3, 2],
        ),
        (
            "text in the reason",
            Filter {
                text: s("duplicate"),
                ..Filter::default()
            },
            vec![4],
        ),
        (
            "text in the path",
            Filter {
                text: s("myimage"),
                ..Filter::default()
            },
            vec![2],
        ),
        (
            "text in the image",
            Filter {
                text: s("grabber"),
                ..Filter::default()
            },
            vec![1],
        ),
        (
            "filters combine",
            Filter {
                kinds: vec![BlockKind::Command],
                text: s("build"),
                ..Filter::default()
            },
            vec![3],
        ),
        (
            "nothing matches",
            Filter {
                text: s("no such text"),
                ..Filter::default()
            },
            vec![],
        ),
    ];
    for (what, filter, want) in cases {
        let page = h.query(&filter, &Page::default()).unwrap();
        assert_eq!(ids(&page.blocks), want, "{what}");
        assert_eq!(page.total, want.len() as u64, "{what}: total");
    }
}

#[test]
fn stored_blocks_keep_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), fast());
    let records = vec![
        mount(1_795_897_809_123, "evil/socket-grabber"),
        command(
            1_795_897_809_124,
            "ci-agent",
            "push",
            "/v1.41/images/x/push",
        ),
    ];
    for r in &records {
        h.recorder().record(r.clone());
    }
    h.flush().unwrap();
    let mut stored = all(&h);
    stored.reverse();
    assert_eq!(
        stored.into_iter().map(|b| b.record).collect::<Vec<_>>(),
        records
    );
}

#[test]
fn pages_by_offset_and_by_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let h = six(dir.path());
    let page = |limit, offset, after| {
        h.query(
            &Filter::default(),
            &Page {
                limit,
                offset,
                after,
            },
        )
        .unwrap()
    };

    let first = page(2, 0, None);
    assert_eq!((ids(&first.blocks), first.total), (vec![6, 5], 6));
    assert_eq!(
        first.next,
        Some(Cursor {
            unix_ms: 5000,
            id: 5
        })
    );
    let second = page(2, 0, first.next);
    assert_eq!(ids(&second.blocks), vec![4, 3]);
    let third = page(2, 0, second.next);
    assert_eq!(ids(&third.blocks), vec![2, 1]);
    let fourth = page(2, 0, third.next);
    assert_eq!(
        (ids(&fourth.blocks), fourth.next, fourth.total),
        (vec![], None, 6)
    );
    let tail = page(10, 4, None);
    assert_eq!((ids(&tail.blocks), tail.next), (vec![2, 1], None));

    // A block arriving between pages shifts offsets but not cursors.
    h.recorder().record(mount(9000, "late"));
    h.flush().unwrap();
    assert_eq!(ids(&page(2, 0, first.next).blocks), vec![4, 3]);
    assert_eq!(ids(&page(2, 2, None).blocks), vec![5, 4]);

    let commands = h
        .query(
            &Filter {
                kinds: vec![BlockKind::Command],
                ..Filter::default()
            },
            &Page {
                limit: 2,
                ..Page::default()
            },
        )
        .unwrap();
    assert_eq!((ids(&commands.blocks), commands.total), (vec![5, 3], 3));
}

#[test]
fn history_survives_a_restart_and_ids_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    // Recent times: the default retention (90 days) applies on reopen.
    let base = Timestamp::now().unix_ms() - 1000;
    let records: Vec<_> = (0..50).map(|i| common::nth(i, base)).collect();
    let h = History::open(dir.path(), Retention::default());
    for r in &records {
        h.recorder().record(r.clone());
    }
    h.close().unwrap();

    let h = History::open(dir.path(), Retention::default());
    let mut stored = all(&h);
    stored.reverse();
    assert_eq!(ids(&stored), (1..=50).collect::<Vec<_>>());
    assert_eq!(
        stored.iter().map(|b| &b.record).collect::<Vec<_>>(),
        records.iter().collect::<Vec<_>>()
    );

    assert_eq!(h.clear().unwrap(), 50);
    assert_eq!(all(&h), vec![]);
    h.recorder().record(mount(5, "after-clear"));
    h.flush().unwrap();
    // The app keys its table by id: an id is never reused, even after a clear.
    assert_eq!(ids(&all(&h)), vec![51]);
}

#[test]
fn clear_removes_blocks_recorded_just_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), fast());
    for i in 0..20 {
        h.recorder().record(common::nth(i, 0));
    }
    assert_eq!(h.clear().unwrap(), 20);
    let status = h.status();
    assert_eq!(
        (status.recorded, status.committed, status.pending),
        (20, 20, 0)
    );
    assert_eq!(
        h.query(
            &Filter {
                command: Some("push".into()),
                ..Filter::default()
            },
            &Page::default()
        )
        .unwrap()
        .total,
        0
    );
}

#[test]
fn retention_keeps_the_newest_rows_and_drops_old_ones() {
    let now = Timestamp::now().unix_ms();
    let hour = 3_600_000;
    struct Case {
        what: &'static str,
        retention: Retention,
        times: Vec<i64>,
        kept: Vec<i64>,
    }
    let ret = |max_rows, max_age_h: u64| Retention {
        max_rows,
        max_age: Duration::from_secs(max_age_h * 3600),
        check_every: Duration::from_secs(3600),
    };
    let cases = [
        Case {
            what: "by count",
            retention: ret(3, 1000),
            times: (0..8).map(|i| now - i).collect(),
            kept: vec![8, 7, 6],
        },
        Case {
            what: "by age",
            retention: ret(1000, 2),
            times: vec![now - 5 * hour, now - 3 * hour, now - hour, now],
            kept: vec![4, 3],
        },
        Case {
            what: "both",
            retention: ret(2, 2),
            times: vec![now - 5 * hour, now - 3, now - 2, now - 1],
            kept: vec![4, 3],
        },
        Case {
            what: "within both",
            retention: ret(10, 2),
            times: vec![now - 1, now],
            kept: vec![2, 1],
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(
            dir.path(),
            Retention {
                max_rows: 1_000_000,
                ..case.retention
            },
        );
        for t in &case.times {
            h.recorder().record(mount(*t, "x"));
        }
        h.close().unwrap();
        // Retention runs when the history opens.
        let h = History::open(dir.path(), case.retention);
        let mut kept = ids(&all(&h));
        kept.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(kept, case.kept, "{}", case.what);
    }
}

#[test]
fn retention_runs_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_rows: 10,
        max_age: Duration::from_secs(3600),
        check_every: Duration::from_millis(20),
    };
    let h = History::open_with(
        dir.path(),
        Config {
            retention,
            ..fast()
        },
    );
    let now = Timestamp::now().unix_ms();
    for i in 0..100 {
        h.recorder().record(mount(now + i, "flood"));
    }
    h.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let total = h.query(&Filter::default(), &Page::default()).unwrap().total;
        if total == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "still {total} rows");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ids(&all(&h)), (91..=100).rev().collect::<Vec<_>>());
}

#[test]
fn subscribers_see_each_committed_block_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), fast());
    let mut live = h.subscribe();
    let records: Vec<_> = (0..5).map(|i| common::nth(i, 10)).collect();
    for r in &records {
        h.recorder().record(r.clone());
    }
    let seen: Vec<StoredBlock> = (0..5).map(|_| live.blocking_recv().unwrap()).collect();
    assert_eq!(ids(&seen), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        seen.iter().map(|b| &b.record).collect::<Vec<_>>(),
        records.iter().collect::<Vec<_>>()
    );
    h.flush().unwrap();
    let mut stored = all(&h);
    stored.reverse();
    assert_eq!(stored, seen);
}

#[test]
fn exports_carry_every_matching_row() {
    let dir = tempfile::tempdir().unwrap();
    let h = six(dir.path());
    let filter = Filter {
        kinds: vec![BlockKind::Command],
        ..Filter::default()
    };
    let want = h.query(&filter, &Page::default()).unwrap().blocks;

    // The free function opens its own connection, beside the live writer.
    let mut json = Vec::new();
    assert_eq!(
        export(dir.path(), &filter, Format::Json, &mut json).unwrap(),
        3
    );
    let parsed: Vec<StoredBlock> = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed, want);

    let mut csv_out = Vec::new();
    assert_eq!(h.export(&filter, Format::Csv, &mut csv_out).unwrap(), 3);
    let mut reader = csv::Reader::from_reader(csv_out.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        CSV_COLUMNS
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let field = |row: &csv::StringRecord, name| {
        row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()].to_owned()
    };
    let ryuk = &rows[0];
    assert_eq!(field(ryuk, "id"), "5");
    assert_eq!(field(ryuk, "time"), "1970-01-01T00:00:05.000Z");
    assert_eq!(field(ryuk, "unix_ms"), "5000");
    assert_eq!(field(ryuk, "kind"), "command");
    assert_eq!(field(ryuk, "socket"), "filtered");
    assert_eq!(field(ryuk, "commands"), "image push");
    assert_eq!(field(ryuk, "container_name"), "tc-ryuk");
    assert_eq!(field(ryuk, "path"), "/v1.43/images/a/push");
    assert_eq!(field(ryuk, "message"), want[0].record.message);
    assert_eq!(field(ryuk, "client_pid"), "");

    let mut mounts = Vec::new();
    let only_mounts = Filter {
        kinds: vec![BlockKind::SocketMount],
        ..Filter::default()
    };
    export(dir.path(), &only_mounts, Format::Csv, &mut mounts).unwrap();
    let first = csv::Reader::from_reader(mounts.as_slice())
        .records()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(field(&first, "commands"), "run;create");
    assert_eq!(field(&first, "client_uid"), "1000");
    assert_eq!(
        field(&first, "client_user_agent"),
        "Docker-Client/20.10.24 (linux)"
    );

    let none = Filter {
        text: Some("no such text".into()),
        ..Filter::default()
    };
    let mut empty = Vec::new();
    assert_eq!(
        export(dir.path(), &none, Format::Json, &mut empty).unwrap(),
        0
    );
    assert_eq!(
        serde_json::from_slice::<Vec<StoredBlock>>(&empty).unwrap(),
        vec![]
    );
    let mut header_only = Vec::new();
    export(dir.path(), &none, Format::Csv, &mut header_only).unwrap();
    assert_eq!(
        String::from_utf8(header_only).unwrap(),
        format!("{}\n", CSV_COLUMNS.join(","))
    );
}

#[test]
fn export_refuses_what_is_not_a_history() {
    let dir = tempfile::tempdir().unwrap();
    let missing = export(
        &dir.path().join("nope"),
        &Filter::default(),
        Format::Json,
        Vec::new(),
    );
    assert!(
        matches!(missing, Err(HistoryError::NotFound(_))),
        "{missing:?}"
    );

    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    rusqlite::Connection::open(eci_history::db_path(&other))
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let result = export(&other, &Filter::default(), Format::Json, Vec::new());
    assert!(
        matches!(result, Err(HistoryError::NotHistory(_))),
        "{result:?}"
    );

    let newer = dir.path().join("newer");
    History::open(&newer, Retention::default()).close().unwrap();
    rusqlite::Connection::open(eci_history::db_path(&newer))
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let result = export(&newer, &Filter::default(), Format::Csv, Vec::new());
    assert!(
        matches!(result, Err(HistoryError::NewerSchema { found: 99, .. })),
        "{result:?}"
    );
}

/// Records `n` blocks on another thread and fails the test if they do not all return within
/// ten seconds, which they would not if `record` waited on the store.
fn record_without_waiting(h: &History, n: u64) {
    let recorder = h.recorder();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..n {
            recorder.record(common::nth(i, 0));
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(10))
        .expect("record() waited on the store");
}

#[test]
fn a_broken_store_never_stalls_recording_and_shows_in_status() {
    type Setup = fn(&Path) -> std::path::PathBuf;
    let cases: [(&str, Setup); 4] = [
        ("state dir is a file", |root| {
            let f = root.join("state");
            std::fs::write(&f, "").unwrap();
            f
        }),
        ("state dir under a file", |root| {
            std::fs::write(root.join("file"), "").unwrap();
            root.join("file/state")
        }),
        ("database is a directory", |root| {
            std::fs::create_dir_all(root.join(eci_history::DB_FILE)).unwrap();
            root.to_owned()
        }),
        ("database is not SQLite", |root| {
            std::fs::write(root.join(eci_history::DB_FILE), vec![b'x'; 8192]).unwrap();
            root.to_owned()
        }),
    ];
    for (what, setup) in cases {
        let root = tempfile::tempdir().unwrap();
        let state = setup(root.path());
        let h = History::open_with(
            &state,
            Config {
                capacity: 64,
                batch: 16,
                ..fast()
            },
        );
        let opened = h.status();
        assert!(!opened.healthy, "{what}: {opened:?}");
        assert!(opened.last_error.is_some(), "{what}");

        record_without_waiting(&h, 1000);
        let flushed = h.flush();
        assert!(
            matches!(flushed, Err(HistoryError::Unavailable(_))),
            "{what}: {flushed:?}"
        );
        let s = h.status();
        assert!(!s.healthy, "{what}");
        assert_eq!(s.recorded, 1000, "{what}");
        assert_eq!(s.committed, 0, "{what}");
        assert!(s.dropped + s.lost > 0, "{what}: {s:?}");
        assert_eq!(s.dropped + s.lost + s.pending, 1000, "{what}: {s:?}");
        assert!(s.pending <= 64, "{what}: backlog bounded: {s:?}");
        assert!(
            h.query(&Filter::default(), &Page::default()).is_err(),
            "{what}"
        );
    }
}

#[test]
fn a_store_that_comes_back_gets_the_backlog() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    std::fs::write(&state, "").unwrap();
    let h = History::open_with(&state, fast());
    for i in 0..3 {
        h.recorder().record(common::nth(i, 0));
    }
    assert!(h.flush().is_err());
    std::fs::remove_file(&state).unwrap();
    h.flush().unwrap();
    let s = h.status();
    assert!(s.healthy, "{s:?}");
    assert_eq!((s.recorded, s.committed, s.pending), (3, 3, 0));
    assert_eq!(ids(&all(&h)), vec![3, 2, 1]);
}

#[test]
fn a_locked_database_drops_and_counts_instead_of_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        capacity: 4,
        batch: 4,
        busy_timeout: Duration::from_secs(60),
        ..fast()
    };
    let h = History::open_with(dir.path(), config);
    h.flush().unwrap();
    let other = rusqlite::Connection::open(eci_history::db_path(dir.path())).unwrap();
    // Another process (a backup, a CLI) holds the write lock; the writer waits for it.
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();

    record_without_waiting(&h, 1000);
    let s = h.status();
    assert_eq!(s.recorded, 1000);
    assert!(s.dropped >= 1000 - 4 - 4 - 1, "{s:?}");

    other.execute_batch("COMMIT").unwrap();
    h.flush().unwrap();
    let s = h.status();
    assert!(s.healthy);
    assert_eq!(s.committed + s.dropped, 1000, "{s:?}");
    assert_eq!(
        h.query(&Filter::default(), &Page::default()).unwrap().total,
        s.committed
    );
}

#[test]
fn records_after_close_are_dropped_not_lost_track_of() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), fast());
    let recorder = h.recorder();
    let now = Timestamp::now().unix_ms();
    recorder.record(common::nth(0, now));
    h.close().unwrap();
    assert_eq!(
        recorder.record(common::nth(1, now)),
        eci_history::Recorded::Dropped
    );
    let h = History::open_with(dir.path(), fast());
    assert_eq!(ids(&all(&h)), vec![1]);
}

#[test]
fn long_client_text_is_stored_and_streamed_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), fast());
    let mut live = h.subscribe();
    let mut r = command(
        1,
        "c",
        "ps",
        &format!("/v1.41/containers/json?{}", "a".repeat(1_000_000)),
    );
    r.message = r.path.clone();
    h.recorder().record(r);
    let streamed = live.blocking_recv().unwrap();
    assert!(streamed.record.path.len() <= eci_history::MAX_FIELD);
    assert!(streamed.record.message.len() <= eci_history::MAX_FIELD);
    assert_eq!(all(&h), vec![streamed]);
}
