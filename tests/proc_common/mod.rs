//! Helpers for the watchdog tests: a real bridge process in a temporary
//! directory, killed (with whatever the watchdog restarted) on drop.
#![allow(dead_code, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keeper_tui::config::{ProcessConfig, WatchdogConfig};
use keeper_tui::loops::watchdog::Watchdog;
use keeper_tui::store::WriteStore;
use rusqlite::Connection;

pub const BIN: &str = env!("CARGO_BIN_EXE_keeper-tui");

/// Poll `f` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `/proc/PID/stat`'s state letter, if the process exists.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.chars().next()
}

/// Alive and not a zombie.
pub fn running(pid: i32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

pub fn kill9(pid: i32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub fn mtime_secs(path: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.mtime())
}

pub fn now() -> i64 {
    keeper_tui::store::now_unix()
}

pub fn nowf() -> f64 {
    keeper_tui::sys::process::now_precise()
}

/// A temporary directory for one bridge (and its store), and everything
/// started in it. Drop kills: the child we spawned, whatever pid the pid
/// file names when its command line is a bridge of this directory, and
/// every pid recorded with `track`.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub children: Vec<Child>,
    pub tracked: Vec<i32>,
}

impl World {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        World {
            tmp,
            dir,
            children: Vec::new(),
            tracked: Vec::new(),
        }
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("bridge.pid")
    }
    pub fn heartbeat(&self) -> PathBuf {
        self.dir.join("bridge.heartbeat")
    }
    pub fn version_file(&self) -> PathBuf {
        self.dir.join("bridge.version")
    }
    pub fn marker(&self) -> PathBuf {
        self.dir.join("bridge.restart")
    }
    pub fn hang_file(&self) -> PathBuf {
        self.dir.join("bridge.hang")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("db.sqlite")
    }

    pub fn bridge_argv(&self, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            BIN.into(),
            "bridge".into(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--heartbeat-ms".into(),
            "100".into(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_string()));
        v
    }

    /// The pid the pid file names now.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Spawn a bridge as our child; wait until it has written its pid and
    /// (unless it starts hung) a first heartbeat, which comes after its
    /// SIGTERM handler is in place.
    pub fn spawn_bridge(&mut self, extra: &[&str]) -> i32 {
        let argv = self.bridge_argv(extra);
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        wait_until(Duration::from_secs(10), "the bridge's pid file", || {
            self.pid() == Some(pid)
        });
        if !self.hang_file().exists() {
            wait_until(Duration::from_secs(10), "the first heartbeat", || {
                self.heartbeat().exists()
            });
        }
        pid
    }

    /// Make the bridge hang and wait (bounded) until its heartbeat is older
    /// than `stale_secs` by the watchdog's reckoning.
    pub fn hang_until_stale(&self, stale_secs: i64) {
        std::fs::write(self.hang_file(), "").unwrap();
        wait_until(Duration::from_secs(15), "a stale heartbeat", || {
            mtime_secs(&self.heartbeat()).is_none_or(|m| now() - m > stale_secs)
        });
    }

    pub fn track(&mut self, pid: i32) {
        self.tracked.push(pid);
    }

    pub fn config(&self) -> ProcessConfig {
        ProcessConfig {
            name: "bridge".into(),
            pid_file: self.pid_file(),
            heartbeat_file: self.heartbeat(),
            heartbeat_stale_secs: 1,
            version_file: None,
            version_repo: None,
            version_command: None,
            restart_markers: vec![self.marker()],
            start: self.bridge_argv(&[]),
            cwd: None,
            log_file: self.dir.join("bridge.log"),
            cmdline_pattern: Some(format!("bridge --dir {}", self.dir.display())),
            cooldown_secs: 0,
            grace_secs: 1,
            breaker_limit: 3,
            quiet_secs: 60,
        }
    }

    pub fn store(&self) -> WriteStore {
        WriteStore::open(&self.db(), "keeper-tui").unwrap()
    }

    /// Events of `kind`: (target, summary), oldest first.
    pub fn events(&self, kind: &str) -> Vec<(Option<String>, String)> {
        events(&self.db(), kind)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        if let Some(pid) = self.pid()
            && cmdline(pid).contains(&dir)
        {
            kill9(pid);
        }
        for pid in &self.tracked {
            if cmdline(*pid).contains(&dir) {
                kill9(*pid);
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn watchdog(cfg: ProcessConfig) -> Watchdog {
    Watchdog::new(WatchdogConfig {
        tick_secs: 0,
        processes: vec![cfg],
    })
}

pub fn events(db: &Path, kind: &str) -> Vec<(Option<String>, String)> {
    let conn = Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT target, COALESCE(summary, '') FROM events WHERE kind=?1 ORDER BY id")
        .unwrap();
    st.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The keeper_heal row: (tier, failures, last_action_at, last_alert_at).
pub fn heal_row(db: &Path, name: &str) -> Option<(i64, i64, i64, i64)> {
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT tier, failures, last_action_at, last_alert_at FROM keeper_heal WHERE name=?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .ok()
}
