//! The engine's tasks: one per loop (sleeps until due or poked), the
//! refresher (debounced re-read of the store), and command dispatch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::{Command, PassOutcome, Reply, Request, SLIDE_EVERY, Shared, detail, lock};
use crate::actions;
use crate::error::Error;
use crate::loops::{Loop, LoopId, PassMode};
use crate::store::now_unix;

/// Summaries of passes that changed nothing.
const QUIET: [&str; 4] = ["no_stale", "no_orphans", "all_healthy", "disabled"];

pub(super) type LoopSlot = Arc<Mutex<Box<dyn Loop>>>;

async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn panic_text(err: tokio::task::JoinError) -> String {
    if !err.is_panic() {
        return "the pass was cancelled".into();
    }
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

/// One loop's life: wait until due, poked or stopped; run one pass on the
/// blocking pool; report; repeat. A failing or panicking pass is reported
/// and the loop carries on.
pub(super) async fn loop_task(
    shared: Arc<Shared>,
    slot: LoopSlot,
    mut stop: watch::Receiver<bool>,
) {
    let (id, interval, at_start, watched) = {
        let lp = lock(&slot);
        (
            lp.id(),
            lp.interval(),
            lp.run_at_start(),
            lp.watched_files(),
        )
    };
    // Files whose changes wake this loop at once (heartbeats, pid files).
    let wake = Arc::new(Notify::new());
    let _watchers = watch_files(&shared, id, &watched, &wake);
    let Some(poke) = shared.pokes.get(&id).cloned() else {
        return;
    };
    // Like threadkeeper's daemons, the first pass runs at start when the
    // loop asks for it (even a loop whose later passes are off: a boot
    // reap); otherwise after one interval.
    let mut next_due = if at_start {
        Some(Instant::now())
    } else {
        interval.map(|i| Instant::now() + i)
    };
    loop {
        let due_unix = next_due
            .map(|t| now_unix() + t.saturating_duration_since(Instant::now()).as_secs() as i64);
        shared.update_loop(id, |s| s.next_due = due_unix);
        // The loop may want a look sooner than its interval (a heartbeat
        // about to go stale).
        let soon = lock(&slot).wake_in(now_unix()).map(|d| Instant::now() + d);
        let due = match (next_due, soon) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut mode = tokio::select! {
            _ = stop.changed() => break,
            () = poke.notified() => PassMode::Forced,
            () = wake.notified() => PassMode::Scheduled,
            () = sleep_until_due(due) => PassMode::Scheduled,
        };
        let waiters = lock(&shared.waiters).remove(&id).unwrap_or_default();
        if !waiters.is_empty() {
            mode = PassMode::Forced;
        }
        shared.update_loop(id, |s| s.running = true);
        shared.publish();

        let started = now_unix();
        let (sh, sl) = (Arc::clone(&shared), Arc::clone(&slot));
        let joined = tokio::task::spawn_blocking(move || {
            let Some(writer) = sh.writer.as_ref() else {
                return Err(Error::Refused("read-only mode: passes are off".into()));
            };
            let mut lp = lock(&sl);
            let result = actions::run_pass(lp.as_mut(), &mut lock(writer), mode, started);
            sh.observe(lp.as_ref());
            result
        })
        .await;
        let (ok, text) = match joined {
            Ok(Ok(report)) => (true, format!("{id}: {}", report.summary)),
            Ok(Err(e)) => (false, format!("{id} pass failed: {e}")),
            Err(e) => (false, format!("{id} pass panicked: {}", panic_text(e))),
        };
        let outcome = PassOutcome {
            mode,
            started_at: started,
            finished_at: now_unix(),
            ok,
            summary: text.clone(),
        };
        shared.update_loop(id, |s| {
            s.running = false;
            s.passes += 1;
            if !ok {
                s.failures += 1;
            }
            s.last = Some(outcome);
        });
        // A scheduled pass that found nothing to do is not news: the Loops
        // panel shows it; the Log keeps what happened.
        let quiet = ok && mode == PassMode::Scheduled && QUIET.iter().any(|q| text.ends_with(q));
        if !quiet {
            shared.notice(!ok, format!("{} {text}", mode.name()));
        }
        for w in waiters {
            let _ = w.send(if ok {
                Ok(text.clone())
            } else {
                Err(text.clone())
            });
        }
        shared.refresh.notify_one();
        shared.publish();
        if mode == PassMode::Scheduled && next_due.is_some_and(|d| d <= Instant::now()) {
            next_due = interval.map(|i| Instant::now() + i);
        }
    }
}

/// One watcher per directory holding watched files; a change to any of
/// them wakes the loop. A directory that cannot be watched is reported.
fn watch_files(
    shared: &Shared,
    id: LoopId,
    files: &[std::path::PathBuf],
    wake: &Arc<Notify>,
) -> Vec<super::watch::FileWatcher> {
    let mut by_dir: HashMap<std::path::PathBuf, Vec<std::ffi::OsString>> = HashMap::new();
    for f in files {
        if let (Some(dir), Some(name)) = (f.parent(), f.file_name()) {
            by_dir
                .entry(dir.to_path_buf())
                .or_default()
                .push(name.to_os_string());
        }
    }
    by_dir
        .into_iter()
        .filter_map(|(dir, names)| {
            let w = Arc::clone(wake);
            match super::watch::FileWatcher::start(&dir, names, move || w.notify_one()) {
                Ok(watcher) => Some(watcher),
                Err(e) => {
                    shared.notice(
                        true,
                        format!(
                            "{id}: cannot watch {} ({e}); checking on its tick",
                            dir.display()
                        ),
                    );
                    None
                }
            }
        })
        .collect()
}

/// Re-read the store when the watcher (or a write of ours) says it
/// changed, after a short quiet period so a burst of commits costs one
/// refresh. Also re-publishes once a minute so windows slide.
pub(super) async fn refresher(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut slide = tokio::time::interval_at(Instant::now() + SLIDE_EVERY, SLIDE_EVERY);
    slide.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = shared.refresh.notified() => {
                let debounce = shared.settings.config.debounce();
                if !debounce.is_zero() {
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = tokio::time::sleep(debounce) => {}
                    }
                }
                let sh = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || sh.refresh_blocking(false)).await;
            }
            _ = slide.tick() => {
                shared.recompute_figures();
                shared.publish();
            }
        }
    }
}

