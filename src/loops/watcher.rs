//! The session watcher: queues the configured job for each transcript
//! whose session has ended (not written for `stale_secs` and held open by
//! no process), once per version of the file — path, size and mtime, so a
//! session resumed and ended again is new again.
//!
//! A pass plans from files and the read connection: every transcript is
//! statted, and only when some stale one is not yet processed are the
//! pending runs and the process table read, once for all of them. The
//! record step queues each chosen file's job chain and remembers the file
//! in one write transaction, so a crash leaves neither a run whose file
//! is still new nor a file remembered with no run.

mod holders;
mod plan;
mod scan;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use rusqlite::Connection;

use self::plan::{Plan, survey};
use self::scan::Transcript;
use super::{Loop, LoopId, PassCtx, PassMode, PassResult, TOUCHED_LISTED, Touched};
use crate::config::{JobConfig, WatcherConfig};
use crate::error::{Error, Result};
use crate::jobs::queue::queue_chain;
use crate::store::events::record_loop_pass;
use crate::store::jobs::{self, Args, Reason};

const NOOP: &str = "no_new";
/// A pass that queues nothing is recorded at most this often.
const NOOP_EVERY: i64 = 60;

/// The `watcher` loop; the engine runs it only when `[watcher] job` is set.
pub struct Watcher {
    pub config: WatcherConfig,
    pub jobs: Vec<JobConfig>,
    last_noop_record: AtomicI64,
    /// The missing directory was said in the log; said again only after
    /// it has existed in between.
    said_missing: AtomicBool,
}

impl Watcher {
    pub fn new(config: WatcherConfig, jobs: Vec<JobConfig>) -> Self {
        Watcher {
            config,
            jobs,
            last_noop_record: AtomicI64::new(0),
            said_missing: AtomicBool::new(false),
        }
    }

    /// A missing directory is where agents have not written yet, not a
    /// fault: the pass says so, and the log says it once.
    fn missing(&self) -> PassResult {
        let dir = scan::shown(&self.config.dir);
        if !self.said_missing.swap(true, Ordering::SeqCst) {
            tracing::info!(
                dir = %dir.display(),
                "no transcripts to watch: the directory does not exist"
            );
        }
        PassResult::quiet(format!("no_dir: {} does not exist", dir.display()))
    }

    /// The plan, or the answer when there is nothing to plan from.
    fn look(
        &self,
        read: &Connection,
        store: &Path,
        now: i64,
        limit: Option<usize>,
    ) -> Result<Looked<'_>> {
        let Some(job) = self.config.job.as_deref() else {
            return Ok(Looked::Done(PassResult::quiet(
                "no [watcher] job is set: nothing to queue",
            )));
        };
        match survey(&self.config, job, read, store, now, limit)? {
            Some(plan) => {
                self.said_missing.store(false, Ordering::SeqCst);
                Ok(Looked::Plan(job, plan))
            }
            None => Ok(Looked::Done(self.missing())),
        }
    }
}

enum Looked<'a> {
    Plan(&'a str, Plan),
    Done(PassResult),
}

fn path_args(t: &Transcript) -> Args {
    Args::from([("path".to_string(), t.path.clone())])
}

fn waiting_line(waiting: usize, limit: usize) -> String {
    format!("{waiting} more ended session(s) wait for the next pass (at most {limit} per pass)")
}

/// A transcript queued by the pass, and its runs (the job's first).
struct Queued {
    path: String,
    runs: Vec<i64>,
}

