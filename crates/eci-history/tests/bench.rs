//! 100,000 blocks: every filter returns the right total and page at that size; the timings are
//! printed (`--nocapture`) as figures, not asserted.

mod common;

use std::time::{Duration, Instant};

use eci_history::{BlockKind, Config, Filter, Format, History, Page, Retention, Timestamp};

const N: u64 = 100_000;

#[test]
fn filtered_pages_at_100k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let base = Timestamp::now().unix_ms() - N as i64;
    let retention = Retention {
        max_rows: N,
        ..Retention::default()
    };
    let h = History::open_with(
        dir.path(),
        Config {
            capacity: N as usize,
            retention,
            ..Config::default()
        },
    );
    let recorder = h.recorder();
    let records: Vec<_> = (0..N).map(|i| common::nth(i, base)).collect();
    let started = Instant::now();
    for r in records {
        recorder.record(r);
    }
    let queued = started.elapsed();
    h.flush().unwrap();
    let committed = started.elapsed();
    assert_eq!(h.status().committed, N);
    eprintln!(
        "record(): {:.0} ns/block on the caller; committed {N} blocks in {:.2} s = {:.0} blocks/s",
        queued.as_nanos() as f64 / N as f64,
        committed.as_secs_f64(),
        N as f64 / committed.as_secs_f64()
    );

    let t = |ms: i64| Timestamp::from_unix_ms(base + ms);
    type Pred = Box<dyn Fn(u64) -> bool>;
    let cases: Vec<(&str, Filter, Pred)> = vec![
        ("no filter", Filter::default(), Box::new(|_| true)),
        (
            "kind",
            Filter {
                kinds: vec![BlockKind::Command],
                ..Filter::default()
            },
            Box::new(|i| i % 4 == 1 || i % 4 == 2),
        ),
        (
            "image substring",
            Filter {
                image: Some("team4".into()),
                ..Filter::default()
            },
            Box::new(|i| i % 20 == 4),
        ),
        (
            "command",
            Filter {
                command: Some("push".into()),
                ..Filter::default()
            },
            Box::new(|i| i % 4 == 1),
        ),
        (
            "text",
            Filter {
                text: Some("duplicate".into()),
                ..Filter::default()
            },
            Box::new(|i| i % 4 == 3),
        ),
        (
            "time range",
            Filter {
                since: t(10_000),
                until: t(20_000),
                ..Filter::default()
            },
            Box::new(|i| (10_000..20_000).contains(&i)),
        ),
        (
            "kind + command + text + time",
            Filter {
                kinds: vec![BlockKind::Command],
                command: Some("build".into()),
                text: Some("agent-3".into()),
                since: t(50_000),
                ..Filter::default()
            },
            Box::new(|i| i % 4 == 2 && i % 7 == 3 && i >= 50_000),
        ),
    ];
    for (what, filter, pred) in cases {
        let want: Vec<u64> = (0..N).rev().filter(|i| pred(*i)).collect();
        let started = Instant::now();
        let page = h.query(&filter, &Page::default()).unwrap();
        let took = started.elapsed();
        assert_eq!(page.total, want.len() as u64, "{what}");
        let got: Vec<u64> = page
            .blocks
            .iter()
            .map(|b| (b.record.time.unix_ms() - base) as u64)
            .collect();
        assert_eq!(got, want[..want.len().min(100)], "{what}");
        eprintln!(
            "query {what:30} total {:6} first page in {}",
            page.total,
            ms(took)
        );
    }

    let started = Instant::now();
    let deep = h
        .query(
            &Filter::default(),
            &Page {
                limit: 100,
                offset: 50_000,
                after: None,
            },
        )
        .unwrap();
    eprintln!("query offset 50000 in {}", ms(started.elapsed()));
    let started = Instant::now();
    let keyset = h
        .query(
            &Filter::default(),
            &Page {
                limit: 100,
                offset: 0,
                after: deep.next,
            },
        )
        .unwrap();
    eprintln!(
        "query after a cursor at row 50100 in {}",
        ms(started.elapsed())
    );
    assert_eq!(keyset.blocks[0].id, deep.blocks[99].id - 1);

    for format in [Format::Json, Format::Csv] {
        let started = Instant::now();
        let mut out = Vec::new();
        assert_eq!(h.export(&Filter::default(), format, &mut out).unwrap(), N);
        eprintln!(
            "export {format:?} of {N} rows ({} MB) in {}",
            out.len() / 1_000_000,
            ms(started.elapsed())
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
