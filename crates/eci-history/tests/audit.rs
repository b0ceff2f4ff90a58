//! Audit mode in the history: audited records beside refused ones, the outcome filter, exports,
//! the count for "Enforce now", and databases written before audit mode existed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{command, mount};
use eci_history::{
    export, AuditCount, BlockKind, Config, Filter, Format, History, KindCount, Outcome, Page,
    Retention, StoredBlock, Timestamp, CSV_COLUMNS, SCHEMA_VERSION,
};

/// Keeps what the tests write, whatever today's date.
fn keep_all() -> Config {
    Config {
        retention: Retention {
            max_rows: 1_000_000,
            max_age: Duration::from_secs(1000 * 365 * 86_400),
            ..Retention::default()
        },
        ..Config::default()
    }
}

fn audited(mut r: eci_history::BlockRecord) -> eci_history::BlockRecord {
    r.audited = true;
    r
}

fn ids(page: &[StoredBlock]) -> Vec<i64> {
    page.iter().map(|b| b.id).collect()
}

fn query(h: &History, filter: &Filter) -> (u64, Vec<i64>) {
    let page = h.query(filter, &Page::default()).unwrap();
    (page.total, ids(&page.blocks))
}

/// Ids 1..=6: 1 mount refused, 2 mount audited, 3 push refused, 4 push audited, 5 build audited,
/// 6 host access audited.
fn mixed(dir: &Path) -> History {
    let h = History::open_with(dir, keep_all());
    let r = h.recorder();
    let mut host = mount(6000, "busybox");
    host.kind = BlockKind::HostAccess;
    host.reason = "--privileged gives the container the host".into();
    for block in [
        mount(1000, "evil/grabber"),
        audited(mount(2000, "evil/grabber")),
        command(3000, "ci", "push", "/v1.41/images/a/push"),
        audited(command(4000, "ci", "push", "/v1.41/images/b/push")),
        audited(command(5000, "ci", "build", "/v1.41/build")),
        audited(host),
    ] {
        r.record(block);
    }
    h.flush().unwrap();
    h
}

#[test]
fn the_outcome_filter_separates_audited_from_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = mixed(dir.path());
    let cases: Vec<(&str, Filter, Vec<i64>)> = vec![
        ("both", Filter::default(), vec![6, 5, 4, 3, 2, 1]),
        (
            "refused only",
            Filter {
                outcome: Some(Outcome::Blocked),
                ..Filter::default()
            },
            vec![3, 1],
        ),
        (
            "audited only",
            Filter {
                outcome: Some(Outcome::Audited),
                ..Filter::default()
            },
            vec![6, 5, 4, 2],
        ),
        (
            "audited, with a kind",
            Filter {
                outcome: Some(Outcome::Audited),
                kinds: vec![BlockKind::Command],
                ..Filter::default()
            },
            vec![5, 4],
        ),
        (
            // The command filter starts from the command index and joins the rows.
            "audited, with a command",
            Filter {
                outcome: Some(Outcome::Audited),
                command: Some("push".into()),
                ..Filter::default()
            },
            vec![4],
        ),
        (
            "refused, with a command",
            Filter {
                outcome: Some(Outcome::Blocked),
                command: Some("push".into()),
                ..Filter::default()
            },
            vec![3],
        ),
        (
            "audited, with a time",
            Filter {
                outcome: Some(Outcome::Audited),
                since: Timestamp::from_unix_ms(4000),
                until: Timestamp::from_unix_ms(6000),
                ..Filter::default()
            },
            vec![5, 4],
        ),
    ];
    for (what, filter, want) in cases {
        let (total, got) = query(&h, &filter);
        assert_eq!(got, want, "{what}");
        assert_eq!(total, want.len() as u64, "{what}: total");
    }
    let all = h
        .query(&Filter::default(), &Page::default())
        .unwrap()
        .blocks;
    let flags: Vec<bool> = all.iter().map(|b| b.record.audited).collect();
    assert_eq!(flags, [true, true, true, false, true, false]);
}

