//! The view actor: owns the read-only `StoreView` behind the panels. It
//! re-reads the store when the file watch (or a write of ours) says it
//! changed, slides the windows once a minute, and answers the panels'
//! questions — one at a time, in the order asked, on the blocking pool, so
//! a newer thread filter can never be overtaken by an older one.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::hub::{Event, Events, Readable, StoreNews};
use super::jobs::guarded;
use super::{EngineError, Outcome, RefreshInfo, Reply, THREADS_LISTED, detail};
use crate::store::now_unix;
use crate::store::snapshot::{RefreshStats, RollupState, StoreView};
use crate::store::threads::{ThreadQuery, page_threads};
use crate::store::writer::Wrote;

/// Windows ("fires in 7 d") slide with the clock; recomputing them needs no
/// query, only the figures held in memory.
const SLIDE_EVERY: Duration = Duration::from_secs(60);

pub(crate) enum ViewMsg {
    Refresh(oneshot::Sender<Reply>),
    Filter(ThreadQuery, oneshot::Sender<Reply>),
    ThreadDetail(String, oneshot::Sender<Reply>),
    LoopHistory(String, oneshot::Sender<Reply>),
}

impl ViewMsg {
    /// Answer without doing it (the engine is stopping).
    pub(crate) fn fail(self, e: EngineError) {
        let reply = match self {
            ViewMsg::Refresh(r)
            | ViewMsg::Filter(_, r)
            | ViewMsg::ThreadDetail(_, r)
            | ViewMsg::LoopHistory(_, r) => r,
        };
        let _ = reply.send(Err(e));
    }
}

pub(crate) struct ViewCtx {
    pub db: PathBuf,
    /// Where the rollup is kept (see `StoreView::open_cached`).
    pub cache: Option<PathBuf>,
    pub window_days: u32,
    pub debounce: Duration,
    pub events: Events,
    /// Poked by the file watch and after every write of ours; a permit
    /// waits while a refresh runs, so a burst costs one more refresh.
    pub changed: Arc<Notify>,
    /// The engine's other connections to the store, told to let go of a
    /// file that is no longer at the path as soon as the view sees it.
    pub holders: Holders,
}

#[derive(Default)]
pub(crate) struct Holders {
    pub writer: Option<Arc<crate::store::WriteStore>>,
    pub pools: Vec<Arc<super::jobs::ReadPool>>,
}

impl Holders {
    fn reopen_writer(&self) {
        if let Some(w) = &self.writer
            && let Err(e) = w.reopen()
        {
            tracing::warn!("the writer cannot open the store yet: {e}");
        }
    }

    fn let_go_if_replaced(&self) {
        if let Some(w) = &self.writer {
            w.let_go_if_replaced();
        }
        for p in &self.pools {
            p.let_go_if_replaced();
        }
    }
}

/// What the view actor owns; moved into each blocking job and back.
struct Held {
    view: Option<StoreView>,
    query: ThreadQuery,
    /// The error last reported, so each new one is said once.
    error: Option<String>,
    /// The store changed since the counts were last checked in full.
    unverified: bool,
    /// A change came while the writer was too busy to say whose it was.
    who_wrote_open: bool,
    /// The figures last sent, to tell a change worth a snapshot.
    shown: Option<crate::store::snapshot::StoreFigures>,
}

impl Held {
    /// How much a change makes the view read again, by who committed;
    /// `None`: nothing it shows.
    fn settle_who_wrote(&mut self, ctx: &ViewCtx) -> Option<Reread> {
        let wrote = ctx.holders.writer.as_ref().map(|w| w.others_wrote());
        Some(match wrote {
            Some(Wrote::Nothing) => {
                self.who_wrote_open = false;
                return None;
            }
            // Our own commits (the lease's renewal above all) delete
            // nothing: no full count needed to trust the tail.
            Some(Wrote::OwnOnly) => {
                self.who_wrote_open = false;
                Reread::OwnWrites
            }
            // Most often our own write still under way. The new rows are
            // read now; whose they were is asked again at the next change
            // or slide, and an answer then covers this change too.
            Some(Wrote::Unknown) => {
                self.who_wrote_open = true;
                Reread::OwnWrites
            }
            Some(Wrote::Others) | None => {
                self.who_wrote_open = false;
                self.unverified = true;
                Reread::Tail
            }
        })
    }
}

/// The same figures but for the moment and the file sizes.
fn unchanged(
    old: &crate::store::snapshot::StoreFigures,
    new: &crate::store::snapshot::StoreFigures,
) -> bool {
    let mut o = old.clone();
    o.now = new.now;
    o.stores.db_bytes = new.stores.db_bytes;
    o.stores.wal_bytes = new.stores.wal_bytes;
    o == *new
}

