//! The engine: one instance under the TUI, under headless `keeper-tui
//! engine`, and under the tests. Each loop runs in its own actor task, the
//! store view in another; this task (the hub) owns what the screen shows
//! and publishes it as `Snapshot`s on a watch channel. Front doors talk to
//! the engine only through `Command`s, each answered on a oneshot with a
//! typed `Reply`.

mod actor;
mod detail;
mod hub;
mod jobs;
pub mod lease;
mod view;
pub mod watch;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::loops::janitor::Janitor;
use crate::loops::reaper::Reaper;
use crate::loops::{Loop, LoopCommand, LoopId, LoopReply, PassMode, PassResult};
use crate::store::WriteStore;
use crate::store::snapshot::{RefreshStats, StoreFigures, StoreView};
use crate::store::threads::{Reopened, ThreadPage, ThreadQuery, page_threads};

/// Operator intents. Anything that changes the store passes the one
/// read-only gate in the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A pass now, within the loop's configured limit.
    ForcePass(LoopId),
    /// A pass now that may change as many items as the operator was
    /// shown and confirmed, and no more.
    ForceAgreed {
        id: LoopId,
        count: usize,
    },
    ForceAll,
    DryRun(LoopId),
    ReopenThread {
        id: String,
        note: Option<String>,
    },
    /// The newest janitor pass that can still be taken back.
    Undoable,
    /// Take janitor pass N back.
    Undo(i64),
    /// A command for one kind of loop (a reap by hand, a circuit reset),
    /// after the UI's confirm step.
    Loop(LoopCommand),
    Refresh,
    /// Which threads the snapshot lists: the Threads panel's filter, order
    /// and where its cursor is.
    SetThreadQuery(ThreadQuery),
    /// A thread and its newest notes, as text.
    ThreadDetail(String),
    /// The newest passes recorded under an event kind, as text.
    LoopHistory(String),
    /// Let loops look again at what they watch (the Sessions panel), without
    /// re-reading the store.
    Observe,
    /// Let one loop look again (the Tasks panel, while it is on screen).
    ObserveLoop(LoopId),
    /// Queue these hook deliveries again, from their first attempt.
    Redeliver(Vec<i64>),
}

impl Command {
    pub fn changes_store(&self) -> bool {
        matches!(
            self,
            Command::ForcePass(_)
                | Command::ForceAgreed { .. }
                | Command::ForceAll
                | Command::ReopenThread { .. }
                | Command::Undo(_)
                | Command::Loop(_)
                | Command::Redeliver(_)
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Command::ForcePass(l) => format!("force a {l} pass"),
            Command::ForceAgreed { id, count } => {
                format!("force a {id} pass of up to {count} change(s)")
            }
            Command::ForceAll => "force a pass of every loop".into(),
            Command::DryRun(l) => format!("dry-run the {l}"),
            Command::ReopenThread { id, .. } => format!("reopen thread {id}"),
            Command::Undoable => "look for a janitor pass to undo".into(),
            Command::Undo(pass) => format!("undo janitor pass #{pass}"),
            Command::Loop(LoopCommand::Reap(names)) => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                format!("reap session {}", names.join(", "))
            }
            Command::Loop(LoopCommand::ResetCircuit(name)) => {
                format!("reset the circuit breaker of {name}")
            }
            Command::Loop(LoopCommand::Cancel(id)) => format!("cancel task {id}"),
            Command::Loop(LoopCommand::RunJob(job)) => format!("run job {job} now"),
            Command::Loop(LoopCommand::CancelRun(run)) => format!("cancel run #{run}"),
            Command::Loop(LoopCommand::RetryRun(run)) => format!("retry run #{run}"),
            Command::Refresh => "refresh".into(),
            Command::SetThreadQuery(_) => "list threads".into(),
            Command::ThreadDetail(id) => format!("show thread {id}"),
            Command::LoopHistory(kind) => format!("show {kind} history"),
            Command::Observe => "look at the sessions again".into(),
            Command::ObserveLoop(id) => format!("let the {id} look again"),
            Command::Redeliver(ids) => format!("redeliver {} hook delivery(ies)", ids.len()),
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass {
        id: LoopId,
        mode: PassMode,
        result: PassResult,
    },
    DryRun {
        id: LoopId,
        result: PassResult,
    },
    /// A pass of each of these loops was asked for.
    Forcing(Vec<LoopId>),
    Reopened(Reopened),
    Undoable(Option<crate::store::undo::UndoablePass>),
    Undone(crate::store::undo::Undone),
    Loop(LoopReply),
    Refreshed {
        took_us: u64,
    },
    /// Text for a detail popup (a thread's notes, a loop's history).
    Detail(String),
    /// Done, nothing to say (a filter applied, a look asked for).
    Done,
    /// Hook deliveries queued again, by id.
    Redelivered(Vec<i64>),
}

impl fmt::Display for Outcome {
    /// The status-bar text; a dry-run's per-item list follows its summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass { id, result, .. } => write!(f, "{id}: {}", result.with_trail()),
            Outcome::DryRun { id, result } => {
                write!(f, "{id} dry-run: {}", result.summary)?;
                for line in &result.detail {
                    write!(f, "\n{line}")?;
                }
                Ok(())
            }
            Outcome::Forcing(ids) => {
                let names: Vec<_> = ids.iter().map(|l| l.name()).collect();
                write!(f, "forcing a pass of: {}", names.join(", "))
            }
            Outcome::Reopened(r) => write!(f, "{r}"),
            Outcome::Undoable(Some(p)) => write!(f, "janitor pass #{} closed {}", p.id, p.closed),
            Outcome::Undoable(None) => f.write_str("no janitor pass to undo"),
            Outcome::Undone(u) => write!(f, "{u}"),
            Outcome::Loop(r) => write!(f, "{r}"),
            Outcome::Refreshed { took_us } => write!(f, "refreshed in {} ms", took_us / 1000),
            Outcome::Detail(text) => f.write_str(text),
            Outcome::Done => Ok(()),
            Outcome::Redelivered(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                write!(f, "queued again: {}", ids.join(", "))
            }
        }
    }
}

