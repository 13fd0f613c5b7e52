//! `keeper_job_runs`, `keeper_watched` and `keeper_job_fires` against a
//! real store file: dedupe, dependencies, the state guards, retries,
//! pruning, the watcher's memory, schedule fires, and that threadkeeper's
//! own tables and `user_version` are left as they were.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::*;
use keeper_tui::store::jobs::{self, Args, Ending, Reason, Run, RunState, Spawned};
use rusqlite::Connection;

fn store() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let db = new_store(dir.path());
    let conn = rw(&db);
    (dir, conn)
}

fn args(path: &str) -> Args {
    Args::from([("path".to_string(), path.to_string())])
}

fn spawned() -> Spawned<'static> {
    Spawned {
        holder: "engine-1",
        pid: 4242,
        pgid: 4242,
        proc_started_at: Some(1_700_000_000),
        log_path: Some("/tmp/run.log"),
    }
}

fn ending(state: RunState) -> Ending<'static> {
    Ending {
        state,
        exit_code: Some(i64::from(state != RunState::Succeeded)),
        signal: None,
        tail: Some("last line"),
        detail: None,
    }
}

fn state(conn: &Connection, id: i64) -> RunState {
    jobs::get(conn, id).unwrap().unwrap().state
}

fn lone(conn: &Connection, job: &str, now: f64) -> i64 {
    jobs::queue(conn, job, &Args::new(), Reason::Operator, None, None, now).unwrap()
}

/// Start and end `id` as `how`.
fn run_to(conn: &Connection, id: i64, how: RunState, now: f64) {
    assert!(jobs::mark_running(conn, id, &spawned(), now).unwrap());
    assert!(jobs::finish(conn, id, &ending(how), now + 1.0).unwrap());
}

#[test]
fn readers_on_a_store_keeper_never_wrote_see_nothing_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_store(dir.path());
    let before = dump(&db);
    let conn = ro(&db);
    assert!(jobs::list(&conn, 10).unwrap().is_empty());
    assert!(jobs::running(&conn).unwrap().is_empty());
    assert!(jobs::startable(&conn, 1e12, 10).unwrap().is_empty());
    assert_eq!(jobs::get(&conn, 1).unwrap(), None);
    assert_eq!(jobs::watched(&conn, "/x").unwrap(), None);
    assert_eq!(jobs::last_fire(&conn, "j").unwrap(), None);
    assert_eq!(jobs::prune(&conn, 0).unwrap(), 0);
    assert_eq!(dump(&db), before);
}

#[test]
fn a_queued_run_reads_back_with_every_column() {
    let (_dir, conn) = store();
    let id = jobs::queue(
        &conn,
        "digest",
        &args("/t/a.jsonl"),
        Reason::Watcher,
        None,
        None,
        100.5,
    )
    .unwrap();
    let run: Run = jobs::get(&conn, id).unwrap().unwrap();
    assert_eq!(run.job, "digest");
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.attempt, 0);
    assert_eq!(run.args, args("/t/a.jsonl"));
    assert_eq!(run.reason.as_deref(), Some("watcher"));
    assert_eq!((run.queued_at, run.not_before), (100.5, 100.5));
    assert_eq!((run.pid, run.started_at, run.ended_at), (None, None, None));

    assert!(jobs::mark_running(&conn, id, &spawned(), 101.0).unwrap());
    let run = jobs::get(&conn, id).unwrap().unwrap();
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.holder.as_deref(), Some("engine-1"));
    assert_eq!((run.pid, run.pgid), (Some(4242), Some(4242)));
    assert_eq!(run.proc_started_at, Some(1_700_000_000));
    assert_eq!(run.log_path.as_deref(), Some("/tmp/run.log"));
    assert_eq!(run.started_at, Some(101.0));
    assert_eq!(jobs::running(&conn).unwrap(), vec![run]);

    let killed = Ending {
        state: RunState::TimedOut,
        exit_code: None,
        signal: Some(9),
        tail: Some("still going"),
        detail: Some("timed out after 60s"),
    };
    assert!(jobs::finish(&conn, id, &killed, 161.0).unwrap());
    let run = jobs::get(&conn, id).unwrap().unwrap();
    assert_eq!(run.state, RunState::TimedOut);
    assert_eq!((run.exit_code, run.signal), (None, Some(9)));
    assert_eq!(run.tail.as_deref(), Some("still going"));
    assert_eq!(run.detail.as_deref(), Some("timed out after 60s"));
    assert_eq!(run.ended_at, Some(161.0));
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(json["state"], "timed_out");
    assert_eq!(json["args"]["path"], "/t/a.jsonl");
}

