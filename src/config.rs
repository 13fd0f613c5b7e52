//! The TOML config: defaults, validation and the paths keeper-tui uses.
//!
//! serde reads the file into `raw` types whose value types say, in the
//! operator's words, what each key takes; `validate` turns that into
//! `Config` and checks what spans several keys; `problem` tells a mistake
//! with its line, column, key, value and what would be right.
//! `keeper-tui config` prints every key with its default and meaning.

mod hooks;
mod jobs;
mod problem;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize as _, Serialize};
use toml::de::DeTable;

use crate::error::{Error, Result};
use problem::Problem;
use raw::RawConfig;

pub const DEFAULT_SESSION_ID: &str = "keeper-tui";

/// The shipped config, every key at its default with its meaning; printed
/// by `keeper-tui config` so a binary-only install has it too.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../assets/keeper.toml");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JanitorConfig {
    /// Seconds between scheduled passes; 0 turns scheduled passes off.
    pub interval_secs: u64,
    pub idle_close_days: f64,
    /// First scheduled pass when the engine starts (threadkeeper's habit),
    /// or only after one interval.
    pub run_at_start: bool,
    /// A scheduled pass that would close more holds instead, for the
    /// operator to review (`f`).
    pub max_close_per_pass: usize,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        JanitorConfig {
            interval_secs: 3600,
            idle_close_days: 1.0,
            run_at_start: true,
            max_close_per_pass: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaperConfig {
    /// Seconds between scheduled passes; 0 turns scheduled passes off.
    pub interval_secs: u64,
    /// A session is an agent's when its name contains one of these.
    pub markers: Vec<String>,
    /// Sessions younger than this are never orphans (their claim may be
    /// about to land).
    pub grace_secs: u64,
    /// Reap orphans left by a previous run as soon as the engine starts.
    pub boot_reap: bool,
    /// The tmux server: the default one, or `-L name`, or `-S path`.
    pub tmux: crate::sys::tmux::Server,
    /// How long tmux may take to answer before the answer is "unknown".
    pub tmux_timeout_ms: u64,
    /// TTL given to `keeper-tui claim` when none is passed.
    pub default_ttl_secs: u64,
    /// Session names never reaped, whatever their name.
    pub protected: Vec<String>,
    /// A scheduled pass that would reap more holds instead.
    pub max_reap_per_pass: usize,
    /// A session with tmux activity more recent than this is busy, not
    /// abandoned.
    pub idle_secs: u64,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        ReaperConfig {
            interval_secs: 60,
            markers: vec!["msg-warm-".into()],
            grace_secs: 60,
            boot_reap: true,
            tmux: crate::sys::tmux::Server::Default,
            tmux_timeout_ms: 5000,
            default_ttl_secs: 600,
            protected: Vec::new(),
            max_reap_per_pass: 5,
            idle_secs: 600,
        }
    }
}

/// One supervised process (`[[watchdog.process]]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessConfig {
    pub name: String,
    pub pid_file: PathBuf,
    pub heartbeat_file: PathBuf,
    pub heartbeat_stale_secs: u64,
    /// Where the process writes the version it runs.
    pub version_file: Option<PathBuf>,
    /// The current version: a git repository's HEAD …
    pub version_repo: Option<PathBuf>,
    /// … or what this command prints.
    pub version_command: Option<Vec<String>>,
    /// Files whose appearance asks the process to restart itself (tier 1).
    pub restart_markers: Vec<PathBuf>,
    /// How to start it (tier 3): argv, working directory, log file.
    pub start: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub log_file: PathBuf,
    /// Must appear in the process's command line before any signal.
    pub cmdline_pattern: Option<String>,
    pub cooldown_secs: u64,
    pub grace_secs: u64,
    pub breaker_limit: u32,
    pub quiet_secs: u64,
}

/// A century: idle thresholds beyond it are typos (`1e300`), and their
/// cutoff would not fit in a timestamp.
pub const MAX_IDLE_DAYS: f64 = 36_500.0;

impl ProcessConfig {
    /// How its process is recognised before any signal.
    pub fn identity(&self) -> crate::sys::process::Identity {
        crate::sys::process::Identity::of(self.cmdline_pattern.as_deref(), &self.start)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchdogConfig {
    /// Seconds between evaluations when no file changes (0: only on file
    /// changes and when a heartbeat is due to go stale).
    pub tick_secs: u64,
    pub processes: Vec<ProcessConfig>,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            tick_secs: 10,
            processes: Vec::new(),
        }
    }
}

/// threadkeeper's `tasks`: the reconciler and cancel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TasksConfig {
    /// Seconds between reconciler passes; 0 turns scheduled passes off.
    pub reconcile_secs: u64,
    /// Running tasks looked at per pass, newest first.
    pub max_per_pass: usize,
    /// How long a cancelled task has after SIGTERM before SIGKILL.
    pub cancel_grace_secs: u64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            reconcile_secs: 10,
            max_per_pass: 200,
            cancel_grace_secs: 10,
        }
    }
}

/// Which endings a hook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    TaskEnded,
    TaskCancelled,
    JobSucceeded,
    /// Failed or timed out.
    JobFailed,
    JobCancelled,
}

