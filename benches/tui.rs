//! The real TUI, end to end: the release `keeper-tui` binary in a 200×50
//! pane of a private tmux server, on the size-B store (100k threads / 1M
//! events / 1M notes). `cargo bench --bench tui` (needs `tmux`; `htop` for
//! the comparison row, skipped if missing).
//!
//! 1. Idle cost: once the panels are drawn and have settled (10 s: the
//!    first janitor pass, the first refresh), CPU seconds (utime + stime
//!    from /proc/PID/stat) over 60 s with no input, and peak RSS (VmHWM).
//!    The same for htop in an identical pane, afterwards, never at the same
//!    time. Also the context switches of all threads (wake-ups) and the
//!    bytes the program wrote to its terminal in those 60 s (tmux
//!    `pipe-pane`).
//! 2. Change-to-screen latency: another connection commits one
//!    `probe_pass` event; the time from just after the commit until
//!    `tmux capture-pane` shows the new count in the `probe` row's 7d
//!    column (polled every 5 ms). The cost of one capture-pane call is
//!    printed beside it: it is the granularity of the figure.
//!
//! Environment:
//! - `KEEPER_BENCH_DB=PATH`: the store (default: the cached
//!   `$TMPDIR/keeper-bench-B.sqlite` that `benches/store.rs` builds, built
//!   here if missing). The TUI always runs on a fresh copy in a temp dir:
//!   its janitor writes.
//! - `KEEPER_BENCH_IDLE_SECS` (default 60), `KEEPER_BENCH_SAMPLES`
//!   (default 30).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};

const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
const SETTLE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);
const BETWEEN: Duration = Duration::from_millis(300);
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

