//! Dashboard figures from a store whose counts are known by construction,
//! the `status` text and JSON, and incremental refresh against a cold build.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use common::*;
use keeper_tui::config::JanitorConfig;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::janitor::Janitor;
use keeper_tui::store::LayoutKind;
use keeper_tui::store::now_unix;
use keeper_tui::store::snapshot::{
    AcceptRate, LoopFigures, OutcomeFigures, Reliability, StoreFigures, StoreView,
};
use keeper_tui::store::writer::Wrote;
use rusqlite::Connection;

const H: i64 = 30 * 60;
const D3: i64 = 3 * DAY;
const D20: i64 = 20 * DAY;
const D40: i64 = 40 * DAY;

/// 3 active, 2 idle, 5 closed threads; 7 notes; 5 tasks (2 running); and
/// events at ages chosen around the 7- and 30-day cuts.
fn build(conn: &Connection, now: i64) {
    for (i, state) in ["active", "active", "active", "idle", "idle"]
        .iter()
        .enumerate()
    {
        add_thread(conn, &format!("T00{i}"), state, now - (i as i64 + 1) * HOUR);
    }
    for i in 0..5 {
        add_closed_thread(conn, &format!("T10{i}"), "done", now - (i + 2) * DAY);
    }
    for i in 0..7 {
        add_note(conn, Some("T000"), &format!("note {i}"), now - i * HOUR);
    }
    for i in 0..5 {
        let ended = (i >= 2).then_some(now - HOUR);
        conn.execute(
            "INSERT INTO tasks (id, pid, cwd, prompt, started_at, ended_at) \
             VALUES (?1, 4242, '/tmp', 'do it', ?2, ?3)",
            rusqlite::params![format!("tk_{i}"), now - 2 * HOUR, ended],
        )
        .unwrap();
    }
    let mut events: Vec<(&str, &str, i64)> = vec![
        ("ingest_pass", "new=1", H),
        ("ingest_pass", "new=1", D3),
        ("ingest_pass", "new=1", D20),
        ("ingest_pass", "new=1", D40),
        ("janitor_pass", "closed=4", D40),
        ("janitor_pass", "closed=3", D20),
        ("janitor_pass", "closed=2", D3),
        ("janitor_pass", "no_stale", H),
        ("curator_pass", "ok", D40),
        ("retention_pass", "ok", D3),
        ("skill_materialized", "s", H),
        ("skill_materialized", "s", H),
        ("skill_materialized", "s", D20),
        ("reject_candidate", "r", D3),
        ("reject_candidate", "r", D40),
        ("accept_candidate:note", "a", D3),
        ("accept_candidate:note", "a", D20),
        ("accept_candidate:note", "a", D40),
        ("accept_candidate:verbatim", "a", H),
        ("note:move", "m", H),
        ("close_thread", "done", D3),
    ];
    // Oldest first, as a live store grows.
    events.sort_by_key(|e| std::cmp::Reverse(e.2));
    for (kind, summary, age) in events {
        let target = if kind == "janitor_pass" { "" } else { "T000" };
        add_event(conn, kind, target, summary, now - age);
    }
}

fn lp(kind: &str, label: &str, window: u64, d30: u64, all: u64, last: i64) -> LoopFigures {
    let mut by_hour = vec![0; 24];
    if last == H {
        by_hour[23] = 1;
    }
    LoopFigures {
        kind: kind.into(),
        label: label.into(),
        fires_window: window,
        fires_30d: d30,
        fires_all: all,
        last_at: Some(last),
        fires_by_hour: by_hour,
    }
}

fn oc(kind: &str, window: u64, d30: u64, all: u64) -> OutcomeFigures {
    OutcomeFigures {
        kind: kind.into(),
        window,
        d30,
        all,
    }
}

/// Figures without the file sizes, which move with every checkpoint.
fn cold(path: &Path, window: u32, now: i64) -> StoreFigures {
    sizeless(StoreView::open(path, window).unwrap().figures(now).unwrap())
}

fn sizeless(mut f: StoreFigures) -> StoreFigures {
    f.stores.db_bytes = 0;
    f.stores.wal_bytes = 0;
    f
}

