//! threadkeeper's `tasks`: agent processes it spawned, one row each.
//! `ended_at IS NULL` means running; `pid <= 0` is a task in a visible
//! terminal that threadkeeper itself ends. keeper-tui ends a row only with
//! threadkeeper's own guard (`AND ended_at IS NULL`), so whichever writer
//! comes first wins and the other changes nothing.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

/// `(id, pid)` of tasks still running by the store's account (not ended,
/// a real pid); none when the store has no `tasks` table.
pub fn running(conn: &Connection) -> rusqlite::Result<Vec<(String, i32)>> {
    if !super::keeper::has_table(conn, "tasks")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, pid FROM tasks WHERE ended_at IS NULL AND pid > 0 ORDER BY started_at DESC",
    )?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// One `tasks` row, with its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub pid: i64,
    pub cwd: String,
    pub prompt: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub return_code: Option<i64>,
    /// threadkeeper 0.21's `role`, else inferred from the prompt (empty
    /// when nothing matches).
    pub role: String,
}

impl TaskRow {
    pub fn running(&self) -> bool {
        self.ended_at.is_none()
    }

    /// A task in a visible terminal: not tracked, nor killable, by pid.
    pub fn visible(&self) -> bool {
        self.pid <= 0
    }

    /// The prompt's first line, for a table cell.
    pub fn prompt_head(&self, chars: usize) -> String {
        let flat: String = self.prompt.split_whitespace().collect::<Vec<_>>().join(" ");
        flat.chars().take(chars).collect()
    }
}

/// The phrases threadkeeper's dashboard looks for in the first 1,200
/// characters of a prompt, in its order: the first match names the role.
const ROLE_HINTS: &[(&str, &str)] = &[
    ("CANDIDATE REVIEWER", "candidate_reviewer"),
    ("DIALECTIC VALIDATOR", "dialectic_validator"),
    ("EVOLVE REVIEWER", "evolve_reviewer"),
    ("EVOLVE APPLIER", "evolve_applier"),
    ("PROBE RUNNER", "probe_runner"),
    ("MODEL ROUTER", "model_router"),
    ("CURATOR", "curator"),
    ("SHADOW LEARNING OBSERVER", "shadow_observer"),
    ("SHADOW REVIEW", "shadow_observer"),
    ("EXTRACT", "extract"),
    ("ARCHIVIST", "archivist"),
];

/// The role threadkeeper would infer from `prompt`; empty when none.
pub fn infer_role(prompt: &str) -> &'static str {
    let head: String = prompt.chars().take(1200).collect::<String>().to_uppercase();
    ROLE_HINTS
        .iter()
        .find(|(phrase, _)| has_word(&head, phrase))
        .map_or("", |(_, role)| role)
}

/// `phrase` in `hay` between word boundaries, as a regex `\b…\b` would.
fn has_word(hay: &str, phrase: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    hay.match_indices(phrase).any(|(at, _)| {
        !word(hay[..at].chars().next_back()) && !word(hay[at + phrase.len()..].chars().next())
    })
}

fn has_role_column(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('tasks') WHERE name='role'",
        [],
        |r| r.get(0),
    )
}

fn select(conn: &Connection) -> rusqlite::Result<&'static str> {
    Ok(if has_role_column(conn)? {
        "SELECT id, pid, COALESCE(cwd, ''), prompt, started_at, ended_at, return_code, role FROM tasks"
    } else {
        "SELECT id, pid, COALESCE(cwd, ''), prompt, started_at, ended_at, return_code, NULL FROM tasks"
    })
}

fn row(r: &Row<'_>) -> rusqlite::Result<TaskRow> {
    let prompt: String = r.get(3)?;
    let role: Option<String> = r.get(7)?;
    let role = role
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| infer_role(&prompt).to_string());
    Ok(TaskRow {
        id: r.get(0)?,
        pid: r.get(1)?,
        cwd: r.get(2)?,
        prompt,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        return_code: r.get(6)?,
        role,
    })
}

/// Running tasks (newest first), then the `ended` most recently ended. A
/// row that cannot be read is left out ([`list_checked`] names it): one
/// row threadkeeper never wrote hides no other.
pub fn list(conn: &Connection, ended: usize) -> rusqlite::Result<Vec<TaskRow>> {
    Ok(list_checked(conn, ended)?.0)
}

