//! `cargo bench --bench status`: `keeper-tui status` as a whole process,
//! from the rollup and without one, next to threadkeeper 0.8.1's
//! `mp_dashboard(window_days=7)`, plus checks that an answer from the
//! rollup is always the answer counted afresh. The figures in BENCHMARKS.md
//! ("Status from the rollup").
//!
//! Std-only harness. Every timing is a whole process (`keeper-tui --db PATH
//! status`, or a fresh `python` for threadkeeper), wall time from spawn to
//! exit measured here; peak RSS comes from a second run of the same kind
//! under GNU time (`/usr/bin/time -f %M`), when it is installed. Median /
//! min / max over the runs. The rows:
//!
//! - a. warm, the rollup current and the store unchanged since it was kept;
//! - b. warm, another connection (kept open, as a threadkeeper server's)
//!   committed one event before each run: the file's stamp moved, so the
//!   row counts are checked;
//! - c. the store file evicted from the page cache before each run (GNU dd
//!   `iflag=nocache count=0`), the rollup current;
//! - d. no rollup (an empty cache dir: counted afresh), warm and evicted;
//! - e. threadkeeper's `mp_dashboard(window_days=7)` whole process, each run
//!   a fresh `python` on a fresh copy of the store (threadkeeper writes its
//!   session rows at start), alternating with (a) pair by pair.
//!
//! Then the checks, on another copy: after 1,000 new events; after commits
//! that add no event (a loop's newest row moved, notes deleted, threads
//! closed); after 200 events deleted from the middle of the ids, by id and
//! threadkeeper retention's way (`DELETE FROM events WHERE created_at <
//! cutoff`, rows out of id order); after another file is moved over the
//! store, or an older copy written over it in place; after the rollup file
//! is truncated, emptied, overwritten or has one byte changed:
//! `status --json` from the rollup must equal `status --json` with an empty
//! cache dir, both run at the same second (`now`, `db_bytes` and
//! `wal_bytes` aside), and the text forms must be equal. A mismatch fails
//! the bench. With libfaketime's `faketime` installed, the same check with
//! both processes' clock moved behind and ahead of the rollup's.
//!
//! With threadkeeper stores given (`KEEPER_BENCH_COMPAT_081`, `_021`), the
//! same check runs on copies of them after threadkeeper's own writes: its
//! API (`open_thread`, `note`, `close_thread`, `mark_skill_materialized`,
//! `run_janitor_pass`) and 0.21.0's `run_retention_pass(force=True)`.
//!
//! Environment:
//! - `KEEPER_BENCH_DB=PATH`: the store (only read; the bench works on
//!   copies). Default: the seeded size-B store cached as
//!   `$TMPDIR/keeper-bench-B.sqlite` (built once, as `benches/store.rs`
//!   does; `KEEPER_BENCH_SIZE=A` for the small one).
//! - `KEEPER_BENCH_RUNS=N` (default 7, at least 5).
//! - `KEEPER_BENCH_BIN=PATH`: the `keeper-tui` binary (default: the one
//!   cargo built with this bench).
//! - `KEEPER_BENCH_PEER_PYTHON=PATH`: a python with threadkeeper 0.8.1
//!   installed, for row (e) and the 0.8.1 compatibility steps; without it
//!   those are skipped with a note.
//! - `KEEPER_BENCH_PEER_PYTHON_021=PATH`: a python with threadkeeper 0.21.0,
//!   for the retention and 0.21.0 compatibility steps.
//! - `KEEPER_BENCH_COMPAT_081=PATH`, `KEEPER_BENCH_COMPAT_021=PATH`: stores
//!   built by threadkeeper 0.8.1 / 0.21.0 (only read; copied).
//! - `KEEPER_BENCH_PARTS=timing,checks,compat` (default: all three).

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::{BenchResult, fresh_copy, remove_store, sidecar, store_path, tmp_dir};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keeper_tui::store::now_unix;
use keeper_tui::store::snapshot::{RollupState, StoreView};
use rusqlite::{Connection, params};
use serde_json::Value;

const WINDOW_DAYS: u32 = 7;
const DAY: i64 = 86_400;
const RSS_TAG: &str = "KEEPER_BENCH_RSS ";
/// How long a store is left alone after it was copied or written before
/// the rollup is kept for the "file unchanged" rows.
const SETTLE: Duration = Duration::from_secs(3);

/// What the bench drives threadkeeper with: `python -c PEER_PY ACTION ...`.
const PEER_PY: &str = r#"
import json, os, sqlite3, sys
action = sys.argv[1]
import threadkeeper.server  # noqa: F401  (registers every tool)
from threadkeeper import _mcp
tools = _mcp.mcp._tool_manager._tools
def text(res):
    if isinstance(res, str):
        return res
    content = getattr(res, "content", None)
    if content:
        return "\n".join(getattr(c, "text", "") for c in content)
    return str(res)
def call(name, **kw):
    return text(tools[name].fn(**kw))
if action == "dashboard":
    sys.stdout.write(call("mp_dashboard", window_days=7) + "\n")
elif action == "api":
    tid = call("open_thread", question="does the rollup agree with a fresh count").strip()
    notes = [call("note", thread_id=tid, content=f"compat move {i}: status from the rollup")
             for i in range(int(sys.argv[2]))]
    c = sqlite3.connect(os.environ["THREADKEEPER_DB"])
    closed = [r[0] for r in c.execute(
        "SELECT id FROM threads WHERE state='closed' ORDER BY id LIMIT 5")]
    c.close()
    reopened = [call("note", thread_id=t, content="picked back up", kind="insight")
                for t in closed]
    out = {
        "open_thread": tid,
        "notes_ok": sum(n.startswith("ok") for n in notes + reopened),
        "close_thread": call("close_thread", thread_id=tid, outcome="rollup agrees"),
        "mark_skill_materialized": call("mark_skill_materialized", thread_id=tid),
    }
    from threadkeeper import thread_janitor
    out["run_janitor_pass"] = thread_janitor.run_janitor_pass(force=True)
    print(json.dumps(out))
