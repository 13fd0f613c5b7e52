//! The watchdog inside the engine: detection without a tick (file events
//! and the stale-time wake-up), and heal state across an engine restart.
#![allow(clippy::unwrap_used, reason = "tests")]

mod proc_common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keeper_tui::config::{Config, ProcessConfig, Settings, WatchdogConfig};
use keeper_tui::engine::{Engine, EngineHandle};
use keeper_tui::loops::watchdog::Watchdog;
use keeper_tui::store::keeper::heal_state;
use tokio::sync::oneshot;

use proc_common::{World, events};

fn settings(db: &Path) -> Settings {
    let mut config = Config {
        debounce_ms: 20,
        ..Config::default()
    };
    config.janitor.interval_secs = 0;
    config.reaper.tmux =
        keeper_tui::sys::tmux::Server::Named(format!("keeper-test-{}-none", std::process::id()));
    Settings::resolve(config, None, Some(db))
}

fn engine_with_watchdog(w: &World) -> (Engine, EngineHandle) {
    engine_with(w, w.config())
}

fn engine_with(w: &World, process: ProcessConfig) -> (Engine, EngineHandle) {
    let wd = Watchdog::new(WatchdogConfig {
        tick_secs: 0,
        processes: vec![process],
    });
    Engine::with_loops(settings(&w.db()), vec![std::sync::Arc::new(wd)]).unwrap()
}

