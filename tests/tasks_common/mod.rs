//! Helpers for the task tests: real processes, each in a process group of
//! its own and killed with its whole group on drop; task rows written as
//! threadkeeper writes them; and what the store says afterwards.
#![allow(dead_code, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keeper_tui::config::HookConfig;
use keeper_tui::config::HookEvent;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rusqlite::types::ToSql;
use rusqlite::{Connection, params};

/// A process started in a group of its own (as threadkeeper starts its
/// tasks), with every process of that group killed on drop. The leader is
/// never reaped before the group is killed, so its id cannot name another
/// group meanwhile.
pub struct Group {
    child: Child,
    reaped: bool,
}

impl Group {
    /// `sh -c SCRIPT`, leading a new process group.
    pub fn sh(script: &str) -> Group {
        Group::spawn(Command::new("sh").args(["-c", script]))
    }

    /// `sleep 1000`, leading a new process group: it exits on SIGTERM.
    pub fn sleep() -> Group {
        Group::spawn(Command::new("sleep").arg("1000"))
    }

    fn spawn(cmd: &mut Command) -> Group {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // `spawn` returns once the program is exec'd (or failed to be).
        Group {
            child,
            reaped: false,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The process's start time as keeper-tui reads it.
    pub fn started_at(&self) -> i64 {
        keeper_tui::sys::process::inspect(self.pid())
            .unwrap()
            .started_at
    }

    /// Live (not zombie) processes of the group, the leader included.
    pub fn members(&self) -> Vec<i32> {
        group_members(self.pid())
    }

    /// Wait (bounded) until the group has `n` live processes.
    pub fn wait_members(&self, n: usize) -> Vec<i32> {
        wait_until(Duration::from_secs(10), "the group's processes", || {
            self.members().len() == n
        });
        self.members()
    }

    /// Kill the group and reap the leader: its pid is then free.
    pub fn end(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Whether the leader has exited, without reaping it: a dead leader
    /// stays a zombie (and its pid taken) until `end` or drop.
    pub fn leader_exited(&self) -> bool {
        !running(self.pid())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A keeper-tui process (an engine) stopped with SIGTERM, then killed,
/// on drop.
pub struct Engine(pub Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `f` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(state, pgrp)` from `/proc/PID/stat`, if the process exists.
fn stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// Alive and not a zombie.
pub fn running(pid: i32) -> bool {
    stat(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X')
}

pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Live processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|(s, g)| g == pgid && s != 'Z' && s != 'X'))
        .collect();
    out.sort_unstable();
    out
}

/// A running task row as threadkeeper inserts it; `pid` and `started_at`
/// take any SQL value, so a test can store what threadkeeper never would.
pub fn add_task(
    conn: &Connection,
    id: &str,
    pid: &dyn ToSql,
    started_at: &dyn ToSql,
    prompt: &str,
) {
    conn.execute(
        "INSERT INTO tasks (id, pid, parent_cid, spawned_cid, cwd, prompt, started_at) \
         VALUES (?1, ?2, 'c_parent', NULL, '/home/u/proj', ?3, ?4)",
        params![id, pid, prompt, started_at],
    )
    .unwrap();
}

/// An ended row, as threadkeeper leaves one.
pub fn add_ended_task(conn: &Connection, id: &str, started_at: i64, ended_at: i64, rc: i64) {
    conn.execute(
        "INSERT INTO tasks (id, pid, cwd, prompt, started_at, ended_at, return_code) \
         VALUES (?1, 4242, '/home/u/proj', 'You are an ARCHIVIST', ?2, ?3, ?4)",
        params![id, started_at, ended_at, rc],
    )
    .unwrap();
}

/// `(ended_at, return_code)` of one task.
pub fn ending(db: &Path, id: &str) -> (Option<i64>, Option<i64>) {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT ended_at, return_code FROM tasks WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// The whole row, as text: equal before and after means unchanged.
pub fn task_row(db: &Path, id: &str) -> String {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT quote(pid) || '|' || quote(started_at) || '|' || quote(ended_at) \
             || '|' || quote(return_code) FROM tasks WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// Events of `kind`: `(target, summary)`, oldest first.
pub fn events(db: &Path, kind: &str) -> Vec<(Option<String>, String)> {
    let conn = Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT target, COALESCE(summary, '') FROM events WHERE kind = ?1 ORDER BY id")
        .unwrap();
    st.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every owed delivery: `(hook, task_id, event)`, sorted.
pub fn deliveries(db: &Path) -> Vec<(String, String, String)> {
    let conn = Connection::open(db).unwrap();
    let exists: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'keeper_hook_deliveries'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if !exists {
        return Vec::new();
    }
    let mut st = conn
        .prepare(
            "SELECT hook, task_id, event FROM keeper_hook_deliveries ORDER BY hook, task_id, event",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A hook nothing needs to listen at: only the owed rows are looked at.
pub fn hook(path: &str) -> HookConfig {
    HookConfig {
        url: format!("http://127.0.0.1:9/{path}"),
        secret_env: None,
        on: HookEvent::ALL.to_vec(),
        role: None,
        prompt_contains: None,
        allow_private: true,
        max_attempts: 6,
        timeout_secs: 10,
    }
}

/// The XDG config every `keeper(home)` run reads: nothing but the task
/// settings runs on a schedule, and the reaper never sees a tmux server.
pub fn write_config(home: &Path, extra: &str) -> PathBuf {
    let dir = home.join("config/keeper-tui");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keeper.toml");
    std::fs::write(
        &path,
        format!(
            "[janitor]\ninterval_secs = 0\nrun_at_start = false\n\
             [reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n\
             [watchdog]\ntick_secs = 0\n{extra}",
            std::process::id()
        ),
    )
    .unwrap();
    path
}
