//! From what serde read to the `Config` the crate uses: defaults for what is
//! absent, `~/` expanded, and the checks that look at more than one value
//! (both tmux sockets set, a process's required keys, duplicate names);
//! `hooks` and `jobs` do the same for their sections.
//! serde has already checked each value's kind and range.

use std::collections::HashMap;
use std::path::PathBuf;

use toml::Spanned;

use super::problem::Problem;
use super::raw::{RawConfig, RawProcess, RawReaper, RawWatchdog, Text, Texts};
use super::{Config, ProcessConfig, ReaperConfig, WatchdogConfig, expand_home};
use crate::sys::tmux::Server;

const HEARTBEAT_STALE_SECS: u64 = 90;
const COOLDOWN_SECS: u64 = 45;
const GRACE_SECS: u64 = 5;
const QUIET_SECS: u64 = 60;
const BREAKER_LIMIT: u32 = 3;
/// Every supervised process is looked at on each heartbeat of any of
/// them; past this many, a look costs more than the beat it answers.
pub const MAX_PROCESSES: usize = 256;

pub(super) fn config(raw: RawConfig) -> Result<Config, Problem> {
    let mut cfg = Config::default();
    let RawConfig {
        store,
        engine,
        janitor,
        reaper,
        watchdog,
        tasks,
        hook,
        job,
        pools,
        watcher,
    } = raw;

    cfg.db = store.db.as_ref().map(path);
    if let Some(s) = store.session_id {
        cfg.session_id = s;
    }
    if let Some(w) = store.window_days {
        cfg.window_days = w as u32;
    }

    if let Some(b) = engine.read_only {
        cfg.read_only = b.0;
    }
    if let Some(d) = engine.debounce_ms {
        cfg.debounce_ms = d;
    }
    cfg.log_dir = engine.log_dir.as_ref().map(path);

    let j = &mut cfg.janitor;
    if let Some(i) = janitor.interval_secs {
        j.interval_secs = i;
    }
    if let Some(d) = janitor.idle_close_days {
        j.idle_close_days = d;
    }
    if let Some(b) = janitor.run_at_start {
        j.run_at_start = b.0;
    }
    if let Some(m) = janitor.max_close_per_pass {
        j.max_close_per_pass = m as usize;
    }

    cfg.reaper = reaper_config(reaper)?;
    cfg.watchdog = watchdog_config(watchdog)?;
    cfg.tasks = super::hooks::tasks_config(&tasks);
    cfg.hooks = super::hooks::hooks_config(hook)?;
    // Jobs name pools and hooks, and the watcher names a job.
    cfg.pools = super::jobs::pools_config(pools)?;
    cfg.jobs = super::jobs::jobs_config(job, &cfg.pools, &cfg.hooks)?;
    cfg.watcher = super::jobs::watcher_config(watcher, &cfg.jobs)?;
    Ok(cfg)
}

fn path(t: &Text) -> PathBuf {
    expand_home(&t.0)
}

fn reaper_config(raw: RawReaper) -> Result<ReaperConfig, Problem> {
    let mut r = ReaperConfig::default();
    if let Some(i) = raw.interval_secs {
        r.interval_secs = i;
    }
    if let Some(m) = raw.markers {
        r.markers = m;
    }
    if let Some(g) = raw.grace_secs {
        r.grace_secs = g;
    }
    if let Some(b) = raw.boot_reap {
        r.boot_reap = b.0;
    }
    r.tmux = match (raw.tmux_socket_name, raw.tmux_socket_path) {
        (Some(name), Some(_)) => {
            return Err(Problem::invalid(
                name.span(),
                "either tmux_socket_name (-L) or tmux_socket_path (-S), not both",
            ));
        }
        (Some(name), None) => {
            let n = &name.get_ref().0;
            if n.trim().is_empty() || n.contains('/') {
                return Err(Problem::invalid(
                    name.span(),
                    "a socket name as given to tmux -L, without slashes",
                ));
            }
            Server::Named(name.into_inner().0)
        }
        (None, Some(p)) => Server::Socket(path(&p)),
        (None, None) => Server::Default,
    };
    if let Some(t) = raw.tmux_timeout_ms {
        r.tmux_timeout_ms = t;
    }
    if let Some(t) = raw.default_ttl_secs {
        r.default_ttl_secs = t;
    }
    if let Some(m) = raw.max_reap_per_pass {
        r.max_reap_per_pass = m as usize;
    }
    if let Some(i) = raw.idle_secs {
        r.idle_secs = i;
    }
    if let Some(p) = raw.protected {
        r.protected = p.0;
    }
    Ok(r)
}