enum Work {
    Changed { full: bool },
    Slide,
    Filter(ThreadQuery),
    ThreadDetail(String),
    LoopHistory(String),
}

pub(crate) async fn run(
    view: StoreView,
    ctx: ViewCtx,
    mut rx: mpsc::UnboundedReceiver<ViewMsg>,
    mut stop: watch::Receiver<bool>,
) {
    let ctx = Arc::new(ctx);
    say_rollup(&view, &ctx);
    let worker = match ViewThread::start(view, Arc::clone(&ctx)) {
        Ok(w) => w,
        Err(e) => {
            ctx.events
                .notice(true, format!("cannot start the store view's thread: {e}"));
            return;
        }
    };
    let mut slide =
        tokio::time::interval_at(tokio::time::Instant::now() + SLIDE_EVERY, SLIDE_EVERY);
    slide.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Questions that arrived among filter keystrokes, answered next.
    let mut backlog = VecDeque::new();
    loop {
        let (work, replies) = tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(msg) = next_msg(&mut backlog, &mut rx) => coalesce(msg, &mut rx, &mut backlog),
            () = ctx.changed.notified() => {
                if !ctx.debounce.is_zero() {
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = tokio::time::sleep(ctx.debounce) => {}
                    }
                }
                (Work::Changed { full: false }, Vec::new())
            }
            _ = slide.tick() => (Work::Slide, Vec::new()),
        };
        // An operator's refresh is an action: its result goes to the Log.
        let logged = matches!(work, Work::Changed { full: true });
        let Some(answer) = worker.run(work).await else {
            ctx.events
                .notice(true, "the store view's thread stopped".to_string());
            break;
        };
        // A bug in a refresh nobody asked for still reaches the Log.
        if let Err(e @ EngineError::Panicked { .. }) = &answer
            && replies.is_empty()
        {
            ctx.events.notice(true, e.to_string());
        }
        for r in replies {
            if logged {
                ctx.events.reply(r, answer.clone());
            } else {
                let _ = r.send(answer.clone());
            }
        }
    }
    worker.stop().await;
    // Whoever is still queued is told, not left waiting.
    for msg in backlog {
        msg.fail(EngineError::Stopped);
    }
    rx.close();
    while let Some(msg) = rx.recv().await {
        msg.fail(EngineError::Stopped);
    }
}

/// A rollup that could not be used is said once, in the Log: the counts
/// are right either way, only the start was slower.
fn say_rollup(view: &StoreView, ctx: &ViewCtx) {
    if let RollupState::Redone(doubt) = view.rollup_state() {
        ctx.events.notice(
            false,
            format!("the kept rollup was not used: {doubt}; counted the store afresh"),
        );
    }
}

fn keep_rollup(view: &mut StoreView) {
    if let Err(e) = view.save_rollup() {
        tracing::warn!("cannot keep the rollup: {e}");
    }
}

async fn next_msg(
    backlog: &mut VecDeque<ViewMsg>,
    rx: &mut mpsc::UnboundedReceiver<ViewMsg>,
) -> Option<ViewMsg> {
    match backlog.pop_front() {
        Some(m) => Some(m),
        None => rx.recv().await,
    }
}

/// The view's own thread: every refresh and question runs there, one at a
/// time, and it owns the view. On one thread the churn of refreshes (new
/// rows every few tens of ms under a write load) stays in one malloc arena;
/// spread over the blocking pool's threads it crept up by megabytes an hour.
struct ViewThread {
    jobs: std::sync::mpsc::Sender<(Work, oneshot::Sender<Reply>)>,
    thread: std::thread::JoinHandle<()>,
}

impl ViewThread {
    fn start(view: StoreView, ctx: Arc<ViewCtx>) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<(Work, oneshot::Sender<Reply>)>();
        let thread = std::thread::Builder::new()
            .name("keeper-view".into())
            .spawn(move || {
                let mut held = Held {
                    view: Some(view),
                    query: ThreadQuery::default(),
                    error: None,
                    unverified: false,
                    who_wrote_open: false,
                    shown: None,
                };
                while let Ok((work, answer)) = queue.recv() {
                    let _ =
                        answer.send(guarded("the store view", || do_work(&mut held, work, &ctx)));
                }
                // The next start begins where this one ended.
                if let Some(v) = held.view.as_mut() {
                    keep_rollup(v);
                }
            })?;
        Ok(ViewThread { jobs, thread })
    }

    /// Do one piece of work; `None` if the thread is gone.
    async fn run(&self, work: Work) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send((work, tx)).ok()?;
        rx.await.ok()
    }

    /// Let the thread finish what it is doing and end; wait for it without
    /// holding up the runtime.
    async fn stop(self) {
        let ViewThread { jobs, thread } = self;
        drop(jobs);
        if let Err(e) = tokio::task::spawn_blocking(move || thread.join()).await {
            tracing::error!("the store view's thread: {e}");
        }
    }
}

