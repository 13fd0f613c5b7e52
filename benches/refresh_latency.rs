//! Commit-to-snapshot latency: another process commits to the store, how
//! long until the engine publishes a snapshot that includes it?
//!
//! `cargo bench --bench refresh_latency` (env `KEEPER_BENCH_DB` to use an
//! existing store; it is opened read-only, nothing is written by keeper).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keeper_tui::config::{Config, Settings};
use keeper_tui::engine::Engine;
use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};

const COMMITS: usize = 30;

fn store() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(p) = std::env::var_os("KEEPER_BENCH_DB") {
        return (PathBuf::from(p), None);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.sqlite");
    eprintln!("seeding a 10k-thread / 100k-event / 100k-note store ...");
    let spec = SeedSpec {
        threads: 10_000,
        events: 100_000,
        notes: 100_000,
        seed: 20_240_601,
        now: now_unix(),
        span_days: 60,
    };
    seed(&path, spec).expect("seed");
    (path, Some(dir))
}

fn main() {
    let (path, _keep) = store();
    let config = Config {
        read_only: true,
        ..Config::default()
    };
    let settings = Settings::resolve(config, None, Some(&path));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut latencies = rt.block_on(async {
        let (engine, handle) = Engine::new(settings).expect("engine");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(engine.run(async move {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let writer = rusqlite::Connection::open(&path).expect("writer");
        let mut rx = handle.snapshots.clone();
        let mut out = Vec::new();
        for i in 0..COMMITS {
            writer
                .execute(
                    "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('bench','ingest_pass','',?1,?2)",
                    rusqlite::params![format!("new={i}"), now_unix()],
                )
                .expect("insert");
            let id = writer.last_insert_rowid();
            let t0 = Instant::now();
            loop {
                let seen = rx.borrow_and_update().store.as_ref().map_or(0, |f| f.events_high_water);
                if seen >= id {
                    break;
                }
                tokio::time::timeout(Duration::from_secs(5), rx.changed())
                    .await
                    .expect("no snapshot within 5 s")
                    .expect("engine gone");
            }
            out.push(t0.elapsed());
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let _ = stop.send(());
        let _ = task.await;
        out
    });
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| commits | median | min | max |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        latencies.len(),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[0]),
        ms(latencies[latencies.len() - 1])
    );
    println!(
        "(debounce {} ms included; store {})",
        Config::default().debounce_ms,
        path.display()
    );
}
