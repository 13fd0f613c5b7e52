//! The `events` log: writing keeper's rows, and tailing it by `events.id`
//! so loop and outcome figures are counted once and then kept up to date
//! from the new rows only. `events` has no index on `kind`, and keeper never
//! adds one to someone else's file; one pass over the table replaces the
//! dozens of `COUNT(*) … WHERE kind=?` scans threadkeeper's dashboard runs.

mod hours;
mod stats;

pub use hours::{HOUR, hour_of};
pub use stats::{EventStats, KindStats};

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
