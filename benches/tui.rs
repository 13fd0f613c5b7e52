//! The real TUI, end to end: the release `keeper-tui` binary in a 200×50
//! pane of a private tmux server, on the size-B store (100k threads / 1M
//! events / 1M notes). `cargo bench --bench tui` (needs `tmux`; `htop` for
//! the comparison row, skipped if missing).
//!
//! 1. Idle cost: once the panels are drawn and have settled (10 s: the
//!    first janitor pass, the first refresh), CPU seconds (utime + stime
//!    from /proc/PID/stat) over 60 s with no input, and peak RSS (VmHWM).
//!    Four programs, one after the other, never at the same time, each in
//!    an identical pane:
//!    - keeper-tui with the default config (nothing supervised), the Loops
//!      panel focused (`2`, the default focus, sent once the panels are
//!      drawn so that the `probe` row of step 2 is on screen whatever the
//!      default). At 200×50 its Sessions panel is on screen too, in the
//!      slot under Threads, unfocused, so it also looks at the sessions
//!      every 2 s: the reaper's default server is the one `$TMUX` names,
//!      the bench's private server, with the one session `bench` in it;
//!    - keeper-tui on a fresh copy of the store with one
//!      `[[watchdog.process]]`: the demo bridge (`keeper-tui bridge`,
//!      heartbeat every 500 ms, started detached before the TUI and killed
//!      at the end whatever the exit path). The bench fails unless the
//!      Bridges panel shows it `healthy` before the idle period; whether it
//!      still was at the end, the watchdog's `heal` events meanwhile and
//!      the bridge's own CPU and peak RSS (a separate process, not in the
//!      keeper-tui figures) are printed under the table;
//!    - keeper-tui on a fresh copy of the store with the Sessions panel
//!      focused (`6`, sent once the panels are drawn, before the settle)
//!      and `[reaper] tmux_socket_name` set to the bench's private server
//!      (never the default one), which then holds seven sessions: `bench`,
//!      four agent sessions (`echo-msg-warm-bench-N`) and two others, the
//!      agent ones `protected` so that nothing is reaped. While on screen
//!      the panel looks every 2 s: a read of the tmux server's children in
//!      /proc, and when a pane came or went, or every 15 s, a listing
//!      through the reaper's survey (one tmux process for `list-sessions`
//!      and `list-windows -a` — in the "+ its children's" column — and a
//!      read of the claims and running tasks). The bench fails unless the
//!      panel lists every session
//!      before the settle, shows a session created after the idle period
//!      by itself (the delay is printed under the table) and every
//!      session is still there at the end;
//!    - htop.
//!
//!    Also the context switches of all threads (wake-ups) and the bytes
//!    the program wrote to its terminal in those 60 s (tmux `pipe-pane`).
//! 2. Change-to-screen latency, in the first keeper-tui (no bridge; Loops
//!    focused, so its band grows to show keeper's own loops and then
//!    threadkeeper's, sorted by name, `probe` among them at 200×50):
//!    another connection commits one `probe_pass` event; the time from
//!    just after the commit until `tmux capture-pane` shows the new count
//!    in the `probe` row's 7d column (polled every 5 ms). The cost of one
//!    capture-pane call is printed beside it: it is the granularity of the
//!    figure.
//!
//! Environment:
//! - `KEEPER_BENCH_DB=PATH`: the store (default: the cached
//!   `$TMPDIR/keeper-bench-B.sqlite` that `benches/store.rs` builds, built
//!   here if missing). Each keeper-tui runs on its own fresh copy in a temp
//!   dir: its janitor writes.
//! - `KEEPER_BENCH_IDLE_SECS` (default 60), `KEEPER_BENCH_SAMPLES`
//!   (default 30).
//! - `KEEPER_BENCH_SHOW=1`: print the last screen of each keeper-tui.

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::tmp_dir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keeper_tui::demo::bridge::Files;
use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};
use keeper_tui::sys::process::{
    Identity, Target, inspect, read_pid_file, signal_checked, start_detached,
};

const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
const SETTLE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);
const BETWEEN: Duration = Duration::from_millis(300);
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the watchdog may take to show the bridge healthy.
const READY_LIMIT: Duration = Duration::from_secs(60);

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

