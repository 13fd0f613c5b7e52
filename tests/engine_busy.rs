//! While the watchdog waits out a tier-3 grace (a hung bridge that ignores
//! SIGTERM), the operator's commands do not wait for it: a reopen, a reap
//! by hand and a circuit reset all answer while the heal is still under
//! way. Then a shutdown mid-heal starts no new process.
#![allow(clippy::unwrap_used, reason = "tests")]

mod proc_common;
mod tmux_common;

use std::time::{Duration, Instant};

use keeper_tui::config::{Config, Settings, WatchdogConfig};
use keeper_tui::engine::{Command, Engine, EngineHandle, Snapshot};
use keeper_tui::loops::{LoopCommand, LoopId};
use keeper_tui::store::keeper::{HealState, save_heal_state};
use rusqlite::Connection;
use tokio::sync::oneshot;

use proc_common::{World, events, kill9, now, running};

async fn wait_for(handle: &EngineHandle, what: &str, pred: impl Fn(&Snapshot) -> bool) {
    let mut rx = handle.snapshots.clone();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| pred(s)))
        .await
        .unwrap_or_else(|_| panic!("no snapshot with {what} within 20 s"))
        .unwrap();
}

fn watchdog_running(s: &Snapshot) -> bool {
    s.loops
        .iter()
        .any(|l| l.id == LoopId::Watchdog && l.running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_answer_while_a_tier_3_waits_its_grace() {
    let mut w = World::new();
    let old = w.spawn_bridge(&["--ignore-sigterm"]);
    w.hang_until_stale(1);
    let db = w.db();
    drop(w.store());
    let c = Connection::open(&db).unwrap();
    c.execute(
        "INSERT INTO threads (id, question, state, depth, opened_at, last_touched_at) \
         VALUES ('T001', 'q', 'closed', 0, ?1, ?1)",
        [now() - 86_400],
    )
    .unwrap();
    // Tier 2 was last: the next step is tier 3, with a long grace.
    save_heal_state(
        &c,
        &HealState {
            name: "bridge".into(),
            tier: 2,
            last_action_at: now() - 600,
            ..HealState::default()
        },
    )
    .unwrap();
    let t = tmux_common::Tmux::start("work");
    t.new_session("msg-warm-orphan");

    let mut process = w.config();
    process.grace_secs = 60;
    let mut config = Config {
        debounce_ms: 20,
        ..Config::default()
    };
    config.janitor.interval_secs = 0;
    config.reaper = t.config();
    config.reaper.interval_secs = 0;
    config.reaper.boot_reap = false;
    config.watchdog = WatchdogConfig {
        tick_secs: 0,
        processes: vec![process],
    };
    let (engine, handle) = Engine::new(Settings::resolve(config, None, Some(&db))).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(engine.run(async move {
        let _ = stopped.await;
    }));
    wait_for(&handle, "the watchdog in its tier-3 pass", watchdog_running).await;

    let mut took = Vec::new();
    for (what, command) in [
        (
            "reopen",
            Command::ReopenThread {
                id: "T001".into(),
                note: None,
            },
        ),
        (
            "reap by hand",
            Command::Loop(LoopCommand::Reap(vec![
                keeper_tui::loops::reaper::Named::name("msg-warm-orphan"),
            ])),
        ),
        (
            "circuit reset",
            Command::Loop(LoopCommand::ResetCircuit("bridge".into())),
        ),
    ] {
        let t0 = Instant::now();
        let reply = handle.request(command).await;
        took.push((what, t0.elapsed()));
        assert!(reply.is_ok(), "{what}: {reply:?}");
    }
    eprintln!("answered during the tier-3 grace: {took:?}");
    // Every answer came while the heal was still waiting: the old bridge
    // has not been killed and the pass has not finished.
    assert!(watchdog_running(&handle.snapshots.borrow()));
    assert!(running(old), "the grace is not over");
    assert!(!t.has("msg-warm-orphan"), "reaped");
    let state: String = Connection::open(&db)
        .unwrap()
        .query_row("SELECT state FROM threads WHERE id='T001'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(state, "active", "reopened");

    // Shut down mid-heal, then let the old bridge go: the pass stops
    // waiting and starts nothing new while keeper-tui is stopping.
    stop.send(()).unwrap();
    kill9(old);
    task.await.unwrap().unwrap();
    let heals = events(&db, "heal");
    assert_eq!(heals.len(), 1, "{heals:?}");
    assert!(
        heals[0].1.contains("keeper-tui is shutting down") && !heals[0].1.contains("restarted"),
        "{heals:?}"
    );
    assert_eq!(w.pid(), Some(old), "no new bridge wrote its pid");
}
