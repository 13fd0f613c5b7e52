//! Processes the watchdog supervises, read from `/proc`: is the PID alive,
//! is it a zombie, and is it still the process we mean (PIDs get reused)?
//! Signals go only to a process that passed that identity check.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

/// What `/proc/PID` says about a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcInfo {
    pub pid: i32,
    /// `R`, `S`, `D`, `Z`, …
    pub state: char,
    /// Unix seconds the process started.
    pub started_at: i64,
    pub cmdline: String,
}

/// Liveness of the PID a pid file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Liveness {
    Alive(ProcInfo),
    /// No pid file, an unreadable one, or no such process.
    Dead,
    Zombie(i32),
    /// A live process, but not ours (PID reused): never signalled.
    NotOurs {
        pid: i32,
        why: String,
    },
}

impl Liveness {
    pub fn pid(&self) -> Option<i32> {
        match self {
            Liveness::Alive(p) => Some(p.pid),
            _ => None,
        }
    }
}

fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn clock_ticks() -> i64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
}

pub fn read_proc(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_ticks: i64 = fields.get(19)?.parse().ok()?;
    let started_at = boot_time()? + start_ticks / clock_ticks();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(ProcInfo {
        pid,
        state,
        started_at,
        cmdline: cmdline.trim().to_string(),
    })
}

pub fn read_pid_file(path: &Path) -> Option<(i32, i64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|p: &i32| *p > 1)?;
    let mtime = mtime(path)?;
    Some((pid, mtime))
}

/// Modification time with sub-second precision, as Unix seconds.
pub fn mtime_precise(path: &Path) -> Option<f64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

pub fn now_precise() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn mtime(path: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.mtime())
}

/// Is the process in `pid_file` alive, and is it the one we mean? It must
/// match `pattern` (a substring of its command line) and must not have
/// started after the pid file was written (a PID reused by a newer process
/// would have). Slack of 2 s covers a pid file written at start.
pub fn liveness(pid_file: &Path, pattern: Option<&str>) -> Liveness {
    let Some((pid, written)) = read_pid_file(pid_file) else {
        return Liveness::Dead;
    };
    let Some(info) = read_proc(pid) else {
        return Liveness::Dead;
    };
    if info.state == 'Z' || info.state == 'X' {
        return Liveness::Zombie(pid);
    }
    if let Some(p) = pattern
        && !info.cmdline.contains(p)
    {
        return Liveness::NotOurs {
            pid,
            why: format!("its command line {:?} lacks {p:?}", info.cmdline),
        };
    }
    if info.started_at > written + 2 {
        return Liveness::NotOurs {
            pid,
            why: "it started after the pid file was written (PID reused)".into(),
        };
    }
    Liveness::Alive(info)
}

pub fn signal(pid: i32, sig: Signal) -> Result<(), String> {
    kill(Pid::from_raw(pid), sig).map_err(|e| format!("{sig} to pid {pid} failed: {e}"))
}

/// Wait up to `grace` for `pid` to exit (or turn zombie).
pub fn wait_gone(pid: i32, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if read_proc(pid).is_none_or(|p| p.state == 'Z' || p.state == 'X') {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start `argv` detached: its own session (`setsid`, else its own process
/// group), no stdin, output
/// appended to `log`. Returns the PID of the started process.
pub fn start_detached(argv: &[String], cwd: Option<&Path>, log: &Path) -> Result<u32, String> {
    let (program, rest) = argv.split_first().ok_or("the start command is empty")?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
    let build = |launcher: Option<&str>| -> std::io::Result<std::process::Child> {
        let mut cmd = if let Some(l) = launcher {
            let mut c = Command::new(l);
            c.arg(program);
            c
        } else {
            // No `setsid`: at least its own process group, away from
            // keeper-tui's terminal signals.
            let mut c = Command::new(program);
            std::os::unix::process::CommandExt::process_group(&mut c, 0);
            c
        };
        cmd.args(rest)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(err.try_clone()?);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        cmd.spawn()
    };
    let child = match build(Some("setsid")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => build(None),
        other => other,
    }
    .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child.id();
    // The child is reaped by a thread so it never lingers as a zombie of ours.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = read_proc(std::process::id() as i32).unwrap();
        assert!(matches!(me.state, 'R' | 'S'));
        let now = crate::store::now_unix();
        assert!(me.started_at <= now && me.started_at > now - 3600, "{me:?}");
        assert!(!me.cmdline.is_empty());
    }
}