impl HookEvent {
    pub const ALL: &'static [HookEvent] = &[
        HookEvent::TaskEnded,
        HookEvent::TaskCancelled,
        HookEvent::JobSucceeded,
        HookEvent::JobFailed,
        HookEvent::JobCancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookEvent::TaskEnded => "task_ended",
            HookEvent::TaskCancelled => "task_cancelled",
            HookEvent::JobSucceeded => "job_succeeded",
            HookEvent::JobFailed => "job_failed",
            HookEvent::JobCancelled => "job_cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == s)
    }
}

/// One completion hook (`[[hook]]`): where a task's ending is POSTed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookConfig {
    /// Also the hook's key in `keeper_hook_deliveries`: no two hooks share one.
    pub url: String,
    /// The environment variable holding the HMAC secret; the file holds no secret.
    pub secret_env: Option<String>,
    pub on: Vec<HookEvent>,
    /// Only tasks of this role (0.21's column, else inferred from the prompt).
    pub role: Option<String>,
    /// Only tasks whose prompt contains this.
    pub prompt_contains: Option<String>,
    /// Loopback, private and link-local addresses are refused unless this is set.
    pub allow_private: bool,
    pub max_attempts: u32,
    pub timeout_secs: u64,
}

impl HookConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// When a job starts on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `every = "2h30m"`: a fixed gap, for work that only needs doing often.
    Every(Duration),
    /// `daily = "03:30"`, local time: for work that belongs at an hour of
    /// the operator's day rather than at some gap from the last run.
    Daily { hour: u8, minute: u8 },
}

/// One command keeper-tui runs for the operator (`[[job]]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobConfig {
    /// Unique; what `after`, `[watcher] job` and the operator call it by.
    pub name: String,
    /// argv, run without a shell unless `shell` is set; then its one
    /// string is given to `sh -c`.
    pub command: Vec<String>,
    pub shell: bool,
    pub cwd: Option<PathBuf>,
    /// Added to keeper-tui's own environment.
    pub env: BTreeMap<String, String>,
    /// A key of `Config::pools`; `None` is the implicit unlimited pool.
    pub pool: Option<String>,
    /// Seconds before a run is stopped; `None` lets it run as long as it takes.
    pub timeout_secs: Option<u64>,
    /// Runs after the first failure before the job is given up on.
    pub retries: u32,
    /// Seconds between a failure and the next try.
    pub backoff_secs: u64,
    /// Exit codes that mean "do not try again": retries would fail the same way.
    pub fatal_exit_codes: Vec<u8>,
    /// Jobs this one waits for; each names another job, and no chain of
    /// them comes back to this one (it would never start).
    pub after: Vec<String>,
    pub schedule: Option<Schedule>,
    /// URLs of `[[hook]]`s told when a run ends; each is one of `Config::hooks`.
    pub hooks: Vec<String>,
}

impl JobConfig {
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_secs.map(Duration::from_secs)
    }

    pub fn backoff(&self) -> Duration {
        Duration::from_secs(self.backoff_secs)
    }
}

/// Where agent sessions leave their transcripts, and what to do with one
/// once it has ended (`[watcher]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatcherConfig {
    pub dir: PathBuf,
    /// `*.ext` (files in `dir`) or `*/*.ext` (files one directory down):
    /// the shapes agent session stores use, so no glob engine is needed.
    pub glob: String,
    /// A session file untouched this long has ended.
    pub stale_secs: u64,
    /// The `[[job]]` queued once per ended session, its `{path}` replaced
    /// by the file's path; `None` queues nothing.
    pub job: Option<String>,
    /// A first pass over years of transcripts would otherwise queue them all.
    pub max_new_per_pass: usize,
    /// Seconds between passes; 0 turns the watcher off.
    pub interval_secs: u64,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        WatcherConfig {
            dir: expand_home("~/.claude/projects"),
            glob: "*/*.jsonl".into(),
            stale_secs: 600,
            job: None,
            max_new_per_pass: 10,
            interval_secs: 30,
        }
    }
}

impl WatcherConfig {
    pub fn stale(&self) -> Duration {
        Duration::from_secs(self.stale_secs)
    }