#[test]
fn every_figure_matches_the_rows_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = now_unix();
    build(&rw(&path), now);
    let f = cold(&path, 7, now);

    let s = &f.stores;
    let g = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
        v.iter().map(|(k, n)| ((*k).to_string(), *n)).collect()
    };
    assert_eq!(s.threads, g(&[("active", 3), ("idle", 2), ("closed", 5)]));
    assert_eq!(s.threads_total, 10);
    assert_eq!(s.notes, 7);
    assert_eq!((s.tasks_running, s.tasks_total), (2, 5));
    assert_eq!(f.layout, LayoutKind::Core);
    assert_eq!(f.events_high_water, 21);

    let rel = |age: i64| now - age;
    let mut want = vec![
        lp("ingest_pass", "ingest", 2, 3, 4, H),
        lp("curator_pass", "curator", 0, 0, 1, D40),
        lp("janitor_pass", "janitor", 2, 3, 4, H),
        lp("retention_pass", "retention", 1, 1, 1, D3),
    ];
    for l in &mut want {
        l.last_at = l.last_at.map(rel);
    }
    assert_eq!(f.loops, want);
    assert_eq!(
        f.outcomes,
        [
            oc("skill_materialized", 2, 3, 3),
            oc("reject_candidate", 1, 1, 2),
            oc("threads_auto_closed", 2, 5, 9),
        ]
    );
    assert_eq!(
        f.candidate_accept_rate,
        AcceptRate {
            accepted: 4,
            decided: 6,
            accepted_window: 2,
        }
    );

    // A one-day window moves only the window column.
    let f1 = cold(&path, 1, now);
    assert_eq!(f1.candidate_accept_rate.accepted_window, 1);
    assert_eq!(f1.loops[0].fires_window, 1);
    assert_eq!(f1.loops[0].fires_30d, 3);
    assert_eq!(f1.outcomes[0].window, 2);
    assert_eq!(f1.outcomes[2], oc("threads_auto_closed", 0, 5, 9));
}

#[test]
fn status_text_and_json_show_the_same_figures() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    build(&rw(&path), now);

    let o = run(home.path(), &path, &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    for header in [
        "stores",
        "loops (fires 7d / 30d, last)",
        "outcomes (7d / 30d / all)",
    ] {
        assert!(lines.contains(&header), "no {header:?} in\n{text}");
    }
    assert!(
        lines.contains(&"  threads: active=3 idle=2 closed=5 (total 10)"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  ingest     2 / 3   last=")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  janitor    2 / 3   last=")),
        "{text}"
    );
    assert!(
        lines.contains(&"  threads_auto_closed    2 / 5 / 9"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  candidate_accept_rate 4/6 = 67%")),
        "{text}"
    );

    let o = run(home.path(), &path, &["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["db"], path.display().to_string());
    let mut want = serde_json::to_value(cold(&path, 7, now)).unwrap();
    // The binary read the clock and the file sizes itself.
    for v in [&mut doc, &mut want] {
        let o = v.as_object_mut().unwrap();
        o.remove("now");
        o.remove("schema");
        o.remove("db");
        let s = o["stores"].as_object_mut().unwrap();
        s.remove("db_bytes");
        s.remove("wal_bytes");
    }
    assert_eq!(doc, want);
}

#[test]
fn incremental_refresh_equals_a_cold_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = now_unix();
    let c = rw(&path);
    build(&c, now);
    let mut view = StoreView::open(&path, 7).unwrap();
    assert_eq!(sizeless(view.figures(now).unwrap()), cold(&path, 7, now));

    // Another process writes: new rows everywhere, a thread closed, a task
    // finished, and a no-op janitor pass collapsed onto the newest row.
    add_thread(&c, "T200", "active", now - 60);
    add_thread(&c, "T201", "idle", now - 50);
    c.execute(
        "UPDATE threads SET state='closed', outcome='x', last_touched_at=?1 WHERE id='T000'",
        [now - 40],
    )
    .unwrap();
    add_event(&c, "close_thread", "T000", "x", now - 40);
    add_note(&c, Some("T200"), "fresh", now - 30);
    add_note(&c, None, "summary", now - 20);
    add_event(&c, "ingest_pass", "", "new=0", now - 60);
    add_event(&c, "probe_pass", "", "ok", now - 30);
    add_event(&c, "skill_materialized", "", "s", now - 120);
    add_event(&c, "accept_candidate:note", "", "a", now - 100);
    add_event(&c, "reject_candidate", "", "r", now - 90);
    c.execute("UPDATE tasks SET ended_at=?1 WHERE id='tk_0'", [now - 10])
        .unwrap();
    c.execute(
        "UPDATE events SET created_at=?1 WHERE id=(SELECT MAX(id) FROM events WHERE kind='janitor_pass')",
        [now - 10],
    )
    .unwrap();
    view.refresh(now).unwrap();
    let f = sizeless(view.figures(now).unwrap());
    assert_eq!(f, cold(&path, 7, now));
    let janitor = f.loops.iter().find(|l| l.label == "janitor").unwrap();
    assert_eq!((janitor.fires_all, janitor.last_at), (4, Some(now - 10)));
    assert_eq!(f.stores.threads_total, 12);
    assert_eq!(f.stores.tasks_running, 1);

    // Retention: the oldest events and notes go.
    c.execute("DELETE FROM events WHERE created_at < ?1", [now - 35 * DAY])
        .unwrap();
    c.execute("DELETE FROM notes WHERE id=(SELECT MIN(id) FROM notes)", [])
        .unwrap();
    view.refresh(now).unwrap();
    let f = sizeless(view.figures(now).unwrap());
    assert_eq!(f, cold(&path, 7, now));
    assert!(f.loops.iter().all(|l| l.label != "curator"));
    assert_eq!(f.stores.notes, 8);

    // The real janitor: a closing pass, then no-op passes that collapse.
    let store = open_writer(&path);
    let j = Janitor::new(JanitorConfig {
        interval_secs: 3600,
        idle_close_days: 0.01,
        run_at_start: true,
        ..JanitorConfig::default()
    });
    for (k, want) in ["closed=", "no_stale", "no_stale"].iter().enumerate() {
        let at = now + k as i64;
        let report = pass(&j, &store, PassMode::Forced, at).unwrap();
        assert!(report.summary.starts_with(want), "{}", report.summary);
        view.refresh(at).unwrap();
        assert_eq!(
            sizeless(view.figures(at).unwrap()),
            cold(&path, 7, at),
            "pass {k}"
        );
    }
}

#[test]
fn missing_optional_tables_read_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let f = cold(&path, 7, now_unix());
    let s = &f.stores;
    assert!(s.threads.is_empty() && s.threads_total == 0);
    assert!(s.skills_by_tier.is_empty() && s.claims_by_tier.is_empty());
    assert!(s.extract_candidates.is_empty() && s.evolve.is_empty());
    assert_eq!((s.notes, s.dialog, s.distill, s.concepts), (0, 0, 0, 0));
    assert_eq!((s.probes, s.probe_results, s.tasks_running), (0, 0, 0));
    assert_eq!(f.reliability, Reliability::default());
    assert!(f.loops.is_empty() && f.outcomes.is_empty());
    assert_eq!(f.candidate_accept_rate, AcceptRate::default());
}

