//! The reconciler: ends threadkeeper tasks whose process is gone, with
//! nobody listing tasks, and owes their completion hooks in the same write
//! — threadkeeper itself ends a task only before it lists them. Unknown
//! liveness never ends a task. `x` (cancel) lives here too: it ends the
//! task it signalled the same way.

mod cancel;
mod seen;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

pub use self::cancel::{Cancelled, refusal};
pub use self::seen::{ENDED_SHOWN, Proc, TaskLine};
use super::{Loop, LoopCommand, LoopId, LoopReply, PassCtx, PassMode, PassResult, Touched};
use crate::config::{HookConfig, HookEvent, TasksConfig};
use crate::error::{Error, Result};
use crate::store::events::record_loop_pass;
use crate::store::tasks::{TaskRow, end, running_tracked};
use crate::sys::task::{TaskProcess, judge};

const NOOP: &str = "no_ended";
/// A pass that ends nothing is recorded at most this often.
const NOOP_EVERY: i64 = 60;

pub struct Reconciler {
    pub config: TasksConfig,
    pub hooks: Vec<HookConfig>,
    last_noop_record: AtomicI64,
    /// Tasks a cancel is signalling: the pass leaves them to it, so a
    /// process that exits on SIGTERM is recorded as cancelled, not ended.
    cancelling: Mutex<HashSet<String>>,
    /// Kept between looks: CPU use is a difference between two.
    probe: Mutex<crate::sys::process::Probe>,
}

impl Reconciler {
    pub fn new(config: TasksConfig, hooks: Vec<HookConfig>) -> Self {
        Reconciler {
            config,
            hooks,
            last_noop_record: AtomicI64::new(0),
            cancelling: Mutex::new(HashSet::new()),
            probe: Mutex::new(crate::sys::process::Probe::new()),
        }
    }
}

