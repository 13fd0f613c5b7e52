//! Shared helpers for the integration tests: real store files in temp dirs,
//! exact rows through rusqlite, and the binary run with a private home.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use keeper_tui::config::DEFAULT_SESSION_ID;
use keeper_tui::store::WriteStore;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params};

pub const DAY: i64 = 86_400;
pub const HOUR: i64 = 3_600;

/// A brand-new core store at `dir/db.sqlite`, built by keeper-tui itself.
/// The writer is closed again, so the WAL is checkpointed into the file.
pub fn new_store(dir: &Path) -> PathBuf {
    let path = dir.join("db.sqlite");
    drop(WriteStore::open(&path, DEFAULT_SESSION_ID).unwrap());
    path
}

pub fn open_writer(path: &Path) -> WriteStore {
    WriteStore::open(path, DEFAULT_SESSION_ID).unwrap()
}

/// A plain read-write connection, as threadkeeper (or a test) would hold.
pub fn rw(path: &Path) -> Connection {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// A read-only connection for assertions: it can never write the file.
pub fn ro(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

pub fn add_thread(conn: &Connection, id: &str, state: &str, touched: i64) {
    conn.execute(
        "INSERT INTO threads (id, question, state, opened_at, last_touched_at) \
         VALUES (?1, 'question of ' || ?1, ?2, ?3, ?4)",
        params![id, state, touched - DAY, touched],
    )
    .unwrap();
}

pub fn add_closed_thread(conn: &Connection, id: &str, outcome: &str, touched: i64) {
    conn.execute(
        "INSERT INTO threads (id, question, state, outcome, opened_at, last_touched_at) \
         VALUES (?1, 'question of ' || ?1, 'closed', ?2, ?3, ?4)",
        params![id, outcome, touched - DAY, touched],
    )
    .unwrap();
}

pub fn add_event(conn: &Connection, kind: &str, target: &str, summary: &str, at: i64) {
    conn.execute(
        "INSERT INTO events (session_id, kind, target, summary, created_at) \
         VALUES ('s_test', ?1, ?2, ?3, ?4)",
        params![kind, target, summary, at],
    )
    .unwrap();
}

pub fn add_note(conn: &Connection, thread: Option<&str>, content: &str, at: i64) {
    conn.execute(
        "INSERT INTO notes (thread_id, content, kind, created_at, session_id) \
         VALUES (?1, ?2, 'insight', ?3, 's_test')",
        params![thread, content, at],
    )
    .unwrap();
}

pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// `(state, outcome, last_touched_at)` of one thread.
pub fn thread(conn: &Connection, id: &str) -> (String, Option<String>, i64) {
    conn.query_row(
        "SELECT state, outcome, last_touched_at FROM threads WHERE id=?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// Every row of every table (and the schema), in rowid order: two equal
/// dumps mean nothing was written in between.
pub fn dump(path: &Path) -> Vec<String> {
    let conn = ro(path);
    let mut out = Vec::new();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let schema: Vec<(String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (kind, name, sql) in &schema {
        out.push(format!("schema {kind} {name} {sql:?}"));
    }
    for (kind, name, _) in &schema {
        if kind != "table" || name.starts_with("sqlite_") || name.starts_with("notes_fts") {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                let vals: Vec<Value> = (0..n).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?;
                Ok(format!("{name} {vals:?}"))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        out.extend(rows);
    }
    out
}

/// Names of every table, index, trigger and view.
pub fn schema_names(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The binary with a private home: never the operator's config, state or
/// `THREADKEEPER_DB`.
pub fn keeper(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeper-tui"));
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("THREADKEEPER_DB")
        .env_remove("RUST_LOG");
    cmd
}

/// Run `keeper-tui --db DB ARGS...`.
pub fn run(home: &Path, db: &Path, args: &[&str]) -> Output {
    keeper(home)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure the operator can act on: non-zero exit, no panic, and the
/// message names the file. Returns stderr.
pub fn clean_failure(o: &Output, path: &Path) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stdout: {}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "message does not name {}: {err}",
        path.display()
    );
    err
}

/// One pass of `lp` as the `pass` verb runs it: planned from a fresh
/// read-only connection, recorded through `store`.
pub fn pass(
    lp: &dyn keeper_tui::loops::Loop,
    store: &WriteStore,
    mode: keeper_tui::loops::PassMode,
    now: i64,
) -> keeper_tui::error::Result<keeper_tui::loops::PassResult> {
    use keeper_tui::loops::{Allowed, PassMode};
    // As `actions::run_pass`: scheduled passes keep to the loop's limit,
    // forced ones here are already agreed to.
    let allowed = if mode == PassMode::Scheduled {
        Allowed::Configured
    } else {
        Allowed::Any
    };
    keeper_tui::actions::with_ctx_allowed(&store.path, store, mode, allowed, now, |ctx| {
        lp.pass(ctx)
    })
}

/// One pass allowed to change `allowed` items.
pub fn pass_allowed(
    lp: &dyn keeper_tui::loops::Loop,
    store: &WriteStore,
    allowed: keeper_tui::loops::Allowed,
    now: i64,
) -> keeper_tui::error::Result<keeper_tui::loops::PassResult> {
    keeper_tui::actions::with_ctx_allowed(
        &store.path,
        store,
        keeper_tui::loops::PassMode::Forced,
        allowed,
        now,
        |ctx| lp.pass(ctx),
    )
}

/// A child killed and reaped when dropped: a test that fails half-way
/// never leaves it running.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
