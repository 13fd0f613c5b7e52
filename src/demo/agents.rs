//! Simulated agents for the demo: every couple of seconds a loop of
//! threadkeeper's records a pass, an outcome lands, or a note touches a
//! recent thread; and an agent writes a turn to its live transcript.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::store::now_unix;
use crate::store::seed::{LOOP_KINDS, OUTCOME_KINDS, Rng};

/// Play a few agents: every couple of seconds a loop of threadkeeper's
/// records a pass, an outcome lands, or a note touches a recent thread.
/// The live transcript is written each tick, well inside the watcher's
/// `stale_secs`, so it is not taken for an ended session.
pub async fn simulate(db: PathBuf) {
    let mut rng = Rng::new(now_unix() as u64);
    let mut tick = tokio::time::interval(Duration::from_millis(2500));
    loop {
        tick.tick().await;
        let db = db.clone();
        let seed = rng.next_u64();
        let done = tokio::task::spawn_blocking(move || {
            // The store sits in the demo directory.
            if let Some(dir) = db.parent()
                && let Err(e) = super::jobs::keep_writing(dir, now_unix())
            {
                tracing::debug!("demo transcript not written: {e}");
            }
            one_step(&db, seed)
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::debug!("demo agent step failed: {e}");
        }
    }
}

fn one_step(db: &Path, seed: u64) -> rusqlite::Result<()> {
    let mut rng = Rng::new(seed);
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let now = now_unix();
    let session = format!("s_demo_{}", rng.below(4));
    match rng.below(10) {
        0..=4 => {
            let kind = rng.weighted(LOOP_KINDS);
            if kind == "janitor_pass" {
                return Ok(());
            }
            conn.execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,?3,'ok',?4)",
                params![session, kind, now.to_string(), now],
            )?;
        }
        5..=6 => {
            let kind = rng.weighted(OUTCOME_KINDS);
            conn.execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,'','demo',?3)",
                params![session, kind, now],
            )?;
        }
        _ => {
            let id: Option<String> = conn
                .query_row(
                    "SELECT id FROM threads WHERE state='active' ORDER BY last_touched_at DESC LIMIT 1 OFFSET ?1",
                    [rng.below(20) as i64],
                    |r| r.get(0),
                )
                .ok();
            if let Some(id) = id {
                let text = format!("demo agent step {}", rng.hex(4));
                let tx = conn.unchecked_transaction()?;
                tx.execute(
                    "INSERT INTO notes (thread_id, content, kind, created_at, session_id) VALUES (?1,?2,'move',?3,?4)",
                    params![id, text, now, session],
                )?;
                tx.execute(
                    "UPDATE threads SET last_touched_at=?1, last_move=?2 WHERE id=?3",
                    params![now, text, id],
                )?;
                tx.execute(
                    "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,'note:move',?2,?3,?4)",
                    params![session, id, text, now],
                )?;
                tx.commit()?;
            }
        }
    }
    Ok(())
}
