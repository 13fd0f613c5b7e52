//! The job runner at volume: 10,000 queued runs of a short job (`true`)
//! through a pool of 4.
//! (a) In this process: the runner's passes driven as the engine drives
//!     them (a pass, then a wait of its `next_look`, capped at 200 ms),
//!     each on one read connection kept open, with its history line
//!     written as the engine writes it. After each pass the `running` rows
//!     are counted, so the pool's limit is checked at every step. Then one
//!     pass with nothing to do, on the store those runs left (the runner
//!     prunes ended runs to 1,000 as it goes).
//! (b) The whole `keeper-tui engine` process, with a config holding the
//!     pool and the job, the runs queued by another connection; sampled
//!     every 50 ms until all are final; its CPU from /proc/PID/stat.
//!
//! Successes are counted from the `job_succeeded` events, one per ending
//! written in the same transaction as the ending: the run rows themselves
//! are pruned.
//!
//! `cargo bench --bench jobs`. `KEEPER_BENCH_JOBS=runner` or `=engine`
//! runs only that part; `KEEPER_BENCH_JOBS_RUNS=N` changes the count (the
//! table says which was used); `KEEPER_BENCH_BIN=PATH` names the
//! `keeper-tui` binary (default: the one cargo built next to this bench).
#![allow(clippy::unwrap_used, reason = "bench")]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use keeper_tui::actions::record_history;
use keeper_tui::config::{Config, DEFAULT_SESSION_ID, Settings};
use keeper_tui::jobs::queue::queue_chain;
use keeper_tui::jobs::runner::JobRunner;
use keeper_tui::loops::{Allowed, Loop, PassCtx, PassMode, PassResult};
use keeper_tui::store::jobs::{Args, Reason};
use keeper_tui::store::{ReadStore, WriteStore, now_unix};
use rusqlite::Connection;

const RUNS: usize = 10_000;
const POOL: i64 = 4;
/// The most the engine waits between the runner's passes while runs run.
const LOOK_CAP: Duration = Duration::from_millis(200);
const IDLE_PASSES: usize = 21;
const ENGINE_SAMPLE: Duration = Duration::from_millis(50);
/// Progress is printed this often.
const PROGRESS: Duration = Duration::from_secs(30);

fn config_text() -> String {
    format!(
        "[pools]\np = {POOL}\n\n[[job]]\nname = \"short\"\ncommand = [\"true\"]\npool = \"p\"\n"
    )
}

