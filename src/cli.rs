//! Command-line definitions. Every verb runs the same code the engine runs
//! for the matching key in the TUI.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::loops::LoopId;

#[derive(Debug, Parser)]
#[command(
    name = "keeper-tui",
    version,
    about = "Operator console for a threadkeeper store: live stores/loops/outcomes, and the loops that keep it healthy",
    long_about = "keeper-tui reads and supervises a threadkeeper SQLite store (0.8.x and 0.21.x files).\n\n\
The store is found at --db, else $THREADKEEPER_DB, else [store].db in the config, else ~/.threadkeeper/db.sqlite.\n\
The config is read from --config, else $XDG_CONFIG_HOME/keeper-tui/keeper.toml, else ~/.config/keeper-tui/keeper.toml; `keeper-tui config` prints every key with its default and meaning.",
    after_long_help = "With no command, keeper-tui opens the TUI over the same engine `keeper-tui engine` runs headless; press ? in it for every key.\n\nExit status, for every command: 0 done (\"nothing to do\" included); 1 the action was refused or failed; 2 bad input (a usage error, a store, config, thread or claim that is not there or not what it should be). Every non-zero exit prints what was wrong, the bad value, and what would be right."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// TUI: open on a throwaway demo world (seeded store, live activity), removed on exit
    #[arg(long)]
    pub demo: bool,
    /// TUI: refuse every command that would change the store; run no passes
    #[arg(long)]
    pub read_only: bool,
    /// TUI: leave the mouse to the terminal (no click to focus or select, no wheel scrolling; the terminal's own text selection works)
    #[arg(long)]
    pub no_mouse: bool,
    #[command(subcommand)]
    pub command: Option<Verb>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The threadkeeper database (overrides $THREADKEEPER_DB and the config)
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Config file (default: $XDG_CONFIG_HOME/keeper-tui/keeper.toml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// TUI and engine: create an empty threadkeeper store at the store path if there is none (without it, a missing store is refused)
    #[arg(long, global = true)]
    pub create: bool,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Print stores / loops / outcomes / reliability (never writes to the store)
    Status(StatusArgs),
    /// Run one pass of a loop now (forced: runs even when its interval is 0)
    Pass(PassArgs),
    /// Reopen a thread the way threadkeeper does: add a note, state back to active
    Reopen(ReopenArgs),
    /// Take a janitor pass back: reopen the threads it closed that nobody touched since (no PASS: list the passes that can be)
    Undo(UndoArgs),
    /// Run the engine's loops headless until SIGINT or SIGTERM
    Engine(EngineArgs),
    /// Print the config, database and log paths, store layout and loop settings
    Info,
    /// Build a new deterministic store with realistic spreads (tests, benchmarks, demos)
    Seed(SeedArgs),
    /// List the tmux sessions the reaper watches: agent or not, claim, age, orphan or why not
    Sessions(SessionsArgs),
    /// Reap orphaned agent sessions (all of them, or the NAMEs given, by hand)
    Reap(ReapArgs),
    /// Register a session as in use, so the reaper leaves it alone until its TTL runs out
    Claim(ClaimArgs),
    /// Mark a claimed session as used now (restarts its TTL)
    Touch(NameArgs),
    /// Drop a session's claim
    Release(NameArgs),
    /// Supervised processes: health and heal state, or reset a broken circuit
    #[command(subcommand)]
    Watchdog(WatchdogVerb),
    /// threadkeeper's tasks: running ones first (with their process: live, gone, unknown, visible), then the latest ended
    Tasks(TasksArgs),
    /// Cancel a running task: SIGTERM to its process group, SIGKILL after [tasks].cancel_grace_secs; its row is ended with -SIGNAL
    Cancel(CancelArgs),
    /// Completion hook deliveries (pending, delivered, failed), or queue one again
    Hooks(HooksArgs),
    /// Configured jobs and their runs; run one now, cancel or retry a run, read the event log
    Jobs(JobsArgs),
    /// Print the default config, every key with its meaning, to stdout: `keeper-tui config > ~/.config/keeper-tui/keeper.toml`
    Config,
    /// A bridge process for demos and tests (writes pid, version, heartbeat)
    #[command(hide = true)]
    Bridge(BridgeArgs),
    /// Removes a demo world once the keeper-tui that made it is gone, however it ended
    #[command(hide = true)]
    DemoGuard(DemoGuardArgs),
}

