//! The background loops keeper-tui runs. A pass has three steps: *plan* from
//! a read-only connection, *act* on the world (tmux, signals, processes)
//! with no database lock held, and *record* in one short write transaction
//! that re-checks whatever must still hold. The engine's loop actors, the
//! `pass` CLI verb and the tests all drive the same `pass`.

pub mod hooks;
pub mod janitor;
pub mod reaper;
pub mod reconciler;
pub mod watchdog;
pub mod watcher;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;
use crate::store::WriteStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopId {
    Janitor,
    Reaper,
    Watchdog,
    Reconciler,
    Hooks,
    Jobs,
    Watcher,
}

impl LoopId {
    /// What a pass of it does to what: `("close", "thread(s)")`, for
    /// confirms and refusals that name a count.
    pub fn changes(self) -> (&'static str, &'static str) {
        match self {
            LoopId::Janitor => ("close", "thread(s)"),
            LoopId::Reaper => ("reap", "session(s)"),
            LoopId::Watchdog => ("heal", "process(es)"),
            LoopId::Reconciler => ("end", "task(s)"),
            LoopId::Hooks => ("deliver", "hook(s)"),
            LoopId::Jobs => ("run", "job(s)"),
            LoopId::Watcher => ("queue", "session(s)"),
        }
    }

    pub const ALL: &'static [LoopId] = &[
        LoopId::Janitor,
        LoopId::Reaper,
        LoopId::Watchdog,
        LoopId::Reconciler,
        LoopId::Hooks,
        LoopId::Jobs,
        LoopId::Watcher,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LoopId::Janitor => "janitor",
            LoopId::Reaper => "reaper",
            LoopId::Watchdog => "watchdog",
            LoopId::Reconciler => "reconciler",
            LoopId::Hooks => "hooks",
            LoopId::Jobs => "jobs",
            LoopId::Watcher => "watcher",
        }
    }

    /// The `events.kind` this loop's passes are recorded under.
    pub fn pass_kind(self) -> &'static str {
        match self {
            LoopId::Janitor => "janitor_pass",
            LoopId::Reaper => "reaper_pass",
            LoopId::Watchdog => "watchdog_pass",
            LoopId::Reconciler => "reconciler_pass",
            LoopId::Hooks => "hooks_pass",
            LoopId::Jobs => "jobs_pass",
            LoopId::Watcher => "watcher_pass",
        }
    }
}

impl fmt::Display for LoopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LoopId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LoopId::ALL
            .iter()
            .copied()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = LoopId::ALL.iter().map(|l| l.name()).collect();
                format!("unknown loop {s:?}; known loops: {}", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassMode {
    /// Due by the loop's interval or its own wake-up; skipped when disabled.
    Scheduled,
    /// Asked for by the operator; runs even when the loop is disabled.
    Forced,
    /// Says what a forced pass would do and writes nothing.
    DryRun,
}

impl PassMode {
    pub fn name(self) -> &'static str {
        match self {
            PassMode::Scheduled => "scheduled",
            PassMode::Forced => "forced",
            PassMode::DryRun => "dry-run",
        }
    }
}

/// Something a pass acted on: the trail an operator can follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Touched {
    Thread(String),
    Session(String),
    Process {
        name: String,
        pid: Option<i32>,
    },
    Task(String),
    /// A hook delivery, by its row id.
    Delivery(i64),
    /// A job run, by its row id.
    Run(i64),
    /// A transcript the watcher queued work for.
    Transcript(String),
}

impl std::fmt::Display for Touched {
    /// The item's name, as the Log and a confirm list it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Touched::Thread(id) | Touched::Session(id) | Touched::Task(id) => f.write_str(id),
            Touched::Delivery(id) => write!(f, "delivery #{id}"),
            Touched::Run(id) => write!(f, "run #{id}"),
            Touched::Transcript(path) => f.write_str(path),
            Touched::Process {
                name,
                pid: Some(pid),
            } => write!(f, "{name} (pid {pid})"),
            Touched::Process { name, pid: None } => f.write_str(name),
        }
    }
}

