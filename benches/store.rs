//! `cargo bench --bench store`: the figures in BENCHMARKS.md.
//!
//! Std-only harness (no dev-dependency). What it measures, median / min /
//! max over several runs:
//!
//! 1. cold snapshot: `StoreView::open(path, 7)` + `.figures(now).unwrap()`;
//! 2. incremental refresh after 1,000 new events written by another
//!    connection: `view.refresh(now)` + `view.figures(now)`;
//!    once more with the file evicted from the page cache first (GNU dd
//!    `iflag=nocache`), for the truly cold figure;
//! 3. a forced janitor pass (idle > 1 day) on a fresh copy of the file;
//! 4. peak RSS of a whole `keeper-tui status` process (GNU time `%M`).
//!
//! Environment:
//! - `KEEPER_BENCH_DB=PATH`: the store to measure. It is only ever read;
//!   everything that writes works on a fresh copy under the temp dir.
//! - `KEEPER_BENCH_SIZE=A|B` (default B): with no `KEEPER_BENCH_DB`, build
//!   (once, then reuse) a seeded store of that size: A = 10k threads / 100k
//!   events / 100k notes, B = 100k / 1M / 1M, cached as
//!   `$TMPDIR/keeper-bench-{A,B}.sqlite`.
//! - `KEEPER_BENCH_RUNS=N` (default 7; janitor uses max(5, N-2)).
//! - `KEEPER_BENCH_BIN=PATH`: the `keeper-tui` binary for the RSS row
//!   (default: the one cargo built next to this bench).
//!
//! The OS page cache cannot be dropped without root, so every "cold" figure
//! is cold for keeper-tui (new process state, new connection, nothing
//! cached in memory) but warm for the kernel after the first run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::{BenchResult, fresh_copy, remove_store, store_path, tmp_dir};
use keeper_tui::actions::run_pass;
use keeper_tui::config::JanitorConfig;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::janitor::Janitor;
use keeper_tui::store::snapshot::{StoreFigures, StoreView};
use keeper_tui::store::{WriteStore, now_unix};
use rusqlite::{Connection, params};

const WINDOW_DAYS: u32 = 7;
const NEW_EVENTS: usize = 1_000;

/// Median / min / max of a set of durations, in seconds.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stats(samples: &[Duration]) -> Stats {
    let mut s: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        f64::midpoint(s[n / 2 - 1], s[n / 2])
    };
    Stats {
        median,
        min: s.first().copied().unwrap_or(0.0),
        max: s.last().copied().unwrap_or(0.0),
        n,
    }
}

fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 0.001 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Row {
    what: String,
    stats: Stats,
    note: String,
}

/// Figures that must agree between an incrementally refreshed view and a
/// view built from scratch (file sizes move with the WAL and are skipped).
fn comparable(f: &StoreFigures) -> StoreFigures {
    let mut f = f.clone();
    f.stores.db_bytes = 0;
    f.stores.wal_bytes = 0;
    f
}

/// Drop `path`'s pages from the OS page cache (GNU dd's `iflag=nocache`
/// with `count=0` advises the kernel to forget the whole file; it reads
/// and writes nothing). Only clean pages go, and only for this file.
fn evict_from_page_cache(path: &Path) -> bool {
    let mut arg = std::ffi::OsString::from("if=");
    arg.push(path);
    Command::new("dd")
        .arg(arg)
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The cold snapshot with the file evicted from the page cache before each
/// run: what the first `status` after a reboot (or a long idle) costs.
fn bench_evicted(db: &Path, runs: usize) -> BenchResult<Option<Row>> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        if !evict_from_page_cache(db) {
            println!(
                "GNU dd could not evict {} from the page cache: skipping that row",
                db.display()
            );
            return Ok(None);
        }
        let now = now_unix();
        let t = Instant::now();
        let mut view = StoreView::open(db, WINDOW_DAYS)?;
        let _ = view.figures(now)?;
        samples.push(t.elapsed());
    }
    Ok(Some(Row {
        what: "cold snapshot, file evicted from the page cache before each run (`dd iflag=nocache count=0`)".into(),
        stats: stats(&samples),
        note: "reads the pages it needs from disk".into(),
    }))
}

