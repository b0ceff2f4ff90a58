//! What a history query asks for: the filters (shared by the app, the CLI and export) and paging,
//! and their translation into one parameterised SQL condition.

use rusqlite::types::Value;
use serde::{Deserialize, Serialize};

use crate::record::{kind_str, BlockKind, Outcome, SocketKind, StoredBlock, Timestamp};

/// Which blocks to show. Every field narrows; the default matches every block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct Filter {
    /// Only blocks of this kind: socket_mount, command, host_access, invalid_request (repeatable).
    #[cfg_attr(feature = "clap", arg(long = "kind", value_name = "KIND", value_parser = crate::record::parse_kind))]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<BlockKind>>"))]
    pub kinds: Vec<BlockKind>,
    /// Only refused requests (blocked) or only those forwarded in audit mode (audited); both when
    /// absent.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub outcome: Option<Outcome>,
    /// Only blocks that arrived on this socket.
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub socket: Option<SocketKind>,
    /// The image name or image id contains this (case-insensitive).
    #[cfg_attr(feature = "clap", arg(long))]
    pub image: Option<String>,
    /// One of the request's commands is exactly this (`push`, `image push`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub command: Option<String>,
    /// At or after this time (RFC 3339, or unix milliseconds).
    #[cfg_attr(feature = "clap", arg(long, value_name = "TIME"))]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub since: Option<Timestamp>,
    /// Before this time (RFC 3339, or unix milliseconds).
    #[cfg_attr(feature = "clap", arg(long, value_name = "TIME"))]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub until: Option<Timestamp>,
    /// The reason, message, path, image or container name contains this (case-insensitive).
    #[cfg_attr(feature = "clap", arg(long))]
    pub text: Option<String>,
}

/// A position in the newest-first order: the page after it starts with the next older block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cursor {
    pub unix_ms: i64,
    pub id: i64,
}

impl Cursor {
    pub fn of(block: &StoredBlock) -> Cursor {
        Cursor {
            unix_ms: block.record.time.unix_ms(),
            id: block.id,
        }
    }
}

/// The most rows one page returns, whatever was asked: pages are held in memory.
pub const MAX_PAGE: u32 = 10_000;

/// Which slice of the matching blocks, newest first. Either skip `offset` rows, or continue
/// `after` a cursor (stable while new blocks arrive); both may be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Page {
    /// At most this many rows (capped at [`MAX_PAGE`]).
    pub limit: u32,
    pub offset: u64,
    pub after: Option<Cursor>,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: 100,
            offset: 0,
            after: None,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QueryPage {
    /// Blocks matching the filter, on every page (the cursor does not narrow it).
    pub total: u64,
    pub blocks: Vec<StoredBlock>,
    /// Where the next page starts, when this page was full.
    pub next: Option<Cursor>,
}

/// A filter as SQL: the tables, a condition over them and its parameters, in order.
///
/// With a command filter the query starts from the `block_commands` index, which holds the
/// command and the time: newest-first pages walk it in order and stop early, and a count
/// narrowed only by command and time never touches the wide `blocks` rows.
pub(crate) struct Condition {
    /// `FROM` for selecting rows (every `blocks` column is available).
    pub from: &'static str,
    /// `FROM` for counting: skips the join when no `blocks` column is tested.
    pub count_from: &'static str,
    pub sql: String,
    pub params: Vec<Value>,
    /// The columns giving the order (time, then id).
    pub time: &'static str,
    pub id: &'static str,
}

const BLOCKS: &str = "blocks";
const BY_COMMAND: &str = "block_commands c JOIN blocks ON blocks.id = c.block_id";

/// The terms of a `WHERE`, ANDed, and their parameters in order.
#[derive(Default)]
struct Terms {
    parts: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    pub(crate) fn condition(&self) -> Condition {
        let by_command = self.command.is_some();
        let (time, id) = if by_command {
            ("c.unix_ms", "c.block_id")
        } else {
            ("blocks.unix_ms", "blocks.id")
        };
        let mut terms = Terms::default();
        self.index_terms(time, &mut terms);
        let index_only = terms.parts.len();
        self.row_terms(&mut terms);
        let Terms { parts, params } = terms;
        let (from, count_from) = match (by_command, parts.len() == index_only) {
            (false, _) => (BLOCKS, BLOCKS),
            (true, true) => (BY_COMMAND, "block_commands c"),
            (true, false) => (BY_COMMAND, BY_COMMAND),
        };
        let sql = if parts.is_empty() {
            "1".to_owned()
        } else {
            parts.join(" AND ")
        };
        Condition {
            from,
            count_from,
            sql,
            params,
            time,
            id,
        }
    }