elif action == "retention":
    from threadkeeper import retention
    print(retention.run_retention_pass(force=True))
"#;

// ---------------------------------------------------------------- helpers

/// An empty directory at `dir` (whatever was there is removed).
fn empty_dir(dir: &Path) -> BenchResult<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Median / min / max of a set of samples.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stats(samples: &[f64]) -> Stats {
    let mut s = samples.to_vec();
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

fn secs(d: &[Duration]) -> Vec<f64> {
    d.iter().map(Duration::as_secs_f64).collect()
}

fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn fmt_wall(s: Stats) -> String {
    format!(
        "**{}** ({}–{})",
        fmt_secs(s.median),
        fmt_secs(s.min),
        fmt_secs(s.max)
    )
}

fn fmt_rss(kib: &[u64]) -> String {
    if kib.is_empty() {
        return "—".into();
    }
    let s = stats(&kib.iter().map(|&k| k as f64 / 1024.0).collect::<Vec<_>>());
    format!("{:.1} MiB ({:.1}–{:.1})", s.median, s.min, s.max)
}

/// The 1-minute load average.
fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(-1.0)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sleep until 5 ms into the next second: what starts then has the rest of
/// that second to finish in.
fn at_next_second() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::thread::sleep(
        Duration::from_nanos(u64::from(1_000_000_000 - into)) + Duration::from_millis(5),
    );
}

/// Drop `path`'s pages (and its WAL's) from the OS page cache: GNU dd's
/// `iflag=nocache` with `count=0` advises the kernel to forget the whole
/// file, reading and writing nothing.
fn evict(path: &Path) -> bool {
    let one = |p: &Path| {
        let mut arg = OsString::from("if=");
        arg.push(p);
        Command::new("dd")
            .arg(arg)
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let wal = sidecar(path, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) && !one(&wal) {
        return false;
    }
    one(path)
}

fn user_version(path: &Path) -> BenchResult<i64> {
    let conn = Connection::open(path)?;
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

// ------------------------------------------------------------ the store

// ------------------------------------------------------------- processes

struct Ctx {
    bin: PathBuf,
    runs: usize,
    /// GNU time, when installed: peak RSS (`%M`).
    time: Option<PathBuf>,
    /// This run's private directory.
    work: PathBuf,
    /// An empty `XDG_CONFIG_HOME`: the user's keeper.toml must not count.
    cfg: PathBuf,
    /// `XDG_STATE_HOME`: where `status` logs a rollup it could not use.
    state: PathBuf,
    /// HOME for threadkeeper: empty dirs, so no real transcript is read.
    peer_home: PathBuf,
    /// `status` runs under `faketime -f OFFSET` while set.
    clock: std::cell::Cell<Option<&'static str>>,
}

impl Ctx {
    /// `[time -f ...] PROGRAM`: further arguments go to PROGRAM.
    fn command(&self, program: &Path, rss: bool) -> Command {
        match (&self.time, rss) {
            (Some(time), true) => {
                let mut c = Command::new(time);
                c.args(["-f", &format!("{RSS_TAG}%M")]).arg(program);
                c
            }
            _ => Command::new(program),
        }
    }

    /// `keeper-tui --db DB status [--json]` with its rollup under `cache`.
    fn status(&self, db: &Path, cache: &Path, json: bool, rss: bool) -> Command {
        let mut c = match self.clock.get() {
            Some(offset) => {
                let mut c = Command::new("faketime");
                c.args(["-f", offset]).arg(&self.bin);
                c
            }
            None => self.command(&self.bin, rss),
        };
        c.arg("--db").arg(db).arg("status");
        if json {
            c.arg("--json");
        }
        c.env("XDG_CONFIG_HOME", &self.cfg)
            .env("XDG_CACHE_HOME", cache)
            .env("XDG_STATE_HOME", &self.state)
            .env_remove("THREADKEEPER_DB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    fn log_file(&self) -> PathBuf {
        self.state.join("keeper-tui").join("keeper-tui.log")
    }

    /// `python -c PEER_PY ARGS` with threadkeeper's background loops off
    /// and its HOME, transcripts and skills pointed at empty dirs (the
    /// environment of threadkeeper's own tests).
    fn peer(&self, python: &Path, db: &Path, args: &[&str], rss: bool) -> Command {
        let home = &self.peer_home;
        let mut c = self.command(python, rss);
        c.arg("-c").arg(PEER_PY).args(args).stdin(Stdio::null());
        c.env("HOME", home)
            .env("THREADKEEPER_DB", db)
            .env("CLAUDE_PROJECTS_DIR", home.join("fake_claude_projects"))
            .env("CLAUDE_SKILLS_DIR", home.join("skills"))
            .env("THREADKEEPER_LESSONS", home.join("lessons.md"))
            .env("THREADKEEPER_TASK_LOG_DIR", home.join("tasks"))
            .env("THREADKEEPER_CLIENT", "bench")
            .env(
                "THREADKEEPER_FORCE_CID",
                "11111111-2222-3333-4444-555555555555",
            )
            .env("THREADKEEPER_NO_EMBEDDINGS", "1")
            .env("THREADKEEPER_AUTO_REVIEW", "")
            .env("THREADKEEPER_INGEST_CAP", "0")
            .env("THREADKEEPER_THREAD_IDLE_CLOSE_DAYS", "1");
        for k in [
            "INGEST_INTERVAL_S",
            "SKILL_WATCH_INTERVAL_S",
            "SPAWN_BUDGET_POLL_S",
            "MEMORY_GUARD_POLL_S",
            "SEARCH_PROXY_POLL_S",
            "SHADOW_REVIEW_INTERVAL_S",
            "CURATOR_INTERVAL_S",
            "EXTRACT_INTERVAL_S",
            "CANDIDATE_REVIEW_INTERVAL_S",
            "PROBE_INTERVAL_S",
            "EVOLVE_REVIEW_INTERVAL_S",
            "THREAD_JANITOR_INTERVAL_S",
        ] {
            c.env(format!("THREADKEEPER_{k}"), "0");
        }
        c
    }
}

/// Run to the end; wall time from spawn to exit. A failed process is an
/// error, with its stderr.
fn run(mut cmd: Command) -> BenchResult<(Duration, Output)> {
    let t = Instant::now();
    let out = cmd.output()?;
    let wall = t.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let cut = err.char_indices().rev().nth(3000).map_or(0, |(i, _)| i);
        return Err(format!("{cmd:?} failed ({}): {}", out.status, &err[cut..]).into());
    }
    Ok((wall, out))
}

/// GNU time's `%M` line in a wrapped run's stderr.
fn rss_kib(out: &Output) -> Option<u64> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RSS_TAG))
        .and_then(|v| v.trim().parse().ok())
}

