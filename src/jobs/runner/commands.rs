//! The operator's commands: run a job now, cancel a run, retry one. They
//! run on their own thread beside the pass; a cancel marks the run it
//! stops so the pass leaves its ending to the cancel.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::ending::Ended;
use super::live::{Exit, Live, gone};
use super::{JobRunner, named, runlog};
use crate::error::{Error, Result};
use crate::jobs::log::{Entry, EventKind};
use crate::jobs::queue::queue_chain;
use crate::loops::{LoopReply, PassCtx};
use crate::store::jobs::{Reason, Run, RunState, cancel_queued, get, skip_dependants};
use crate::sys::process::now_precise;
use crate::sys::task::NotSent;

/// How long a SIGKILLed run may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

const CANCELLED: &str = "cancelled by the operator";

impl JobRunner {
    pub(super) fn run_job(&self, name: &str, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        if self.job(name).is_none() {
            let known: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "no job named {name:?}; known jobs: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        self.queue_now(
            name,
            &crate::store::jobs::Args::new(),
            Reason::Operator,
            ctx,
        )
    }

    pub(super) fn retry_run(&self, id: i64, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        let run = Self::get_run(id, ctx)?;
        if !matches!(
            run.state,
            RunState::Failed | RunState::Cancelled | RunState::TimedOut | RunState::Skipped
        ) {
            return Err(Error::Refused(format!(
                "run #{id} is {}: only a failed, cancelled, timed-out or skipped run is retried",
                run.state.name()
            )));
        }
        if self.job(&run.job).is_none() {
            return Err(Error::Refused(format!(
                "run #{id}'s job {:?} is no longer in the config",
                run.job
            )));
        }
        self.queue_now(&run.job, &run.args, Reason::RetryOf(id), ctx)
    }

    fn queue_now(
        &self,
        job: &str,
        args: &crate::store::jobs::Args,
        reason: Reason,
        ctx: &PassCtx<'_>,
    ) -> Result<LoopReply> {
        let now = now_precise();
        let queued = ctx.store.write(|tx| {
            let ids = queue_chain(tx, &self.jobs, job, args, reason, false, now)?;
            named(tx, &ids)
        })?;
        self.note_queued(&queued, &reason.text());
        Ok(LoopReply::Queued {
            job: job.to_string(),
            runs: queued.into_iter().map(|(id, _)| id).collect(),
        })
    }

    fn get_run(id: i64, ctx: &PassCtx<'_>) -> Result<Run> {
        get(ctx.read, id)
            .map_err(Self::sql(ctx))?
            .ok_or_else(|| Error::Refused(format!("no run #{id} in the store")))
    }

    pub(super) fn cancel_run(&self, id: i64, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        // Twice at most: a queued run may start between the look and the
        // cancel, and is then cancelled as a running one.
        for _ in 0..2 {
            let run = Self::get_run(id, ctx)?;
            match run.state {
                RunState::Queued => {
                    if let Some(reply) = self.cancel_queued_run(&run, ctx)? {
                        return Ok(reply);
                    }
                }
                RunState::Running => return self.cancel_running(&run, ctx),
                state => {
                    return Err(Error::Refused(format!(
                        "run #{id} has already ended: {}",
                        state.name()
                    )));
                }
            }
        }
        Err(Error::Refused(format!(
            "run #{id} changed state while being cancelled; look again"
        )))
    }

    fn cancel_queued_run(&self, run: &Run, ctx: &PassCtx<'_>) -> Result<Option<LoopReply>> {
        let now = now_precise();
        let skipped = ctx.store.write(|tx| {
            if !cancel_queued(tx, run.id, Some(CANCELLED), now)? {
                return Ok(None);
            }
            named(tx, &skip_dependants(tx, run.id, now)?).map(Some)
        })?;
        let Some(skipped) = skipped else {
            return Ok(None);
        };
        let mut entries = vec![Entry::now(
            &run.job,
            run.id,
            EventKind::Cancelled,
            CANCELLED,
        )];
        let detail = format!("#{} ({}) cancelled", run.id, run.job);
        entries.extend(
            skipped
                .iter()
                .map(|(s, job)| Entry::now(job, *s, EventKind::Skipped, &detail)),
        );
        self.log(&entries);
        Ok(Some(LoopReply::RunCancelled {
            run: run.id,
            signals: Vec::new(),
            skipped: skipped.into_iter().map(|(s, _)| s).collect(),
        }))
    }

