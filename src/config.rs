//! The TOML config: defaults, validation and the paths keeper-tui uses.
//! Every key is checked by hand so an error names the key, quotes the bad
//! value and says what would be right. `assets/keeper.toml` documents them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use toml::{Table, Value};

use crate::error::{Error, Result};

pub const DEFAULT_SESSION_ID: &str = "keeper-tui";

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

        if let Some((key, _)) = root.iter().next() {
            return Err(err(format!(
                "unknown section or key {key:?} (valid sections: [store], [engine], [janitor], [reaper])"
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
        })
    }

    fn bad(&self, key: &str, value: &Value, expected: &str) -> Error {
        Error::Config {
            path: self.origin.into(),
            message: format!(
                "{}.{key} = {value} is not valid: expected {expected}",
                self.name
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
                    self.name,
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
