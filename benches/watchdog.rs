//! Stale heartbeat → tier-1 action: a real bridge process hangs, and the
//! engine's watchdog (no tick: only file events and the stale-time
//! wake-up) writes its restart marker. Measured from the moment the
//! heartbeat crosses the threshold to the `heal` event in the store.
//! `cargo bench --bench watchdog`.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use keeper_tui::config::{Config, ProcessConfig, Settings};
use keeper_tui::demo::bridge::Files;
use keeper_tui::engine::Engine;
use keeper_tui::store::WriteStore;
use keeper_tui::sys::process::{mtime_precise, now_precise};

const SAMPLES: usize = 10;
const STALE_SECS: u64 = 1;

fn heals(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row("SELECT COUNT(*) FROM events WHERE kind='heal'", [], |r| {
        r.get(0)
    })
    .expect("count")
}

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.sqlite");
    drop(WriteStore::open(&db, "keeper-tui").expect("store"));
    let files = Files::in_dir(dir.path());
    let exe = env!("CARGO_BIN_EXE_keeper-tui").to_string();
    let argv = vec![
        exe,
        "bridge".into(),
        "--dir".into(),
        dir.path().display().to_string(),
        "--heartbeat-ms".into(),
        "100".into(),
    ];
    let _bridge = Bridge(
        Command::new(&argv[0])
            .args(&argv[1..])
            .spawn()
            .expect("bridge"),
    );
    wait("the first heartbeat", || files.heartbeat.exists());

    let mut config = Config::default();
    config.janitor.interval_secs = 0;
    config.reaper.interval_secs = 0;
    config.reaper.boot_reap = false;
    config.reaper.tmux =
        keeper_tui::sys::tmux::Server::Named(format!("keeper-bench-{}-none", std::process::id()));
    config.watchdog.tick_secs = 0;
    config.watchdog.processes = vec![ProcessConfig {
        name: "bridge".into(),
        pid_file: files.pid.clone(),
        heartbeat_file: files.heartbeat.clone(),
        heartbeat_stale_secs: STALE_SECS,
        version_file: None,
        version_repo: None,
        version_command: None,
        restart_markers: vec![files.marker.clone()],
        start: argv.clone(),
        cwd: None,
        log_file: dir.path().join("bridge.log"),
        cmdline_pattern: Some(format!("bridge --dir {}", dir.path().display())),
        cooldown_secs: 0,
        grace_secs: 1,
        breaker_limit: 3,
        quiet_secs: 60,
    }];
    let settings = Settings::resolve(config, None, Some(&db));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (engine, _handle) = rt
        .block_on(async { Engine::new(settings) })
        .expect("engine");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(engine.run(async move {
        let _ = stopped.await;
    }));
    std::thread::sleep(Duration::from_millis(500));

    let mut delays = Vec::new();
    for _ in 0..SAMPLES {
        let before = heals(&db);
        std::fs::write(&files.hang, "").expect("hang");
        // The last heartbeat the bridge wrote before it hung.
        std::thread::sleep(Duration::from_millis(150));
        let crossing = mtime_precise(&files.heartbeat).expect("heartbeat") + STALE_SECS as f64;
        wait("the tier-1 heal", || heals(&db) > before);
        delays.push(now_precise() - crossing);
        // Un-hang: the bridge takes the marker, restarts itself, and the
        // next healthy look resets the tier.
        let _ = std::fs::remove_file(&files.hang);
        wait("the bridge to restart", || !files.marker.exists());
        std::thread::sleep(Duration::from_millis(400));
    }
    let _ = stop.send(());
    let _ = rt.block_on(task);

    delays.sort_by(f64::total_cmp);
    let ms = |s: f64| s * 1000.0;
    println!("| samples | median | min | max | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| {SAMPLES} | {:.0} ms | {:.0} ms | {:.0} ms | ≤ 1 s |",
        ms(delays[SAMPLES / 2]),
        ms(delays[0]),
        ms(delays[SAMPLES - 1])
    );
    println!("(heartbeat threshold {STALE_SECS} s; the bridge writes a heartbeat every 100 ms)");
}
