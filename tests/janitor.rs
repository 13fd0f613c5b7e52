//! The janitor pass against real store files: threshold, texts, events,
//! collapse of no-op passes, disabled vs forced, dry-run, a note landing
//! during the pass, and all-or-nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use keeper_tui::config::JanitorConfig;
use keeper_tui::loops::janitor::Janitor;
use keeper_tui::loops::{Loop, PassMode};
use keeper_tui::store::threads::{janitor_cutoff, janitor_outcome};
use rusqlite::params;

const NOW: i64 = 1_750_000_000;

fn janitor(days: f64) -> Janitor {
    Janitor::new(JanitorConfig {
        interval_secs: 3600,
        idle_close_days: days,
        run_at_start: true,
        ..JanitorConfig::default()
    })
}

/// `(id, session_id, target, summary, created_at)` of every event of `kind`.
fn events_of(conn: &rusqlite::Connection, kind: &str) -> Vec<(i64, String, String, String, i64)> {
    let mut stmt = conn
        .prepare("SELECT id, session_id, target, summary, created_at FROM events WHERE kind=?1 ORDER BY id")
        .unwrap();
    stmt.query_map([kind], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[test]
fn only_threads_strictly_older_than_the_cutoff_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let cutoff = janitor_cutoff(NOW, 1.0);
    assert_eq!(cutoff, NOW - DAY);
    let c = rw(&path);
    add_thread(&c, "Ta00", "active", cutoff);
    add_thread(&c, "Tb00", "active", cutoff - 1);
    add_thread(&c, "Tc00", "idle", cutoff - 1);
    add_thread(&c, "Td00", "idle", cutoff);

    let store = open_writer(&path);
    let report = pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, "closed=2");
    assert!(report.changed);
    assert_eq!(report.touched_count, 2);
    assert_eq!(
        report.touched,
        [
            keeper_tui::loops::Touched::Thread("Tb00".into()),
            keeper_tui::loops::Touched::Thread("Tc00".into())
        ]
    );

    assert_eq!(thread(&c, "Ta00"), ("active".into(), None, cutoff));
    assert_eq!(thread(&c, "Td00"), ("idle".into(), None, cutoff));
    let outcome = "auto-closed by janitor: idle > 1d (reopen via note)".to_string();
    assert_eq!(
        thread(&c, "Tb00"),
        ("closed".into(), Some(outcome.clone()), NOW)
    );
    assert_eq!(thread(&c, "Tc00"), ("closed".into(), Some(outcome), NOW));
}

#[test]
fn fractional_days_shape_the_cutoff_and_the_outcome_text() {
    assert_eq!(janitor_cutoff(NOW, 1.5), NOW - 129_600);
    // int(days * 86400): the fraction of a second is dropped.
    assert_eq!(janitor_cutoff(NOW, 1.000_01), NOW - 86_400);
    assert_eq!(janitor_cutoff(NOW, 0.25), NOW - 21_600);
    assert_eq!(janitor_cutoff(NOW, -3.0), NOW);
    assert_eq!(
        janitor_outcome(1.5),
        "auto-closed by janitor: idle > 1.5d (reopen via note)"
    );
    assert_eq!(
        janitor_outcome(1.0),
        "auto-closed by janitor: idle > 1d (reopen via note)"
    );
    assert_eq!(
        janitor_outcome(3.0),
        "auto-closed by janitor: idle > 3d (reopen via note)"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    let cutoff = NOW - 129_600;
    add_thread(&c, "T150", "active", cutoff);
    add_thread(&c, "T151", "active", cutoff - 1);
    // Older than 1 day but not than 1.5: a whole-day rule would close it.
    add_thread(&c, "T152", "idle", NOW - DAY - HOUR);
    let store = open_writer(&path);
    let report = pass(&janitor(1.5), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, "closed=1");
    assert_eq!(thread(&c, "T150").0, "active");
    assert_eq!(thread(&c, "T152").0, "idle");
    assert_eq!(
        thread(&c, "T151").1.as_deref(),
        Some("auto-closed by janitor: idle > 1.5d (reopen via note)")
    );
}

#[test]
fn closed_threads_are_left_exactly_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_closed_thread(&c, "Tc01", "shipped: the fix", NOW - 100 * DAY);
    add_thread(&c, "Ts01", "active", NOW - 5 * DAY);
    let store = open_writer(&path);
    pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(
        thread(&c, "Tc01"),
        (
            "closed".into(),
            Some("shipped: the fix".into()),
            NOW - 100 * DAY
        )
    );
    let targets: Vec<String> = events_of(&c, "close_thread")
        .into_iter()
        .map(|e| e.2)
        .collect();
    assert_eq!(targets, ["Ts01"]);
}

