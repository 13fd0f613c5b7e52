//! When a loop's actor runs passes, on tokio's paused clock: the interval,
//! a wake-up the loop asked for (a heartbeat's stale moment, a cooldown's
//! end with no tick), and forces that coalesce. Virtual time: no test here
//! sleeps. (A heartbeat re-arming the timer without a pass is tested with
//! a real bridge in `watchdog_engine.rs`: file events are real time.)
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keeper_tui::config::{Config, Settings};
use keeper_tui::engine::{Command, Engine, EngineHandle, Snapshot};
use keeper_tui::error::Result;
use keeper_tui::loops::{Loop, LoopId, PassCtx, PassMode, PassResult};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A loop that reports each pass (its number and mode) on a channel and
/// answers "look again in …" from a script.
struct Scripted {
    n: AtomicUsize,
    interval: Option<Duration>,
    at_start: bool,
    /// `next_look` of pass N (1-based), if any.
    next_looks: Vec<(usize, Duration)>,
    passes: mpsc::UnboundedSender<(usize, PassMode)>,
    /// Each pass waits for a go-ahead when set, so a test can hold one open.
    gate: Option<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl Loop for Scripted {
    fn id(&self) -> LoopId {
        LoopId::Watchdog
    }
    fn interval(&self) -> Option<Duration> {
        self.interval
    }
    fn run_at_start(&self) -> bool {
        self.at_start
    }
    fn pass(&self, ctx: &PassCtx<'_>) -> Result<PassResult> {
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(g) = &self.gate {
            g.lock().unwrap().recv().unwrap();
        }
        self.passes.send((n, ctx.mode)).unwrap();
        Ok(PassResult {
            summary: format!("pass {n}"),
            next_look: self
                .next_looks
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, d)| *d),
            ..PassResult::default()
        })
    }
    fn dry_run(&self, _c: &Connection, _p: &Path, _now: i64) -> Result<PassResult> {
        Ok(PassResult::quiet("nothing"))
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    passes: mpsc::UnboundedReceiver<(usize, PassMode)>,
    handle: EngineHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
    t0: Instant,
}

fn scripted(tweak: impl FnOnce(&mut Scripted)) -> (Scripted, Rig0) {
    let dir = tempfile::tempdir().unwrap();
    let (ptx, passes) = mpsc::unbounded_channel();
    let mut s = Scripted {
        n: AtomicUsize::new(0),
        interval: None,
        at_start: false,
        next_looks: Vec::new(),
        passes: ptx,
        gate: None,
    };
    tweak(&mut s);
    (s, Rig0 { dir, passes })
}

struct Rig0 {
    dir: tempfile::TempDir,
    passes: mpsc::UnboundedReceiver<(usize, PassMode)>,
}

fn start(lp: Scripted, r: Rig0) -> Rig {
    let db = common::new_store(r.dir.path());
    let mut config = Config {
        debounce_ms: 0,
        ..Config::default()
    };
    config.reaper.tmux =
        keeper_tui::sys::tmux::Server::Named(format!("keeper-test-{}-none", std::process::id()));
    let settings = Settings::resolve(config, None, Some(&db));
    let (engine, handle) = Engine::with_loops(settings, vec![Arc::new(lp)]).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let t0 = Instant::now();
    let task = tokio::spawn(engine.run(async move {
        let _ = stopped.await;
    }));
    Rig {
        _dir: r.dir,
        passes: r.passes,
        handle,
        stop,
        task,
        t0,
    }
}

impl Rig {
    /// The next pass, and the virtual time since the engine started.
    async fn next_pass(&mut self) -> (usize, PassMode, Duration) {
        // Virtual time: a pass that never comes fails here at once.
        let (n, mode) = tokio::time::timeout(Duration::from_secs(24 * 3600), self.passes.recv())
            .await
            .expect("a pass within a virtual day")
            .unwrap();
        (n, mode, self.t0.elapsed())
    }

