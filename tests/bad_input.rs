//! Wrong files and wrong arguments: one clear message naming the path, a
//! non-zero exit, nothing written, never a panic.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};
use rusqlite::Connection;

/// The verbs that must refuse a bad file, with the dry-run reader among them.
const VERBS: &[&[&str]] = &[
    &["status"],
    &["status", "--json"],
    &["pass", "janitor"],
    &["pass", "janitor", "--dry-run"],
    &["reopen", "T001"],
    &["pass", "reaper"],
    &["pass", "watchdog"],
    &["claim", "msg-warm-1"],
    &["sessions"],
    &["engine"],
];

/// Every verb fails cleanly with `needle` in its message; the file's bytes
/// never change. Returns the messages.
fn refused_by_all(home: &Path, db: &Path, needle: &str) -> Vec<String> {
    let bytes = std::fs::read(db).unwrap();
    VERBS
        .iter()
        .map(|args| {
            let o = run(home, db, args);
            let err = clean_failure(&o, db);
            assert!(err.contains(needle), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
            assert!(
                std::fs::read(db).unwrap() == bytes,
                "{args:?} changed the file"
            );
            err
        })
        .collect()
}

#[test]
fn a_text_file_is_not_an_sqlite_database() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("notes.txt");
    std::fs::write(&db, "meeting notes: nothing to see here\n".repeat(200)).unwrap();
    refused_by_all(home.path(), &db, "not an SQLite database");
}

#[test]
fn a_corrupt_store_is_reported_not_panicked_on() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("db.sqlite");
    let spec = SeedSpec {
        threads: 300,
        events: 3000,
        notes: 3000,
        seed: 7,
        now: now_unix(),
        span_days: 60,
    };
    seed(&db, spec).unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(
        len > 16 * 4096,
        "store too small to corrupt usefully: {len}"
    );
    // Keep page 1 (header and the start of the schema); garble the middle.
    for (i, b) in bytes[2 * 4096..len * 3 / 4].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let messages = refused_by_all(home.path(), &db, "");
    for m in &messages {
        assert!(
            m.contains("corrupt") || m.contains("not an SQLite database"),
            "{m}"
        );
    }
}

#[test]
fn another_applications_database_is_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("app.sqlite");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO users (name) VALUES ('ada'), ('grace');",
    )
    .unwrap();
    let names = schema_names(&c);
    drop(c);
    refused_by_all(home.path(), &db, "not a threadkeeper store");
    let c = ro(&db);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert_eq!(schema_names(&c), names);
    assert!(!home.path().join("app.sqlite-wal").exists());
}

/// A `threads` table of another application's: every verb refuses it, and
/// a failed pass leaves no `keeper_*` table behind.
#[test]
fn a_foreign_threads_table_is_not_threadkeepers() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("forum.sqlite");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE threads (id INTEGER PRIMARY KEY, title TEXT, posted INTEGER);
         INSERT INTO threads (title, posted) VALUES ('hello', 1);",
    )
    .unwrap();
    let names = schema_names(&c);
    drop(c);
    let errs = refused_by_all(home.path(), &db, "not a threadkeeper store");
    assert!(
        errs[0].contains("its `threads` table has no question, state, last_touched_at"),
        "{}",
        errs[0]
    );
    assert_eq!(schema_names(&ro(&db)), names);
}

#[test]
fn an_empty_file_is_not_a_threadkeeper_store() {
    // SQLite reads a 0-byte file as an empty database; it must stay 0 bytes.
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("empty.sqlite");
    std::fs::write(&db, b"").unwrap();
    refused_by_all(home.path(), &db, "not a threadkeeper store");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
}

#[test]
fn a_newer_threadkeeper_file_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    rw(&db).pragma_update(None, "user_version", 6).unwrap();
    refused_by_all(home.path(), &db, "user_version 6");
}

#[test]
fn a_read_only_file_refuses_writes_but_status_still_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let c = rw(&db);
    add_thread(&c, "T001", "active", now_unix() - 3 * DAY);
    drop(c);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let bytes = std::fs::read(&db).unwrap();
    for args in [&["pass", "janitor"][..], &["reopen", "T001", "--note", "x"]] {
        let o = run(home.path(), &db, args);
        let err = clean_failure(&o, &db);
        assert!(err.contains("read-only"), "{args:?}: {err}");
        assert!(std::fs::read(&db).unwrap() == bytes, "{args:?} wrote");
    }
    let o = run(home.path(), &db, &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("threads: active=1 (total 1)"));
    let o = run(home.path(), &db, &["pass", "janitor", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("T001"));
    assert!(std::fs::read(&db).unwrap() == bytes);
}

#[test]
fn a_missing_directory_is_named_and_not_created() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("nonexistent-dir-xyz");
    let db = dir.join("db.sqlite");
    for args in VERBS {
        let o = run(home.path(), &db, args);
        let err = clean_failure(&o, &db);
        assert!(err.contains("does not exist"), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
}

#[test]
fn a_directory_is_not_a_database_file() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("store.d");
    std::fs::create_dir(&db).unwrap();
    for args in VERBS {
        let o = run(home.path(), &db, args);
        let err = clean_failure(&o, &db);
        assert!(err.contains("is a directory"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&db).unwrap().count(), 0);
}

#[test]
fn status_on_a_missing_file_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("db.sqlite");
    for args in [&["status"][..], &["pass", "janitor", "--dry-run"]] {
        let o = run(home.path(), &db, args);
        let err = clean_failure(&o, &db);
        assert!(err.contains("no threadkeeper database"), "{args:?}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("db.sqlite"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn days_rejected(args: &[&str], value: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let before = dump(&db);
    let o = run(home.path(), &db, args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(value), "{err}");
    assert!(err.contains("--days"), "names the option: {err}");
    assert_eq!(dump(&db), before);
    err
}

#[test]
fn days_that_are_not_a_number_are_a_usage_error() {
    days_rejected(&["pass", "janitor", "--days", "abc"], "abc");
    days_rejected(&["pass", "janitor", "--days=-1"], "-1");
    days_rejected(&["pass", "janitor", "--days", "inf"], "inf");
}

#[test]
fn negative_days_as_a_separate_argument_get_the_days_message() {
    let err = days_rejected(&["pass", "janitor", "--days", "-1"], "-1");
    assert!(err.contains("not a usable number of days"), "{err}");
}

/// A store in a directory this user cannot write: reading commands read it,
/// writing ones say why they cannot. Root writes anywhere, so as root the
/// commands run as `nobody` (util-linux's `setpriv`).
#[test]
fn a_store_in_a_directory_nobody_can_write_is_still_read() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let db = new_store(&dir);
    let c = rw(&db);
    add_thread(&c, "T001", "active", now_unix() - 3 * DAY);
    drop(c);
    for p in [home.path(), dir.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Files we make are ours: their owner is who we run as.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&db).unwrap()) == 0;
    if !root {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let scratch = tempfile::tempdir().unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let run_as = |args: &[&str]| {
        let mut cmd = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_keeper-tui"));
            c
        } else {
            std::process::Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
        };
        let s = scratch.path();
        cmd.env("HOME", s)
            .env("XDG_CONFIG_HOME", s.join("config"))
            .env("XDG_STATE_HOME", s.join("state"))
            .env_remove("THREADKEEPER_DB")
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run_as(&["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("active=1"), "{}", stdout(&o));
    let o = run_as(&["pass", "janitor", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_as(&["pass", "janitor"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("is not writable, and SQLite writes its -wal and -shm files there"),
        "{err}"
    );
    assert!(
        err.contains("use a read-only command such as `status`"),
        "{err}"
    );
    if !root {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