fn runs() -> usize {
    std::env::var("KEEPER_BENCH_JOBS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
}

/// Queue `n` runs of `short` in one transaction.
fn queue_runs(conn: &Connection, config: &Config, n: usize) {
    let tx = conn.unchecked_transaction().unwrap();
    let now = keeper_tui::sys::process::now_precise();
    for _ in 0..n {
        queue_chain(
            &tx,
            &config.jobs,
            "short",
            &Args::new(),
            Reason::Operator,
            false,
            now,
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// `(queued + running, running, job_succeeded events)`.
fn counts(conn: &Connection) -> (i64, i64, i64) {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM keeper_job_runs WHERE state IN ('queued', 'running')), \
                (SELECT COUNT(*) FROM keeper_job_runs WHERE state = 'running'), \
                (SELECT COUNT(*) FROM events WHERE kind = 'job_succeeded')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn final_states(conn: &Connection) -> Vec<(String, i64)> {
    conn.prepare("SELECT state, COUNT(*) FROM keeper_job_runs GROUP BY state ORDER BY state")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// `(own CPU, reaped children's CPU)` of process `pid`, user + sys, in
/// seconds: the children are the runs' processes once waited for.
fn cpu(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|x| x.parse().unwrap())
        .collect();
    let tick = clock_ticks();
    ((f[0] + f[1]) / tick, (f[2] + f[3]) / tick)
}

/// A `kB` line of /proc/PID/status, in MiB.
fn status_mib(pid: &str, key: &str) -> f64 {
    let kib: f64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap()
        .trim_start_matches(':')
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    kib / 1024.0
}

/// What one way of running the runs measured.
struct Outcome {
    wall: Duration,
    cpu: f64,
    children_cpu: f64,
    peak_mib: f64,
    max_running: i64,
    succeeded: i64,
    passes: Option<usize>,
}

/// One pass as the engine makes it: a pass context on a kept read
/// connection, then the pass's history line.
fn pass(runner: &JobRunner, read: &Connection, store: &WriteStore) -> PassResult {
    let stopping = AtomicBool::new(false);
    let started = now_unix();
    let result = runner.pass(&PassCtx {
        read,
        store,
        mode: PassMode::Scheduled,
        now: started,
        first: false,
        stopping: &stopping,
        allowed: Allowed::Configured,
    });
    record_history(
        store,
        runner,
        PassMode::Scheduled,
        started,
        result.as_ref().map_err(ToString::to_string),
    );
    result.unwrap()
}

/// (a): returns the outcome and the idle pass times, sorted.
fn in_process(dir: &Path, n: usize) -> (Outcome, Vec<Duration>) {
    let db = dir.join("runner.sqlite");
    let config = Config::parse(&config_text(), Path::new("bench.toml")).unwrap();
    let store = WriteStore::open(&db, DEFAULT_SESSION_ID).unwrap();
    let mut settings = Settings::resolve(config.clone(), None, Some(&db));
    settings.log_dir = dir.join("runner-state");
    let runner = JobRunner::new(&settings);
    let count = Connection::open(&db).unwrap();
    count.busy_timeout(Duration::from_secs(5)).unwrap();
    queue_runs(&count, &config, n);
    let read = ReadStore::open(&db).unwrap();

    let (cpu0, children0) = cpu("self");
    let t0 = Instant::now();
    let mut last_said = t0;
    let mut max_running = 0;
    let mut passes = 0;
    loop {
        let r = pass(&runner, &read.conn, &store);
        passes += 1;
        let (open, running, succeeded) = counts(&count);
        max_running = max_running.max(running);
        if open == 0 {
            break;
        }
        if last_said.elapsed() >= PROGRESS {
            eprintln!(
                "runner: {succeeded} of {n} succeeded after {:.0} s, {passes} passes",
                t0.elapsed().as_secs_f64()
            );
            last_said = Instant::now();
        }
        std::thread::sleep(r.next_look.unwrap_or(LOOK_CAP).min(LOOK_CAP));
    }
    let wall = t0.elapsed();
    let (cpu1, children1) = cpu("self");
    let (_, _, succeeded) = counts(&count);
    eprintln!("runner: rows left by state: {:?}", final_states(&count));

    let mut idle = Vec::new();
    for _ in 0..IDLE_PASSES {
        let t = Instant::now();
        let r = pass(&runner, &read.conn, &store);
        idle.push(t.elapsed());
        assert!(!r.changed, "an idle pass changed something: {}", r.summary);
    }
    idle.sort();
    let outcome = Outcome {
        wall,
        cpu: cpu1 - cpu0,
        children_cpu: children1 - children0,
        peak_mib: status_mib("self", "VmHWM"),
        max_running,
        succeeded,
        passes: Some(passes),
    };
    (outcome, idle)
}

/// The engine process; killed on drop if it is still running.
struct Engine {
    child: Child,
    stderr: PathBuf,
}

impl Engine {
    fn start(bin: &Path, db: &Path, config: &Path, dir: &Path) -> Engine {
        let file = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let child = Command::new(bin)
            .arg("--db")
            .arg(db)
            .arg("--config")
            .arg(config)
            .arg("engine")
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("TMUX_TMPDIR", dir)
            .env_remove("TMUX")
            .env_remove("THREADKEEPER_DB")
            .env_remove("KEEPER_LOG")
            .stdin(Stdio::null())
            .stdout(file("engine.out"))
            .stderr(file("engine.err"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Engine {
            child,
            stderr: dir.join("engine.err"),
        }
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn wait_started(&mut self) {
        let t0 = Instant::now();
        while !self.log().contains("engine started") {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the engine exited ({status}) before starting:\n{}",
                    self.log()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the engine did not say it started in 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn engine_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEEPER_BENCH_BIN") {
        return PathBuf::from(p);
    }
    // target/release/deps/jobs-HASH -> target/release/keeper-tui
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("keeper-tui");
    assert!(
        bin.is_file(),
        "no {}: `cargo build --release` first, or set KEEPER_BENCH_BIN",
        bin.display()
    );
    bin
}

/// (b): the engine from the moment the runs are queued until all are
/// final (the first of its passes comes when its jobs loop next looks).
fn engine(dir: &Path, n: usize) -> Outcome {
    let db = dir.join("engine.sqlite");
    drop(WriteStore::open(&db, DEFAULT_SESSION_ID).unwrap());
    let config_path = dir.join("keeper.toml");
    std::fs::write(&config_path, config_text()).unwrap();
    let config = Config::parse(&config_text(), &config_path).unwrap();
    let mut engine = Engine::start(&engine_bin(), &db, &config_path, dir);
    engine.wait_started();
    let pid = engine.child.id().to_string();

    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let (cpu0, children0) = cpu(&pid);
    queue_runs(&conn, &config, n);
    let t0 = Instant::now();
    let mut last_said = t0;
    let mut max_running = 0;
    let succeeded = loop {
        let (open, running, succeeded) = counts(&conn);
        max_running = max_running.max(running);
        if open == 0 {
            break succeeded;
        }
        if let Some(status) = engine.child.try_wait().unwrap() {
            panic!("the engine exited ({status}):\n{}", engine.log());
        }
        if last_said.elapsed() >= PROGRESS {
            eprintln!(
                "engine: {succeeded} of {n} succeeded after {:.0} s",
                t0.elapsed().as_secs_f64()
            );
            last_said = Instant::now();
        }
        std::thread::sleep(ENGINE_SAMPLE);
    };
    let wall = t0.elapsed();
    let (cpu1, children1) = cpu(&pid);
    let peak_mib = status_mib(&pid, "VmHWM");
    eprintln!("engine: rows left by state: {:?}", final_states(&conn));
    Outcome {
        wall,
        cpu: cpu1 - cpu0,
        children_cpu: children1 - children0,
        peak_mib,
        max_running,
        succeeded,
        passes: None,
    }
}

fn row(what: &str, n: usize, o: &Outcome) {
    let secs = o.wall.as_secs_f64();
    let passes = o
        .passes
        .map_or_else(String::new, |p| format!("; {p} passes"));
    println!(
        "| {what} | {n} | {:.1} s | {:.1} | {:.2} s ({:.2} ms/run) | {:.2} s | {:.1} MiB | {} | {}{passes} |",
        secs,
        n as f64 / secs,
        o.cpu,
        o.cpu * 1e3 / n as f64,
        o.children_cpu,
        o.peak_mib,
        o.max_running,
        o.succeeded,
    );
}

fn main() {
    let which = std::env::var("KEEPER_BENCH_JOBS").unwrap_or_default();
    let n = runs();
    let dir = tempfile::tempdir().unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut lines = Vec::new();
    if which.is_empty() || which == "runner" {
        let (o, idle) = in_process(dir.path(), n);
        assert_eq!(o.succeeded, n as i64, "runner: not every run succeeded");
        assert!(
            o.max_running <= POOL,
            "runner: {} ran at once",
            o.max_running
        );
        lines.push(("runner passes in this process", o));
        println!(
            "idle runner pass, store left with the runs pruned to 1,000: median {:.2} ms of {IDLE_PASSES} (min {:.2}, max {:.2})",
            ms(idle[IDLE_PASSES / 2]),
            ms(idle[0]),
            ms(idle[IDLE_PASSES - 1])
        );
    }
    if which.is_empty() || which == "engine" {
        let o = engine(dir.path(), n);
        assert_eq!(o.succeeded, n as i64, "engine: not every run succeeded");
        assert!(
            o.max_running <= POOL,
            "engine: {} ran at once",
            o.max_running
        );
        lines.push(("`keeper-tui engine`", o));
    }
    println!(
        "| how | runs | wall | runs/s | CPU (per run) | runs' own CPU | peak RSS | most running at once | succeeded |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (what, o) in &lines {
        row(what, n, o);
    }
}