fn tmp_dir() -> PathBuf {
    std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The source store: `KEEPER_BENCH_DB`, else the cached size-B store
/// (built once if missing).
fn source_store() -> (PathBuf, String) {
    if let Some(p) = std::env::var_os("KEEPER_BENCH_DB") {
        return (PathBuf::from(p), "KEEPER_BENCH_DB".into());
    }
    let path = tmp_dir().join("keeper-bench-B.sqlite");
    if path.exists() {
        return (path, "seeded size B (cached)".into());
    }
    eprintln!(
        "building the size-B store (100k threads / 1M events / 1M notes) at {} ...",
        path.display()
    );
    let partial = tmp_dir().join(format!("keeper-bench-B.{}.partial", std::process::id()));
    let spec = SeedSpec {
        threads: 100_000,
        events: 1_000_000,
        notes: 1_000_000,
        seed: 20_240_601,
        now: now_unix(),
        span_days: 60,
    };
    seed(&partial, spec).expect("seed the size-B store");
    std::fs::rename(&partial, &path).expect("cache the size-B store");
    (path, "seeded size B (built now)".into())
}

/// A fresh copy of the store (and its WAL, if it has one) in `dir`.
fn copy_store(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join("threadkeeper.sqlite");
    std::fs::copy(src, &dst).expect("copy the store");
    let mut wal = src.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    if wal.metadata().is_ok_and(|m| m.len() > 0) {
        let mut d = dst.as_os_str().to_owned();
        d.push("-wal");
        std::fs::copy(&wal, PathBuf::from(d)).expect("copy the WAL");
    }
    dst
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        let t = Tmux {
            socket: format!("keeper-bench-{}", std::process::id()),
        };
        let size = format!("{WIDTH}x{HEIGHT}");
        let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
        t.ok(&[
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            &w,
            "-y",
            &h,
            "-n",
            "idle",
            "exec sleep 1000000",
        ]);
        t.ok(&["set-option", "-g", "default-size", &size]);
        t.ok(&["set-option", "-g", "remain-on-exit", "on"]);
        t.ok(&["set-option", "-g", "status", "off"]);
        t
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn capture(&self, window: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", &format!("bench:{window}")])
    }

    fn display(&self, window: &str, fmt: &str) -> String {
        self.ok(&["display", "-p", "-t", &format!("bench:{window}"), fmt])
            .trim()
            .to_string()
    }

    /// Start `command` (exec'd, so the pane pid is the program) in a new
    /// window; its pid.
    fn spawn(&self, window: &str, command: &str) -> u32 {
        self.ok(&["new-window", "-d", "-n", window, command]);
        self.ok(&[
            "resize-window",
            "-t",
            &format!("bench:{window}"),
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
        ]);
        let size = self.display(window, "#{pane_width}x#{pane_height}");
        assert_eq!(size, format!("{WIDTH}x{HEIGHT}"), "pane size");
        self.display(window, "#{pane_pid}")
            .parse()
            .expect("pane pid")
    }

    /// Wait until the pane shows `marker`; panics after `limit`, or if the
    /// program died.
    fn wait_for(&self, window: &str, marker: &str, limit: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            if self.capture(window).contains(marker) {
                return t0.elapsed();
            }
            assert!(
                self.display(window, "#{pane_dead}") != "1",
                "{window} exited (status {}):\n{}",
                self.display(window, "#{pane_dead_status}"),
                self.capture(window)
            );
            assert!(
                t0.elapsed() < limit,
                "{window}: no {marker:?} after {limit:?}:\n{}",
                self.capture(window)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // tmux 3.3 leaves its socket file behind after kill-server.
        let socket = self.cmd(&["display", "-p", "#{socket_path}"]);
        let _ = self.cmd(&["kill-server"]);
        let socket = String::from_utf8_lossy(&socket.stdout).trim().to_string();
        if !socket.is_empty() {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// (utime + stime, cutime + cstime) of a whole process (all its threads;
/// children it has waited for), in clock ticks.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15,
    // cutime 16, cstime 17.
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().expect("a tick count"))
        .collect();
    (f[0] + f[1], f[2] + f[3])
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("/proc/PID/status")
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Context switches (voluntary + involuntary) of each live thread, by tid.
fn ctx_switches(pid: u32) -> std::collections::HashMap<String, u64> {
    let mut by_tid = std::collections::HashMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("status")) {
                let n = s
                    .lines()
                    .filter_map(|l| {
                        l.strip_prefix("voluntary_ctxt_switches:")
                            .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                    })
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .sum();
                by_tid.insert(t.file_name().to_string_lossy().into_owned(), n);
            }
        }
    }
    by_tid
}

/// Switches between two readings, over the threads alive at the second
/// (a thread that exited in between is not counted).
fn ctx_delta(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

struct Idle {
    startup: Duration,
    cpu_s: f64,
    child_cpu_s: f64,
    hwm_mib: f64,
    rss_mib: f64,
    wakeups: u64,
    threads: usize,
    tty_bytes: u64,
}

/// Start `command` in window `name`, wait for `marker` then `SETTLE`, and
/// measure `secs` of doing nothing. Leaves the program running.
fn idle(
    tmux: &Tmux,
    name: &str,
    command: &str,
    marker: &str,
    secs: u64,
    dir: &Path,
) -> (u32, Idle) {
    let pid = tmux.spawn(name, command);
    let startup = tmux.wait_for(name, marker, Duration::from_secs(300));
    std::thread::sleep(SETTLE);
    let tick = run("getconf", &["CLK_TCK"]).parse::<f64>().unwrap_or(100.0);
    let out = dir.join(format!("{name}.tty"));
    let target = format!("bench:{name}");
    tmux.ok(&[
        "pipe-pane",
        "-t",
        &target,
        &format!("exec cat > {}", sh_quote(&out.display().to_string())),
    ]);
    let (c0, w0) = (cpu_ticks(pid), ctx_switches(pid));
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, w1) = (cpu_ticks(pid), ctx_switches(pid));
    let threads = w1.len();
    tmux.ok(&["pipe-pane", "-t", &target]);
    std::thread::sleep(Duration::from_millis(100));
    let tty_bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
    let per_60 = 60.0 / secs as f64;
    (
        pid,
        Idle {
            startup,
            cpu_s: (c1.0 - c0.0) as f64 / tick * per_60,
            child_cpu_s: (c1.1 - c0.1) as f64 / tick * per_60,
            hwm_mib: status_kib(pid, "VmHWM") as f64 / 1024.0,
            rss_mib: status_kib(pid, "VmRSS") as f64 / 1024.0,
            wakeups: (ctx_delta(&w0, &w1) as f64 * per_60) as u64,
            threads,
            tty_bytes: (tty_bytes as f64 * per_60) as u64,
        },
    )
}

/// The `probe` row of the Loops panel: (7d, 30d).
fn probe_counts(screen: &str) -> Option<(u64, u64)> {
    screen.lines().find_map(|line| {
        let cell = line.trim_start_matches(|c: char| c.is_whitespace() || "│┃>".contains(c));
        let mut words = cell.split_whitespace();
        if words.next()? != "probe" {
            return None;
        }
        Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Latency {
    /// Sorted.
    samples: Vec<Duration>,
    timeouts: usize,
    median_polls: usize,
    capture_cost: Duration,
}

/// Commit one `probe_pass` event at a time from another connection and
/// poll the pane (window `k`) until the probe row's 7d count goes up.
fn latency(tmux: &Tmux, db: &Path, samples: usize) -> Latency {
    let mut capture_cost: Vec<Duration> = (0..50)
        .map(|_| {
            let t0 = Instant::now();
            let _ = tmux.capture("k");
            t0.elapsed()
        })
        .collect();
    let writer = rusqlite::Connection::open(db).expect("writer");
    writer
        .busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    let mut lat: Vec<Duration> = Vec::new();
    let mut polls: Vec<usize> = Vec::new();
    let mut timeouts = 0;
    for i in 0..samples {
        let Some((before, _)) = probe_counts(&tmux.capture("k")) else {
            panic!("no probe row on the Loops panel:\n{}", tmux.capture("k"));
        };
        writer
            .execute(
                "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES ('bench','probe_pass','',?1,?2)",
                rusqlite::params![format!("bench probe {i}"), now_unix()],
            )
            .expect("insert");
        let t0 = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            if probe_counts(&tmux.capture("k")).is_some_and(|(d7, _)| d7 > before) {
                lat.push(t0.elapsed());
                polls.push(n);
                break;
            }
            if t0.elapsed() > SAMPLE_TIMEOUT {
                timeouts += 1;
                break;
            }
            std::thread::sleep(POLL);
        }
        std::thread::sleep(BETWEEN);
    }
    lat.sort();
    polls.sort_unstable();
    Latency {
        samples: lat,
        timeouts,
        median_polls: polls.get(polls.len() / 2).copied().unwrap_or(0),
        capture_cost: median(&mut capture_cost),
    }
}

/// The idle table, one row a program.
fn print_idle(idle_secs: u64, rows: &[(&str, &Idle)]) {
    println!(
        "| {WIDTH}×{HEIGHT} pane, idle {idle_secs} s after {} s settle | CPU-s per 60 s | + its children's | peak RSS (VmHWM) | RSS | wake-ups / 60 s (threads) | bytes to tty / 60 s | first frame |",
        SETTLE.as_secs()
    );
    println!("|---|---|---|---|---|---|---|---|");
    let row = |name: &str, i: &Idle| {
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} MiB | {:.1} MiB | {} ({}) | {} | {:.1} s |",
            i.cpu_s,
            i.child_cpu_s,
            i.hwm_mib,
            i.rss_mib,
            i.wakeups,
            i.threads,
            i.tty_bytes,
            i.startup.as_secs_f64()
        );
    };
    for (name, i) in rows {
        row(name, i);
    }
}

fn main() {
    let idle_secs = env_num("KEEPER_BENCH_IDLE_SECS", 60);
    let samples = env_num("KEEPER_BENCH_SAMPLES", 30) as usize;
    let bin = env!("CARGO_BIN_EXE_keeper-tui");
    let (src, origin) = source_store();
    let src_mib = src.metadata().map_or(0, |m| m.len()) as f64 / (1024.0 * 1024.0);

    let dir = tempfile::tempdir().expect("temp dir");
    let db = copy_store(&src, dir.path());
    let home = dir.path().display().to_string();
    let env = format!(
        "env HOME={h} XDG_CONFIG_HOME={h}/config XDG_STATE_HOME={h}/state TERM=xterm-256color",
        h = sh_quote(&home)
    );

    let tmux = Tmux::start();

    // 1. keeper-tui idle.
    eprintln!(
        "keeper-tui: waiting for the panels, {}s settle, {idle_secs}s idle ...",
        SETTLE.as_secs()
    );
    let keeper_cmd = format!(
        "exec {env} {} --db {}",
        sh_quote(bin),
        sh_quote(&db.display().to_string())
    );
    let (kpid, keeper) = idle(&tmux, "k", &keeper_cmd, "2 Loops", idle_secs, dir.path());

    // 2. change-to-screen latency, same process.
    eprintln!("keeper-tui: {samples} commits ...");
    let lat = latency(&tmux, &db, samples);
    let keeper_hwm_after = status_kib(kpid, "VmHWM") as f64 / 1024.0;
    let final_screen = tmux.capture("k");
    tmux.ok(&["kill-window", "-t", "bench:k"]);
    std::thread::sleep(Duration::from_millis(500));

    // 3. htop idle, the same way, in an identical pane.
    let htop = if Command::new("sh")
        .args(["-c", "command -v htop"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("htop: {idle_secs}s idle ...");
        let cmd = format!("exec {env} htop");
        let (_, h) = idle(&tmux, "h", &cmd, "Load average", idle_secs, dir.path());
        tmux.ok(&["kill-window", "-t", "bench:h"]);
        Some((h, run("htop", &["--version"])))
    } else {
        eprintln!("htop not installed: comparison row skipped");
        None
    };

    let tmux_v = run("tmux", &["-V"]);
    drop(tmux);

    println!(
        "machine: {} CPUs · {tmux_v} · {} · store {} ({origin}, {src_mib:.0} MiB; run on a copy)",
        run("nproc", &[]),
        htop.as_ref().map_or("no htop", |(_, v)| v.as_str()),
        src.display()
    );
    println!();
    let mut rows = vec![("keeper-tui", &keeper)];
    if let Some((h, _)) = &htop {
        rows.push(("htop", h));
    }
    print_idle(idle_secs, &rows);
    println!();
    println!(
        "| change-to-screen, {samples} commits | median | min | max | timeouts (>{} s) |",
        SAMPLE_TIMEOUT.as_secs()
    );
    println!("|---|---|---|---|---|");
    let l = &lat.samples;
    if l.is_empty() {
        println!("| keeper-tui | — | — | — | {} |", lat.timeouts);
    } else {
        println!(
            "| keeper-tui | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
            ms(l[l.len() / 2]),
            ms(l[0]),
            ms(l[l.len() - 1]),
            lat.timeouts
        );
    }
    println!(
        "(one capture-pane: median {:.1} ms of 50, so each figure is + up to {:.1} ms; median {} polls a sample; keeper-tui peak RSS after the commits {keeper_hwm_after:.1} MiB)",
        ms(lat.capture_cost),
        ms(lat.capture_cost + POLL),
        lat.median_polls
    );
    if std::env::var_os("KEEPER_BENCH_SHOW").is_some() {
        println!("\n```text\n{final_screen}```");
    }
}
