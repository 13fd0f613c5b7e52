//! threadkeeper's `tasks`: agent processes it spawned, one row each.

use rusqlite::Connection;

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
