//! The hub: the engine's own task. It owns what the screen shows (loop
//! statuses, notices, the store's figures and rows), routes commands to the
//! actor that can answer them, and publishes a snapshot after every batch
//! of news. Nothing here blocks: store work runs in the view actor and the
//! loop actors, a reopen on the blocking pool.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::actor::{self, LoopCtx, LoopMsg};
use super::jobs::guarded;
use super::view::{self, ViewMsg};
use super::{Command, Engine, EngineError, LoopStatus, Outcome, RefreshInfo, Reply, Request};
use crate::loops::{Allowed, LoopId, Observation};
use crate::store::now_unix;
use crate::store::snapshot::StoreFigures;
use crate::store::threads::ThreadPage;

mod state;

use self::state::{Moved, State};

/// The Log's length: what an operator can scroll back through on screen.
/// Every notice also goes to the log file (see [`Events::notice`]).
const NOTICES_KEPT: usize = 10_000;

/// What the engine's tasks tell the hub.
#[derive(Debug)]
pub(crate) enum Event {
    Notice {
        error: bool,
        text: String,
    },
    Loop(LoopStatus),
    Observed(Observation),
    Store(Box<StoreNews>),
    /// keeper wrote to the store: the view re-reads it now rather than
    /// after the file watch notices.
    Wrote,
    /// This engine took, kept or lost the lease.
    Lease(super::lease::Role),
}

/// The view actor's news: only the parts that changed are `Some`.
#[derive(Debug, Default)]
pub(crate) struct StoreNews {
    pub figures: Option<StoreFigures>,
    pub threads: Option<ThreadPage>,
    pub refreshed: Option<RefreshInfo>,
    pub readable: Option<Readable>,
}

#[derive(Debug)]
pub(crate) enum Readable {
    Yes,
    No(String),
}

/// Sends events to the hub; one per task.
#[derive(Clone)]
pub(crate) struct Events(pub mpsc::UnboundedSender<Event>);

impl Events {
    pub(crate) fn notice(&self, error: bool, text: impl Into<String>) {
        let text = text.into();
        // The log is read on a terminal too (`engine`'s stderr, `tail -f`).
        let shown = crate::text::printable(&text);
        if error {
            tracing::warn!("{shown}");
        } else {
            tracing::info!("{shown}");
        }
        let _ = self.0.send(Event::Notice { error, text });
    }

    pub(crate) fn send(&self, ev: Event) {
        let _ = self.0.send(ev);
    }

    /// Answer a waiter, and put the answer's first line in the Log.
    pub(crate) fn reply(&self, to: oneshot::Sender<Reply>, answer: Reply) {
        let (error, text) = match &answer {
            Ok(o) => (false, o.to_string()),
            Err(e) => (true, e.to_string()),
        };
        if !text.is_empty() {
            self.notice(error, text.lines().next().unwrap_or_default().to_string());
        }
        let _ = to.send(answer);
    }
}

/// How long a stopping engine waits for a pass that has started acting.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// The engine's tasks, as started.
struct Started {
    tasks: JoinSet<()>,
    mailboxes: HashMap<LoopId, mpsc::UnboundedSender<LoopMsg>>,
    view_tx: mpsc::UnboundedSender<ViewMsg>,
    view_changed: Arc<Notify>,
    statuses: Vec<LoopStatus>,
    /// Dropping it stops the database watch.
    _db_watch: Option<super::watch::DbWatcher>,
}

