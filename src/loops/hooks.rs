//! The hooks loop: sends the completion hooks the store says are owed.
//! Deliveries are claimed in the store before they are sent (so two
//! keeper-tuis never send one at once), sent a few at a time, and their
//! outcome recorded in one write per batch. A failed attempt waits its
//! backoff; the loop wakes for the earliest one due, and when the store
//! changes (a task ended elsewhere owes one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt as _;
use rusqlite::Connection;

use super::{Change, Loop, LoopId, PassCtx, PassMode, PassResult, Touched};
use crate::config::HookConfig;
use crate::error::{Error, Result};
use crate::hooks::send::{Attempt, Request, backoff, post};
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::hooks::{Delivery, Recorded, claim, due, next_due, record};
use crate::store::keeper::LeaseHolder;
use crate::sys::process::now_precise;

/// Deliveries taken per pass; the next pass follows at once.
const BATCH: usize = 64;
/// Sent at once.
const AT_ONCE: usize = 8;
/// While hooks are configured and nothing is due, a look this often (a
/// store change or a retry's moment wakes it sooner).
const INTERVAL: Duration = Duration::from_secs(60);

pub struct HookSender {
    pub hooks: Vec<HookConfig>,
    db: PathBuf,
}

impl HookSender {
    pub fn new(hooks: Vec<HookConfig>, db: &Path) -> Self {
        HookSender {
            hooks,
            db: db.to_path_buf(),
        }
    }

    fn hook(&self, url: &str) -> Option<&HookConfig> {
        self.hooks.iter().find(|h| h.url == url)
    }

    /// One attempt at `d`, as recorded.
    async fn attempt(&self, d: &Delivery) -> Recorded {
        let Some(hook) = self.hook(&d.hook) else {
            return Recorded::Failed {
                status: None,
                why: "no [[hook]] has this url in the config any more: nothing sent".into(),
            };
        };
        let secret = match &hook.secret_env {
            None => None,
            Some(name) => match std::env::var(name) {
                Ok(s) if !s.is_empty() => Some(s),
                _ => {
                    return Recorded::Failed {
                        status: None,
                        why: format!(
                            "secret_env {name} is not set in keeper-tui's environment: nothing sent unsigned"
                        ),
                    };
                }
            },
        };
        let attempt = post(&Request {
            url: &hook.url,
            body: d.body.as_bytes(),
            delivery_id: &d.delivery_id,
            secret: secret.as_deref().map(str::as_bytes),
            allow_private: hook.allow_private,
            timeout: hook.timeout(),
        })
        .await;
        let made = d.attempts + 1;
        match attempt {
            Attempt::Delivered { status } => Recorded::Delivered { status },
            Attempt::Permanent { status, why } => Recorded::Failed { status, why },
            Attempt::Retry { status, why } if made >= hook.max_attempts => Recorded::Failed {
                status,
                why: format!("gave up after {made} attempt(s): {why}"),
            },
            Attempt::Retry { status, why } => Recorded::Retry {
                status,
                why,
                next_at: now_precise() + backoff(made).as_secs_f64(),
            },
        }
    }
}

/// The host of a hook's URL, for the Log: the path may carry a token.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Where a pass's attempts run: the engine's runtime when the pass runs
/// on its blocking pool, else (the `pass` verb, a test) one of its own.
enum Sender {
    Engine(tokio::runtime::Handle),
    Own(tokio::runtime::Runtime),
}

impl Sender {
    fn here() -> Result<Self> {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return Ok(Sender::Engine(handle));
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(Sender::Own)
            .map_err(|e| Error::Io(format!("hooks: no async runtime to send with: {e}")))
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Sender::Engine(handle) => handle.block_on(f),
            Sender::Own(rt) => rt.block_on(f),
        }
    }
}

/// The wait until `next`, as a pass's `stale_in`: the next retry is
/// reconsidered on every store change (`on_change` answers from the same
/// `next_due`), so a delivery owed meanwhile is sent at once instead of
/// waiting behind another's backoff, as a firm `next_look` would make it.
fn wait_for(next: Option<f64>) -> Option<Duration> {
    next.map(|at| Duration::from_secs_f64((at - now_precise()).max(0.0)))
}

impl Loop for HookSender {
    fn id(&self) -> LoopId {
        LoopId::Hooks
    }

    fn interval(&self) -> Option<Duration> {
        (!self.hooks.is_empty()).then_some(INTERVAL)
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        if self.hooks.is_empty() {
            return Vec::new();
        }
        let mut wal = self.db.clone().into_os_string();
        wal.push("-wal");
        vec![self.db.clone(), PathBuf::from(wal)]
    }

