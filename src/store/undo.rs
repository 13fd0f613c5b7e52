//! Taking a janitor pass back. Every pass that closed threads keeps the
//! ids it closed in `keeper_pass_items`, keyed by the id of its
//! `janitor_pass` event (the pass's number for the operator); an undo
//! reopens, in one transaction, each of them that is still closed and
//! untouched since, writing what a threadkeeper `note` writes.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::Layout;
use super::threads::reopen;

/// Passes whose items are kept: older ones can no longer be undone.
const PASSES_KEPT: i64 = 50;

const ITEMS_TABLE: &str = "CREATE TABLE IF NOT EXISTS keeper_pass_items (
    pass_event  INTEGER NOT NULL,
    item        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keeper_pass_items_pass ON keeper_pass_items(pass_event)";

/// The id the next event will get: a pass's close events are the ones from
/// here to its own `janitor_pass` row.
pub fn next_event_id(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM events", [], |r| {
        r.get(0)
    })
}

/// Keep the threads a pass closed (its `close_thread` events from
/// `first_event` on), and forget the items of passes past the newest
/// `PASSES_KEPT`.
pub fn remember_closed(
    tx: &Transaction<'_>,
    pass_event: i64,
    first_event: i64,
) -> rusqlite::Result<()> {
    tx.execute_batch(ITEMS_TABLE)?;
    tx.execute(
        "INSERT INTO keeper_pass_items (pass_event, item) SELECT ?1, target FROM events \
         WHERE id >= ?2 AND id < ?1 AND kind = 'close_thread'",
        params![pass_event, first_event],
    )?;
    tx.execute(
        "DELETE FROM keeper_pass_items WHERE pass_event < (SELECT MIN(pass_event) FROM \
         (SELECT DISTINCT pass_event FROM keeper_pass_items ORDER BY pass_event DESC LIMIT ?1))",
        [PASSES_KEPT],
    )?;
    Ok(())
}

/// A janitor pass that can still be taken back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndoablePass {
    /// Its `janitor_pass` event's id.
    pub id: i64,
    pub at: i64,
    pub closed: usize,
}

/// The passes with items kept, newest first.
pub fn undoable(conn: &Connection) -> rusqlite::Result<Vec<UndoablePass>> {
    if !super::keeper::has_table(conn, "keeper_pass_items")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT i.pass_event, COALESCE(e.created_at, 0), COUNT(*) FROM keeper_pass_items i \
         LEFT JOIN events e ON e.id = i.pass_event GROUP BY i.pass_event ORDER BY i.pass_event DESC",
    )?;
    stmt.query_map([], |r| {
        Ok(UndoablePass {
            id: r.get(0)?,
            at: r.get(1)?,
            closed: r.get::<_, i64>(2)? as usize,
        })
    })?
    .collect()
}

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undone {
    pub pass: i64,
    pub reopened: Vec<String>,
    /// Closed by that pass but touched since (reopened by a note, closed
    /// again by someone): left as they are.
    pub skipped: usize,
}

impl std::fmt::Display for Undone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "undid janitor pass #{}: reopened {}",
            self.pass,
            self.reopened.len()
        )?;
        let named: Vec<&str> = self.reopened.iter().take(5).map(String::as_str).collect();
        if !named.is_empty() {
            write!(f, ": {}", named.join(", "))?;
            if self.reopened.len() > named.len() {
                write!(f, ", … +{}", self.reopened.len() - named.len())?;
            }
        }
        if self.skipped > 0 {
            write!(f, " ({} touched since, left as they are)", self.skipped)?;
        }
        Ok(())
    }
}

/// Reopen every thread pass `pass` closed that is still closed as it left
/// it (`last_touched_at` is still the pass's time). `None`: no such pass
/// kept.
pub fn undo_pass(
    tx: &Transaction<'_>,
    layout: &Layout,
    session_id: &str,
    pass: i64,
    now: i64,
) -> rusqlite::Result<Option<Undone>> {
    let at: Option<i64> = tx
        .query_row(
            "SELECT created_at FROM events WHERE id = ?1 AND kind = 'janitor_pass'",
            [pass],
            |r| r.get(0),
        )
        .optional()?;
    let Some(at) = at else {
        return Ok(None);
    };
    let items: Vec<String> = {
        let mut stmt = tx.prepare("SELECT item FROM keeper_pass_items WHERE pass_event = ?1")?;
        stmt.query_map([pass], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    if items.is_empty() {
        return Ok(None);
    }
    let note = format!("reopened by keeper-tui: undo of janitor pass #{pass}");
    let mut reopened = Vec::new();
    let mut skipped = 0;
    for id in items {
        let untouched: bool = tx
            .query_row(
                "SELECT state = 'closed' AND last_touched_at = ?2 FROM threads WHERE id = ?1",
                params![id, at],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false);
        if untouched && reopen(tx, layout, session_id, &id, &note, now)?.is_some() {
            reopened.push(id);
        } else {
            skipped += 1;
        }
    }
    // Undone once: the items go, so it cannot be undone twice.
    tx.execute(
        "DELETE FROM keeper_pass_items WHERE pass_event = ?1",
        [pass],
    )?;
    Ok(Some(Undone {
        pass,
        reopened,
        skipped,
    }))
}
