//! Resident memory of the headless engine over a long run under write
//! load. `cargo bench --bench engine_rss`.
//!
//! `keeper-tui engine --db <fresh copy of the store>` with the default
//! config: HOME and the XDG dirs point into a temp dir, so no user config is
//! read and the log goes there; TMUX_TMPDIR too (and TMUX is unset), so the
//! reaper asks a tmux server of its own that does not exist instead of the
//! operator's. From the moment the engine says it started, another
//! connection commits a note every 50 ms the way threadkeeper's `note`
//! does: in one transaction the `notes` row (kind `move`) on one of the 50
//! most recently touched active threads, that thread's `last_touched_at`
//! and `last_move`, and a `note:move` event naming it (busy timeout 5 s; a
//! late commit skips the slots it missed rather than bursting). Every 5 s
//! the engine's VmRSS and VmHWM are read from /proc/PID/status.
//!
//! Printed: RSS and peak over time, the peak, the growth from 1:00 to the
//! end (from the end of the first fifth in runs shorter than 5 min) with
//! its least-squares trend, the notes committed and those that failed (by
//! cause), the engine's CPU time, and how the engine stopped: it must still
//! be alive at the end and exit with status 0 on SIGTERM, else the bench
//! fails.
//!
//! Environment:
//! - `KEEPER_BENCH_DB=PATH`: the store (only read; the engine runs on a
//!   copy). Default: the size-A store (10k threads / 100k events / 100k
//!   notes) cached as `$TMPDIR/keeper-bench-A.sqlite`, shared with
//!   `benches/store.rs`, built here if missing.
//! - `KEEPER_BENCH_RSS_SECS` (default 300): how long to measure.
//! - `KEEPER_BENCH_BIN=PATH`: the `keeper-tui` binary (default: the one
//!   cargo built next to this bench).

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::{sidecar, tmp_dir};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{Rng, SeedSpec, seed};
use rusqlite::{Connection, params};

const NOTE_EVERY: Duration = Duration::from_millis(50);
const SAMPLE_EVERY: u64 = 5;
/// Notes go to one of this many most recently touched active threads.
const HOT_THREADS: i64 = 50;
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// The shortest span the RSS trend is printed for.
const TREND_SPAN: u64 = 120;

/// The store: `KEEPER_BENCH_DB`, else the cached size-A store (built once,
/// under a temporary name so an interrupted build is never reused).
fn source_store() -> (PathBuf, String) {
    if let Some(p) = std::env::var_os("KEEPER_BENCH_DB") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "KEEPER_BENCH_DB={} is not a file", p.display());
        return (p, "KEEPER_BENCH_DB".into());
    }
    let path = tmp_dir().join("keeper-bench-A.sqlite");
    if path.is_file() {
        return (path, "seeded size A (cached)".into());
    }
    eprintln!(
        "building the size-A store (10k threads / 100k events / 100k notes) at {}; it is cached for later runs ...",
        path.display()
    );
    let building = sidecar(&path, ".building");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(sidecar(&building, suffix));
    }
    let spec = SeedSpec {
        threads: 10_000,
        events: 100_000,
        notes: 100_000,
        seed: 20_240_601,
        now: now_unix(),
        span_days: 60,
    };
    seed(&building, spec).expect("seed the size-A store");
    std::fs::rename(&building, &path).expect("cache the size-A store");
    (path, "seeded size A (built now)".into())
}

/// A fresh copy of the store (and its WAL, if it has one) in `dir`.
fn copy_store(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join("threadkeeper.sqlite");
    std::fs::copy(src, &dst).expect("copy the store");
    let wal = sidecar(src, "-wal");
    if wal.metadata().is_ok_and(|m| m.len() > 0) {
        std::fs::copy(&wal, sidecar(&dst, "-wal")).expect("copy the WAL");
    }
    dst
}

/// The engine process; killed on drop if it is still running.
struct Engine {
    child: Child,
    stderr: PathBuf,
}

impl Engine {
    fn start(bin: &Path, db: &Path, dir: &Path) -> Engine {
        let file = |name: &str| std::fs::File::create(dir.join(name)).expect("engine output file");
        let child = Command::new(bin)
            .arg("engine")
            .arg("--db")
            .arg(db)
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Its exit status, if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for the engine")
    }