/// A fresh copy of the store (and its WAL, if it has one) in `dir`,
/// replacing an earlier copy and its sidecars.
fn copy_store(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join("threadkeeper.sqlite");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = dst.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
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
        // In session `bench` whatever other sessions the server has.
        self.ok(&["new-window", "-d", "-t", "bench:", "-n", window, command]);
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
        self.wait_until(window, marker, |screen| screen.contains(marker), limit)
    }

    /// Wait until `ready` holds for the pane's text; panics after `limit`,
    /// or if the program died.
    fn wait_until(
        &self,
        window: &str,
        what: &str,
        ready: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Duration {
        let t0 = Instant::now();
        loop {
            if ready(&self.capture(window)) {
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
                "{window}: no {what} after {limit:?}:\n{}",
                self.capture(window)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        kill_tmux_server(&self.socket);
    }
}

fn kill_tmux_server(socket: &str) {
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", socket, "-f", "/dev/null"])
            .args(args)
            .output()
    };
    // tmux 3.3 leaves its socket file behind after kill-server.
    let path = tmux(&["display", "-p", "#{socket_path}"]);
    let _ = tmux(&["kill-server"]);
    if let Ok(out) = path {
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !path.is_empty() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What to undo when the bench is interrupted (SIGINT, SIGTERM, SIGHUP):
/// Drop guards do not run then, and a leftover bridge would beat forever.
#[derive(Clone, Default)]
struct OnInterrupt(Arc<Mutex<Vec<Undo>>>);

type Undo = Box<dyn Fn() + Send>;

impl OnInterrupt {
    fn install() -> Self {
        let me = Self::default();
        let todo = me.clone();
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
            eprintln!("{signal}: killing the bench's processes and removing its files");
            if let Ok(undo) = todo.0.lock() {
                for u in undo.iter().rev() {
                    u();
                }
            }
            std::process::exit(130);
        });
        me
    }

    fn add(&self, undo: impl Fn() + Send + 'static) {
        self.0
            .lock()
            .expect("the interrupt list")
            .push(Box::new(undo));
    }
}

/// The demo bridge, started detached the way the watchdog's tier 3 starts
/// it (own session, output to its log), supervised by the second
/// keeper-tui. Killed on drop, and so is any bridge the watchdog started
/// in its place.
struct Bridge {
    dir: PathBuf,
    argv: Vec<String>,
    pattern: String,
    /// What `start_detached` returned, in case the pid file never came.
    started: u32,
}

impl Bridge {
    fn start(bin: &str, dir: PathBuf) -> Bridge {
        std::fs::create_dir_all(&dir).expect("bridge dir");
        let argv: Vec<String> = [
            bin,
            "bridge",
            "--dir",
            &dir.display().to_string(),
            "--heartbeat-ms",
            "500",
            "--version",
            "bench-1",
        ]
        .map(String::from)
        .to_vec();
        let pattern = format!("bridge --dir {}", dir.display());
        let started = start_detached(&argv, None, &dir.join("bridge.log"))
            .unwrap_or_else(|e| panic!("start the bridge: {e}"));
        let bridge = Bridge {
            dir,
            argv,
            pattern,
            started,
        };
        let files = bridge.files();
        let t0 = Instant::now();
        while !(files.heartbeat.exists() && bridge.pid().is_some()) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the bridge wrote no pid and heartbeat in 10 s (log: {})",
                std::fs::read_to_string(bridge.dir.join("bridge.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bridge
    }

    fn files(&self) -> Files {
        Files::in_dir(&self.dir)
    }

    /// The live bridge its pid file names, if its command line is ours.
    fn pid(&self) -> Option<u32> {
        let (pid, _) = read_pid_file(&self.files().pid)?;
        let info = inspect(pid)?;
        (!info.zombie && info.cmdline.contains(&self.pattern)).then_some(pid as u32)
    }

    /// A config with the bridge as the one `[[watchdog.process]]`, like the
    /// demo's (heartbeat stale after 5 s); every other key at its default.
    fn write_config(&self, path: &Path) {
        let f = self.files();
        let text = |p: &Path| toml::Value::String(p.display().to_string());
        let mut process = toml::Table::new();
        process.insert("name".into(), "bridge".into());
        process.insert("pid_file".into(), text(&f.pid));
        process.insert("heartbeat_file".into(), text(&f.heartbeat));
        process.insert("heartbeat_stale_secs".into(), 5.into());
        process.insert("version_file".into(), text(&f.version));
        process.insert(
            "restart_markers".into(),
            toml::Value::Array(vec![text(&f.marker)]),
        );
        process.insert(
            "start".into(),
            toml::Value::Array(self.argv.iter().map(|a| a.as_str().into()).collect()),
        );
        process.insert("log_file".into(), text(&self.dir.join("bridge.log")));
        process.insert("cmdline_pattern".into(), self.pattern.as_str().into());
        let mut watchdog = toml::Table::new();
        watchdog.insert(
            "process".into(),
            toml::Value::Array(vec![toml::Value::Table(process)]),
        );
        let mut config = toml::Table::new();
        config.insert("watchdog".into(), toml::Value::Table(watchdog));
        std::fs::write(path, config.to_string()).expect("write the bridge config");
    }

    /// Kills every bridge of ours still alive, when called.
    fn killer(&self) -> impl Fn() + Send + 'static {
        let (dir, pattern, started) = (self.dir.clone(), self.pattern.clone(), self.started);
        move || kill_bridges(&dir, &pattern, started)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        kill_bridges(&self.dir, &self.pattern, self.started);
    }
}

/// SIGKILL to the bridge the pid file names and the one first started,
/// each only if its command line still has `pattern`.
fn kill_bridges(dir: &Path, pattern: &str, started: u32) {
    let named = read_pid_file(&Files::in_dir(dir).pid).map(|(pid, _)| pid);
    for pid in [named, Some(started as i32)].into_iter().flatten() {
        if let Some(info) = inspect(pid).filter(|i| !i.zombie) {
            let t = Target::of(&info, Identity::Pattern(pattern.to_string()), None);
            let _ = signal_checked(&t, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The bridge's row on the Bridges panel says `alive` and `healthy`.
fn bridge_healthy(screen: &str) -> bool {
    screen.lines().any(|line| {
        line.split(['│', '┃']).any(|cell| {
            let words: Vec<&str> = cell
                .trim_start_matches(|c: char| c.is_whitespace() || c == '>')
                .split_whitespace()
                .collect();
            words.first() == Some(&"bridge")
                && words.contains(&"alive")
                && words.contains(&"healthy")
        })
    })
}

/// `heal` events the watchdog wrote to the store.
fn heals(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|c| {
            c.query_row("SELECT COUNT(*) FROM events WHERE kind='heal'", [], |r| {
                r.get(0)
            })
        })
        .expect("count heal events")
}

/// (utime + stime, cutime + cstime) of a whole process (all its threads;
/// children it has waited for), in clock ticks.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    try_cpu_ticks(pid).expect("/proc/PID/stat of a live process")
}

/// `cpu_ticks`, or `None` when the process is gone.
fn try_cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15,
    // cutime 16, cstime 17.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some((f.first()? + f.get(1)?, f.get(2)? + f.get(3)?))
}

fn status_kib(pid: u32, key: &str) -> u64 {
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is gone: no {key}"
    );
    try_status_kib(pid, key).unwrap_or(0)
}

/// A `kB` line of /proc/PID/status, or `None` when the process is gone.
fn try_status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
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
    /// From the first frame until the `ready` check held.
    ready_after: Option<Duration>,
    cpu_s: f64,
    child_cpu_s: f64,
    hwm_mib: f64,
    rss_mib: f64,
    wakeups: u64,
    threads: usize,
    tty_bytes: u64,
    /// The process measured beside it, over the same period.
    beside: Option<Beside>,
    /// The pane at the end of the idle period.
    screen: String,
}

/// A separate process read at the same moments as the program.
struct Beside {
    pid: u32,
    cpu_s: f64,
    hwm_mib: f64,
}

/// A program to measure, alone in its window.
struct Program<'a> {
    window: &'a str,
    command: String,
    /// Text of the first full frame.
    marker: &'a str,
    /// Keys sent (`tmux send-keys`, one argument each) once the first frame
    /// shows, before the `ready` check and the settle.
    keys: &'a [&'a str],
    /// What must then hold on the screen before the settle starts: the
    /// bench fails if it never does (within `READY_LIMIT`).
    ready: Option<Ready<'a>>,
    /// Another process whose CPU is read over the same idle period.
    beside: Option<u32>,
}

