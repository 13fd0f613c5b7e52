//! A store, a config with one `[[hook]]`, real `keeper-tui engine`
//! processes and real task processes, for the hook tests that run the
//! whole way from a task's process going away to the POST. A task ends as
//! it does in life: its row names a live child, the child is killed, and
//! the engine's reconciler (every second here) finds it gone.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use keeper_tui::config::DEFAULT_SESSION_ID;
use keeper_tui::store::{WriteStore, now_unix};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

pub const BIN: &str = env!("CARGO_BIN_EXE_keeper-tui");
/// The variable the hook's `secret_env` names, set in the engines only.
pub const SECRET_ENV: &str = "KEEPER_TEST_HOOK_SECRET";
pub const SECRET: &str = "s3cret for the hooks engine test";
/// threadkeeper infers the role `curator` from this prompt.
pub const PROMPT: &str = "You are the CURATOR: tidy the nightly notes.";

/// The one `[[hook]]` a world's config has.
#[derive(Debug, Clone)]
pub struct Hook {
    pub url: String,
    pub allow_private: bool,
    pub max_attempts: Option<u32>,
}

impl Hook {
    /// A hook at a test server on 127.0.0.1, which needs `allow_private`.
    pub fn local(url: String) -> Self {
        Hook {
            url,
            allow_private: true,
            max_attempts: None,
        }
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

/// A delivery row as the store has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: i64,
    pub delivery_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: f64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// An engine, SIGKILLed on drop whatever the test did.
pub struct Engine {
    child: Child,
    log: PathBuf,
}

impl Engine {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has said on stderr so far.
    pub fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until it says it runs the loops on the store.
    pub fn wait_leading(&self, limit: Duration) {
        wait_until(limit, "the engine to hold the lease", || {
            self.said().contains("this engine runs the loops")
        });
    }

    /// SIGKILL: no shutdown, no lease given back.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `keeper-tui` on a world's store with its config.
#[derive(Debug, Clone)]
pub struct Verbs {
    dir: PathBuf,
    db: PathBuf,
    cfg: PathBuf,
}

impl Verbs {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env(SECRET_ENV, SECRET)
            .env_remove("THREADKEEPER_DB")
            .env_remove("KEEPER_LOG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Run a verb to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

pub struct World {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub db: PathBuf,
    pub cfg: PathBuf,
    /// Each running task's process, by task id.
    tasks: HashMap<String, Child>,
}

impl World {
    pub fn new(hook: &Hook) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let db = dir.join("db.sqlite");
        drop(WriteStore::open(&db, DEFAULT_SESSION_ID).unwrap());
        let cfg = dir.join("keeper.toml");
        let max = hook
            .max_attempts
            .map(|m| format!("max_attempts = {m}\n"))
            .unwrap_or_default();
        std::fs::write(
            &cfg,
            format!(
                "[janitor]\ninterval_secs = 0\n\
                 [reaper]\ninterval_secs = 0\nboot_reap = false\n\
                 tmux_socket_name = \"keeper-test-{}-none\"\n\
                 [tasks]\nreconcile_secs = 1\n\
                 [[hook]]\nurl = {:?}\nsecret_env = \"{SECRET_ENV}\"\n\
                 allow_private = {}\n{max}",
                std::process::id(),
                hook.url,
                hook.allow_private,
            ),
        )
        .unwrap();
        World {
            _tmp: tmp,
            dir,
            db,
            cfg,
            tasks: HashMap::new(),
        }
    }

    /// `keeper-tui --db DB --config CFG ARGS…` with a private home and the
    /// hook's secret in its environment.
    pub fn keeper(&self, args: &[&str]) -> Command {
        self.verbs().command(args)
    }

    /// What runs this world's verbs, for another thread.
    pub fn verbs(&self) -> Verbs {
        Verbs {
            dir: self.dir.clone(),
            db: self.db.clone(),
            cfg: self.cfg.clone(),
        }
    }

    /// A headless engine whose stderr goes to `<name>.err`.
    pub fn engine(&self, name: &str) -> Engine {
        let log = self.dir.join(format!("{name}.err"));
        let child = self
            .keeper(&["engine"])
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Engine { child, log }
    }

    /// Run a verb to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.keeper(args).output().unwrap()
    }

    /// A running task: a live child process and the row naming it.
    pub fn start_task(&mut self, id: &str) {
        let child = Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        rw(&self.db)
            .execute(
                "INSERT INTO tasks (id, pid, cwd, prompt, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    child.id(),
                    self.dir.to_str().unwrap(),
                    PROMPT,
                    now_unix()
                ],
            )
            .unwrap();
        self.tasks.insert(id.to_string(), child);
    }

    /// Its process killed and reaped: the reconciler ends the row.
    pub fn end_task(&mut self, id: &str) {
        let mut child = self.tasks.remove(id).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A task started and ended at once.
    pub fn task_ends(&mut self, id: &str) {
        self.start_task(id);
        self.end_task(id);
    }

    /// The task's delivery, once one is owed.
    pub fn delivery(&self, task: &str) -> Option<Row> {
        let conn = ro(&self.db);
        conn.query_row(
            "SELECT id, delivery_id, state, attempts, next_at, last_status, last_error \
             FROM keeper_hook_deliveries WHERE task_id = ?1",
            [task],
            |r| {
                Ok(Row {
                    id: r.get(0)?,
                    delivery_id: r.get(1)?,
                    state: r.get(2)?,
                    attempts: r.get(3)?,
                    next_at: r.get(4)?,
                    last_status: r.get(5)?,
                    last_error: r.get(6)?,
                })
            },
        )
        .optional()
        // No table yet: nothing has been owed on this store.
        .unwrap_or(None)
    }

    /// Wait until the task's delivery is in `state`; the row as it is then.
    pub fn wait_state(&self, task: &str, state: &str, limit: Duration) -> Row {
        let mut last = None;
        let deadline = Instant::now() + limit;
        loop {
            last = self.delivery(task).or(last);
            if let Some(row) = last.as_ref().filter(|r| r.state == state) {
                return row.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{task}'s delivery not {state} within {limit:?}; last seen {last:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until `f` holds for the task's delivery row.
    pub fn wait_row(
        &self,
        task: &str,
        what: &str,
        limit: Duration,
        f: impl Fn(&Row) -> bool,
    ) -> Row {
        let mut found = None;
        wait_until(limit, what, || {
            found = self.delivery(task).filter(&f);
            found.is_some()
        });
        found.unwrap()
    }

    /// How many `kind` events name `task`.
    pub fn events(&self, kind: &str, task: &str) -> i64 {
        ro(&self.db)
            .query_row(
                "SELECT COUNT(*) FROM events WHERE kind = ?1 AND target = ?2",
                [kind, task],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// `(started_at, ended_at)` of the task's row.
    pub fn task_times(&self, task: &str) -> (i64, Option<i64>) {
        ro(&self.db)
            .query_row(
                "SELECT started_at, ended_at FROM tasks WHERE id = ?1",
                [task],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for child in self.tasks.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn rw(path: &Path) -> Connection {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

fn ro(path: &Path) -> Connection {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}
