//! What an actor's jobs share (its loop, context and connections), and
//! the passes and commands they run on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::LoopCtx;
use crate::engine::hub::Event;
use crate::engine::jobs::{ReadPool, guarded};
use crate::engine::{EngineError, Outcome, Reply};
use crate::loops::{Allowed, Loop, LoopCommand, LoopId, PassCtx, PassMode, PassResult};
use crate::store::now_unix;

/// What the actor's jobs share: the loop, its context, its connections.
pub(super) struct Shared {
    pub(super) lp: Arc<dyn Loop>,
    pub(super) ctx: LoopCtx,
    pub(super) pool: Arc<ReadPool>,
}

/// A finished pass, with the waiters it answers.
pub(super) struct PassDone {
    pub(super) mode: PassMode,
    pub(super) started_at: i64,
    pub(super) result: Result<PassResult, EngineError>,
    pub(super) waiters: Vec<oneshot::Sender<Reply>>,
}

pub(super) enum JobDone {
    /// A watched file changed: the loop's answer to "when do you look?".
    Look(Option<Duration>),
    Answered,
    /// An operator's command ran; some loops act on it at their next pass.
    Commanded,
}

impl Shared {
    pub(super) fn id(&self) -> LoopId {
        self.lp.id()
    }

    /// Run `f` with a pass context on a pooled read connection.
    pub(super) fn with_ctx<T>(
        &self,
        what: &str,
        mode: PassMode,
        first: bool,
        allowed: Allowed,
        f: impl FnOnce(&PassCtx<'_>) -> crate::error::Result<T>,
    ) -> Result<T, EngineError> {
        let Some(store) = self.ctx.writer.as_deref() else {
            return Err(EngineError::ReadOnly(what.to_string()));
        };
        guarded(what, || {
            self.pool
                .with(|read| {
                    f(&PassCtx {
                        read: &read.conn,
                        store,
                        mode,
                        now: now_unix(),
                        first,
                        stopping: &self.ctx.stopping,
                        allowed,
                    })
                })
                .and_then(|r| r)
                .map_err(|e| EngineError::from_error(what, e))
        })
    }

    pub(super) fn pass(
        &self,
        mode: PassMode,
        first: bool,
        allowed: Allowed,
    ) -> Result<PassResult, EngineError> {
        let what = format!("{} pass", self.id());
        let started = now_unix();
        let result = self.with_ctx(&what, mode, first, allowed, |ctx| self.lp.pass(ctx));
        if let Some(store) = self.ctx.writer.as_deref() {
            match &result {
                Err(EngineError::ShuttingDown(_)) => {}
                r => crate::actions::record_history(
                    store,
                    self.lp.as_ref(),
                    mode,
                    started,
                    r.as_ref().map_err(ToString::to_string),
                ),
            }
        }
        self.observe();
        result
    }

    pub(super) fn dry_run(&self) -> Reply {
        let id = self.id();
        let what = format!("{id} dry-run");
        guarded(&what, || {
            self.pool
                .with(|read| self.lp.dry_run(&read.conn, &read.path, now_unix()))
                .and_then(|r| r)
                .map(|result| Outcome::DryRun { id, result })
                .map_err(|e| EngineError::from_error(&what, e))
        })
    }

    pub(super) fn command(&self, cmd: LoopCommand) -> Reply {
        let what = format!("{} {cmd:?}", self.id());
        // A command names its items, each confirmed by the operator.
        let answer = self.with_ctx(&what, PassMode::Forced, false, Allowed::Any, |ctx| {
            self.lp.command(cmd, ctx)
        });
        self.ctx.events.send(Event::Wrote);
        self.observe();
        answer.map(Outcome::Loop)
    }

    pub(super) fn observe(&self) {
        let seen = guarded("a look", || {
            self.pool
                .with(|read| self.lp.observe(&read.conn, now_unix()))
                .map_err(|e| EngineError::from_error("a look", e))
        });
        match seen {
            Ok(Some(o)) => self.ctx.events.send(Event::Observed(o)),
            Ok(None) => {}
            Err(e) => self.trouble(&e),
        }
    }

    pub(super) fn look(&self) -> Option<Duration> {
        let change = guarded("a look", || {
            self.pool
                .with(|read| self.lp.on_change(&read.conn, now_unix()))
                .map_err(|e| EngineError::from_error("a look", e))
        });
        match change {
            Ok(c) => {
                if let Some(o) = c.seen {
                    self.ctx.events.send(Event::Observed(o));
                }
                c.look_in
            }
            Err(e) => {
                self.trouble(&e);
                None
            }
        }
    }

    /// A look that failed: a bug goes to the Log; an unreadable store is
    /// already said there by the view.
    pub(super) fn trouble(&self, e: &EngineError) {
        if matches!(e, EngineError::Panicked { .. }) {
            self.ctx.events.notice(true, format!("{}: {e}", self.id()));
        } else {
            tracing::debug!("{}: {e}", self.id());
        }
    }
}
