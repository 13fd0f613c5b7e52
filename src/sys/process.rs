//! Processes keeper-tui supervises, through `sysinfo` (Linux and macOS):
//! is a PID alive, is it a zombie, is it still the process we mean (PIDs get
//! reused), and what its tree costs. Every signal re-checks identity right
//! before it is sent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid as NixPid;
use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

/// What the system says about one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcInfo {
    pub pid: i32,
    pub zombie: bool,
    /// Unix seconds the process started.
    pub started_at: i64,
    pub cmdline: String,
    /// The same, argument by argument.
    #[serde(skip)]
    pub argv: Vec<String>,
    pub parent: Option<i32>,
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

    pub fn info(&self) -> Option<&ProcInfo> {
        match self {
            Liveness::Alive(p) => Some(p),
            _ => None,
        }
    }
}

fn sys_pid(pid: i32) -> Option<Pid> {
    u32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .map(Pid::from_u32)
}

fn info_of(pid: i32, p: &sysinfo::Process) -> ProcInfo {
    let argv: Vec<String> = p
        .cmd()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    ProcInfo {
        pid,
        zombie: matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead),
        started_at: p.start_time() as i64,
        cmdline: argv.join(" ").trim().to_string(),
        argv,
        parent: p.parent().map(|pp| pp.as_u32() as i32),
    }
}

/// The process table single processes are looked up in. A new `System`
/// per look re-read the boot time and uptime each time (a heartbeat a
/// second); this one reads them once. Locked only for one refresh of one
/// PID, from blocking code.
static TABLE: LazyLock<Mutex<System>> = LazyLock::new(|| {
    // Do not keep a `stat` file open per process between looks.
    sysinfo::set_open_files_limit(0);
    Mutex::new(System::new())
});

/// One process as it is right now; `None` when there is no such process.
pub fn inspect(pid: i32) -> Option<ProcInfo> {
    let spid = sys_pid(pid)?;
    let mut sys = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[spid]),
        true,
        ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .without_tasks(),
    );
    let info = sys.process(spid).map(|p| info_of(pid, p));
    // Live processes looked up once stay in the table: start again before
    // it grows past a handful of supervised processes and tasks.
    if sys.processes().len() > TABLE_KEPT {
        *sys = System::new();
    }
    info
}

const TABLE_KEPT: usize = 256;

pub fn read_pid_file(path: &Path) -> Option<(i32, i64)> {
    let text = super::files::read_text(path, 64).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|p: &i32| *p > 1)?;
    let mtime = mtime(path)?;
    Some((pid, mtime))
}

/// Modification time of a regular file (a directory or FIFO at the path
/// is no heartbeat), with sub-second precision, as Unix seconds.
pub fn mtime_precise(path: &Path) -> Option<f64> {
    let m = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)?
        .modified()
        .ok()?;
    Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

pub fn now_precise() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn mtime(path: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.mtime())
}

/// Slack between a process starting and its pid file being written.
const PID_FILE_SLACK: i64 = 2;

/// How a supervised process is told from any other process that happens
/// to have its PID. Nothing is signalled without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `cmdline_pattern`: a substring of its command line.
    Pattern(String),
    /// No pattern: the program of the `start` command (by file name, in
    /// one of the first three arguments, so `python3 bridge.py` passes for
    /// `bridge.py`) and its first one or two arguments that are not
    /// options, each an argument of the process.
    Command { program: String, args: Vec<String> },
    /// Neither a pattern nor a start command: it cannot be proven ours.
    Unknown,
}

fn file_name(arg: &str) -> &str {
    arg.rsplit('/').next().unwrap_or(arg)
}

impl Identity {
    pub fn of(pattern: Option<&str>, start: &[String]) -> Self {
        if let Some(p) = pattern.filter(|p| !p.is_empty()) {
            return Identity::Pattern(p.to_string());
        }
        let Some((program, rest)) = start.split_first() else {
            return Identity::Unknown;
        };
        Identity::Command {
            program: file_name(program).to_string(),
            args: rest
                .iter()
                .take(2)
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect(),
        }
    }

