//! A run's process as the runner watches it: polled, never waited on, and
//! signalled as a whole process group only while that group is still the
//! run's.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Child;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgid};

use crate::sys::task::{NotSent, group_running, signal, signal_group_left};

/// How the runner knows the process.
pub(super) enum Proc {
    /// Started by this runner: `try_wait` tells when and how it exited.
    Child(Child),
    /// Left running by a keeper-tui that stopped: not our child, so only
    /// the process table can say it is gone, and not how it ended.
    Adopted { started_at: i64 },
}

/// How the run's leading process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    Status {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// An adopted process: gone, its status collected by someone else.
    Unknown,
}

/// A run past its timeout, being stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stopping {
    /// When SIGKILL follows the SIGTERM already sent.
    pub kill_at: f64,
    /// The last signal sent.
    pub last: Signal,
}

pub(super) struct Live {
    pub job: String,
    pub attempt: u32,
    pub pid: i32,
    pub pgid: i32,
    pub proc: Proc,
    pub log: Option<PathBuf>,
    /// Unix seconds after which it is stopped as timed out.
    pub deadline: Option<f64>,
    pub exit: Option<Exit>,
    pub stopping: Option<Stopping>,
    /// An operator's cancel is ending it: the pass leaves it alone.
    pub cancelling: bool,
    /// When this runner began watching it: a young run is looked at
    /// often, since short jobs end within moments.
    pub since: std::time::Instant,
}

impl Live {
    /// A run another keeper-tui started, taken over from its row: watched
    /// through the process table, its exit status unknown.
    pub fn adopted(
        run: &crate::store::jobs::Run,
        pid: i32,
        group: i32,
        started_at: i64,
        deadline: Option<f64>,
        cancelling: bool,
    ) -> Self {
        Live {
            job: run.job.clone(),
            attempt: run.attempt,
            pid,
            pgid: group,
            proc: Proc::Adopted { started_at },
            log: run.log_path.as_ref().map(Into::into),
            deadline,
            exit: None,
            stopping: None,
            cancelling,
            since: std::time::Instant::now(),
        }
    }

    /// Look at the leader once, without blocking: record its exit if it
    /// has exited. Returns whether it has.
    pub fn poll(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        self.exit = match &mut self.proc {
            Proc::Child(child) => match child.try_wait() {
                Ok(Some(st)) => Some(Exit::Status {
                    code: st.code(),
                    signal: st.signal(),
                }),
                Ok(None) => None,
                // Nothing to wait for: it was collected elsewhere.
                Err(_) => Some(Exit::Unknown),
            },
            Proc::Adopted { started_at } => gone(self.pid, *started_at).then_some(Exit::Unknown),
        };
        self.exit.is_some()
    }

    /// The leader has exited and nothing it left in its group still runs.
    pub fn all_gone(&mut self) -> bool {
        self.poll() && !group_running(self.pgid)
    }

    /// Send `sig` to the run's process group: while the leader is an
    /// unreaped child of ours its group cannot be anyone else's; an adopted
    /// leader is checked by its start time first; once the leader is gone,
    /// only a group that still has processes (so its id is still taken).
    pub fn signal(&mut self, sig: Signal) -> Result<String, NotSent> {
        let exited = self.poll();
        let own = getpgid(None).ok().map(Pid::as_raw);
        if self.pgid <= 1 || Some(self.pgid) == own {
            return Err(NotSent::Failed(format!(
                "process group {} is not the run's own",
                self.pgid
            )));
        }
        let sent = match (&self.proc, exited) {
            (Proc::Child(_), false) => match killpg(Pid::from_raw(self.pgid), sig) {
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(e) => Err(NotSent::Failed(format!(
                    "{sig} to group {} failed: {e}",
                    self.pgid
                ))),
            },
            (Proc::Adopted { started_at }, false) => match signal(self.pid, *started_at, sig) {
                Err(NotSent::Gone) if group_running(self.pgid) => {
                    signal_group_left(self.pgid, sig).map(|_| ())
                }
                other => other.map(|_| ()),
            },
            (_, true) if group_running(self.pgid) => signal_group_left(self.pgid, sig).map(|_| ()),
            (_, true) => Err(NotSent::Gone),
        };
        sent.map(|()| format!("{sig} to process group {}", self.pgid))
    }
}

/// Whether the process `pid` that started at `started_at` is gone (or a
/// zombie, or its pid now names a newer process).
pub(super) fn gone(pid: i32, started_at: i64) -> bool {
    crate::sys::process::inspect(pid).is_none_or(|p| p.zombie || p.started_at != started_at)
}