    /// A running run: this runner's own is stopped, then recorded; one
    /// another engine runs is recorded first (so that engine's own ending
    /// of it loses and owes no retry), then stopped.
    fn cancel_running(&self, run: &Run, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        let id = run.id;
        let ours = {
            let mut live = self.lock_live();
            match live.get_mut(&id) {
                Some(l) if l.cancelling => {
                    return Err(Error::Refused(format!(
                        "run #{id} is already being cancelled"
                    )));
                }
                Some(l) => {
                    if l.poll() && l.stopping.is_none() {
                        return Err(Error::Refused(format!(
                            "run #{id} has just exited; its ending is being recorded"
                        )));
                    }
                    l.cancelling = true;
                    true
                }
                None => false,
            }
        };
        let mut skipped = Vec::new();
        if !ours {
            let (pid, started_at) = self.adopt_for_cancel(run)?;
            let ended = Ended {
                id,
                job: run.job.clone(),
                attempt: run.attempt,
                state: RunState::Cancelled,
                exit_code: None,
                signal: Some(Signal::SIGTERM as i64),
                detail: Some(format!(
                    "{CANCELLED}; pid {pid} signalled by another keeper-tui"
                )),
                retryable: false,
                tail: None,
            };
            let entries = self.record(ctx, &[ended], &mut super::Done::default())?;
            if entries.is_empty() {
                self.lock_live().remove(&id);
                return Err(Error::Refused(format!("run #{id} ended meanwhile")));
            }
            skipped = skipped_in(&entries);
            tracing::info!("run #{id}: cancelled; stopping pid {pid} (started {started_at})");
        }
        let (signals, last) = self.stop(id, ctx);
        let Some(mut live) = self.lock_live().remove(&id) else {
            return Err(Error::Refused(format!(
                "run #{id} was lost while cancelling"
            )));
        };
        if !live.all_gone() {
            live.cancelling = false;
            let why = format!(
                "run #{id} is still running after {}",
                signals.join(", then ")
            );
            self.lock_live().insert(id, live);
            return Err(Error::Refused(why));
        }
        if ours {
            if let Some(log) = &live.log {
                let _ = runlog::trim(log, runlog::KEEP);
            }
            let code = match live.exit {
                Some(Exit::Status { code, .. }) => code.map(i64::from),
                _ => None,
            };
            let ended = Ended {
                id,
                job: live.job.clone(),
                attempt: live.attempt,
                state: RunState::Cancelled,
                exit_code: code,
                signal: last.map(|s| s as i64),
                detail: Some(CANCELLED.to_string()),
                retryable: false,
                tail: live.log.as_deref().and_then(runlog::tail),
            };
            let entries = self.record(ctx, &[ended], &mut super::Done::default())?;
            skipped = skipped_in(&entries);
        }
        Ok(LoopReply::RunCancelled {
            run: id,
            signals,
            skipped,
        })
    }

    /// Watch another engine's run for as long as the cancel takes: the
    /// pass leaves it alone, marked as being cancelled.
    fn adopt_for_cancel(&self, run: &Run) -> Result<(i32, i64)> {
        let pid = run
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 1);
        let (Some(pid), Some(started_at)) = (pid, run.proc_started_at) else {
            return Err(Error::Refused(format!(
                "run #{}: no process recorded to signal",
                run.id
            )));
        };
        if gone(pid, started_at) {
            return Err(Error::Refused(format!(
                "run #{}: pid {pid} is already gone; its engine records how it ended",
                run.id
            )));
        }
        let group = run.pgid.and_then(|g| i32::try_from(g).ok()).unwrap_or(pid);
        self.lock_live().insert(
            run.id,
            Live::adopted(run, pid, group, started_at, None, true),
        );
        Ok((pid, started_at))
    }

    /// SIGTERM to the run's group, the grace, SIGKILL, a last wait: the
    /// signals as sent, and the last one that was.
    fn stop(&self, id: i64, ctx: &PassCtx<'_>) -> (Vec<String>, Option<Signal>) {
        let began = Instant::now();
        let mut signals = Vec::new();
        let mut last = None;
        let grace = Duration::from_secs(self.tasks.cancel_grace_secs);
        for (sig, wait) in [(Signal::SIGTERM, grace), (Signal::SIGKILL, KILL_WAIT)] {
            let sent = {
                let mut live = self.lock_live();
                let Some(l) = live.get_mut(&id) else { break };
                if l.all_gone() {
                    break;
                }
                l.signal(sig)
            };
            match sent {
                Ok(to) => {
                    signals.push(to);
                    last = Some(sig);
                }
                Err(NotSent::Gone) => break,
                Err(e) => signals.push(format!("{sig} not sent: {e}")),
            }
            if self.wait_gone(id, wait, &|| ctx.stopping() && sig == Signal::SIGTERM) {
                signals.push(format!("gone after {:.1} s", began.elapsed().as_secs_f64()));
                break;
            }
        }
        (signals, last)
    }

    /// Poll (never block on) the run until it and its group are gone, or
    /// `wait` passes, or `stop` says to give up waiting.
    fn wait_gone(&self, id: i64, wait: Duration, stop: &dyn Fn() -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let done = self.lock_live().get_mut(&id).is_none_or(Live::all_gone);
            if done {
                return true;
            }
            if Instant::now() >= deadline || stop() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn skipped_in(entries: &[Entry]) -> Vec<i64> {
    entries
        .iter()
        .filter(|e| e.event == EventKind::Skipped)
        .map(|e| e.run)
        .collect()
}
