//! The job runner: starts queued runs as child processes in their own
//! process groups, within their pools, and records how each ended.
//!
//! A pass recovers runs a stopped keeper-tui left running, reaps what
//! ended (stopping runs past their timeout), fires due schedules and then
//! starts what may start. Processes are only ever polled, never waited on
//! with a lock held: the operator's cancel runs on another thread beside
//! the pass and takes the same map for a moment at a time.

mod commands;
mod ending;
mod live;
pub(crate) mod runlog;
mod schedule;
mod start;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use self::live::Live;
use crate::config::{JobConfig, TasksConfig};
use crate::error::{Error, Result};
use crate::jobs::log::{Entry, EventLog};
use crate::loops::{Loop, LoopCommand, LoopId, LoopReply, PassCtx, PassMode, PassResult, Touched};
use crate::store::events::record_loop_pass;

/// How often a pass looks while anything runs: an ended run is recorded,
/// and the next one in its pool started, this soon after it exits.
const BUSY_LOOK: Duration = Duration::from_millis(200);
/// How often while a run started within `YOUNG` still runs: a short job's
/// pool slot is given to the next queued run within moments of its end.
const QUICK_LOOK: Duration = Duration::from_millis(20);
const YOUNG: Duration = Duration::from_secs(2);

const NOOP: &str = "idle";

pub struct JobRunner {
    pub jobs: Vec<JobConfig>,
    pub pools: BTreeMap<String, u32>,
    pub tasks: TasksConfig,
    /// Where run logs and the event log are written.
    pub state_dir: PathBuf,
    /// Where a job's `hook` entries send its endings.
    pub hooks: Vec<crate::config::HookConfig>,
    /// Runs whose process this runner watches, by run id.
    live: Mutex<HashMap<i64, Live>>,
}

impl JobRunner {
    pub fn new(settings: &crate::config::Settings) -> Self {
        JobRunner {
            jobs: settings.config.jobs.clone(),
            pools: settings.config.pools.clone(),
            tasks: settings.config.tasks.clone(),
            state_dir: settings.log_dir.clone(),
            hooks: settings.config.hooks.clone(),
            live: Mutex::new(HashMap::new()),
        }
    }

    fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }

    fn lock_live(&self) -> MutexGuard<'_, HashMap<i64, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn event_log(&self) -> EventLog {
        EventLog::new(self.state_dir.join("jobs.jsonl"))
    }

    /// Append entries after the write that made them true; the store is
    /// the record, so a log that cannot be written is only warned about.
    fn log(&self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(&self.state_dir) {
            tracing::warn!("cannot create {}: {e}", self.state_dir.display());
        }
        let log = self.event_log();
        for e in entries {
            if let Err(err) = log.append(e) {
                tracing::warn!("cannot append to {}: {err}", log.path().display());
                return;
            }
        }
    }

    /// Cut the logs of running runs that grew past
    /// [`runlog::CUT_AT`]: a chatty run cannot fill the disk before it ends.
    fn trim_live_logs(&self) {
        let logs: Vec<PathBuf> = self
            .lock_live()
            .values()
            .filter_map(|l| l.log.clone())
            .collect();
        for log in logs {
            if let Err(e) = runlog::trim(&log, runlog::CUT_AT) {
                tracing::warn!("cannot trim {}: {e}", log.display());
            }
        }
    }

    fn sql<'a>(ctx: &'a PassCtx<'_>) -> impl Fn(rusqlite::Error) -> Error + 'a {
        move |e| Error::from_sqlite(&ctx.store.path, e)
    }
}