#[test]
fn every_close_gets_its_event_and_the_pass_one_janitor_pass_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T002", "active", NOW - 3 * DAY);
    add_thread(&c, "T001", "idle", NOW - 9 * DAY);
    add_thread(&c, "T003", "active", NOW - 2 * DAY);
    add_thread(&c, "T004", "active", NOW - HOUR);
    let store = open_writer(&path);
    assert_eq!(store.session_id, "keeper-tui");
    let report = pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, "closed=3");

    let outcome = janitor_outcome(1.0);
    let closes = events_of(&c, "close_thread");
    let got: Vec<(String, String, String, i64)> = closes
        .into_iter()
        .map(|(_, s, t, sum, at)| (s, t, sum, at))
        .collect();
    // Oldest thread first, as threadkeeper's one-by-one loop orders them.
    let want: Vec<(String, String, String, i64)> = ["T001", "T002", "T003"]
        .iter()
        .map(|id| ("keeper-tui".into(), (*id).into(), outcome.clone(), NOW))
        .collect();
    assert_eq!(got, want);
    let passes = events_of(&c, "janitor_pass");
    assert_eq!(passes.len(), 1);
    let (_, session, target, summary, at) = &passes[0];
    assert_eq!(
        (session.as_str(), target.as_str(), summary.as_str(), *at),
        ("keeper-tui", "", "closed=3", NOW)
    );
    assert_eq!(count(&c, "SELECT COUNT(*) FROM events"), 4);
}

#[test]
fn a_configured_session_id_signs_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T010", "active", NOW - 3 * DAY);
    let store = keeper_tui::store::WriteStore::open(&path, "ops-7").unwrap();
    pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM events WHERE session_id='ops-7'"),
        2
    );
    assert_eq!(count(&c, "SELECT COUNT(*) FROM events"), 2);
}

#[test]
fn a_second_pass_finds_nothing_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T020", "active", NOW - 3 * DAY);
    add_thread(&c, "T021", "idle", NOW - 4 * DAY);
    let store = open_writer(&path);
    let j = janitor(1.0);
    assert_eq!(
        pass(&j, &store, PassMode::Forced, NOW).unwrap().summary,
        "closed=2"
    );
    let threads_after_first = thread(&c, "T020");
    let report = pass(&j, &store, PassMode::Forced, NOW + 60).unwrap();
    assert_eq!(report.summary, "no_stale");
    assert_eq!(thread(&c, "T020"), threads_after_first);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM events WHERE kind='close_thread'"),
        2
    );
}

#[test]
fn no_op_passes_collapse_into_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T030", "active", NOW - HOUR);
    let store = open_writer(&path);
    let j = janitor(1.0);

    pass(&j, &store, PassMode::Forced, NOW).unwrap();
    let first = events_of(&c, "janitor_pass");
    assert_eq!(first.len(), 1);
    pass(&j, &store, PassMode::Forced, NOW + 600).unwrap();
    let second = events_of(&c, "janitor_pass");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].0, first[0].0, "the same row, moved");
    assert_eq!(second[0].3, "no_stale");
    assert_eq!(second[0].4, NOW + 600);

    // A pass that closes something inserts; the next no-op does not move it.
    add_thread(&c, "T031", "idle", NOW - 5 * DAY);
    pass(&j, &store, PassMode::Forced, NOW + 1200).unwrap();
    pass(&j, &store, PassMode::Forced, NOW + 1800).unwrap();
    let rows: Vec<(String, i64)> = events_of(&c, "janitor_pass")
        .into_iter()
        .map(|e| (e.3, e.4))
        .collect();
    assert_eq!(
        rows,
        [
            ("no_stale".to_string(), NOW + 600),
            ("closed=1".to_string(), NOW + 1200),
            ("no_stale".to_string(), NOW + 1800),
        ]
    );
    pass(&j, &store, PassMode::Forced, NOW + 2400).unwrap();
    let rows = events_of(&c, "janitor_pass");
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[1].3.as_str(), rows[1].4), ("closed=1", NOW + 1200));
    assert_eq!((rows[2].3.as_str(), rows[2].4), ("no_stale", NOW + 2400));
}

