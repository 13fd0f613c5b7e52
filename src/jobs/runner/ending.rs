//! How runs end: runs a stopped keeper-tui left running (adopted while
//! their process lives, ended as lost when it does not), runs that exited,
//! and runs past their timeout. Each ending is recorded with what it owes
//! in the same write: a retry, or its dependants skipped.

use nix::sys::signal::Signal;
use rusqlite::Transaction;

use super::live::{Exit, Live, Stopping, gone};
use super::{Done, JobRunner, named, runlog};
use crate::config::HookEvent;
use crate::error::Result;
use crate::jobs::log::{Entry, EventKind};
use crate::loops::PassCtx;
use crate::store::events::insert_event;
use crate::store::jobs::{Ending, RunState, finish, requeue_for_retry, skip_dependants};
use crate::store::keeper::LeaseHolder;

/// How long a timed-out run has between SIGTERM and SIGKILL.
const TIMEOUT_GRACE: f64 = 3.0;

/// An ending to record.
pub(super) struct Ended {
    pub id: i64,
    pub job: String,
    pub attempt: u32,
    pub state: RunState,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub detail: Option<String>,
    /// Whether the retry policy applies: not for a success, a cancel, or
    /// an adopted run whose exit status is unknown (it may have done its
    /// work; running it again could do it twice).
    pub retryable: bool,
    pub tail: Option<String>,
}

impl Ended {
    /// The ending of a run whose process has gone, from how it exited.
    fn of(id: i64, live: &Live) -> Self {
        let (state, code, sig, detail, retryable) = match (live.stopping, live.exit) {
            (Some(s), exit) => {
                let code = match exit {
                    Some(Exit::Status { code, .. }) => code,
                    _ => None,
                };
                let detail = format!("timed out; stopped with {}", s.last);
                (
                    RunState::TimedOut,
                    code,
                    Some(s.last as i32),
                    Some(detail),
                    true,
                )
            }
            (None, Some(Exit::Status { code: Some(0), .. })) => {
                (RunState::Succeeded, Some(0), None, None, false)
            }
            (None, Some(Exit::Status { code, signal })) => {
                (RunState::Failed, code, signal, None, true)
            }
            (None, Some(Exit::Unknown) | None) => (
                RunState::Failed,
                None,
                None,
                Some("adopted: exit status unknown".to_string()),
                false,
            ),
        };
        Ended {
            id,
            job: live.job.clone(),
            attempt: live.attempt,
            state,
            exit_code: code.map(i64::from),
            signal: sig.map(i64::from),
            detail,
            retryable,
            tail: live.log.as_deref().and_then(runlog::tail),
        }
    }

    /// For the events table: what ended, and how.
    fn summary(&self) -> String {
        let how = match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "exit unknown".into(),
        };
        match &self.detail {
            Some(d) => format!("run #{} {}: {how} ({d})", self.id, self.state.name()),
            None => format!("run #{} {}: {how}", self.id, self.state.name()),
        }
    }
}

