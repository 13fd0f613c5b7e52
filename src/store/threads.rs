//! Thread transitions, written exactly as threadkeeper writes them: the
//! janitor's close and the operator's reopen (threadkeeper's `note`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::events::{insert_event, record_loop_pass};
use super::{Layout, truncate_chars};

mod page;

pub use page::{ThreadAnchor, ThreadKey, ThreadPage, ThreadQuery, ThreadSort, page_threads};

const DAY: f64 = 86_400.0;

/// threadkeeper's rule: `now - int(max(0, days) * 86400)`.
pub fn janitor_cutoff(now: i64, days: f64) -> i64 {
    now - (days.max(0.0) * DAY) as i64
}

/// Days as threadkeeper prints them: an integer when whole (`1d`), else
/// the float (`1.5d`).
pub fn days_shown(days: f64) -> String {
    if days.fract() == 0.0 && days.is_finite() {
        format!("{}d", days as i64)
    } else {
        format!("{days}d")
    }
}

pub fn janitor_outcome(days: f64) -> String {
    format!(
        "auto-closed by janitor: idle > {} (reopen via note)",
        days_shown(days)
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleThread {
    pub id: String,
    pub state: String,
    pub question: String,
    pub last_touched_at: i64,
}

const STALE: &str = "state IN ('active','idle') AND last_touched_at < ?1";

/// Threads a janitor pass with this cutoff would close, oldest first.
pub fn stale_threads(conn: &Connection, cutoff: i64) -> rusqlite::Result<Vec<StaleThread>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, state, question, last_touched_at FROM threads WHERE {STALE} \
         ORDER BY last_touched_at ASC"
    ))?;
    stmt.query_map([cutoff], |r| {
        Ok(StaleThread {
            id: r.get(0)?,
            state: r.get(1)?,
            question: r.get(2)?,
            last_touched_at: r.get(3)?,
        })
    })?
    .collect()
}

/// Close every stale thread inside the caller's write transaction. The
/// staleness test sits inside the statements themselves, so a thread whose
/// note committed before this transaction took the write lock is not stale
/// any more and is left alone. Returns how many closed and the ids of the
/// first `listed` of them, oldest first.
/// How many threads a pass with this cutoff would close.
pub fn count_stale(conn: &Connection, cutoff: i64) -> rusqlite::Result<usize> {
    conn.query_row(
        &format!("SELECT COUNT(*) FROM threads WHERE {STALE}"),
        [cutoff],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
}

pub fn close_stale(
    tx: &Transaction<'_>,
    session_id: &str,
    cutoff: i64,
    now: i64,
    outcome: &str,
    listed: usize,
) -> rusqlite::Result<(usize, Vec<String>)> {
    let summary = truncate_chars(outcome, 200);
    let first_event: i64 =
        tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM events", [], |r| {
            r.get(0)
        })?;
    // Events first, oldest thread first, as threadkeeper's one-by-one loop
    // orders them; the UPDATE below then matches the very same rows because
    // this transaction holds the write lock.
    tx.execute(
        &format!(
            "INSERT INTO events (session_id, kind, target, summary, created_at) \
             SELECT ?2, 'close_thread', id, ?3, ?4 FROM threads WHERE {STALE} \
             ORDER BY last_touched_at ASC"
        ),
        params![cutoff, session_id, summary, now],
    )?;
    let closed = tx.execute(
        &format!("UPDATE threads SET state='closed', outcome=?2, last_touched_at=?3 WHERE {STALE}"),
        params![cutoff, outcome, now],
    )?;
    if closed == 0 {
        return Ok((0, Vec::new()));
    }
    let mut stmt = tx.prepare(
        "SELECT target FROM events WHERE id >= ?1 AND kind = 'close_thread' ORDER BY id LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![first_event, listed as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok((closed, ids))
}

/// Record a `janitor_pass`, collapsing repeated `no_stale` passes.
pub fn record_janitor_pass(
    tx: &Transaction<'_>,
    session_id: &str,
    summary: &str,
    now: i64,
) -> rusqlite::Result<()> {
    record_loop_pass(tx, session_id, "janitor_pass", summary, "no_stale", now)
}

/// What a reopen found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reopened {
    pub id: String,
    pub previous_state: String,
    pub note_id: i64,
}

impl std::fmt::Display for Reopened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.note_id == 0 {
            write!(f, "{} is already active: nothing to reopen", self.id)
        } else {
            write!(
                f,
                "reopened {} (was {}); note #{} added",
                self.id, self.previous_state, self.note_id
            )
        }
    }
}