#[test]
fn the_live_stream_and_exports_carry_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open_with(dir.path(), keep_all());
    let mut live = h.subscribe();
    let r = h.recorder();
    r.record(mount(1000, "evil/grabber"));
    r.record(audited(command(2000, "ci", "push", "/v1.41/images/a/push")));
    h.flush().unwrap();
    assert!(!live.try_recv().unwrap().record.audited);
    assert!(live.try_recv().unwrap().record.audited);

    let mut json = Vec::new();
    export(dir.path(), &Filter::default(), Format::Json, &mut json).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    let flags: Vec<&serde_json::Value> = rows.iter().map(|r| &r["audited"]).collect();
    assert_eq!(flags, [&serde_json::json!(true), &serde_json::json!(false)]);

    let only_audited = Filter {
        outcome: Some(Outcome::Audited),
        ..Filter::default()
    };
    let mut csv_out = Vec::new();
    assert_eq!(
        h.export(&only_audited, Format::Csv, &mut csv_out).unwrap(),
        1
    );
    let mut reader = csv::Reader::from_reader(csv_out.as_slice());
    let column = CSV_COLUMNS.iter().position(|c| *c == "audited").unwrap();
    assert_eq!(&reader.headers().unwrap()[column], "audited");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][column], "true");
    assert_eq!(
        &rows[0][CSV_COLUMNS.iter().position(|c| *c == "kind").unwrap()],
        "command"
    );
}

#[test]
fn audited_requests_are_counted_by_kind_since_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let h = mixed(dir.path());
    let count = |ms| {
        h.audited_since(Timestamp::from_unix_ms(ms).unwrap())
            .unwrap()
    };

    let everything = count(0);
    assert_eq!(
        everything,
        AuditCount {
            since: Timestamp::from_unix_ms(0).unwrap(),
            total: 4,
            by_kind: vec![
                KindCount {
                    kind: BlockKind::Command,
                    count: 2
                },
                KindCount {
                    kind: BlockKind::HostAccess,
                    count: 1
                },
                KindCount {
                    kind: BlockKind::SocketMount,
                    count: 1
                },
            ],
        }
    );
    // Refused requests never count: enforcing changes nothing for them.
    let later = count(2001);
    assert_eq!(later.total, 3);
    assert_eq!(later.of(BlockKind::SocketMount), 0);
    assert_eq!(later.of(BlockKind::Command), 2);
    // `since` is inclusive, like the query filter's.
    assert_eq!(count(6000).total, 1);
    assert_eq!(
        count(6001),
        AuditCount {
            since: Timestamp::from_unix_ms(6001).unwrap(),
            total: 0,
            by_kind: vec![],
        }
    );

    // The same count as the query with the outcome filter.
    let filter = Filter {
        outcome: Some(Outcome::Audited),
        since: Timestamp::from_unix_ms(2001),
        ..Filter::default()
    };
    assert_eq!(
        h.query(&filter, &Page::default()).unwrap().total,
        later.total
    );

    h.clear().unwrap();
    assert_eq!(count(0).total, 0);
}

