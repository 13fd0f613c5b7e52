//! The TOML config: defaults, validation and the paths keeper-tui uses.
//! Every key is checked by hand so an error names the key, quotes the bad
//! value and says what would be right. `keeper-tui config` prints them all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use toml::{Table, Value};

use crate::error::{Error, Result};

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
            janitor: JanitorConfig {
                interval_secs: 3600,
                idle_close_days: 1.0,
                run_at_start: true,
            },
            reaper: ReaperConfig::default(),
            watchdog: WatchdogConfig::default(),
        }
    }
}

impl Config {
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    /// Parse and validate config text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let err = |message: String| Error::Config {
            path: origin.into(),
            message,
        };
        let mut root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| err(e.to_string()))?;
        let mut cfg = Config::default();

        let mut store = Section::take(&mut root, "store", origin)?;
        if let Some(p) = store.string("db")? {
            cfg.db = Some(expand_home(&p));
        }
        if let Some(s) = store.string("session_id")? {
            if s.trim().is_empty() {
                return Err(store.bad(
                    "session_id",
                    &Value::String(s),
                    "a non-empty session id such as \"keeper-tui\"",
                ));
            }
            cfg.session_id = s;
        }
        if let Some(w) = store.integer(
            "window_days",
            1,
            3650,
            "a whole number of days from 1 to 3650",
        )? {
            cfg.window_days = w as u32;
        }
        store.finish()?;

        let mut engine = Section::take(&mut root, "engine", origin)?;
        if let Some(b) = engine.boolean("read_only")? {
            cfg.read_only = b;
        }
        if let Some(d) = engine.integer("debounce_ms", 0, 10_000, "milliseconds from 0 to 10000")? {
            cfg.debounce_ms = d as u64;
        }
        if let Some(p) = engine.string("log_dir")? {
            cfg.log_dir = Some(expand_home(&p));
        }
        engine.finish()?;

        let mut janitor = Section::take(&mut root, "janitor", origin)?;
        if let Some(i) = janitor.integer(
            "interval_secs",
            0,
            i64::from(u32::MAX),
            "a whole number of seconds (0 turns scheduled passes off)",
        )? {
            cfg.janitor.interval_secs = i as u64;
        }
        if let Some(d) = janitor.float("idle_close_days")? {
            if !d.is_finite() || d < 0.0 {
                return Err(janitor.bad(
                    "idle_close_days",
                    &Value::Float(d),
                    "a number of days of 0 or more, such as 1 or 1.5",
                ));
            }
            cfg.janitor.idle_close_days = d;
        }
        if let Some(b) = janitor.boolean("run_at_start")? {
            cfg.janitor.run_at_start = b;
        }
        janitor.finish()?;

        let mut reaper = Section::take(&mut root, "reaper", origin)?;
        parse_reaper(&mut reaper, &mut cfg.reaper)?;
        reaper.finish()?;

        let mut watchdog = Section::take(&mut root, "watchdog", origin)?;
        cfg.watchdog = parse_watchdog(&mut watchdog, origin)?;
        watchdog.finish()?;

        if let Some((key, _)) = root.iter().next() {
            return Err(err(format!(
                "unknown section or key {key:?} (valid sections: [store], [engine], [janitor], [reaper], [watchdog]; `keeper-tui config` prints every key)"
            )));
        }
        Ok(cfg)
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
        match std::fs::read_to_string(&path) {
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

fn parse_reaper(sec: &mut Section<'_>, r: &mut ReaperConfig) -> Result<()> {
    use crate::sys::tmux::Server;
    if let Some(i) = sec.integer(
        "interval_secs",
        0,
        i64::from(u32::MAX),
        "a whole number of seconds (0 turns scheduled passes off)",
    )? {
        r.interval_secs = i as u64;
    }
    if let Some(m) = sec.strings("markers")? {
        if let Some(bad) = m.iter().find(|m| m.trim().is_empty()) {
            return Err(sec.bad(
                "markers",
                &Value::String(bad.clone()),
                "non-empty name fragments such as \"msg-warm-\"",
            ));
        }
        if m.is_empty() {
            return Err(sec.bad(
                "markers",
                &Value::Array(Vec::new()),
                "at least one marker such as \"msg-warm-\"",
            ));
        }
        r.markers = m;
    }
    if let Some(g) = sec.integer(
        "grace_secs",
        0,
        86_400,
        "a whole number of seconds from 0 to 86400",
    )? {
        r.grace_secs = g as u64;
    }
    if let Some(b) = sec.boolean("boot_reap")? {
        r.boot_reap = b;
    }
    let name = sec.string("tmux_socket_name")?;
    let path = sec.string("tmux_socket_path")?;
    r.tmux = match (name, path) {
        (Some(n), Some(_)) => {
            return Err(sec.bad(
                "tmux_socket_name",
                &Value::String(n),
                "either tmux_socket_name (-L) or tmux_socket_path (-S), not both",
            ));
        }
        (Some(n), None) if n.trim().is_empty() || n.contains('/') => {
            return Err(sec.bad(
                "tmux_socket_name",
                &Value::String(n),
                "a socket name as given to tmux -L, without slashes",
            ));
        }
        (Some(n), None) => Server::Named(n),
        (None, Some(p)) => Server::Socket(expand_home(&p)),
        (None, None) => Server::Default,
    };
    if let Some(t) = sec.integer(
        "tmux_timeout_ms",
        100,
        60_000,
        "milliseconds from 100 to 60000",
    )? {
        r.tmux_timeout_ms = t as u64;
    }
    if let Some(t) = sec.integer(
        "default_ttl_secs",
        1,
        i64::from(u32::MAX),
        "a whole number of seconds, 1 or more",
    )? {
        r.default_ttl_secs = t as u64;
    }
    if let Some(p) = sec.strings("protected")? {
        r.protected = p;
    }
    Ok(())
}

/// One `[section]` being validated; keys are removed as they are read so
/// whatever is left over is an unknown key.
struct Section<'a> {
    name: &'static str,
    table: Table,
    origin: &'a Path,
    valid: Vec<&'static str>,
    /// How errors name this table when `name` is not enough
    /// (`watchdog.process[2]`).
    label: Option<String>,
}