/// Items a pass lists by name; a janitor pass closing 39,000 threads
/// names the first ones and counts the rest.
pub const TOUCHED_LISTED: usize = 200;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassResult {
    /// False when the pass found nothing to do (or only said what it would do).
    pub changed: bool,
    /// One line for a status bar and the Log.
    pub summary: String,
    /// Per-item lines (a dry-run's list, each session's fate).
    pub detail: Vec<String>,
    /// What it touched: all of it, or the first `TOUCHED_LISTED` of a big
    /// pass (the store's events name the rest).
    pub touched: Vec<Touched>,
    /// How many items it touched in all.
    pub touched_count: usize,
    /// When the loop must look again, if sooner than its interval (a
    /// cooldown ending, a restarted process due to prove itself).
    #[serde(skip)]
    pub next_look: Option<Duration>,
    /// When what it watches goes stale unless a watched file changes
    /// first; the loop's `on_change` answer replaces it.
    #[serde(skip)]
    pub stale_in: Option<Duration>,
    /// It would have changed more than it was allowed to, and changed
    /// nothing.
    pub held: Option<Held>,
}

/// A pass that held back: how much it would have changed, and the most it
/// was allowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Held {
    pub would: usize,
    pub limit: usize,
}

/// How much one pass may change before it holds instead of acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Allowed {
    /// The loop's configured limit (`max_close_per_pass`, …): every
    /// scheduled pass, and a forced one nobody reviewed.
    #[default]
    Configured,
    /// As many as the operator saw and confirmed.
    Agreed(usize),
    /// No limit (`pass … --yes`).
    Any,
}

impl Allowed {
    /// The limit in force for a loop whose configured one is `configured`.
    pub fn limit(self, configured: usize) -> Option<usize> {
        match self {
            Allowed::Configured => Some(configured),
            Allowed::Agreed(n) => Some(n),
            Allowed::Any => None,
        }
    }

    /// `Some(held)` when changing `would` items is more than allowed.
    pub fn holds(self, configured: usize, would: usize) -> Option<Held> {
        self.limit(configured)
            .filter(|&limit| would > limit)
            .map(|limit| Held { would, limit })
    }
}

impl PassResult {
    pub fn quiet(summary: impl Into<String>) -> Self {
        PassResult {
            summary: summary.into(),
            ..PassResult::default()
        }
    }

    /// The summary with the items it touched named, the first few and a
    /// count of the rest: `closed=312: T6b0, T21c, … +310`.
    pub fn with_trail(&self) -> String {
        const NAMED: usize = 5;
        if self.touched.is_empty() || self.held.is_some() || !self.changed {
            return self.summary.clone();
        }
        let names: Vec<String> = self
            .touched
            .iter()
            .take(NAMED)
            .map(ToString::to_string)
            .collect();
        let rest = self.touched_count.saturating_sub(names.len());
        if rest > 0 {
            format!("{}: {}, … +{rest}", self.summary, names.join(", "))
        } else {
            format!("{}: {}", self.summary, names.join(", "))
        }
    }
}

/// Everything a pass may use. The writer's lock is taken only inside
/// `WriteStore::write`, for the record step.
pub struct PassCtx<'a> {
    /// Read-only: plan and re-check from here.
    pub read: &'a Connection,
    pub store: &'a WriteStore,
    pub mode: PassMode,
    pub now: i64,
    /// The first scheduled pass since the engine started (a boot reap).
    pub first: bool,
    /// Set when the engine is shutting down: a pass that has not started
    /// acting gives up, and nothing new is started.
    pub stopping: &'a AtomicBool,
    /// How much this pass may change.
    pub allowed: Allowed,
}

impl PassCtx<'_> {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Commands that belong to one kind of loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopCommand {
    /// Reap these sessions by hand (attached ones too).
    Reap(Vec<reaper::Named>),
    /// Close a supervised process's circuit breaker.
    ResetCircuit(String),
    /// Cancel a running task: SIGTERM to its group, SIGKILL after the grace.
    Cancel(String),
    /// Queue a run of this job now (and the jobs that follow it).
    RunJob(String),
    /// Cancel a queued or running job run: its dependants are skipped.
    CancelRun(i64),
    /// Queue a finished run's job again, with the same arguments.
    RetryRun(i64),
}

impl LoopCommand {
    /// The loop it goes to.
    pub fn loop_id(&self) -> LoopId {
        match self {
            LoopCommand::Reap(_) => LoopId::Reaper,
            LoopCommand::ResetCircuit(_) => LoopId::Watchdog,
            LoopCommand::Cancel(_) => LoopId::Reconciler,
            LoopCommand::RunJob(_) | LoopCommand::CancelRun(_) | LoopCommand::RetryRun(_) => {
                LoopId::Jobs
            }
        }
    }
}

