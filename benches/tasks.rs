//! Tasks and their hooks at volume, through the library as the engine runs
//! them (each pass on a tokio runtime's blocking pool):
//! (a) one reconciler pass over 1,000 running task rows, half of whose
//!     processes are gone (real `sleep` processes for the live half, pids
//!     of processes started and reaped for the dead half);
//! (b) 1,000 owed deliveries sent by the hooks loop to a server on
//!     127.0.0.1 answering 200.
//! `cargo bench --bench tasks`.
#![allow(clippy::unwrap_used, reason = "bench")]

#[path = "../tests/http_common/mod.rs"]
mod http_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keeper_tui::actions::with_ctx;
use keeper_tui::config::{DEFAULT_SESSION_ID, HookConfig, HookEvent, TasksConfig};
use keeper_tui::loops::hooks::HookSender;
use keeper_tui::loops::reconciler::Reconciler;
use keeper_tui::loops::{Loop, PassMode, PassResult};
use keeper_tui::store::hooks::{counts, owe};
use keeper_tui::store::tasks::TaskRow;
use keeper_tui::store::{WriteStore, now_unix};
use rusqlite::params;

const TASKS: usize = 1_000;
const DELIVERIES: usize = 1_000;
const RECONCILE_RUNS: usize = 3;

/// Live processes, killed and reaped on drop.
struct Live(Vec<Child>);

impl Drop for Live {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sleep_process() -> Child {
    Command::new("sleep")
        .arg("3600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Pids of processes that have exited and been reaped. Pids are handed
/// out in increasing order, so these stay free for the run.
fn dead_pids(n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let mut c = Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        })
        .collect()
}

fn hook(url: String) -> HookConfig {
    HookConfig {
        url,
        // Any variable every environment has: signing is part of the cost
        // measured, not a secret here.
        secret_env: std::env::var_os("HOME").map(|_| "HOME".into()),
        on: HookEvent::ALL.to_vec(),
        role: None,
        prompt_contains: None,
        allow_private: true,
        max_attempts: 6,
        timeout_secs: 10,
    }
}

/// One pass of `lp` on the runtime's blocking pool.
async fn pass(lp: Arc<dyn Loop>, store: Arc<WriteStore>) -> PassResult {
    tokio::task::spawn_blocking(move || {
        let db = store.path.clone();
        with_ctx(&db, &store, PassMode::Forced, now_unix(), |ctx| {
            lp.pass(ctx)
        })
        .unwrap()
    })
    .await
    .unwrap()
}

/// (a): the pass time and how many tasks it ended.
async fn reconcile_once(dir: &Path, run: usize, live: &[u32]) -> (Duration, usize) {
    let db = dir.join(format!("reconcile{run}.sqlite"));
    let store = Arc::new(WriteStore::open(&db, DEFAULT_SESSION_ID).unwrap());
    let dead = dead_pids(TASKS - live.len());
    let now = now_unix();
    store
        .write(|tx| {
            let mut insert = tx.prepare(
                "INSERT INTO tasks (id, pid, cwd, prompt, started_at) VALUES (?1, ?2, '/', ?3, ?4)",
            )?;
            for (i, pid) in live.iter().chain(&dead).enumerate() {
                insert.execute(params![format!("t-{i:04}"), pid, "CURATOR: tidy", now])?;
            }
            Ok(())
        })
        .unwrap();
    let config = TasksConfig {
        max_per_pass: TASKS,
        ..TasksConfig::default()
    };
    // A hook that wants every ending: the pass owes 500 deliveries too.
    let rec = Reconciler::new(config, vec![hook("http://127.0.0.1:9/".into())]);
    let t0 = Instant::now();
    let r = pass(Arc::new(rec), store).await;
    let took = t0.elapsed();
    (took, r.touched_count)
}

/// (b): the time to deliver every owed delivery, and how many the server got.
async fn deliver(dir: &Path) -> (Duration, usize, i64) {
    let server = http_common::Server::scripted(Vec::new(), http_common::Reply::Status(200));
    let db = dir.join("deliver.sqlite");
    let store = Arc::new(WriteStore::open(&db, DEFAULT_SESSION_ID).unwrap());
    let hooks = vec![hook(server.url())];
    let now = now_unix();
    store
        .write(|tx| {
            for i in 0..DELIVERIES {
                let task = TaskRow {
                    id: format!("t-{i:04}"),
                    pid: 1,
                    cwd: "/".into(),
                    prompt: "CURATOR: tidy".into(),
                    started_at: now - 60,
                    ended_at: Some(now),
                    return_code: Some(0),
                    role: "curator".into(),
                };
                owe(tx, &hooks, &task, HookEvent::TaskEnded, now)?;
            }
            Ok(())
        })
        .unwrap();
    let sender: Arc<dyn Loop> = Arc::new(HookSender::new(hooks, &db));
    let t0 = Instant::now();
    // As the engine runs it: a pass that sent a batch is followed at once.
    loop {
        let r = pass(Arc::clone(&sender), Arc::clone(&store)).await;
        if !r.changed {
            break;
        }
    }
    let took = t0.elapsed();
    let (_, delivered, _) = store.with_conn(None, counts).unwrap();
    (took, server.seen().len(), delivered)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Started once, before any dead pid is taken: a live process never
    // gets a pid a dead row names.
    let live = Live((0..TASKS / 2).map(|_| sleep_process()).collect());
    let live_pids: Vec<u32> = live.0.iter().map(Child::id).collect();
    let mut passes = Vec::new();
    for run in 0..RECONCILE_RUNS {
        let (took, ended) = rt.block_on(reconcile_once(dir.path(), run, &live_pids));
        assert_eq!(ended, TASKS / 2, "run {run}");
        passes.push(took);
    }
    drop(live);
    passes.sort();
    let median = passes[passes.len() / 2];

    let (took, received, delivered) = rt.block_on(deliver(dir.path()));
    assert_eq!(received, DELIVERIES);
    assert_eq!(delivered, DELIVERIES as i64);
    let per_sec = DELIVERIES as f64 / took.as_secs_f64();

    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| reconciler pass, {TASKS} running tasks, {} gone (median of {RECONCILE_RUNS}) | {:.1} ms (min {:.1}, max {:.1}); ended {} |",
        TASKS / 2,
        ms(median),
        ms(passes[0]),
        ms(passes[passes.len() - 1]),
        TASKS / 2
    );
    println!(
        "| hooks loop, {DELIVERIES} deliveries to 127.0.0.1 answering 200 | {:.2} s total; {per_sec:.0} deliveries/s |",
        took.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