fn bench_cold(db: &Path, runs: usize) -> BenchResult<(Row, StoreFigures)> {
    let mut samples = Vec::with_capacity(runs);
    let mut first: Option<StoreFigures> = None;
    let mut consistent = true;
    for _ in 0..runs {
        let now = now_unix();
        let t = Instant::now();
        let mut view = StoreView::open(db, WINDOW_DAYS)?;
        let figures = view.figures(now)?;
        samples.push(t.elapsed());
        drop(view);
        match &first {
            None => first = Some(figures),
            Some(f) => consistent &= f.stores.threads == figures.stores.threads,
        }
    }
    let first_run = samples.first().map_or(0.0, Duration::as_secs_f64);
    let figures = first.ok_or("no runs")?;
    Ok((
        Row {
            what: "cold snapshot: `StoreView::open(path, 7)` + `figures(now)`".into(),
            stats: stats(&samples),
            note: format!(
                "first run {}; the file stays in the page cache from then on{}",
                fmt_secs(first_run),
                if consistent {
                    ""
                } else {
                    "; thread counts differed between runs!"
                }
            ),
        },
        figures,
    ))
}

/// 1,000 new events as threadkeeper's processes would write them, in one
/// transaction on a separate connection: ~40 % `note:move` (each with its
/// note row and thread touch, as threadkeeper's `note` does), ~30 % loop
/// passes, ~30 % outcomes.
fn write_new_events(path: &Path, now: i64, salt: usize) -> BenchResult<()> {
    const LOOPS: &[&str] = &[
        "ingest_pass",
        "shadow_review_pass",
        "extract_pass",
        "candidate_review_pass",
        "curator_pass",
        "probe_pass",
        "evolve_review_pass",
    ];
    const OUTCOMES: &[&str] = &[
        "skill_materialized",
        "tier_promoted",
        "tier_demoted",
        "skill_tier_promoted",
        "reject_candidate",
        "accept_candidate:note",
    ];
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let ids: Vec<String> = {
        let mut st = conn.prepare("SELECT id FROM threads WHERE rowid % 53 = ?1 LIMIT 400")?;
        st.query_map([(salt % 53) as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut ev = tx.prepare(
            "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,?3,?4,?5)",
        )?;
        let mut note = tx.prepare(
            "INSERT INTO notes (thread_id, content, kind, created_at, session_id) VALUES (?1,?2,'move',?3,?4)",
        )?;
        let mut touch = tx.prepare(
            "UPDATE threads SET last_touched_at=?1, last_move=?2, \
             state=CASE WHEN state IN ('idle','closed') THEN 'active' ELSE state END WHERE id=?3",
        )?;
        for i in 0..NEW_EVENTS {
            let session = format!("bench_{}", i % 7);
            let at = now - (NEW_EVENTS - i) as i64 / 10;
            match i % 10 {
                0..=3 if !ids.is_empty() => {
                    let id = &ids[(i * 7 + salt) % ids.len()];
                    let text = format!("bench move {i}: tail the events table by id");
                    note.execute(params![id, text, at, session])?;
                    touch.execute(params![at, text, id])?;
                    ev.execute(params![session, "note:move", id, text, at])?;
                }
                4..=6 => {
                    let kind = LOOPS[(i + salt) % LOOPS.len()];
                    ev.execute(params![session, kind, at.to_string(), "ok", at])?;
                }
                _ => {
                    let kind = OUTCOMES[(i + salt) % OUTCOMES.len()];
                    let target = ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
                    ev.execute(params![session, kind, target, "bench", at])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn bench_refresh(db: &Path, work: &Path, runs: usize) -> BenchResult<(Row, Row)> {
    let mut samples = Vec::with_capacity(runs);
    let mut idle_samples = Vec::with_capacity(runs);
    let mut new_events = 0;
    let mut recounted = 0;
    let mut agrees = true;
    for run in 0..runs {
        fresh_copy(db, work)?;
        let mut view = StoreView::open(work, WINDOW_DAYS)?;
        // Refresh with nothing new: the steady-state cost of a file-change
        // wake-up that found nothing to do.
        let now = now_unix();
        let t = Instant::now();
        view.refresh(now)?;
        let _ = view.figures(now)?;
        idle_samples.push(t.elapsed());

        write_new_events(work, now_unix(), run)?;
        let now = now_unix();
        let t = Instant::now();
        let rs = view.refresh(now)?;
        let figures = view.figures(now)?;
        samples.push(t.elapsed());
        new_events = rs.new_events;
        recounted += u64::from(rs.threads_recounted);

        let rebuilt = StoreView::open(work, WINDOW_DAYS)?.figures(now)?;
        agrees &= comparable(&figures) == comparable(&rebuilt);
    }
    remove_store(work);
    Ok((
        Row {
            what: format!(
                "incremental refresh after {NEW_EVENTS} new events: `refresh(now)` + `figures(now)`"
            ),
            stats: stats(&samples),
            note: format!(
                "{new_events} rows tailed; thread counts recounted in {recounted}/{runs} runs; \
                 equal to a from-scratch view: {}",
                if agrees { "yes" } else { "NO" }
            ),
        },
        Row {
            what: "refresh with nothing new".into(),
            stats: stats(&idle_samples),
            note: String::new(),
        },
    ))
}

fn bench_janitor(db: &Path, work: &Path, runs: usize) -> BenchResult<(Row, Row)> {
    let mut samples = Vec::with_capacity(runs);
    let mut open_samples = Vec::with_capacity(runs);
    let mut summaries: Vec<String> = Vec::new();
    let mut second = String::new();
    for _ in 0..runs {
        fresh_copy(db, work)?;
        let t = Instant::now();
        let store = WriteStore::open(work, "keeper-tui")?;
        open_samples.push(t.elapsed());
        let janitor = Janitor::new(JanitorConfig {
            interval_secs: 3600,
            idle_close_days: 1.0,
            run_at_start: true,
            ..JanitorConfig::default()
        });
        let now = now_unix();
        let t = Instant::now();
        let report = run_pass(&janitor, work, &store, PassMode::Forced, now)?;
        samples.push(t.elapsed());
        summaries.push(report.summary);
        second = run_pass(&janitor, work, &store, PassMode::Forced, now_unix())?.summary;
    }
    remove_store(work);
    summaries.dedup();
    Ok((
        Row {
            what: "janitor pass, idle > 1 d, forced, fresh copy: `run_pass`".into(),
            stats: stats(&samples),
            note: format!(
                "result `{}`; an immediate second pass: `{second}`",
                summaries.join("` / `")
            ),
        },
        Row {
            what: "  (`WriteStore::open` on that copy, not included above)".into(),
            stats: stats(&open_samples),
            note: String::new(),
        },
    ))
}

fn keeper_bin() -> PathBuf {
    std::env::var_os("KEEPER_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_keeper-tui")),
        PathBuf::from,
    )
}

/// Whole-process `keeper-tui --db PATH status` under GNU time: peak RSS
/// (KiB, `%M`) and wall seconds (`%e`).
fn bench_status_rss(db: &Path, runs: usize) -> BenchResult<Option<(Vec<u64>, Row)>> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        println!("/usr/bin/time (GNU time) not found: skipping the peak-RSS row");
        return Ok(None);
    }
    let bin = keeper_bin();
    // An empty config dir: the user's keeper.toml must not change the figures.
    let cfg = tmp_dir().join("keeper-bench-config");
    std::fs::create_dir_all(&cfg)?;
    let mut peaks = Vec::with_capacity(runs);
    let mut walls = Vec::with_capacity(runs);
    for _ in 0..runs {
        let out = Command::new(time)
            .args(["-f", "KEEPER_BENCH %M %e"])
            .arg(&bin)
            .arg("--db")
            .arg(db)
            .arg("status")
            .env("XDG_CONFIG_HOME", &cfg)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{} status failed: {stderr}", bin.display()).into());
        }
        let line = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("KEEPER_BENCH "))
            .ok_or_else(|| format!("no GNU time line in: {stderr}"))?;
        let mut parts = line.split_whitespace();
        let kib: u64 = parts.next().ok_or("no %M")?.parse()?;
        let wall: f64 = parts.next().ok_or("no %e")?.parse()?;
        peaks.push(kib);
        walls.push(Duration::from_secs_f64(wall));
    }
    Ok(Some((
        peaks,
        Row {
            what: "`keeper-tui --db PATH status`, whole process (GNU time `%e`, 10 ms steps)"
                .into(),
            stats: stats(&walls),
            note: format!("binary {}", bin.display()),
        },
    )))
}

fn median_u64(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn main() -> BenchResult<()> {
    let runs: usize = std::env::var("KEEPER_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(5);
    let (db, origin) = store_path()?;
    let work = tmp_dir().join(format!("keeper-bench-work-{}.sqlite", std::process::id()));

    println!("store: {} ({origin}), {:.0} MB", db.display(), {
        std::fs::metadata(&db).map_or(0, |m| m.len()) as f64 / 1e6
    });

    let (cold, figures) = bench_cold(&db, runs)?;
    let hwm_after_snapshot = vm_hwm_kib();
    let s = &figures.stores;
    println!(
        "  layout {:?}; threads {:?} (total {}), notes {}, events high-water {}",
        figures.layout, s.threads, s.threads_total, s.notes, figures.events_high_water
    );
    let evicted = bench_evicted(&db, 3)?;
    let (refresh, idle) = bench_refresh(&db, &work, runs)?;
    let (janitor, janitor_open) = bench_janitor(&db, &work, runs.saturating_sub(2).max(5))?;
    let rss = bench_status_rss(&db, runs)?;

    let mut t = String::new();
    let _ = writeln!(t, "\n| measurement | median | min | max | runs | notes |");
    let _ = writeln!(t, "|---|---|---|---|---|---|");
    let mut rows = vec![cold];
    rows.extend(evicted);
    rows.extend([refresh, idle, janitor, janitor_open]);
    let mut peak_line = String::new();
    if let Some((peaks, row)) = rss {
        let med = median_u64(&peaks);
        let min = peaks.iter().min().copied().unwrap_or(0);
        let max = peaks.iter().max().copied().unwrap_or(0);
        peak_line = format!(
            "| peak RSS of `keeper-tui status` (GNU time `%M`) | {med} KiB ({:.1} MiB) | {min} KiB | {max} KiB | {} | |",
            med as f64 / 1024.0,
            peaks.len()
        );
        rows.push(row);
    }
    for r in &rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            fmt_secs(r.stats.median),
            fmt_secs(r.stats.min),
            fmt_secs(r.stats.max),
            r.stats.n,
            r.note
        );
    }
    if !peak_line.is_empty() {
        let _ = writeln!(t, "{peak_line}");
    }
    if let Some(kib) = hwm_after_snapshot {
        let _ = writeln!(
            t,
            "\nbench process VmHWM after the cold-snapshot runs: {kib} KiB ({:.1} MiB)",
            kib as f64 / 1024.0
        );
    }
    let _ = writeln!(
        t,
        "SQLite {} (rusqlite bundled); {} logical CPUs",
        rusqlite::version(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    print!("{t}");
    Ok(())
}