impl JobRunner {
    /// Runs left `running` by another keeper-tui: adopted while their
    /// process is still the one started, else ended as lost (and retried
    /// per their policy: they did not get to finish).
    pub(super) fn recover(&self, ctx: &PassCtx<'_>, done: &mut Done) -> Result<()> {
        let me = LeaseHolder::this_process().id;
        let running = crate::store::jobs::running(ctx.read).map_err(Self::sql(ctx))?;
        let mut lost = Vec::new();
        for run in running {
            let holder = run.holder.as_deref().unwrap_or_default();
            if holder == me || holder_alive(holder) || self.lock_live().contains_key(&run.id) {
                continue;
            }
            let pid = run
                .pid
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p > 1);
            let alive = match (pid, run.proc_started_at) {
                (Some(pid), Some(at)) => !gone(pid, at),
                _ => false,
            };
            if let (true, Some(pid), Some(started_at)) = (alive, pid, run.proc_started_at) {
                let group = run.pgid.and_then(|g| i32::try_from(g).ok()).unwrap_or(pid);
                let deadline = self
                    .job(&run.job)
                    .and_then(|j| j.timeout_secs)
                    .map(|t| run.started_at.unwrap_or(run.queued_at) + t as f64);
                done.detail
                    .push(format!("run #{} ({}): adopted pid {pid}", run.id, run.job));
                self.lock_live().insert(
                    run.id,
                    Live::adopted(&run, pid, group, started_at, deadline, false),
                );
            } else {
                lost.push(Ended {
                    id: run.id,
                    job: run.job.clone(),
                    attempt: run.attempt,
                    state: RunState::Failed,
                    exit_code: None,
                    signal: None,
                    detail: Some("lost: keeper-tui restarted".into()),
                    retryable: true,
                    tail: run
                        .log_path
                        .as_deref()
                        .map(std::path::Path::new)
                        .and_then(runlog::tail),
                });
            }
        }
        self.record(ctx, &lost, done).map(drop)
    }

    /// Poll every watched run; stop those past their timeout; record those
    /// that are over.
    pub(super) fn reap(&self, ctx: &PassCtx<'_>, done: &mut Done) -> Result<()> {
        let now = crate::sys::process::now_precise();
        let mut over = Vec::new();
        {
            let mut live = self.lock_live();
            let ids: Vec<i64> = live.keys().copied().collect();
            for id in ids {
                let Some(run) = live.get_mut(&id) else {
                    continue;
                };
                if run.cancelling {
                    continue;
                }
                let exited = run.poll();
                if !exited || run.stopping.is_some() {
                    time_out(id, run, now, done);
                }
                let finished = match run.stopping {
                    Some(_) => run.all_gone(),
                    None => exited,
                };
                if finished && let Some(run) = live.remove(&id) {
                    over.push((id, run));
                }
            }
        }
        let ended: Vec<Ended> = over
            .iter()
            .map(|(id, run)| {
                if let Some(log) = &run.log
                    && let Err(e) = runlog::trim(log, runlog::KEEP)
                {
                    tracing::warn!("cannot trim {}: {e}", log.display());
                }
                Ended::of(*id, run)
            })
            .collect();
        self.record(ctx, &ended, done).map(drop)
    }

    /// Record `ended` in one write, with the retries and skips they owe,
    /// then the event log. Returns the event-log lines: none for a run
    /// someone else ended first.
    pub(super) fn record(
        &self,
        ctx: &PassCtx<'_>,
        ended: &[Ended],
        done: &mut Done,
    ) -> Result<Vec<Entry>> {
        if ended.is_empty() {
            return Ok(Vec::new());
        }
        let session = ctx.store.session_id.clone();
        let now = crate::sys::process::now_precise();
        let (entries, recorded, requeued) = ctx.store.write(|tx| {
            let mut entries = Vec::new();
            let mut recorded = Vec::new();
            let mut requeued = Vec::new();
            for e in ended {
                if let Some(new) = self.record_one(tx, &session, e, now, &mut entries)? {
                    requeued.push(new);
                }
                if entries.iter().any(|x: &Entry| x.run == e.id) {
                    recorded.push(e.id);
                }
            }
            Ok((entries, recorded, requeued))
        })?;
        for e in ended.iter().filter(|e| recorded.contains(&e.id)) {
            done.detail.push(e.summary());
        }
        done.ended.extend(recorded);
        done.queued.extend(requeued);
        self.log(&entries);
        Ok(entries)
    }

    /// One ending, if the run is still running: returns the retry queued.
    fn record_one(
        &self,
        tx: &Transaction<'_>,
        session: &str,
        e: &Ended,
        now: f64,
        entries: &mut Vec<Entry>,
    ) -> rusqlite::Result<Option<i64>> {
        let ending = Ending {
            state: e.state,
            exit_code: e.exit_code,
            signal: e.signal,
            tail: e.tail.as_deref(),
            detail: e.detail.as_deref(),
        };
        if !finish(tx, e.id, &ending, now)? {
            return Ok(None);
        }
        let kind = match e.state {
            RunState::Succeeded => "job_succeeded",
            RunState::Cancelled => "job_cancelled",
            _ => "job_failed",
        };
        insert_event(tx, session, kind, Some(&e.job), &e.summary(), now as i64)?;
        if let (Some(job), Some(run)) = (self.job(&e.job), crate::store::jobs::get(tx, e.id)?)
            && !job.hooks.is_empty()
        {
            let event = match e.state {
                RunState::Succeeded => HookEvent::JobSucceeded,
                RunState::Cancelled => HookEvent::JobCancelled,
                _ => HookEvent::JobFailed,
            };
            crate::store::hooks::owe_job(tx, &self.hooks, &job.hooks, &run, event, now as i64)?;
        }
        let detail = e.detail.clone().unwrap_or_else(|| match e.exit_code {
            Some(c) => format!("exit {c}"),
            None => String::new(),
        });
        entries.push(Entry::now(
            &e.job,
            e.id,
            EventKind::for_state(e.state),
            &detail,
        ));
        if e.state == RunState::Succeeded {
            return Ok(None);
        }
        let job = self.job(&e.job);
        let fatal = e
            .exit_code
            .and_then(|c| u8::try_from(c).ok())
            .is_some_and(|c| job.is_some_and(|j| j.fatal_exit_codes.contains(&c)));
        if let Some(job) = job
            && e.retryable
            && !fatal
            && e.attempt < job.retries
        {
            let not_before = now + job.backoff_secs as f64;
            if let Some(new) = requeue_for_retry(tx, e.id, not_before, now)? {
                let detail = format!(
                    "attempt {} of {} as run #{new}, in {} s",
                    e.attempt + 2,
                    job.retries + 1,
                    job.backoff_secs
                );
                entries.push(Entry::now(&e.job, e.id, EventKind::Retry, &detail));
                entries.push(Entry::now(
                    &e.job,
                    new,
                    EventKind::Queued,
                    &format!("retry of #{}", e.id),
                ));
                return Ok(Some(new));
            }
        }
        let detail = format!("#{} ({}) {}", e.id, e.job, e.state.name());
        for (skipped, name) in named(tx, &skip_dependants(tx, e.id, now)?)? {
            entries.push(Entry::now(&name, skipped, EventKind::Skipped, &detail));
        }
        Ok(None)
    }
}

