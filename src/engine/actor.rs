//! One actor per loop: a task that owns the loop, sleeps until the loop is
//! due, wants a look, or is asked for something, and runs each pass and
//! each command on the blocking pool. Async code here only moves values
//! and timers; every store read, tmux call and signal is in a job.

mod shared;
use self::shared::{JobDone, PassDone, Shared};

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::hub::{Event, Events};
use super::jobs::ReadPool;
use super::{EngineError, LoopStatus, Outcome, PassOutcome, Reply};
use crate::loops::{Allowed, Loop, LoopCommand, LoopId, PassMode, PassResult};
use crate::store::{WriteStore, now_unix};

/// What an actor can be asked.
pub(crate) enum LoopMsg {
    /// One more pass, allowed to change this much; forces that arrive
    /// during a pass share the next one (the last one's allowance).
    Force(Option<oneshot::Sender<Reply>>, Allowed),
    DryRun(oneshot::Sender<Reply>),
    Command(LoopCommand, oneshot::Sender<Reply>),
    /// Look at what the loop watches, for its panel.
    Observe,
}

impl LoopMsg {
    pub(crate) fn into_reply(self) -> Option<oneshot::Sender<Reply>> {
        match self {
            LoopMsg::Force(r, _) => r,
            LoopMsg::DryRun(r) | LoopMsg::Command(_, r) => Some(r),
            LoopMsg::Observe => None,
        }
    }
}

pub(crate) struct LoopCtx {
    /// `None` under `--read-only`.
    pub writer: Option<Arc<WriteStore>>,
    /// Set as the engine stops; passes check it before acting.
    pub stopping: Arc<AtomicBool>,
    pub events: Events,
    /// False under `--read-only`: no scheduled passes.
    pub scheduled: bool,
    /// The loop's read connection, kept between passes.
    pub pool: Arc<ReadPool>,
    /// This engine holds the store's lease: only then are scheduled passes
    /// run here.
    pub leading: Arc<AtomicBool>,
}