fn start(
    engine: Engine,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<keeper_tui::error::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// Poll (bounded) until the store holds a `heal` event; its (target, when
/// we saw it).
async fn wait_heal(db: &Path, limit: Duration) -> Option<(String, SystemTime)> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some((t, _)) = events(db, "heal").into_iter().next() {
            return Some((t.unwrap_or_default(), SystemTime::now()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_is_healed_without_any_tick() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    // The store must exist before the engine opens its read view.
    drop(w.store());
    // A long cooldown: one step is all this test looks for.
    let mut cfg = w.config();
    cfg.cooldown_secs = 3600;
    let (engine, handle) = engine_with(&w, cfg);
    let (stop, task) = start(engine);
    // Healthy at start: the first pass does nothing.
    let mut rx = handle.snapshots.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.loops.first().is_some_and(|l| l.passes >= 1)),
    )
    .await
    .expect("the first pass within 10 s")
    .unwrap();
    assert!(events(&w.db(), "heal").is_empty());

    std::fs::write(w.hang_file(), "").unwrap();
    let found = wait_heal(&w.db(), Duration::from_secs(10)).await;
    let last_beat = std::fs::metadata(w.heartbeat())
        .unwrap()
        .modified()
        .unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let (target, seen) = found.expect("a heal event within 10 s, with tick_secs = 0");
    assert_eq!(target, "bridge:tier1");
    assert!(w.marker().exists(), "the restart marker was written");
    assert_eq!(w.pid(), Some(pid));
    // For information: from the heartbeat crossing the 1 s threshold (by
    // the watchdog's whole-second reckoning: age > 1 s) to our seeing the
    // event.
    let beat = last_beat.duration_since(UNIX_EPOCH).unwrap();
    let crossing = UNIX_EPOCH + Duration::from_secs(beat.as_secs() + 2);
    let exact = last_beat + Duration::from_secs(1);
    eprintln!(
        "tier-1 seen {:?} after the whole-second threshold, {:?} after the exact 1 s age",
        seen.duration_since(crossing).unwrap_or_default(),
        seen.duration_since(exact).unwrap_or_default(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heal_state_survives_an_engine_restart() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    drop(w.store());
    w.hang_until_stale(1);
    {
        // A long cooldown: this engine stops after tier 1.
        let mut cfg = w.config();
        cfg.cooldown_secs = 3600;
        let (engine, _handle) = engine_with(&w, cfg);
        let (stop, task) = start(engine);
        let found = wait_heal(&w.db(), Duration::from_secs(10)).await;
        let _ = stop.send(());
        task.await.unwrap().unwrap();
        assert_eq!(found.unwrap().0, "bridge:tier1");
    }
    let st = heal_state(&rusqlite::Connection::open(w.db()).unwrap(), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (1, 0), "{st:?}");
    assert_eq!(events(&w.db(), "heal").len(), 1);

    // A new engine on the same file goes on to tier 2.
    let (engine, _handle) = engine_with_watchdog(&w);
    let (stop, task) = start(engine);
    let deadline = Instant::now() + Duration::from_secs(10);
    while events(&w.db(), "heal").len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let heals = events(&w.db(), "heal");
    assert!(heals.len() >= 2, "{heals:?}");
    assert_eq!(heals[1].0.as_deref(), Some("bridge:tier2"), "{heals:?}");
    assert!(
        heals[1]
            .1
            .starts_with(&format!("bridge tier 2: SIGTERM sent pid={pid}")),
        "{heals:?}"
    );
}

async fn wait_snapshot(
    handle: &EngineHandle,
    what: &str,
    pred: impl Fn(&keeper_tui::engine::Snapshot) -> bool,
) -> std::sync::Arc<keeper_tui::engine::Snapshot> {
    let mut rx = handle.snapshots.clone();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no snapshot with {what} within 20 s"))
}

/// Poll (bounded) until `kind` has `n` events.
async fn wait_events(db: &Path, kind: &str, n: usize) -> Vec<(Option<String>, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = events(db, kind);
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_tick_a_hang_climbs_past_tier_1_in_one_engine() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    drop(w.store());
    let mut cfg = w.config();
    // Nothing but the cooldown's end can wake the loop after tier 1: the
    // hung bridge writes no file.
    cfg.cooldown_secs = 1;
    let (engine, _handle) = engine_with(&w, cfg);
    let (stop, task) = start(engine);
    std::fs::write(w.hang_file(), "").unwrap();
    let heals = wait_events(&w.db(), "heal", 2).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let targets: Vec<_> = heals.iter().map(|(t, _)| t.clone().unwrap()).collect();
    assert_eq!(targets[..2], ["bridge:tier1", "bridge:tier2"], "{heals:?}");
    assert!(
        heals[1]
            .1
            .starts_with(&format!("bridge tier 2: SIGTERM sent pid={pid}")),
        "{heals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_move_the_panel_but_run_no_pass() {
    let mut w = World::new();
    w.spawn_bridge(&[]);
    drop(w.store());
    let (engine, handle) = engine_with_watchdog(&w);
    let (stop, task) = start(engine);
    let beat =
        |s: &keeper_tui::engine::Snapshot| s.bridges.first().and_then(|b| b.health.heartbeat_at);
    // Three different heartbeat seconds seen on screen (each from a file
    // event), all after the pass at start.
    let first = wait_snapshot(&handle, "the first pass", |s| {
        s.loops.first().is_some_and(|l| l.passes == 1 && !l.running) && beat(s).is_some()
    })
    .await;
    let mut seen = vec![beat(&first)];
    while seen.len() < 3 {
        let last = *seen.last().unwrap();
        let s = wait_snapshot(&handle, "a newer heartbeat", |s| beat(s) > last).await;
        seen.push(beat(&s));
    }
    let now = handle.snapshots.borrow().clone();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(
        now.loops[0].passes, 1,
        "heartbeats re-arm the stale timer; they run no pass"
    );
    // Healthy and no tick: the next look is the heartbeat's stale moment.
    assert!(now.loops[0].next_due.is_some(), "{:?}", now.loops[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_never_comes_back_healthy_opens_the_circuit_once() {
    let w = World::new();
    drop(w.store());
    let mut cfg = w.config();
    // It starts, writes its pid, and never beats: each start is confirmed
    // and each goes stale a second later.
    let tag = format!("{}", 7000 + std::process::id() % 1000);
    cfg.start = vec![
        "sh".into(),
        "-c".into(),
        format!("echo $$ > {}; exec sleep {tag}", w.pid_file().display()),
    ];
    cfg.cmdline_pattern = Some(format!("sleep {tag}"));
    cfg.grace_secs = 0;
    cfg.quiet_secs = 3600;
    let (engine, handle) = engine_with(&w, cfg);
    let (stop, task) = start(engine);
    let broken = wait_events(&w.db(), "circuit_broken", 1).await;
    // Broken: the next look is the next alert, a quiet period away.
    let far = proc_common::now() + 3000;
    let snap = wait_snapshot(&handle, "the next look an hour away", |s| {
        s.loops
            .first()
            .is_some_and(|l| !l.running && l.next_due.is_some_and(|d| d >= far))
    })
    .await;
    let heals = events(&w.db(), "heal");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    if let Some(pid) = w.pid() {
        proc_common::kill9(pid);
    }
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(
        heals.len(),
        3,
        "three restarts, then the breaker: {heals:?}"
    );
    assert!(
        heals
            .iter()
            .all(|(t, _)| t.as_deref() == Some("bridge:tier3"))
    );
    let st = heal_state(&rusqlite::Connection::open(w.db()).unwrap(), "bridge").unwrap();
    assert_eq!(st.failures, 3, "{st:?}");
    assert_eq!(events(&w.db(), "heal").len(), 3, "{:?}", snap.loops[0]);
}
