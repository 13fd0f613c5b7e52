//! A pass's plan: which transcripts have ended and are not yet
//! processed. Files first (cheap, every pass); the store's memory of
//! processed files and pending runs, and the process table, only when
//! some stale file is not yet processed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::holders::{Holders, Holding};
use super::scan::{self, Transcript};
use crate::config::WatcherConfig;
use crate::error::{Error, Result};
use crate::store::jobs;

/// Lines per kind of file left alone; the rest are counted.
const LINES_EACH: usize = 20;
/// Live runs read to find the transcripts a run is already pending for.
const LIVE_READ: usize = 100_000;

/// What one look found to do.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Ended and not yet processed, oldest first, at most the pass's limit.
    pub ready: Vec<Transcript>,
    /// Ended and not yet processed, past the limit: the next pass's.
    pub waiting: usize,
    /// Lines for the files left alone, and for what could not be read.
    pub kept: Vec<String>,
    /// How soon the next file still being written turns stale.
    pub next_stale: Option<Duration>,
}

/// A look at the transcripts: `None` when `dir` does not exist.
pub(super) fn survey(
    config: &WatcherConfig,
    job: &str,
    read: &Connection,
    store: &Path,
    now: i64,
    limit: Option<usize>,
) -> Result<Option<Plan>> {
    let sql = |e| Error::from_sqlite(store, e);
    let shown = scan::shown(&config.dir);
    let found = scan::find(config).map_err(|e| {
        Error::Io(format!(
            "cannot list transcripts in {}: {e}",
            shown.display()
        ))
    })?;
    let Some(found) = found else {
        return Ok(None);
    };
    let mut plan = Plan {
        kept: found.skipped,
        ..Plan::default()
    };
    let stale = i64::try_from(config.stale_secs).unwrap_or(i64::MAX);
    let mut stale_ones = Vec::new();
    for t in found.transcripts {
        let age = now.saturating_sub(t.mtime);
        if age < stale {
            let left = Duration::from_secs(stale.saturating_sub(age).unsigned_abs());
            plan.next_stale = Some(plan.next_stale.map_or(left, |d| d.min(left)));
        } else {
            stale_ones.push(t);
        }
    }
    if stale_ones.is_empty() {
        return Ok(Some(plan));
    }
    let seen = remembered(read).map_err(sql)?;
    let candidates: Vec<Transcript> = stale_ones
        .into_iter()
        .filter(|t| seen.get(&t.path) != Some(&(t.size, t.mtime)))
        .collect();
    if candidates.is_empty() {
        return Ok(Some(plan));
    }
    let pending = pending_paths(read, job).map_err(sql)?;
    let (pending, candidates): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|t| pending.contains(&t.path));
    let mut lines = Lines::default();
    for t in &pending {
        lines.pending.push(format!(
            "{}: a run of {job} for it is still queued or running",
            t.path
        ));
    }
    let mut ended = Vec::new();
    if !candidates.is_empty() {
        let holders = Holders::scan(&candidates.iter().map(|t| t.id).collect());
        for t in candidates {
            match holders.of(t.id) {
                Holding::Free => ended.push(t),
                Holding::HeldBy(pid) => lines
                    .held
                    .push(format!("{}: still open in pid {pid}", t.path)),
                Holding::Unknown(why) => lines
                    .unknown
                    .push(format!("{}: held back as unknown, {why}", t.path)),
            }
        }
        if holders.privileged > 0 {
            lines.notes.push(format!(
                "{} process(es) more privileged than keeper-tui were not looked into",
                holders.privileged
            ));
        }
    }
    ended.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    let take = limit.unwrap_or(usize::MAX).min(ended.len());
    plan.waiting = ended.len() - take;
    ended.truncate(take);
    plan.ready = ended;
    plan.kept.extend(lines.into_detail());
    Ok(Some(plan))
}

/// `(size, mtime)` of every file processed, as `jobs::watched` answers
/// for one: read in one query, since a statement prepared per file made
/// up most of a pass over 10,000 transcripts.
fn remembered(read: &Connection) -> rusqlite::Result<HashMap<String, (u64, i64)>> {
    if !crate::store::keeper::has_table(read, "keeper_watched")? {
        return Ok(HashMap::new());
    }
    read.prepare("SELECT path, size, mtime FROM keeper_watched")?
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, i64>(1)?.max(0).unsigned_abs(), r.get(2)?),
            ))
        })?
        .collect()
}

/// Transcripts a run of `job` is queued or running for: queued again now,
/// their file would be worked on twice at once.
fn pending_paths(read: &Connection, job: &str) -> rusqlite::Result<HashSet<String>> {
    // `list` gives the running and queued runs first.
    Ok(jobs::list(read, LIVE_READ)?
        .into_iter()
        .take_while(|r| !r.state.is_final())
        .filter(|r| r.job == job)
        .filter_map(|mut r| r.args.remove("path"))
        .collect())
}

/// Detail lines for the files left alone, by why.
#[derive(Default)]
struct Lines {
    held: Vec<String>,
    unknown: Vec<String>,
    pending: Vec<String>,
    notes: Vec<String>,
}

impl Lines {
    fn into_detail(self) -> Vec<String> {
        let mut out = Vec::new();
        for (mut lines, what) in [
            (self.held, "still open"),
            (self.unknown, "held back as unknown"),
            (self.pending, "with a run pending"),
        ] {
            let more = lines.len().saturating_sub(LINES_EACH);
            lines.truncate(LINES_EACH);
            out.extend(lines);
            if more > 0 {
                out.push(format!("… and {more} more {what}"));
            }
        }
        out.extend(self.notes);
        out
    }
}