/// threadkeeper's `note(kind='move')`: insert the note, touch the thread
/// (state back to active if idle or closed, outcome kept), log `note:move`.
/// `None` when the thread does not exist; nothing is written then.
pub fn reopen(
    tx: &Transaction<'_>,
    layout: &Layout,
    session_id: &str,
    id: &str,
    content: &str,
    now: i64,
) -> rusqlite::Result<Option<Reopened>> {
    let scoped = layout.note_columns.contains("project_id")
        && layout.note_columns.contains("memory_scope")
        && layout.thread_columns.contains("project_id")
        && layout.thread_columns.contains("memory_scope");
    let scope_sql = if scoped {
        "project_id, memory_scope"
    } else {
        "NULL, NULL"
    };
    let found: Option<(String, Option<String>, Option<String>)> = tx
        .query_row(
            &format!("SELECT state, {scope_sql} FROM threads WHERE id=?1"),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((previous_state, project_id, memory_scope)) = found else {
        return Ok(None);
    };
    // Nothing to reopen: say so and write nothing (`note_id` 0).
    if previous_state == "active" {
        return Ok(Some(Reopened {
            id: id.to_string(),
            previous_state,
            note_id: 0,
        }));
    }
    if scoped {
        tx.execute(
            "INSERT INTO notes (thread_id, content, kind, created_at, session_id, project_id, \
             memory_scope) VALUES (?1, ?2, 'move', ?3, ?4, ?5, COALESCE(?6, 'project'))",
            params![id, content, now, session_id, project_id, memory_scope],
        )?;
    } else {
        tx.execute(
            "INSERT INTO notes (thread_id, content, kind, created_at, session_id) \
             VALUES (?1, ?2, 'move', ?3, ?4)",
            params![id, content, now, session_id],
        )?;
    }
    let note_id = tx.last_insert_rowid();
    tx.execute(
        "UPDATE threads SET last_touched_at=?1, last_move=?2, \
         state=CASE WHEN state IN ('idle','closed') THEN 'active' ELSE state END WHERE id=?3",
        params![now, truncate_chars(content, 90), id],
    )?;
    insert_event(tx, session_id, "note:move", Some(id), content, now)?;
    Ok(Some(Reopened {
        id: id.to_string(),
        previous_state,
        note_id,
    }))
}

/// One row of the Threads panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadRow {
    pub id: String,
    pub state: String,
    pub question: String,
    pub last_move: Option<String>,
    pub outcome: Option<String>,
    pub last_touched_at: i64,
    pub opened_at: i64,
}

/// What the Threads panel asks for: a state (or all) and a text that must
/// appear in the id, question or last move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadFilter {
    pub state: Option<String>,
    pub text: String,
}

fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

const THREAD_COLUMNS: &str = "id, state, question, last_move, outcome, last_touched_at, opened_at";

fn thread_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ThreadRow> {
    Ok(ThreadRow {
        id: r.get(0)?,
        state: r.get(1)?,
        question: r.get(2)?,
        last_move: r.get(3)?,
        outcome: r.get(4)?,
        last_touched_at: r.get(5)?,
        opened_at: r.get(6)?,
    })
}

/// Threads matching `filter`, most recently touched first. Walks
/// `idx_threads_touch` and stops at `limit` matches.
pub fn list_threads(
    conn: &Connection,
    filter: &ThreadFilter,
    limit: u32,
) -> rusqlite::Result<Vec<ThreadRow>> {
    let text = filter.text.trim();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {THREAD_COLUMNS} FROM threads \
         WHERE (?1 IS NULL OR state = ?1) \
           AND (?2 = '' OR id LIKE ?3 ESCAPE '\\' OR question LIKE ?3 ESCAPE '\\' \
                OR last_move LIKE ?3 ESCAPE '\\') \
         ORDER BY last_touched_at DESC LIMIT ?4"
    ))?;
    stmt.query_map(
        params![filter.state, text, like_pattern(text), limit],
        thread_row,
    )?
    .collect()
}

/// A thread and its newest notes, for the detail popup.
/// `(created_at, kind, content)` of one note.
pub type NoteLine = (i64, String, String);

pub fn thread_detail(
    conn: &Connection,
    id: &str,
    limit: u32,
) -> rusqlite::Result<Option<(ThreadRow, Vec<NoteLine>)>> {
    let row = conn
        .query_row(
            &format!("SELECT {THREAD_COLUMNS} FROM threads WHERE id=?1"),
            [id],
            thread_row,
        )
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let mut stmt = conn.prepare_cached(
        "SELECT created_at, kind, content FROM notes WHERE thread_id=?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let notes = stmt
        .query_map(params![id, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some((row, notes)))
}