/// How `open_cached` takes the rollup under `cache` right now (the same
/// call `status` makes; nothing is saved).
fn probe(db: &Path, cache: &Path) -> String {
    match StoreView::open_cached(db, WINDOW_DAYS, Some(&cache.join("keeper-tui"))) {
        Ok(v) => describe(v.rollup_state()),
        Err(e) => format!("error: {e}"),
    }
}

fn describe(s: &RollupState) -> String {
    match s {
        RollupState::Off => "no cache dir".into(),
        RollupState::Missing => "no rollup: counted afresh".into(),
        RollupState::Used { tailed, counted } => format!(
            "rollup used, {tailed} events tailed, {}",
            if *counted {
                "row counts checked"
            } else {
                "file unchanged"
            }
        ),
        RollupState::Redone(d) => format!("rollup refused ({d}): counted afresh"),
    }
}

// ---------------------------------------------------------------- timing

struct Row {
    what: String,
    wall: Vec<Duration>,
    rss: Vec<u64>,
    path: String,
    load: (f64, f64),
}

impl Row {
    fn line(&self) -> String {
        let s = stats(&secs(&self.wall));
        format!(
            "| {} | {} | {} | {} | {} | {:.2} → {:.2} |",
            self.what,
            fmt_wall(s),
            s.n,
            fmt_rss(&self.rss),
            self.path,
            self.load.0,
            self.load.1
        )
    }
}

/// `runs` timed runs of `cmd(false)`, each after `prep()`; then as many
/// under GNU time for the peak RSS, each after `prep()` too. `path` is the
/// probe's word on the rollup after one `prep()`, before the runs.
fn measure(
    ctx: &Ctx,
    what: &str,
    mut prep: impl FnMut() -> BenchResult<()>,
    cmd: impl Fn(bool) -> Command,
    probe_it: impl FnOnce() -> String,
) -> BenchResult<Row> {
    let load0 = load();
    prep()?;
    let path = probe_it();
    let mut wall = Vec::with_capacity(ctx.runs);
    let mut rss = Vec::with_capacity(ctx.runs);
    for _ in 0..ctx.runs {
        prep()?;
        wall.push(run(cmd(false))?.0);
    }
    if ctx.time.is_some() {
        for _ in 0..ctx.runs {
            prep()?;
            rss.extend(rss_kib(&run(cmd(true))?.1));
        }
    }
    let row = Row {
        what: what.into(),
        wall,
        rss,
        path,
        load: (load0, load()),
    };
    println!("{}", row.line());
    Ok(row)
}

/// One event committed by a connection that stays open (as a threadkeeper
/// server's does), the way threadkeeper records a loop pass.
fn commit_one_event(conn: &Connection) -> BenchResult<()> {
    conn.execute(
        "INSERT INTO events (session_id, kind, target, summary, created_at) \
         VALUES ('bench', 'probe_pass', '', 'graded=0 failed=0', ?1)",
        [now_unix()],
    )?;
    Ok(())
}

struct Timing {
    rows: Vec<Row>,
    pairs: Option<Pairs>,
    notes: Vec<String>,
}

struct Pairs {
    keeper: Row,
    peer: Row,
    ratios: Vec<f64>,
    version: String,
    first_lines: String,
}

fn bench_timing(ctx: &Ctx, src: &Path, peer: Option<&(PathBuf, String)>) -> BenchResult<Timing> {
    let db = ctx.work.join("store.sqlite");
    let cache = ctx.work.join("cache");
    fresh_copy(src, &db)?;
    empty_dir(&cache)?;
    let mut notes = Vec::new();
    let status = |rss: bool| ctx.status(&db, &cache, false, rss);
    // The rollup kept, the file's times left to age past a clock tick (a
    // stamp may trust only times a few seconds old).
    let settle = || -> BenchResult<()> {
        std::thread::sleep(SETTLE);
        for _ in 0..2 {
            run(status(false))?;
        }
        Ok(())
    };
    let none = || -> BenchResult<()> { Ok(()) };
    let mut rows = Vec::new();
    rows.push(measure(
        ctx,
        "floor: `keeper-tui --version`",
        none,
        |rss| {
            let mut c = ctx.command(&ctx.bin, rss);
            c.arg("--version");
            c
        },
        || "—".into(),
    )?);
    settle()?;
    rows.push(measure(
        ctx,
        "a. warm, rollup current, store unchanged",
        none,
        status,
        || probe(&db, &cache),
    )?);
    let dd_works = evict(&db);
    if dd_works {
        rows.push(measure(
            ctx,
            "c. store evicted from the page cache before each run, rollup current",
            || {
                evict(&db);
                Ok(())
            },
            status,
            || probe(&db, &cache),
        )?);
    } else {
        notes.push("GNU dd could not evict the store: rows c and d-evicted skipped".into());
    }
    let no_rollup = || empty_dir(&cache);
    rows.push(measure(
        ctx,
        "d. no rollup (empty cache dir: counted afresh), warm",
        no_rollup,
        status,
        || probe(&db, &cache),
    )?);
    if dd_works {
        rows.push(measure(
            ctx,
            "d. no rollup, store evicted before each run",
            || {
                empty_dir(&cache)?;
                evict(&db);
                Ok(())
            },
            status,
            || probe(&db, &cache),
        )?);
    }
    settle()?;
    {
        let writer = Connection::open(&db)?;
        writer.busy_timeout(Duration::from_secs(10))?;
        rows.push(measure(
            ctx,
            "b. warm, one event committed by another connection before each run",
            || commit_one_event(&writer),
            status,
            || probe(&db, &cache),
        )?);
    }
    settle()?;
    let pairs = match peer {
        Some(p) => Some(bench_pairs(ctx, &db, &cache, p)?),
        None => None,
    };
    Ok(Timing { rows, pairs, notes })
}