#[test]
fn missing_core_tables_read_as_empty_too() {
    // The spec: a missing table turns that figure into 0/empty, never an error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thin.sqlite");
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE threads (id TEXT PRIMARY KEY, question TEXT NOT NULL, state TEXT NOT NULL, \
         outcome TEXT, last_move TEXT, opened_at INTEGER NOT NULL, last_touched_at INTEGER NOT NULL);",
    )
    .unwrap();
    add_thread(&c, "T001", "active", now_unix());
    drop(c);
    let f = cold(&path, 7, now_unix());
    assert_eq!(f.stores.threads_total, 1);
    assert_eq!((f.stores.notes, f.stores.tasks_total), (0, 0));
    assert!(f.loops.is_empty());
}

#[test]
fn optional_tables_when_present_are_grouped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    c.execute_batch(
        "CREATE TABLE skill_usage (name TEXT PRIMARY KEY, tier TEXT);
         INSERT INTO skill_usage VALUES ('a','validated'),('b','hypothesis'),('c','legacy'),
           ('d','hypothesis'),('e','observed');
         CREATE TABLE user_dialectic (id INTEGER PRIMARY KEY, tier TEXT);
         INSERT INTO user_dialectic (tier) VALUES ('disputed'),('hypothesis');
         CREATE TABLE extract_candidates (id INTEGER PRIMARY KEY, status TEXT);
         INSERT INTO extract_candidates (status) VALUES ('rejected'),('pending'),('accepted'),
           ('rejected'),('pending'),('rejected');
         CREATE TABLE evolve (id INTEGER PRIMARY KEY, status TEXT);
         INSERT INTO evolve (status) VALUES (NULL),('promoted'),('pending'),(NULL);
         CREATE TABLE probes (id INTEGER PRIMARY KEY, category TEXT, enabled INTEGER);
         INSERT INTO probes (category, enabled) VALUES ('a',1),('b',1),('c',1),('d',0),('e',1),('a',1);
         CREATE TABLE probe_results (id INTEGER PRIMARY KEY, probe_id INTEGER);
         INSERT INTO probe_results (probe_id) VALUES (1),(1),(2),(3);
         CREATE TABLE reliability (category TEXT PRIMARY KEY, fail_rate_30d REAL, attempts INTEGER);
         INSERT INTO reliability VALUES ('a',0.5,3),('b',0.0,5),('x',0.9,2),('y',0.2,10),('e',NULL,0);
         CREATE TABLE dialog_messages (id INTEGER PRIMARY KEY, content TEXT);
         INSERT INTO dialog_messages (content) VALUES ('1'),('2'),('3');
         CREATE TABLE distill (id INTEGER PRIMARY KEY);
         INSERT INTO distill DEFAULT VALUES; INSERT INTO distill DEFAULT VALUES;
         CREATE TABLE concepts (id INTEGER PRIMARY KEY);
         INSERT INTO concepts DEFAULT VALUES;",
    )
    .unwrap();
    let f = cold(&path, 7, now_unix());
    let s = &f.stores;
    let g = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
        v.iter().map(|(k, n)| ((*k).to_string(), *n)).collect()
    };
    // Known keys in threadkeeper's order first, then the rest sorted.
    assert_eq!(
        s.skills_by_tier,
        g(&[
            ("hypothesis", 2),
            ("observed", 1),
            ("validated", 1),
            ("legacy", 1)
        ])
    );
    assert_eq!(s.claims_by_tier, g(&[("hypothesis", 1), ("disputed", 1)]));
    assert_eq!(
        s.extract_candidates,
        g(&[("pending", 2), ("accepted", 1), ("rejected", 3)])
    );
    assert_eq!(s.evolve, g(&[("pending", 3), ("promoted", 1)]));
    assert_eq!((s.probes, s.probe_results), (6, 4));
    assert_eq!((s.dialog, s.distill, s.concepts), (3, 2, 1));
    // Weak: a and y (x has too few attempts). Untested: c (no row), e (0 attempts).
    assert_eq!(
        f.reliability,
        Reliability {
            weak_categories: 2,
            untested_categories: 2
        }
    );
}

