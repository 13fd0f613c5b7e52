//! keeper's job runs, in `keeper_job_runs`: one row per attempt at a
//! configured job, from queued to an ending. Beside them, `keeper_watched`
//! (transcripts already queued, so a restart does not queue them again) and
//! `keeper_job_fires` (when each scheduled job last fired, so a restart
//! neither fires twice nor misses a slot).
//!
//! Every change of state is a guarded `UPDATE` (`AND state = 'queued'`,
//! `AND state = 'running'`): of two engines, or an operator's cancel beside
//! the runner, exactly one wins and the other sees `false`. Tables are made
//! on first write; readers ask `keeper::has_table` first, so a
//! store keeper only reads never gains them.

use std::collections::BTreeMap;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

const RUNS: &str = "CREATE TABLE IF NOT EXISTS keeper_job_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job             TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    args            TEXT NOT NULL DEFAULT '{}',
    chain           INTEGER,
    after_run       INTEGER,
    reason          TEXT,
    pid             INTEGER,
    pgid            INTEGER,
    proc_started_at INTEGER,
    holder          TEXT,
    exit_code       INTEGER,
    signal          INTEGER,
    queued_at       REAL NOT NULL,
    not_before      REAL NOT NULL,
    started_at      REAL,
    ended_at        REAL,
    log_path        TEXT,
    tail            TEXT,
    detail          TEXT,
    retry_of        INTEGER
);
CREATE INDEX IF NOT EXISTS keeper_job_runs_state ON keeper_job_runs(state, not_before);
CREATE INDEX IF NOT EXISTS keeper_job_runs_after
    ON keeper_job_runs(after_run) WHERE after_run IS NOT NULL;";

const WATCHED: &str = "CREATE TABLE IF NOT EXISTS keeper_watched (
    path         TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    mtime        INTEGER NOT NULL,
    run          INTEGER,
    processed_at INTEGER NOT NULL
)";

const FIRES: &str = "CREATE TABLE IF NOT EXISTS keeper_job_fires (
    job       TEXT PRIMARY KEY,
    last_fire REAL NOT NULL
)";

/// Final runs [`prune`] is usually asked to keep.
pub const RUNS_KEPT: usize = 1000;

fn ensure_runs(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(RUNS)
}

fn has_runs(conn: &Connection) -> rusqlite::Result<bool> {
    super::keeper::has_table(conn, "keeper_job_runs")
}

/// Where a run is. Queued and Running are the live states; every other one
/// is an ending, and a run never leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Never started: a run it waited on did not succeed.
    Skipped,
    TimedOut,
}

impl RunState {
    pub const ALL: [RunState; 7] = [
        RunState::Queued,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelled,
        RunState::Skipped,
        RunState::TimedOut,
    ];

    /// As stored in `keeper_job_runs.state`.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::Skipped => "skipped",
            RunState::TimedOut => "timed_out",
        }
    }

    /// The state [`RunState::name`] names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.name() == s)
    }

    /// An ending: nothing moves the run on from here.
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Queued | RunState::Running)
    }
}

/// Why a run was queued, kept as text for the operator to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Schedule,
    Watcher,
    Operator,
    /// Another attempt at this run, which failed.
    RetryOf(i64),
    /// Queued behind this run, which it waits for.
    After(i64),
}

impl Reason {
    pub fn text(self) -> String {
        match self {
            Reason::Schedule => "schedule".into(),
            Reason::Watcher => "watcher".into(),
            Reason::Operator => "operator".into(),
            Reason::RetryOf(id) => format!("retry of #{id}"),
            Reason::After(id) => format!("after #{id}"),
        }
    }
}

/// The substitutions a run's command is built with (`{path}` → a
/// transcript). Sorted, so equal arguments are equal text and two runs'
/// arguments compare in SQL.
pub type Args = BTreeMap<String, String>;

/// One `keeper_job_runs` row, every column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub job: String,
    pub state: RunState,
    /// 0 for the first try, one more for each retry.
    pub attempt: u32,
    pub args: Args,
    /// The run that began the dependency chain this one is in.
    pub chain: Option<i64>,
    /// The run this one waits for: it starts only once that one succeeded.
    pub after_run: Option<i64>,
    pub reason: Option<String>,
    pub pid: Option<i64>,
    pub pgid: Option<i64>,
    /// The process's start time, so a restarted engine can tell its own
    /// child from another process that later got the same pid.
    pub proc_started_at: Option<i64>,
    /// The engine that started it.
    pub holder: Option<String>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub queued_at: f64,
    /// Not started before this (a retry's backoff).
    pub not_before: f64,
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub log_path: Option<String>,
    /// The last lines of its output.
    pub tail: Option<String>,
    pub detail: Option<String>,
    /// The run this one tries again, if it is a retry.
    pub retry_of: Option<i64>,
}