    /// Wait until its log says it started (the first janitor pass runs
    /// right after).
    fn wait_started(&mut self) -> Duration {
        let t0 = Instant::now();
        loop {
            if self.log().contains("engine started") {
                return t0.elapsed();
            }
            if let Some(status) = self.exited() {
                panic!(
                    "the engine exited ({status}) before starting:\n{}",
                    self.log()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the engine did not say it started in 120 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait up to `STOP_LIMIT`: its status and how long it
    /// took, or `None` if it had to be killed.
    fn terminate(&mut self) -> Option<(ExitStatus, Duration)> {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
        let t0 = Instant::now();
        while t0.elapsed() < STOP_LIMIT {
            if let Some(status) = self.exited() {
                return Some((status, t0.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// If the bench itself is interrupted (SIGINT, SIGTERM, SIGHUP), Drop
/// guards do not run: kill the engine (if the pid is still it) and remove
/// the temp dir, then exit.
fn on_interrupt(pid: u32, db: &Path, dir: &Path) {
    let (pattern, dir) = (db.display().to_string(), dir.to_path_buf());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the signal watcher");
        let signal = rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut int = signal(SignalKind::interrupt()).expect("watch SIGINT");
            let mut term = signal(SignalKind::terminate()).expect("watch SIGTERM");
            let mut hup = signal(SignalKind::hangup()).expect("watch SIGHUP");
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            }
        });
        eprintln!("{signal}: stopping the engine and removing the bench's files");
        let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&pattern));
        if ours {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(130);
    });
}

/// A `kB` line of /proc/PID/status.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// utime + stime of the whole process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let ticks: u64 = f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?;
    let tick = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    Some(ticks as f64 / tick)
}

/// What the writer did.
#[derive(Default)]
struct Writes {
    committed: u64,
    /// Failed attempts by what failed: how many, and when the first one
    /// was (seconds into the run).
    failed: std::collections::BTreeMap<String, (u64, f64)>,
    /// Slots skipped because a commit ran past the next one.
    skipped: u64,
    slowest: Duration,
}

impl Writes {
    fn fail(&mut self, what: String, start: Instant) {
        let at = start.elapsed().as_secs_f64();
        self.failed.entry(what).or_insert((0, at)).0 += 1;
    }
}

/// What failed, with SQLite's extended result code when there is one.
fn step_error(step: &str, e: &rusqlite::Error) -> String {
    match e.sqlite_error() {
        Some(f) => format!("{step}: {e} (extended code {})", f.extended_code),
        None => format!("{step}: {e}"),
    }
}

/// One note, the way threadkeeper's `note` writes it.
fn commit_note(conn: &Connection, rng: &mut Rng, n: u64) -> Result<bool, String> {
    let now = now_unix();
    // The janitor leaves few active threads in an old store (46 of 10k in
    // a size-A store seeded two months back): pick among those there are.
    let hot: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM threads WHERE state='active' ORDER BY last_touched_at DESC LIMIT ?1",
        )
        .and_then(|mut st| {
            st.query_map([HOT_THREADS], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| step_error("pick a thread", &e))?;
    if hot.is_empty() {
        return Ok(false);
    }
    let id = &hot[rng.below(hot.len() as u64) as usize];
    let session = format!("s_bench_rss_{}", rng.below(4));
    let text = format!("bench move {n}: {}", rng.hex(48));
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| step_error("begin", &e))?;
    tx.execute(
        "INSERT INTO notes (thread_id, content, kind, created_at, session_id) VALUES (?1,?2,'move',?3,?4)",
        params![id, text, now, session],
    )
    .map_err(|e| step_error("insert the note", &e))?;
    tx.execute(
        "UPDATE threads SET last_touched_at=?1, last_move=?2 WHERE id=?3",
        params![now, text, id],
    )
    .map_err(|e| step_error("touch the thread", &e))?;
    tx.execute(
        "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,'note:move',?2,?3,?4)",
        params![session, id, text, now],
    )
    .map_err(|e| step_error("insert the event", &e))?;
    tx.commit().map_err(|e| step_error("commit", &e))?;
    Ok(true)
}

/// Commit a note every `NOTE_EVERY` until `halt`; `committed` counts them
/// as they land.
fn write_notes(db: &Path, halt: &AtomicBool, committed: &AtomicU64) -> Writes {
    let conn = Connection::open(db).expect("the writer's connection");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    let mut rng = Rng::new(20_240_601);
    let mut w = Writes::default();
    let start = Instant::now();
    let mut next = start;
    let mut n = 0;
    while !halt.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        match commit_note(&conn, &mut rng, n) {
            Ok(true) => {
                w.committed += 1;
                committed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => w.fail("no active thread to note on".into(), start),
            Err(e) => w.fail(e, start),
        }
        w.slowest = w.slowest.max(t0.elapsed());
        n += 1;
        next += NOTE_EVERY;
        let now = Instant::now();
        if now > next {
            // Late: skip the missed slots rather than burst to catch up.
            let behind = now.duration_since(next);
            let missed = (behind.as_nanos() / NOTE_EVERY.as_nanos()) as u32 + 1;
            w.skipped += u64::from(missed);
            next += NOTE_EVERY * missed;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    w
}

struct Sample {
    at: u64,
    rss_kib: u64,
    hwm_kib: u64,
    notes: u64,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Least-squares slope of RSS over time, in MiB per hour.
fn trend_mib_per_hour(samples: &[&Sample]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.at as f64).sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| mib(s.rss_kib)).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for s in samples {
        let dt = s.at as f64 - mean_t;
        num += dt * (mib(s.rss_kib) - mean_r);
        den += dt * dt;
    }
    if den == 0.0 { 0.0 } else { num / den * 3600.0 }
}

fn file_mib(path: &Path) -> f64 {
    path.metadata()
        .map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

/// Everything one run measured.
struct Run {
    samples: Vec<Sample>,
    /// Set if the engine exited before the end.
    died: Option<ExitStatus>,
    cpu_secs: Option<f64>,
    writes: Writes,
    elapsed: Duration,
}

/// Sample the engine every `SAMPLE_EVERY` for `secs` while a note is
/// committed every `NOTE_EVERY`.
fn measure(engine: &mut Engine, db: &Path, secs: u64) -> Run {
    let pid = engine.pid();
    let halt = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let note_writer = {
        let (db, halt, committed) = (db.to_path_buf(), Arc::clone(&halt), Arc::clone(&committed));
        std::thread::spawn(move || write_notes(&db, &halt, &committed))
    };
    let t0 = Instant::now();
    let cpu0 = cpu_secs(pid);
    let mut samples: Vec<Sample> = Vec::new();
    let mut died = None;
    let mut at = 0;
    while at <= secs {
        std::thread::sleep(
            (t0 + Duration::from_secs(at)).saturating_duration_since(Instant::now()),
        );
        if let Some(status) = engine.exited() {
            died = Some(status);
            break;
        }
        samples.push(Sample {
            at,
            rss_kib: status_kib(pid, "VmRSS").unwrap_or(0),
            hwm_kib: status_kib(pid, "VmHWM").unwrap_or(0),
            notes: committed.load(Ordering::Relaxed),
        });
        at += SAMPLE_EVERY;
    }
    let cpu_secs = cpu_secs(pid).zip(cpu0).map(|(c1, c0)| c1 - c0);
    halt.store(true, Ordering::Relaxed);
    let writes = note_writer.join().expect("the writer thread");
    Run {
        samples,
        died,
        cpu_secs,
        writes,
        elapsed: t0.elapsed(),
    }
}

/// RSS every 30 s (every tenth of the run, in 5 s steps, for runs shorter
/// than 5 min) and the last sample.
fn print_table(samples: &[Sample], secs: u64) {
    let every = if secs >= 300 {
        30
    } else {
        (secs / 10 / SAMPLE_EVERY * SAMPLE_EVERY).max(SAMPLE_EVERY)
    };
    println!("| time | RSS (VmRSS) | peak so far (VmHWM) | notes committed |");
    println!("|---|---|---|---|");
    let last_at = samples.last().map_or(0, |s| s.at);
    for s in samples
        .iter()
        .filter(|s| s.at % every == 0 || s.at == last_at)
    {
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {} |",
            clock(s.at),
            mib(s.rss_kib),
            mib(s.hwm_kib),
            s.notes
        );
    }
}

/// Peak, growth from 1:00 (the end of the first fifth in shorter runs) to
/// the end, and the writes.
fn print_summary(run: &Run, secs: u64) {
    let samples = &run.samples;
    let peak = samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0);
    let low = samples.iter().map(|s| s.rss_kib).min().unwrap_or(0);
    let high = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    println!(
        "peak (VmHWM): {:.1} MiB · RSS over the run: {:.1}–{:.1} MiB, sampled every {SAMPLE_EVERY} s",
        mib(peak),
        mib(low),
        mib(high)
    );
    let from_at = (secs / 5 / SAMPLE_EVERY * SAMPLE_EVERY).clamp(SAMPLE_EVERY, 60);
    if let (Some(from), Some(end)) = (samples.iter().find(|s| s.at >= from_at), samples.last()) {
        let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= from.at).collect();
        // Over a short span, a 0.1 MiB step extrapolates to a large slope.
        let trend = if end.at - from.at >= TREND_SPAN {
            format!(
                "least-squares trend over those {} samples: {:+.1} MiB/hour",
                after.len(),
                trend_mib_per_hour(&after)
            )
        } else {
            format!("no trend over less than {TREND_SPAN} s")
        };
        println!(
            "growth from {} to the end ({}): {:+.1} MiB ({:.1} → {:.1} MiB); {trend}",
            clock(from.at),
            clock(end.at),
            mib(end.rss_kib) - mib(from.rss_kib),
            mib(from.rss_kib),
            mib(end.rss_kib),
        );
    }
    let w = &run.writes;
    let elapsed = run.elapsed.as_secs_f64().max(1e-9);
    let failed: u64 = w.failed.values().map(|(n, _)| n).sum();
    println!(
        "notes committed: {} in {elapsed:.0} s ({:.1}/s); {failed} failed; {} slots skipped for a late commit; slowest attempt {:.1} ms",
        w.committed,
        w.committed as f64 / elapsed,
        w.skipped,
        w.slowest.as_secs_f64() * 1000.0
    );
    for (what, (n, first)) in &w.failed {
        println!("  failed {n}×, first at {first:.2} s: {what}");
    }
}

fn main() {
    let secs = std::env::var("KEEPER_BENCH_RSS_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(300)
        .max(SAMPLE_EVERY);
    let bin = std::env::var_os("KEEPER_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_keeper-tui")),
        PathBuf::from,
    );
    let (src, origin) = source_store();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = copy_store(&src, dir.path());

    let mut engine = Engine::start(&bin, &db, dir.path());
    let pid = engine.pid();
    on_interrupt(pid, &db, dir.path());
    let startup = engine.wait_started();
    eprintln!(
        "engine pid {pid} started in {:.2} s; {secs} s with a note every {} ms ...",
        startup.as_secs_f64(),
        NOTE_EVERY.as_millis()
    );
    let run = measure(&mut engine, &db, secs);
    let alive = run.died.is_none() && engine.exited().is_none();
    let stopped = if alive { engine.terminate() } else { None };

    println!(
        "store {} ({origin}; the engine ran on a fresh copy) · `{} engine` pid {pid}, default config",
        src.display(),
        bin.display()
    );
    println!();
    print_table(&run.samples, secs);
    println!();
    print_summary(&run, secs);
    println!(
        "engine CPU over the run: {} · store now {:.1} MiB + WAL {:.1} MiB · engine started in {:.2} s",
        run.cpu_secs
            .map_or_else(|| "—".into(), |c| format!("{c:.2} s")),
        file_mib(&db),
        file_mib(&sidecar(&db, "-wal")),
        startup.as_secs_f64()
    );
    match (run.died, alive, stopped) {
        (Some(status), _, _) => println!("engine: DIED during the run ({status})"),
        (None, false, _) => println!("engine: DIED at the end of the run"),
        (None, true, None) => println!(
            "engine: alive at the end; did NOT exit within {} s of SIGTERM (killed)",
            STOP_LIMIT.as_secs()
        ),
        (None, true, Some((status, took))) => println!(
            "engine: alive at the end; SIGTERM → exited in {:.0} ms, {status}",
            took.as_secs_f64() * 1000.0
        ),
    }
    let clean = alive && stopped.is_some_and(|(status, _)| status.code() == Some(0));
    assert!(
        clean,
        "the engine did not run to the end and stop cleanly; its log:\n{}",
        engine.log()
    );
    assert!(
        run.writes.committed > 0,
        "no note was committed: {:?}",
        run.writes.failed
    );
}
