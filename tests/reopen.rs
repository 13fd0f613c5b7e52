//! Reopening a thread the way threadkeeper's `note` does, through the
//! library and through `keeper-tui reopen`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::*;
use keeper_tui::actions::{DEFAULT_REOPEN_NOTE, reopen_thread};
use keeper_tui::config::JanitorConfig;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::janitor::Janitor;
use keeper_tui::store::now_unix;
use rusqlite::Connection;

const NOW: i64 = 1_750_000_000;

/// `(state, outcome, last_touched_at, last_move)`.
fn full(conn: &Connection, id: &str) -> (String, Option<String>, i64, Option<String>) {
    conn.query_row(
        "SELECT state, outcome, last_touched_at, last_move FROM threads WHERE id=?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

/// `(thread_id, content, kind, created_at, session_id)` of every note.
fn notes(conn: &Connection) -> Vec<(String, String, String, i64, String)> {
    let mut stmt = conn
        .prepare("SELECT thread_id, content, kind, created_at, session_id FROM notes ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// `(session_id, kind, target, summary, created_at)` of every event.
fn events(conn: &Connection) -> Vec<(String, String, String, String, i64)> {
    let mut stmt = conn
        .prepare("SELECT session_id, kind, target, summary, created_at FROM events ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[test]
fn a_closed_thread_comes_back_active_with_its_note() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_closed_thread(&c, "T1a2", "shipped: half of it", NOW - 10 * DAY);
    let store = open_writer(&path);
    // Multi-byte and long: the 90/200 cuts count characters, not bytes.
    let note = format!("réouvert — {}fin", "étape suivante ".repeat(20));
    let msg = reopen_thread(&store, "T1a2", Some(&note), NOW)
        .unwrap()
        .to_string();
    assert!(msg.contains("reopened T1a2 (was closed)"), "{msg}");

    let (state, outcome, touched, last_move) = full(&c, "T1a2");
    assert_eq!(state, "active");
    assert_eq!(outcome.as_deref(), Some("shipped: half of it"));
    assert_eq!(touched, NOW);
    assert_eq!(last_move, Some(chars(&note, 90)));
    assert_eq!(
        notes(&c),
        [(
            "T1a2".into(),
            note.clone(),
            "move".into(),
            NOW,
            "keeper-tui".into()
        )]
    );
    assert_eq!(
        events(&c),
        [(
            "keeper-tui".into(),
            "note:move".into(),
            "T1a2".into(),
            chars(&note, 200),
            NOW
        )]
    );
    // The notes_fts triggers fired: the note is searchable like any other.
    let hits = count(
        &c,
        "SELECT COUNT(*) FROM notes_fts WHERE notes_fts MATCH 'suivante'",
    );
    assert_eq!(hits, 1);
}

#[test]
fn without_a_note_the_default_text_is_recorded_and_idle_becomes_active() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T2b3", "idle", NOW - 3 * DAY);
    let store = open_writer(&path);
    let msg = reopen_thread(&store, "T2b3", None, NOW)
        .unwrap()
        .to_string();
    assert!(msg.contains("was idle"), "{msg}");
    assert_eq!(
        full(&c, "T2b3"),
        (
            "active".into(),
            None,
            NOW,
            Some(DEFAULT_REOPEN_NOTE.to_string())
        )
    );
    assert_eq!(notes(&c)[0].1, DEFAULT_REOPEN_NOTE);
    assert_eq!(events(&c)[0].3, DEFAULT_REOPEN_NOTE);

    // A blank note is no note.
    add_thread(&c, "T2b4", "idle", NOW - 3 * DAY);
    reopen_thread(&store, "T2b4", Some("   "), NOW + 1).unwrap();
    assert_eq!(notes(&c)[1].1, DEFAULT_REOPEN_NOTE);
}

/// Nothing to reopen: refused, and not a row written (a reopen that only
/// added a note was a change nobody asked for).
#[test]
fn an_active_thread_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T3c4", "active", NOW - HOUR);
    let before = dump(&path);
    let store = open_writer(&path);
    let err = reopen_thread(&store, "T3c4", Some("checked again"), NOW).unwrap_err();
    assert!(matches!(err, keeper_tui::error::Error::Refused(_)), "{err}");
    assert_eq!(err.to_string(), "T3c4 is already active: nothing to reopen");
    assert_eq!(dump(&path), before);
}

#[test]
fn reopen_through_the_binary() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let c = rw(&path);
    add_closed_thread(&c, "T4d5", "gave up", now_unix() - 5 * DAY);
    drop(c);
    let o = run(
        home.path(),
        &path,
        &["reopen", "T4d5", "--note", "trying again"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("reopened T4d5 (was closed)"));
    let c = ro(&path);
    let (state, outcome, _, last_move) = full(&c, "T4d5");
    assert_eq!(
        (state.as_str(), outcome.as_deref(), last_move.as_deref()),
        ("active", Some("gave up"), Some("trying again"))
    );
    assert_eq!(notes(&c)[0].4, "keeper-tui");
}

#[test]
fn an_unknown_id_through_the_binary_exits_2_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let c = rw(&path);
    add_thread(&c, "T5e6", "idle", now_unix() - 3 * DAY);
    drop(c);
    let before = dump(&path);
    let o = run(home.path(), &path, &["reopen", "Tfff", "--note", "hello"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = clean_failure(&o, &path);
    assert!(err.contains("\"Tfff\""), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(dump(&path), before);
}

#[test]
fn a_reopened_thread_is_not_closed_by_the_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T6f7", "active", NOW - 3 * DAY);
    let store = open_writer(&path);
    let j = Janitor::new(JanitorConfig {
        interval_secs: 3600,
        idle_close_days: 1.0,
        run_at_start: true,
        ..JanitorConfig::default()
    });
    assert_eq!(
        pass(&j, &store, PassMode::Forced, NOW).unwrap().summary,
        "closed=1"
    );
    reopen_thread(&store, "T6f7", None, NOW + 60).unwrap();
    let report = pass(&j, &store, PassMode::Forced, NOW + 3600).unwrap();
    assert_eq!(report.summary, "no_stale");
    let (state, outcome, touched, _) = full(&c, "T6f7");
    assert_eq!((state.as_str(), touched), ("active", NOW + 60));
    // The janitor's outcome stays, as threadkeeper keeps it.
    assert_eq!(
        outcome.as_deref(),
        Some("auto-closed by janitor: idle > 1d (reopen via note)")
    );
    // A day later without a touch it is stale again.
    let report = pass(&j, &store, PassMode::Forced, NOW + 60 + DAY + 1).unwrap();
    assert_eq!(report.summary, "closed=1");
}

#[test]
fn on_a_0_21_store_the_note_inherits_the_threads_scope() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    c.execute_batch(
        "ALTER TABLE threads ADD COLUMN project_id TEXT;
         ALTER TABLE threads ADD COLUMN memory_scope TEXT;
         ALTER TABLE notes ADD COLUMN project_id TEXT;
         ALTER TABLE notes ADD COLUMN memory_scope TEXT;
         CREATE TABLE daemon_health (id INTEGER PRIMARY KEY, at INTEGER);
         PRAGMA user_version = 5;",
    )
    .unwrap();
    add_closed_thread(&c, "T7a8", "done", NOW - DAY);
    c.execute(
        "UPDATE threads SET project_id='p-42', memory_scope='global' WHERE id='T7a8'",
        [],
    )
    .unwrap();
    let store = open_writer(&path);
    assert_eq!(
        store.layout().kind,
        keeper_tui::store::LayoutKind::Threadkeeper021
    );
    reopen_thread(&store, "T7a8", Some("back to it"), NOW).unwrap();
    let scope: (String, String) = c
        .query_row("SELECT project_id, memory_scope FROM notes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(scope, ("p-42".to_string(), "global".to_string()));
    assert_eq!(full(&c, "T7a8").0, "active");
}

#[test]
fn reopen_on_a_missing_file_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("typo.sqlite");
    let o = run(home.path(), &db, &["reopen", "T001"]);
    let err = clean_failure(&o, &db);
    assert!(err.contains("no threadkeeper database"), "{err}");
    assert!(!db.exists(), "reopen created {}", db.display());
}