const COLUMNS: &str = "id, job, state, attempt, args, chain, after_run, reason, pid, pgid, \
     proc_started_at, holder, exit_code, signal, queued_at, not_before, started_at, ended_at, \
     log_path, tail, detail, retry_of";

fn run(r: &Row<'_>) -> rusqlite::Result<Run> {
    let state: String = r.get(2)?;
    let state = RunState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            Type::Text,
            format!("unknown job run state {state:?}").into(),
        )
    })?;
    let args: String = r.get(4)?;
    let args = serde_json::from_str(&args)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, Type::Text, e.into()))?;
    Ok(Run {
        id: r.get(0)?,
        job: r.get(1)?,
        state,
        attempt: r.get(3)?,
        args,
        chain: r.get(5)?,
        after_run: r.get(6)?,
        reason: r.get(7)?,
        pid: r.get(8)?,
        pgid: r.get(9)?,
        proc_started_at: r.get(10)?,
        holder: r.get(11)?,
        exit_code: r.get(12)?,
        signal: r.get(13)?,
        queued_at: r.get(14)?,
        not_before: r.get(15)?,
        started_at: r.get(16)?,
        ended_at: r.get(17)?,
        log_path: r.get(18)?,
        tail: r.get(19)?,
        detail: r.get(20)?,
        retry_of: r.get(21)?,
    })
}

fn args_text(args: &Args) -> String {
    // A map of strings always serializes.
    serde_json::to_string(args).unwrap_or_else(|_| "{}".into())
}