impl Loop for Watcher {
    fn id(&self) -> LoopId {
        LoopId::Watcher
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.interval_secs > 0 && self.config.job.is_some())
            .then(|| Duration::from_secs(self.config.interval_secs))
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let now = ctx.now;
        let limit = ctx.allowed.limit(self.config.max_new_per_pass);
        let (job, plan) = match self.look(ctx.read, &ctx.store.path, now, limit)? {
            Looked::Plan(job, plan) => (job, plan),
            Looked::Done(r) => return Ok(r),
        };
        let next_look = plan
            .next_stale
            .filter(|d| self.interval().is_none_or(|i| *d < i));
        let (ready, mut detail) = unchanged(plan.ready);
        let noop_due = now - self.last_noop_record.load(Ordering::SeqCst) >= NOOP_EVERY;
        if ready.is_empty() && !noop_due && ctx.mode == PassMode::Scheduled {
            detail.extend(plan.kept);
            return Ok(PassResult {
                summary: NOOP.into(),
                detail,
                next_look,
                ..PassResult::default()
            });
        }
        if ctx.stopping() {
            return Err(Error::ShuttingDown("the watcher's pass did not start"));
        }
        let waiting = plan.waiting;
        let (queued, raced) = self.record(ctx, job, &ready, waiting)?;
        if queued.is_empty() {
            self.last_noop_record.store(now, Ordering::SeqCst);
        }
        let mut lines: Vec<String> = queued
            .iter()
            .map(|q| {
                let ids: Vec<String> = q.runs.iter().map(|r| format!("#{r}")).collect();
                format!("{}: queued {job} ({})", q.path, ids.join(", then "))
            })
            .collect();
        if waiting > 0 {
            lines.push(waiting_line(waiting, limit.unwrap_or(usize::MAX)));
        }
        lines.extend(detail);
        lines.extend(raced);
        lines.extend(plan.kept);
        Ok(PassResult {
            changed: !queued.is_empty(),
            summary: summary(queued.len(), waiting),
            detail: lines,
            touched: queued
                .iter()
                .take(TOUCHED_LISTED)
                .map(|q| Touched::Transcript(q.path.clone()))
                .collect(),
            touched_count: queued.len(),
            next_look,
            ..PassResult::default()
        })
    }

    fn dry_run(&self, read: &Connection, path: &Path, now: i64) -> Result<PassResult> {
        let limit = Some(self.config.max_new_per_pass);
        let (job, plan) = match self.look(read, path, now, limit)? {
            Looked::Plan(job, plan) => (job, plan),
            Looked::Done(r) => return Ok(r),
        };
        let mut detail: Vec<String> = plan
            .ready
            .iter()
            .map(|t| format!("{}: would queue {job}", t.path))
            .collect();
        if plan.waiting > 0 {
            detail.push(waiting_line(plan.waiting, self.config.max_new_per_pass));
        }
        detail.extend(plan.kept);
        Ok(PassResult {
            summary: if plan.ready.is_empty() {
                format!("would queue nothing ({NOOP})")
            } else {
                format!("would queue {job} for {} session(s)", plan.ready.len())
            },
            touched: plan
                .ready
                .iter()
                .take(TOUCHED_LISTED)
                .map(|t| Touched::Transcript(t.path.clone()))
                .collect(),
            touched_count: plan.ready.len(),
            detail,
            ..PassResult::default()
        })
    }

    /// The transcripts directory, at any depth (new projects included):
    /// a write says a session is alive, so the next look is when that file
    /// could have gone stale. Older files are the pass's `next_look`.
    fn watched_tree(&self) -> Option<(std::path::PathBuf, Option<String>)> {
        let ext = self
            .config
            .glob
            .rsplit_once("*.")
            .map(|(_, e)| e.to_string());
        (self.config.job.is_some() && self.config.dir.is_dir())
            .then(|| (self.config.dir.clone(), ext))
    }

    fn look_every(&self) -> Duration {
        Duration::from_secs(5)
    }

    fn on_change(&self, _read: &Connection, _now: i64) -> super::Change {
        super::Change {
            look_in: Some(self.config.stale() + Duration::from_secs(1)),
            seen: None,
        }
    }
}

/// The files not written since the look, and a line for each that was:
/// its session is back.
fn unchanged(ready: Vec<Transcript>) -> (Vec<Transcript>, Vec<String>) {
    let mut lines = Vec::new();
    let same = ready
        .into_iter()
        .filter(|t| {
            let same = Transcript::stat(&t.path)
                .is_some_and(|now| (now.size, now.mtime, now.id) == (t.size, t.mtime, t.id));
            if !same {
                lines.push(format!("{}: written again since the look", t.path));
            }
            same
        })
        .collect();
    (same, lines)
}

impl Watcher {
    /// The record step, in one write: each file's job chain queued and the
    /// file remembered together, re-checked against what another writer
    /// did since the look. Returns what was queued, and lines for the
    /// files another writer got to first.
    fn record(
        &self,
        ctx: &PassCtx<'_>,
        job: &str,
        ready: &[Transcript],
        waiting: usize,
    ) -> Result<(Vec<Queued>, Vec<String>)> {
        let now = ctx.now;
        ctx.store.write(|tx| {
            let mut queued = Vec::new();
            let mut raced = Vec::new();
            for t in ready {
                // Another keeper-tui on the store may have queued it since.
                if jobs::watched(tx, &t.path)? == Some((t.size, t.mtime)) {
                    raced.push(format!("{}: already queued by another keeper-tui", t.path));
                    continue;
                }
                let runs = queue_chain(
                    tx,
                    &self.jobs,
                    job,
                    &path_args(t),
                    Reason::Watcher,
                    true,
                    now as f64,
                )?;
                // Left unremembered, so it is queued once that run ends.
                let Some(&first) = runs.first() else {
                    raced.push(format!(
                        "{}: a run of {job} for it is still queued or running",
                        t.path
                    ));
                    continue;
                };
                jobs::remember_watched(tx, &t.path, t.size, t.mtime, Some(first), now)?;
                queued.push(Queued {
                    path: t.path.clone(),
                    runs,
                });
            }
            record_loop_pass(
                tx,
                &ctx.store.session_id,
                LoopId::Watcher.pass_kind(),
                &summary(queued.len(), waiting),
                NOOP,
                now,
            )?;
            Ok((queued, raced))
        })
    }
}

fn summary(queued: usize, waiting: usize) -> String {
    match (queued, waiting) {
        (0, _) => NOOP.into(),
        (q, 0) => format!("queued={q}"),
        (q, w) => format!("queued={q} waiting={w}"),
    }
}