impl<'a> Section<'a> {
    fn take(root: &mut Table, name: &'static str, origin: &'a Path) -> Result<Self> {
        let table = match root.remove(name) {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(other) => {
                return Err(Error::Config {
                    path: origin.into(),
                    message: format!(
                        "{name} = {other} is not a section; write it as [{name}] with keys below it"
                    ),
                });
            }
        };
        Ok(Section {
            name,
            table,
            origin,
            valid: Vec::new(),
            label: None,
        })
    }

    fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.name.to_string())
    }

    fn bad(&self, key: &str, value: &Value, expected: &str) -> Error {
        Error::Config {
            path: self.origin.into(),
            message: format!(
                "{}.{key} = {value} is not valid: expected {expected}",
                self.label()
            ),
        }
    }

    fn get(&mut self, key: &'static str) -> Option<Value> {
        self.valid.push(key);
        self.table.remove(key)
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(key, &v, "a quoted string")),
        }
    }

    fn boolean(&mut self, key: &'static str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(v) => Err(self.bad(key, &v, "true or false")),
        }
    }

    fn integer(
        &mut self,
        key: &'static str,
        min: i64,
        max: i64,
        expected: &str,
    ) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if (min..=max).contains(&i) => Ok(Some(i)),
            Some(v) => Err(self.bad(key, &v, expected)),
        }
    }

    fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(self.bad(
                        key,
                        &other,
                        "a list of quoted strings, e.g. [\"msg-warm-\"]",
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.bad(key, &v, "a list of quoted strings, e.g. [\"msg-warm-\"]")),
        }
    }

    fn float(&mut self, key: &'static str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(f)),
            Some(Value::Integer(i)) => Ok(Some(i as f64)),
            Some(v) => Err(self.bad(key, &v, "a number such as 1 or 1.5")),
        }
    }

    fn finish(self) -> Result<()> {
        match self.table.iter().next() {
            None => Ok(()),
            Some((key, value)) => Err(Error::Config {
                path: self.origin.into(),
                message: format!(
                    "unknown key {}.{key} (= {value}); valid keys in [{}]: {}",
                    self.label(),
                    self.name,
                    self.valid.join(", ")
                ),
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

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
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

/// Everything resolved: the config plus where the store and log are.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub db_path: PathBuf,
    pub db_from: &'static str,
    pub log_dir: PathBuf,
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
            (
                crate::store::resolve_db_path(None, None, home().as_deref()),
                "default",
            )
        };
        let log_dir = config.log_dir.clone().unwrap_or_else(default_log_dir);
        Settings {
            config,
            config_path,
            db_path,
            db_from,
            log_dir,
        }
    }
}

fn parse_watchdog(sec: &mut Section<'_>, origin: &Path) -> Result<WatchdogConfig> {
    let mut w = WatchdogConfig::default();
    if let Some(t) = sec.integer(
        "tick_secs",
        0,
        86_400,
        "a whole number of seconds from 0 to 86400",
    )? {
        w.tick_secs = t as u64;
    }
    let list = match sec.get("process") {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(v) => return Err(sec.bad("process", &v, "one or more [[watchdog.process]] tables")),
    };
    for (i, item) in list.into_iter().enumerate() {
        let Value::Table(table) = item else {
            return Err(Error::Config {
                path: origin.into(),
                message: format!(
                    "watchdog.process entry {} is not a table; write each as [[watchdog.process]]",
                    i + 1
                ),
            });
        };
        let label = Some(format!("watchdog.process[{}]", i + 1));
        let mut p = Section {
            name: "watchdog.process",
            table,
            origin,
            valid: Vec::new(),
            label,
        };
        w.processes.push(parse_process(&mut p)?);
        p.finish()?;
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = w.processes.iter().find(|p| !seen.insert(p.name.clone())) {
        return Err(Error::Config {
            path: origin.into(),
            message: format!(
                "two watchdog processes are named {:?}; names must differ",
                dup.name
            ),
        });
    }
    Ok(w)
}

fn required(p: &mut Section<'_>, key: &'static str, what: &str) -> Result<String> {
    p.string(key)?
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::Config {
            path: p.origin.into(),
            message: format!("{} needs {key} ({what})", p.label()),
        })
}

fn seconds(p: &mut Section<'_>, key: &'static str, default: u64) -> Result<u64> {
    Ok(
        p.integer(key, 0, 86_400, "a whole number of seconds from 0 to 86400")?
            .map_or(default, |v| v as u64),
    )
}

fn parse_process(p: &mut Section<'_>) -> Result<ProcessConfig> {
    let name = required(p, "name", "a quoted name such as \"bridge\"")?;
    let pid_file = expand_home(&required(
        p,
        "pid_file",
        "the path of the file holding its PID",
    )?);
    let heartbeat_file = expand_home(&required(
        p,
        "heartbeat_file",
        "the path of the file it touches while healthy",
    )?);
    let log_file = expand_home(&required(
        p,
        "log_file",
        "where a restarted process's output goes",
    )?);
    let start = p
        .strings("start")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Config {
            path: p.origin.into(),
            message: format!(
                "{} needs start = [\"program\", \"arg\", …] to restart it",
                p.label()
            ),
        })?;
    let heartbeat_stale_secs = seconds(p, "heartbeat_stale_secs", 90)?.max(1);
    let cooldown_secs = seconds(p, "cooldown_secs", 45)?;
    let grace_secs = seconds(p, "grace_secs", 5)?;
    let quiet_secs = seconds(p, "quiet_secs", 60)?;
    let breaker_limit = p
        .integer("breaker_limit", 1, 100, "a count from 1 to 100")?
        .map_or(3, |v| v as u32);
    let version_file = p.string("version_file")?.map(|v| expand_home(&v));
    let version_repo = p.string("version_repo")?.map(|v| expand_home(&v));
    let version_command = p.strings("version_command")?.filter(|c| !c.is_empty());
    if version_repo.is_some() && version_command.is_some() {
        return Err(Error::Config {
            path: p.origin.into(),
            message: format!(
                "{} has both version_repo and version_command; use one",
                p.label()
            ),
        });
    }
    let restart_markers = p
        .strings("restart_markers")?
        .unwrap_or_default()
        .iter()
        .map(|m| expand_home(m))
        .collect();
    let cwd = p.string("cwd")?.map(|v| expand_home(&v));
    let cmdline_pattern = p.string("cmdline_pattern")?.filter(|s| !s.is_empty());
    Ok(ProcessConfig {
        name,
        pid_file,
        heartbeat_file,
        heartbeat_stale_secs,
        version_file,
        version_repo,
        version_command,
        restart_markers,
        start,
        cwd,
        log_file,
        cmdline_pattern,
        cooldown_secs,
        grace_secs,
        breaker_limit,
        quiet_secs,
    })
}