/// Turn one message (and, for filters, any newer ones already queued) into
/// one piece of work and the replies it owes.
fn coalesce(
    msg: ViewMsg,
    rx: &mut mpsc::UnboundedReceiver<ViewMsg>,
    backlog: &mut VecDeque<ViewMsg>,
) -> (Work, Vec<oneshot::Sender<Reply>>) {
    match msg {
        ViewMsg::Refresh(r) => (Work::Changed { full: true }, vec![r]),
        ViewMsg::ThreadDetail(id, r) => (Work::ThreadDetail(id), vec![r]),
        ViewMsg::LoopHistory(kind, r) => (Work::LoopHistory(kind), vec![r]),
        ViewMsg::Filter(mut filter, r) => {
            // Keystrokes typed while a query ran: only the newest filter
            // matters, and every keystroke is answered by it.
            let mut replies = vec![r];
            while let Ok(next) = rx.try_recv() {
                match next {
                    ViewMsg::Filter(f, r) => {
                        filter = f;
                        replies.push(r);
                    }
                    other => backlog.push_back(other),
                }
            }
            (Work::Filter(filter), replies)
        }
    }
}

/// The store's file changed (or the operator asked for a refresh).
fn changed(h: &mut Held, full: bool, ctx: &ViewCtx) -> Reply {
    let how = if full {
        Some(Reread::All)
    } else {
        h.settle_who_wrote(ctx)
    };
    let took = match how {
        Some(how) => refresh(h, how, ctx),
        // Nobody's commit but the lease's renewal (and its checkpoint):
        // nothing shown moved, unless the file went or was replaced, or
        // the view has yet to read it.
        None if h.view.as_ref().is_none_or(StoreView::file_replaced) || h.error.is_some() => {
            refresh(h, Reread::Tail, ctx)
        }
        None => 0,
    };
    match &h.error {
        Some(e) => Err(EngineError::Refused(format!("refresh failed: {e}"))),
        None => Ok(Outcome::Refreshed { took_us: took }),
    }
}

fn do_work(h: &mut Held, work: Work, ctx: &ViewCtx) -> Reply {
    match work {
        Work::Changed { full } => changed(h, full, ctx),
        Work::Slide => {
            // A change came while the writer was busy: the answer now
            // covers it, and asking spends it, so the view reads as it
            // says (another's commit, or ours that no change will follow).
            if h.who_wrote_open
                && let Some(how) = h.settle_who_wrote(ctx)
            {
                refresh(h, how, ctx);
            }
            if std::mem::take(&mut h.unverified)
                && let Some(v) = h.view.as_mut()
            {
                match v.verify(now_unix()) {
                    Ok(true) => {
                        ctx.events.notice(
                            false,
                            "rows were deleted from the middle of the store: counted again",
                        );
                        refresh(h, Reread::Tail, ctx);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("checking the counts failed: {e}"),
                }
            }
            if let Some(v) = h.view.as_mut() {
                match v.figures(now_unix()) {
                    Ok(f) => ctx.events.send(Event::Store(Box::new(StoreNews {
                        figures: Some(f),
                        ..StoreNews::default()
                    }))),
                    Err(e) => tracing::warn!("sliding the windows failed: {e}"),
                }
                if v.rollup_due() {
                    keep_rollup(v);
                }
            }
            Ok(Outcome::Done)
        }
        Work::Filter(query) => {
            h.query = query;
            let Some(v) = &h.view else {
                return Err(unreadable());
            };
            match page_threads(v.conn(), &h.query, THREADS_LISTED) {
                Ok(page) => {
                    ctx.events.send(Event::Store(Box::new(StoreNews {
                        threads: Some(page),
                        ..StoreNews::default()
                    })));
                    Ok(Outcome::Done)
                }
                Err(e) => Err(EngineError::Refused(format!("listing threads failed: {e}"))),
            }
        }
        Work::ThreadDetail(id) => {
            let Some(v) = &h.view else {
                return Err(unreadable());
            };
            crate::store::threads::thread_detail(v.conn(), &id, 50)
                .map_err(|e| EngineError::Refused(e.to_string()))?
                .map(|(t, notes)| Outcome::Detail(detail::thread(&t, &notes, now_unix())))
                .ok_or_else(|| EngineError::Refused(format!("thread {id:?} no longer exists")))
        }
        Work::LoopHistory(kind) => {
            let Some(v) = &h.view else {
                return Err(unreadable());
            };
            let now = now_unix();
            let mut text = crate::store::events::recent_of_kind(v.conn(), &kind, 30)
                .map(|rows| detail::loop_history(&kind, &rows, now))
                .map_err(|e| EngineError::Refused(e.to_string()))?;
            if let Some(id) = crate::loops::LoopId::ALL
                .iter()
                .find(|l| l.pass_kind() == kind)
            {
                let record = crate::store::keeper::recent_passes(v.conn(), id.name(), 20)
                    .map_err(|e| EngineError::Refused(e.to_string()))?;
                text.push_str(&detail::keeper_history(&record, now));
                // What can be taken back comes first: it is what `u` acts on.
                if *id == crate::loops::LoopId::Janitor {
                    let undoable = crate::store::undo::undoable(v.conn())
                        .map_err(|e| EngineError::Refused(e.to_string()))?;
                    text = format!("{}{text}", detail::undoable(&undoable, now));
                }
            }
            Ok(Outcome::Detail(text))
        }
    }
}

fn unreadable() -> EngineError {
    EngineError::Refused("the store is unreadable right now".into())
}

/// Re-read the store (or reopen it if it had gone) and send the news.
/// Returns how long it took, in µs.
/// How much of the store a change makes the view read again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reread {
    /// Everything, from scratch.
    All,
    /// The rows added since the last look, and counts that may have moved.
    Tail,
    /// The rows added by commits that were all this engine's own.
    OwnWrites,
}

