//! A private tmux server per test (`tmux -L keeper-test-<pid>-<n>`, never
//! the default server), killed with its socket file by a Drop guard, and the
//! store helpers the reaper tests share.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keeper_tui::config::ReaperConfig;
use keeper_tui::store::WriteStore;
use keeper_tui::sys::tmux::Server;
use rusqlite::{Connection, OpenFlags};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh socket name of our own.
pub fn socket_name() -> String {
    format!(
        "keeper-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A tmux server on a private socket. Dropping it continues the server if
/// a test stopped it, kills it and removes its socket file.
pub struct Tmux {
    pub sock: String,
    socket_path: PathBuf,
    pid: Option<u32>,
    stopped: Cell<bool>,
}

impl Tmux {
    /// A server whose first session is `first`.
    pub fn start(first: &str) -> Self {
        Self::start_running(first, "sleep 3600")
    }

    /// A server whose first session runs `command`.
    pub fn start_running(first: &str, command: &str) -> Self {
        let mut t = Tmux::none();
        t.ok(&["-f", "/dev/null", "new-session", "-d", "-s", first, command]);
        t.socket_path = PathBuf::from(t.display("#{socket_path}"));
        t.pid = Some(t.display("#{pid}").parse().unwrap());
        assert!(
            t.socket_path.ends_with(&t.sock),
            "{}",
            t.socket_path.display()
        );
        t
    }

    /// A socket name no server listens on (the guard still cleans up).
    pub fn none() -> Self {
        Tmux {
            sock: socket_name(),
            socket_path: PathBuf::new(),
            pid: None,
            stopped: Cell::new(false),
        }
    }

    pub fn server(&self) -> Server {
        Server::Named(self.sock.clone())
    }

    /// The reaper's config for this server: no grace and no idle time (a
    /// session made a moment ago is fair game), nothing else changed.
    pub fn config(&self) -> ReaperConfig {
        ReaperConfig {
            tmux: self.server(),
            grace_secs: 0,
            idle_secs: 0,
            ..ReaperConfig::default()
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "tmux -L {} {args:?}: {}",
            self.sock,
            String::from_utf8_lossy(&o.stderr)
        );
    }

    pub fn display(&self, format: &str) -> String {
        let o = self.cmd(&["display-message", "-p", format]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn new_session(&self, name: &str) {
        self.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            name,
            "sleep 3600",
        ]);
    }

    pub fn new_session_running(&self, name: &str, command: &str) {
        self.ok(&["-f", "/dev/null", "new-session", "-d", "-s", name, command]);
    }

    /// `(name, created, attached)` of every session tmux really has.
    pub fn sessions(&self) -> Vec<(String, i64, u32)> {
        let o = self.cmd(&[
            "list-sessions",
            "-F",
            "#{session_name}\t#{session_created}\t#{session_attached}",
        ]);
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("no server running") || err.contains("error connecting"),
                "list-sessions failed: {err}"
            );
            return Vec::new();
        }
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].to_string(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect()
    }

    /// Session names, sorted: `tmux list-sessions -F '#{session_name}'`.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.sessions().into_iter().map(|s| s.0).collect();
        n.sort();
        n
    }

    pub fn has(&self, name: &str) -> bool {
        self.sessions().iter().any(|s| s.0 == name)
    }

    /// `#{session_id}` of the session called `name`.
    pub fn id(&self, name: &str) -> String {
        let o = self.cmd(&["list-sessions", "-F", "#{session_id}\t#{session_name}"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.split_once('\t').filter(|(_, n)| *n == name))
            .map_or_else(|| panic!("no session {name:?}"), |(id, _)| id.to_string())
    }

    pub fn created(&self, name: &str) -> i64 {
        self.sessions().into_iter().find(|s| s.0 == name).unwrap().1
    }

    pub fn attached(&self, name: &str) -> u32 {
        self.sessions().into_iter().find(|s| s.0 == name).unwrap().2
    }

    /// Stop the server (SIGSTOP): it accepts connections and answers nothing.
    pub fn stop(&self) {
        self.stopped.set(true);
        signal("-STOP", self.pid.unwrap());
    }

    pub fn cont(&self) {
        signal("-CONT", self.pid.unwrap());
        self.stopped.set(false);
    }

    /// Attach a real client to `session` from a second private server: its
    /// pane runs `tmux -L SOCK attach`. Returns that second server (keep it
    /// alive as long as the client should stay attached).
    pub fn attach_client(&self, session: &str) -> Tmux {
        let command = format!("env -u TMUX tmux -L {} attach -t ={session}", self.sock);
        let client = Tmux::start_running("client", &command);
        wait_until("a client to attach", || self.attached(session) == 1);
        client
    }
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            if self.stopped.get() {
                signal("-CONT", pid);
            }
            // Never wait forever on a server that does not answer.
            let child = Command::new("tmux")
                .args(["-L", &self.sock, "kill-server"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if let Ok(mut child) = child {
                let deadline = Instant::now() + Duration::from_secs(5);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if child.try_wait().ok().flatten().is_none() {
                    // Our server is still there and does not answer: end it.
                    let _ = child.kill();
                    signal("-KILL", pid);
                }
                let _ = child.wait();
            }
        }
        if !self.socket_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.socket_path);
        }
    }
}

/// Poll `cond` every 20 ms for at most 20 s.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn ro(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// One `events` row as keeper wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub session_id: String,
    pub target: Option<String>,
    pub summary: String,
    pub created_at: i64,
}

/// Every row of one kind, oldest first.
pub fn events(path: &Path, kind: &str) -> Vec<Event> {
    let c = ro(path);
    let mut stmt = c
        .prepare(
            "SELECT session_id, target, COALESCE(summary,''), created_at FROM events \
             WHERE kind=?1 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([kind], |r| {
        Ok(Event {
            session_id: r.get(0)?,
            target: r.get(1)?,
            summary: r.get(2)?,
            created_at: r.get(3)?,
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Targets of the `session_reaped` rows, sorted.
pub fn reaped_targets(path: &Path) -> Vec<String> {
    let mut t: Vec<String> = events(path, "session_reaped")
        .into_iter()
        .map(|e| e.target.unwrap_or_default())
        .collect();
    t.sort();
    t
}

/// Names with a row in `keeper_claims` (none when the table is absent).
pub fn claimed_names(path: &Path) -> Vec<String> {
    let c = ro(path);
    keeper_tui::store::keeper::claims(&c)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// A new threadkeeper-compatible store at `dir/db.sqlite`.
pub fn new_store(dir: &Path) -> (PathBuf, WriteStore) {
    let path = dir.join("db.sqlite");
    let store = WriteStore::open(&path, "keeper-tui").unwrap();
    (path, store)
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}