    /// `Err(why)` when `info` is not the process this identity describes.
    pub fn check(&self, info: &ProcInfo) -> Result<(), String> {
        match self {
            Identity::Pattern(p) if info.cmdline.contains(p.as_str()) => Ok(()),
            Identity::Pattern(p) => Err(format!("its command line {:?} lacks {p:?}", info.cmdline)),
            Identity::Command { program, args } => {
                let runs = info.argv.iter().take(3).any(|a| file_name(a) == program);
                let has = |want: &String| {
                    info.argv
                        .iter()
                        .any(|a| a == want || file_name(a) == want.as_str())
                };
                if runs && args.iter().all(has) {
                    Ok(())
                } else {
                    Err(format!(
                        "its command line {:?} is not the start command ({program} {}); set cmdline_pattern if it runs under another name",
                        info.cmdline,
                        args.join(" ")
                    ))
                }
            }
            Identity::Unknown => Err(
                "no cmdline_pattern and no start command to tell it by: set cmdline_pattern".into(),
            ),
        }
    }
}

/// Is the process in `pid_file` alive, and is it the one we mean? It must
/// match `identity` and must not have started after the pid file was
/// written (a PID reused by a newer process would have).
pub fn liveness(pid_file: &Path, identity: &Identity) -> Liveness {
    let Some((pid, written)) = read_pid_file(pid_file) else {
        return Liveness::Dead;
    };
    let Some(info) = inspect(pid) else {
        return Liveness::Dead;
    };
    if info.zombie {
        return Liveness::Zombie(pid);
    }
    if let Err(why) = identity.check(&info) {
        return Liveness::NotOurs { pid, why };
    }
    if info.started_at > written + PID_FILE_SLACK {
        return Liveness::NotOurs {
            pid,
            why: "it started after the pid file was written (PID reused)".into(),
        };
    }
    Liveness::Alive(info)
}

/// The process a signal is meant for: checked again right before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pid: i32,
    pub started_at: i64,
    pub identity: Identity,
    /// The process group keeper-tui started it in: while it is still in
    /// that group, the whole group is signalled, so whatever it spawned
    /// goes too.
    pub group: Option<i32>,
}

impl Target {
    pub fn of(info: &ProcInfo, identity: Identity, group: Option<i32>) -> Self {
        Target {
            pid: info.pid,
            started_at: info.started_at,
            identity,
            group,
        }
    }
}

/// Why a signal was not sent, or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SignalError {
    /// The process is gone (or a zombie): nothing to signal.
    Gone,
    /// The PID now names another process: never signalled.
    NotOurs(String),
    Failed(String),
}

impl std::fmt::Display for SignalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignalError::Gone => f.write_str("the process is gone"),
            SignalError::NotOurs(why) => write!(f, "not signalled: {why}"),
            SignalError::Failed(e) => f.write_str(e),
        }
    }
}

/// Is `t` still the process it was when judged?
pub fn still_same(t: &Target) -> Result<ProcInfo, SignalError> {
    let info = inspect(t.pid).ok_or(SignalError::Gone)?;
    if info.zombie {
        return Err(SignalError::Gone);
    }
    if info.started_at != t.started_at {
        return Err(SignalError::NotOurs(format!(
            "pid {} was restarted or reused (started at {}, not {})",
            t.pid, info.started_at, t.started_at
        )));
    }
    t.identity
        .check(&info)
        .map_err(|why| SignalError::NotOurs(format!("pid {}: {why}", t.pid)))?;
    Ok(info)
}

/// Send `sig` to `t` if, looked at just now, it is still the same process.
/// A group target is signalled as a group only while it is still in it.
pub fn signal_checked(t: &Target, sig: Signal) -> Result<(), SignalError> {
    still_same(t)?;
    let pid = NixPid::from_raw(t.pid);
    let group = t
        .group
        .filter(|g| *g > 1)
        .map(NixPid::from_raw)
        .filter(|g| nix::unistd::getpgid(Some(pid)).is_ok_and(|pg| pg == *g));
    let sent = match group {
        Some(g) => killpg(g, sig),
        None => kill(pid, sig),
    };
    sent.map_err(|e| SignalError::Failed(format!("{sig} to pid {} failed: {e}", t.pid)))
}