/// Start the view actor and one actor per loop.
fn start_tasks(
    settings: &crate::config::Settings,
    loops: Vec<Arc<dyn crate::loops::Loop>>,
    writer: Option<&Arc<crate::store::WriteStore>>,
    view: crate::store::snapshot::StoreView,
    lease: Option<(super::lease::Lease, super::lease::Role)>,
    events: &Events,
    (stop, stopping): (&watch::Receiver<bool>, &Arc<AtomicBool>),
) -> Started {
    // Without a lease (read-only) nothing is scheduled anyway.
    let leading = lease.as_ref().map_or_else(
        || Arc::new(AtomicBool::new(true)),
        |(l, _)| Arc::clone(&l.leading),
    );
    let read_only = settings.config.read_only;
    let mut tasks = JoinSet::new();
    let view_changed = Arc::new(Notify::new());
    let (view_tx, view_rx) = mpsc::unbounded_channel();
    let db_watch =
        match super::watch::DbWatcher::start(&settings.db_path, Arc::clone(&view_changed)) {
            Ok(w) => Some(w),
            Err(e) => {
                events.notice(
                    true,
                    format!("file watch unavailable ({e}); press r to refresh"),
                );
                None
            }
        };
    let mut holders = view::Holders {
        writer: writer.cloned(),
        pools: Vec::new(),
    };
    let mut mailboxes = HashMap::new();
    let mut statuses = Vec::new();
    // One pool for every loop: a connection costs its schema and page
    // cache, and loops rarely read at the same moment.
    let pool = Arc::new(super::jobs::ReadPool::new(settings.db_path.clone()));
    holders.pools.push(Arc::clone(&pool));
    for lp in loops {
        let (tx, rx) = mpsc::unbounded_channel();
        let pool = Arc::clone(&pool);
        let ctx = LoopCtx {
            writer: writer.cloned(),
            stopping: Arc::clone(stopping),
            events: events.clone(),
            scheduled: !read_only,
            pool,
            leading: Arc::clone(&leading),
        };
        statuses.push(actor::initial_status(lp.as_ref(), !read_only));
        mailboxes.insert(lp.id(), tx);
        tasks.spawn(actor::run(lp, ctx, rx, stop.clone()));
    }
    tasks.spawn(view::run(
        view,
        view::ViewCtx {
            db: settings.db_path.clone(),
            cache: settings.cache_dir.clone(),
            window_days: settings.config.window_days,
            debounce: settings.config.debounce(),
            events: events.clone(),
            changed: Arc::clone(&view_changed),
            holders,
        },
        view_rx,
        stop.clone(),
    ));
    if let Some((l, role)) = lease {
        tasks.spawn(super::lease::run(l, role, events.clone(), stop.clone()));
    }
    statuses.sort_by_key(|s| s.id);
    Started {
        tasks,
        mailboxes,
        view_tx,
        view_changed,
        statuses,
        _db_watch: db_watch,
    }
}

pub(super) async fn run(
    engine: Engine,
    shutdown: impl Future<Output = ()>,
) -> crate::error::Result<()> {
    let Engine {
        settings,
        loops,
        lease,
        writer,
        view,
        figures,
        threads,
        snapshot_tx,
        mut commands,
    } = engine;
    let read_only = settings.config.read_only;
    let db_path = settings.db_path.display().to_string();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let events_out = Events(events_tx);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopping = Arc::new(AtomicBool::new(false));
    let mut jobs: JoinSet<()> = JoinSet::new();
    let mut started = start_tasks(
        &settings,
        loops,
        writer.as_ref(),
        view,
        lease,
        &events_out,
        (&stop_rx, &stopping),
    );
    let mut state = State::new(std::mem::take(&mut started.statuses), figures, threads);
    events_out.notice(
        false,
        format!("engine started on {}", settings.db_path.display()),
    );
    // Whatever changed between `new` and the watch starting is caught here,
    // and every loop takes a first look for its panel.
    started.view_changed.notify_one();
    for tx in started.mailboxes.values() {
        let _ = tx.send(LoopMsg::Observe);
    }

    tokio::pin!(shutdown);
    let mut commands_open = true;
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ev) = events.recv() => {
                let mut moved = state.apply(ev, &started.view_changed);
                while let Ok(ev) = events.try_recv() {
                    moved = moved.max(state.apply(ev, &started.view_changed));
                }
                if moved != Moved::Nothing {
                    let mut snap = state.snapshot(&db_path, read_only);
                    snap.timing_only = moved == Moved::Timing;
                    snapshot_tx.send_replace(Arc::new(snap));
                }
            }
            req = commands.recv(), if commands_open => match req {
                Some(req) => route(req, &Routes {
                    read_only,
                    loops: &started.mailboxes,
                    view: &started.view_tx,
                    writer: writer.as_ref(),
                    events: &events_out,
                }, &mut jobs),
                // Every handle is gone: nobody can ask for anything more,
                // but loops keep running until shutdown.
                None => commands_open = false,
            },
            Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                if let Err(e) = done {
                    events_out.notice(true, format!("an engine job ended badly: {e}"));
                }
            }
        }
    }

    stopping.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let Started {
        tasks,
        mailboxes,
        view_tx,
        view_changed,
        ..
    } = started;
    drop((mailboxes, view_tx));
    join_all(tasks, jobs, &mut events, &mut state, &view_changed).await;
    state.apply(
        Event::Notice {
            error: false,
            text: "engine stopped".into(),
        },
        &view_changed,
    );
    tracing::info!("engine stopped");
    snapshot_tx.send_replace(Arc::new(state.snapshot(&db_path, read_only)));
    if let Some(w) = writer {
        fold_wal(&w);
    }
    Ok(())
}