    /// The terms the `block_commands` index answers alone: the command and the time (`time`,
    /// the column that holds it).
    fn index_terms(&self, time: &str, t: &mut Terms) {
        if let Some(command) = &self.command {
            t.parts.push("c.command = ?".into());
            t.params.push(Value::Text(command.clone()));
        }
        if let Some(since) = self.since {
            t.parts.push(format!("{time} >= ?"));
            t.params.push(Value::Integer(since.unix_ms()));
        }
        if let Some(until) = self.until {
            t.parts.push(format!("{time} < ?"));
            t.params.push(Value::Integer(until.unix_ms()));
        }
    }

    /// The terms on `blocks` columns.
    fn row_terms(&self, t: &mut Terms) {
        if !self.kinds.is_empty() {
            let marks = vec!["?"; self.kinds.len()].join(", ");
            t.parts.push(format!("blocks.kind IN ({marks})"));
            t.params.extend(
                self.kinds
                    .iter()
                    .map(|k| Value::Text(kind_str(*k).to_owned())),
            );
        }
        if let Some(outcome) = self.outcome {
            // A literal, not a parameter: only then may SQLite use the partial index of audited
            // rows.
            t.parts.push(match outcome {
                Outcome::Blocked => "blocks.audited = 0".into(),
                Outcome::Audited => "blocks.audited = 1".into(),
            });
        }
        if let Some(socket) = self.socket {
            t.parts.push("blocks.socket = ?".into());
            t.params.push(Value::Text(socket.as_str().to_owned()));
        }
        if let Some(image) = &self.image {
            t.parts.push(
                r"(blocks.image LIKE ? ESCAPE '\' OR blocks.image_id LIKE ? ESCAPE '\')".into(),
            );
            t.params.extend(std::iter::repeat_n(contains(image), 2));
        }
        if let Some(text) = &self.text {
            let columns = ["reason", "message", "path", "image", "container_name"];
            let any = columns
                .map(|c| format!(r"blocks.{c} LIKE ? ESCAPE '\'"))
                .join(" OR ");
            t.parts.push(format!("({any})"));
            t.params
                .extend(std::iter::repeat_n(contains(text), columns.len()));
        }
    }
}

/// A LIKE pattern for "contains `s`", with LIKE's own wildcards taken literally.
fn contains(s: &str) -> Value {
    let mut pattern = String::with_capacity(s.len() + 2);
    pattern.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Value::Text(pattern)
}

#[cfg(all(test, feature = "clap"))]
mod clap_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        filter: Filter,
    }

    #[test]
    fn the_cli_reads_every_filter() {
        let cli = Cli::try_parse_from([
            "history",
            "--kind",
            "command",
            "--kind",
            "socket_mount",
            "--outcome",
            "audited",
            "--socket",
            "filtered",
            "--image",
            "busybox",
            "--command",
            "push",
            "--since",
            "2026-11-28T00:00:00Z",
            "--until",
            "1795897809123",
            "--text",
            "denied",
        ])
        .unwrap();
        assert_eq!(
            cli.filter,
            Filter {
                kinds: vec![BlockKind::Command, BlockKind::SocketMount],
                outcome: Some(Outcome::Audited),
                socket: Some(SocketKind::Filtered),
                image: Some("busybox".into()),
                command: Some("push".into()),
                since: Some("2026-11-28T00:00:00Z".parse().unwrap()),
                until: Timestamp::from_unix_ms(1_795_897_809_123),
                text: Some("denied".into()),
            }
        );
        assert!(Cli::try_parse_from(["history", "--kind", "push"]).is_err());
        assert!(Cli::try_parse_from(["history", "--since", "yesterday"]).is_err());
        assert!(Cli::try_parse_from(["history", "--outcome", "allowed"]).is_err());
    }
}