#[derive(Debug, Args)]
pub struct DemoGuardArgs {
    /// The keeper-tui that made the world
    #[arg(long)]
    pub parent: i32,
    /// Its start time (Unix seconds), so a reused pid is not taken for it
    #[arg(long)]
    pub started: i64,
    #[arg(long)]
    pub dir: std::path::PathBuf,
    #[arg(long)]
    pub socket: String,
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// One JSON array instead of a table
    #[arg(long)]
    pub json: bool,
    /// How many ended tasks to list after the running ones
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub ended: usize,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The task's id (`keeper-tui tasks` lists them)
    pub task: String,
    /// Go ahead; without it, say what would be sent and change nothing
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct HooksArgs {
    /// One JSON array instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<HooksVerb>,
}

#[derive(Debug, Subcommand)]
pub enum HooksVerb {
    /// Queue a delivered or failed delivery again, from its first attempt (the engine holding the lease sends it)
    Redeliver {
        /// The delivery's number (the first column of `keeper-tui hooks`)
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// JSON instead of tables (also after `log`)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<JobsVerb>,
}

#[derive(Debug, Subcommand)]
pub enum JobsVerb {
    /// Queue a run of NAME now (and the jobs that follow it); the engine holding the store's lease starts it within its pool
    Run {
        /// The job's name, as in its [[job]] table
        name: String,
    },
    /// Cancel a queued or running run: SIGTERM to its process group, SIGKILL after [tasks].cancel_grace_secs; the runs that wait on it are skipped
    Cancel {
        /// The run's number (the first column of `keeper-tui jobs`)
        run: i64,
    },
    /// Queue a failed, cancelled, timed-out or skipped run's job again, with the same arguments
    Retry {
        /// The run's number
        run: i64,
    },
    /// The event log: one line per queued, started, retry, succeeded, failed, cancelled or skipped run
    Log {
        /// Only this job's lines
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
        /// How many of the newest lines
        #[arg(long, default_value_t = 50, value_name = "N")]
        lines: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum WatchdogVerb {
    /// Each supervised process: pid, alive, heartbeat age, version, tier, failures, breaker
    Status,
    /// Forget a process's heal state and close its circuit breaker
    Reset(NameArgs),
}

#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Directory for bridge.pid, bridge.heartbeat, bridge.version, bridge.restart, bridge.hang
    #[arg(long)]
    pub dir: PathBuf,
    /// The version to stamp (default: "unknown")
    #[arg(long)]
    pub version: Option<String>,
    /// Stamp this git repository's HEAD instead
    #[arg(long)]
    pub version_repo: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Keep running when sent SIGTERM
    #[arg(long)]
    pub ignore_sigterm: bool,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Exact session names to reap by hand (attached ones too); none: every orphan
    pub names: Vec<String>,
    /// Say what would be killed and kill nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Every orphan: go ahead even past [reaper].max_reap_per_pass
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The exact tmux session name
    pub name: String,
    /// Who holds it (default: $USER)
    #[arg(long)]
    pub owner: Option<String>,
    /// Seconds of disuse after which the claim expires (default: [reaper].default_ttl_secs)
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub ttl: Option<u64>,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The exact tmux session name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Window for the "fires in window" columns, in days (like mp_dashboard's window_days)
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub window_days: Option<u32>,
    /// Print JSON (schema in docs/status-json.md) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PassArgs {
    /// Which loop: janitor, reaper, watchdog, reconciler, hooks, watcher, or jobs (`--dry-run` only: jobs run inside the engine)
    #[arg(value_name = "LOOP")]
    pub loop_id: LoopId,
    /// Janitor only: close threads idle longer than D days (default: [janitor].idle_close_days)
    #[arg(long, value_name = "D", value_parser = parse_days, allow_negative_numbers = true)]
    pub days: Option<f64>,
    /// Show what the pass would do and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Go ahead even past the loop's per-pass limit (max_close_per_pass, max_reap_per_pass)
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ReopenArgs {
    /// Thread id, e.g. T1a2
    pub thread_id: String,
    /// Note text recorded on the thread (default says the operator reopened it)
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The pass's number, as the Loops panel's details and `keeper-tui undo` list them
    pub pass: Option<i64>,
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Refuse every command that would change the store; run no passes
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Where to create the store (must not exist yet)
    pub path: PathBuf,
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub threads: u64,
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub events: u64,
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub notes: u64,
    /// RNG seed: the same seed and sizes give the same rows
    #[arg(long, default_value_t = 20_240_601)]
    pub seed: u64,
    /// Pretend it is this Unix time (default: now), for byte-identical stores
    #[arg(long, value_name = "UNIX_SECS")]
    pub now: Option<i64>,
    /// Spread touches and events over this many days before now
    #[arg(long, value_name = "DAYS", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub days: i64,
}

fn parse_days(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d.is_finite() && (0.0..=crate::config::MAX_IDLE_DAYS).contains(&d) => Ok(d),
        Ok(_) => Err(format!(
            "{s:?} is not a usable number of days: use 0 to {}, such as 1 or 1.5",
            crate::config::MAX_IDLE_DAYS
        )),
        Err(_) => Err(format!("{s:?} is not a number of days: use e.g. 1 or 1.5")),
    }
}
