//! The `events` log: writing keeper's rows, and tailing it by `events.id`
//! so loop and outcome figures are counted once and then kept up to date
//! from the new rows only. `events` has no index on `kind`, and keeper never
//! adds one to someone else's file; one pass over the table replaces the
//! dozens of `COUNT(*) … WHERE kind=?` scans threadkeeper's dashboard runs.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::truncate_chars;

/// threadkeeper's `_emit`: summary cut to 200 characters.
pub fn insert_event(
    conn: &Connection,
    session_id: &str,
    kind: &str,
    target: Option<&str>,
    summary: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,?3,?4,?5)",
        params![session_id, kind, target, truncate_chars(summary, 200), now],
    )?;
    Ok(())
}

/// Record a loop's pass event. A no-op pass (`summary == noop`) whose
/// newest row of the same kind is already that no-op moves the row to now
/// instead of piling up identical rows (threadkeeper 0.21's collapse).
pub fn record_loop_pass(
    conn: &Connection,
    session_id: &str,
    kind: &str,
    summary: &str,
    noop: &str,
    now: i64,
) -> rusqlite::Result<()> {
    if summary == noop {
        let last: Option<(i64, Option<String>)> = conn
            .query_row(
                "SELECT id, summary FROM events WHERE kind=?1 ORDER BY id DESC LIMIT 1",
                [kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, Some(s))) = last
            && s == noop
        {
            conn.execute(
                "UPDATE events SET created_at=?1 WHERE id=?2",
                params![now, id],
            )?;
            return Ok(());
        }
    }
    insert_event(conn, session_id, kind, Some(""), summary, now)
}

/// Outcome kinds the dashboard lists: threadkeeper 0.8.1's five, 0.21's
/// additions, then keeper-tui's own.
pub const OUTCOME_KINDS: &[&str] = &[
    "skill_materialized",
    "tier_promoted",
    "tier_demoted",
    "skill_tier_promoted",
    "reject_candidate",
    "lesson_append",
    "lesson_remove",
    "curator_snapshot",
    "curator_destructive_action",
    "curator_restore",
    "curator_report_applied",
    "roadmap_issue_applied",
    "roadmap_issue_requeued",
    "roadmap_issue_skipped",
    "evolve_applied",
    "dialectic_claim",
    "dialectic_supersede",
    "session_reaped",
    "heal",
    "circuit_broken",
    "task_cancelled",
    "hook_delivered",
    "hook_failed",
    "job_done",
    "job_failed",
    "job_succeeded",
    "job_cancelled",
];

/// Derived outcome: threads closed by janitor passes (sum of `closed=N`).
pub const AUTO_CLOSED: &str = "threads_auto_closed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindClass {
    Loop,
    Outcome,
    Accept,
    Other,
}

pub fn classify(kind: &str) -> KindClass {
    if kind.ends_with("_pass") {
        KindClass::Loop
    } else if kind.starts_with("accept_candidate") {
        KindClass::Accept
    } else if OUTCOME_KINDS.contains(&kind) {
        KindClass::Outcome
    } else {
        KindClass::Other
    }
}

/// Everything kept about one event kind.
#[derive(Debug, Clone)]
pub struct KindStats {
    pub kind: String,
    pub class: KindClass,
    pub total: u64,
    pub last_at: i64,
    /// Id and time of the newest row, re-read on refresh because
    /// threadkeeper's no-op collapse moves that row's `created_at`.
    pub last_id: i64,
    pub last_row_at: i64,
    /// Sorted `created_at` of rows inside the horizon (loops and outcomes only).
    pub recent: Vec<i64>,
}

impl KindStats {
    pub fn count_since(&self, cut: i64) -> u64 {
        (self.recent.len() - self.recent.partition_point(|&t| t < cut)) as u64
    }
}

fn insert_sorted<T: Copy>(v: &mut Vec<T>, item: T, key: impl Fn(&T) -> i64) {
    let k = key(&item);
    if v.last().is_none_or(|l| key(l) <= k) {
        v.push(item);
    } else {
        let at = v.partition_point(|x| key(x) <= k);
        v.insert(at, item);
    }
}

/// Aggregates of the `events` table, tailed by id.
#[derive(Debug, Clone, Default)]
pub struct EventStats {
    pub high_water: i64,
    pub min_id: i64,
    pub kinds: Vec<KindStats>,
    index: HashMap<Box<[u8]>, usize>,
    /// `(created_at, closed)` of janitor passes inside the horizon.
    pub auto_closed_recent: Vec<(i64, u64)>,
    pub auto_closed_total: u64,
    /// Rows older than this are dropped from `recent`.
    pub horizon_secs: i64,
    /// Set by `tail` when the new rows touch threads (notes, closes, ...).
    pub threads_touched: bool,
}