/// Whether the keeper-tui a holder id names (`pid@host:nanos`, as
/// `LeaseHolder` makes it) still runs here: its runs are its own to end.
/// One on another host cannot be told, so it is taken to be running.
fn holder_alive(holder: &str) -> bool {
    let parsed = holder.split_once('@').and_then(|(pid, rest)| {
        let (host, nanos) = rest.rsplit_once(':')?;
        Some((pid.parse::<i32>().ok()?, host, nanos.parse::<u128>().ok()?))
    });
    let Some((pid, host, nanos)) = parsed else {
        return false;
    };
    let here = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    if host != here {
        return true;
    }
    let started = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
    crate::sys::process::inspect(pid).is_some_and(|p| {
        !p.zombie && (p.started_at - started).abs() <= crate::sys::task::START_SLACK
    })
}

/// Stop `run` if it is past its deadline: SIGTERM to its group first,
/// SIGKILL once the grace is over (and again while anything is left).
fn time_out(id: i64, run: &mut Live, now: f64, done: &mut Done) {
    let Some(deadline) = run.deadline else { return };
    if now < deadline {
        return;
    }
    let sig = match run.stopping {
        None => Signal::SIGTERM,
        Some(s) if now >= s.kill_at => Signal::SIGKILL,
        Some(_) => return,
    };
    match run.signal(sig) {
        Ok(to) => done
            .detail
            .push(format!("run #{id} ({}): timed out, {to}", run.job)),
        Err(e) => done.detail.push(format!(
            "run #{id} ({}): timed out, {sig} not sent: {e}",
            run.job
        )),
    }
    run.stopping = Some(Stopping {
        kill_at: match run.stopping {
            None => now + TIMEOUT_GRACE,
            Some(_) => now + 1.0,
        },
        last: sig,
    });
}
