//! What the Tasks panel shows: each listed task with what its PID names
//! now, what its process tree costs, and its hook deliveries.

use std::collections::HashMap;

use rusqlite::Connection;
use serde::Serialize;

use crate::store::hooks::{Delivery, list as deliveries};
use crate::store::tasks::{TaskRow, list};
use crate::sys::process::{Probe, TreeUsage};
use crate::sys::task::{TaskProcess, judge};

/// Ended tasks listed after the running ones.
pub const ENDED_SHOWN: usize = 50;

/// A task as the panel shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskLine {
    pub row: TaskRow,
    pub process: Proc,
    /// The process tree's memory and CPU, for live tasks.
    pub usage: Option<TreeUsage>,
    pub deliveries: Vec<Delivery>,
}

/// The process column: what the PID names, judged for this task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proc {
    Live,
    Gone,
    /// The PID names a newer process.
    Replaced,
    Unknown,
    /// pid ≤ 0: threadkeeper ends it, nobody signals it.
    Visible,
    Ended,
}

impl Proc {
    pub fn word(self) -> &'static str {
        match self {
            Proc::Live => "live",
            Proc::Gone => "gone",
            Proc::Replaced => "reused",
            Proc::Unknown => "unknown",
            Proc::Visible => "visible",
            Proc::Ended => "ended",
        }
    }
}

/// Every listed task, judged; the process table read once for all of them.
pub fn look(read: &Connection, probe: &mut Probe) -> rusqlite::Result<Vec<TaskLine>> {
    let rows = list(read, ENDED_SHOWN)?;
    let mut by_task: HashMap<String, Vec<Delivery>> = HashMap::new();
    for d in deliveries(read, None, 1000)? {
        by_task.entry(d.task_id.clone()).or_default().push(d);
    }
    let any_live = rows.iter().any(|r| r.running() && !r.visible());
    if any_live {
        probe.refresh();
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let (process, usage) = if !row.running() {
                (Proc::Ended, None)
            } else if row.visible() {
                (Proc::Visible, None)
            } else {
                match judge(row.pid, row.started_at) {
                    TaskProcess::Live(info) => (Proc::Live, probe.tree(info.pid)),
                    TaskProcess::Gone => (Proc::Gone, None),
                    TaskProcess::Replaced { .. } => (Proc::Replaced, None),
                    TaskProcess::Unknown(_) => (Proc::Unknown, None),
                }
            };
            let deliveries = by_task.remove(&row.id).unwrap_or_default();
            TaskLine {
                row,
                process,
                usage,
                deliveries,
            }
        })
        .collect())
}