#[test]
fn a_disabled_loop_skips_scheduled_passes_but_runs_forced_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T040", "active", NOW - 3 * DAY);
    add_thread(&c, "T041", "idle", NOW - 3 * DAY);
    drop(c);
    let store = open_writer(&path);
    let j = Janitor::new(JanitorConfig {
        interval_secs: 0,
        idle_close_days: 1.0,
        run_at_start: true,
        ..JanitorConfig::default()
    });
    assert_eq!(j.interval(), None);
    let before = dump(&path);
    let report = pass(&j, &store, PassMode::Scheduled, NOW).unwrap();
    assert_eq!(report.summary, "disabled");
    assert!(!report.changed);
    assert_eq!(dump(&path), before);

    let report = pass(&j, &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, "closed=2");
    assert_ne!(dump(&path), before);
}

#[test]
fn a_thread_touched_while_the_pass_waits_for_the_lock_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    for (i, id) in ["T050", "T051", "T052", "T053"].iter().enumerate() {
        add_thread(&c, id, "active", NOW - (3 + i as i64) * DAY);
    }
    // Open the writer first so it only waits inside the pass itself.
    let store = open_writer(&path);

    // threadkeeper's note on T052, not committed yet.
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    c.execute(
        "INSERT INTO notes (thread_id, content, kind, created_at, session_id) \
         VALUES ('T052', 'still on it', 'move', ?1, 's_other')",
        [NOW],
    )
    .unwrap();
    c.execute(
        "UPDATE threads SET last_touched_at=?1, last_move='still on it' WHERE id='T052'",
        params![NOW],
    )
    .unwrap();

    let pass = std::thread::spawn(move || {
        let r = pass(&janitor(1.0), &store, PassMode::Forced, NOW);
        (r, store)
    });
    std::thread::sleep(Duration::from_millis(300));
    c.execute_batch("COMMIT").unwrap();
    let (report, _store) = pass.join().unwrap();
    assert_eq!(report.unwrap().summary, "closed=3");

    assert_eq!(thread(&c, "T052"), ("active".into(), None, NOW));
    for id in ["T050", "T051", "T053"] {
        assert_eq!(thread(&c, id).0, "closed", "{id}");
    }
    let targets: Vec<String> = events_of(&c, "close_thread")
        .into_iter()
        .map(|e| e.2)
        .collect();
    assert_eq!(targets, ["T053", "T051", "T050"]);
}

#[test]
fn a_pass_that_fails_midway_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    add_thread(&c, "T060", "active", NOW - 3 * DAY);
    add_thread(&c, "T061", "idle", NOW - 4 * DAY);
    // The janitor_pass row is the transaction's last write: fail exactly there.
    c.execute_batch(
        "CREATE TRIGGER fail_close BEFORE INSERT ON events WHEN NEW.kind='janitor_pass' \
         BEGIN SELECT RAISE(ABORT,'boom'); END;",
    )
    .unwrap();
    let store = open_writer(&path);
    let before = dump(&path);
    let err = pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(dump(&path), before);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM threads WHERE state='closed'"),
        0
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM events WHERE kind='close_thread'"),
        0
    );

    c.execute_batch("DROP TRIGGER fail_close").unwrap();
    let report = pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, "closed=2");
}

