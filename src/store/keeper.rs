//! keeper-tui's own state, in `keeper_*` tables beside threadkeeper's.
//! threadkeeper never reads them; dropping them loses only keeper's history.

use rusqlite::{Connection, params};

const KEEPER_TABLES: &str = r"
CREATE TABLE IF NOT EXISTS keeper_passes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    loop_id     TEXT NOT NULL,
    mode        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS keeper_passes_loop ON keeper_passes(loop_id, id DESC);
";

/// Create keeper's tables if missing. Checks first so that opening a store
/// that already has them writes nothing at all.
pub fn ensure_tables(conn: &Connection) -> rusqlite::Result<()> {
    let present: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='keeper_passes'",
        [],
        |r| r.get(0),
    )?;
    if present == 0 {
        conn.execute_batch(&format!("BEGIN IMMEDIATE;{KEEPER_TABLES}COMMIT;"))?;
    }
    Ok(())
}

/// One line of the pass history an operator reads in a loop's detail view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PassRecord {
    pub loop_id: String,
    pub mode: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub summary: String,
}

/// Append to the pass history, creating keeper's tables on first use so a
/// store keeper only reads never gains them.
pub fn record_pass(conn: &Connection, rec: &PassRecord) -> rusqlite::Result<()> {
    ensure_tables(conn)?;
    conn.execute(
        "INSERT INTO keeper_passes (loop_id, mode, started_at, finished_at, ok, summary) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            rec.loop_id,
            rec.mode,
            rec.started_at,
            rec.finished_at,
            rec.ok,
            rec.summary
        ],
    )?;
    Ok(())
}

/// The newest `limit` passes of one loop; empty when keeper has never
/// written to this store.
pub fn recent_passes(
    conn: &Connection,
    loop_id: &str,
    limit: u32,
) -> rusqlite::Result<Vec<PassRecord>> {
    let present: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='keeper_passes'",
        [],
        |r| r.get(0),
    )?;
    if present == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT loop_id, mode, started_at, finished_at, ok, summary FROM keeper_passes \
         WHERE loop_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![loop_id, limit], |r| {
        Ok(PassRecord {
            loop_id: r.get(0)?,
            mode: r.get(1)?,
            started_at: r.get(2)?,
            finished_at: r.get(3)?,
            ok: r.get(4)?,
            summary: r.get(5)?,
        })
    })?
    .collect()
}
