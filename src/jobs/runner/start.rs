//! Starting runs: the oldest startable first, each only while its pool
//! has room, counted over every engine's running runs (a pool limits the
//! machine, not one keeper-tui).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use rusqlite::{Connection, params};

use super::live::{Live, Proc};
use super::{Done, JobRunner, named};
use crate::config::JobConfig;
use crate::error::Result;
use crate::jobs::log::{Entry, EventKind};
use crate::loops::PassCtx;
use crate::store::jobs::{
    Args, Ending, Run, RunState, Spawned, cancel_queued, finish, mark_running, running,
    skip_dependants, startable,
};
use crate::store::keeper::LeaseHolder;

/// Queued runs looked at per pass.
pub(super) const START_LIMIT: usize = 500;

/// The earliest `not_before` still ahead of `now` among queued runs that
/// wait for nothing else: when a retry's backoff ends.
pub(super) fn next_not_before(read: &Connection, now: f64) -> rusqlite::Result<Option<f64>> {
    let exists: bool = read.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'keeper_job_runs'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    read.query_row(
        "SELECT MIN(not_before) FROM keeper_job_runs WHERE state = 'queued' \
         AND not_before > ?1 AND after_run IS NULL",
        params![now],
        |r| r.get(0),
    )
}

/// `{key}` in `text` replaced by each argument, through `quote`.
fn substitute(text: &str, args: &Args, quote: fn(&str) -> String) -> String {
    args.iter().fold(text.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), &quote(v))
    })
}

/// One word for `sh`, whatever it holds: an argument (a transcript's path)
/// cannot become shell syntax.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The process a run of `job` with `args` is: its own process group, no
/// stdin, output to `log`.
fn command(job: &JobConfig, args: &Args, log: &Path) -> std::io::Result<Command> {
    let words: Vec<String> = if job.shell {
        let script = job
            .command
            .first()
            .map_or_else(String::new, |c| substitute(c, args, shell_quote));
        vec!["sh".into(), "-c".into(), script]
    } else {
        job.command
            .iter()
            .map(|a| substitute(a, args, str::to_string))
            .collect()
    };
    let (program, rest) = words
        .split_first()
        .ok_or_else(|| std::io::Error::other("the command is empty"))?;
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .envs(&job.env)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    if let Some(dir) = &job.cwd {
        cmd.current_dir(dir);
    }
    Ok(cmd)
}

impl JobRunner {
    fn log_path(&self, id: i64) -> PathBuf {
        self.state_dir.join("jobs").join(format!("run-{id}.log"))
    }

    /// Runs per pool now, over all engines.
    fn pool_use(&self, read: &Connection) -> rusqlite::Result<HashMap<String, u32>> {
        let mut used = HashMap::new();
        for run in running(read)? {
            if let Some(pool) = self.job(&run.job).and_then(|j| j.pool.clone()) {
                *used.entry(pool).or_insert(0) += 1;
            }
        }
        Ok(used)
    }