#[test]
fn a_dry_run_lists_at_most_500_but_counts_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    c.execute_batch("BEGIN").unwrap();
    for i in 0..600 {
        add_thread(&c, &format!("T{i:04x}"), "idle", NOW - 2 * DAY - i);
    }
    c.execute_batch("COMMIT").unwrap();
    let j = janitor(1.0);
    let report = j.dry_run(&ro(&path), &path, NOW).unwrap();
    assert_eq!(report.summary, "would close 600 thread(s) idle > 1d");
    assert_eq!(report.detail.len(), 500);
    assert!(!report.changed);
    // Oldest first.
    assert!(
        report.detail[0].starts_with("T0257 idle"),
        "{}",
        report.detail[0]
    );
    assert_eq!(count(&c, "SELECT COUNT(*) FROM events"), 0);
}

#[test]
fn a_pass_blocked_by_another_writer_says_so_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let now = keeper_tui::store::now_unix();
    let c = rw(&path);
    add_thread(&c, "T001", "active", now - 3 * DAY);
    let before = dump(&path);
    let holder = rw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let store = keeper_tui::store::WriteStore::open(&path, "keeper-tui").unwrap();
    store
        .with_conn(None, |c| {
            c.busy_timeout(std::time::Duration::from_millis(100))
        })
        .unwrap();
    let err = keeper_tui::actions::run_pass(&janitor(1.0), &path, &store, PassMode::Forced, now)
        .unwrap_err();
    assert!(
        err.to_string().contains("stayed locked by another writer"),
        "{err}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        dump(&path),
        before,
        "a blocked pass must leave no trace, not even its history line"
    );
}

#[test]
fn a_big_pass_names_its_first_threads_and_counts_them_all() {
    use keeper_tui::loops::{TOUCHED_LISTED, Touched};
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    let n = TOUCHED_LISTED + 50;
    for i in 0..n {
        add_thread(&c, &format!("T{i:04}"), "active", NOW - 2 * DAY - i as i64);
    }
    let store = open_writer(&path);
    let report = pass(&janitor(1.0), &store, PassMode::Forced, NOW).unwrap();
    assert_eq!(report.summary, format!("closed={n}"));
    assert_eq!(report.touched_count, n);
    assert_eq!(report.touched.len(), TOUCHED_LISTED);
    // Oldest first, as the events went in.
    assert_eq!(report.touched[0], Touched::Thread(format!("T{:04}", n - 1)));
}

/// A scheduled pass never closes more than `max_close_per_pass`: above it,
/// it closes nothing and says how many it would; a pass the operator agreed
/// to closes that many, and holds if more are stale by then.
#[test]
fn a_pass_over_its_limit_holds_and_changes_nothing() {
    use keeper_tui::loops::{Allowed, Held};
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let c = rw(&path);
    for i in 0..250 {
        add_thread(
            &c,
            &format!("T{i:04}"),
            "active",
            NOW - 2 * DAY - i64::from(i),
        );
    }
    let store = open_writer(&path);
    let before = dump(&path);
    let r = pass(&janitor(1.0), &store, PassMode::Scheduled, NOW).unwrap();
    assert_eq!(
        r.held,
        Some(Held {
            would: 250,
            limit: 200
        })
    );
    assert_eq!(r.summary, "held: would close 250 (limit 200)");
    assert!(!r.changed);
    assert_eq!(dump(&path), before, "held: not a row written");

    // The operator saw 249 and agreed; 250 are stale: still held.
    let r = pass_allowed(&janitor(1.0), &store, Allowed::Agreed(249), NOW).unwrap();
    assert_eq!(
        r.held,
        Some(Held {
            would: 250,
            limit: 249
        })
    );
    assert_eq!(dump(&path), before);
    // Agreed to 250: all closed.
    let r = pass_allowed(&janitor(1.0), &store, Allowed::Agreed(250), NOW).unwrap();
    assert_eq!((r.held, r.summary.as_str()), (None, "closed=250"));
    // The limit configured to 0: any pass that would close something holds.
    let c = rw(&path);
    add_thread(&c, "T9999", "active", NOW - 3 * DAY);
    let strict = keeper_tui::loops::janitor::Janitor::new(keeper_tui::config::JanitorConfig {
        max_close_per_pass: 0,
        ..keeper_tui::config::JanitorConfig::default()
    });
    let r = pass(&strict, &store, PassMode::Scheduled, NOW).unwrap();
    assert_eq!(r.held, Some(Held { would: 1, limit: 0 }));
}