/// Why a command did not do what it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("read-only mode: refused to {0} (keeper-tui was started with --read-only)")]
    ReadOnly(String),
    #[error("no {0} loop is running in this engine")]
    NoLoop(LoopId),
    /// The store or the world said no (the message says why).
    #[error("{0}")]
    Refused(String),
    #[error("{what} failed: {error}")]
    Failed { what: String, error: Arc<Error> },
    /// A bug: the job panicked. The engine carries on.
    #[error("{what} failed: {text} (it panicked)")]
    Panicked { what: String, text: String },
    #[error("keeper-tui is shutting down: {0}")]
    ShuttingDown(&'static str),
    #[error("engine stopped before answering")]
    Stopped,
}

impl EngineError {
    /// A failure of `what`, kept typed: a refusal stays a refusal.
    pub fn from_error(what: impl Into<String>, e: Error) -> Self {
        match e {
            Error::Refused(text) => EngineError::Refused(text),
            Error::ShuttingDown(why) => EngineError::ShuttingDown(why),
            other => EngineError::Failed {
                what: what.into(),
                error: Arc::new(other),
            },
        }
    }
}

pub type Reply = std::result::Result<Outcome, EngineError>;

pub struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Reply>,
}

/// The last pass of a loop, for the Loops panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassOutcome {
    pub mode: PassMode,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub changed: bool,
    /// Items it touched (threads closed, sessions reaped, processes healed).
    pub touched: usize,
    pub summary: String,
    /// It would have changed more than allowed, and changed nothing.
    pub held: Option<crate::loops::Held>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopStatus {
    pub id: LoopId,
    /// `None`: scheduled passes are off (interval 0 or read-only).
    pub interval_secs: Option<u64>,
    pub running: bool,
    pub next_due: Option<i64>,
    pub last: Option<PassOutcome>,
    pub passes: u64,
    pub failures: u64,
}

/// What the Loops panel says of one of keeper's loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Ok,
    Running,
    Failing,
    /// It has not run for over twice its interval.
    Stale,
    /// Overdue by more than an interval: its task is not running passes.
    Dead,
    Disabled,
    ReadOnly,
    /// Its last scheduled pass would have changed more than its limit and
    /// waits for the operator to review it.
    Held,
}

impl Verdict {
    pub fn of(s: &LoopStatus, now: i64, read_only: bool) -> Verdict {
        if read_only {
            return Verdict::ReadOnly;
        }
        if s.running {
            return Verdict::Running;
        }
        if s.last.as_ref().is_some_and(|l| !l.ok) {
            return Verdict::Failing;
        }
        if s.last.as_ref().is_some_and(|l| l.held.is_some()) {
            return Verdict::Held;
        }
        let Some(every) = s.interval_secs.map(|i| i as i64) else {
            return Verdict::Disabled;
        };
        if s.next_due.is_some_and(|due| now - due > every.max(60)) {
            return Verdict::Dead;
        }
        match s.last.as_ref() {
            Some(l) if now - l.finished_at > 2 * every + 60 => Verdict::Stale,
            _ => Verdict::Ok,
        }
    }