/// (a) and threadkeeper's `mp_dashboard` alternately, pair by pair.
fn bench_pairs(
    ctx: &Ctx,
    db: &Path,
    cache: &Path,
    (python, version): &(PathBuf, String),
) -> BenchResult<Pairs> {
    let copy = ctx.work.join("peer.sqlite");
    let load0 = load();
    let path = probe(db, cache);
    let (mut kw, mut pw, mut prss, mut ratios) = (vec![], vec![], vec![], vec![]);
    let mut first_lines = String::new();
    for i in 0..ctx.runs {
        let (k, _) = run(ctx.status(db, cache, false, false))?;
        fresh_copy(db, &copy)?;
        let (p, out) = run(ctx.peer(python, &copy, &["dashboard"], true))?;
        remove_store(&copy);
        if i == 0 {
            first_lines = String::from_utf8_lossy(&out.stdout)
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ");
        }
        prss.extend(rss_kib(&out));
        ratios.push(p.as_secs_f64() / k.as_secs_f64());
        println!(
            "  pair {}: status {} / mp_dashboard {} = {:.0}×",
            i + 1,
            fmt_secs(k.as_secs_f64()),
            fmt_secs(p.as_secs_f64()),
            p.as_secs_f64() / k.as_secs_f64()
        );
        kw.push(k);
        pw.push(p);
    }
    let load = (load0, load());
    Ok(Pairs {
        keeper: Row {
            what: "a. `status`, warm, rollup current (in the pairs)".into(),
            wall: kw,
            rss: vec![],
            path,
            load,
        },
        peer: Row {
            what: format!(
                "e. threadkeeper {version} `mp_dashboard(window_days=7)`, fresh python, fresh copy"
            ),
            wall: pw,
            rss: prss,
            path: "—".into(),
            load,
        },
        ratios,
        version: version.clone(),
        first_lines,
    })
}

// ---------------------------------------------------------------- checks

struct Check {
    what: String,
    path: String,
    json: Option<bool>,
    text: bool,
    diff: String,
    logged: String,
}

impl Check {
    fn ok(&self) -> bool {
        self.json != Some(false) && self.text
    }

    fn line(&self) -> String {
        let yn = |b: bool| if b { "yes" } else { "**NO**" };
        format!(
            "| {} | {} | {} | {} | {} |",
            self.what,
            self.path,
            self.json.map_or("—", yn),
            yn(self.text),
            if self.logged.is_empty() {
                "—"
            } else {
                &self.logged
            }
        )
    }
}

/// The JSON without what moves on its own: `now`, the file sizes.
fn comparable(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("now");
        if let Some(s) = o.get_mut("stores").and_then(Value::as_object_mut) {
            s.remove("db_bytes");
            s.remove("wal_bytes");
        }
    }
}

/// Where two JSON values differ (at most a few places).
fn json_diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    if out.len() >= 8 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                json_diff(va, vb, &format!("{at}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(va, vb, &format!("{at}[{i}]"), out);
            }
        }
        _ => out.push(format!("{at}: rollup {a} / fresh {b}")),
    }
}

