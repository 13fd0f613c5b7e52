//! The act step of a heal: one tier for one process, with no database
//! lock held. Every signal re-checks that the process is still the one
//! judged; tier 3 never leaves two processes running.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::health::Health;
use crate::config::ProcessConfig;
use crate::store::keeper::HealState;
use crate::sys::process::{
    Liveness, SignalError, Target, liveness, signal_checked, start_detached, wait_gone,
};

/// How long a started process has to show a live PID.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// How long a SIGKILLed process has to disappear.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// What one tier did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acted {
    pub text: String,
    /// Tier 3 tried to bring the process back (whether or not it worked):
    /// it counts toward the breaker until the process proves healthy.
    pub restart_attempted: bool,
    /// The process group keeper-tui started, when it started one.
    pub started_group: Option<i32>,
    /// The live pid after the action, when known.
    pub pid: Option<i32>,
}

impl Acted {
    fn said(text: String, pid: Option<i32>) -> Self {
        Acted {
            text,
            restart_attempted: false,
            started_group: None,
            pid,
        }
    }
}

fn target(p: &ProcessConfig, h: &Health, st: &HealState) -> Option<Target> {
    let group = (st.started_group > 1).then_some(st.started_group);
    h.liveness
        .info()
        .map(|i| Target::of(i, p.identity(), group))
}

/// Do one tier. `stopping` is checked before anything is started.
pub fn act(
    p: &ProcessConfig,
    h: &Health,
    st: &HealState,
    tier: u8,
    stopping: &dyn Fn() -> bool,
) -> Acted {
    let why = h.why();
    let pid = h.liveness.pid();
    match tier {
        1 => {
            let stamp = format!("{}\n", crate::store::now_unix());
            let failed: Vec<String> = p
                .restart_markers
                .iter()
                .filter_map(|m| {
                    std::fs::write(m, &stamp)
                        .err()
                        .map(|e| format!("{}: {e}", m.display()))
                })
                .collect();
            let text = if failed.is_empty() {
                format!("{} tier 1: restart marker written ({why})", p.name)
            } else {
                format!(
                    "{} tier 1: could not write {} ({why})",
                    p.name,
                    failed.join("; ")
                )
            };
            Acted::said(text, pid)
        }
        2 => {
            let text = match target(p, h, st) {
                Some(t) => match signal_checked(&t, Signal::SIGTERM) {
                    Ok(()) => format!("{} tier 2: SIGTERM sent pid={} ({why})", p.name, t.pid),
                    Err(e) => format!("{} tier 2: pid={}: {e} ({why})", p.name, t.pid),
                },
                None => format!("{} tier 2: no live pid to signal ({why})", p.name),
            };
            Acted::said(text, pid)
        }
        _ => restart(p, h, st, &why, stopping),
    }
}

/// Tier 3: wait the grace, SIGKILL if still there, and start a new process
/// only when the old one is surely gone and nobody else started one.
fn restart(
    p: &ProcessConfig,
    h: &Health,
    st: &HealState,
    why: &str,
    stopping: &dyn Fn() -> bool,
) -> Acted {
    let name = &p.name;
    let mut done = Vec::new();
    let old = h.liveness.pid();
    let give_up = |done: &mut Vec<String>, what: String| {
        done.push(what);
        Acted {
            text: format!("{name} tier 3: {} ({why})", done.join(", ")),
            restart_attempted: true,
            started_group: None,
            pid: old,
        }
    };
    if let Some(t) = target(p, h, st)
        && !wait_gone(t.pid, Duration::from_secs(p.grace_secs), stopping)
    {
        if stopping() {
            return give_up(
                &mut done,
                format!(
                    "keeper-tui is shutting down: pid {} left as it is, nothing started",
                    t.pid
                ),
            );
        }
        match signal_checked(&t, Signal::SIGKILL) {
            Ok(()) => {
                done.push(format!("SIGKILL pid={}", t.pid));
                if !wait_gone(t.pid, KILL_WAIT, &|| false) {
                    return give_up(
                        &mut done,
                        format!("pid {} survived SIGKILL; not starting another", t.pid),
                    );
                }
            }
            // Exited, or the pid is someone else's now: either way ours is gone.
            Err(SignalError::Gone | SignalError::NotOurs(_)) => {}
            Err(SignalError::Failed(e)) => {
                return give_up(&mut done, format!("{e}; not starting another"));
            }
        }
    }
    // Someone (the process's own supervisor, the operator) may have
    // started a new one meanwhile.
    if let Liveness::Alive(now) = liveness(&p.pid_file, &p.identity())
        && Some(now.pid) != old
    {
        done.push(format!(
            "a new process pid={} is already running; not starting another",
            now.pid
        ));
        return Acted {
            text: format!("{name} tier 3: {} ({why})", done.join(", ")),
            restart_attempted: true,
            started_group: None,
            pid: Some(now.pid),
        };
    }
    if stopping() {
        return give_up(&mut done, "keeper-tui is shutting down: not started".into());
    }
    match start_detached(&p.start, p.cwd.as_deref(), &p.log_file) {
        Err(e) => give_up(&mut done, format!("start failed: {e}")),
        Ok(spawned) => {
            let confirmed = confirm(p, old, stopping);
            match confirmed {
                Some(pid) => done.push(format!("restarted, new pid={pid}")),
                None => done.push(format!(
                    "started pid={spawned} but no live pid within {}s{}",
                    CONFIRM_WITHIN.as_secs(),
                    last_log_line(&p.log_file)
                        .map(|l| format!(" (its log ends: {l})"))
                        .unwrap_or_default()
                )),
            }
            Acted {
                text: format!("{name} tier 3: {} ({why})", done.join(", ")),
                restart_attempted: true,
                // `setsid` (or `process_group(0)`) made it lead its own group.
                started_group: Some(spawned as i32),
                pid: confirmed,
            }
        }
    }
}

/// The last line a started process wrote, usually why it stopped: from
/// the file's last 4 KiB only.
fn last_log_line(log: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = crate::sys::files::open_regular(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut buf = Vec::new();
    f.take(4096).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(crate::store::truncate_chars(line.trim(), 200).to_string())
}

/// A start is confirmed when the pid file names a live process of ours
/// other than the old one within the confirm window.
fn confirm(p: &ProcessConfig, old: Option<i32>, stopping: &dyn Fn() -> bool) -> Option<i32> {
    let deadline = Instant::now() + CONFIRM_WITHIN;
    loop {
        if let Some(pid) = liveness(&p.pid_file, &p.identity()).pid()
            && Some(pid) != old
        {
            return Some(pid);
        }
        if Instant::now() >= deadline || stopping() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