    async fn wait_snapshot(&self, pred: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        let mut rx = self.handle.snapshots.clone();
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.unwrap();
        }
    }

    async fn finish(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// Within a few ms of virtual time: blocking jobs take real time, and the
/// paused clock does not move while they run.
fn about(got: Duration, want: Duration) {
    let slack = Duration::from_millis(100);
    assert!(
        got >= want && got <= want + slack,
        "at {got:?}, expected {want:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn passes_run_on_the_interval() {
    let (lp, r) = scripted(|s| s.interval = Some(Duration::from_secs(60)));
    let mut rig = start(lp, r);
    for k in 1..=3u32 {
        let (n, mode, at) = rig.next_pass().await;
        assert_eq!((n, mode), (k as usize, PassMode::Scheduled));
        about(at, Duration::from_secs(60) * k);
    }
    rig.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_loop_is_woken_when_it_asked_to_look_again() {
    // No interval at all: only the wake-up the first pass asked for (a
    // heartbeat about to go stale) brings the second.
    let (lp, r) = scripted(|s| {
        s.at_start = true;
        s.next_looks = vec![(1, Duration::from_secs(30))];
    });
    let mut rig = start(lp, r);
    let (n, _, at) = rig.next_pass().await;
    assert_eq!(n, 1);
    about(at, Duration::ZERO);
    let (n, mode, at) = rig.next_pass().await;
    assert_eq!((n, mode), (2, PassMode::Scheduled));
    about(at, Duration::from_secs(30));
    // Pass 2 asked for nothing: nothing is scheduled.
    let snap = rig
        .wait_snapshot(|s| s.loops.first().is_some_and(|l| l.passes == 2 && !l.running))
        .await;
    assert_eq!(snap.loops[0].next_due, None, "{:?}", snap.loops[0]);
    rig.finish().await;
}

#[tokio::test(start_paused = true)]
async fn with_no_tick_a_cooldown_end_wakes_the_loop_for_the_next_tier() {
    // The watchdog with `tick_secs = 0`: tier 1 at the stale moment, then
    // nothing writes a file (the process is hung), so only the cooldown's
    // end, which each pass returns, can bring tiers 2 and 3.
    let cooldown = Duration::from_secs(45);
    let (lp, r) = scripted(|s| {
        s.at_start = true;
        s.next_looks = vec![(1, cooldown), (2, cooldown), (3, cooldown)];
    });
    let mut rig = start(lp, r);
    for (k, want) in [
        (1, Duration::ZERO),
        (2, cooldown),
        (3, cooldown * 2),
        (4, cooldown * 3),
    ] {
        let (n, mode, at) = rig.next_pass().await;
        assert_eq!((n, mode), (k, PassMode::Scheduled));
        about(at, want);
    }
    rig.finish().await;
}

#[tokio::test(start_paused = true)]
async fn ten_forces_during_a_pass_coalesce_into_one_more() {
    let (gate_tx, gate_rx) = std::sync::mpsc::channel();
    let (lp, r) = scripted(|s| s.gate = Some(std::sync::Mutex::new(gate_rx)));
    let mut rig = start(lp, r);
    let h = rig.handle.clone();
    let first = tokio::spawn(async move { h.request(Command::ForcePass(LoopId::Watchdog)).await });
    rig.wait_snapshot(|s| s.loops.first().is_some_and(|l| l.running))
        .await;
    let mut more = Vec::new();
    for _ in 0..10 {
        let h = rig.handle.clone();
        more.push(tokio::spawn(async move {
            h.request(Command::ForcePass(LoopId::Watchdog)).await
        }));
    }
    // All ten are queued behind the running pass before it may finish.
    while rig.handle.commands.capacity() < rig.handle.commands.max_capacity() {
        tokio::task::yield_now().await;
    }
    gate_tx.send(()).unwrap();
    assert_eq!(rig.next_pass().await.0, 1);
    gate_tx.send(()).unwrap();
    assert_eq!(rig.next_pass().await.0, 2);
    assert_eq!(
        first.await.unwrap().unwrap().to_string(),
        "watchdog: pass 1"
    );
    for r in more {
        assert_eq!(r.await.unwrap().unwrap().to_string(), "watchdog: pass 2");
    }
    // Every waiter answered by pass 2: no third pass is owed.
    let snap = rig
        .wait_snapshot(|s| s.loops.first().is_some_and(|l| l.passes == 2 && !l.running))
        .await;
    assert_eq!(snap.loops[0].next_due, None);
    drop(gate_tx);
    rig.finish().await;
}