/// Shutdown: passes that have not started acting give up; the rest finish
/// and record. Every task and job is joined, and what they said on the way
/// out is kept.
async fn join_all(
    mut tasks: JoinSet<()>,
    mut jobs: JoinSet<()>,
    events: &mut mpsc::UnboundedReceiver<Event>,
    state: &mut State,
    view_changed: &Notify,
) {
    let joined = tokio::time::timeout(STOP_PATIENCE, async {
        loop {
            tokio::select! {
                Some(ev) = events.recv() => {
                    state.apply(ev, view_changed);
                }
                done = tasks.join_next() => match done {
                    Some(Err(e)) => tracing::error!("engine task ended badly: {e}"),
                    Some(Ok(())) => {}
                    None => break,
                },
            }
        }
        while jobs.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        tracing::error!("engine tasks still busy after {STOP_PATIENCE:?}; stopping anyway");
    }
    while let Ok(ev) = events.try_recv() {
        state.apply(ev, view_changed);
    }
}

/// Let the writer fold the WAL back into the file as the engine stops: the
/// view closed first (its task ended), and a read-only connection closing
/// last could not, leaving the operator a WAL as big as the last janitor
/// pass.
fn fold_wal(w: &crate::store::WriteStore) {
    let folded = w.with_conn(Some(Duration::from_millis(500)), |c| {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    });
    if let Err(e) = folded {
        tracing::info!("WAL left for the next writer to fold in: {e}");
    }
}

struct Routes<'a> {
    read_only: bool,
    loops: &'a HashMap<LoopId, mpsc::UnboundedSender<LoopMsg>>,
    view: &'a mpsc::UnboundedSender<ViewMsg>,
    writer: Option<&'a Arc<crate::store::WriteStore>>,
    events: &'a Events,
}