/// Every file in the rollup dir, to put back between tries.
fn rollup_files(cache: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(cache.join("keeper-tui"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| Some((e.path(), std::fs::read(e.path()).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn restore_rollup(cache: &Path, saved: &[(PathBuf, Vec<u8>)]) -> BenchResult<()> {
    empty_dir(&cache.join("keeper-tui"))?;
    for (p, bytes) in saved {
        std::fs::write(p, bytes)?;
    }
    Ok(())
}

/// The rollup file `status` keeps under `cache`.
fn rollup_file(cache: &Path) -> BenchResult<PathBuf> {
    rollup_files(cache)
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| p.extension().is_some_and(|x| x == "rollup"))
        .ok_or_else(|| format!("no rollup under {}", cache.display()).into())
}

/// `status` from the rollup under `cache` and with an empty cache dir, both
/// started at the same second (tried again, from the same rollup, if they
/// did not finish in it); stdout of each.
fn pair_at_one_second(
    ctx: &Ctx,
    db: &Path,
    cache: &Path,
    json: bool,
    saved: &[(PathBuf, Vec<u8>)],
) -> BenchResult<(String, String)> {
    let fresh = ctx.work.join("fresh-cache");
    for _ in 0..8 {
        restore_rollup(cache, saved)?;
        empty_dir(&fresh)?;
        at_next_second();
        let second = unix_secs();
        let mut a = ctx.status(db, cache, json, false);
        let mut b = ctx.status(db, &fresh, json, false);
        let ca = a.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let cb = b.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let (oa, ob) = (ca.wait_with_output()?, cb.wait_with_output()?);
        if unix_secs() != second {
            continue;
        }
        for o in [&oa, &ob] {
            if !o.status.success() {
                return Err(
                    format!("status failed: {}", String::from_utf8_lossy(&o.stderr)).into(),
                );
            }
        }
        return Ok((
            String::from_utf8_lossy(&oa.stdout).into_owned(),
            String::from_utf8_lossy(&ob.stdout).into_owned(),
        ));
    }
    Err("could not run both `status` processes within one second in 8 tries".into())
}

/// Lines the log file gained since it was `len` bytes long that are about
/// the rollup.
fn new_log_lines(ctx: &Ctx, len: u64) -> String {
    let text = std::fs::read(ctx.log_file()).unwrap_or_default();
    let new = text.get(len as usize..).unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    for l in String::from_utf8_lossy(new).lines() {
        if let Some(i) = l.find("the kept rollup was not used:") {
            let s = l[i + "the kept rollup was not used:".len()..]
                .split("; counted")
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
    }
    seen.join("; ")
}

fn log_len(ctx: &Ctx) -> u64 {
    std::fs::metadata(ctx.log_file()).map_or(0, |m| m.len())
}

/// `status --json` and `status` from the rollup under `cache` against the
/// same counted afresh, each pair at one second and from the same rollup.
fn check(ctx: &Ctx, db: &Path, cache: &Path, what: &str) -> BenchResult<Check> {
    let path = probe(db, cache);
    let saved = rollup_files(cache);
    let log0 = log_len(ctx);
    let (ja, jb) = pair_at_one_second(ctx, db, cache, true, &saved)?;
    let (mut va, mut vb): (Value, Value) = (serde_json::from_str(&ja)?, serde_json::from_str(&jb)?);
    comparable(&mut va);
    comparable(&mut vb);
    let mut diff = Vec::new();
    json_diff(&va, &vb, "", &mut diff);
    let (ta, tb) = pair_at_one_second(ctx, db, cache, false, &saved)?;
    if ta != tb {
        let lines: Vec<_> = ta
            .lines()
            .zip(tb.lines())
            .filter(|(x, y)| x != y)
            .take(4)
            .map(|(x, y)| format!("text: rollup `{x}` / fresh `{y}`"))
            .collect();
        diff.extend(lines);
    }
    let c = Check {
        what: what.into(),
        path,
        json: Some(va == vb),
        text: ta == tb,
        diff: diff.join("\n    "),
        logged: new_log_lines(ctx, log0),
    };
    println!("{}", c.line());
    if !c.diff.is_empty() {
        println!("    {}", c.diff);
    }
    Ok(c)
}

/// 1,000 new events in one transaction on another connection, the way
/// threadkeeper's processes write them: 40 % `note:move` with their note
/// row and thread touch, 30 % loop passes, 30 % outcomes.
fn write_new_events(path: &Path, n: usize) -> BenchResult<()> {
    const LOOPS: &[&str] = &[
        "ingest_pass",
        "shadow_review_pass",
        "extract_pass",
        "candidate_review_pass",
        "curator_pass",
        "probe_pass",
        "evolve_review_pass",
        "janitor_pass",
    ];
    const OUTCOMES: &[&str] = &[
        "skill_materialized",
        "tier_promoted",
        "tier_demoted",
        "skill_tier_promoted",
        "reject_candidate",
        "accept_candidate:note",
    ];
    let now = now_unix();
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let ids: Vec<String> = {
        let mut st = conn.prepare("SELECT id FROM threads WHERE rowid % 53 = 7 LIMIT 400")?;
        st.query_map([], |r| r.get(0))?
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
        for i in 0..n {
            let session = format!("bench_{}", i % 7);
            let at = now - (n - i) as i64 / 10;
            match i % 10 {
                0..=3 if !ids.is_empty() => {
                    let id = &ids[(i * 7) % ids.len()];
                    let text = format!("bench move {i}: tail the events table by id");
                    note.execute(params![id, text, at, session])?;
                    touch.execute(params![at, text, id])?;
                    ev.execute(params![session, "note:move", id, text, at])?;
                }
                4..=6 => {
                    let kind = LOOPS[i % LOOPS.len()];
                    let summary = if kind == "janitor_pass" {
                        "closed=2"
                    } else {
                        "ok"
                    };
                    ev.execute(params![session, kind, at.to_string(), summary, at])?;
                }
                _ => {
                    let kind = OUTCOMES[i % OUTCOMES.len()];
                    let target = ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
                    ev.execute(params![session, kind, target, "bench", at])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// `n` ids around the middle of the events table, `step` apart (0: spread
/// over its middle half).
fn middle_ids(conn: &Connection, n: i64, step: i64, offset: i64) -> BenchResult<Vec<i64>> {
    let (lo, hi): (i64, i64) = conn.query_row("SELECT MIN(id), MAX(id) FROM events", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    let step = if step > 0 {
        step
    } else {
        ((hi - lo) / (2 * n)).max(1)
    };
    let from = lo + (hi - lo) / 2 - n * step / 2 + offset;
    let mut st = conn.prepare(
        "SELECT id FROM events WHERE id >= ?1 AND (id - ?1) % ?2 = 0 ORDER BY id LIMIT ?3",
    )?;
    let ids = st
        .query_map(params![from, step, n], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(ids)
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Before the rollup is kept: rows out of id order for the retention
/// delete below, and an old newest `janitor_pass` for threadkeeper's touch.
fn out_of_order(db: &Path, now: i64) -> BenchResult<usize> {
    // 200 events spread through the middle of the ids, 400 days old.
    let conn = Connection::open(db)?;
    let ids = middle_ids(&conn, 200, 0, 0)?;
    conn.execute(
        &format!(
            "UPDATE events SET created_at = ?1 WHERE id IN ({})",
            id_list(&ids)
        ),
        [now - 400 * DAY],
    )?;
    // The newest janitor pass 5 hours old.
    conn.execute(
        "UPDATE events SET created_at = ?1 WHERE id = \
         (SELECT MAX(id) FROM events WHERE kind = 'janitor_pass')",
        [now - 5 * 3600],
    )?;
    Ok(ids.len())
}

fn bench_checks(ctx: &Ctx, src: &Path, clock: bool) -> BenchResult<Vec<Check>> {
    let db = ctx.work.join("check.sqlite");
    let cache = ctx.work.join("check-cache");
    fresh_copy(src, &db)?;
    empty_dir(&cache)?;
    let now = now_unix();
    let backdated = out_of_order(&db, now)?;
    std::thread::sleep(SETTLE);
    run(ctx.status(&db, &cache, false, false))?;
    let mut checks = vec![check(
        ctx,
        &db,
        &cache,
        "0. store unchanged since the rollup was kept",
    )?];

    // threadkeeper 0.21's janitor with nothing stale moves its newest pass
    // row to now instead of adding one (`_touch_janitor_pass`).
    Connection::open(&db)?.execute(
        "UPDATE events SET created_at = ?1 WHERE id = \
         (SELECT MAX(id) FROM events WHERE kind = 'janitor_pass')",
        [now_unix()],
    )?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        "0b. the newest `janitor_pass` row moved from 5 h ago to now (threadkeeper's no-stale touch), no new row",
    )?);

    write_new_events(&db, 1_000)?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        "1. 1,000 new events committed by another connection",
    )?);
    checks.extend(changes_without_events(ctx, &db, &cache)?);

    let deleted = {
        let conn = Connection::open(&db)?;
        let ids = middle_ids(&conn, 200, 50, 25)?;
        conn.execute(
            &format!("DELETE FROM events WHERE id IN ({})", id_list(&ids)),
            [],
        )?
    };
    checks.push(check(
        ctx,
        &db,
        &cache,
        &format!(
            "2a. `DELETE FROM events WHERE id IN (…)`: {deleted} ids from the middle, 50 apart"
        ),
    )?);

    let deleted = Connection::open(&db)?.execute(
        "DELETE FROM events WHERE created_at < ?1",
        [now - 365 * DAY],
    )?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        &format!(
            "2b. `DELETE FROM events WHERE created_at < now−365 d`: {deleted} rows (of {backdated} backdated) from the middle of the ids"
        ),
    )?);

    let deleted = Connection::open(&db)?.execute(
        "DELETE FROM events WHERE created_at < ?1",
        [now_unix() - 45 * DAY],
    )?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        &format!(
            "2c. `DELETE FROM events WHERE created_at < now−45 d`: {deleted} rows, the oldest ids"
        ),
    )?);

    // No connection is open: like `mv` over a store nobody is writing.
    let other = sidecar(&db, ".other");
    fresh_copy(src, &other)?;
    std::fs::rename(&other, &db)?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        "3a. another file moved over the store (`mv`)",
    )?);

    // The store moves on (and the rollup with it), then an older copy is
    // written back over it in place: same device and inode.
    write_new_events(&db, 1_000)?;
    run(ctx.status(&db, &cache, false, false))?;
    std::fs::copy(src, &db)?;
    checks.push(check(
        ctx,
        &db,
        &cache,
        "3b. after 1,000 more events, an older copy written over the store in place (`cp`: same inode)",
    )?);

    checks.extend(damaged_rollups(ctx, &db, &cache)?);
    if clock {
        checks.extend(clock_checks(ctx, &db, &cache)?);
    }
    Ok(checks)
}

/// libfaketime's `faketime`, to run `status` at another time.
fn faketime_works() -> bool {
    Command::new("faketime")
        .args(["-f", "+0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Both `status` processes of a check with the clock moved (`faketime -f
/// OFFSET`), each time from the rollup kept at the real time: behind it (a
/// clock stepped back; a cache dir shared with a host whose clock is
/// ahead), and ahead of it (a rollup hours or days old).
fn clock_checks(ctx: &Ctx, db: &Path, cache: &Path) -> BenchResult<Vec<Check>> {
    run(ctx.status(db, cache, false, false))?;
    let saved = rollup_files(cache);
    let mut checks = Vec::new();
    for offset in ["-1h", "-3h", "+1h", "+25h", "+8d", "+31d"] {
        restore_rollup(cache, &saved)?;
        ctx.clock.set(Some(offset));
        let c = check(
            ctx,
            db,
            cache,
            &format!("5. the clock at {offset} from the rollup's (`faketime -f {offset}`)"),
        );
        ctx.clock.set(None);
        checks.push(c?);
    }
    Ok(checks)
}

/// Commits that add no event: notes deleted from the middle (threadkeeper's
/// consolidate removes duplicates), threads closed by a plain UPDATE.
fn changes_without_events(ctx: &Ctx, db: &Path, cache: &Path) -> BenchResult<Vec<Check>> {
    let conn = Connection::open(db)?;
    let (lo, hi): (i64, i64) = conn.query_row("SELECT MIN(id), MAX(id) FROM notes", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    let notes = conn.execute(
        "DELETE FROM notes WHERE id IN \
         (SELECT id FROM notes WHERE id >= ?1 ORDER BY id LIMIT 200)",
        [lo + (hi - lo) / 2],
    )?;
    drop(conn);
    let mut checks = vec![check(
        ctx,
        db,
        cache,
        &format!("1b. {notes} notes deleted from the middle of the ids, no event"),
    )?];
    let threads = Connection::open(db)?.execute(
        "UPDATE threads SET state = 'closed' WHERE id IN \
         (SELECT id FROM threads WHERE state = 'active' ORDER BY id LIMIT 100)",
        [],
    )?;
    checks.push(check(
        ctx,
        db,
        cache,
        &format!("1c. {threads} active threads closed by a plain UPDATE, no event"),
    )?);
    Ok(checks)
}

/// The rollup file truncated, emptied, overwritten with noise, one byte of
/// its payload changed.
fn damaged_rollups(ctx: &Ctx, db: &Path, cache: &Path) -> BenchResult<Vec<Check>> {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 4] = [
        ("4a. rollup file truncated to half its length", |b| {
            b.truncate(b.len() / 2);
        }),
        (
            "4b. rollup file overwritten with noise (same length)",
            |b| {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                for byte in b.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *byte = x as u8;
                }
            },
        ),
        ("4c. rollup file emptied (0 bytes)", Vec::clear),
        ("4d. one byte of the rollup's payload changed", |b| {
            let i = b.len() / 2;
            if let Some(byte) = b.get_mut(i) {
                *byte ^= 0x01;
            }
        }),
    ];
    let mut checks = Vec::new();
    for (what, damage) in cases {
        let file = rollup_file(cache)?;
        let mut bytes = std::fs::read(&file)?;
        damage(&mut bytes);
        std::fs::write(&file, &bytes)?;
        checks.push(check(ctx, db, cache, what)?);
    }
    Ok(checks)
}

// ---------------------------------------------------------------- compat

struct Peers {
    v081: Option<(PathBuf, String)>,
    v021: Option<(PathBuf, String)>,
}

/// `KEEPER_BENCH_PEER_PYTHON*`: the python, and the threadkeeper version it
/// imports.
fn peer_python(var: &str, notes: &mut Vec<String>) -> Option<(PathBuf, String)> {
    let Some(py) = std::env::var_os(var).map(PathBuf::from) else {
        notes.push(format!("{var} not set: threadkeeper rows skipped"));
        return None;
    };
    let out = Command::new(&py)
        .args([
            "-c",
            "from importlib.metadata import version; print(version('threadkeeper'))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Some((py, v))
        }
        _ => {
            notes.push(format!(
                "{var}={}: no threadkeeper importable there; its rows skipped",
                py.display()
            ));
            None
        }
    }
}

struct Compat {
    label: String,
    lines: Vec<String>,
    checks: Vec<Check>,
}

/// `status` twice on an untouched copy: the second from the rollup the
/// first kept, both in one second.
fn status_twice(ctx: &Ctx, db: &Path, cache: &Path) -> BenchResult<Check> {
    for _ in 0..8 {
        empty_dir(cache)?;
        at_next_second();
        let second = unix_secs();
        let (_, first) = run(ctx.status(db, cache, false, false))?;
        let (_, again) = run(ctx.status(db, cache, false, false))?;
        if unix_secs() != second {
            continue;
        }
        let (a, b) = (
            String::from_utf8_lossy(&first.stdout),
            String::from_utf8_lossy(&again.stdout),
        );
        let c = Check {
            what: "`status` twice, the second from the rollup the first kept".into(),
            path: format!("{} lines; then: {}", a.lines().count(), probe(db, cache)),
            json: None,
            text: a == b,
            diff: String::new(),
            logged: String::new(),
        };
        println!("{}", c.line());
        return Ok(c);
    }
    Err("could not run `status` twice within one second in 8 tries".into())
}

/// Run a threadkeeper step on `db`; its output's last line.
fn peer_step(
    ctx: &Ctx,
    python: &Path,
    db: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> BenchResult<String> {
    let mut c = ctx.peer(python, db, args, false);
    for (k, v) in env {
        c.env(k, v);
    }
    let (wall, out) = run(c)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("").trim().to_string();
    Ok(format!("{last} ({:.1} s)", wall.as_secs_f64()))
}

fn compat_store(ctx: &Ctx, label: &str, src: &Path, peers: &Peers) -> BenchResult<Compat> {
    let db = ctx.work.join(format!("compat-{label}.sqlite"));
    let cache = ctx.work.join(format!("compat-{label}-cache"));
    fresh_copy(src, &db)?;
    empty_dir(&cache)?;
    std::thread::sleep(SETTLE);
    let mut lines = vec![format!(
        "store {} (copy of {}), user_version {}",
        db.display(),
        src.display(),
        user_version(&db)?
    )];
    println!("\n{label}: {}", lines[0]);
    let mut checks = vec![status_twice(ctx, &db, &cache)?];
    let own = if label == "0.8.1" {
        &peers.v081
    } else {
        &peers.v021
    };
    let step = |lines: &mut Vec<String>,
                checks: &mut Vec<Check>,
                py: &(PathBuf, String),
                args: &[&str],
                env: &[(&str, &str)],
                what: &str|
     -> BenchResult<()> {
        let said = peer_step(ctx, &py.0, &db, args, env)?;
        let uv = user_version(&db)?;
        let line = format!(
            "threadkeeper {} {what}: {said}; user_version now {uv}",
            py.1
        );
        println!("  {line}");
        lines.push(line);
        checks.push(check(
            ctx,
            &db,
            &cache,
            &format!("after threadkeeper {} {what}", py.1),
        )?);
        Ok(())
    };
    let api = "API: open_thread, 20 notes, 5 notes on closed threads, close_thread, mark_skill_materialized, run_janitor_pass";
    if let Some(py) = own {
        step(&mut lines, &mut checks, py, &["api", "20"], &[], api)?;
    }
    if let Some(py) = &peers.v021 {
        step(
            &mut lines,
            &mut checks,
            py,
            &["retention"],
            &[("THREADKEEPER_EVENTS_RETENTION_DAYS", "45")],
            "run_retention_pass(force=True), events retention 45 d",
        )?;
        step(
            &mut lines,
            &mut checks,
            py,
            &["retention"],
            &[
                ("THREADKEEPER_EVENTS_RETENTION_DAYS", "40"),
                ("THREADKEEPER_RETENTION_VACUUM_AFTER_ROWS", "1"),
                ("THREADKEEPER_RETENTION_WAL_CHECKPOINT", "1"),
            ],
            "run_retention_pass(force=True), events 40 d, VACUUM after 1 row, WAL checkpoint",
        )?;
        step(&mut lines, &mut checks, py, &["api", "20"], &[], api)?;
    }
    Ok(Compat {
        label: label.into(),
        lines,
        checks,
    })
}

fn bench_compat(ctx: &Ctx, peers: &Peers, notes: &mut Vec<String>) -> BenchResult<Vec<Compat>> {
    let mut out = Vec::new();
    for (label, var) in [
        ("0.8.1", "KEEPER_BENCH_COMPAT_081"),
        ("0.21.0", "KEEPER_BENCH_COMPAT_021"),
    ] {
        match std::env::var_os(var).map(PathBuf::from) {
            Some(p) if p.is_file() => out.push(compat_store(ctx, label, &p, peers)?),
            Some(p) => notes.push(format!("{var}={}: not a file; skipped", p.display())),
            None => notes.push(format!(
                "{var} not set: no compatibility run on a threadkeeper {label} store"
            )),
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ main

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} CPUs ({cpu}), {mem_gib:.0} GiB RAM, Linux {}, SQLite {} (rusqlite bundled)",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        kernel.trim(),
        rusqlite::version()
    )
}

fn print_timing(t: &Timing, out: &mut String) {
    let _ = writeln!(
        out,
        "\n| `keeper-tui status`, whole process | wall, median (min–max) | runs | peak RSS (GNU time `%M`) | how it started (probe) | load 1 min |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &t.rows {
        let _ = writeln!(out, "{}", r.line());
    }
    if let Some(p) = &t.pairs {
        let _ = writeln!(out, "\nalternating pairs, threadkeeper {}:\n", p.version);
        let _ = writeln!(
            out,
            "| whole process | wall, median (min–max) | runs | peak RSS | how it started | load 1 min |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let _ = writeln!(out, "{}", p.keeper.line());
        let _ = writeln!(out, "{}", p.peer.line());
        let r = stats(&p.ratios);
        let ratio_of_medians =
            stats(&secs(&p.peer.wall)).median / stats(&secs(&p.keeper.wall)).median;
        let _ = writeln!(
            out,
            "\n(a) vs (e), pair by pair: **{:.0}× faster** (median; {:.0}–{:.0}×); ratio of the medians {ratio_of_medians:.0}×; target ≥ 30×: {}",
            r.median,
            r.min,
            r.max,
            if r.min >= 30.0 {
                "met in every pair"
            } else if r.median >= 30.0 {
                "met (median)"
            } else {
                "NOT met"
            }
        );
        let _ = writeln!(out, "threadkeeper's first lines: {}", p.first_lines);
    }
    if let Some(c) = t.rows.iter().find(|r| r.what.starts_with("c.")) {
        let s = stats(&secs(&c.wall));
        let _ = writeln!(
            out,
            "(c) target ≤ 0.15 s: median {}, max {}: {}",
            fmt_secs(s.median),
            fmt_secs(s.max),
            if s.max <= 0.15 {
                "met in every run"
            } else if s.median <= 0.15 {
                "met (median)"
            } else {
                "NOT met"
            }
        );
    }
}

fn print_checks(title: &str, checks: &[Check], out: &mut String) {
    let _ = writeln!(
        out,
        "\n| {title} | how the rollup was taken (probe) | `--json` equal | text equal | log line |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for c in checks {
        let _ = writeln!(out, "{}", c.line());
        if !c.diff.is_empty() {
            let _ = writeln!(out, "    {}", c.diff);
        }
    }
}

fn parts() -> Vec<String> {
    std::env::var("KEEPER_BENCH_PARTS")
        .map_or_else(
            |_| "timing,checks,compat".to_string(),
            |v| v.to_ascii_lowercase(),
        )
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

fn main() -> BenchResult<()> {
    let runs: usize = std::env::var("KEEPER_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(5);
    let parts = parts();
    let want = |p: &str| parts.iter().any(|x| x == p);
    let (src, origin) = store_path()?;
    let work = tmp_dir().join(format!("keeper-bench-status-{}", std::process::id()));
    empty_dir(&work)?;
    let ctx = Ctx {
        bin: std::env::var_os("KEEPER_BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_keeper-tui")),
            PathBuf::from,
        ),
        runs,
        time: Some(PathBuf::from("/usr/bin/time")).filter(|p| p.is_file()),
        cfg: work.join("config"),
        state: work.join("state"),
        peer_home: work.join("peer-home"),
        clock: std::cell::Cell::new(None),
        work: work.clone(),
    };
    for d in [
        &ctx.cfg,
        &ctx.state,
        &ctx.peer_home.join("fake_claude_projects"),
        &ctx.peer_home.join("skills"),
    ] {
        std::fs::create_dir_all(d)?;
    }
    let mut notes = Vec::new();
    if ctx.time.is_none() {
        notes.push("/usr/bin/time (GNU time) not found: no peak-RSS figures".into());
    }
    let peers = Peers {
        v081: peer_python("KEEPER_BENCH_PEER_PYTHON", &mut notes),
        v021: peer_python("KEEPER_BENCH_PEER_PYTHON_021", &mut notes),
    };
    let mut head = String::new();
    let _ = writeln!(head, "machine: {}", machine_line());
    let _ = writeln!(
        head,
        "store: {} ({origin}), {:.0} MB, user_version {}; binary {}; {runs} runs a row; load at start {:.2}",
        src.display(),
        std::fs::metadata(&src).map_or(0, |m| m.len()) as f64 / 1e6,
        user_version(&src)?,
        ctx.bin.display(),
        load()
    );
    for (v, p) in [("0.8.1", &peers.v081), ("0.21.0", &peers.v021)] {
        if let Some((py, found)) = p {
            let _ = writeln!(head, "threadkeeper {v}: {} (imports {found})", py.display());
        }
    }
    print!("{head}");

    let result = run_parts(&ctx, &src, &peers, &want, &mut notes);
    let _ = std::fs::remove_dir_all(&work);
    let (body, failed) = result?;
    print!("\n{head}{body}");
    for n in &notes {
        println!("note: {n}");
    }
    if failed > 0 {
        return Err(format!(
            "{failed} check(s) found the rollup's answer differing from a fresh count"
        )
        .into());
    }
    Ok(())
}

fn run_parts(
    ctx: &Ctx,
    src: &Path,
    peers: &Peers,
    want: &dyn Fn(&str) -> bool,
    notes: &mut Vec<String>,
) -> BenchResult<(String, usize)> {
    let mut body = String::new();
    let mut failed = 0;
    if want("timing") {
        println!("\ntiming (whole processes):");
        let t = bench_timing(ctx, src, peers.v081.as_ref())?;
        notes.extend(t.notes.iter().cloned());
        print_timing(&t, &mut body);
    }
    if want("checks") {
        println!("\nchecks on a copy of the store:");
        let clock = faketime_works();
        if !clock {
            notes.push("`faketime` (libfaketime) not found: the clock checks skipped".into());
        }
        let checks = bench_checks(ctx, src, clock)?;
        failed += checks.iter().filter(|c| !c.ok()).count();
        print_checks("after", &checks, &mut body);
    }
    if want("compat") {
        for c in bench_compat(ctx, peers, notes)? {
            let _ = writeln!(
                body,
                "\ncompatibility, store built by threadkeeper {}:",
                c.label
            );
            for l in &c.lines {
                let _ = writeln!(body, "- {l}");
            }
            failed += c.checks.iter().filter(|c| !c.ok()).count();
            print_checks("step", &c.checks, &mut body);
        }
    }
    Ok((body, failed))
}