fn refresh(h: &mut Held, how: Reread, ctx: &ViewCtx) -> u64 {
    let full = how == Reread::All;
    let started = Instant::now();
    let now = now_unix();
    // Another file at the path: every connection of ours to the old one
    // closes before any opens the new one, so the first to open it finds
    // no `-shm` in use and reads the file as it is.
    let replaced = h.view.as_ref().is_some_and(StoreView::file_replaced);
    if replaced {
        ctx.holders.let_go_if_replaced();
        h.view = None;
    }
    let reopened = h.view.is_none();
    let result = match h.view.as_mut() {
        Some(v) if full => v.rebuild(now),
        Some(v) if how == Reread::OwnWrites => v.refresh_after_own_writes(now),
        Some(v) => v.refresh(now),
        None => StoreView::open_cached(&ctx.db, ctx.window_days, ctx.cache.as_deref()).map(|v| {
            h.view = Some(v);
            RefreshStats {
                rebuilt: true,
                ..RefreshStats::default()
            }
        }),
    };
    let took_us = started.elapsed().as_micros() as u64;
    let mut news = StoreNews::default();
    if result.is_err() {
        ctx.holders.let_go_if_replaced();
    }
    match result {
        Ok(stats) => {
            if reopened {
                ctx.holders.reopen_writer();
            }
            if replaced {
                ctx.events.notice(
                    false,
                    "another file took the store's path (a restore?): reading the new one",
                );
            }
            if let Some(v) = h.view.as_mut() {
                if reopened && !replaced {
                    say_rollup(v, ctx);
                }
                if stats.threads_recounted || stats.rebuilt || full {
                    match page_threads(v.conn(), &h.query, THREADS_LISTED) {
                        Ok(page) => news.threads = Some(page),
                        Err(e) => ctx
                            .events
                            .notice(true, format!("listing threads failed: {e}")),
                    }
                }
                match v.figures(now) {
                    Ok(f) => {
                        // keeper's own small writes (its lease, every few
                        // seconds) change nothing on screen but the file
                        // sizes: no snapshot.
                        let same = !full
                            && news.threads.is_none()
                            && h.shown.as_ref().is_some_and(|old| unchanged(old, &f));
                        if !same {
                            h.shown = Some(f.clone());
                            news.figures = Some(f);
                        }
                    }
                    Err(e) => ctx.events.notice(true, format!("counting failed: {e}")),
                }
                if v.rollup_due() {
                    keep_rollup(v);
                }
            }
            if h.error.take().is_some() {
                news.readable = Some(Readable::Yes);
                ctx.events.notice(false, "store is readable again");
            }
            news.refreshed = Some(RefreshInfo {
                at: now,
                took_us,
                stats,
            });
        }
        Err(e) => {
            h.view = None;
            let text = e.to_string();
            if h.error.as_deref() != Some(text.as_str()) {
                ctx.events.notice(true, format!("store unreadable: {text}"));
            }
            news.readable = Some(Readable::No(text.clone()));
            h.error = Some(text);
        }
    }
    let quiet =
        news.figures.is_none() && news.threads.is_none() && news.readable.is_none() && !full;
    if quiet {
        return took_us;
    }
    ctx.events.send(Event::Store(Box::new(news)));
    took_us
}