fn watchdog_config(raw: RawWatchdog) -> Result<WatchdogConfig, Problem> {
    let mut w = WatchdogConfig::default();
    if let Some(t) = raw.tick_secs {
        w.tick_secs = t;
    }
    // Name → 1-based position, for pointing at the first holder of a name.
    let mut names = HashMap::new();
    for (i, table) in raw.process.into_iter().enumerate() {
        if i == MAX_PROCESSES {
            return Err(Problem::invalid(
                table.span(),
                &format!(
                    "at most {MAX_PROCESSES} [[watchdog.process]] tables (this is number {})",
                    i + 1
                ),
            ));
        }
        let name_span = table.get_ref().name.as_ref().map(Spanned::span);
        let p = process_config(table)?;
        if let Some(first) = names.insert(p.name.clone(), i + 1)
            && let Some(span) = name_span
        {
            return Err(Problem::invalid(
                span,
                &format!("a name no other watchdog process has (watchdog.process[{first}] has it)"),
            ));
        }
        w.processes.push(p);
    }
    Ok(w)
}

fn process_config(table: Spanned<RawProcess>) -> Result<ProcessConfig, Problem> {
    let at = table.span();
    let raw = table.into_inner();
    let required = |value: Option<Text>, what: &str| {
        value
            .map(|t| t.0)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Problem::needs(at.clone(), what.into()))
    };
    let name = required(
        raw.name.map(Spanned::into_inner),
        "name (a quoted name such as \"bridge\")",
    )?;
    let pid_file = required(
        raw.pid_file,
        "pid_file (the path of the file holding its PID)",
    )?;
    let heartbeat_file = required(
        raw.heartbeat_file,
        "heartbeat_file (the path of the file it touches while healthy)",
    )?;
    let log_file = required(
        raw.log_file,
        "log_file (where a restarted process's output goes)",
    )?;
    let start = raw
        .start
        .map(|s| s.0)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Problem::needs(
                at.clone(),
                "start = [\"program\", \"arg\", …] to restart it".into(),
            )
        })?;
    let version_command = raw.version_command.filter(|c| !c.get_ref().0.is_empty());
    if let (Some(command), Some(_)) = (&version_command, &raw.version_repo) {
        return Err(Problem::invalid(
            command.span(),
            "either version_repo or version_command, not both",
        ));
    }
    Ok(ProcessConfig {
        name,
        pid_file: expand_home(&pid_file),
        heartbeat_file: expand_home(&heartbeat_file),
        heartbeat_stale_secs: raw.heartbeat_stale_secs.unwrap_or(HEARTBEAT_STALE_SECS),
        version_file: raw.version_file.as_ref().map(path),
        version_repo: raw.version_repo.as_ref().map(path),
        version_command: version_command.map(|c| c.into_inner().0),
        restart_markers: raw
            .restart_markers
            .map(|m: Texts| m.0.iter().map(|m| expand_home(m)).collect())
            .unwrap_or_default(),
        start,
        cwd: raw.cwd.as_ref().map(path),
        log_file: expand_home(&log_file),
        cmdline_pattern: raw.cmdline_pattern.map(|t| t.0).filter(|s| !s.is_empty()),
        cooldown_secs: raw.cooldown_secs.unwrap_or(COOLDOWN_SECS),
        grace_secs: raw.grace_secs.unwrap_or(GRACE_SECS),
        breaker_limit: raw.breaker_limit.map_or(BREAKER_LIMIT, |b| b as u32),
        quiet_secs: raw.quiet_secs.unwrap_or(QUIET_SECS),
    })
}