#[test]
fn run_state_names_round_trip_and_only_live_states_are_not_final() {
    for st in RunState::ALL {
        assert_eq!(RunState::parse(st.name()), Some(st));
        assert_eq!(
            st.is_final(),
            !matches!(st, RunState::Queued | RunState::Running)
        );
    }
    assert_eq!(RunState::parse("exploded"), None);
}

#[test]
fn dedupe_counts_queued_and_running_runs_but_not_finished_ones() {
    let (_dir, conn) = store();
    let a = args("/t/a.jsonl");
    let q = |now| jobs::queue_unless_pending(&conn, "digest", &a, Reason::Watcher, None, None, now);
    let first = q(1.0).unwrap().expect("nothing pending: queued");
    assert_eq!(q(2.0).unwrap(), None, "queued counts");
    // Other arguments, or another job, are other work.
    let b = jobs::queue_unless_pending(
        &conn,
        "digest",
        &args("/t/b.jsonl"),
        Reason::Watcher,
        None,
        None,
        2.0,
    );
    assert!(b.unwrap().is_some());
    let other = jobs::queue_unless_pending(&conn, "index", &a, Reason::Watcher, None, None, 2.0);
    assert!(other.unwrap().is_some());

    assert!(jobs::mark_running(&conn, first, &spawned(), 3.0).unwrap());
    assert_eq!(q(4.0).unwrap(), None, "running counts");

    assert!(jobs::finish(&conn, first, &ending(RunState::Succeeded), 5.0).unwrap());
    let again = q(6.0).unwrap().expect("a finished run does not count");
    assert_ne!(again, first);
}