/// Commands that act through one kind of loop (a reap by hand, a breaker
/// reset): they need that loop's own state.
fn dispatch_loop_command(
    shared: &Arc<Shared>,
    loops: &HashMap<LoopId, LoopSlot>,
    command: Command,
    reply: tokio::sync::oneshot::Sender<Reply>,
) {
    match command {
        Command::ReapSession(name) => {
            let Some(slot) = loops.get(&LoopId::Reaper).cloned() else {
                let _ = reply.send(Err("no reaper in this engine".into()));
                return;
            };
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let answer = reap_by_hand(&sh, &slot, &name);
                sh.refresh.notify_one();
                reply_and_log(&sh, reply, answer);
                sh.publish();
            });
        }
        Command::ResetBreaker(name) => {
            let Some(slot) = loops.get(&LoopId::Watchdog).cloned() else {
                let _ = reply.send(Err(
                    "no watchdog in this engine: no [[watchdog.process]] configured".into(),
                ));
                return;
            };
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let answer = reset_breaker(&sh, &slot, &name);
                reply_and_log(&sh, reply, answer);
                sh.publish();
            });
        }
        _ => {}
    }
}

/// Read-only questions for the UI, answered from the view's connection.
fn answer_query(
    shared: &Arc<Shared>,
    command: Command,
    reply: tokio::sync::oneshot::Sender<Reply>,
) {
    match command {
        Command::SetThreadFilter(filter) => {
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                sh.set_thread_filter(filter);
                let _ = reply.send(Ok(String::new()));
            });
        }
        Command::ThreadDetail(id) => {
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let answer = with_view(&sh, |v| {
                    crate::store::threads::thread_detail(v.conn(), &id, 50)
                        .map_err(|e| e.to_string())?
                        .map(|(t, notes)| detail::thread(&t, &notes, now_unix()))
                        .ok_or_else(|| format!("thread {id:?} no longer exists"))
                });
                let _ = reply.send(answer);
            });
        }
        Command::LoopHistory(kind) => {
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let answer = with_view(&sh, |v| {
                    crate::store::events::recent_of_kind(v.conn(), &kind, 30)
                        .map(|rows| detail::loop_history(&kind, &rows, now_unix()))
                        .map_err(|e| e.to_string())
                });
                let _ = reply.send(answer);
            });
        }
        _ => {}
    }
}

fn with_view(
    shared: &Shared,
    f: impl FnOnce(&crate::store::snapshot::StoreView) -> Reply,
) -> Reply {
    match lock(&shared.view).as_ref() {
        Some(v) => f(v),
        None => Err("the store is unreadable right now".into()),
    }
}

