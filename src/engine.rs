//! The engine: one instance under the TUI, under headless `keeper-tui
//! engine`, and under the tests. It owns the store connections, runs each
//! loop on its own task, watches the database file, and publishes
//! `Snapshot`s on a watch channel. Front doors talk to it only through
//! `Command`s, each answered on a oneshot.

mod detail;
mod scheduler;
pub mod watch;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::loops::Observation;
use crate::loops::janitor::Janitor;
use crate::loops::reaper::{Reaper, Survey};
use crate::loops::{Loop, LoopId, PassMode};
use crate::store::snapshot::{RefreshStats, StoreFigures, StoreView};
use crate::store::threads::{ThreadFilter, ThreadRow, list_threads};
use crate::store::{WriteStore, now_unix};

/// Operator intents. Anything that changes the store passes the one
/// read-only gate in `Shared::gate`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    ForcePass(LoopId),
    ForceAll,
    DryRun(LoopId),
    ReopenThread {
        id: String,
        note: Option<String>,
    },
    Refresh,
    /// Which threads the snapshot lists (the Threads panel's filter).
    SetThreadFilter(ThreadFilter),
    /// A thread and its newest notes, as text.
    ThreadDetail(String),
    /// The newest passes recorded under an event kind, as text.
    LoopHistory(String),
    /// Kill one agent session by hand (after the UI's confirm step).
    ReapSession(String),
    /// Close a supervised process's circuit breaker (after a confirm).
    ResetBreaker(String),
    /// Let loops look again at what they watch (the Sessions panel), without
    /// re-reading the store.
    Observe,
}

impl Command {
    pub fn changes_store(&self) -> bool {
        matches!(
            self,
            Command::ForcePass(_)
                | Command::ForceAll
                | Command::ReopenThread { .. }
                | Command::ReapSession(_)
                | Command::ResetBreaker(_)
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Command::ForcePass(l) => format!("force a {l} pass"),
            Command::ForceAll => "force a pass of every loop".into(),
            Command::DryRun(l) => format!("dry-run the {l}"),
            Command::ReopenThread { id, .. } => format!("reopen thread {id}"),
            Command::Refresh => "refresh".into(),
            Command::SetThreadFilter(_) => "filter threads".into(),
            Command::ThreadDetail(id) => format!("show thread {id}"),
            Command::LoopHistory(kind) => format!("show {kind} history"),
            Command::ReapSession(name) => format!("reap session {name}"),
            Command::ResetBreaker(name) => format!("reset the circuit breaker of {name}"),
            Command::Observe => "look at the sessions again".into(),
        }
    }
}

/// A user-facing message either way: it becomes the status-bar text.
pub type Reply = std::result::Result<String, String>;

pub struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Reply>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassOutcome {
    pub mode: PassMode,
    pub started_at: i64,
    pub finished_at: i64,
    pub ok: bool,
    pub summary: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub at: i64,
    pub error: bool,
    pub text: String,
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
    pub store: Option<StoreFigures>,
    pub store_error: Option<String>,
    pub last_refresh: Option<RefreshInfo>,
    pub loops: Vec<LoopStatus>,
    pub notices: Vec<Notice>,
    /// Threads matching `thread_filter`, most recently touched first.
    pub threads: Vec<ThreadRow>,
    pub thread_filter: ThreadFilter,
    /// The reaper's last look at the tmux sessions.
    pub sessions: Option<Survey>,
    /// The watchdog's supervised processes; empty when none are configured.
    pub bridges: Vec<crate::loops::watchdog::BridgeRow>,
}

/// Rows the Threads panel can scroll through.
const THREADS_LISTED: u32 = 500;

const NOTICES_KEPT: usize = 200;
/// Windows ("fires in 7 d") slide with the clock; recomputing them needs no
/// query, only the figures held in memory.
const SLIDE_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking pass must not take the engine down with a poisoned lock.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct EngineState {
    generation: u64,
    loops: Vec<LoopStatus>,
    notices: VecDeque<Notice>,
    store_error: Option<String>,
    last_refresh: Option<RefreshInfo>,
    threads: Vec<ThreadRow>,
    thread_filter: ThreadFilter,
    sessions: Option<Survey>,
    bridges: Vec<crate::loops::watchdog::BridgeRow>,
    /// The store's figures as of the last refresh (or window slide): every
    /// publish reuses them instead of recomputing.
    figures: Option<StoreFigures>,
}

