//! What the watchdog reads about one supervised process: its PID and
//! whether that is still the process meant, its heartbeat, and the version
//! it runs against the current one.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::ProcessConfig;
use crate::sys::command;
use crate::sys::process::{Liveness, liveness, mtime, mtime_precise};

const VERSION_TIMEOUT: Duration = Duration::from_secs(2);

/// One process, as the watchdog sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub name: String,
    pub liveness: Liveness,
    /// Seconds since the heartbeat file changed; `None` when it is missing.
    pub heartbeat_age: Option<i64>,
    /// When it last changed, so a panel can age it with the clock.
    pub heartbeat_at: Option<i64>,
    pub stale: bool,
    /// The live process has written a heartbeat since it started. A fresh
    /// process is not stale before `heartbeat_stale_secs` from its own
    /// start, but it has not proved itself healthy either.
    pub proven: bool,
    pub stamp: Option<String>,
    pub current: Option<String>,
    pub mismatch: bool,
    /// The heartbeat file is dated this many seconds ahead of the clock
    /// (set by hand, or a skewed file server): not counted as a beat, or
    /// a hung process would look fresh until that time came.
    pub beat_ahead: Option<i64>,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.liveness.pid().is_some() && !self.stale && !self.mismatch
    }

    /// Why it is unhealthy, for the action's message.
    pub fn why(&self) -> String {
        let mut parts = Vec::new();
        match &self.liveness {
            Liveness::Alive(_) => {}
            Liveness::Dead => parts.push("no live pid".to_string()),
            Liveness::Zombie(pid) => parts.push(format!("pid {pid} is a zombie")),
            Liveness::NotOurs { pid, why } => parts.push(format!("pid {pid} is not ours: {why}")),
        }
        if self.stale {
            parts.push(match (self.beat_ahead, self.heartbeat_age) {
                (Some(s), _) => format!("heartbeat dated {s}s in the future: not counted"),
                (None, Some(a)) => format!("heartbeat {a}s stale"),
                (None, None) => "no heartbeat file".into(),
            });
        }
        if self.mismatch {
            parts.push(format!(
                "runs {} but {} is current",
                short(self.stamp.as_deref()),
                short(self.current.as_deref())
            ));
        }
        parts.join(", ")
    }
}

/// The first 12 characters of a version (a SHA's usual short form).
pub fn short(v: Option<&str>) -> &str {
    v.map_or("?", |v| crate::store::truncate_chars(v, 12))
}

/// The version the process should run: a repository's HEAD or a command's output.
fn current_version(p: &ProcessConfig) -> Option<String> {
    if let Some(repo) = &p.version_repo {
        let repo = repo.display().to_string();
        return command::run(
            &["git", "-C", &repo, "rev-parse", "HEAD"],
            None,
            VERSION_TIMEOUT,
        )
        .stdout_if_ok();
    }
    let argv: Vec<&str> = p
        .version_command
        .as_ref()?
        .iter()
        .map(String::as_str)
        .collect();
    command::run(&argv, p.cwd.as_deref(), VERSION_TIMEOUT).stdout_if_ok()
}

/// The heartbeat's time, unless it is ahead of `now` (a second of slack
/// for coarse file times).
fn beat_at(heartbeat: &Path, now: f64) -> Option<f64> {
    mtime_precise(heartbeat).filter(|b| *b <= now + 1.0)
}

/// When the heartbeat clock started for this process: its last beat, or
/// its own start if that is later (a restarted process is not judged by
/// its predecessor's last beat). Unix seconds, sub-second where known.
pub fn beat_clock(heartbeat: &Path, live: &Liveness) -> Option<f64> {
    let beat = beat_at(heartbeat, crate::sys::process::now_precise());
    // Start times are whole seconds: take the end of that second, so a
    // fresh process never has less than its full threshold.
    let started = live.info().map(|i| i.started_at as f64 + 1.0);
    match (beat, started) {
        (Some(b), Some(s)) => Some(b.max(s)),
        (b, s) => b.or(s),
    }
}

/// Everything but the version: cheap enough to run on every heartbeat.
pub fn check_files(p: &ProcessConfig, now: f64) -> Health {
    let live = liveness(&p.pid_file, &p.identity());
    let beat_ahead = mtime(&p.heartbeat_file)
        .map(|m| m - now as i64)
        .filter(|&ahead| ahead > 1);
    let heartbeat_at = mtime(&p.heartbeat_file).filter(|_| beat_ahead.is_none());
    let stale = beat_clock(&p.heartbeat_file, &live)
        .is_none_or(|t| now - t > p.heartbeat_stale_secs as f64);
    let proven = match (beat_at(&p.heartbeat_file, now), live.info()) {
        // Start times are whole seconds: a beat in the start's second counts.
        (Some(b), Some(i)) => b >= i.started_at as f64,
        _ => false,
    };
    Health {
        name: p.name.clone(),
        heartbeat_age: heartbeat_at.map(|m| (now as i64 - m).max(0)),
        heartbeat_at,
        liveness: live,
        stale,
        proven,
        stamp: None,
        current: None,
        mismatch: false,
        beat_ahead,
    }
}

/// The whole look: files, then the version stamp against the current one.
pub fn check(p: &ProcessConfig, now: f64) -> Health {
    let mut h = check_files(p, now);
    h.stamp = p
        .version_file
        .as_ref()
        .and_then(|f| crate::sys::files::read_text(f, 4096).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    // No stamp, or no way to know the current version: not a mismatch.
    h.current = if h.stamp.is_some() {
        current_version(p)
    } else {
        None
    };
    h.mismatch = matches!((&h.stamp, &h.current), (Some(s), Some(c)) if s != c);
    h
}

/// Seconds until the process goes stale (0 when it is, or has no live pid).
pub fn stale_in(p: &ProcessConfig, h: &Health, now: f64) -> f64 {
    if h.liveness.pid().is_none() {
        return 0.0;
    }
    beat_clock(&p.heartbeat_file, &h.liveness)
        .map_or(0.0, |t| (t + p.heartbeat_stale_secs as f64 - now).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_version_cuts_characters_not_bytes() {
        assert_eq!(short(Some("ünïcödé-vérsïön-stämp")), "ünïcödé-vérs");
        assert_eq!(short(Some("abc")), "abc");
        assert_eq!(short(None), "?");
    }
}