/// What a loop command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LoopReply {
    Reaped(reaper::ReapReport),
    CircuitReset {
        name: String,
    },
    Cancelled(reconciler::Cancelled),
    /// Runs queued, first the one asked for, then those that follow it.
    Queued {
        job: String,
        runs: Vec<i64>,
    },
    /// A run cancelled: what was sent, and the runs skipped with it.
    RunCancelled {
        run: i64,
        signals: Vec<String>,
        skipped: Vec<i64>,
    },
}

impl fmt::Display for LoopReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopReply::Reaped(r) => write!(f, "{r}"),
            LoopReply::CircuitReset { name } => {
                write!(f, "{name}: heal state reset, circuit closed")
            }
            LoopReply::Cancelled(c) => write!(f, "{c}"),
            LoopReply::Queued { job, runs } => {
                let ids: Vec<String> = runs.iter().map(|r| format!("#{r}")).collect();
                write!(f, "{job}: queued {}", ids.join(", "))
            }
            LoopReply::RunCancelled {
                run,
                signals,
                skipped,
            } => {
                write!(f, "run #{run} cancelled")?;
                if !signals.is_empty() {
                    write!(f, " ({})", signals.join(", then "))?;
                }
                if !skipped.is_empty() {
                    let ids: Vec<String> = skipped.iter().map(|r| format!("#{r}")).collect();
                    write!(f, "; skipped {}", ids.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

pub trait Loop: Send + Sync + 'static {
    fn id(&self) -> LoopId;
    /// `None` when scheduled passes are off (forced passes still run).
    fn interval(&self) -> Option<Duration>;
    /// Whether a first pass runs at engine start. By default only loops
    /// that are scheduled at all; the reaper's boot reap opts in on its own.
    fn run_at_start(&self) -> bool {
        self.interval().is_some()
    }
    /// A scheduled or forced pass: plan, act, record.
    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult>;
    /// What a forced pass would do, from a read-only connection, so it also
    /// works under `--read-only`.
    fn dry_run(&self, read: &Connection, path: &Path, now: i64) -> Result<PassResult>;
    /// A command for this kind of loop; others refuse it.
    fn command(&self, cmd: LoopCommand, _ctx: &PassCtx<'_>) -> Result<LoopReply> {
        Err(crate::error::Error::Refused(format!(
            "the {} cannot {cmd:?}",
            self.id()
        )))
    }
    /// Whether a command (the operator's "run now", "retry") leaves work
    /// for a pass to start, so one should follow it at once.
    fn pass_after_command(&self) -> bool {
        false
    }
    /// What the loop watches, for its panel, read without acting.
    fn observe(&self, _read: &Connection, _now: i64) -> Option<Observation> {
        None
    }
    /// A look asked for now would find what the last one did, as far as a
    /// check that cannot block tells (no store, no tmux, no process
    /// table): the look is not taken. Runs on the engine's async thread.
    fn last_look_holds(&self) -> bool {
        false
    }
    /// Files whose changes should make the loop reconsider when to look.
    fn watched_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// A directory whose files (those ending in `.ext`, when given) are
    /// watched at any depth, for `on_change` like `watched_files`.
    fn watched_tree(&self) -> Option<(PathBuf, Option<String>)> {
        None
    }
    /// How often at most `on_change` runs, however often the files change:
    /// changes closer together share one look.
    fn look_every(&self) -> Duration {
        Duration::from_secs(1)
    }
    /// A watched file changed: when is a pass needed, and what can the
    /// panel show meanwhile. Must stay cheap (it may run on every
    /// heartbeat): files and the process table, a keyed read at most.
    fn on_change(&self, _read: &Connection, _now: i64) -> Change {
        Change::default()
    }
}

/// What a loop makes of a change to one of its watched files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// How long until a pass is needed (`ZERO`: now); `None`: nothing
    /// before its interval.
    pub look_in: Option<Duration>,
    /// A quick look for its panel.
    pub seen: Option<Observation>,
}

/// What a loop's panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Observation {
    Sessions(reaper::Survey),
    Bridges(Vec<watchdog::BridgeRow>),
    /// Bridges looked at on a heartbeat, from files and the process table
    /// only: the version columns and the heal state keep what the last
    /// full look saw.
    Heartbeats(Vec<watchdog::BridgeRow>),
    /// The Tasks panel's rows.
    Tasks(Vec<reconciler::TaskLine>),
    /// The Jobs panel's jobs and runs.
    Jobs(crate::jobs::seen::JobsSeen),
}