/// Parse `closed=N` from a janitor pass summary.
fn closed_count(summary: &[u8]) -> u64 {
    summary
        .strip_prefix(b"closed=")
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn touches_threads(kind: &[u8]) -> bool {
    kind.starts_with(b"note:")
        || matches!(
            kind,
            b"open_thread" | b"close_thread" | b"idle_thread" | b"janitor_pass"
        )
}

impl EventStats {
    pub fn new(horizon_secs: i64) -> Self {
        EventStats {
            horizon_secs,
            ..Default::default()
        }
    }

    fn slot(&mut self, kind: &[u8]) -> usize {
        if let Some(&i) = self.index.get(kind) {
            return i;
        }
        let name = String::from_utf8_lossy(kind).into_owned();
        let class = classify(&name);
        self.kinds.push(KindStats {
            kind: name,
            class,
            total: 0,
            last_at: 0,
            last_id: 0,
            last_row_at: 0,
            recent: Vec::new(),
        });
        let i = self.kinds.len() - 1;
        self.index.insert(kind.into(), i);
        i
    }

    /// Read every row with `id > high_water` and fold it in. Returns the
    /// number of rows read.
    pub fn tail(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<u64> {
        let keep_from = now - self.horizon_secs;
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, created_at, CASE WHEN kind='janitor_pass' THEN summary END \
             FROM events WHERE id > ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([self.high_water])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let kind = row.get_ref(1)?.as_bytes().unwrap_or(b"");
            let at: i64 = row.get::<_, Option<i64>>(2)?.unwrap_or(0);
            if touches_threads(kind) {
                self.threads_touched = true;
            }
            let janitor = row.get_ref(3)?.as_bytes_or_null()?.map(closed_count);
            let i = self.slot(kind);
            let k = &mut self.kinds[i];
            k.total += 1;
            k.last_at = k.last_at.max(at);
            k.last_id = id;
            k.last_row_at = at;
            if k.class != KindClass::Other && at >= keep_from {
                insert_sorted(&mut k.recent, at, |&t| t);
            }
            if let Some(closed) = janitor {
                self.auto_closed_total += closed;
                if at >= keep_from && closed > 0 {
                    insert_sorted(&mut self.auto_closed_recent, (at, closed), |x| x.0);
                }
            }
            self.high_water = id;
            n += 1;
        }
        Ok(n)
    }

    /// Re-read the newest row of each loop kind: threadkeeper (and keeper)
    /// collapse repeated no-op passes by moving that row's `created_at`.
    pub fn recheck_last_rows(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached("SELECT created_at FROM events WHERE id=?1")?;
        for k in self.kinds.iter_mut().filter(|k| k.class == KindClass::Loop) {
            let now_at: Option<i64> = stmt.query_row([k.last_id], |r| r.get(0)).optional()?;
            if let Some(at) = now_at
                && at != k.last_row_at
            {
                if let Some(pos) = k.recent.iter().rposition(|&t| t == k.last_row_at) {
                    k.recent.remove(pos);
                }
                insert_sorted(&mut k.recent, at, |&t| t);
                k.last_row_at = at;
                k.last_at = k.last_at.max(at);
            }
        }
        Ok(())
    }

    /// Drop timestamps that fell out of the horizon.
    pub fn prune(&mut self, now: i64) {
        let cut = now - self.horizon_secs;
        for k in &mut self.kinds {
            let n = k.recent.partition_point(|&t| t < cut);
            k.recent.drain(..n);
        }
        let n = self.auto_closed_recent.partition_point(|x| x.0 < cut);
        self.auto_closed_recent.drain(..n);
    }

    pub fn get(&self, kind: &str) -> Option<&KindStats> {
        self.index.get(kind.as_bytes()).map(|&i| &self.kinds[i])
    }

    pub fn auto_closed_since(&self, cut: i64) -> u64 {
        let from = self.auto_closed_recent.partition_point(|x| x.0 < cut);
        self.auto_closed_recent[from..].iter().map(|x| x.1).sum()
    }
}

/// The newest `limit` rows of one kind, newest first. `events` has no kind
/// index, so this walks back from the newest id: quick for a loop that
/// fires often, a full scan for one that never did.
pub fn recent_of_kind(
    conn: &Connection,
    kind: &str,
    limit: u32,
) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT created_at, session_id, COALESCE(summary,'') FROM events WHERE kind=?1 ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![kind, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?
    .collect()
}