/// The schema and the insert of the first release (user_version 1), frozen here: what a
/// database on a user's disk looks like before audit mode.
const SCHEMA_1: &str = "
CREATE TABLE blocks (
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
CREATE INDEX blocks_by_time ON blocks(unix_ms);
CREATE INDEX blocks_by_kind_time ON blocks(kind, unix_ms);
CREATE TABLE block_commands (
    block_id INTEGER NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    unix_ms INTEGER NOT NULL,
    PRIMARY KEY (block_id, command)
) WITHOUT ROWID;
CREATE INDEX block_commands_by_command ON block_commands(command, unix_ms, block_id);
PRAGMA user_version = 1;
";

fn write_schema_1(dir: &Path, records: &[eci_history::BlockRecord]) {
    std::fs::create_dir_all(dir).unwrap();
    let conn = rusqlite::Connection::open(eci_history::db_path(dir)).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    conn.execute_batch(SCHEMA_1).unwrap();
    for r in records {
        conn.execute(
            "INSERT INTO blocks (unix_ms, socket, socket_path, container_id, container_name, \
             image, image_id, kind, commands, method, path, reason, message, policy_version, \
             client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![
                r.time.unix_ms(),
                r.socket.as_str(),
                r.socket_path,
                r.container_id,
                r.container_name,
                r.image,
                r.image_id,
                eci_history::kind_str(r.kind),
                serde_json::to_string(&r.commands).unwrap(),
                r.method,
                r.path,
                r.reason,
                r.message,
                r.policy_version,
                r.client.as_ref().map(|c| serde_json::to_string(c).unwrap()),
            ],
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        for c in &r.commands {
            conn.execute(
                "INSERT INTO block_commands (block_id, command, unix_ms) VALUES (?, ?, ?)",
                rusqlite::params![id, c, r.time.unix_ms()],
            )
            .unwrap();
        }
    }
}

fn user_version(dir: &Path) -> i64 {
    rusqlite::Connection::open(eci_history::db_path(dir))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_database_from_before_audit_mode_keeps_its_rows_as_refused() {
    let dir = tempfile::tempdir().unwrap();
    let old = vec![
        mount(1000, "evil/grabber"),
        command(2000, "ci", "push", "/v1.41/images/a/push"),
    ];
    write_schema_1(dir.path(), &old);

    // A reader (the CLI's `history`, an export) never migrates, and still reads every row.
    let mut json = Vec::new();
    let refused_only = Filter {
        outcome: Some(Outcome::Blocked),
        ..Filter::default()
    };
    assert_eq!(
        export(dir.path(), &refused_only, Format::Json, &mut json).unwrap(),
        2
    );
    let read: Vec<StoredBlock> = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        read.iter().map(|b| b.record.clone()).collect::<Vec<_>>(),
        [old[1].clone(), old[0].clone()]
    );
    assert_eq!(
        user_version(dir.path()),
        1,
        "a reader left the schema alone"
    );

    // The writer migrates it: same rows, same ids, all refused; new rows may be audited.
    let h = History::open_with(dir.path(), keep_all());
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
    let rows = h
        .query(&Filter::default(), &Page::default())
        .unwrap()
        .blocks;
    assert_eq!(ids(&rows), [2, 1]);
    assert_eq!(rows[0].record, old[1]);
    assert_eq!(rows[1].record, old[0]);
    assert!(rows.iter().all(|b| !b.record.audited));
    let by_command = Filter {
        command: Some("push".into()),
        ..Filter::default()
    };
    assert_eq!(query(&h, &by_command), (1, vec![2]));

    h.recorder()
        .record(audited(command(3000, "ci", "push", "/v1.41/images/b/push")));
    h.flush().unwrap();
    assert_eq!(
        query(
            &h,
            &Filter {
                outcome: Some(Outcome::Audited),
                ..Filter::default()
            }
        ),
        (1, vec![3])
    );
    assert_eq!(
        h.audited_since(Timestamp::from_unix_ms(0).unwrap())
            .unwrap()
            .total,
        1
    );
    h.close().unwrap();

    // Opening a migrated database again changes nothing.
    let h = History::open_with(dir.path(), keep_all());
    assert_eq!(query(&h, &Filter::default()), (3, vec![3, 2, 1]));
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
}

#[test]
fn a_new_database_has_the_schema_a_migrated_one_has() {
    let schema = |dir: &Path| -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(eci_history::db_path(dir)).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    };
    let new = tempfile::tempdir().unwrap();
    History::open_with(new.path(), keep_all()).close().unwrap();
    let migrated = tempfile::tempdir().unwrap();
    write_schema_1(migrated.path(), &[]);
    History::open_with(migrated.path(), keep_all())
        .close()
        .unwrap();
    let (a, b) = (schema(new.path()), schema(migrated.path()));
    assert!(
        a.iter().any(|(name, _)| name == "blocks_audited_by_time"),
        "{a:?}"
    );
    // Names and columns agree; `IF NOT EXISTS` is the only difference in their text.
    let normalise = |s: &[(String, String)]| -> Vec<(String, String)> {
        s.iter()
            .map(|(n, sql)| {
                let sql = sql.replace("IF NOT EXISTS ", "");
                (
                    n.clone(),
                    sql.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect()
    };
    assert_eq!(normalise(&a), normalise(&b));
}
