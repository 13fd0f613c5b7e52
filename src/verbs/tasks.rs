//! The tasks verbs: `tasks`, `cancel`, `hooks`.

use std::process::ExitCode;

use serde::Serialize;

use super::{out, out_exact};
use crate::actions;
use crate::cli::{CancelArgs, HooksArgs, HooksVerb, TasksArgs};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::loops::reconciler::{Reconciler, refusal};
use crate::loops::{Loop, LoopCommand, LoopReply, PassMode};
use crate::report::fmt_age;
use crate::store::hooks::{self, Delivery};
use crate::store::tasks::{self, TaskRow};
use crate::store::{ReadStore, WriteStore, now_unix};
use crate::sys::task::{TaskProcess, judge};

/// A task with what its PID names now.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub row: TaskRow,
    /// live, gone, unknown, visible, or ended.
    pub process: &'static str,
}

pub fn view(row: TaskRow) -> TaskView {
    let process = if !row.running() {
        "ended"
    } else if row.visible() {
        "visible"
    } else {
        judge(row.pid, row.started_at).word()
    };
    TaskView { row, process }
}

fn table(rows: &[TaskView], now: i64) -> String {
    let mut lines = vec![format!(
        "{:<14} {:<20} {:>8} {:<7} {:>6} {:>5}  {:<24} PROMPT",
        "ID", "ROLE", "PID", "PROCESS", "AGE", "RC", "CWD"
    )];
    for t in rows {
        let r = &t.row;
        let age = match r.ended_at {
            Some(e) => fmt_age(e - r.started_at),
            None => fmt_age(now - r.started_at),
        };
        lines.push(format!(
            "{:<14} {:<20} {:>8} {:<7} {:>6} {:>5}  {:<24} {}",
            crate::ui::panels::clip(&r.id, 14),
            crate::ui::panels::clip(if r.role.is_empty() { "—" } else { &r.role }, 20),
            r.pid,
            t.process,
            age,
            r.return_code.map_or_else(|| "—".into(), |c| c.to_string()),
            crate::ui::panels::clip(&r.cwd, 24),
            r.prompt_head(60)
        ));
    }
    if rows.is_empty() {
        lines.push("(no tasks)".into());
    }
    lines.join("\n")
}

pub fn tasks(settings: &Settings, a: &TasksArgs) -> Result<ExitCode> {
    let read = ReadStore::open(&settings.db_path)?;
    let (rows, bad) =
        tasks::list_checked(&read.conn, a.ended).map_err(|e| Error::from_sqlite(&read.path, e))?;
    let rows: Vec<TaskView> = rows.into_iter().map(view).collect();
    // On stderr, so `--json` stays one JSON array.
    for (id, e) in &bad {
        let line = format!(
            "keeper-tui: task {} left out, its row cannot be read: {e}",
            id.as_deref().unwrap_or("(unreadable id)")
        );
        eprintln!("{}", crate::text::printable(&line));
    }
    if a.json {
        return out_exact(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    }
    out(&table(&rows, now_unix()))
}

pub fn cancel(settings: &Settings, a: &CancelArgs) -> Result<ExitCode> {
    let db = &settings.db_path;
    if settings.config.read_only {
        return Err(Error::Refused(
            "read-only: [engine].read_only is set, so nothing is cancelled".into(),
        ));
    }
    let read = ReadStore::open(db)?;
    let task = tasks::get(&read.conn, &a.task)
        .map_err(|e| Error::from_sqlite(&read.path, e))?
        .ok_or_else(|| {
            Error::Usage(format!(
                "no task {:?} in {}: `keeper-tui tasks` lists them",
                a.task,
                read.path.display()
            ))
        })?;
    let process = judge(task.pid, task.started_at);
    if let Some(why) = refusal(&task, &process) {
        return Err(Error::Refused(why));
    }
    if !a.yes {
        let what = match process {
            TaskProcess::Gone => format!(
                "pid {} is already gone: its row would be ended as the reconciler ends it",
                task.pid
            ),
            _ => format!(
                "would send SIGTERM to pid {} and its process group, then SIGKILL after {} s if it is still alive",
                task.pid, settings.config.tasks.cancel_grace_secs
            ),
        };
        return Err(Error::Refused(format!(
            "{}: {what}; run `keeper-tui cancel {} --yes` to go ahead",
            task.id, task.id
        )));
    }
    let store = WriteStore::open_existing(db, &settings.config.session_id)?;
    let rec = Reconciler::new(settings.config.tasks.clone(), settings.config.hooks.clone());
    let reply = actions::with_ctx(db, &store, PassMode::Forced, now_unix(), |ctx| {
        rec.command(LoopCommand::Cancel(task.id.clone()), ctx)
    })?;
    match reply {
        LoopReply::Cancelled(c) if c.ended || c.already_gone => out(&c.to_string()),
        other => Err(Error::Refused(other.to_string())),
    }
}

fn deliveries_table(rows: &[Delivery], now: i64) -> String {
    let mut lines = vec![format!(
        "{:>5}  {:<14} {:<15} {:<9} {:>3}  {:>6}  {:<28} LAST",
        "#", "TASK", "EVENT", "STATE", "TRY", "AGO", "HOOK"
    )];
    for d in rows {
        let last = match (&d.last_status, &d.last_error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => format!("HTTP {s}"),
            (None, None) => "—".into(),
        };
        lines.push(format!(
            "{:>5}  {:<14} {:<15} {:<9} {:>3}  {:>6}  {:<28} {}",
            d.id,
            crate::ui::panels::clip(&d.task_id, 14),
            d.event,
            d.state.name(),
            d.attempts,
            fmt_age(now - d.updated_at),
            crate::ui::panels::clip(&d.hook, 28),
            last
        ));
    }
    if rows.is_empty() {
        lines.push("(no deliveries)".into());
    }
    lines.join("\n")
}

pub fn hooks(settings: &Settings, a: &HooksArgs) -> Result<ExitCode> {
    let db = &settings.db_path;
    match a.action {
        None => {
            let read = ReadStore::open(db)?;
            let rows = hooks::list(&read.conn, None, 200)
                .map_err(|e| Error::from_sqlite(&read.path, e))?;
            if a.json {
                return out_exact(&serde_json::to_string_pretty(&rows).unwrap_or_default());
            }
            out(&deliveries_table(&rows, now_unix()))
        }
        Some(HooksVerb::Redeliver { id }) => {
            let store = WriteStore::open_existing(db, &settings.config.session_id)?;
            let now = now_unix();
            let found = store.write(|tx| hooks::get(tx, id))?.ok_or_else(|| {
                Error::Usage(format!(
                    "no hook delivery #{id}: `keeper-tui hooks` lists them"
                ))
            })?;
            if !store.write(|tx| hooks::redeliver(tx, id, now))? {
                return Err(Error::Refused(format!(
                    "delivery #{id} is still pending (attempt {} made): it needs no redelivery",
                    found.attempts
                )));
            }
            out(&format!(
                "delivery #{id} ({} {} to {}) queued again; the engine holding the store's lease sends it",
                found.task_id, found.event, found.hook
            ))
        }
    }
}
