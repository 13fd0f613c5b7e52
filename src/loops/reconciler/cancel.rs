//! `x` and `keeper-tui cancel`: SIGTERM to a running task's process group,
//! SIGKILL after the grace if it is still there, each signal only after
//! the PID is seen to be the same process again; then the row is ended in
//! one write, with the signal that ended it as a negative return code
//! (threadkeeper's convention), an event and the hooks it owes.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::Serialize;

use super::super::PassCtx;
use crate::config::{HookConfig, HookEvent, TasksConfig};
use crate::error::{Error, Result};
use crate::store::events::insert_event;
use crate::store::hooks::owe;
use crate::store::tasks::{TaskRow, claim_cancel, end, get, release_cancel};
use crate::sys::process::wait_gone;
use crate::sys::task::{
    NotSent, SentTo, TaskProcess, group_running, judge, signal, signal_group_left,
};

/// How long a SIGKILLed process may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancelled {
    pub task: String,
    pub pid: i64,
    /// The signals sent, in order, with where each went.
    pub signals: Vec<String>,
    /// What the row now says; `None` when it was ended by someone else
    /// meanwhile.
    pub return_code: Option<i64>,
    pub ended: bool,
    /// It was gone before any signal: ended as the reconciler ends it.
    pub already_gone: bool,
    pub hooks_owed: usize,
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_gone {
            return write!(
                f,
                "{}: pid {} was already gone; the task is ended",
                self.task, self.pid
            );
        }
        write!(f, "{}: {}", self.task, self.signals.join(", then "))?;
        match (self.ended, self.return_code) {
            (true, Some(rc)) => write!(f, "; ended, return_code {rc}")?,
            (true, None) => f.write_str("; ended")?,
            (false, _) => f.write_str("; the row was ended meanwhile by another writer")?,
        }
        if self.hooks_owed > 0 {
            write!(f, "; {} hook delivery(ies) owed", self.hooks_owed)?;
        }
        Ok(())
    }
}

/// Why `task` cannot be cancelled, judged from its row and what its PID
/// names now; `None` when a cancel would go ahead (a process already gone
/// included: its row is ended).
pub fn refusal(task: &TaskRow, process: &TaskProcess) -> Option<String> {
    if !task.running() {
        return Some(format!("{} has already ended", task.id));
    }
    if task.visible() {
        return Some(format!(
            "{} runs in a visible terminal (pid {}): it cannot be cancelled by pid; close its window",
            task.id, task.pid
        ));
    }
    match process {
        TaskProcess::Replaced { started_at } => Some(format!(
            "pid {} now belongs to a process started at {started_at}, after {} started at {}: not signalled",
            task.pid, task.id, task.started_at
        )),
        TaskProcess::Unknown(why) => Some(format!(
            "cannot tell whether pid {} is still {} ({why}): not signalled",
            task.pid, task.id
        )),
        TaskProcess::Live(_) | TaskProcess::Gone => None,
    }
}

fn sent(sig: Signal, to: SentTo, pid: i64) -> String {
    match to {
        SentTo::Group(g) => format!("{sig} to process group {g}"),
        SentTo::Pid => format!("{sig} to pid {pid}"),
    }
}

pub(super) fn cancel(
    id: &str,
    config: &TasksConfig,
    hooks: &[HookConfig],
    ctx: &PassCtx<'_>,
) -> Result<Cancelled> {
    let path = &ctx.store.path;
    let task = get(ctx.read, id)
        .map_err(|e| Error::from_sqlite(path, e))?
        .ok_or_else(|| Error::Refused(format!("no task {id:?} in the store")))?;
    let process = judge(task.pid, task.started_at);
    if let Some(why) = refusal(&task, &process) {
        return Err(Error::Refused(why));
    }
    let mut done = Cancelled {
        task: task.id.clone(),
        pid: task.pid,
        signals: Vec::new(),
        return_code: None,
        ended: false,
        already_gone: false,
        hooks_owed: 0,
    };
    let TaskProcess::Live(info) = process else {
        done.already_gone = true;
        return finish(ctx, hooks, &task, None, done);
    };
    // Other keeper-tuis' reconcilers leave the task to this cancel for as
    // long as it can take.
    let until = crate::store::now_unix()
        + i64::try_from(config.cancel_grace_secs).unwrap_or(i64::MAX / 2)
        + KILL_WAIT.as_secs() as i64
        + 30;
    let me = crate::store::keeper::LeaseHolder::this_process();
    ctx.store
        .write(|tx| claim_cancel(tx, &task.id, &me.id, until))?;
    let signalled = signal_until_gone(config, &task, &info, &mut done, ctx);
    match signalled {
        Ok(last) => finish(ctx, hooks, &task, last, done),
        Err(e) => {
            let _ = ctx.store.write(|tx| release_cancel(tx, &task.id));
            Err(e)
        }
    }
}