/// State shared by the engine's tasks.
pub(crate) struct Shared {
    settings: Settings,
    /// The one writer connection; `None` under `--read-only`. Passes and
    /// commands take it in turn, so writes never race inside keeper-tui.
    writer: Option<Mutex<WriteStore>>,
    /// The read-only view behind the panels; `None` while the store is gone.
    view: Mutex<Option<StoreView>>,
    state: Mutex<EngineState>,
    snapshot_tx: tokio::sync::watch::Sender<Arc<Snapshot>>,
    /// Poked by the file watcher and after every write; the refresher
    /// debounces it.
    refresh: Notify,
    /// One per loop: a poke asks for one more pass. `Notify` keeps at most
    /// one permit, which is what makes repeated forces coalesce.
    pokes: HashMap<LoopId, Arc<Notify>>,
    /// Replies owed to `ForcePass` callers, answered by the next pass.
    waiters: Mutex<HashMap<LoopId, Vec<oneshot::Sender<Reply>>>>,
}

impl Shared {
    fn notice(&self, error: bool, text: String) {
        if error {
            tracing::warn!("{text}");
        } else {
            tracing::info!("{text}");
        }
        let mut st = lock(&self.state);
        if st.notices.len() == NOTICES_KEPT {
            st.notices.pop_front();
        }
        st.notices.push_back(Notice {
            at: now_unix(),
            error,
            text,
        });
    }

    /// Build and send a snapshot from what is in memory now.
    /// Recompute the figures from the view: after a refresh, and when the
    /// windows slide with the clock.
    fn recompute_figures(&self) {
        let figures = lock(&self.view).as_ref().map(|v| v.figures(now_unix()));
        lock(&self.state).figures = figures;
    }

    fn publish(&self) {
        let mut st = lock(&self.state);
        let store = st.figures.clone();
        st.generation += 1;
        let snap = Snapshot {
            generation: st.generation,
            db_path: self.settings.db_path.display().to_string(),
            read_only: self.settings.config.read_only,
            store,
            store_error: st.store_error.clone(),
            last_refresh: st.last_refresh.clone(),
            loops: st.loops.clone(),
            notices: st.notices.iter().cloned().collect(),
            threads: st.threads.clone(),
            thread_filter: st.thread_filter.clone(),
            sessions: st.sessions.clone(),
            bridges: st.bridges.clone(),
        };
        drop(st);
        self.snapshot_tx.send_replace(Arc::new(snap));
    }

    fn update_loop(&self, id: LoopId, f: impl FnOnce(&mut LoopStatus)) {
        let mut st = lock(&self.state);
        if let Some(l) = st.loops.iter_mut().find(|l| l.id == id) {
            f(l);
        }
    }

    /// The single read-only gate.
    fn gate(&self, command: &Command) -> std::result::Result<(), String> {
        if self.settings.config.read_only && command.changes_store() {
            Err(format!(
                "read-only mode: refused to {} (keeper-tui was started with --read-only)",
                command.describe()
            ))
        } else {
            Ok(())
        }
    }

    /// The Threads panel's rows under the current filter; `None` (and a
    /// notice) when the query fails, keeping the last good rows.
    fn list_threads(&self, view: &StoreView) -> Option<Vec<ThreadRow>> {
        let filter = lock(&self.state).thread_filter.clone();
        match list_threads(view.conn(), &filter, THREADS_LISTED) {
            Ok(rows) => Some(rows),
            Err(e) => {
                self.notice(true, format!("listing threads failed: {e}"));
                None
            }
        }
    }

