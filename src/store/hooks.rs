//! `keeper_hook_deliveries`: the completion hooks owed, and how each went.
//! A delivery is owed in the same transaction that ends its task, and the
//! pair (hook, task) is unique, so no race (two engines, a cancel beside
//! the reconciler) can owe one twice. Rows outlive restarts: a pending
//! delivery is sent by whichever engine holds the lease next.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::tasks::TaskRow;
use crate::config::{HookConfig, HookEvent};

const DELIVERIES: &str = "CREATE TABLE IF NOT EXISTS keeper_hook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL,
    hook          TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    event         TEXT NOT NULL,
    body          TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       REAL NOT NULL,
    last_status   INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    claimed_by    TEXT,
    claimed_until REAL,
    UNIQUE (hook, task_id)
);
CREATE INDEX IF NOT EXISTS keeper_hook_deliveries_due
    ON keeper_hook_deliveries(next_at) WHERE state = 'pending';";

pub fn ensure_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(DELIVERIES)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    /// Sent as `X-Keeper-Delivery`, for receivers to drop a repeat.
    pub delivery_id: String,
    pub hook: String,
    pub task_id: String,
    pub event: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_at: f64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip)]
    pub body: String,
}

const COLUMNS: &str = "id, delivery_id, hook, task_id, event, state, attempts, next_at, \
     last_status, last_error, created_at, updated_at, body";

fn delivery(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        delivery_id: r.get(1)?,
        hook: r.get(2)?,
        task_id: r.get(3)?,
        event: r.get(4)?,
        state: DeliveryState::parse(&r.get::<_, String>(5)?),
        attempts: r.get(6)?,
        next_at: r.get(7)?,
        last_status: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        body: r.get(12)?,
    })
}

/// Whether `hook` wants to hear of `task` ending this way.
pub fn wants(hook: &HookConfig, task: &TaskRow, event: HookEvent) -> bool {
    hook.on.contains(&event)
        && hook.role.as_ref().is_none_or(|r| *r == task.role)
        && hook
            .prompt_contains
            .as_ref()
            .is_none_or(|p| task.prompt.contains(p.as_str()))
}

/// Stable per (hook, task, event): a redelivery carries the same id.
fn delivery_id(hook: &str, task: &str, event: HookEvent) -> String {
    // FNV-1a: a name for the hook, not a secret.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in hook.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{task}.{}.{h:016x}", event.name())
}

/// The JSON a hook receives. `task` is the row as ended.
pub fn body(task: &TaskRow, event: HookEvent, delivery_id: &str) -> String {
    let status = match (event, task.return_code) {
        (HookEvent::TaskCancelled | HookEvent::JobCancelled, _) => "cancelled",
        (HookEvent::TaskEnded, Some(0)) | (HookEvent::JobSucceeded, _) => "succeeded",
        (HookEvent::TaskEnded, Some(_)) | (HookEvent::JobFailed, _) => "failed",
        (HookEvent::TaskEnded, None) => "ended",
    };
    serde_json::json!({
        "delivery_id": delivery_id,
        "event": event.name(),
        "task_id": task.id,
        "role": task.role,
        "status": status,
        "return_code": task.return_code,
        "started_at": task.started_at,
        "finished_at": task.ended_at,
        "duration_s": task.ended_at.map(|e| e - task.started_at),
        "cwd": task.cwd,
        "prompt_head": task.prompt.chars().take(200).collect::<String>(),
        "source": "keeper-tui",
    })
    .to_string()
}

/// Owe `task`'s ending to every hook that wants it. Call in the
/// transaction that ended the task. Returns how many were owed.
pub fn owe(
    conn: &Connection,
    hooks: &[HookConfig],
    task: &TaskRow,
    event: HookEvent,
    now: i64,
) -> rusqlite::Result<usize> {
    let mut owed = 0;
    for hook in hooks.iter().filter(|h| wants(h, task, event)) {
        ensure_table(conn)?;
        let id = delivery_id(&hook.url, &task.id, event);
        owed += conn.execute(
            "INSERT OR IGNORE INTO keeper_hook_deliveries \
             (delivery_id, hook, task_id, event, body, state, next_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
            params![
                id,
                hook.url,
                task.id,
                event.name(),
                body(task, event, &id),
                now
            ],
        )?;
    }
    Ok(owed)
}

