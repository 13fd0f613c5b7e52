//! The figures a snapshot holds, and the counting that fills them.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::super::LayoutKind;

/// `(key, count)` pairs in threadkeeper's display order: the known keys
/// first, then any others sorted.
pub type Group = Vec<(String, i64)>;

/// Groups go out as JSON objects (`{"active": 3, ...}`), the shape a
/// reader of `status --json` expects.
pub(super) fn group_as_map<S: serde::Serializer>(
    g: &Group,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(g.len()))?;
    for (k, n) in g {
        m.serialize_entry(k, n)?;
    }
    m.end()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stores {
    #[serde(serialize_with = "group_as_map")]
    pub threads: Group,
    pub threads_total: i64,
    pub notes: i64,
    pub dialog: i64,
    pub distill: i64,
    pub concepts: i64,
    #[serde(serialize_with = "group_as_map")]
    pub skills_by_tier: Group,
    #[serde(serialize_with = "group_as_map")]
    pub claims_by_tier: Group,
    #[serde(serialize_with = "group_as_map")]
    pub extract_candidates: Group,
    #[serde(serialize_with = "group_as_map")]
    pub evolve: Group,
    pub probes: i64,
    pub probe_results: i64,
    pub tasks_running: i64,
    pub tasks_total: i64,
    pub db_bytes: u64,
    pub wal_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopFigures {
    pub kind: String,
    pub label: String,
    pub fires_window: u64,
    pub fires_30d: u64,
    pub fires_all: u64,
    pub last_at: Option<i64>,
    /// Fires per hour over the last 24 hours, oldest hour first.
    pub fires_by_hour: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeFigures {
    pub kind: String,
    pub window: u64,
    pub d30: u64,
    pub all: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AcceptRate {
    pub accepted: u64,
    pub decided: u64,
    /// Accepts inside the window (all `accept_candidate*` kinds).
    pub accepted_window: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reliability {
    pub weak_categories: i64,
    pub untested_categories: i64,
}

/// One consistent reading of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFigures {
    pub now: i64,
    pub window_days: u32,
    pub layout: LayoutKind,
    pub stores: Stores,
    pub loops: Vec<LoopFigures>,
    pub outcomes: Vec<OutcomeFigures>,
    pub candidate_accept_rate: AcceptRate,
    pub reliability: Reliability,
    pub events_high_water: i64,
}

/// What a refresh had to do, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    pub new_events: u64,
    pub threads_recounted: bool,
    pub rebuilt: bool,
    /// Another file took the store's path: the view reopened it.
    pub replaced: bool,
}

/// A table counted by tailing its rowid: new rows are added, and a full
/// recount happens only when the lowest rowid moves (rows were deleted).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TailCount {
    pub(super) count: i64,
    pub(super) max_rowid: i64,
    pub(super) min_rowid: i64,
}

impl TailCount {
    /// `verify`: the commits since the last look added no rows anywhere
    /// (a delete, an update): count again unless this table grew.
    pub(super) fn refresh(
        &mut self,
        conn: &Connection,
        table: &str,
        verify: bool,
    ) -> rusqlite::Result<()> {
        let Some((min, max)) = conn
            .query_row(
                // Two scalar subqueries: `MIN(x), MAX(x)` in one SELECT
                // defeats SQLite's min/max shortcut and scans the table.
                &format!(
                    "SELECT (SELECT MIN(rowid) FROM {table}), (SELECT MAX(rowid) FROM {table})"
                ),
                [],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                        r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    ))
                },
            )
            .optional()
            .or_else(missing_is_none)?
        else {
            *self = TailCount::default();
            return Ok(());
        };
        if min != self.min_rowid
            || max < self.max_rowid
            || self.count == 0
            || (verify && max == self.max_rowid)
        {
            self.count =
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        } else if max > self.max_rowid {
            self.count += conn.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE rowid > ?1"),
                [self.max_rowid],
                |r| r.get::<_, i64>(0),
            )?;
        }
        self.min_rowid = min;
        self.max_rowid = max;
        Ok(())
    }
}

/// A missing optional table or column reads as "nothing there".
pub(super) fn missing_is_none<T>(e: rusqlite::Error) -> rusqlite::Result<Option<T>> {
    let msg = e.to_string();
    if msg.contains("no such table") || msg.contains("no such column") {
        Ok(None)
    } else {
        Err(e)
    }
}

pub(super) fn scalar(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .map(Option::Some)
        .or_else(missing_is_none)?
        .flatten()
        .unwrap_or(0))
}

pub(super) fn group(
    conn: &Connection,
    table: &str,
    col: &str,
    order: &[&str],
) -> rusqlite::Result<Group> {
    let sql = format!("SELECT {col}, COUNT(*) FROM {table} GROUP BY {col}");
    let Some(mut stmt) = conn
        .prepare_cached(&sql)
        .map(Some)
        .or_else(missing_is_none)?
    else {
        return Ok(Vec::new());
    };
    let mut raw: Vec<(String, i64)> = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let key = r
            .get::<_, Option<String>>(0)?
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "?".into());
        let n: i64 = r.get(1)?;
        match raw.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = n,
            None => raw.push((key, n)),
        }
    }
    let mut out: Group = order
        .iter()
        .filter_map(|k| raw.iter().find(|(rk, _)| rk == k).cloned())
        .collect();
    let mut rest: Group = raw
        .into_iter()
        .filter(|(k, _)| !order.contains(&k.as_str()))
        .collect();
    rest.sort();
    out.extend(rest);
    Ok(out)
}
