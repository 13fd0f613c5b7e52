//! What a command does, once: the engine (for keys) and the one-shot CLI
//! verbs both call these, so the two front doors cannot drift.

use crate::error::{Error, Result};
use crate::loops::{Loop, PassMode, PassReport};
use crate::store::WriteStore;
use crate::store::keeper::{PassRecord, record_pass};
use crate::store::threads::reopen;

pub const DEFAULT_REOPEN_NOTE: &str = "reopened by the operator from keeper-tui";

/// Reopen a thread the way threadkeeper's `note` does. The message is the
/// status-bar text.
pub fn reopen_thread(
    store: &mut WriteStore,
    id: &str,
    note: Option<&str>,
    now: i64,
) -> Result<String> {
    let content = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_REOPEN_NOTE);
    let layout = store.layout.clone();
    let session = store.session_id.clone();
    let done = store.write(|tx| reopen(tx, &layout, &session, id, content, now))?;
    match done {
        Some(r) if r.previous_state == "active" => Ok(format!(
            "{id} was already active; note #{} added",
            r.note_id
        )),
        Some(r) => Ok(format!(
            "reopened {id} (was {}); note #{} added",
            r.previous_state, r.note_id
        )),
        None => Err(Error::UnknownThread {
            id: id.into(),
            path: store.path.clone(),
        }),
    }
}

/// Run one pass and keep a line of history in `keeper_passes` (dry-runs
/// and passes that wrote nothing leave no trace).
pub fn run_pass(
    lp: &mut dyn Loop,
    store: &mut WriteStore,
    mode: PassMode,
    now: i64,
) -> Result<PassReport> {
    let result = lp.pass(store, mode, now);
    let (ok, summary, wrote) = match &result {
        Ok(r) => (true, r.summary.clone(), r.wrote),
        Err(e) => (false, e.to_string(), mode != PassMode::DryRun),
    };
    if wrote {
        let rec = PassRecord {
            loop_id: lp.id().name().into(),
            mode: mode.name().into(),
            started_at: now,
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
        if let Err(e) = store.with_busy_timeout(patience, |c| record_pass(c, &rec)) {
            tracing::warn!(loop_id = rec.loop_id, error = %e, "could not record pass history");
        }
    }
    result
}