/// Owe a job run's ending to the hooks its job names (`[[job]] hook`)
/// whose `on` takes the event. Keyed `run:<id>`, so once per hook and run.
/// Call in the transaction that recorded the ending.
pub fn owe_job(
    conn: &Connection,
    hooks: &[HookConfig],
    named: &[String],
    run: &crate::store::jobs::Run,
    event: HookEvent,
    now: i64,
) -> rusqlite::Result<usize> {
    let key = format!("run:{}", run.id);
    let mut owed = 0;
    for hook in hooks
        .iter()
        .filter(|h| named.contains(&h.url) && h.on.contains(&event))
    {
        ensure_table(conn)?;
        let id = delivery_id(&hook.url, &key, event);
        let body = serde_json::json!({
            "delivery_id": id,
            "event": event.name(),
            "job": run.job,
            "run_id": run.id,
            "status": run.state.name(),
            "exit_code": run.exit_code,
            "attempt": run.attempt + 1,
            "started_at": run.started_at,
            "finished_at": run.ended_at,
            "duration_s": run.started_at.zip(run.ended_at).map(|(s, e)| e - s),
            "source": "keeper-tui",
        })
        .to_string();
        owed += conn.execute(
            "INSERT OR IGNORE INTO keeper_hook_deliveries \
             (delivery_id, hook, task_id, event, body, state, next_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
            params![id, hook.url, key, event.name(), body, now],
        )?;
    }
    Ok(owed)
}

/// Pending deliveries due by `now` that nobody is sending, oldest first.
pub fn due(conn: &Connection, now: f64, limit: usize) -> rusqlite::Result<Vec<Delivery>> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keeper_hook_deliveries WHERE state = 'pending' AND next_at <= ?1 \
         AND (claimed_until IS NULL OR claimed_until < ?1) ORDER BY next_at, id LIMIT ?2"
    ))?
    .query_map(params![now, limit as i64], delivery)?
    .collect()
}

/// When the next pending delivery can be taken: when it is due, or when
/// another sender's claim on it runs out if that is later. A delivery
/// claimed by an engine that died is not due again before its claim ends,
/// and saying it is would have the loop look again and again meanwhile.
pub fn next_due(conn: &Connection) -> rusqlite::Result<Option<f64>> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT MIN(MAX(next_at, COALESCE(claimed_until, next_at))) \
         FROM keeper_hook_deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )
}

/// Take `id` for one attempt until `until`; false when another engine has
/// it or it is no longer pending.
pub fn claim(
    conn: &Connection,
    id: i64,
    holder: &str,
    now: f64,
    until: f64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE keeper_hook_deliveries SET claimed_by = ?2, claimed_until = ?4 \
         WHERE id = ?1 AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < ?3)",
        params![id, holder, now, until],
    )?;
    Ok(n == 1)
}

/// What one attempt came to, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Delivered {
        status: u16,
    },
    /// Tried again at `next_at`.
    Retry {
        status: Option<u16>,
        why: String,
        next_at: f64,
    },
    Failed {
        status: Option<u16>,
        why: String,
    },
}

/// Record an attempt and release the claim.
pub fn record(conn: &Connection, id: i64, outcome: &Recorded, now: i64) -> rusqlite::Result<()> {
    let (state, next_at, status, error) = match outcome {
        Recorded::Delivered { status } => ("delivered", None, Some(i64::from(*status)), None),
        Recorded::Retry {
            status,
            why,
            next_at,
        } => (
            "pending",
            Some(*next_at),
            status.map(i64::from),
            Some(why.as_str()),
        ),
        Recorded::Failed { status, why } => {
            ("failed", None, status.map(i64::from), Some(why.as_str()))
        }
    };
    conn.execute(
        "UPDATE keeper_hook_deliveries SET state = ?2, attempts = attempts + 1, \
         next_at = COALESCE(?3, next_at), last_status = ?4, last_error = ?5, updated_at = ?6, \
         claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
        params![id, state, next_at, status, error, now],
    )?;
    Ok(())
}

/// Deliveries, newest first; only `task`'s when given.
pub fn list(
    conn: &Connection,
    task: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Delivery>> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM keeper_hook_deliveries WHERE ?1 IS NULL OR task_id = ?1 \
         ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![task, limit as i64], delivery)?
    .collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Delivery>> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok(None);
    }
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM keeper_hook_deliveries WHERE id = ?1"),
        [id],
        delivery,
    )
    .optional()
}

/// Queue a delivered or failed delivery again, from its first attempt.
/// False when it is already pending (or gone).
pub fn redeliver(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE keeper_hook_deliveries SET state = 'pending', attempts = 0, next_at = ?2, \
         updated_at = ?2, claimed_by = NULL, claimed_until = NULL \
         WHERE id = ?1 AND state != 'pending'",
        params![id, now],
    )?;
    Ok(n == 1)
}

/// (pending, delivered, failed).
pub fn counts(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    if !super::keeper::has_table(conn, "keeper_hook_deliveries")? {
        return Ok((0, 0, 0));
    }
    conn.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'delivered'), 0), \
         COALESCE(SUM(state = 'failed'), 0) FROM keeper_hook_deliveries",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}