#[derive(Clone, Copy)]
struct Ready<'a> {
    what: &'a str,
    check: fn(&str) -> bool,
}

/// Start the program, wait for its first frame, its `ready` check, then
/// `SETTLE`, and measure `secs` of doing nothing. Leaves it running.
fn idle(tmux: &Tmux, prog: &Program, secs: u64, dir: &Path) -> (u32, Idle) {
    let name = prog.window;
    let pid = tmux.spawn(name, &prog.command);
    let startup = tmux.wait_for(name, prog.marker, Duration::from_secs(300));
    if !prog.keys.is_empty() {
        let target = format!("bench:{name}");
        let mut args = vec!["send-keys", "-t", target.as_str()];
        args.extend_from_slice(prog.keys);
        tmux.ok(&args);
    }
    let ready_after = prog
        .ready
        .map(|r| tmux.wait_until(name, r.what, r.check, READY_LIMIT));
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
    let b0 = prog.beside.and_then(try_cpu_ticks);
    let (c0, w0) = (cpu_ticks(pid), ctx_switches(pid));
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, w1) = (cpu_ticks(pid), ctx_switches(pid));
    let b1 = prog.beside.and_then(try_cpu_ticks);
    let screen = tmux.capture(name);
    let threads = w1.len();
    tmux.ok(&["pipe-pane", "-t", &target]);
    std::thread::sleep(Duration::from_millis(100));
    let tty_bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
    let per_60 = 60.0 / secs as f64;
    let beside = match (prog.beside, b0, b1) {
        (Some(bpid), Some(b0), Some(b1)) => Some(Beside {
            pid: bpid,
            cpu_s: (b1.0 - b0.0) as f64 / tick * per_60,
            hwm_mib: try_status_kib(bpid, "VmHWM").unwrap_or(0) as f64 / 1024.0,
        }),
        _ => None,
    };
    (
        pid,
        Idle {
            startup,
            ready_after,
            cpu_s: (c1.0 - c0.0) as f64 / tick * per_60,
            child_cpu_s: (c1.1 - c0.1) as f64 / tick * per_60,
            hwm_mib: status_kib(pid, "VmHWM") as f64 / 1024.0,
            rss_mib: status_kib(pid, "VmRSS") as f64 / 1024.0,
            wakeups: (ctx_delta(&w0, &w1) as f64 * per_60) as u64,
            threads,
            tty_bytes: (tty_bytes as f64 * per_60) as u64,
            beside,
            screen,
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
                eprintln!(
                    "commit {i}: the probe row still shows {:?} (7d, 30d) after {SAMPLE_TIMEOUT:?}, was {before} before the commit",
                    probe_counts(&tmux.capture("k"))
                );
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

/// What every run shares.
struct Bench<'a> {
    tmux: &'a Tmux,
    dir: &'a Path,
    /// `env …` prefix: HOME and the XDG dirs in the temp dir.
    env: String,
    bin: &'a str,
    idle_secs: u64,
}

/// The keeper-tui row with the bridge under the watchdog, and what the
/// watchdog did meanwhile.
struct BridgeRun {
    idle: Idle,
    pid: u32,
    healthy_at_end: bool,
    same_pid: bool,
    heals: i64,
}

impl BridgeRun {
    fn left_alone(&self) -> bool {
        self.healthy_at_end && self.same_pid && self.heals == 0
    }
}

/// keeper-tui on a fresh copy of `src`, supervising the demo bridge.
fn bridge_row(b: &Bench, src: &Path, interrupt: &OnInterrupt) -> BridgeRun {
    let db = copy_store(src, b.dir);
    let bridge = Bridge::start(b.bin, b.dir.join("bridge"));
    interrupt.add(bridge.killer());
    let config = b.dir.join("bridge.toml");
    bridge.write_config(&config);
    let pid = bridge.pid().expect("the bridge's pid");
    let heals_before = heals(&db);
    eprintln!(
        "keeper-tui + bridge (pid {pid}): waiting for the panels and the bridge healthy, {}s settle, {}s idle ...",
        SETTLE.as_secs(),
        b.idle_secs
    );
    let supervising = Program {
        window: "b",
        command: format!(
            "exec {} {} --db {} --config {}",
            b.env,
            sh_quote(b.bin),
            sh_quote(&db.display().to_string()),
            sh_quote(&config.display().to_string())
        ),
        marker: "2 Loops",
        keys: &[],
        ready: Some(Ready {
            what: "bridge shown healthy on the Bridges panel",
            check: bridge_healthy,
        }),
        beside: Some(pid),
    };
    let (tui_pid, idle) = idle(b.tmux, &supervising, b.idle_secs, b.dir);
    let heals = heals(&db) - heals_before;
    let same_pid = bridge.pid() == Some(pid);
    let healthy_at_end = bridge_healthy(&idle.screen);
    b.tmux.ok(&["kill-window", "-t", "bench:b"]);
    wait_exit(tui_pid);
    BridgeRun {
        idle,
        pid,
        healthy_at_end,
        same_pid,
        heals,
    }
}

/// The sessions the Sessions row puts on the bench's tmux server: four
/// with the default agent marker (`msg-warm-`), every one protected in
/// that row's config so the reaper judges them and reaps none, and two
/// that are not an agent's.
const SESSIONS: [&str; 6] = [
    "echo-msg-warm-bench-1",
    "echo-msg-warm-bench-2",
    "echo-msg-warm-bench-3",
    "echo-msg-warm-bench-4",
    "bench-notes",
    "bench-build",
];
/// Created once the Sessions row's idle period is over: the panel must
/// show it without a key pressed.
const LATE_SESSION: &str = "echo-msg-warm-bench-late";

/// The Sessions panel's row for session `name`, if it is on screen.
fn session_row<'s>(screen: &'s str, name: &str) -> Option<&'s str> {
    screen.lines().find_map(|line| {
        line.split(['│', '┃']).find(|cell| {
            cell.trim_start_matches(|c: char| c.is_whitespace() || ">⚠".contains(c))
                .split_whitespace()
                .next()
                == Some(name)
        })
    })
}