/// Send one request to whoever answers it. Never waits.
fn route(req: Request, r: &Routes<'_>, jobs: &mut JoinSet<()>) {
    let Request { command, reply } = req;
    // The single read-only gate.
    if r.read_only && command.changes_store() {
        r.events
            .reply(reply, Err(EngineError::ReadOnly(command.describe())));
        return;
    }
    let to_loop = |id: LoopId, msg: LoopMsg| -> Result<(), LoopMsg> {
        match r.loops.get(&id) {
            Some(tx) => tx.send(msg).map_err(|e| e.0),
            None => Err(msg),
        }
    };
    let unanswered = |msg: LoopMsg, id: LoopId| {
        if let Some(reply) = msg.into_reply() {
            let _ = reply.send(Err(EngineError::NoLoop(id)));
        }
    };
    match command {
        Command::ForcePass(id) => {
            if let Err(msg) = to_loop(id, LoopMsg::Force(Some(reply), Allowed::Configured)) {
                unanswered(msg, id);
            }
        }
        Command::ForceAgreed { id, count } => {
            if let Err(msg) = to_loop(id, LoopMsg::Force(Some(reply), Allowed::Agreed(count))) {
                unanswered(msg, id);
            }
        }
        Command::ForceAll => {
            let mut ids: Vec<LoopId> = r.loops.keys().copied().collect();
            ids.sort();
            for id in &ids {
                let _ = to_loop(*id, LoopMsg::Force(None, Allowed::Configured));
            }
            r.events.reply(reply, Ok(Outcome::Forcing(ids)));
        }
        Command::DryRun(id) => {
            if let Err(msg) = to_loop(id, LoopMsg::DryRun(reply)) {
                unanswered(msg, id);
            }
        }
        Command::Loop(cmd) => {
            let id = cmd.loop_id();
            if let Err(msg) = to_loop(id, LoopMsg::Command(cmd, reply)) {
                unanswered(msg, id);
            }
        }
        Command::ReopenThread { .. }
        | Command::Undoable
        | Command::Undo(_)
        | Command::Redeliver(_) => {
            store_job(command, reply, r, jobs);
        }
        Command::Observe => {
            for tx in r.loops.values() {
                let _ = tx.send(LoopMsg::Observe);
            }
            let _ = reply.send(Ok(Outcome::Done));
        }
        Command::ObserveLoop(id) => {
            if let Some(tx) = r.loops.get(&id) {
                let _ = tx.send(LoopMsg::Observe);
            }
            let _ = reply.send(Ok(Outcome::Done));
        }
        Command::Refresh => send_view(r, ViewMsg::Refresh(reply)),
        Command::SetThreadQuery(q) => send_view(r, ViewMsg::Filter(q, reply)),
        Command::ThreadDetail(id) => send_view(r, ViewMsg::ThreadDetail(id, reply)),
        Command::LoopHistory(kind) => send_view(r, ViewMsg::LoopHistory(kind, reply)),
    }
}

fn send_view(r: &Routes<'_>, msg: ViewMsg) {
    if let Err(e) = r.view.send(msg) {
        e.0.fail(EngineError::Stopped);
    }
}

/// The operator's commands that go straight to the store, on the
/// blocking pool: a reopen, an undo, the search for a pass to undo.
fn store_job(
    command: Command,
    reply: oneshot::Sender<Reply>,
    r: &Routes<'_>,
    jobs: &mut JoinSet<()>,
) {
    let what = command.describe();
    let Some(w) = r.writer.cloned() else {
        r.events.reply(reply, Err(EngineError::ReadOnly(what)));
        return;
    };
    let events = r.events.clone();
    jobs.spawn_blocking(move || {
        let answer = guarded(&what, || {
            let done = match command {
                Command::ReopenThread { id, note } => {
                    crate::actions::reopen_thread(&w, &id, note.as_deref(), now_unix())
                        .map(Outcome::Reopened)
                }
                Command::Undo(pass) => {
                    crate::actions::undo_pass(&w, pass, now_unix()).map(Outcome::Undone)
                }
                Command::Redeliver(ids) => {
                    crate::actions::redeliver(&w, &ids, now_unix()).map(Outcome::Redelivered)
                }
                _ => w
                    .with_conn(None, crate::store::undo::undoable)
                    .map(|p| Outcome::Undoable(p.into_iter().next())),
            };
            done.map_err(|e| EngineError::from_error(&what, e))
        });
        if matches!(
            answer,
            Ok(Outcome::Reopened(_) | Outcome::Undone(_) | Outcome::Redelivered(_))
        ) {
            events.send(Event::Wrote);
        }
        events.reply(reply, answer);
    });
}