/// [`list`], and the rows it left out.
pub fn list_checked(
    conn: &Connection,
    ended: usize,
) -> rusqlite::Result<(Vec<TaskRow>, Vec<BadRow>)> {
    if !super::keeper::has_table(conn, "tasks")? {
        return Ok((Vec::new(), Vec::new()));
    }
    let base = select(conn)?;
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (sql, limit) in [
        (
            format!("{base} WHERE ended_at IS NULL ORDER BY started_at DESC, id LIMIT ?1"),
            -1,
        ),
        (
            format!("{base} WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, id LIMIT ?1"),
            ended as i64,
        ),
    ] {
        for r in conn.prepare(&sql)?.query_map([limit], checked_row)? {
            match r? {
                Ok(t) => rows.push(t),
                Err(b) => bad.push(b),
            }
        }
    }
    Ok((rows, bad))
}

/// A row, or why it cannot be read (with its id, when that can be).
#[allow(clippy::unnecessary_wraps, reason = "the shape `query_map` takes")]
fn checked_row(r: &Row<'_>) -> rusqlite::Result<Result<TaskRow, BadRow>> {
    Ok(row(r).map_err(|e| (r.get::<_, String>(0).ok(), e)))
}

/// A row that could not be read: its id when that much could be.
pub type BadRow = (Option<String>, rusqlite::Error);

/// Running tasks tracked by pid, newest first, at most `limit`; a row that
/// cannot be read comes back as its error, so one bad row stops nothing.
pub fn running_tracked(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Vec<Result<TaskRow, BadRow>>> {
    if !super::keeper::has_table(conn, "tasks")? {
        return Ok(Vec::new());
    }
    let base = select(conn)?;
    conn.prepare(&format!(
        "{base} WHERE ended_at IS NULL AND pid > 0 ORDER BY started_at DESC, id LIMIT ?1"
    ))?
    .query_map([limit as i64], checked_row)?
    .collect()
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<TaskRow>> {
    if !super::keeper::has_table(conn, "tasks")? {
        return Ok(None);
    }
    let base = select(conn)?;
    conn.query_row(&format!("{base} WHERE id = ?1"), [id], row)
        .optional()
}

/// End a running task as threadkeeper does: `ended_at`, and the return
/// code when it is known. False when the row was already ended (or is
/// gone): someone else got there first, and owns what follows.
pub fn end(
    conn: &Connection,
    id: &str,
    ended_at: i64,
    return_code: Option<i64>,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE tasks SET ended_at = ?1, return_code = ?2 WHERE id = ?3 AND ended_at IS NULL",
        params![ended_at, return_code, id],
    )?;
    Ok(n == 1)
}

/// Cancels under way, in any keeper-tui on the store: a reconciler leaves
/// these tasks to the cancel, so a process that exits on its SIGTERM is
/// recorded as cancelled, not as found gone.
const CANCELS: &str = "CREATE TABLE IF NOT EXISTS keeper_cancels (
    task_id  TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until    INTEGER NOT NULL
)";

/// Mark `id` as being cancelled by `holder` until `until` (past that, a
/// cancel that died midway no longer holds the task back).
pub fn claim_cancel(conn: &Connection, id: &str, holder: &str, until: i64) -> rusqlite::Result<()> {
    conn.execute_batch(CANCELS)?;
    conn.execute(
        "INSERT OR REPLACE INTO keeper_cancels (task_id, holder, until) VALUES (?1, ?2, ?3)",
        params![id, holder, until],
    )?;
    Ok(())
}

pub fn release_cancel(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    if super::keeper::has_table(conn, "keeper_cancels")? {
        conn.execute("DELETE FROM keeper_cancels WHERE task_id = ?1", [id])?;
    }
    Ok(())
}

/// Tasks some keeper-tui is cancelling now.
pub fn cancels_under_way(
    conn: &Connection,
    now: i64,
) -> rusqlite::Result<std::collections::HashSet<String>> {
    if !super::keeper::has_table(conn, "keeper_cancels")? {
        return Ok(std::collections::HashSet::new());
    }
    conn.prepare("SELECT task_id FROM keeper_cancels WHERE until >= ?1")?
        .query_map([now], |r| r.get(0))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_inferred_as_threadkeeper_infers_them() {
        assert_eq!(
            infer_role("You are a CANDIDATE REVIEWER."),
            "candidate_reviewer"
        );
        assert_eq!(infer_role("you are the curator of skills"), "curator");
        assert_eq!(infer_role("Shadow review of the week"), "shadow_observer");
        // Word boundaries: EXTRACTED is not EXTRACT.
        assert_eq!(infer_role("EXTRACTED facts"), "");
        assert_eq!(infer_role("run the EXTRACT pass"), "extract");
        // First in threadkeeper's order wins, not first in the text.
        assert_eq!(infer_role("ARCHIVIST and then CURATOR"), "curator");
        // Only the first 1,200 characters count.
        let late = format!("{}CURATOR", "x ".repeat(600));
        assert_eq!(infer_role(&late), "");
        assert_eq!(infer_role(""), "");
    }
}