pub(crate) fn initial_status(lp: &dyn Loop, scheduled: bool) -> LoopStatus {
    LoopStatus {
        id: lp.id(),
        interval_secs: if scheduled {
            lp.interval().map(|d| d.as_secs())
        } else {
            None
        },
        running: false,
        next_due: None,
        last: None,
        passes: 0,
        failures: 0,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A wake-up a pass asked for is never sooner than this after a pass that
/// changed nothing: a loop that keeps answering "now" cannot spin.
const MIN_RELOOK: Duration = Duration::from_millis(50);
/// How often a pass that stays held is said again.
const HELD_RETOLD: Duration = Duration::from_secs(3600);

struct Actor {
    shared: Arc<Shared>,
    interval: Option<Duration>,
    status: LoopStatus,
    sent: Option<LoopStatus>,
    /// The interval's next moment.
    next_due: Option<Instant>,
    /// When the last pass must look again (a cooldown's end).
    pass_wants: Option<Instant>,
    /// When what the loop watches goes stale: set by a pass, moved by each
    /// change to a watched file.
    look_wants: Option<Instant>,
    pass: JoinSet<PassDone>,
    jobs: JoinSet<JobDone>,
    /// Forces asked for while a pass runs: they share the next pass.
    queued: Option<(Allowed, Vec<oneshot::Sender<Reply>>)>,
    /// The held count last said in the Log, and when.
    held_said: Option<(usize, Instant)>,
    first_scheduled: bool,
    /// When the next look at a changed file is taken: changes that come
    /// faster than `look_every` (a heartbeat every 500 ms) share one look.
    look_at: Option<Instant>,
    last_look: Option<Instant>,
    look_every: Duration,
}

pub(crate) async fn run(
    lp: Arc<dyn Loop>,
    ctx: LoopCtx,
    mut mailbox: mpsc::UnboundedReceiver<LoopMsg>,
    mut stop: watch::Receiver<bool>,
) {
    let scheduled = ctx.scheduled;
    let interval = if scheduled { lp.interval() } else { None };
    let at_start = scheduled && lp.run_at_start();
    let files = lp.watched_files();
    let tree = lp.watched_tree();
    let lp_look_every = lp.look_every();
    let status = initial_status(lp.as_ref(), scheduled);
    let shared = Arc::new(Shared {
        pool: Arc::clone(&ctx.pool),
        lp,
        ctx,
    });
    let wake = Arc::new(Notify::new());
    let _watchers = watch_files(&shared.ctx.events, status.id, &files, &wake);
    let _tree = tree.and_then(|(dir, ext)| {
        let w = Arc::clone(&wake);
        super::watch::FileWatcher::start_tree(&dir, ext.map(OsString::from), move || {
            w.notify_one();
        })
        .map_err(|e| {
            shared.ctx.events.notice(
                true,
                format!(
                    "{}: cannot watch {} ({e}); looking on its interval",
                    status.id,
                    dir.display()
                ),
            );
        })
        .ok()
    });
    let now = Instant::now();
    let mut a = Actor {
        interval,
        status,
        sent: None,
        next_due: if at_start {
            Some(now)
        } else {
            interval.map(|i| now + i)
        },
        pass_wants: None,
        look_wants: None,
        pass: JoinSet::new(),
        jobs: JoinSet::new(),
        queued: None,
        held_said: None,
        first_scheduled: true,
        look_at: None,
        last_look: None,
        look_every: lp_look_every,
        shared,
    };
    loop {
        let due = earliest(a.next_due, earliest(a.pass_wants, a.look_wants));
        a.publish(due);
        let idle = a.pass.is_empty();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            // Before a pass's end: a force that arrived while it ran shares
            // the next pass with the others.
            Some(msg) = mailbox.recv() => a.on_msg(msg),
            Some(done) = a.pass.join_next(), if !a.pass.is_empty() => match done {
                Ok(done) => a.finished(done),
                Err(e) => a.shared.ctx.events.notice(true, format!("{} pass lost: {e}", a.status.id)),
            },
            () = wake.notified(), if a.look_at.is_none() => a.look_soon(),
            () = sleep_until(a.look_at), if a.look_at.is_some() => {
                a.look_at = None;
                a.last_look = Some(Instant::now());
                let sh = Arc::clone(&a.shared);
                a.jobs.spawn_blocking(move || JobDone::Look(sh.look()));
            }
            Some(done) = a.jobs.join_next(), if !a.jobs.is_empty() => {
                match done {
                    Ok(JobDone::Look(look_in)) => a.looked(look_in),
                    // A run queued by the operator starts at the next pass:
                    // make that now, not an interval away.
                    Ok(JobDone::Commanded) if a.shared.lp.pass_after_command() => {
                        a.pass_wants = Some(Instant::now());
                    }
                    _ => {}
                }
            }
            () = sleep_until(due), if idle && due.is_some() => {
                if a.shared.ctx.leading.load(Ordering::SeqCst) {
                    let first = std::mem::replace(&mut a.first_scheduled, false);
                    a.start(PassMode::Scheduled, first, Allowed::Configured, Vec::new());
                } else {
                    a.observe_only();
                }
            }
        }
    }
    a.stop(&mut mailbox).await;
}

impl Actor {
    /// Another engine runs the loops: nothing scheduled here; ask again
    /// when the lease could have changed hands.
    fn observe_only(&mut self) {
        self.pass_wants = None;
        self.look_wants = None;
        self.next_due = Some(Instant::now() + super::lease::RENEW);
    }

    /// Tell the hub when something it shows changed.
    fn publish(&mut self, due: Option<Instant>) {
        let now = Instant::now();
        self.status.next_due =
            due.map(|t| now_unix() + t.saturating_duration_since(now).as_secs() as i64);
        if self.sent.as_ref() != Some(&self.status) {
            self.sent = Some(self.status.clone());
            self.shared
                .ctx
                .events
                .send(Event::Loop(self.status.clone()));
        }
    }

    /// A watched file changed: look now, or once `look_every` has passed
    /// since the last look.
    fn look_soon(&mut self) {
        let now = Instant::now();
        self.look_at = Some(
            self.last_look
                .map_or(now, |t| (t + self.look_every).max(now)),
        );
    }

    /// A watched file changed and the loop says when to look. "Now" is not
    /// news while the last pass already has the next step in hand (a
    /// cooldown running): that pass knew it was unhealthy.
    fn looked(&mut self, look_in: Option<Duration>) {
        let now = Instant::now();
        let firm_pending = self.pass_wants.is_some_and(|t| t > now);
        self.look_wants = match look_in {
            Some(d) if d.is_zero() && firm_pending => None,
            other => other.map(|d| now + d),
        };
    }

    fn start(
        &mut self,
        mode: PassMode,
        first: bool,
        allowed: Allowed,
        waiters: Vec<oneshot::Sender<Reply>>,
    ) {
        self.status.running = true;
        let sh = Arc::clone(&self.shared);
        self.pass.spawn_blocking(move || PassDone {
            mode,
            started_at: now_unix(),
            result: sh.pass(mode, first, allowed),
            waiters,
        });
    }

    fn on_msg(&mut self, msg: LoopMsg) {
        let sh = Arc::clone(&self.shared);
        let events = sh.ctx.events.clone();
        match msg {
            LoopMsg::Force(reply, allowed) => {
                let waiters: Vec<_> = reply.into_iter().collect();
                if self.pass.is_empty() {
                    self.start(PassMode::Forced, false, allowed, waiters);
                } else {
                    let q = self.queued.get_or_insert_with(|| (allowed, Vec::new()));
                    q.0 = allowed;
                    q.1.extend(waiters);
                }
            }
            LoopMsg::DryRun(reply) => {
                self.jobs.spawn_blocking(move || {
                    events.reply(reply, sh.dry_run());
                    JobDone::Answered
                });
            }
            LoopMsg::Command(cmd, reply) => {
                self.jobs.spawn_blocking(move || {
                    events.reply(reply, sh.command(cmd));
                    JobDone::Commanded
                });
            }
            LoopMsg::Observe if sh.lp.last_look_holds() => {}
            LoopMsg::Observe => {
                self.jobs.spawn_blocking(move || {
                    sh.observe();
                    JobDone::Answered
                });
            }
        }
    }

    fn finished(&mut self, done: PassDone) {
        let PassDone {
            mode,
            started_at,
            result,
            waiters,
        } = done;
        let id = self.status.id;
        let events = &self.shared.ctx.events;
        let (ok, changed, touched, summary) = match &result {
            Ok(r) => (true, r.changed, r.touched_count, r.summary.clone()),
            Err(e) => (false, false, 0, e.to_string()),
        };
        let held = result.as_ref().ok().and_then(|r| r.held);
        let cancelled = matches!(result, Err(EngineError::ShuttingDown(_)));
        if !cancelled {
            self.status.passes += 1;
            if !ok {
                self.status.failures += 1;
            }
            self.status.last = Some(PassOutcome {
                mode,
                started_at,
                finished_at: now_unix(),
                ok,
                changed,
                touched,
                summary: if ok {
                    format!("{id}: {summary}")
                } else {
                    summary.clone()
                },
                held,
            });
        }
        self.status.running = false;
        // A scheduled pass that found nothing to do is not news: the Loops
        // panel shows it.
        match &result {
            // Held: said when it first holds or the count moves, and again
            // each hour it stays held (a headless engine's only voice).
            Ok(r) if mode == PassMode::Scheduled && r.held.is_some() => {
                let would = r.held.map(|h| h.would);
                let due = self
                    .held_said
                    .is_none_or(|(n, at)| Some(n) != would || at.elapsed() >= HELD_RETOLD);
                if due {
                    events.notice(
                        false,
                        format!("{} {id}: {} — f to review", mode.name(), r.summary),
                    );
                    self.held_said = would.map(|n| (n, Instant::now()));
                }
            }
            Ok(r) if r.changed || mode != PassMode::Scheduled => {
                events.notice(false, format!("{} {id}: {}", mode.name(), r.with_trail()));
            }
            Ok(_) => {}
            Err(e) if cancelled => events.notice(false, format!("{id}: {e}")),
            Err(e) => events.notice(true, format!("{} {e}", mode.name())),
        }
        if changed {
            events.send(Event::Wrote);
        }
        let now = Instant::now();
        let floor =
            |r: &PassResult, d: Duration| now + if r.changed { d } else { d.max(MIN_RELOOK) };
        (self.pass_wants, self.look_wants) = match &result {
            Ok(r) => (
                r.next_look.map(|d| floor(r, d)),
                r.stale_in.map(|d| floor(r, d)),
            ),
            Err(_) => (None, None),
        };
        if mode == PassMode::Scheduled && self.next_due.is_some_and(|d| d <= now) {
            self.next_due = self.interval.map(|i| now + i);
        }
        let reply: Reply = result.map(|result| Outcome::Pass { id, mode, result });
        for w in waiters {
            let _ = w.send(reply.clone());
        }
        if let Some((allowed, waiters)) = self.queued.take() {
            self.start(PassMode::Forced, false, allowed, waiters);
        }
    }

    /// The engine is stopping: a pass in flight finishes (it sees
    /// `stopping` before acting), everyone still waiting is answered, and
    /// every job is joined.
    async fn stop(mut self, mailbox: &mut mpsc::UnboundedReceiver<LoopMsg>) {
        while let Some(done) = self.pass.join_next().await {
            if let Ok(done) = done {
                self.queued
                    .take()
                    .into_iter()
                    .flat_map(|(_, w)| w)
                    .for_each(|w| {
                        let _ = w.send(Err(EngineError::Stopped));
                    });
                self.finished(done);
            }
        }
        mailbox.close();
        while let Some(msg) = mailbox.recv().await {
            if let Some(r) = msg.into_reply() {
                let _ = r.send(Err(EngineError::Stopped));
            }
        }
        while self.jobs.join_next().await.is_some() {}
        self.publish(None);
    }
}

/// One watcher per directory holding watched files; a change to any of
/// them wakes the loop. A directory that cannot be watched is reported.
fn watch_files(
    events: &Events,
    id: LoopId,
    files: &[PathBuf],
    wake: &Arc<Notify>,
) -> Option<super::watch::FileWatcher> {
    if files.is_empty() {
        return None;
    }
    let mut by_dir: HashMap<PathBuf, Vec<OsString>> = HashMap::new();
    for f in files {
        if let (Some(dir), Some(name)) = (f.parent(), f.file_name()) {
            by_dir
                .entry(dir.to_path_buf())
                .or_default()
                .push(name.to_os_string());
        }
    }
    let w = Arc::clone(wake);
    match super::watch::FileWatcher::start_dirs(by_dir.into_iter().collect(), move || {
        w.notify_one();
    }) {
        Ok((watcher, failed)) => {
            if let Some((dir, e)) = failed.first() {
                let more = match failed.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                events.notice(
                    true,
                    format!(
                        "{id}: cannot watch {}{more} ({e}); checking on its tick",
                        dir.display()
                    ),
                );
            }
            Some(watcher)
        }
        Err(e) => {
            events.notice(
                true,
                format!("{id}: cannot watch its files ({e}); checking on its tick"),
            );
            None
        }
    }
}