    /// Start what may start, oldest first.
    pub(super) fn start_ready(&self, ctx: &PassCtx<'_>, done: &mut Done) -> Result<()> {
        let now = crate::sys::process::now_precise();
        let ready = startable(ctx.read, now, START_LIMIT).map_err(Self::sql(ctx))?;
        if ready.is_empty() {
            return Ok(());
        }
        let mut used = self.pool_use(ctx.read).map_err(Self::sql(ctx))?;
        for run in ready {
            if ctx.stopping() {
                break;
            }
            let Some(job) = self.job(&run.job) else {
                self.refuse(
                    ctx,
                    &run,
                    &format!("no job named {:?} in the config", run.job),
                    done,
                )?;
                continue;
            };
            let limit = job
                .pool
                .as_ref()
                .and_then(|p| self.pools.get(p).map(|n| (p, *n)));
            if let Some((pool, n)) = limit
                && used.get(pool).copied().unwrap_or(0) >= n
            {
                continue;
            }
            if self.start_one(ctx, &run, job, done)?
                && let Some((pool, _)) = limit
            {
                *used.entry(pool.clone()).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    /// Spawn `run` and record it running. Returns whether it now runs here.
    fn start_one(
        &self,
        ctx: &PassCtx<'_>,
        run: &Run,
        job: &JobConfig,
        done: &mut Done,
    ) -> Result<bool> {
        let log = self.log_path(run.id);
        if let Some(dir) = log.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return self.fail_start(
                ctx,
                run,
                &format!("cannot create {}: {e}", dir.display()),
                done,
            );
        }
        let spawned = command(job, &run.args, &log).and_then(|mut c| c.spawn());
        let child = match spawned {
            Ok(c) => c,
            Err(e) => return self.fail_start(ctx, run, &format!("cannot start: {e}"), done),
        };
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let started_at = crate::sys::process::inspect(pid).map(|p| p.started_at);
        let me = LeaseHolder::this_process();
        let log_text = log.to_string_lossy().into_owned();
        let deadline = job
            .timeout_secs
            .map(|t| crate::sys::process::now_precise() + t as f64);
        // In the map before the row says running, so a cancel that sees
        // the row finds the process.
        self.lock_live().insert(
            run.id,
            Live {
                job: run.job.clone(),
                attempt: run.attempt,
                pid,
                pgid: pid,
                proc: Proc::Child(child),
                log: Some(log.clone()),
                deadline,
                exit: None,
                stopping: None,
                cancelling: false,
                since: std::time::Instant::now(),
            },
        );
        let spawned = Spawned {
            holder: &me.id,
            pid: i64::from(pid),
            pgid: i64::from(pid),
            proc_started_at: started_at,
            log_path: Some(&log_text),
        };
        let now = crate::sys::process::now_precise();
        let marked = ctx
            .store
            .write(|tx| mark_running(tx, run.id, &spawned, now));
        if !matches!(marked, Ok(true)) {
            // Cancelled meanwhile, or another engine started it: not ours.
            if let Some(mut live) = self.lock_live().remove(&run.id) {
                let _ = live.signal(Signal::SIGKILL);
                if let Proc::Child(mut c) = live.proc {
                    let _ = c.wait();
                }
            }
            return marked.map(|_| false);
        }
        done.started.push(run.id);
        done.detail
            .push(format!("run #{} ({}): started, pid {pid}", run.id, run.job));
        self.log(&[Entry::now(
            &run.job,
            run.id,
            EventKind::Started,
            &format!("pid {pid}"),
        )]);
        Ok(true)
    }

    /// A run that could not be started: failed, not retried (it would fail
    /// the same way), its dependants skipped.
    fn fail_start(&self, ctx: &PassCtx<'_>, run: &Run, why: &str, done: &mut Done) -> Result<bool> {
        let me = LeaseHolder::this_process();
        let now = crate::sys::process::now_precise();
        let session = ctx.store.session_id.clone();
        let spawned = Spawned {
            holder: &me.id,
            pid: 0,
            pgid: 0,
            proc_started_at: None,
            log_path: None,
        };
        let ending = Ending {
            state: RunState::Failed,
            exit_code: None,
            signal: None,
            tail: None,
            detail: Some(why),
        };
        let skipped = ctx.store.write(|tx| {
            if !(mark_running(tx, run.id, &spawned, now)? && finish(tx, run.id, &ending, now)?) {
                return Ok(None);
            }
            let summary = format!("run #{} failed: {why}", run.id);
            crate::store::events::insert_event(
                tx,
                &session,
                "job_failed",
                Some(&run.job),
                &summary,
                now as i64,
            )?;
            named(tx, &skip_dependants(tx, run.id, now)?).map(Some)
        })?;
        if let Some(skipped) = skipped {
            self.note_refused(run, EventKind::Failed, why, &skipped, done);
        }
        Ok(false)
    }

    /// A queued run of a job no longer configured: cancelled, with its
    /// dependants skipped.
    fn refuse(&self, ctx: &PassCtx<'_>, run: &Run, why: &str, done: &mut Done) -> Result<()> {
        let now = crate::sys::process::now_precise();
        let skipped = ctx.store.write(|tx| {
            if !cancel_queued(tx, run.id, Some(why), now)? {
                return Ok(None);
            }
            named(tx, &skip_dependants(tx, run.id, now)?).map(Some)
        })?;
        if let Some(skipped) = skipped {
            self.note_refused(run, EventKind::Cancelled, why, &skipped, done);
        }
        Ok(())
    }

    fn note_refused(
        &self,
        run: &Run,
        kind: EventKind,
        why: &str,
        skipped: &[(i64, String)],
        done: &mut Done,
    ) {
        let mut entries = vec![Entry::now(&run.job, run.id, kind, why)];
        let detail = format!("#{} ({}) {}", run.id, run.job, kind.name());
        entries.extend(
            skipped
                .iter()
                .map(|(id, job)| Entry::now(job, *id, EventKind::Skipped, &detail)),
        );
        done.ended.push(run.id);
        done.ended.extend(skipped.iter().map(|(id, _)| *id));
        done.detail
            .push(format!("run #{} ({}): {why}", run.id, run.job));
        self.log(&entries);
    }
}
