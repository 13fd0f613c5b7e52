//! A threadkeeper task's process: is the PID in its row still the process
//! the task started, and signalling it (its whole process group, as
//! threadkeeper does) only while it is.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid};
use serde::Serialize;

use super::process::{ProcInfo, inspect};

/// Rows hold whole seconds, and threadkeeper writes `started_at` just
/// after the spawn: a process that started this much after its task is
/// still the task's.
pub const START_SLACK: i64 = 5;

/// What a task's PID names now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskProcess {
    Live(ProcInfo),
    /// No such process, or a zombie.
    Gone,
    /// A process that started after the task did: the PID was reused.
    Replaced {
        started_at: i64,
    },
    /// It cannot be told (the process table unreadable, no permission):
    /// never a reason to end a task.
    Unknown(String),
}

impl TaskProcess {
    /// The state column's word.
    pub fn word(&self) -> &'static str {
        match self {
            TaskProcess::Live(_) => "live",
            TaskProcess::Gone | TaskProcess::Replaced { .. } => "gone",
            TaskProcess::Unknown(_) => "unknown",
        }
    }
}

/// Judge the process `pid` names for a task that started at `task_started`.
pub fn judge(pid: i64, task_started: i64) -> TaskProcess {
    let Ok(pid32) = i32::try_from(pid) else {
        return TaskProcess::Gone;
    };
    if pid32 <= 0 {
        return TaskProcess::Unknown("not tracked by pid".into());
    }
    match inspect(pid32) {
        Some(info) if info.zombie => TaskProcess::Gone,
        Some(info) if info.started_at > task_started + START_SLACK => TaskProcess::Replaced {
            started_at: info.started_at,
        },
        Some(info) => TaskProcess::Live(info),
        // The table did not show it: ask the kernel before calling it gone.
        None => match kill(Pid::from_raw(pid32), None) {
            Err(Errno::ESRCH) => TaskProcess::Gone,
            Err(e) => TaskProcess::Unknown(format!("pid {pid}: {e}")),
            Ok(()) => TaskProcess::Unknown(format!("pid {pid} exists but cannot be read")),
        },
    }
}

/// Where a signal went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SentTo {
    Group(i32),
    /// The group refused it (another owner's), is keeper-tui's own, or is
    /// led by another process.
    Pid,
}

/// Why a task's process was not signalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NotSent {
    Gone,
    /// The PID names another process now.
    Replaced(String),
    Failed(String),
}

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotSent::Gone => f.write_str("the process is gone"),
            NotSent::Replaced(why) | NotSent::Failed(why) => f.write_str(why),
        }
    }
}

/// Send `sig` to the process `pid` — the one that started at
/// `process_started`, looked at again right now — and its process group.
pub fn signal(pid: i32, process_started: i64, sig: Signal) -> Result<SentTo, NotSent> {
    let info = inspect(pid).ok_or(NotSent::Gone)?;
    if info.zombie {
        return Err(NotSent::Gone);
    }
    if info.started_at != process_started {
        return Err(NotSent::Replaced(format!(
            "pid {pid} now names a process started at {}, not the task's (started at {process_started}): not signalled",
            info.started_at
        )));
    }
    let target = Pid::from_raw(pid);
    let own = getpgid(None).ok();
    // The group is the task's only when the task leads it, as every task
    // threadkeeper starts does (a session of its own). A task inside
    // another process's group shares it with processes that are not the
    // task's: the shell or server that started it, say.
    let group = getpgid(Some(target))
        .ok()
        .filter(|g| *g == target && g.as_raw() > 1 && Some(*g) != own);
    if let Some(g) = group {
        match killpg(g, sig) {
            Ok(()) => return Ok(SentTo::Group(g.as_raw())),
            Err(Errno::ESRCH) => return Err(NotSent::Gone),
            // Another owner's group: the process alone, as threadkeeper does.
            Err(Errno::EPERM) => {}
            Err(e) => return Err(NotSent::Failed(format!("{sig} to group {g} failed: {e}"))),
        }
    }
    match kill(target, sig) {
        Ok(()) => Ok(SentTo::Pid),
        Err(Errno::ESRCH) => Err(NotSent::Gone),
        Err(e) => Err(NotSent::Failed(format!("{sig} to pid {pid} failed: {e}"))),
    }
}

/// Whether any process of group `pgid` is still running (zombies aside):
/// a task's leader can exit on SIGTERM while a child it started ignores
/// it. Read from `/proc`; where there is none, the leader is all there is
/// to go by.
pub fn group_running(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .any(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command name, which may hold anything: state,
            // ppid, pgrp.
            let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
            group == Some(pgid) && !matches!(state, Some("Z" | "X"))
        })
}

/// Send `sig` to what is left of the group `pgid` once its leader, the
/// task, is gone. Only for a group this cancel already signalled as the
/// task's, while `group_running` says it has processes: the kernel keeps
/// its id from any new process while one is left in it.
pub fn signal_group_left(pgid: i32, sig: Signal) -> Result<SentTo, NotSent> {
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) => Ok(SentTo::Group(pgid)),
        Err(Errno::ESRCH) => Err(NotSent::Gone),
        Err(e) => Err(NotSent::Failed(format!(
            "{sig} to group {pgid} failed: {e}"
        ))),
    }
}