    /// Close the read view first, then let the writer fold the WAL back
    /// into the file: a read-only connection closing last cannot, and would
    /// leave the operator a WAL as big as the last janitor pass.
    fn close(&self) {
        *lock(&self.view) = None;
        if let Some(w) = &self.writer {
            let store = lock(w);
            let folded = store.with_busy_timeout(Some(Duration::from_millis(500)), |c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            });
            if let Err(e) = folded {
                tracing::info!("WAL left for the next writer to fold in: {e}");
            }
        }
    }

    /// Let a loop look at what it watches (the reaper's sessions) and keep
    /// that for the panels. Reads only.
    fn observe(&self, lp: &dyn Loop) {
        let now = now_unix();
        let seen = lock(&self.view)
            .as_ref()
            .and_then(|v| lp.observe(v.conn(), now));
        match seen {
            Some(Observation::Sessions(s)) => lock(&self.state).sessions = Some(s),
            Some(Observation::Bridges(b)) => lock(&self.state).bridges = b,
            None => {}
        }
    }

    /// Apply a new thread filter and publish the rows it selects.
    fn set_thread_filter(&self, filter: ThreadFilter) {
        lock(&self.state).thread_filter = filter;
        let rows = lock(&self.view).as_ref().and_then(|v| self.list_threads(v));
        if let Some(rows) = rows {
            lock(&self.state).threads = rows;
        }
        self.publish();
    }

    /// Re-read the store (or reopen it if it had gone) and publish.
    fn refresh_blocking(&self, full: bool) {
        let started = Instant::now();
        let now = now_unix();
        let mut view = lock(&self.view);
        let result = match view.as_mut() {
            Some(v) if full => v.rebuild(now),
            Some(v) => v.refresh(now),
            None => {
                StoreView::open(&self.settings.db_path, self.settings.config.window_days).map(|v| {
                    *view = Some(v);
                    RefreshStats {
                        rebuilt: true,
                        ..RefreshStats::default()
                    }
                })
            }
        };
        let mut recovered = false;
        let mut failed = None;
        match result {
            Ok(stats) => {
                let listed = match view.as_ref() {
                    Some(v) if stats.threads_recounted || stats.rebuilt || full => {
                        self.list_threads(v)
                    }
                    _ => None,
                };
                let mut st = lock(&self.state);
                if let Some(rows) = listed {
                    st.threads = rows;
                }
                recovered = st.store_error.take().is_some();
                st.last_refresh = Some(RefreshInfo {
                    at: now,
                    took_us: started.elapsed().as_micros() as u64,
                    stats,
                });
            }
            Err(e) => {
                *view = None;
                let text = e.to_string();
                let mut st = lock(&self.state);
                if st.store_error.as_deref() != Some(text.as_str()) {
                    failed = Some(text.clone());
                }
                st.store_error = Some(text);
            }
        }
        drop(view);
        if recovered {
            self.notice(false, "store is readable again".into());
        }
        if let Some(text) = failed {
            self.notice(true, format!("store unreadable: {text}"));
        }
        self.recompute_figures();
        self.publish();
    }
}

/// What a front door holds: snapshots in, commands out.
#[derive(Clone)]
pub struct EngineHandle {
    pub snapshots: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    pub commands: mpsc::Sender<Request>,
}

impl EngineHandle {
    /// Send a command and wait for its answer.
    pub async fn request(&self, command: Command) -> Reply {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request { command, reply })
            .await
            .map_err(|_| Error::EngineGone.to_string())?;
        rx.await.map_err(|_| Error::EngineGone.to_string())?
    }
}

pub struct Engine {
    shared: Arc<Shared>,
    loops: Vec<Box<dyn Loop>>,
    commands: mpsc::Receiver<Request>,
}

impl Engine {
    /// The engine with the loops the config asks for.
    pub fn new(settings: Settings) -> Result<(Engine, EngineHandle)> {
        let loops: Vec<Box<dyn Loop>> = vec![
            Box::new(Janitor::new(settings.config.janitor.clone())),
            Box::new(Reaper::new(settings.config.reaper.clone())),
        ];
        let mut loops = loops;
        if !settings.config.watchdog.processes.is_empty() {
            loops.push(Box::new(crate::loops::watchdog::Watchdog::new(
                settings.config.watchdog.clone(),
            )));
        }
        Self::with_loops(settings, loops)
    }

