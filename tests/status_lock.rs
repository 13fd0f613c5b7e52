//! `status` is a pure reader: it neither waits on nor writes to a store
//! another process is writing (threadkeeper 0.8.1's dashboard did both).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use keeper_tui::store::now_unix;

/// Run the binary, killing it if it has not finished after `limit`.
fn run_with_deadline(mut cmd: std::process::Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_reads_committed_rows_while_another_connection_holds_the_write_lock() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    for (i, state) in ["active", "active", "active", "idle", "idle", "closed"]
        .iter()
        .enumerate()
    {
        add_thread(&c, &format!("T00{i}"), state, now - HOUR);
    }
    add_note(&c, Some("T000"), "committed", now - 60);
    drop(c);
    let rows = dump(&path);

    let writer = rw(&path);
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    add_thread(&writer, "Tnew", "active", now);
    add_note(&writer, Some("Tnew"), "uncommitted", now);
    let meta = std::fs::metadata(&path).unwrap();
    let (mtime, size) = (meta.modified().unwrap(), meta.len());

    let mut cmd = keeper(home.path());
    cmd.arg("--db").arg(&path).arg("status");
    let o = run_with_deadline(cmd, Duration::from_secs(5))
        .expect("status did not finish within 5 s while a write lock was held");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("  threads: active=3 idle=2 closed=1 (total 6)"),
        "{text}"
    );
    assert!(text.contains("  notes=1 "), "{text}");

    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        meta.modified().unwrap(),
        mtime,
        "status touched the db file"
    );
    assert_eq!(meta.len(), size);
    assert_eq!(dump(&path), rows);

    writer.execute_batch("COMMIT").unwrap();
    let o = run(home.path(), &path, &["status"]);
    assert!(
        stdout(&o).contains("  threads: active=4 idle=2 closed=1 (total 7)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_dry_run_also_reads_through_a_held_write_lock() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    add_thread(&c, "T0d1", "active", now - 3 * DAY);
    drop(c);
    let writer = rw(&path);
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    add_thread(&writer, "T0d2", "active", now - 3 * DAY);

    let mut cmd = keeper(home.path());
    cmd.arg("--db")
        .arg(&path)
        .args(["pass", "janitor", "--dry-run"]);
    let o = run_with_deadline(cmd, Duration::from_secs(5))
        .expect("dry-run did not finish within 5 s while a write lock was held");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("would close 1 thread(s)"), "{out}");
    assert!(out.contains("T0d1") && !out.contains("T0d2"), "{out}");
    writer.execute_batch("ROLLBACK").unwrap();
}
