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