/// Queue a run of `job`, startable from `now`. One statement: safe outside
/// a transaction.
pub fn queue(
    conn: &Connection,
    job: &str,
    args: &Args,
    reason: Reason,
    chain: Option<i64>,
    after_run: Option<i64>,
    now: f64,
) -> rusqlite::Result<i64> {
    ensure_runs(conn)?;
    let retry_of = match reason {
        Reason::RetryOf(id) => Some(id),
        _ => None,
    };
    conn.execute(
        "INSERT INTO keeper_job_runs (job, state, args, chain, after_run, reason, queued_at, \
         not_before, retry_of) VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            job,
            args_text(args),
            chain,
            after_run,
            reason.text(),
            now,
            retry_of
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Queue a run of `job` unless one with the same arguments is queued or
/// running already; `None` when one is. A running one counts too: a pass
/// that saw only running runs would queue the same work again while the
/// first still waits. The check and the insert are one statement, so two
/// writers cannot both queue.
pub fn queue_unless_pending(
    conn: &Connection,
    job: &str,
    args: &Args,
    reason: Reason,
    chain: Option<i64>,
    after_run: Option<i64>,
    now: f64,
) -> rusqlite::Result<Option<i64>> {
    ensure_runs(conn)?;
    let n = conn.execute(
        "INSERT INTO keeper_job_runs (job, state, args, chain, after_run, reason, queued_at, \
         not_before) SELECT ?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?6 WHERE NOT EXISTS \
         (SELECT 1 FROM keeper_job_runs WHERE job = ?1 AND args = ?2 \
          AND state IN ('queued', 'running'))",
        params![job, args_text(args), chain, after_run, reason.text(), now],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// Queued runs that may start now: past their backoff, and the run they
/// wait for (if any) has succeeded. Oldest first. Starting one is
/// [`mark_running`], which a second engine then loses.
pub fn startable(conn: &Connection, now: f64, limit: usize) -> rusqlite::Result<Vec<Run>> {
    if !has_runs(conn)? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keeper_job_runs r WHERE state = 'queued' AND not_before <= ?1 \
         AND (after_run IS NULL OR EXISTS (SELECT 1 FROM keeper_job_runs a \
              WHERE a.id = r.after_run AND a.state = 'succeeded')) \
         ORDER BY queued_at, id LIMIT ?2"
    ))?
    .query_map(params![now, limit as i64], run)?
    .collect()
}

/// Skip every queued run waiting on `run_id`, directly or through another
/// waiting run, naming `run_id` and how it ended. Only a run that ended
/// without succeeding has its dependants skipped; otherwise nothing
/// changes. Call in the transaction that ended `run_id` (and decided not
/// to retry it), or a crash between the two leaves dependants queued
/// behind a run that will never succeed. Returns the skipped ids.
pub fn skip_dependants(conn: &Connection, run_id: i64, now: f64) -> rusqlite::Result<Vec<i64>> {
    let Some(root) = get(conn, run_id)? else {
        return Ok(Vec::new());
    };
    if !root.state.is_final() || root.state == RunState::Succeeded {
        return Ok(Vec::new());
    }
    let detail = format!("#{} ({}) {}", root.id, root.job, root.state.name());
    let mut ids = conn
        .prepare(
            "UPDATE keeper_job_runs SET state = 'skipped', ended_at = ?2, detail = ?3 \
             WHERE state = 'queued' AND id IN (WITH RECURSIVE waiting(id) AS ( \
                 SELECT id FROM keeper_job_runs WHERE after_run = ?1 AND state = 'queued' \
                 UNION SELECT r.id FROM keeper_job_runs r JOIN waiting w ON r.after_run = w.id \
                 WHERE r.state = 'queued') SELECT id FROM waiting) RETURNING id",
        )?
        .query_map(params![run_id, now, detail], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// The process a started run is, as [`mark_running`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned<'a> {
    /// The engine running it.
    pub holder: &'a str,
    pub pid: i64,
    pub pgid: i64,
    pub proc_started_at: Option<i64>,
    pub log_path: Option<&'a str>,
}

/// Record `id` as started. False when it is no longer queued (cancelled,
/// or started by another engine): the caller then ends the process it
/// spawned, since the run is not its to run.
pub fn mark_running(
    conn: &Connection,
    id: i64,
    proc: &Spawned<'_>,
    now: f64,
) -> rusqlite::Result<bool> {
    if !has_runs(conn)? {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE keeper_job_runs SET state = 'running', holder = ?2, pid = ?3, pgid = ?4, \
         proc_started_at = ?5, log_path = ?6, started_at = ?7 WHERE id = ?1 AND state = 'queued'",
        params![
            id,
            proc.holder,
            proc.pid,
            proc.pgid,
            proc.proc_started_at,
            proc.log_path,
            now
        ],
    )?;
    Ok(n == 1)
}

/// How a running run ended, as [`finish`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending<'a> {
    /// A final state; [`finish`] refuses Queued and Running.
    pub state: RunState,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub tail: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// End a running run. False when it is not running (already ended by
/// another writer, or never started) or `ending.state` is not final: only
/// the writer that got true owes the follow-ups ([`requeue_for_retry`] or
/// [`skip_dependants`]), which belong in the same transaction.
pub fn finish(conn: &Connection, id: i64, ending: &Ending<'_>, now: f64) -> rusqlite::Result<bool> {
    if !ending.state.is_final() || !has_runs(conn)? {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE keeper_job_runs SET state = ?2, exit_code = ?3, signal = ?4, tail = ?5, \
         detail = ?6, ended_at = ?7 WHERE id = ?1 AND state = 'running'",
        params![
            id,
            ending.state.name(),
            ending.exit_code,
            ending.signal,
            ending.tail,
            ending.detail,
            now
        ],
    )?;
    Ok(n == 1)
}

/// End a run that never started (an operator's cancel). False when it is
/// not queued any more; a running run is ended with [`finish`] once its
/// process is gone.
pub fn cancel_queued(
    conn: &Connection,
    id: i64,
    detail: Option<&str>,
    now: f64,
) -> rusqlite::Result<bool> {
    if !has_runs(conn)? {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE keeper_job_runs SET state = 'cancelled', detail = ?2, ended_at = ?3 \
         WHERE id = ?1 AND state = 'queued'",
        params![id, detail, now],
    )?;
    Ok(n == 1)
}

/// Queue the next attempt at the ended run `id`: same job, arguments,
/// chain and predecessor, one more attempt, not before `not_before`. Runs
/// queued behind `id` now wait for the new attempt instead. `None` when
/// `id` is gone or has not ended. Call in the transaction whose [`finish`]
/// of `id` returned true, so only one writer retries it.
pub fn requeue_for_retry(
    conn: &Connection,
    id: i64,
    not_before: f64,
    now: f64,
) -> rusqlite::Result<Option<i64>> {
    let Some(old) = get(conn, id)? else {
        return Ok(None);
    };
    if !old.state.is_final() {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO keeper_job_runs (job, state, attempt, args, chain, after_run, reason, \
         queued_at, not_before, retry_of) SELECT job, 'queued', attempt + 1, args, chain, \
         after_run, ?2, ?3, ?4, ?1 FROM keeper_job_runs WHERE id = ?1",
        params![id, Reason::RetryOf(id).text(), now, not_before],
    )?;
    let new = conn.last_insert_rowid();
    conn.execute(
        "UPDATE keeper_job_runs SET after_run = ?2 WHERE after_run = ?1 AND state = 'queued'",
        params![id, new],
    )?;
    Ok(Some(new))
}

/// Running runs, longest running first: what a restarted engine adopts or
/// ends.
pub fn running(conn: &Connection) -> rusqlite::Result<Vec<Run>> {
    if !has_runs(conn)? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keeper_job_runs WHERE state = 'running' ORDER BY started_at, id"
    ))?
    .query_map([], run)?
    .collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Run>> {
    if !has_runs(conn)? {
        return Ok(None);
    }
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM keeper_job_runs WHERE id = ?1"),
        [id],
        run,
    )
    .optional()
}

/// What an operator looks at: running runs, then queued ones (oldest
/// first, the order they start in), then history newest first.
pub fn list(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Run>> {
    if !has_runs(conn)? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keeper_job_runs ORDER BY \
         CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, \
         CASE WHEN state IN ('running', 'queued') THEN id ELSE -id END LIMIT ?1"
    ))?
    .query_map([limit as i64], run)?
    .collect()
}