/// Route one request. Long work goes to the blocking pool so the command
/// channel never stalls behind a pass.
pub(super) fn dispatch(shared: &Arc<Shared>, loops: &HashMap<LoopId, LoopSlot>, req: Request) {
    let Request { command, reply } = req;
    if let Err(refusal) = shared.gate(&command) {
        shared.notice(true, refusal.clone());
        let _ = reply.send(Err(refusal));
        return;
    }
    match command {
        Command::ForcePass(id) => match shared.pokes.get(&id) {
            Some(poke) => {
                lock(&shared.waiters).entry(id).or_default().push(reply);
                poke.notify_one();
            }
            None => {
                let _ = reply.send(Err(format!("no {id} loop is running in this engine")));
            }
        },
        Command::ForceAll => {
            let mut names: Vec<_> = shared.pokes.keys().copied().collect();
            names.sort();
            for id in &names {
                if let Some(p) = shared.pokes.get(id) {
                    p.notify_one();
                }
            }
            let list: Vec<_> = names.iter().map(|l| l.name()).collect();
            let _ = reply.send(Ok(format!("forcing a pass of: {}", list.join(", "))));
        }
        Command::DryRun(id) => match loops.get(&id).cloned() {
            Some(slot) => dry_run(shared, slot, id, reply),
            None => {
                let _ = reply.send(Err(format!("no {id} loop in this engine")));
            }
        },
        cmd @ (Command::ReapSession(_) | Command::ResetBreaker(_)) => {
            dispatch_loop_command(shared, loops, cmd, reply);
        }
        Command::ReopenThread { id, note } => {
            let sh = Arc::clone(shared);
            tokio::task::spawn_blocking(move || {
                let answer = match sh.writer.as_ref() {
                    None => Err("read-only mode: nothing can be reopened".to_string()),
                    Some(w) => {
                        actions::reopen_thread(&mut lock(w), &id, note.as_deref(), now_unix())
                            .map_err(|e| e.to_string())
                    }
                };
                sh.refresh.notify_one();
                reply_and_log(&sh, reply, answer);
            });
        }
        query @ (Command::SetThreadFilter(_)
        | Command::ThreadDetail(_)
        | Command::LoopHistory(_)) => {
            answer_query(shared, query, reply);
        }
        Command::Observe => {
            let sh = Arc::clone(shared);
            let slots: Vec<LoopSlot> = loops.values().cloned().collect();
            tokio::task::spawn_blocking(move || {
                for slot in &slots {
                    sh.observe(lock(slot).as_ref());
                }
                sh.publish();
                let _ = reply.send(Ok(String::new()));
            });
        }
        Command::Refresh => {
            let sh = Arc::clone(shared);
            let slots: Vec<LoopSlot> = loops.values().cloned().collect();
            tokio::task::spawn_blocking(move || {
                sh.refresh_blocking(true);
                for slot in &slots {
                    sh.observe(lock(slot).as_ref());
                }
                sh.publish();
                let st = lock(&sh.state);
                let answer = match (&st.store_error, &st.last_refresh) {
                    (Some(e), _) => Err(format!("refresh failed: {e}")),
                    (None, Some(r)) => Ok(format!("refreshed in {} ms", r.took_us / 1000)),
                    (None, None) => Ok("refreshed".into()),
                };
                drop(st);
                reply_and_log(&sh, reply, answer);
            });
        }
    }
}

/// A dry-run reads through the view's connection, so it works read-only.
fn dry_run(
    shared: &Arc<Shared>,
    slot: LoopSlot,
    id: LoopId,
    reply: tokio::sync::oneshot::Sender<Reply>,
) {
    let sh = Arc::clone(shared);
    tokio::task::spawn_blocking(move || {
        // Lock order everywhere: loop, then writer, then view.
        let lp = lock(&slot);
        let view = lock(&sh.view);
        let answer = match view.as_ref() {
            None => Err("the store is unreadable right now".to_string()),
            Some(v) => lp
                .dry_run(v.conn(), v.path(), now_unix())
                .map(|r| {
                    let mut text = format!("{id} dry-run: {}", r.summary);
                    for line in &r.detail {
                        text.push('\n');
                        text.push_str(line);
                    }
                    text
                })
                .map_err(|e| e.to_string()),
        };
        drop(view);
        drop(lp);
        reply_and_log(&sh, reply, answer);
    });
}

fn reset_breaker(shared: &Shared, slot: &LoopSlot, name: &str) -> Reply {
    let mut lp = lock(slot);
    let Some(wd) = lp
        .as_any_mut()
        .downcast_mut::<crate::loops::watchdog::Watchdog>()
    else {
        return Err("the watchdog is not running in this engine".into());
    };
    let Some(writer) = shared.writer.as_ref() else {
        return Err("read-only mode: nothing can be reset".into());
    };
    let result = wd.reset(&mut lock(writer), name).map_err(|e| e.to_string());
    shared.observe(lp.as_ref());
    result
}

fn reap_by_hand(shared: &Shared, slot: &LoopSlot, name: &str) -> Reply {
    let mut lp = lock(slot);
    let Some(reaper) = lp
        .as_any_mut()
        .downcast_mut::<crate::loops::reaper::Reaper>()
    else {
        return Err("the reaper is not running in this engine".into());
    };
    let Some(writer) = shared.writer.as_ref() else {
        return Err("read-only mode: nothing can be reaped".into());
    };
    let result = reaper.reap_by_hand(&mut lock(writer), &[name.to_string()], false, now_unix());
    shared.observe(lp.as_ref());
    match result {
        Ok(report) => {
            let line = report
                .detail
                .iter()
                .find(|l| l.starts_with(name))
                .cloned()
                .unwrap_or(report.summary);
            if line.contains(": reaped") {
                Ok(line)
            } else {
                Err(line)
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Every action's result goes to the Log as well as back to the caller
/// (its first line: a dry-run's list stays in the popup).
fn reply_and_log(shared: &Shared, reply: tokio::sync::oneshot::Sender<Reply>, answer: Reply) {
    let (error, text) = match &answer {
        Ok(t) => (false, t),
        Err(t) => (true, t),
    };
    shared.notice(error, text.lines().next().unwrap_or_default().to_string());
    let _ = reply.send(answer);
}