#[test]
fn startable_waits_for_backoff_and_for_the_run_it_follows_to_succeed() {
    let (_dir, conn) = store();
    let head = lone(&conn, "fetch", 10.0);
    let next = jobs::queue(
        &conn,
        "build",
        &Args::new(),
        Reason::After(head),
        Some(head),
        Some(head),
        11.0,
    )
    .unwrap();
    let ids = |now| -> Vec<i64> {
        jobs::startable(&conn, now, 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(9.0), Vec::<i64>::new(), "not before it was queued");
    assert_eq!(ids(20.0), vec![head], "`build` waits for `fetch`");

    assert!(jobs::mark_running(&conn, head, &spawned(), 20.0).unwrap());
    assert_eq!(ids(21.0), Vec::<i64>::new(), "running is not succeeded");
    assert!(jobs::finish(&conn, head, &ending(RunState::Succeeded), 22.0).unwrap());
    assert_eq!(ids(23.0), vec![next]);

    // Oldest first, and the limit holds.
    let later = lone(&conn, "late", 30.0);
    let early = lone(&conn, "early", 5.0);
    assert_eq!(ids(40.0), vec![early, next, later]);
    assert_eq!(jobs::startable(&conn, 40.0, 1).unwrap()[0].id, early);
}

#[test]
fn a_failed_run_skips_every_run_waiting_on_it_transitively() {
    let (_dir, conn) = store();
    let a = lone(&conn, "a", 1.0);
    let chain = |job: &str, after: i64| {
        jobs::queue(
            &conn,
            job,
            &Args::new(),
            Reason::After(after),
            Some(a),
            Some(after),
            2.0,
        )
        .unwrap()
    };
    let b = chain("b", a);
    let c = chain("c", b);
    let d = chain("d", c);
    let unrelated = lone(&conn, "e", 2.0);

    // Not while `a` might still succeed.
    assert!(jobs::skip_dependants(&conn, a, 3.0).unwrap().is_empty());
    run_to(&conn, a, RunState::Failed, 3.0);
    assert_eq!(jobs::skip_dependants(&conn, a, 5.0).unwrap(), vec![b, c, d]);
    for id in [b, c, d] {
        let run = jobs::get(&conn, id).unwrap().unwrap();
        assert_eq!(run.state, RunState::Skipped);
        assert_eq!(
            run.detail.as_deref(),
            Some(format!("#{a} (a) failed").as_str())
        );
        assert_eq!(run.ended_at, Some(5.0));
    }
    assert_eq!(state(&conn, unrelated), RunState::Queued);
    assert!(
        jobs::skip_dependants(&conn, a, 6.0).unwrap().is_empty(),
        "once"
    );
}

#[test]
fn a_cancelled_queued_run_skips_its_dependants_and_a_success_skips_none() {
    let (_dir, conn) = store();
    let a = lone(&conn, "a", 1.0);
    let b = jobs::queue(
        &conn,
        "b",
        &Args::new(),
        Reason::After(a),
        Some(a),
        Some(a),
        1.0,
    )
    .unwrap();
    assert!(jobs::cancel_queued(&conn, a, Some("operator"), 2.0).unwrap());
    assert!(!jobs::cancel_queued(&conn, a, None, 2.0).unwrap(), "once");
    assert_eq!(jobs::skip_dependants(&conn, a, 3.0).unwrap(), vec![b]);
    assert_eq!(
        jobs::get(&conn, b).unwrap().unwrap().detail.as_deref(),
        Some(format!("#{a} (a) cancelled").as_str())
    );

    let ok = lone(&conn, "ok", 1.0);
    let waits = jobs::queue(
        &conn,
        "w",
        &Args::new(),
        Reason::After(ok),
        Some(ok),
        Some(ok),
        1.0,
    )
    .unwrap();
    run_to(&conn, ok, RunState::Succeeded, 2.0);
    assert!(jobs::skip_dependants(&conn, ok, 4.0).unwrap().is_empty());
    assert_eq!(state(&conn, waits), RunState::Queued);
}

#[test]
fn guards_let_only_the_first_writer_move_a_run() {
    let (_dir, conn) = store();
    let id = lone(&conn, "j", 1.0);
    assert!(
        !jobs::finish(&conn, id, &ending(RunState::Failed), 2.0).unwrap(),
        "a queued run cannot finish"
    );
    assert!(jobs::mark_running(&conn, id, &spawned(), 2.0).unwrap());
    assert!(
        !jobs::mark_running(&conn, id, &spawned(), 2.5).unwrap(),
        "a running run cannot start again"
    );
    assert!(!jobs::cancel_queued(&conn, id, None, 2.5).unwrap());
    assert!(
        !jobs::finish(&conn, id, &ending(RunState::Running), 3.0).unwrap(),
        "not a final state"
    );
    assert!(jobs::finish(&conn, id, &ending(RunState::Failed), 3.0).unwrap());
    assert!(
        !jobs::finish(&conn, id, &ending(RunState::Succeeded), 4.0).unwrap(),
        "finish twice: the second changes nothing"
    );
    assert!(!jobs::mark_running(&conn, id, &spawned(), 5.0).unwrap());
    let run = jobs::get(&conn, id).unwrap().unwrap();
    assert_eq!((run.state, run.ended_at), (RunState::Failed, Some(3.0)));
    assert!(
        !jobs::mark_running(&conn, 999, &spawned(), 5.0).unwrap(),
        "no such run"
    );
}

#[test]
fn a_retry_is_a_new_attempt_and_the_chain_behind_it_follows() {
    let (_dir, conn) = store();
    let head = lone(&conn, "fetch", 1.0);
    run_to(&conn, head, RunState::Succeeded, 2.0);
    let a = args("/t/x");
    let mid = jobs::queue(
        &conn,
        "build",
        &a,
        Reason::After(head),
        Some(head),
        Some(head),
        3.0,
    )
    .unwrap();
    let tail = jobs::queue(
        &conn,
        "ship",
        &Args::new(),
        Reason::After(mid),
        Some(head),
        Some(mid),
        3.0,
    )
    .unwrap();

    assert_eq!(
        jobs::requeue_for_retry(&conn, mid, 10.0, 4.0).unwrap(),
        None,
        "not ended"
    );
    run_to(&conn, mid, RunState::Failed, 4.0);
    let retry = jobs::requeue_for_retry(&conn, mid, 30.0, 6.0)
        .unwrap()
        .unwrap();
    let r = jobs::get(&conn, retry).unwrap().unwrap();
    assert_eq!(r.state, RunState::Queued);
    assert_eq!((r.job.as_str(), &r.args), ("build", &a));
    assert_eq!(
        (r.attempt, r.chain, r.after_run),
        (1, Some(head), Some(head))
    );
    assert_eq!(r.reason, Some(format!("retry of #{mid}")));
    assert_eq!(
        r.retry_of,
        Some(mid),
        "the retry names the run it tries again"
    );
    assert_eq!((r.queued_at, r.not_before), (6.0, 30.0));
    assert_eq!(
        jobs::get(&conn, tail).unwrap().unwrap().after_run,
        Some(retry),
        "`ship` now waits for the retry"
    );
    assert!(
        jobs::startable(&conn, 29.0, 10).unwrap().is_empty(),
        "backoff"
    );
    assert_eq!(jobs::startable(&conn, 30.0, 10).unwrap()[0].id, retry);

    run_to(&conn, retry, RunState::Failed, 31.0);
    let third = jobs::requeue_for_retry(&conn, retry, 40.0, 33.0)
        .unwrap()
        .unwrap();
    assert_eq!(jobs::get(&conn, third).unwrap().unwrap().attempt, 2);
    assert_eq!(jobs::requeue_for_retry(&conn, 999, 1.0, 1.0).unwrap(), None);
}

#[test]
fn list_shows_running_then_queued_then_newest_history() {
    let (_dir, conn) = store();
    let old = lone(&conn, "old", 1.0);
    run_to(&conn, old, RunState::Succeeded, 1.0);
    let q1 = lone(&conn, "q1", 2.0);
    let newer = lone(&conn, "newer", 3.0);
    run_to(&conn, newer, RunState::Failed, 3.0);
    let q2 = lone(&conn, "q2", 4.0);
    let r = lone(&conn, "r", 5.0);
    assert!(jobs::mark_running(&conn, r, &spawned(), 5.0).unwrap());
    let ids: Vec<i64> = jobs::list(&conn, 10)
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(ids, vec![r, q1, q2, newer, old]);
    assert_eq!(jobs::list(&conn, 2).unwrap().len(), 2);
}

#[test]
fn prune_keeps_the_newest_final_runs_and_every_live_one() {
    let (_dir, conn) = store();
    let live_q = lone(&conn, "q", 0.0);
    let live_r = lone(&conn, "r", 0.0);
    assert!(jobs::mark_running(&conn, live_r, &spawned(), 0.0).unwrap());
    // An old success something still waits on stays, or its follower never starts.
    let needed = lone(&conn, "needed", 0.0);
    run_to(&conn, needed, RunState::Succeeded, 0.0);
    let follower = jobs::queue(
        &conn,
        "f",
        &Args::new(),
        Reason::After(needed),
        Some(needed),
        Some(needed),
        0.0,
    )
    .unwrap();
    // One transaction: a thousand commits would only test the disk.
    let tx = conn.unchecked_transaction().unwrap();
    let finals: Vec<i64> = (0..1_010)
        .map(|i| {
            let id = lone(&tx, "many", f64::from(i));
            run_to(&tx, id, RunState::Succeeded, f64::from(i));
            id
        })
        .collect();
    tx.commit().unwrap();
    let gone = jobs::prune(&conn, jobs::RUNS_KEPT).unwrap();
    assert_eq!(gone, 10);
    let left = count(&conn, "SELECT COUNT(*) FROM keeper_job_runs");
    assert_eq!(left, 1_000 + 4);
    for id in [live_q, live_r, needed, follower] {
        assert!(jobs::get(&conn, id).unwrap().is_some(), "#{id} kept");
    }
    assert!(jobs::get(&conn, finals[9]).unwrap().is_none());
    assert!(jobs::get(&conn, finals[10]).unwrap().is_some());
    assert_eq!(jobs::startable(&conn, 1e9, 10).unwrap().len(), 2, "q and f");

    assert_eq!(jobs::prune(&conn, 0).unwrap(), 1_000);
    let states: Vec<RunState> = jobs::list(&conn, 10)
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(
        states,
        vec![
            RunState::Running,
            RunState::Queued,
            RunState::Queued,
            RunState::Succeeded
        ]
    );
}

#[test]
fn a_watched_file_is_new_again_when_its_size_or_mtime_changes() {
    let (_dir, conn) = store();
    let path = "/home/u/.sessions/a.jsonl";
    assert_eq!(jobs::watched(&conn, path).unwrap(), None);
    jobs::remember_watched(&conn, path, 100, 1_000, Some(7), 2_000).unwrap();
    assert_eq!(jobs::watched(&conn, path).unwrap(), Some((100, 1_000)));
    assert_eq!(jobs::watched(&conn, "/other").unwrap(), None);

    jobs::remember_watched(&conn, path, 150, 1_000, Some(8), 2_100).unwrap();
    assert_eq!(jobs::watched(&conn, path).unwrap(), Some((150, 1_000)));
    jobs::remember_watched(&conn, path, 150, 1_050, None, 2_200).unwrap();
    assert_eq!(jobs::watched(&conn, path).unwrap(), Some((150, 1_050)));
    let row: (Option<i64>, i64) = conn
        .query_row(
            "SELECT run, processed_at FROM keeper_watched WHERE path = ?1",
            [path],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(row, (None, 2_200));
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM keeper_watched"),
        1,
        "keyed by path"
    );
}

#[test]
fn a_schedule_fire_moves_only_forward() {
    let (_dir, conn) = store();
    assert_eq!(jobs::last_fire(&conn, "nightly").unwrap(), None);
    assert!(jobs::set_last_fire(&conn, "nightly", 100.0).unwrap());
    assert!(
        !jobs::set_last_fire(&conn, "nightly", 100.0).unwrap(),
        "same slot twice"
    );
    assert!(
        !jobs::set_last_fire(&conn, "nightly", 50.0).unwrap(),
        "never back"
    );
    assert_eq!(jobs::last_fire(&conn, "nightly").unwrap(), Some(100.0));
    assert!(jobs::set_last_fire(&conn, "nightly", 200.0).unwrap());
    assert_eq!(jobs::last_fire(&conn, "nightly").unwrap(), Some(200.0));
    assert_eq!(jobs::last_fire(&conn, "hourly").unwrap(), None);
}

#[test]
fn threadkeepers_tables_and_user_version_are_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = new_store(dir.path());
    rw(&db).pragma_update(None, "user_version", 5).unwrap();
    add_thread(&rw(&db), "t1", "active", 1_000);
    let theirs = |path| -> Vec<String> {
        dump(path)
            .into_iter()
            .filter(|l| !l.contains("keeper_job") && !l.contains("keeper_watched"))
            .filter(|l| !l.contains("sqlite_sequence"))
            .collect()
    };
    let before = theirs(&db);
    {
        let conn = rw(&db);
        let tx = conn.unchecked_transaction().unwrap();
        let id = lone(&tx, "j", 1.0);
        run_to(&tx, id, RunState::Failed, 2.0);
        jobs::requeue_for_retry(&tx, id, 3.0, 3.0).unwrap();
        jobs::skip_dependants(&tx, id, 3.0).unwrap();
        jobs::remember_watched(&tx, "/p", 1, 1, Some(id), 3).unwrap();
        jobs::set_last_fire(&tx, "j", 1.0).unwrap();
        jobs::prune(&tx, 0).unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(theirs(&db), before);
    let conn = ro(&db);
    let uv: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uv, 5);
    let names = schema_names(&conn);
    for t in ["keeper_job_runs", "keeper_watched", "keeper_job_fires"] {
        assert!(names.iter().any(|n| n == t), "{t} in {names:?}");
    }
}