impl Reconciler {
    fn lock_cancelling(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.cancelling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Tasks being cancelled: by this engine (known before its claim is
    /// written) and by any keeper-tui on the store.
    fn cancelling(&self, conn: &Connection, now: i64) -> rusqlite::Result<HashSet<String>> {
        let mut all = crate::store::tasks::cancels_under_way(conn, now)?;
        all.extend(self.lock_cancelling().iter().cloned());
        Ok(all)
    }
}

/// A running task the pass found finished, and why.
struct Finding {
    task: TaskRow,
    why: String,
}

/// Running tasks judged: those to end, and lines for those left alone.
fn survey(
    read: &Connection,
    limit: usize,
    skip: &HashSet<String>,
) -> rusqlite::Result<(Vec<Finding>, Vec<String>)> {
    let mut ended = Vec::new();
    let mut kept = Vec::new();
    for row in running_tracked(read, limit)? {
        let task = match row {
            Ok(t) => t,
            // One bad row is named and skipped; the pass goes on.
            Err((id, e)) => {
                kept.push(format!(
                    "{}: skipped, unreadable row: {e}",
                    id.as_deref().unwrap_or("?")
                ));
                continue;
            }
        };
        if skip.contains(&task.id) {
            kept.push(format!("{}: being cancelled", task.id));
            continue;
        }
        match judge(task.pid, task.started_at) {
            TaskProcess::Live(_) => {}
            TaskProcess::Gone => ended.push(Finding {
                why: format!("pid {} is gone", task.pid),
                task,
            }),
            TaskProcess::Replaced { started_at } => ended.push(Finding {
                why: format!(
                    "pid {} now names a process started at {started_at}, after the task",
                    task.pid
                ),
                task,
            }),
            TaskProcess::Unknown(why) => {
                kept.push(format!("{}: kept, liveness unknown ({why})", task.id));
            }
        }
    }
    Ok((ended, kept))
}

impl Loop for Reconciler {
    fn id(&self) -> LoopId {
        LoopId::Reconciler
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.reconcile_secs > 0).then(|| Duration::from_secs(self.config.reconcile_secs))
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let path = &ctx.store.path;
        let skip = self
            .cancelling(ctx.read, ctx.now)
            .map_err(|e| Error::from_sqlite(path, e))?;
        let (found, kept) = survey(ctx.read, self.config.max_per_pass, &skip)
            .map_err(|e| Error::from_sqlite(path, e))?;
        if ctx.stopping() {
            return Err(Error::Refused(
                "shutting down: the pass did not start".into(),
            ));
        }
        let now = ctx.now;
        let noop_due = now - self.last_noop_record.load(Ordering::SeqCst) >= NOOP_EVERY;
        if found.is_empty() && !noop_due && ctx.mode == PassMode::Scheduled {
            return Ok(PassResult {
                summary: NOOP.into(),
                detail: kept,
                ..PassResult::default()
            });
        }
        let session = ctx.store.session_id.clone();
        let hooks = &self.hooks;
        let (ended, owed) = ctx.store.write(|tx| {
            let mut ended = Vec::new();
            let mut owed = 0;
            // Looked at again here, not only before the survey: a cancel
            // that began while the survey ran may be why the process is
            // gone, and the row is the cancel's to end (as cancelled).
            let cancelling = self.cancelling(tx, now)?;
            for f in &found {
                if cancelling.contains(&f.task.id) {
                    continue;
                }
                // Someone else (threadkeeper listing its tasks) may have
                // ended it since we looked: then it is theirs.
                if end(tx, &f.task.id, now, None)? {
                    let mut task = f.task.clone();
                    task.ended_at = Some(now);
                    owed += crate::store::hooks::owe(tx, hooks, &task, HookEvent::TaskEnded, now)?;
                    ended.push(f);
                }
            }
            let summary = if ended.is_empty() {
                NOOP.to_string()
            } else {
                format!("ended={}", ended.len())
            };
            record_loop_pass(
                tx,
                &session,
                LoopId::Reconciler.pass_kind(),
                &summary,
                NOOP,
                now,
            )?;
            Ok((ended, owed))
        })?;
        if ended.is_empty() {
            self.last_noop_record.store(now, Ordering::SeqCst);
        }
        let mut detail: Vec<String> = ended
            .iter()
            .map(|f| format!("{}: ended ({})", f.task.id, f.why))
            .collect();
        if owed > 0 {
            detail.push(format!("{owed} hook delivery(ies) owed"));
        }
        detail.extend(kept);
        Ok(PassResult {
            changed: !ended.is_empty(),
            summary: if ended.is_empty() {
                NOOP.into()
            } else {
                format!("ended={}", ended.len())
            },
            touched: ended
                .iter()
                .map(|f| Touched::Task(f.task.id.clone()))
                .collect(),
            touched_count: ended.len(),
            detail,
            ..PassResult::default()
        })
    }

    fn dry_run(&self, conn: &Connection, path: &Path, _now: i64) -> Result<PassResult> {
        let skip = self
            .cancelling(conn, crate::store::now_unix())
            .map_err(|e| Error::from_sqlite(path, e))?;
        let (found, kept) = survey(conn, self.config.max_per_pass, &skip)
            .map_err(|e| Error::from_sqlite(path, e))?;
        let mut detail: Vec<String> = found
            .iter()
            .map(|f| format!("{}: would end ({})", f.task.id, f.why))
            .collect();
        detail.extend(kept);
        Ok(PassResult {
            summary: if found.is_empty() {
                "would end nothing (no_ended)".into()
            } else {
                format!("would end {} task(s)", found.len())
            },
            touched: found
                .iter()
                .map(|f| Touched::Task(f.task.id.clone()))
                .collect(),
            touched_count: found.len(),
            detail,
            ..PassResult::default()
        })
    }

    /// The Tasks panel asks while it is on screen: the process table is
    /// read then, not on every pass.
    fn observe(&self, read: &Connection, _now: i64) -> Option<super::Observation> {
        let mut probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        match seen::look(read, &mut probe) {
            Ok(rows) => Some(super::Observation::Tasks(rows)),
            Err(e) => {
                tracing::warn!("the Tasks panel's look failed: {e}");
                None
            }
        }
    }

    fn command(&self, cmd: LoopCommand, ctx: &PassCtx<'_>) -> Result<LoopReply> {
        match cmd {
            LoopCommand::Cancel(id) => {
                self.lock_cancelling().insert(id.clone());
                let done = cancel::cancel(&id, &self.config, &self.hooks, ctx);
                self.lock_cancelling().remove(&id);
                done.map(LoopReply::Cancelled)
            }
            other => Err(Error::Refused(format!("the reconciler cannot {other:?}"))),
        }
    }
}