    /// Whether `relative`, a path under `dir`, is a session file for `glob`.
    /// As in the shell, `*` matches no `/` and no leading `.`.
    pub fn matches(&self, relative: &Path) -> bool {
        let depth = if self.glob.starts_with("*/") { 2 } else { 1 };
        let Some((_, suffix)) = self.glob.rsplit_once('*') else {
            return false;
        };
        let parts: Vec<_> = relative.components().collect();
        parts.len() == depth
            && parts.iter().enumerate().all(|(i, part)| {
                let std::path::Component::Normal(name) = part else {
                    return false;
                };
                let Some(name) = name.to_str() else {
                    return false;
                };
                let visible = !name.is_empty() && !name.starts_with('.');
                if i + 1 < depth {
                    visible
                } else {
                    visible && name.len() > suffix.len() && name.ends_with(suffix)
                }
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Store path from the file; `--db` and `THREADKEEPER_DB` win over it.
    pub db: Option<PathBuf>,
    pub session_id: String,
    pub window_days: u32,
    pub read_only: bool,
    pub debounce_ms: u64,
    pub log_dir: Option<PathBuf>,
    pub janitor: JanitorConfig,
    pub reaper: ReaperConfig,
    pub watchdog: WatchdogConfig,
    pub tasks: TasksConfig,
    pub hooks: Vec<HookConfig>,
    pub jobs: Vec<JobConfig>,
    /// Pool name → how many of its jobs may run at once. Jobs without a
    /// pool share an implicit one with no limit.
    pub pools: BTreeMap<String, u32>,
    pub watcher: WatcherConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: None,
            session_id: DEFAULT_SESSION_ID.into(),
            window_days: 7,
            read_only: false,
            debounce_ms: 50,
            log_dir: None,
            janitor: JanitorConfig::default(),
            reaper: ReaperConfig::default(),
            watchdog: WatchdogConfig::default(),
            tasks: TasksConfig::default(),
            hooks: Vec::new(),
            jobs: Vec::new(),
            pools: BTreeMap::new(),
            watcher: WatcherConfig::default(),
        }
    }
}

impl Config {
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    /// Parse and validate config text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let fail = |problem: Problem, doc: Option<&DeTable<'_>>| Error::Config {
            path: origin.into(),
            message: problem.describe(text, doc),
        };
        let doc = DeTable::parse(text).map_err(|e| fail(Problem::syntax(&e), None))?;
        // The document is read twice: serde consumes one copy, the other
        // keeps the spans that turn an error's byte offset into a key.
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(|e| fail(Problem::from_serde(&e), Some(doc.get_ref())))?;
        validate::config(raw).map_err(|p| fail(p, Some(doc.get_ref())))
    }

    /// Load from an explicit `--config` path (must exist) or the XDG path
    /// (optional: defaults when absent).
    pub fn load(explicit: Option<&Path>) -> Result<(Self, Option<PathBuf>)> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok((Config::default(), None)),
            },
        };
        // A FIFO or device at the path would block or never end.
        match crate::sys::files::read_text(&path, 1 << 20) {
            Ok(text) => Ok((Config::parse(&text, &path)?, Some(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok((Config::default(), None))
            }
            Err(e) => Err(Error::Config {
                path,
                message: format!("cannot read it: {e}"),
            }),
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

/// `$VAR` when it is an absolute path, else `~/fallback`. The XDG Base
/// Directory spec says a relative value is invalid and must be ignored.
fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|v| v.is_absolute())
        .or_else(|| home().map(|h| h.join(fallback)))
}

/// `$XDG_CONFIG_HOME/keeper-tui/keeper.toml`, else `~/.config/keeper-tui/keeper.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|d| d.join("keeper-tui").join("keeper.toml"))
}

/// `$XDG_STATE_HOME/keeper-tui`, else `~/.local/state/keeper-tui`.
pub fn default_log_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(std::env::temp_dir)
        .join("keeper-tui")
}

/// `$XDG_CACHE_HOME/keeper-tui`, else `~/.cache/keeper-tui`.
pub fn default_cache_dir() -> Option<PathBuf> {
    xdg("XDG_CACHE_HOME", ".cache").map(|d| d.join("keeper-tui"))
}

/// Everything resolved: the config plus where the store and log are.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    /// Empty when nothing names the store and there is no `$HOME` to find
    /// the default under: opening the store then says how to name it,
    /// rather than a relative default landing wherever the cwd is.
    pub db_path: PathBuf,
    pub db_from: &'static str,
    pub log_dir: PathBuf,
    /// Where counts of the store are kept between runs (the rollup);
    /// `None`: nowhere, every start counts the store afresh.
    pub cache_dir: Option<PathBuf>,
    /// `--create`: the TUI and `engine` make an empty store where none is;
    /// without it a missing store is refused, so a typo never becomes a
    /// new, empty store that the loops then act on.
    pub create_store: bool,
}

impl Settings {
    /// Precedence for the store: `--db`, `THREADKEEPER_DB`, `[store].db`, default.
    pub fn resolve(config: Config, config_path: Option<PathBuf>, db_flag: Option<&Path>) -> Self {
        let env = std::env::var("THREADKEEPER_DB")
            .ok()
            .filter(|e| !e.is_empty());
        let (db_path, db_from) = if let Some(p) = db_flag {
            (p.to_path_buf(), "--db")
        } else if let Some(e) = env {
            (PathBuf::from(e), "THREADKEEPER_DB")
        } else if let Some(p) = &config.db {
            (p.clone(), "config [store].db")
        } else {
            match crate::store::resolve_db_path(None, None, home().as_deref()) {
                Some(p) => (p, "default"),
                None => (PathBuf::new(), "nowhere"),
            }
        };
        let log_dir = config.log_dir.clone().unwrap_or_else(default_log_dir);
        Settings {
            config,
            config_path,
            db_path,
            db_from,
            log_dir,
            cache_dir: default_cache_dir(),
            create_store: false,
        }
    }
}