/// Delete all but the newest `keep` ended runs ([`RUNS_KEPT`] as a rule).
/// Queued and running runs stay, and so does any run a queued one still
/// waits for, or that run could never start. Returns how many went.
pub fn prune(conn: &Connection, keep: usize) -> rusqlite::Result<usize> {
    if !has_runs(conn)? {
        return Ok(0);
    }
    conn.execute(
        "DELETE FROM keeper_job_runs WHERE state NOT IN ('queued', 'running') \
         AND id NOT IN (SELECT after_run FROM keeper_job_runs \
                        WHERE state = 'queued' AND after_run IS NOT NULL) \
         AND id NOT IN (SELECT id FROM keeper_job_runs WHERE state NOT IN ('queued', 'running') \
                        ORDER BY id DESC LIMIT ?1)",
        [keep as i64],
    )
}

/// `(size, mtime)` of `path` when it was last queued; a file whose size
/// or mtime differs since has changed and is new again.
pub fn watched(conn: &Connection, path: &str) -> rusqlite::Result<Option<(u64, i64)>> {
    if !super::keeper::has_table(conn, "keeper_watched")? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT size, mtime FROM keeper_watched WHERE path = ?1",
        [path],
        |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?)),
    )
    .optional()
}

/// Record `path` as queued (as `run`, if it was) at this size and mtime,
/// replacing what was known of it. Call in the transaction that queued the
/// run, so a crash cannot leave a run queued and its file still new.
pub fn remember_watched(
    conn: &Connection,
    path: &str,
    size: u64,
    mtime: i64,
    run: Option<i64>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute_batch(WATCHED)?;
    conn.execute(
        "INSERT INTO keeper_watched (path, size, mtime, run, processed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(path) DO UPDATE SET size = excluded.size, \
         mtime = excluded.mtime, run = excluded.run, processed_at = excluded.processed_at",
        params![
            path,
            i64::try_from(size).unwrap_or(i64::MAX),
            mtime,
            run,
            now
        ],
    )?;
    Ok(())
}

/// When scheduled `job` last fired; `None` if never.
pub fn last_fire(conn: &Connection, job: &str) -> rusqlite::Result<Option<f64>> {
    if !super::keeper::has_table(conn, "keeper_job_fires")? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT last_fire FROM keeper_job_fires WHERE job = ?1",
        [job],
        |r| r.get(0),
    )
    .optional()
}

/// Record that `job` fired at `at`. Only ever moves forward: false when it
/// had already fired at `at` or later, so of two writers firing the same
/// slot only one gets true. Call in the transaction that queues the run.
pub fn set_last_fire(conn: &Connection, job: &str, at: f64) -> rusqlite::Result<bool> {
    conn.execute_batch(FIRES)?;
    let n = conn.execute(
        "INSERT INTO keeper_job_fires (job, last_fire) VALUES (?1, ?2) \
         ON CONFLICT(job) DO UPDATE SET last_fire = excluded.last_fire \
         WHERE excluded.last_fire > keeper_job_fires.last_fire",
        params![job, at],
    )?;
    Ok(n == 1)
}