    fn on_change(&self, read: &Connection, _now: i64) -> Change {
        Change {
            look_in: next_due(read)
                .ok()
                .flatten()
                .and_then(|n| wait_for(Some(n))),
            seen: None,
        }
    }

    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        if ctx.mode == PassMode::DryRun {
            return self.dry_run(ctx.read, &ctx.store.path, ctx.now);
        }
        let path = &ctx.store.path;
        let sql = |e| Error::from_sqlite(path, e);
        let now = now_precise();
        let found = due(ctx.read, now, BATCH).map_err(sql)?;
        if found.is_empty() || ctx.stopping() {
            return Ok(PassResult {
                summary: "nothing due".into(),
                stale_in: wait_for(next_due(ctx.read).map_err(sql)?),
                ..PassResult::default()
            });
        }
        // Before anything is claimed: a claim with nothing to send it
        // would keep the delivery from every engine until it ran out.
        let sender = Sender::here()?;
        let me = LeaseHolder::this_process();
        // Claimed for longer than the whole batch could take: `AT_ONCE`
        // at a time, each within the slowest timeout (plus time to resolve
        // the name and record).
        let slowest = self
            .hooks
            .iter()
            .map(|h| h.timeout_secs)
            .max()
            .unwrap_or(10) as f64;
        let rounds = found.len().div_ceil(AT_ONCE) as f64;
        let until = now + rounds * (slowest + 5.0) + 30.0;
        let mine: Vec<Delivery> = ctx.store.write(|tx| {
            let mut mine = Vec::new();
            for d in found {
                if claim(tx, d.id, &me.id, now, until)? {
                    mine.push(d);
                }
            }
            Ok(mine)
        })?;
        let outcomes: Vec<(Delivery, Recorded)> = sender.block_on(
            futures_util::stream::iter(mine)
                .map(|d| async move {
                    let r = self.attempt(&d).await;
                    (d, r)
                })
                .buffer_unordered(AT_ONCE)
                .collect(),
        );
        let session = ctx.store.session_id.clone();
        let when = ctx.now;
        let (mut delivered, mut failed, mut retrying) = (0, 0, 0);
        let mut detail = Vec::new();
        ctx.store.write(|tx| {
            for (d, r) in &outcomes {
                record(tx, d.id, r, when)?;
                let attempts = d.attempts + 1;
                let line = match r {
                    Recorded::Delivered { status } => {
                        delivered += 1;
                        let text = format!("{} → {status} (attempt {attempts})", host(&d.hook));
                        insert_event(
                            tx,
                            &session,
                            "hook_delivered",
                            Some(&d.task_id),
                            &text,
                            when,
                        )?;
                        text
                    }
                    Recorded::Failed { why, .. } => {
                        failed += 1;
                        let text = format!("{}: failed: {why}", host(&d.hook));
                        insert_event(tx, &session, "hook_failed", Some(&d.task_id), &text, when)?;
                        text
                    }
                    Recorded::Retry { why, .. } => {
                        retrying += 1;
                        format!("{}: attempt {attempts}: {why}; will retry", host(&d.hook))
                    }
                };
                detail.push(format!("#{} {} {}: {line}", d.id, d.task_id, d.event));
            }
            let summary = format!("delivered={delivered} failed={failed} retrying={retrying}");
            record_loop_pass(tx, &session, LoopId::Hooks.pass_kind(), &summary, "", when)
        })?;
        let summary = format!("delivered={delivered} failed={failed} retrying={retrying}");
        Ok(PassResult {
            changed: true,
            summary,
            touched: outcomes
                .iter()
                .map(|(d, _)| Touched::Delivery(d.id))
                .collect(),
            touched_count: outcomes.len(),
            detail,
            stale_in: wait_for(next_due(ctx.read).map_err(sql)?),
            ..PassResult::default()
        })
    }

    fn dry_run(&self, conn: &Connection, path: &Path, _now: i64) -> Result<PassResult> {
        let found = due(conn, now_precise(), BATCH).map_err(|e| Error::from_sqlite(path, e))?;
        Ok(PassResult {
            summary: if found.is_empty() {
                "would deliver nothing (nothing due)".into()
            } else {
                format!("would deliver {} hook(s)", found.len())
            },
            detail: found
                .iter()
                .map(|d| format!("#{} {} {} to {}", d.id, d.task_id, d.event, host(&d.hook)))
                .collect(),
            touched: found.iter().map(|d| Touched::Delivery(d.id)).collect(),
            touched_count: found.len(),
            ..PassResult::default()
        })
    }
}
