//! Export of the matching blocks as CSV or as a JSON array of objects, streamed row by row, and
//! the read-only entry point the CLI's `eci-guard history` uses.

use std::io::Write;
use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::HistoryError;
use crate::filter::Filter;
use crate::record::{kind_str, StoredBlock};
use crate::store;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "ExportFormat"))]
pub enum Format {
    #[default]
    Json,
    Csv,
}

/// The CSV columns, in order. `commands` is `;`-separated (command names may hold spaces, never
/// a `;`); `audited` is `true` for a request forwarded in audit mode, `false` for one refused.
pub const CSV_COLUMNS: [&str; 21] = [
    "id",
    "time",
    "unix_ms",
    "kind",
    "audited",
    "socket",
    "socket_path",
    "container_id",
    "container_name",
    "image",
    "image_id",
    "commands",
    "method",
    "path",
    "reason",
    "message",
    "policy_version",
    "client_pid",
    "client_uid",
    "client_gid",
    "client_user_agent",
];

/// Writes every block of the history in `state_dir` that matches `filter`, newest first, and
/// returns how many. Opens the database for reading only, so it runs beside a live enforcer.
pub fn export<W: Write>(
    state_dir: &Path,
    filter: &Filter,
    format: Format,
    out: W,
) -> Result<u64, HistoryError> {
    let conn = store::open_reader(state_dir)?;
    export_from(&conn, &store::db_path(state_dir), filter, format, out)
}

pub(crate) fn export_from<W: Write>(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    format: Format,
    out: W,
) -> Result<u64, HistoryError> {
    match format {
        Format::Json => json(conn, path, filter, out),
        Format::Csv => csv(conn, path, filter, out),
    }
}

fn json<W: Write>(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    mut out: W,
) -> Result<u64, HistoryError> {
    let mut n = 0u64;
    out.write_all(b"[")?;
    store::each(conn, path, filter, None, None, |block| {
        out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut out, &block)?;
        n += 1;
        Ok(())
    })?;
    out.write_all(if n == 0 { b"]\n" } else { b"\n]\n" })?;
    out.flush()?;
    Ok(n)
}

fn csv<W: Write>(
    conn: &Connection,
    path: &Path,
    filter: &Filter,
    out: W,
) -> Result<u64, HistoryError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    let mut n = 0u64;
    store::each(conn, path, filter, None, None, |block| {
        w.write_record(csv_row(&block))?;
        n += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(n)
}

fn csv_row(b: &StoredBlock) -> [String; 21] {
    let r = &b.record;
    let client = r.client.clone().unwrap_or_default();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    [
        b.id.to_string(),
        r.time.rfc3339(),
        r.time.unix_ms().to_string(),
        kind_str(r.kind).to_owned(),
        r.audited.to_string(),
        r.socket.as_str().to_owned(),
        cell(&r.socket_path),
        cell(&opt(&r.container_id)),
        cell(&opt(&r.container_name)),
        cell(&opt(&r.image)),
        cell(&opt(&r.image_id)),
        cell(&r.commands.join(";")),
        cell(&r.method),
        cell(&r.path),
        cell(&r.reason),
        cell(&r.message),
        cell(&r.policy_version),
        num(client.pid.map(i64::from)),
        num(client.uid.map(i64::from)),
        num(client.gid.map(i64::from)),
        cell(&opt(&client.user_agent)),
    ]
}

/// Most fields come from the blocked client (paths, image names, user agents). A cell starting
/// with `=`, `+`, `-`, `@`, tab or CR is a formula to a spreadsheet that opens the export, so it
/// is prefixed with `'`, the mark spreadsheets read as "text".
fn cell(s: &str) -> String {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn spreadsheet_formulas_are_defused() {
        let cases = [
            ("/v1.41/containers/create", "/v1.41/containers/create"),
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("busybox=1", "busybox=1"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(cell(input), want, "{input:?}");
        }
    }
}