#[test]
fn a_collapse_followed_by_a_new_pass_before_refresh_is_not_missed() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = now_unix();
    let c = rw(&path);
    add_event(&c, "janitor_pass", "", "closed=1", now - D3);
    add_event(&c, "janitor_pass", "", "no_stale", now - 2 * DAY);
    let mut view = StoreView::open(&path, 1).unwrap();
    // Between two refreshes: a no-op pass moves the newest row, then a
    // closing pass inserts a new one.
    c.execute(
        "UPDATE events SET created_at=?1 WHERE id=(SELECT MAX(id) FROM events WHERE kind='janitor_pass')",
        [now - 100],
    )
    .unwrap();
    add_event(&c, "janitor_pass", "", "closed=2", now - 50);
    view.refresh(now).unwrap();
    let f = sizeless(view.figures(now).unwrap());
    assert_eq!(f, cold(&path, 1, now));
    assert_eq!(f.loops[0].fires_window, 2);
}

#[test]
fn pass_history_keeps_the_newest_thousand_per_loop() {
    use keeper_tui::store::keeper::{PASSES_KEPT, PassRecord, recent_passes, record_pass};
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    let rec = |loop_id: &str, n: i64| PassRecord {
        loop_id: loop_id.into(),
        mode: "scheduled".into(),
        started_at: n,
        finished_at: n,
        ok: true,
        summary: format!("pass {n}"),
    };
    record_pass(&c, &rec("reaper", 0)).unwrap();
    for n in 0..PASSES_KEPT + 10 {
        record_pass(&c, &rec("janitor", n)).unwrap();
    }
    let kept = count(
        &c,
        "SELECT COUNT(*) FROM keeper_passes WHERE loop_id='janitor'",
    );
    assert_eq!(kept, PASSES_KEPT);
    let newest = recent_passes(&c, "janitor", 1).unwrap();
    assert_eq!(newest[0].summary, format!("pass {}", PASSES_KEPT + 9));
    let oldest: i64 = c
        .query_row(
            "SELECT MIN(started_at) FROM keeper_passes WHERE loop_id='janitor'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(oldest, 10, "the oldest ten went");
    assert_eq!(
        recent_passes(&c, "reaper", 5).unwrap().len(),
        1,
        "other loops keep theirs"
    );
}

/// threadkeeper's consolidate deletes duplicate notes from the middle of
/// `notes`: a refresh after such a commit counts again, and the minute's
/// full check catches deletions that came in one commit with new rows.
#[test]
fn rows_deleted_from_the_middle_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = now_unix();
    let c = rw(&path);
    build(&c, now);
    for i in 0..300 {
        add_note(&c, None, &format!("note {i}"), now - 1000 + i);
        add_event(&c, "note:move", "", "x", now - 1000 + i);
    }
    let mut view = StoreView::open(&path, 7).unwrap();
    assert!(!view.verify(now).unwrap(), "a fresh view has not drifted");
    let notes = |v: &mut StoreView| v.figures(now).unwrap().stores.notes;
    let before = notes(&mut view);

    // A pure deletion: 200 notes from the middle, nothing added.
    let mid: i64 = c
        .query_row("SELECT MIN(id) + 50 FROM notes", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM notes WHERE id BETWEEN ?1 AND ?1 + 199", [mid])
        .unwrap();
    view.refresh(now).unwrap();
    assert_eq!(notes(&mut view), before - 200);
    assert_eq!(sizeless(view.figures(now).unwrap()), cold(&path, 7, now));

    // Deleted in the same commit as a new note and its event: the tail
    // adds one; the full check finds the rest.
    c.execute_batch(&format!(
        "BEGIN; DELETE FROM notes WHERE id BETWEEN {m} AND {m} + 349; \
         DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT 20 OFFSET 100); \
         INSERT INTO notes (thread_id, content, kind, created_at) VALUES (NULL, 'n', 'move', {now}); \
         INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('s', 'note:move', '', 'x', {now}); \
         COMMIT;",
        m = mid + 200
    ))
    .unwrap();
    view.refresh(now).unwrap();
    assert!(view.verify(now).unwrap(), "the drift is found");
    assert_eq!(sizeless(view.figures(now).unwrap()), cold(&path, 7, now));
    assert!(!view.verify(now).unwrap(), "and gone");
}

/// The view skips its full counts after commits that were all keeper's own
/// (the lease's renewal every few seconds): the writer tells them apart by
/// SQLite's `data_version`, which moves only for other connections' commits.
#[test]
fn the_writer_tells_its_own_commits_from_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = now_unix();
    let w = keeper_tui::store::WriteStore::open(&path, "keeper-tui").unwrap();
    assert_eq!(
        w.others_wrote(),
        Wrote::Nothing,
        "nothing since the writer opened"
    );
    w.write(|tx| {
        tx.execute(
            "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('k', 'janitor_pass', '', 'x', ?1)",
            [now],
        )
    })
    .unwrap();
    assert_eq!(
        w.others_wrote(),
        Wrote::OwnOnly,
        "a commit of the writer's own"
    );
    let c = rw(&path);
    add_note(&c, None, "someone else's", now);
    assert_eq!(
        w.others_wrote(),
        Wrote::Others,
        "another connection committed"
    );
    assert_eq!(w.others_wrote(), Wrote::Nothing, "each is told once");
    // Both kinds between two asks: the other's is what counts.
    add_event(&c, "note:move", "", "x", now);
    w.write(|tx| tx.execute("DELETE FROM events WHERE kind = 'janitor_pass'", []))
        .unwrap();
    assert_eq!(w.others_wrote(), Wrote::Others);
    // Asked while it writes, the writer cannot tell yet; the next answer
    // covers the commits since the last one.
    add_note(&c, None, "while the writer was busy", now);
    let busy = w
        .write(|_| Ok::<_, rusqlite::Error>(w.others_wrote()))
        .unwrap();
    assert_eq!(busy, Wrote::Unknown);
    assert_eq!(w.others_wrote(), Wrote::Others);
    assert_eq!(w.others_wrote(), Wrote::Nothing);
    // The lease's renewal is no news to the view; another write is.
    w.with_conn_quiet(None, |c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS keeper_quiet (x); INSERT INTO keeper_quiet VALUES (1)",
        )
    })
    .unwrap();
    assert_eq!(w.others_wrote(), Wrote::Nothing);
    w.with_conn(None, |c| {
        c.execute("INSERT INTO keeper_quiet VALUES (2)", [])
    })
    .unwrap();
    assert_eq!(w.others_wrote(), Wrote::OwnOnly);

    // After the writer's own commits, the tail still shows what they added.
    let mut view = StoreView::open(&path, 7).unwrap();
    w.write(|tx| {
        tx.execute(
            "INSERT INTO notes (thread_id, content, kind, created_at) VALUES (NULL, 'n', 'move', ?1)",
            [now],
        )?;
        tx.execute(
            "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('k', 'note:move', '', 'x', ?1)",
            [now],
        )
    })
    .unwrap();
    view.refresh_after_own_writes(now).unwrap();
    assert_eq!(sizeless(view.figures(now).unwrap()), cold(&path, 7, now));
}