/// SIGTERM, the grace, SIGKILL: the signal that ended the task, if any did.
fn signal_until_gone(
    config: &TasksConfig,
    task: &TaskRow,
    info: &crate::sys::process::ProcInfo,
    done: &mut Cancelled,
    ctx: &PassCtx<'_>,
) -> Result<Option<Signal>> {
    let pid = info.pid;
    let started = Instant::now();
    let mut last = None;
    // The task's group, once it has been signalled as one.
    let mut group = None;
    for (sig, wait) in [
        (
            Signal::SIGTERM,
            Duration::from_secs(config.cancel_grace_secs),
        ),
        (Signal::SIGKILL, KILL_WAIT),
    ] {
        let to = match (signal(pid, info.started_at, sig), group) {
            // The leader is gone, but not all it started.
            (Err(NotSent::Gone), Some(g)) if group_running(g) => signal_group_left(g, sig),
            (to, _) => to,
        };
        match to {
            Ok(to) => {
                if let SentTo::Group(g) = to {
                    group = Some(g);
                }
                done.signals.push(sent(sig, to, task.pid));
                last = Some(sig);
            }
            Err(NotSent::Gone) => break,
            Err(e @ (NotSent::Replaced(_) | NotSent::Failed(_))) => {
                if last.is_none() {
                    return Err(Error::Refused(e.to_string()));
                }
                done.signals.push(format!("{sig} not sent: {e}"));
                break;
            }
        }
        if wait_ended(pid, group, wait, &|| ctx.stopping()) {
            done.signals.push(format!(
                "gone after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            break;
        }
        if ctx.stopping() {
            return Err(Error::Refused(format!(
                "shutting down: {} was sent {} and not yet ended",
                task.id,
                done.signals.join(", ")
            )));
        }
    }
    if judge(task.pid, task.started_at) == TaskProcess::Live(info.clone()) {
        return Err(Error::Refused(format!(
            "{}: pid {pid} is still alive after {}",
            task.id,
            done.signals.join(", ")
        )));
    }
    Ok(last)
}

/// Wait up to `wait` for the task to be gone: its process and, when its
/// group was signalled, every process still running in that group.
fn wait_ended(pid: i32, group: Option<i32>, wait: Duration, stop: &dyn Fn() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    if !wait_gone(pid, wait, stop) {
        return false;
    }
    let Some(g) = group else {
        return true;
    };
    loop {
        if !group_running(g) {
            return true;
        }
        if Instant::now() >= deadline || stop() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// End the row (if nobody did meanwhile), record the cancel and owe hooks.
fn finish(
    ctx: &PassCtx<'_>,
    hooks: &[HookConfig],
    task: &TaskRow,
    by: Option<Signal>,
    mut done: Cancelled,
) -> Result<Cancelled> {
    let now = crate::store::now_unix();
    let rc = by.map(|s| -i64::from(s as i32));
    let session = ctx.store.session_id.clone();
    let (ended, owed) = ctx.store.write(|tx| {
        release_cancel(tx, &task.id)?;
        if !end(tx, &task.id, now, rc)? {
            return Ok((false, 0));
        }
        let mut row = task.clone();
        row.ended_at = Some(now);
        row.return_code = rc;
        let event = match by {
            Some(_) => {
                let summary = format!("pid {}: {}", task.pid, done.signals.join(", then "));
                insert_event(
                    tx,
                    &session,
                    "task_cancelled",
                    Some(&task.id),
                    &summary,
                    now,
                )?;
                HookEvent::TaskCancelled
            }
            None => HookEvent::TaskEnded,
        };
        Ok((true, owe(tx, hooks, &row, event, now)?))
    })?;
    done.ended = ended;
    done.return_code = if ended { rc } else { None };
    done.hooks_owed = owed;
    Ok(done)
}
