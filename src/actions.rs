//! What a command does, once: the engine (for keys) and the one-shot CLI
//! verbs both call these, so the two front doors cannot drift.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};
use crate::loops::{Allowed, Loop, PassCtx, PassMode, PassResult};
use crate::store::keeper::{PassRecord, record_pass};
use crate::store::threads::{Reopened, reopen};
use crate::store::undo::{Undone, undo_pass as undo_pass_in};
use crate::store::{ReadStore, WriteStore};

pub const DEFAULT_REOPEN_NOTE: &str = "reopened by the operator from keeper-tui";

/// Reopen a thread the way threadkeeper's `note` does.
pub fn reopen_thread(
    store: &WriteStore,
    id: &str,
    note: Option<&str>,
    now: i64,
) -> Result<Reopened> {
    let content = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_REOPEN_NOTE);
    let layout = store.layout();
    let session = store.session_id.clone();
    let done = store
        .write(|tx| reopen(tx, &layout, &session, id, content, now))?
        .ok_or_else(|| Error::UnknownThread {
            id: id.into(),
            path: store.path.clone(),
        })?;
    if done.note_id == 0 {
        return Err(Error::Refused(done.to_string()));
    }
    Ok(done)
}

/// Take janitor pass `pass` back (see `store::undo`).
pub fn undo_pass(store: &WriteStore, pass: i64, now: i64) -> Result<Undone> {
    let layout = store.layout();
    let session = store.session_id.clone();
    store
        .write(|tx| undo_pass_in(tx, &layout, &session, pass, now))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "no janitor pass #{pass} to undo: `keeper-tui undo` lists the passes that can be taken back"
            ))
        })
}

/// Queue hook deliveries `ids` again; refused when none of them could be
/// (each is still pending, or gone).
pub fn redeliver(store: &WriteStore, ids: &[i64], now: i64) -> Result<Vec<i64>> {
    let queued = store.write(|tx| {
        let mut queued = Vec::new();
        for &id in ids {
            if crate::store::hooks::redeliver(tx, id, now)? {
                queued.push(id);
            }
        }
        Ok(queued)
    })?;
    if queued.is_empty() {
        return Err(Error::Refused(
            "nothing to redeliver: those deliveries are still pending".into(),
        ));
    }
    Ok(queued)
}

/// Keep a line of history in `keeper_passes` for a pass that changed
/// something or failed; quiet passes leave no trace.
pub fn record_history(
    store: &WriteStore,
    lp: &dyn Loop,
    mode: PassMode,
    started_at: i64,
    result: std::result::Result<&PassResult, String>,
) {
    let (ok, summary) = match result {
        // The history names what the pass touched, as the Log does.
        Ok(r) if r.changed => (true, r.with_trail()),
        Ok(_) => return,
        Err(e) => (false, e),
    };
    let rec = PassRecord {
        loop_id: lp.id().name().into(),
        mode: mode.name().into(),
        started_at,
        finished_at: crate::store::now_unix(),
        ok,
        summary,
    };
    // A pass that failed may have failed because another process holds
    // the write lock: its history line must not wait for it again.
    let patience = if ok {
        None
    } else {
        Some(std::time::Duration::ZERO)
    };
    if let Err(e) = store.with_conn(patience, |c| record_pass(c, &rec)) {
        tracing::warn!(loop_id = rec.loop_id, error = %e, "could not record pass history");
    }
}

/// Run `f` with a pass context outside the engine (the CLI verbs): a read
/// connection to plan from, the writer to record with.
pub fn with_ctx<T>(
    db: &Path,
    store: &WriteStore,
    mode: PassMode,
    now: i64,
    f: impl FnOnce(&PassCtx<'_>) -> Result<T>,
) -> Result<T> {
    with_ctx_allowed(db, store, mode, Allowed::default(), now, f)
}

/// [`with_ctx`] with how much the pass may change spelled out.
pub fn with_ctx_allowed<T>(
    db: &Path,
    store: &WriteStore,
    mode: PassMode,
    allowed: Allowed,
    now: i64,
    f: impl FnOnce(&PassCtx<'_>) -> Result<T>,
) -> Result<T> {
    let read = ReadStore::open(db)?;
    let stopping = AtomicBool::new(false);
    f(&PassCtx {
        read: &read.conn,
        store,
        mode,
        now,
        first: false,
        stopping: &stopping,
        allowed,
    })
}

/// One pass outside the engine (the `pass` verb), with its history line.
pub fn run_pass(
    lp: &dyn Loop,
    db: &Path,
    store: &WriteStore,
    mode: PassMode,
    now: i64,
) -> Result<PassResult> {
    // A scheduled pass keeps to the loop's limit; a forced one here is
    // one the caller has already agreed to.
    let allowed = if mode == PassMode::Scheduled {
        Allowed::Configured
    } else {
        Allowed::Any
    };
    run_pass_allowed(lp, db, store, mode, allowed, now)
}

/// [`run_pass`] with how much the pass may change spelled out.
pub fn run_pass_allowed(
    lp: &dyn Loop,
    db: &Path,
    store: &WriteStore,
    mode: PassMode,
    allowed: Allowed,
    now: i64,
) -> Result<PassResult> {
    let result = with_ctx_allowed(db, store, mode, allowed, now, |ctx| lp.pass(ctx));
    if mode != PassMode::DryRun {
        record_history(
            store,
            lp,
            mode,
            now,
            result.as_ref().map_err(ToString::to_string),
        );
    }
    result
}
