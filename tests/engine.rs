//! The engine under test: real store files, real file watching, test loops
//! where a pass must be slow, failing or panicking on purpose.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keeper_tui::config::{Config, Settings};
use keeper_tui::engine::{Command, Engine, EngineHandle, Snapshot};
use keeper_tui::error::{Error, Result};
use keeper_tui::loops::{Loop, LoopId, PassCtx, PassMode, PassResult};
use keeper_tui::store::threads::{ThreadFilter, ThreadQuery};
use keeper_tui::store::{WriteStore, now_unix};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// A loop whose passes take `delay`, count themselves, and fail or panic
/// on the passes listed.
struct TestLoop {
    passes: Arc<AtomicUsize>,
    delay: Duration,
    fail_on: Vec<usize>,
    panic_on: Vec<usize>,
    interval: Option<Duration>,
}

impl TestLoop {
    fn new(passes: &Arc<AtomicUsize>) -> Self {
        TestLoop {
            passes: Arc::clone(passes),
            delay: Duration::ZERO,
            fail_on: vec![],
            panic_on: vec![],
            interval: None,
        }
    }
}

impl Loop for TestLoop {
    fn id(&self) -> LoopId {
        LoopId::Janitor
    }
    fn interval(&self) -> Option<Duration> {
        self.interval
    }
    fn pass(&self, _ctx: &PassCtx<'_>) -> Result<PassResult> {
        let n = self.passes.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::sleep(self.delay);
        assert!(!self.panic_on.contains(&n), "test loop panics on pass {n}");
        if self.fail_on.contains(&n) {
            return Err(Error::Refused(format!("test loop fails on pass {n}")));
        }
        Ok(PassResult::quiet(format!("pass {n}")))
    }
    fn dry_run(&self, _conn: &Connection, _path: &Path, _now: i64) -> Result<PassResult> {
        assert!(!self.panic_on.contains(&0), "test loop panics on a dry-run");
        Ok(PassResult::quiet("nothing"))
    }
}

/// Ask the engine; the answer as the status bar words it.
async fn ask(handle: &EngineHandle, command: Command) -> std::result::Result<String, String> {
    handle
        .request(command)
        .await
        .map(|o| o.to_string())
        .map_err(|e| e.to_string())
}

fn new_store(dir: &Path) -> PathBuf {
    let path = dir.join("db.sqlite");
    drop(WriteStore::open(&path, "keeper-tui").unwrap());
    let now = now_unix();
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "INSERT INTO threads (id, question, state, depth, opened_at, last_touched_at) VALUES
               ('T001', 'old question', 'active', 0, {old}, {old}),
               ('T002', 'fresh question', 'active', 0, {now}, {now}),
               ('T003', 'closed question', 'closed', 0, {old}, {old});",
            old = now - 5 * 86_400
        ))
        .unwrap();
    path
}

fn settings(path: &Path, tweak: impl FnOnce(&mut Config)) -> Settings {
    let mut config = Config {
        debounce_ms: 20,
        ..Config::default()
    };
    config.janitor.interval_secs = 0;
    // Never the default tmux server: a private socket with no server.
    config.reaper.tmux =
        keeper_tui::sys::tmux::Server::Named(format!("keeper-test-{}-none", std::process::id()));
    tweak(&mut config);
    Settings::resolve(config, None, Some(path))
}

/// Start an engine on its own task and wait until its file watch is up;
/// returns a trigger that stops it and the join handle of `run`.
async fn start(
    engine: Engine,
    handle: &EngineHandle,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(async move {
        let _ = stopped.await;
    }));
    wait_for(handle, "the engine started", |s| {
        s.notices
            .iter()
            .any(|n| n.text.starts_with("engine started"))
    })
    .await;
    (stop, task)
}