/// Runs with their job's name, for event-log lines about runs known only
/// by id (a chain's followers, skipped dependants).
fn named(conn: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<(i64, String)>> {
    ids.iter()
        .map(|id| {
            let job = crate::store::jobs::get(conn, *id)?.map(|r| r.job);
            Ok((*id, job.unwrap_or_default()))
        })
        .collect()
}

/// What one pass did, gathered step by step.
#[derive(Default)]
struct Done {
    started: Vec<i64>,
    ended: Vec<i64>,
    queued: Vec<i64>,
    detail: Vec<String>,
}

impl Done {
    fn changed(&self) -> bool {
        !(self.started.is_empty() && self.ended.is_empty() && self.queued.is_empty())
    }

    fn summary(&self) -> String {
        if !self.changed() {
            return NOOP.into();
        }
        format!(
            "started={} ended={} queued={}",
            self.started.len(),
            self.ended.len(),
            self.queued.len()
        )
    }
}

impl Loop for JobRunner {
    fn id(&self) -> LoopId {
        LoopId::Jobs
    }

    fn interval(&self) -> Option<Duration> {
        (!self.jobs.is_empty()).then_some(Duration::from_secs(5))
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let mut done = Done::default();
        self.recover(ctx, &mut done)?;
        self.reap(ctx, &mut done)?;
        let next_fire = self.fire_schedules(ctx, &mut done)?;
        if !ctx.stopping() {
            self.start_ready(ctx, &mut done)?;
        }
        self.trim_live_logs();
        if done.changed() {
            let now = crate::sys::process::now_precise();
            let session = ctx.store.session_id.clone();
            let summary = done.summary();
            ctx.store.write(|tx| {
                if !done.ended.is_empty() {
                    crate::store::jobs::prune(tx, crate::store::jobs::RUNS_KEPT)?;
                }
                record_loop_pass(
                    tx,
                    &session,
                    LoopId::Jobs.pass_kind(),
                    &summary,
                    NOOP,
                    now as i64,
                )
            })?;
        }
        let next_look = self.next_look(ctx, next_fire)?;
        let mut touched: Vec<Touched> = done
            .ended
            .iter()
            .chain(&done.started)
            .chain(&done.queued)
            .map(|id| Touched::Run(*id))
            .collect();
        touched.dedup();
        Ok(PassResult {
            changed: done.changed(),
            summary: done.summary(),
            touched_count: touched.len(),
            touched,
            detail: done.detail,
            next_look,
            ..PassResult::default()
        })
    }

    fn dry_run(&self, read: &Connection, path: &Path, _now: i64) -> Result<PassResult> {
        let now = crate::sys::process::now_precise();
        let sql = |e| Error::from_sqlite(path, e);
        let ready = crate::store::jobs::startable(read, now, start::START_LIMIT).map_err(sql)?;
        let mut detail: Vec<String> = ready
            .iter()
            .map(|r| {
                format!(
                    "run #{} ({}): would start if its pool has room",
                    r.id, r.job
                )
            })
            .collect();
        for job in &self.jobs {
            let Some(s) = job.schedule else { continue };
            let last = crate::store::jobs::last_fire(read, &job.name).map_err(sql)?;
            if let Some(last) = last
                && let schedule::Due::Now { .. } = schedule::due(s, last, now)
            {
                detail.push(format!("{}: would fire", job.name));
            }
        }
        Ok(PassResult {
            summary: format!("would start up to {} run(s)", ready.len()),
            touched: ready.iter().map(|r| Touched::Run(r.id)).collect(),
            touched_count: ready.len(),
            detail,
            ..PassResult::default()
        })
    }

    fn pass_after_command(&self) -> bool {
        true
    }

    /// The Jobs panel asks while it is on screen, and after each command.
    fn observe(&self, read: &Connection, _now: i64) -> Option<crate::loops::Observation> {
        let now = crate::sys::process::now_precise();
        match super::seen::look(read, &self.jobs, &self.pools, now) {
            Ok(seen) => Some(crate::loops::Observation::Jobs(seen)),
            Err(e) => {
                tracing::warn!("the Jobs panel's look failed: {e}");
                None
            }
        }
    }

    fn command(&self, cmd: LoopCommand, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        match cmd {
            LoopCommand::RunJob(name) => self.run_job(&name, ctx),
            LoopCommand::CancelRun(id) => self.cancel_run(id, ctx),
            LoopCommand::RetryRun(id) => self.retry_run(id, ctx),
            other => Err(Error::Refused(format!("the jobs loop cannot {other:?}"))),
        }
    }
}

impl JobRunner {
    /// Soon while anything runs; else when a queued run's backoff ends or
    /// the next schedule fires, whichever is first.
    fn next_look(&self, ctx: &PassCtx<'_>, next_fire: Option<f64>) -> Result<Option<Duration>> {
        {
            let live = self.lock_live();
            if live.values().any(|l| l.since.elapsed() < YOUNG) {
                return Ok(Some(QUICK_LOOK));
            }
            if !live.is_empty() {
                return Ok(Some(BUSY_LOOK));
            }
        }
        let now = crate::sys::process::now_precise();
        let backoff = start::next_not_before(ctx.read, now).map_err(Self::sql(ctx))?;
        let at = match (backoff, next_fire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(at.map(|t| Duration::from_secs_f64((t - now).max(0.0) + 0.01)))
    }
}