/// The Sessions panel lists the bench's tmux server and every one of
/// `SESSIONS`.
fn sessions_listed(screen: &str) -> bool {
    screen.contains("tmux server -L keeper-bench-")
        && SESSIONS.iter().all(|s| session_row(screen, s).is_some())
}

/// The keeper-tui row with the Sessions panel focused.
struct SessionsRun {
    idle: Idle,
    /// The Sessions panel's title at the end of the idle period.
    title: String,
    /// Until `LATE_SESSION`, created after the idle period, showed on the
    /// panel (no key pressed); `None` if not within 10 s.
    late_shown: Option<Duration>,
    /// The sessions of the bench's server still there at the end.
    survived: usize,
}

/// keeper-tui on a fresh copy of `src`, its reaper on the bench's own tmux
/// server (`tmux_socket_name`, never the default server) with `SESSIONS`
/// in it, and the Sessions panel focused (`6`) before the settle.
fn sessions_row(b: &Bench, src: &Path) -> SessionsRun {
    let db = copy_store(src, b.dir);
    for name in SESSIONS {
        b.tmux
            .ok(&["new-session", "-d", "-s", name, "exec sleep 1000000"]);
    }
    let mut reaper = toml::Table::new();
    reaper.insert("tmux_socket_name".into(), b.tmux.socket.as_str().into());
    reaper.insert(
        "protected".into(),
        toml::Value::Array(
            SESSIONS
                .iter()
                .chain([&LATE_SESSION, &"bench"])
                .map(|s| (*s).into())
                .collect(),
        ),
    );
    let mut config = toml::Table::new();
    config.insert("reaper".into(), toml::Value::Table(reaper));
    let config_path = b.dir.join("sessions.toml");
    std::fs::write(&config_path, config.to_string()).expect("write the sessions config");
    eprintln!(
        "keeper-tui, Sessions focused ({} sessions on -L {}): waiting for the panels and the listing, {}s settle, {}s idle ...",
        SESSIONS.len() + 1,
        b.tmux.socket,
        SETTLE.as_secs(),
        b.idle_secs
    );
    let prog = Program {
        window: "s",
        command: format!(
            "exec {} {} --db {} --config {}",
            b.env,
            sh_quote(b.bin),
            sh_quote(&db.display().to_string()),
            sh_quote(&config_path.display().to_string())
        ),
        marker: "2 Loops",
        keys: &["6"],
        ready: Some(Ready {
            what: "the bench's sessions listed on the Sessions panel",
            check: sessions_listed,
        }),
        beside: None,
    };
    let (pid, idle) = idle(b.tmux, &prog, b.idle_secs, b.dir);
    let title = idle
        .screen
        .lines()
        .find_map(|l| {
            let at = l.find("6 Sessions")?;
            Some(
                l[at..]
                    .split(['│', '┃', '┐', '┓', '─', '━'])
                    .next()?
                    .trim()
                    .to_string(),
            )
        })
        .unwrap_or_default();
    // The panel re-lists by itself: a session created now shows unasked.
    b.tmux.ok(&[
        "new-session",
        "-d",
        "-s",
        LATE_SESSION,
        "exec sleep 1000000",
    ]);
    let t0 = Instant::now();
    let late_shown = loop {
        if session_row(&b.tmux.capture("s"), LATE_SESSION).is_some() {
            break Some(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names = b.tmux.ok(&["list-sessions", "-F", "#{session_name}"]);
    let survived = SESSIONS
        .iter()
        .chain([&LATE_SESSION, &"bench"])
        .filter(|s| names.lines().any(|n| n == **s))
        .count();
    b.tmux.ok(&["kill-window", "-t", "bench:s"]);
    wait_exit(pid);
    for name in SESSIONS.iter().chain([&LATE_SESSION]) {
        let _ = b.tmux.cmd(&["kill-session", "-t", &format!("={name}")]);
    }
    SessionsRun {
        idle,
        title,
        late_shown,
        survived,
    }
}

fn print_sessions(run: &SessionsRun) {
    println!(
        "Sessions row: panel title at the end `{}`; a session created after the idle period showed on it {} (no key pressed); sessions still on the bench's server at the end: {} of {}",
        run.title,
        run.late_shown.map_or_else(
            || "NOT within 10 s".to_string(),
            |d| format!("{:.1} s later", d.as_secs_f64())
        ),
        run.survived,
        SESSIONS.len() + 2
    );
}

/// htop in an identical pane, if it is installed; its version.
fn htop_row(b: &Bench) -> Option<(Idle, String)> {
    if !Command::new("sh")
        .args(["-c", "command -v htop"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("htop not installed: comparison row skipped");
        return None;
    }
    eprintln!("htop: {}s idle ...", b.idle_secs);
    let htop = Program {
        window: "h",
        command: format!("exec {} htop", b.env),
        marker: "Load average",
        keys: &[],
        ready: None,
        beside: None,
    };
    let (_, h) = idle(b.tmux, &htop, b.idle_secs, b.dir);
    b.tmux.ok(&["kill-window", "-t", "bench:h"]);
    Some((h, run("htop", &["--version"])))
}

fn print_bridge(run: &BridgeRun, idle_secs: u64) {
    match &run.idle.beside {
        Some(b) => println!(
            "bridge (`keeper-tui bridge`, heartbeat every 500 ms; a separate process, not counted in the keeper-tui rows), pid {}, over the same {idle_secs} s: {:.2} CPU-s per 60 s, peak RSS {:.1} MiB",
            b.pid, b.cpu_s, b.hwm_mib
        ),
        None => println!(
            "bridge: pid {} gone by the end of the idle period, no CPU figure",
            run.pid
        ),
    }
    println!(
        "watchdog: bridge shown healthy {:.1} s after the first frame; still healthy at the end: {}; same bridge pid throughout: {}; heal events while the TUI ran: {}",
        run.idle.ready_after.unwrap_or_default().as_secs_f64(),
        yes_no(run.healthy_at_end),
        yes_no(run.same_pid),
        run.heals
    );
}

fn print_latency(lat: &Latency, samples: usize, hwm_after: f64) {
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
        "(one capture-pane: median {:.1} ms of 50, so each figure is + up to {:.1} ms; median {} polls a sample; keeper-tui peak RSS after the commits {hwm_after:.1} MiB)",
        ms(lat.capture_cost),
        ms(lat.capture_cost + POLL),
        lat.median_polls
    );
}

/// Wait (up to 10 s) until `pid` has exited and been reaped.
fn wait_exit(pid: u32) {
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn main() {
    let interrupt = OnInterrupt::install();
    let idle_secs = env_num("KEEPER_BENCH_IDLE_SECS", 60);
    let samples = env_num("KEEPER_BENCH_SAMPLES", 30) as usize;
    let bin = env!("CARGO_BIN_EXE_keeper-tui");
    let (src, origin) = source_store();
    let src_mib = src.metadata().map_or(0, |m| m.len()) as f64 / (1024.0 * 1024.0);

    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().to_path_buf();
    interrupt.add(move || {
        let _ = std::fs::remove_dir_all(&dir_path);
    });
    let db = copy_store(&src, dir.path());
    let home = dir.path().display().to_string();
    let tmux = Tmux::start();
    let socket = tmux.socket.clone();
    interrupt.add(move || kill_tmux_server(&socket));
    let bench = Bench {
        tmux: &tmux,
        dir: dir.path(),
        env: format!(
            "env HOME={h} XDG_CONFIG_HOME={h}/config XDG_STATE_HOME={h}/state TERM=xterm-256color",
            h = sh_quote(&home)
        ),
        bin,
        idle_secs,
    };

    // 1. keeper-tui idle, default config: nothing supervised.
    eprintln!(
        "keeper-tui: waiting for the panels, {}s settle, {idle_secs}s idle ...",
        SETTLE.as_secs()
    );
    let plain = Program {
        window: "k",
        command: format!(
            "exec {} {} --db {}",
            bench.env,
            sh_quote(bin),
            sh_quote(&db.display().to_string())
        ),
        marker: "2 Loops",
        // Loops focused, its band grown: the probe row for step 2.
        keys: &["2"],
        ready: None,
        beside: None,
    };
    let (kpid, keeper) = idle(&tmux, &plain, idle_secs, dir.path());

    // 2. change-to-screen latency, same process.
    eprintln!("keeper-tui: {samples} commits ...");
    let lat = latency(&tmux, &db, samples);
    let keeper_hwm_after = status_kib(kpid, "VmHWM") as f64 / 1024.0;
    let final_screen = tmux.capture("k");
    tmux.ok(&["kill-window", "-t", "bench:k"]);
    wait_exit(kpid);

    // 3. keeper-tui idle on a fresh copy, supervising the demo bridge.
    let with_bridge = bridge_row(&bench, &src, &interrupt);

    // 4. keeper-tui idle on a fresh copy, the Sessions panel focused, its
    // reaper on this tmux server with a few sessions in it.
    let with_sessions = sessions_row(&bench, &src);

    // 5. htop idle, the same way, in an identical pane.
    let htop = htop_row(&bench);

    let tmux_v = run("tmux", &["-V"]);
    drop(tmux);

    println!(
        "machine: {} CPUs · {tmux_v} · {} · store {} ({origin}, {src_mib:.0} MiB; each keeper-tui on its own fresh copy)",
        run("nproc", &[]),
        htop.as_ref().map_or("no htop", |(_, v)| v.as_str()),
        src.display()
    );
    println!();
    let sessions_label = format!(
        "keeper-tui, Sessions focused ({} sessions on the bench's server, looked at every 2 s)",
        SESSIONS.len() + 1
    );
    let mut rows = vec![
        ("keeper-tui", &keeper),
        ("keeper-tui + bridge under the watchdog", &with_bridge.idle),
        (sessions_label.as_str(), &with_sessions.idle),
    ];
    if let Some((h, _)) = &htop {
        rows.push(("htop", h));
    }
    print_idle(idle_secs, &rows);
    print_bridge(&with_bridge, idle_secs);
    print_sessions(&with_sessions);
    println!();
    print_latency(&lat, samples, keeper_hwm_after);
    if std::env::var_os("KEEPER_BENCH_SHOW").is_some() {
        println!("\n```text\n{final_screen}```");
        println!("\n```text\n{}```", with_bridge.idle.screen);
        println!("\n```text\n{}```", with_sessions.idle.screen);
    }
    assert!(
        with_sessions.late_shown.is_some() && with_sessions.survived == SESSIONS.len() + 2,
        "the Sessions row: the panel did not show a new session by itself, or a session of the bench's server went away"
    );
    assert!(
        with_bridge.left_alone(),
        "the watchdog did not leave the bridge alone during the bridge row, so its figures are not idle figures; the screen at the end:\n{}",
        with_bridge.idle.screen
    );
}
