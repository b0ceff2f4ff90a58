//! What enforcing would refuse: the requests forwarded in audit mode since a time, counted by
//! kind, for the app's "Enforce now".

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::HistoryError;
use crate::record::{parse_kind, BlockKind, Timestamp};

/// Audited requests at or after `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditCount {
    pub since: Timestamp,
    pub total: u64,
    /// Kinds with at least one audited request, in the order of [`crate::kind_str`] names.
    pub by_kind: Vec<KindCount>,
}

/// How many audited requests of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KindCount {
    pub kind: BlockKind,
    pub count: u64,
}

impl AuditCount {
    /// The count of one kind; 0 when none was audited.
    pub fn of(&self, kind: BlockKind) -> u64 {
        self.by_kind
            .iter()
            .find(|k| k.kind == kind)
            .map_or(0, |k| k.count)
    }
}

/// `audited = 1` is a literal so that the partial index of audited rows answers it.
const COUNT_SQL: &str = "SELECT kind, COUNT(*) FROM blocks WHERE audited = 1 AND unix_ms >= ? \
                         GROUP BY kind ORDER BY kind";

pub(crate) fn audited_since(
    conn: &Connection,
    path: &Path,
    since: Timestamp,
) -> Result<AuditCount, HistoryError> {
    let db = |source| HistoryError::Database {
        path: path.to_owned(),
        source,
    };
    let mut stmt = conn.prepare_cached(COUNT_SQL).map_err(db)?;
    let rows = stmt
        .query_map([since.unix_ms()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(db)?;
    let mut by_kind = Vec::new();
    for row in rows {
        let (kind, count) = row.map_err(db)?;
        let kind = parse_kind(&kind)?;
        by_kind.push(KindCount {
            kind,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(AuditCount {
        since,
        total: by_kind.iter().map(|k| k.count).sum(),
        by_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::record::Outcome;

    fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>();
        rows.join("; ")
    }

    /// The count of the last day and the "audited only" pages read the audited rows alone, not
    /// the whole day of refused ones.
    #[test]
    fn audited_rows_are_read_through_their_own_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            crate::store::open_writer(dir.path(), std::time::Duration::from_secs(1)).unwrap();
        let count = plan(&conn, COUNT_SQL, [0]);
        assert!(
            count.contains("USING COVERING INDEX blocks_audited_by_kind_time"),
            "{count}"
        );

        let filter = Filter {
            outcome: Some(Outcome::Audited),
            ..Filter::default()
        };
        let cond = filter.condition();
        let page = plan(
            &conn,
            &format!(
                "SELECT id FROM {} WHERE {} ORDER BY {} DESC, {} DESC LIMIT 100",
                cond.from, cond.sql, cond.time, cond.id
            ),
            rusqlite::params_from_iter(cond.params),
        );
        assert!(page.contains("blocks_audited_by_time"), "{page}");
        assert!(
            !page.contains("TEMP B-TREE"),
            "pages come in index order: {page}"
        );
    }
}