/// Wait (bounded) for a snapshot that satisfies `pred`.
async fn wait_for(
    handle: &EngineHandle,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut rx = handle.snapshots.clone();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let snap = rx.borrow_and_update().clone();
            if pred(&snap) {
                return snap;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no snapshot with {what} within 10 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_forces_during_a_pass_coalesce_into_one_more_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let passes = Arc::new(AtomicUsize::new(0));
    let lp = TestLoop {
        delay: Duration::from_millis(400),
        ..TestLoop::new(&passes)
    };
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![Arc::new(lp)]).unwrap();
    let (stop, task) = start(engine, &handle).await;

    let first = {
        let h = handle.clone();
        tokio::spawn(async move { ask(&h, Command::ForcePass(LoopId::Janitor)).await })
    };
    wait_for(&handle, "the first pass running", |s| s.loops[0].running).await;
    let mut more = Vec::new();
    for _ in 0..10 {
        let h = handle.clone();
        more.push(tokio::spawn(async move {
            ask(&h, Command::ForcePass(LoopId::Janitor)).await
        }));
    }
    assert_eq!(first.await.unwrap().unwrap(), "janitor: pass 1");
    for r in more {
        assert_eq!(r.await.unwrap().unwrap(), "janitor: pass 2");
    }
    assert_eq!(
        passes.load(Ordering::SeqCst),
        2,
        "ten forces during a pass must run one more pass"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_passes_are_reported_and_the_loop_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let passes = Arc::new(AtomicUsize::new(0));
    let lp = TestLoop {
        fail_on: vec![1],
        panic_on: vec![2],
        ..TestLoop::new(&passes)
    };
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![Arc::new(lp)]).unwrap();
    let (stop, task) = start(engine, &handle).await;

    let failed = ask(&handle, Command::ForcePass(LoopId::Janitor))
        .await
        .unwrap_err();
    assert!(failed.contains("test loop fails on pass 1"), "{failed}");
    let panicked = ask(&handle, Command::ForcePass(LoopId::Janitor))
        .await
        .unwrap_err();
    assert!(
        panicked.contains("panicked") && panicked.contains("panics on pass 2"),
        "{panicked}"
    );
    let ok = ask(&handle, Command::ForcePass(LoopId::Janitor))
        .await
        .unwrap();
    assert_eq!(ok, "janitor: pass 3");

    let snap = wait_for(&handle, "three passes", |s| s.loops[0].passes == 3).await;
    let status = &snap.loops[0];
    assert_eq!(status.failures, 2);
    assert!(status.last.as_ref().unwrap().ok);
    assert!(
        snap.notices
            .iter()
            .any(|n| n.error && n.text.contains("panicked"))
    );
    // Failures leave no event in the store; keeper's own record keeps them
    // for the loop's detail view.
    let history = ask(&handle, Command::LoopHistory("janitor_pass".into()))
        .await
        .unwrap();
    assert!(
        history.contains("FAILED") && history.contains("test loop fails on pass 1"),
        "{history}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_passes_run_at_start_and_then_on_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let passes = Arc::new(AtomicUsize::new(0));
    let lp = TestLoop {
        interval: Some(Duration::from_millis(300)),
        ..TestLoop::new(&passes)
    };
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![Arc::new(lp)]).unwrap();
    let (stop, task) = start(engine, &handle).await;
    let snap = wait_for(&handle, "three scheduled passes", |s| {
        s.loops[0].passes >= 3
    })
    .await;
    assert_eq!(
        snap.loops[0].last.as_ref().unwrap().mode,
        PassMode::Scheduled
    );
    assert!(snap.loops[0].next_due.is_some());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_of_zero_schedules_nothing_but_a_force_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::new(settings(&path, |_| {})).unwrap();
    let (stop, task) = start(engine, &handle).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = handle.snapshots.borrow().clone();
    assert_eq!(
        snap.loops[0].passes, 0,
        "interval 0 must not schedule a pass"
    );
    assert_eq!(snap.loops[0].interval_secs, None);
    let reply = ask(&handle, Command::ForcePass(LoopId::Janitor))
        .await
        .unwrap();
    assert_eq!(
        reply, "janitor: closed=1: T001",
        "the reply names what it closed"
    );
    let conn = Connection::open(&path).unwrap();
    let state: String = conn
        .query_row("SELECT state FROM threads WHERE id='T001'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state, "closed");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_commit_shows_up_in_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::new(settings(&path, |_| {})).unwrap();
    let (stop, task) = start(engine, &handle).await;
    let before = wait_for(&handle, "store figures", |s| s.store.is_some()).await;
    assert_eq!(before.store.as_ref().unwrap().stores.threads_total, 3);

    let other = Connection::open(&path).unwrap();
    other
        .execute(
            "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('s1','ingest_pass','','new=1',?1)",
            [now_unix()],
        )
        .unwrap();
    other
        .execute(
            "INSERT INTO threads (id, question, state, depth, opened_at, last_touched_at) VALUES ('T004','q','active',0,?1,?1)",
            [now_unix()],
        )
        .unwrap();
    let snap = wait_for(&handle, "the external commit", |s| {
        s.store.as_ref().is_some_and(|f| {
            f.stores.threads_total == 4
                && f.loops
                    .iter()
                    .any(|l| l.kind == "ingest_pass" && l.fires_window == 1)
        })
    })
    .await;
    assert!(snap.last_refresh.is_some());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_change_in_one_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let dump = |p: &Path| -> Vec<(String, String, i64)> {
        let c = Connection::open(p).unwrap();
        let mut st = c
            .prepare("SELECT id, state, last_touched_at FROM threads ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let before = dump(&path);
    let (engine, handle) = Engine::new(settings(&path, |c| {
        c.read_only = true;
        c.janitor.interval_secs = 1;
    }))
    .unwrap();
    let (stop, task) = start(engine, &handle).await;
    for cmd in [
        Command::ForcePass(LoopId::Janitor),
        Command::ForceAll,
        Command::ReopenThread {
            id: "T003".into(),
            note: None,
        },
    ] {
        let err = ask(&handle, cmd.clone()).await.unwrap_err();
        assert!(err.contains("read-only"), "{cmd:?} gave {err}");
    }
    let dry = ask(&handle, Command::DryRun(LoopId::Janitor))
        .await
        .unwrap();
    assert!(dry.contains("would close 1 thread"), "{dry}");
    ask(&handle, Command::Refresh).await.unwrap();
    // Every action's result reaches the Log too (a dry-run's first line).
    let snap = wait_for(&handle, "the results in the log", |s| {
        s.notices
            .iter()
            .any(|n| n.text.starts_with("janitor dry-run: would close 1 thread"))
            && s.notices.iter().any(|n| n.text.starts_with("refreshed in"))
    })
    .await;
    assert!(
        !snap.notices.iter().any(|n| n.text.contains("T001 active")),
        "the dry-run list stays out of the log"
    );
    assert_eq!(dump(&path), before, "read-only engine changed the store");
    let janitor = handle.snapshots.borrow().loops[0].clone();
    assert_eq!(janitor.passes, 0, "read-only engine ran a pass");
    assert_eq!(
        (janitor.interval_secs, janitor.next_due),
        (None, None),
        "a read-only engine schedules nothing"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_through_the_engine_answers_and_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::new(settings(&path, |_| {})).unwrap();
    let (stop, task) = start(engine, &handle).await;
    let msg = ask(
        &handle,
        Command::ReopenThread {
            id: "T003".into(),
            note: Some("back on it".into()),
        },
    )
    .await
    .unwrap();
    assert!(msg.contains("reopened T003 (was closed)"), "{msg}");
    let err = ask(
        &handle,
        Command::ReopenThread {
            id: "T999".into(),
            note: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("T999") && err.contains("does not exist"),
        "{err}"
    );
    wait_for(&handle, "T003 counted as active", |s| {
        s.store.as_ref().is_some_and(|f| {
            f.stores
                .threads
                .iter()
                .any(|(k, n)| k == "active" && *n == 3)
        })
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_disappears_is_reported_and_recovers_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![]).unwrap();
    let (stop, task) = start(engine, &handle).await;
    wait_for(&handle, "store figures", |s| s.store.is_some()).await;

    let aside = dir.path().join("aside.sqlite");
    std::fs::rename(&path, &aside).unwrap();
    let snap = wait_for(&handle, "a store error", |s| s.store_error.is_some()).await;
    assert!(snap.store.is_none());
    assert!(
        snap.store_error.as_ref().unwrap().contains("db.sqlite"),
        "{:?}",
        snap.store_error
    );

    std::fs::rename(&aside, &path).unwrap();
    let snap = wait_for(&handle, "the store back", |s| {
        s.store.is_some() && s.store_error.is_none()
    })
    .await;
    assert_eq!(snap.store.as_ref().unwrap().stores.threads_total, 3);
    assert!(
        snap.notices
            .iter()
            .any(|n| n.text.contains("readable again"))
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_pass_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let passes = Arc::new(AtomicUsize::new(0));
    let lp = TestLoop {
        delay: Duration::from_millis(500),
        ..TestLoop::new(&passes)
    };
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![Arc::new(lp)]).unwrap();
    let (stop, task) = start(engine, &handle).await;
    let pending = {
        let h = handle.clone();
        tokio::spawn(async move { ask(&h, Command::ForcePass(LoopId::Janitor)).await })
    };
    wait_for(&handle, "the pass running", |s| s.loops[0].running).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        pending.await.unwrap().unwrap(),
        "janitor: pass 1",
        "the pass in flight must finish and answer"
    );
    let last = handle.snapshots.borrow().clone();
    assert!(last.notices.iter().any(|n| &*n.text == "engine stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_filters_are_applied_in_the_order_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::new(settings(&path, |_| {})).unwrap();
    let (stop, task) = start(engine, &handle).await;
    // Keystrokes as the UI sends them: queued one after another, answers
    // awaited apart. The last filter must win, whatever ran when.
    let words = ["old", "fresh", "closed"];
    let mut answers = Vec::new();
    for i in 0..60 {
        answers.push(handle.send(Command::SetThreadQuery(ThreadQuery {
            filter: ThreadFilter {
                state: None,
                text: words[i % 3].into(),
            },
            ..ThreadQuery::default()
        })));
    }
    let last = ThreadFilter {
        state: None,
        text: "fresh".into(),
    };
    answers.push(handle.send(Command::SetThreadQuery(ThreadQuery {
        filter: last.clone(),
        ..ThreadQuery::default()
    })));
    for a in answers {
        a.await.unwrap().unwrap();
    }
    let snap = wait_for(&handle, "the last filter", |s| {
        s.threads.query.filter == last
    })
    .await;
    let ids: Vec<_> = snap.threads.rows.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T002"]);
    // Nothing older lands after it.
    handle.request(Command::Refresh).await.unwrap();
    let snap = handle.snapshots.borrow().clone();
    assert_eq!(snap.threads.query.filter, last);
    assert_eq!(snap.threads.rows.len(), 1);
    assert_eq!(snap.threads.total, 1);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_answers_its_waiter_and_the_engine_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let passes = Arc::new(AtomicUsize::new(0));
    let lp = TestLoop {
        panic_on: vec![0],
        ..TestLoop::new(&passes)
    };
    let (engine, handle) = Engine::with_loops(settings(&path, |_| {}), vec![Arc::new(lp)]).unwrap();
    let (stop, task) = start(engine, &handle).await;
    let err = ask(&handle, Command::DryRun(LoopId::Janitor))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("janitor dry-run failed: test loop panics on a dry-run"),
        "{err}"
    );
    wait_for(&handle, "the panic in the log", |s| {
        s.notices
            .iter()
            .any(|n| n.error && n.text.contains("panics on a dry-run"))
    })
    .await;
    assert_eq!(
        ask(&handle, Command::ForcePass(LoopId::Janitor))
            .await
            .unwrap(),
        "janitor: pass 1"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_passes_that_changed_something_or_failed_leave_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let (engine, handle) = Engine::new(settings(&path, |_| {})).unwrap();
    let (stop, task) = start(engine, &handle).await;
    // Closes T001, then finds nothing, twice.
    for want in [
        "janitor: closed=1: T001",
        "janitor: no_stale",
        "janitor: no_stale",
    ] {
        assert_eq!(
            ask(&handle, Command::ForcePass(LoopId::Janitor))
                .await
                .unwrap(),
            want
        );
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let history =
        keeper_tui::store::keeper::recent_passes(&Connection::open(&path).unwrap(), "janitor", 10)
            .unwrap();
    let summaries: Vec<_> = history.iter().map(|p| p.summary.as_str()).collect();
    // The history names what the pass closed (the Loops row's details show it).
    assert_eq!(summaries, ["closed=1: T001"]);
}

/// The engine keeps the rollup as it reads new events and when it stops,
/// so the next start (a TUI's, or `status`) begins from where it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_the_rollup_current() {
    use keeper_tui::store::snapshot::{RollupState, StoreView};
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let cache = dir.path().join("cache");
    let mut s = settings(&path, |_| {});
    s.cache_dir = Some(cache.clone());
    let (engine, handle) = Engine::new(s).unwrap();
    let (stop, task) = start(engine, &handle).await;
    wait_for(&handle, "store figures", |s| s.store.is_some()).await;

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN").unwrap();
    for i in 0..50 {
        other
            .execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('s1','ingest_pass','','new=1',?1)",
                [now_unix() - i],
            )
            .unwrap();
    }
    other.execute_batch("COMMIT").unwrap();
    let ours: i64 = other
        .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
        .unwrap();
    wait_for(&handle, "the 50 events", |s| {
        s.store.as_ref().is_some_and(|f| {
            f.loops
                .iter()
                .any(|l| l.kind == "ingest_pass" && l.fires_window == 50)
        })
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let newest: i64 = other
        .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
        .unwrap();
    let mut view = StoreView::open_cached(&path, 7, Some(&cache)).unwrap();
    match view.rollup_state() {
        // Only what the engine's own loops wrote after its last read.
        RollupState::Used { tailed, .. } => assert!(
            *tailed <= (newest - ours) as u64,
            "tailed {tailed}, written after ours {}",
            newest - ours
        ),
        other => panic!("the engine's rollup was not used: {other:?}"),
    }
    let f = view.figures(now_unix()).unwrap();
    assert!(
        f.loops
            .iter()
            .any(|l| l.kind == "ingest_pass" && l.fires_all == 50)
    );
}