    /// The engine with the given loops (tests add their own).
    pub fn with_loops(
        settings: Settings,
        loops: Vec<Box<dyn Loop>>,
    ) -> Result<(Engine, EngineHandle)> {
        let read_only = settings.config.read_only;
        let writer = if read_only {
            None
        } else {
            Some(Mutex::new(WriteStore::open(
                &settings.db_path,
                &settings.config.session_id,
            )?))
        };
        let view = StoreView::open(&settings.db_path, settings.config.window_days)?;
        let threads = list_threads(view.conn(), &ThreadFilter::default(), THREADS_LISTED)
            .map_err(|e| Error::from_sqlite(&settings.db_path, e))?;
        let statuses = loops
            .iter()
            .map(|l| LoopStatus {
                id: l.id(),
                interval_secs: if read_only {
                    None
                } else {
                    l.interval().map(|d| d.as_secs())
                },
                running: false,
                next_due: None,
                last: None,
                passes: 0,
                failures: 0,
            })
            .collect();
        let pokes = loops
            .iter()
            .map(|l| (l.id(), Arc::new(Notify::new())))
            .collect();
        let placeholder = Snapshot {
            generation: 0,
            db_path: settings.db_path.display().to_string(),
            read_only,
            store: None,
            store_error: None,
            last_refresh: None,
            loops: Vec::new(),
            notices: Vec::new(),
            threads: Vec::new(),
            thread_filter: ThreadFilter::default(),
            sessions: None,
            bridges: Vec::new(),
        };
        let (snapshot_tx, snapshots) = tokio::sync::watch::channel(Arc::new(placeholder));
        let (tx, commands) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            settings,
            writer,
            view: Mutex::new(Some(view)),
            state: Mutex::new(EngineState {
                generation: 0,
                loops: statuses,
                notices: VecDeque::new(),
                store_error: None,
                last_refresh: None,
                threads,
                thread_filter: ThreadFilter::default(),
                sessions: None,
                bridges: Vec::new(),
                figures: None,
            }),
            snapshot_tx,
            refresh: Notify::new(),
            pokes,
            waiters: Mutex::new(HashMap::new()),
        });
        shared.recompute_figures();
        shared.publish();
        Ok((
            Engine {
                shared,
                loops,
                commands,
            },
            EngineHandle {
                snapshots,
                commands: tx,
            },
        ))
    }

    /// Run until `shutdown` completes, then stop every task and wait for
    /// them: an in-flight pass finishes its transaction first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Engine {
            shared,
            loops,
            mut commands,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = JoinSet::new();

        let _watcher = match watch::DbWatcher::start(&shared.settings.db_path, Arc::clone(&shared))
        {
            Ok(w) => Some(w),
            Err(e) => {
                shared.notice(
                    true,
                    format!("file watch unavailable ({e}); press r to refresh"),
                );
                None
            }
        };
        tasks.spawn(scheduler::refresher(Arc::clone(&shared), stop_rx.clone()));
        let read_only = shared.settings.config.read_only;
        let mut loop_slots = HashMap::new();
        for lp in loops {
            let id = lp.id();
            let slot = Arc::new(Mutex::new(lp));
            loop_slots.insert(id, Arc::clone(&slot));
            if !read_only {
                tasks.spawn(scheduler::loop_task(
                    Arc::clone(&shared),
                    slot,
                    stop_rx.clone(),
                ));
            }
        }
        shared.notice(
            false,
            format!("engine started on {}", shared.settings.db_path.display()),
        );
        // Whatever changed between `new` and the watch starting is caught here.
        shared.refresh.notify_one();
        // A first look for the panels of loops that do not pass at start.
        let (sh, slots) = (
            Arc::clone(&shared),
            loop_slots.values().cloned().collect::<Vec<_>>(),
        );
        tasks.spawn_blocking(move || {
            for slot in &slots {
                sh.observe(lock(slot).as_ref());
            }
            sh.publish();
        });
        shared.publish();

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                req = commands.recv() => {
                    let Some(req) = req else {
                        // Every handle is gone: nobody can ask for anything
                        // more, but loops keep running until shutdown.
                        shutdown.as_mut().await;
                        break;
                    };
                    scheduler::dispatch(&shared, &loop_slots, req);
                }
            }
        }
        let _ = stop_tx.send(true);
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                tracing::error!("engine task ended badly: {e}");
            }
        }
        // Anyone still waiting for a pass gets a clear answer.
        for (_, waiters) in lock(&shared.waiters).drain() {
            for w in waiters {
                let _ = w.send(Err("engine stopped before the pass ran".into()));
            }
        }
        shared.notice(false, "engine stopped".into());
        shared.publish();
        shared.close();
        Ok(())
    }
}
