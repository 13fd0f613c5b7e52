//! The janitor: closes threads idle past a threshold, reversibly (a note
//! reopens them). threadkeeper's rules, done in one transaction.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{Loop, LoopId, PassCtx, PassMode, PassResult, TOUCHED_LISTED, Touched};
use crate::config::JanitorConfig;
use crate::error::{Error, Result};
use crate::report::fmt_age;
use crate::store::threads::{
    close_stale, count_stale, days_shown, janitor_cutoff, janitor_outcome, record_janitor_pass,
    stale_threads,
};
use crate::store::undo::{next_event_id, remember_closed};

pub struct Janitor {
    pub config: JanitorConfig,
}

impl Janitor {
    pub fn new(config: JanitorConfig) -> Self {
        Janitor { config }
    }
}

/// Rows listed in a dry-run's detail; the summary always has the full count.
const DRY_RUN_LIST: usize = 500;

impl Loop for Janitor {
    fn id(&self) -> LoopId {
        LoopId::Janitor
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.interval_secs > 0).then(|| Duration::from_secs(self.config.interval_secs))
    }

    /// A janitor whose interval is 0 is off: no pass at start either.
    fn run_at_start(&self) -> bool {
        self.config.run_at_start && self.config.interval_secs > 0
    }

    /// Nothing to plan or act on outside the store: the whole pass is the
    /// record step, with the staleness test inside the write itself.
    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::Scheduled && self.config.interval_secs == 0 {
            return Ok(PassResult::quiet("disabled"));
        }
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        if ctx.stopping() {
            return Err(Error::Refused(
                "shutting down: the pass did not start".into(),
            ));
        }
        let (now, days) = (ctx.now, self.config.idle_close_days);
        let cutoff = janitor_cutoff(now, days);
        let outcome = janitor_outcome(days);
        let session = ctx.store.session_id.clone();
        let limit = self.config.max_close_per_pass;
        let done = ctx.store.write(|tx| {
            // Counted inside the write: what is held is exactly what would
            // have been closed.
            let would = count_stale(tx, cutoff)?;
            if let Some(held) = ctx.allowed.holds(limit, would) {
                return Ok(Err(held));
            }
            let first_event = next_event_id(tx)?;
            let (closed, ids) = close_stale(tx, &session, cutoff, now, &outcome, TOUCHED_LISTED)?;
            let summary = if closed == 0 {
                "no_stale".to_string()
            } else {
                format!("closed={closed}")
            };
            record_janitor_pass(tx, &session, &summary, now)?;
            // A pass that closed threads can be taken back (`u`).
            if closed > 0 {
                remember_closed(tx, tx.last_insert_rowid(), first_event)?;
            }
            Ok(Ok((closed, ids, summary)))
        })?;
        let (closed, ids, summary) = match done {
            Ok(d) => d,
            Err(held) => {
                return Ok(PassResult {
                    summary: format!("held: would close {} (limit {})", held.would, held.limit),
                    held: Some(held),
                    ..PassResult::default()
                });
            }
        };
        Ok(PassResult {
            changed: closed > 0,
            summary,
            detail: Vec::new(),
            touched: ids.into_iter().map(Touched::Thread).collect(),
            touched_count: closed,
            next_look: None,
            stale_in: None,
            held: None,
        })
    }

    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassResult> {
        let days = self.config.idle_close_days;
        let cutoff = janitor_cutoff(now, days);
        let stale = stale_threads(conn, cutoff).map_err(|e| Error::from_sqlite(path, e))?;
        let detail = stale
            .iter()
            .take(DRY_RUN_LIST)
            .map(|t| {
                format!(
                    "{} {:<6} idle {:>4}  {}",
                    t.id,
                    t.state,
                    fmt_age(now - t.last_touched_at),
                    crate::store::truncate_chars(&t.question, 70)
                )
            })
            .collect();
        let summary = if stale.is_empty() {
            "would close nothing (no_stale)".to_string()
        } else {
            format!(
                "would close {} thread(s) idle > {}",
                stale.len(),
                days_shown(days)
            )
        };
        Ok(PassResult {
            summary,
            detail,
            touched: stale
                .iter()
                .take(TOUCHED_LISTED)
                .map(|t| Touched::Thread(t.id.clone()))
                .collect(),
            touched_count: stale.len(),
            ..PassResult::default()
        })
    }
}