    /// The moments at which `of` may answer differently with nothing but
    /// the clock moved: an overdue loop turning dead, a quiet one stale.
    pub fn turns(s: &LoopStatus) -> impl Iterator<Item = i64> {
        let every = s.interval_secs.map(|i| i as i64);
        let dead = every
            .zip(s.next_due)
            .map(|(every, due)| due + every.max(60) + 1);
        let stale = every
            .zip(s.last.as_ref())
            .map(|(every, l)| l.finished_at + 2 * every + 61);
        dead.into_iter().chain(stale)
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Running => "running",
            Verdict::Failing => "failing",
            Verdict::Stale => "stale",
            Verdict::Dead => "dead",
            Verdict::Disabled => "disabled",
            Verdict::ReadOnly => "read-only",
            Verdict::Held => "held",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub at: i64,
    pub error: bool,
    /// Counts up from 0 in one engine: the Log's cursor stays on its notice
    /// by this number while the oldest notices drop off the front.
    pub seq: u64,
    /// Shared, so publishing the Log after each batch of notices copies no
    /// text.
    pub text: Arc<str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefreshInfo {
    pub at: i64,
    pub took_us: u64,
    pub stats: RefreshStats,
}

/// Everything a front door shows, as one immutable value.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub generation: u64,
    pub db_path: String,
    pub read_only: bool,
    /// The figures, the Log and the rows are shared between snapshots
    /// until they change: a snapshot a second costs no copy of them.
    pub store: Option<Arc<StoreFigures>>,
    pub store_error: Option<String>,
    pub last_refresh: Option<RefreshInfo>,
    pub loops: Vec<LoopStatus>,
    pub notices: Arc<Vec<Notice>>,
    /// The Threads panel's window: rows around its cursor in its order,
    /// where they sit in the whole list, and the query they answer.
    pub threads: Arc<ThreadPage>,
    /// The reaper's last look at the tmux sessions.
    pub sessions: Option<crate::loops::reaper::Survey>,
    /// The watchdog's supervised processes; empty when none are configured.
    pub bridges: Vec<crate::loops::watchdog::BridgeRow>,
    /// The reconciler's last look at the tasks, for the Tasks panel.
    pub tasks: Option<Arc<Vec<crate::loops::reconciler::TaskLine>>>,
    /// The job runner's last look, for the Jobs panel; `None` without jobs.
    pub jobs: Option<Arc<crate::jobs::seen::JobsSeen>>,
    /// Only times moved since the last snapshot (a heartbeat seen, a next
    /// look moved): a screen that redraws its ages each second anyway can
    /// wait for that.
    pub timing_only: bool,
    /// Whether this engine runs the loops or watches another do it;
    /// `None` read-only.
    pub role: Option<lease::Role>,
}

/// How long an idle blocking-pool thread lives. Loops pass once a minute or
/// so: with tokio's 10 s every pass started a new thread, and each new thread
/// left a little more memory behind. The pool stays as small as the most
/// jobs ever run at once.
pub const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Rows the Threads panel can scroll through.
const THREADS_LISTED: u32 = 500;

/// What a front door holds: snapshots in, commands out.
#[derive(Clone)]
pub struct EngineHandle {
    pub snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    pub commands: mpsc::Sender<Request>,
}

impl EngineHandle {
    /// Queue a command now, in the order of the calls (a filter typed key
    /// by key arrives key by key), and get the receiver its answer comes
    /// on. Only when the queue is full does the send wait, in a task.
    pub fn send(&self, command: Command) -> oneshot::Receiver<Reply> {
        let (reply, rx) = oneshot::channel();
        match self.commands.try_send(Request { command, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(req)) => {
                let tx = self.commands.clone();
                tokio::spawn(async move {
                    if let Err(e) = tx.send(req).await {
                        let _ = e.0.reply.send(Err(EngineError::Stopped));
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(req)) => {
                let _ = req.reply.send(Err(EngineError::Stopped));
            }
        }
        rx
    }

    /// Send a command and wait for its answer.
    pub async fn request(&self, command: Command) -> Reply {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request { command, reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }
}

pub struct Engine {
    settings: Settings,
    loops: Vec<Arc<dyn Loop>>,
    writer: Option<Arc<WriteStore>>,
    /// Taken before any loop runs, so a second engine never starts with a
    /// scheduled pass.
    lease: Option<(lease::Lease, lease::Role)>,
    view: StoreView,
    /// The store as first read, so the first snapshot has it.
    figures: StoreFigures,
    threads: ThreadPage,
    snapshot_tx: tokio::sync::watch::Sender<Arc<Snapshot>>,
    commands: mpsc::Receiver<Request>,
}

impl Engine {
    /// The engine with the loops the config asks for.
    pub fn new(settings: Settings) -> Result<(Engine, EngineHandle)> {
        let mut loops: Vec<Arc<dyn Loop>> = vec![
            Arc::new(Janitor::new(settings.config.janitor.clone())),
            Arc::new(Reaper::new(settings.config.reaper.clone())),
        ];
        if !settings.config.watchdog.processes.is_empty() {
            loops.push(Arc::new(crate::loops::watchdog::Watchdog::new(
                settings.config.watchdog.clone(),
            )));
        }
        loops.push(Arc::new(crate::loops::reconciler::Reconciler::new(
            settings.config.tasks.clone(),
            settings.config.hooks.clone(),
        )));
        if !settings.config.jobs.is_empty() {
            loops.push(Arc::new(crate::jobs::runner::JobRunner::new(&settings)));
        }
        if settings.config.watcher.job.is_some() {
            loops.push(Arc::new(crate::loops::watcher::Watcher::new(
                settings.config.watcher.clone(),
                settings.config.jobs.clone(),
            )));
        }
        if !settings.config.hooks.is_empty() {
            loops.push(Arc::new(crate::loops::hooks::HookSender::new(
                settings.config.hooks.clone(),
                &settings.db_path,
            )));
        }
        Self::with_loops(settings, loops)
    }

    /// The engine with the given loops, one of each id at most.
    pub fn with_loops(
        settings: Settings,
        loops: Vec<Arc<dyn Loop>>,
    ) -> Result<(Engine, EngineHandle)> {
        let read_only = settings.config.read_only;
        let writer = if read_only {
            None
        } else {
            let w = if settings.create_store {
                WriteStore::open(&settings.db_path, &settings.config.session_id)?
            } else {
                WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?
            };
            w.reopen_by_hand();
            Some(Arc::new(w))
        };
        let mut view = StoreView::open_cached(
            &settings.db_path,
            settings.config.window_days,
            settings.cache_dir.as_deref(),
        )?;
        let threads = page_threads(view.conn(), &ThreadQuery::default(), THREADS_LISTED)
            .map_err(|e| Error::from_sqlite(&settings.db_path, e))?;
        let placeholder = Snapshot {
            generation: 0,
            db_path: settings.db_path.display().to_string(),
            read_only,
            store: None,
            store_error: None,
            last_refresh: None,
            loops: Vec::new(),
            notices: Arc::default(),
            threads: Arc::default(),
            sessions: None,
            bridges: Vec::new(),
            tasks: None,
            jobs: None,
            timing_only: false,
            role: None,
        };
        let (snapshot_tx, snapshots) = tokio::sync::watch::channel(Arc::new(placeholder));
        let (tx, commands) = mpsc::channel(64);
        let figures = view.figures(crate::store::now_unix())?;
        let lease = writer.as_ref().map(|w| {
            let l = lease::Lease::new(Arc::clone(w));
            let role = l.try_take();
            (l, role)
        });
        let engine = Engine {
            settings,
            loops,
            writer,
            lease,
            view,
            figures,
            threads,
            snapshot_tx,
            commands,
        };
        let handle = EngineHandle {
            snapshots,
            commands: tx,
        };
        Ok((engine, handle))
    }

    /// Run until `shutdown` completes, then stop every task and wait for
    /// them: a pass that has started acting finishes and records first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        hub::run(self, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(interval: Option<u64>, next_due: Option<i64>, finished: Option<i64>) -> LoopStatus {
        LoopStatus {
            id: LoopId::Reaper,
            interval_secs: interval,
            running: false,
            next_due,
            last: finished.map(|at| PassOutcome {
                mode: PassMode::Scheduled,
                started_at: at,
                finished_at: at,
                ok: true,
                changed: false,
                touched: 0,
                summary: String::new(),
                held: None,
            }),
            passes: 1,
            failures: 0,
        }
    }

    #[test]
    fn a_verdict_moves_with_the_clock_only_at_its_turns() {
        let cases = [
            status(Some(10), Some(1_000), Some(990)),
            status(Some(600), Some(1_500), Some(900)),
            status(Some(30), None, Some(1_000)),
            status(Some(60), Some(1_020), None),
            status(None, Some(1_000), Some(1_000)),
        ];
        for s in &cases {
            let turns: Vec<i64> = Verdict::turns(s).collect();
            let mut last = Verdict::of(s, 900, false);
            for now in 901..4_000 {
                let v = Verdict::of(s, now, false);
                if v != last {
                    assert!(
                        turns.contains(&now),
                        "{s:?} turned {last:?} → {v:?} at {now}"
                    );
                }
                last = v;
            }
        }
    }
}