/// Wait up to `grace` for `pid` to exit (or turn zombie).
/// Gives up early, still there, once `stop()` says so.
pub fn wait_gone(pid: i32, grace: Duration, stop: &dyn Fn() -> bool) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if inspect(pid).is_none_or(|p| p.zombie) {
            return true;
        }
        if Instant::now() >= deadline || stop() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start `argv` detached: its own session (`setsid`, else its own process
/// group), no stdin, output appended to `log`. Returns the PID of the
/// started process.
pub fn start_detached(argv: &[String], cwd: Option<&Path>, log: &Path) -> Result<u32, String> {
    let (program, rest) = argv.split_first().ok_or("the start command is empty")?;
    // Through `setsid` an exec error would only reach the log.
    runnable(program, cwd)?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
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
            .stderr(out.try_clone()?);
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

/// Can `program` be executed: a path to an executable file, or a name
/// found as one on `$PATH`?
fn runnable(program: &str, cwd: Option<&Path>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = match cwd {
            Some(dir) if !program.starts_with('/') => dir.join(program),
            _ => PathBuf::from(program),
        };
        return match executable(&path) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("cannot start {program}: not an executable file")),
            Err(e) => Err(format!("cannot start {program}: {e}")),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| executable(&dir.join(program)).unwrap_or(false)) {
        Ok(())
    } else {
        Err(format!("cannot start {program}: not found on $PATH"))
    }
}

/// Memory and CPU of a process and everything below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TreeUsage {
    pub rss_bytes: u64,
    /// Percent of one core, summed over the tree, since the last look.
    pub cpu_percent: f32,
    pub processes: usize,
}

/// A process table kept between looks, so CPU use can be measured as a
/// difference. Reads the whole table on each refresh: meant for a panel
/// that is on screen, not for a loop.
pub struct Probe {
    sys: System,
}

impl Default for Probe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe {
    pub fn new() -> Self {
        // Do not keep a `stat` file open per process between looks.
        sysinfo::set_open_files_limit(0);
        Probe { sys: System::new() }
    }

    pub fn refresh(&mut self) {
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu()
                .without_tasks(),
        );
    }

    /// `pid` and its descendants, as of the last refresh.
    pub fn tree(&self, pid: i32) -> Option<TreeUsage> {
        let root = sys_pid(pid)?;
        self.sys.process(root)?;
        let procs = self.sys.processes();
        let mut usage = TreeUsage::default();
        let mut stack = vec![root];
        while let Some(p) = stack.pop() {
            let Some(node) = procs.get(&p) else { continue };
            usage.rss_bytes += node.memory();
            usage.cpu_percent += node.cpu_usage();
            usage.processes += 1;
            stack.extend(
                procs
                    .iter()
                    .filter(|(_, c)| c.parent() == Some(p))
                    .map(|(cp, _)| *cp),
            );
        }
        Some(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = inspect(std::process::id() as i32).unwrap();
        assert!(!me.zombie);
        let now = crate::store::now_unix();
        assert!(me.started_at <= now && me.started_at > now - 3600, "{me:?}");
        assert!(!me.cmdline.is_empty());
        assert!(inspect(0).is_none() && inspect(-5).is_none());
    }

    #[test]
    fn a_tree_counts_the_children() {
        let mut child = Command::new("sh");
        std::os::unix::process::CommandExt::process_group(&mut child, 0);
        let mut child = child
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut probe = Probe::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let usage = loop {
            probe.refresh();
            let u = probe.tree(pid).unwrap();
            if u.processes == 3 || Instant::now() > deadline {
                break u;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = killpg(NixPid::from_raw(pid), Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(usage.processes, 3, "{usage:?}");
        assert!(usage.rss_bytes > 0);
    }
}
