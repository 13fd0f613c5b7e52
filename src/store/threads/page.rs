//! Pages of the Threads panel over the whole filtered list, with the page's
//! place in it and the list's length.
//!
//! Pages are found by keyset, never by OFFSET: a page starts at a thread's
//! sort key, so it stays on that thread while others are touched, closed or
//! deleted around it, and reading page 200 costs what reading page 1 does.
//! Every order ends in `id`, so no two threads share a place.
//!
//! The State order is walked as one run of rows per state (active, idle,
//! closed, then anything else), each run in Touched order: within a run all
//! key components share a direction, so each step is one row-value
//! comparison SQLite can answer from `idx_threads_touch`, where a
//! `CASE state …` rank would make it sort the whole table for every page.

mod order;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::Serialize;

use self::order::{Order, Path, Place, Side, Walk};
use super::{THREAD_COLUMNS, ThreadFilter, ThreadRow, like_pattern, thread_row};

/// How the Threads panel orders its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadSort {
    /// Most recently touched first.
    #[default]
    Touched,
    /// Most recently opened first.
    Age,
    /// Active, then idle, then closed; most recently touched first in each.
    State,
    /// By id, ascending.
    Id,
}

impl ThreadSort {
    pub const ALL: [ThreadSort; 4] = [
        ThreadSort::Touched,
        ThreadSort::Age,
        ThreadSort::State,
        ThreadSort::Id,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ThreadSort::Touched => "touched",
            ThreadSort::Age => "age",
            ThreadSort::State => "state",
            ThreadSort::Id => "id",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    #[must_use]
    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    #[must_use]
    pub fn prev(self) -> Self {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// Where a thread sits in an order: enough to find its place again even
/// when the thread itself is gone or no longer matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadKey {
    pub id: String,
    pub state: String,
    pub last_touched_at: i64,
    pub opened_at: i64,
}

impl ThreadKey {
    pub fn of(row: &ThreadRow) -> ThreadKey {
        ThreadKey {
            id: row.id.clone(),
            state: row.state.clone(),
            last_touched_at: row.last_touched_at,
            opened_at: row.opened_at,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub enum ThreadAnchor {
    /// The first rows of the list.
    #[default]
    Top,
    /// The last rows of the list.
    Bottom,
    /// Rows on both sides of this place; on the thread itself, wherever it
    /// has moved, while it still exists and matches the filter.
    Around(ThreadKey),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadQuery {
    pub filter: ThreadFilter,
    pub sort: ThreadSort,
    /// Flips every component of the order, the id tie-break included.
    pub reverse: bool,
    pub anchor: ThreadAnchor,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadPage {
    pub rows: Vec<ThreadRow>,
    /// The position of `rows[0]` in the whole ordered, filtered list.
    pub offset: u64,
    /// Threads matching the filter.
    pub total: u64,
    /// The query this page answers.
    pub query: ThreadQuery,
}

/// Up to `limit` rows of the threads matching `q.filter`, in `q`'s order,
/// placed by `q.anchor`: the first or last rows, or about half before the
/// anchor's place and the rest from it on. Near either end the page is
/// filled from the other side, so it holds `min(limit, total)` rows.
/// Rows, offset and total are read in one transaction (or in the caller's,
/// when one is open), so they agree with each other.
pub fn page_threads(
    conn: &Connection,
    q: &ThreadQuery,
    limit: u32,
) -> rusqlite::Result<ThreadPage> {
    let own_tx = conn.is_autocommit();
    if own_tx {
        conn.execute_batch("BEGIN")?;
    }
    let page = Pager::open(conn, q, limit as usize).and_then(|p| p.page());
    if own_tx {
        // A connection left inside a transaction would read this moment
        // forever: whatever ends it, it ends.
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    page
}

struct Pager<'a> {
    conn: &'a Connection,
    q: &'a ThreadQuery,
    order: Order,
    /// The filter text, trimmed; empty means no text condition.
    text: &'a str,
    limit: usize,
    /// Threads matching the filter in each run of the order.
    counts: Vec<u64>,
    /// Threads in the store, matching or not.
    all: u64,
    /// Where an `Around` anchor's thread sits now.
    place: Option<Place>,
    /// Matching threads before `place` in its run, when the census
    /// counted them in its own pass.
    before_in_run: Option<u64>,
}

impl<'a> Pager<'a> {
    fn open(conn: &'a Connection, q: &'a ThreadQuery, limit: usize) -> rusqlite::Result<Self> {
        let mut pager = Pager {
            conn,
            q,
            order: Order::of(q.sort, q.reverse),
            text: q.filter.text.trim(),
            limit,
            counts: Vec::new(),
            all: 0,
            place: None,
            before_in_run: None,
        };
        if let ThreadAnchor::Around(key) = &q.anchor {
            let key = pager.current(key)?.unwrap_or_else(|| key.clone());
            pager.place = Some(pager.order.place(&key));
        }
        (pager.counts, pager.before_in_run) = pager.census()?;
        let total = pager.counts.iter().sum();
        pager.all = if q.filter.state.is_none() && pager.text.is_empty() {
            total
        } else {
            conn.query_row("SELECT COUNT(*) FROM threads", [], |r| r.get::<_, i64>(0))? as u64
        };
        Ok(pager)
    }

    /// Matching threads per run, in one count or one pass grouped by
    /// state. With a filter text that pass is a scan of the table, and it
    /// also counts the threads before the place in its run: a range of the
    /// order's index would cost a lookup in the table per row.
    fn census(&self) -> rusqlite::Result<(Vec<u64>, Option<u64>)> {
        let (sql, params) = self.census_sql();
        let counts_before = self.counts_before_in_census();
        let mut counts = vec![0; self.order.runs.len()];
        let mut before = counts_before.then_some(0);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(params))?;
        let grouped = self.grouped();
        while let Some(r) = rows.next()? {
            let run = if grouped {
                let state: String = r.get(0)?;
                let Some(run) = self.order.runs.iter().position(|run| run.holds(&state)) else {
                    continue;
                };
                run
            } else {
                0
            };
            let first = usize::from(grouped);
            counts[run] += r.get::<_, i64>(first)? as u64;
            if let (Some(before), Some(place)) = (before.as_mut(), &self.place)
                && place.run == run
            {
                *before += r.get::<_, Option<i64>>(first + 1)?.unwrap_or(0) as u64;
            }
        }
        Ok((counts, before))
    }

    fn grouped(&self) -> bool {
        self.order.runs.len() > 1
    }

    fn counts_before_in_census(&self) -> bool {
        self.place.is_some() && !self.text.is_empty()
    }

    /// `(state, count[, count before the place])` rows, or one row without
    /// the state when the order has a single run.
    fn census_sql(&self) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let mut columns = "COUNT(*)".to_string();
        if let Some(place) = self.place.as_ref()
            && self.counts_before_in_census()
        {
            let before = self.order.compare(Side::Before, Path::Elsewhere);
            columns = format!("{columns}, SUM({before})");
            params.extend(place.values.iter().cloned());
        }
        let conditions = self.filter_conditions(Path::Planner, &mut params);
        let filter = where_clause(&conditions);
        let sql = if self.grouped() {
            // Text is tested on every row anyway: one scan of the table
            // beats the state index plus a lookup per row.
            let group = if self.text.is_empty() {
                "state"
            } else {
                "+state"
            };
            format!("SELECT state, {columns} FROM threads{filter} GROUP BY {group}")
        } else {
            // SQLite counts a bare `COUNT(*)` page by page, not row by row.
            format!("SELECT {columns} FROM threads{filter}")
        };
        (sql, params)
    }

    fn page(&self) -> rusqlite::Result<ThreadPage> {
        let limit = self.limit;
        let total: u64 = self.counts.iter().sum();
        let (rows, offset) = match (&self.q.anchor, &self.place) {
            // The whole list fits: every anchor gives the same page.
            _ if total <= limit as u64 => (self.rows_from(None, limit)?, 0),
            (ThreadAnchor::Top, _) | (ThreadAnchor::Around(_), None) => {
                (self.rows_from(None, limit)?, 0)
            }
            (ThreadAnchor::Bottom, _) => {
                let mut rows = self.rows_before(None, limit)?;
                rows.reverse();
                let offset = total.saturating_sub(rows.len() as u64);
                (rows, offset)
            }
            (ThreadAnchor::Around(_), Some(place)) => {
                let after = self.rows_from(Some(place), limit)?;
                let wanted_before = limit - after.len().min(limit - limit / 2);
                let mut rows = self.rows_before(Some(place), wanted_before)?;
                rows.reverse();
                let before = rows.len() as u64;
                let room = limit - rows.len();
                rows.extend(after.into_iter().take(room));
                let offset = self.count_before(place)?.saturating_sub(before);
                (rows, offset)
            }
        };
        Ok(ThreadPage {
            rows,
            offset,
            total,
            query: self.q.clone(),
        })
    }

    /// The thread's key as it is now, if it still matches the filter.
    fn current(&self, key: &ThreadKey) -> rusqlite::Result<Option<ThreadKey>> {
        let mut params = vec![Value::Text(key.id.clone())];
        let mut conditions = vec!["id = ?".to_string()];
        conditions.extend(self.filter_conditions(Path::Planner, &mut params));
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM threads{}",
            where_clause(&conditions)
        );
        self.conn
            .query_row(&sql, params_from_iter(params), thread_row)
            .optional()
            .map(|row| row.as_ref().map(ThreadKey::of))
    }

    /// Up to `limit` rows from `place` on (or from the first row), in
    /// display order.
    fn rows_from(&self, place: Option<&Place>, limit: usize) -> rusqlite::Result<Vec<ThreadRow>> {
        let mut rows = Vec::new();
        for run in place.map_or(0, |p| p.run)..self.order.runs.len() {
            if rows.len() >= limit {
                break;
            }
            let bound = place
                .filter(|p| p.run == run)
                .map(|p| (p.values.as_slice(), Side::AtOrAfter));
            rows.extend(self.fetch(run, bound, Walk::Forward, limit - rows.len())?);
        }
        Ok(rows)
    }

    /// Up to `limit` rows strictly before `place` (or from the last row),
    /// nearest first.
    fn rows_before(&self, place: Option<&Place>, limit: usize) -> rusqlite::Result<Vec<ThreadRow>> {
        let mut rows = Vec::new();
        let end = place.map_or(self.order.runs.len(), |p| p.run + 1);
        for run in (0..end).rev() {
            if rows.len() >= limit {
                break;
            }
            let bound = place
                .filter(|p| p.run == run)
                .map(|p| (p.values.as_slice(), Side::Before));
            rows.extend(self.fetch(run, bound, Walk::Backward, limit - rows.len())?);
        }
        Ok(rows)
    }

    /// Walking the order's index visits about `limit × all / matching`
    /// rows, each a lookup in the table; reading the matching rows another
    /// way and sorting them costs about one cheaper read per matching row.
    fn path(&self, run: usize) -> Path {
        let matching = u128::from(self.counts[run]);
        let walked = 4 * self.limit as u128 * u128::from(self.all);
        if self.order.indexed && matching * matching >= walked {
            Path::OrderIndex
        } else {
            Path::Elsewhere
        }
    }

    fn fetch(
        &self,
        run: usize,
        bound: Option<(&[Value], Side)>,
        walk: Walk,
        limit: usize,
    ) -> rusqlite::Result<Vec<ThreadRow>> {
        if self.counts[run] == 0 {
            return Ok(Vec::new());
        }
        let (sql, mut params) = self.fetch_sql(run, bound, walk);
        params.push(Value::Integer(limit as i64));
        let mut stmt = self.conn.prepare(&sql)?;
        stmt.query_map(params_from_iter(params), thread_row)?
            .collect()
    }

    /// The statement `fetch` runs; its last parameter, the limit, is left
    /// to the caller.
    fn fetch_sql(
        &self,
        run: usize,
        bound: Option<(&[Value], Side)>,
        walk: Walk,
    ) -> (String, Vec<Value>) {
        let path = self.path(run);
        let (conditions, params) = self.conditions(run, bound, path);
        let sql = format!(
            "SELECT {THREAD_COLUMNS} FROM threads{} ORDER BY {} LIMIT ?",
            where_clause(&conditions),
            self.order.order_by(walk, path)
        );
        (sql, params)
    }

    /// Matching threads strictly before `place`.
    fn count_before(&self, place: &Place) -> rusqlite::Result<u64> {
        let earlier: u64 = self.counts[..place.run].iter().sum();
        if self.counts[place.run] == 0 {
            return Ok(earlier);
        }
        if let Some(before) = self.before_in_run {
            return Ok(earlier + before);
        }
        let (sql, params) = self.count_before_sql(place);
        let n: i64 = self
            .conn
            .query_row(&sql, params_from_iter(params), |r| r.get(0))?;
        Ok(earlier + n as u64)
    }

    /// Counts matching threads before `place` within its run, when the
    /// census did not.
    fn count_before_sql(&self, place: &Place) -> (String, Vec<Value>) {
        let bound = (place.values.as_slice(), Side::Before);
        let (conditions, params) = self.conditions(place.run, Some(bound), Path::Planner);
        let sql = format!("SELECT COUNT(*) FROM threads{}", where_clause(&conditions));
        (sql, params)
    }

    /// The WHERE conditions and their parameters for matching rows of
    /// `run`, on one side of a bound.
    fn conditions(
        &self,
        run: usize,
        bound: Option<(&[Value], Side)>,
        path: Path,
    ) -> (Vec<String>, Vec<Value>) {
        let mut params = Vec::new();
        let mut conditions = self.filter_conditions(path, &mut params);
        conditions.extend(self.order.run_condition(run, path));
        if let Some((values, side)) = bound {
            conditions.push(self.order.compare(side, path));
            params.extend(values.iter().cloned());
        }
        (conditions, params)
    }

    /// The filter as `list_threads` applies it.
    fn filter_conditions(&self, path: Path, params: &mut Vec<Value>) -> Vec<String> {
        let mut conditions = Vec::new();
        if let Some(state) = &self.q.filter.state {
            conditions.push(format!("{} = ?", Order::state_column(path)));
            params.push(Value::Text(state.clone()));
        }
        if !self.text.is_empty() {
            conditions.push(
                "(id LIKE ? ESCAPE '\\' OR question LIKE ? ESCAPE '\\' \
                 OR last_move LIKE ? ESCAPE '\\')"
                    .to_string(),
            );
            let pattern = Value::Text(like_pattern(self.text));
            params.extend([pattern.clone(), pattern.clone(), pattern]);
        }
        conditions
    }
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use rusqlite::types::Value;

    use super::order::{Order, Side, Walk};
    use super::{Pager, ThreadAnchor, ThreadFilter, ThreadKey, ThreadQuery, ThreadSort};
    use crate::store::schema::create_core;

    const LIMIT: usize = 500;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
        create_core(&conn).unwrap();
        (dir, conn)
    }

    /// A pager that believes the store holds `all` threads, `counts` of
    /// them matching per run: SQLite plans these statements from the
    /// schema alone (no statistics), so an empty store plans them as a
    /// full one would.
    fn pager<'a>(
        conn: &'a Connection,
        q: &'a ThreadQuery,
        counts: Vec<u64>,
        all: u64,
    ) -> Pager<'a> {
        Pager {
            conn,
            q,
            order: Order::of(q.sort, q.reverse),
            text: q.filter.text.trim(),
            limit: LIMIT,
            counts,
            all,
            place: None,
            before_in_run: None,
        }
    }

    fn plan(conn: &Connection, (sql, mut params): (String, Vec<Value>)) -> String {
        let marks = sql.matches('?').count();
        params.resize(marks, Value::Integer(LIMIT as i64));
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
        .join("; ")
    }

    fn query(sort: ThreadSort, state: Option<&str>, text: &str) -> ThreadQuery {
        ThreadQuery {
            filter: ThreadFilter {
                state: state.map(Into::into),
                text: text.into(),
            },
            sort,
            reverse: false,
            anchor: ThreadAnchor::Top,
        }
    }

    fn key(state: &str) -> ThreadKey {
        ThreadKey {
            id: "T123".into(),
            state: state.into(),
            last_touched_at: 1_750_000_000,
            opened_at: 1_740_000_000,
        }
    }

    /// Plans of the first page, the rows after and before a place, and
    /// the count before it.
    fn plans(p: &Pager<'_>, state: &str) -> [String; 4] {
        let place = p.order.place(&key(state));
        let values = place.values.as_slice();
        let run = place.run;
        [
            plan(p.conn, p.fetch_sql(0, None, Walk::Forward)),
            plan(
                p.conn,
                p.fetch_sql(run, Some((values, Side::AtOrAfter)), Walk::Forward),
            ),
            plan(
                p.conn,
                p.fetch_sql(run, Some((values, Side::Before)), Walk::Backward),
            ),
            plan(p.conn, p.count_before_sql(&place)),
        ]
    }

    #[test]
    fn the_touched_order_walks_idx_threads_touch() {
        let (_dir, conn) = store();
        for reverse in [false, true] {
            let q = ThreadQuery {
                reverse,
                ..query(ThreadSort::Touched, None, "")
            };
            for p in plans(&pager(&conn, &q, vec![100_000], 100_000), "idle") {
                assert!(p.contains("idx_threads_touch"), "{p}");
                assert!(!p.contains("B-TREE FOR ORDER BY"), "sorts it all: {p}");
            }
        }
    }

    #[test]
    fn a_common_state_walks_idx_threads_touch_and_a_rare_one_idx_threads_state() {
        let (_dir, conn) = store();
        let q = query(ThreadSort::Touched, Some("active"), "");
        let [top, after, before, count] = plans(&pager(&conn, &q, vec![25_000], 100_000), "active");
        for p in [top, after, before] {
            assert!(p.contains("idx_threads_touch"), "{p}");
        }
        assert!(count.contains("idx_threads_state"), "{count}");
        for p in plans(&pager(&conn, &q, vec![300], 100_000), "active") {
            assert!(p.contains("idx_threads_state"), "{p}");
        }
    }

    #[test]
    fn the_state_order_counts_on_idx_threads_state_and_walks_idx_threads_touch() {
        let (_dir, conn) = store();
        let q = query(ThreadSort::State, None, "");
        let p = pager(&conn, &q, vec![25_000, 15_000, 60_000, 0], 100_000);
        let census = plan(&conn, p.census_sql());
        assert!(
            census.contains("COVERING INDEX idx_threads_state"),
            "{census}"
        );
        let [top, after, before, _] = plans(&p, "closed");
        for p in [top, after, before] {
            assert!(p.contains("idx_threads_touch"), "{p}");
        }
    }

    #[test]
    fn the_id_order_walks_the_primary_key() {
        let (_dir, conn) = store();
        let q = query(ThreadSort::Id, None, "");
        for p in plans(&pager(&conn, &q, vec![100_000], 100_000), "idle") {
            assert!(p.contains("sqlite_autoindex_threads_1"), "{p}");
        }
    }

    #[test]
    fn text_is_counted_in_one_scan_of_the_table() {
        let (_dir, conn) = store();
        for sort in [ThreadSort::Touched, ThreadSort::State] {
            let q = query(sort, None, "janitor");
            let runs = Order::of(sort, false).runs.len();
            let mut p = pager(&conn, &q, vec![2_500; runs], 100_000);
            p.place = Some(p.order.place(&key("closed")));
            let (sql, params) = p.census_sql();
            assert!(sql.contains("SUM("), "{sql}");
            let census = plan(&conn, (sql, params));
            assert!(census.starts_with("SCAN threads"), "{census}");
            assert!(!census.contains("INDEX"), "{census}");
        }
    }
}
