//! The watchdog: finds a dead, hung or outdated bridge process and heals it
//! in tiers — restart marker, SIGTERM, SIGKILL and a confirmed restart —
//! one step per evaluation, with a cooldown and a circuit breaker. Nothing
//! is signalled unless it is still the process we mean.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rusqlite::Connection;
use serde::Serialize;

use super::{Loop, LoopId, PassMode, PassReport};
use crate::config::{ProcessConfig, WatchdogConfig};
use crate::error::{Error, Result};
use crate::store::WriteStore;
use crate::store::events::{insert_event, record_loop_pass};
use crate::store::keeper::{HealState, heal_state, save_heal_state};
use crate::sys::process::{
    Liveness, liveness, mtime, mtime_precise, now_precise, signal, start_detached, wait_gone,
};

/// How long a started process has to show a live PID.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
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
    pub stamp: Option<String>,
    pub current: Option<String>,
    pub mismatch: bool,
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
            parts.push(self.heartbeat_age.map_or_else(
                || "no heartbeat file".into(),
                |a| format!("heartbeat {a}s stale"),
            ));
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

fn short(v: Option<&str>) -> &str {
    v.map_or("?", |v| &v[..v.len().min(12)])
}

/// Run a command with a timeout; its trimmed stdout, if it succeeded.
fn output_within(argv: &[String], cwd: Option<&Path>, timeout: Duration) -> Option<String> {
    let (program, rest) = argv.split_first()?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().ok()? {
            Some(status) if status.success() => {
                let mut out = String::new();
                std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
                return Some(out.trim().to_string()).filter(|s| !s.is_empty());
            }
            Some(_) => return None,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The version the process should run: a repository's HEAD or a command's output.
fn current_version(p: &ProcessConfig) -> Option<String> {
    if let Some(repo) = &p.version_repo {
        let argv = [
            "git",
            "-C",
            &repo.display().to_string(),
            "rev-parse",
            "HEAD",
        ]
        .map(String::from);
        return output_within(&argv, None, VERSION_TIMEOUT);
    }
    p.version_command
        .as_ref()
        .and_then(|c| output_within(c, p.cwd.as_deref(), VERSION_TIMEOUT))
}

pub fn check(p: &ProcessConfig, now: i64) -> Health {
    let live = liveness(&p.pid_file, p.cmdline_pattern.as_deref());
    let heartbeat_at = mtime(&p.heartbeat_file);
    let heartbeat_age = heartbeat_at.map(|m| (now - m).max(0));
    // Sub-second times: the threshold is crossed at a moment, not a second.
    let stale = mtime_precise(&p.heartbeat_file)
        .is_none_or(|m| now_precise() - m > p.heartbeat_stale_secs as f64);
    let stamp = p
        .version_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    // No stamp, or no way to know the current version: not a mismatch.
    let current = if stamp.is_some() {
        current_version(p)
    } else {
        None
    };
    let mismatch = matches!((&stamp, &current), (Some(s), Some(c)) if s != c);
    Health {
        name: p.name.clone(),
        liveness: live,
        heartbeat_age,
        heartbeat_at,
        stale,
        stamp,
        current,
        mismatch,
    }
}

/// One process row for the Bridges panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeRow {
    pub health: Health,
    pub state: HealState,
    pub breaker_limit: u32,
}

pub struct Watchdog {
    pub config: WatchdogConfig,
    /// When a healthy pass was last recorded: heartbeats wake the watchdog
    /// often, and each healthy look need not become a write to the store.
    last_noop_record: i64,
}

impl Watchdog {
    pub fn new(config: WatchdogConfig) -> Self {
        Watchdog {
            config,
            last_noop_record: 0,
        }
    }

    pub fn rows(&self, conn: &Connection, now: i64) -> rusqlite::Result<Vec<BridgeRow>> {
        self.config
            .processes
            .iter()
            .map(|p| {
                Ok(BridgeRow {
                    health: check(p, now),
                    state: heal_state(conn, &p.name)?,
                    breaker_limit: p.breaker_limit,
                })
            })
            .collect()
    }

    /// One escalation step for one process; the action's message, if any.
    fn step(
        store: &mut WriteStore,
        p: &ProcessConfig,
        dry_run: bool,
        now: i64,
    ) -> Result<Option<String>> {
        let sql = |e| Error::from_sqlite(&store.path, e);
        let h = check(p, now);
        let mut st = heal_state(&store.conn, &p.name).map_err(sql)?;
        if h.healthy() {
            if !dry_run && (st.tier != 0 || st.failures != 0) {
                st = HealState {
                    name: p.name.clone(),
                    last_action: "healthy again".into(),
                    ..HealState::default()
                };
                store.write(|tx| save_heal_state(tx, &st))?;
            }
            return Ok(None);
        }
        if st.last_action_at > 0 && now - st.last_action_at < p.cooldown_secs as i64 {
            return Ok(None);
        }
        let session = store.session_id.clone();
        if st.failures >= p.breaker_limit {
            if dry_run || now - st.last_alert_at < p.quiet_secs as i64 {
                return Ok(None);
            }
            st.last_alert_at = now;
            let text = format!(
                "{} circuit broken after {} failed restarts: no action until `keeper-tui watchdog reset {}` ({})",
                p.name,
                st.failures,
                p.name,
                h.why()
            );
            store.write(|tx| {
                save_heal_state(tx, &st)?;
                insert_event(tx, &session, "circuit_broken", Some(&p.name), &text, now)
            })?;
            return Ok(Some(text));
        }
        let mut tier = if h.liveness.pid().is_none() {
            3
        } else {
            (st.tier + 1).min(3)
        };
        if tier == 1 && p.restart_markers.is_empty() {
            tier = 2;
        }
        if dry_run {
            return Ok(Some(format!(
                "{} would go to tier {tier} ({})",
                p.name,
                h.why()
            )));
        }
        let (text, confirmed) = act(p, &h, tier);
        st.tier = tier;
        st.last_action_at = crate::store::now_unix();
        st.last_action.clone_from(&text);
        if tier == 3 {
            st.failures = if confirmed { 0 } else { st.failures + 1 };
        }
        let broken = st.failures >= p.breaker_limit;
        if broken {
            st.last_alert_at = st.last_action_at;
        }
        store.write(|tx| {
            save_heal_state(tx, &st)?;
            insert_event(
                tx,
                &session,
                "heal",
                Some(&format!("{}:tier{tier}", p.name)),
                &text,
                now,
            )?;
            if broken {
                let alert = format!(
                    "{}: {} restarts in a row not confirmed; the watchdog stops acting",
                    p.name, st.failures
                );
                insert_event(tx, &session, "circuit_broken", Some(&p.name), &alert, now)?;
            }
            Ok(())
        })?;
        Ok(Some(text))
    }

    /// Forget a process's heal state, closing its circuit breaker.
    pub fn reset(&self, store: &mut WriteStore, name: &str) -> Result<String> {
        let Some(p) = self.config.processes.iter().find(|p| p.name == name) else {
            let names: Vec<_> = self
                .config
                .processes
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            return Err(Error::Refused(format!(
                "no supervised process {name:?}; configured: {}",
                names.join(", ")
            )));
        };
        let st = HealState {
            name: p.name.clone(),
            last_action: "reset by the operator".into(),
            ..HealState::default()
        };
        store.write(|tx| save_heal_state(tx, &st))?;
        Ok(format!("{name}: heal state reset, circuit closed"))
    }
}

/// Do one tier. Returns the message and, for tier 3, whether the start
/// was confirmed.
fn act(p: &ProcessConfig, h: &Health, tier: u8) -> (String, bool) {
    let why = h.why();
    match tier {
        1 => {
            let stamp = format!("{}\n", crate::store::now_unix());
            let failed: Vec<String> = p
                .restart_markers
                .iter()
                .filter_map(|m| {
                    std::fs::write(m, &stamp)
                        .err()
                        .map(|e| format!("{}: {e}", m.display()))
                })
                .collect();
            if failed.is_empty() {
                (
                    format!("{} tier 1: restart marker written ({why})", p.name),
                    false,
                )
            } else {
                (
                    format!(
                        "{} tier 1: could not write {} ({why})",
                        p.name,
                        failed.join("; ")
                    ),
                    false,
                )
            }
        }
        2 => match h
            .liveness
            .pid()
            .map(|pid| (pid, signal(pid, Signal::SIGTERM)))
        {
            Some((pid, Ok(()))) => (
                format!("{} tier 2: SIGTERM sent pid={pid} ({why})", p.name),
                false,
            ),
            Some((_, Err(e))) => (format!("{} tier 2: {e} ({why})", p.name), false),
            None => (
                format!("{} tier 2: no live pid to signal ({why})", p.name),
                false,
            ),
        },
        _ => restart(p, h, &why),
    }
}

fn restart(p: &ProcessConfig, h: &Health, why: &str) -> (String, bool) {
    let mut done = Vec::new();
    if let Some(pid) = h.liveness.pid()
        && !wait_gone(pid, Duration::from_secs(p.grace_secs))
    {
        {
            // Still the process we mean? Then and only then, SIGKILL.
            if liveness(&p.pid_file, p.cmdline_pattern.as_deref()).pid() == Some(pid) {
                match signal(pid, Signal::SIGKILL) {
                    Ok(()) => done.push(format!("SIGKILL pid={pid}")),
                    Err(e) => done.push(e),
                }
                let _ = wait_gone(pid, Duration::from_secs(2));
            }
        }
    }
    let old = h.liveness.pid();
    match start_detached(&p.start, p.cwd.as_deref(), &p.log_file) {
        Err(e) => {
            done.push(format!("start failed: {e}"));
            (
                format!("{} tier 3: {} ({why})", p.name, done.join(", ")),
                false,
            )
        }
        Ok(spawned) => {
            let confirmed = confirm(p, old, spawned);
            match confirmed {
                Some(pid) => done.push(format!("restarted, new pid={pid}")),
                None => done.push(format!(
                    "started pid={spawned} but no live pid within {}s",
                    CONFIRM_WITHIN.as_secs()
                )),
            }
            (
                format!("{} tier 3: {} ({why})", p.name, done.join(", ")),
                confirmed.is_some(),
            )
        }
    }
}

/// A start is confirmed when the pid file names a live process of ours
/// other than the old one within the confirm window.
fn confirm(p: &ProcessConfig, old: Option<i32>, _spawned: u32) -> Option<i32> {
    let deadline = Instant::now() + CONFIRM_WITHIN;
    loop {
        if let Some(pid) = liveness(&p.pid_file, p.cmdline_pattern.as_deref()).pid()
            && Some(pid) != old
        {
            return Some(pid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Loop for Watchdog {
    fn id(&self) -> LoopId {
        LoopId::Watchdog
    }

    fn interval(&self) -> Option<Duration> {
        (self.config.tick_secs > 0).then(|| Duration::from_secs(self.config.tick_secs))
    }

    fn run_at_start(&self) -> bool {
        !self.config.processes.is_empty()
    }

    fn pass(&mut self, store: &mut WriteStore, mode: PassMode, now: i64) -> Result<PassReport> {
        let dry_run = mode == PassMode::DryRun;
        let mut actions = Vec::new();
        for p in &self.config.processes.clone() {
            if let Some(text) = Self::step(store, p, dry_run, now)? {
                actions.push(text);
            }
        }
        let summary = if actions.is_empty() {
            "all_healthy".to_string()
        } else {
            actions.join("; ")
        };
        let noop_due = now - self.last_noop_record >= self.config.tick_secs.max(60) as i64;
        if !dry_run && (!actions.is_empty() || noop_due || mode == PassMode::Forced) {
            if actions.is_empty() {
                self.last_noop_record = now;
            }
            let session = store.session_id.clone();
            let kind = LoopId::Watchdog.pass_kind();
            store.write(|tx| record_loop_pass(tx, &session, kind, &summary, "all_healthy", now))?;
        }
        Ok(PassReport {
            summary,
            detail: actions,
            wrote: !dry_run,
        })
    }

    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassReport> {
        let rows = self
            .rows(conn, now)
            .map_err(|e| Error::from_sqlite(path, e))?;
        let detail: Vec<String> = rows
            .iter()
            .map(|r| {
                if r.health.healthy() {
                    format!("{}: healthy", r.health.name)
                } else {
                    format!(
                        "{}: unhealthy ({}), last tier {}",
                        r.health.name,
                        r.health.why(),
                        r.state.tier
                    )
                }
            })
            .collect();
        let sick = rows.iter().filter(|r| !r.health.healthy()).count();
        Ok(PassReport {
            summary: format!("{sick} of {} unhealthy", rows.len()),
            detail,
            wrote: false,
        })
    }

    fn observe(&self, conn: &Connection, now: i64) -> Option<super::Observation> {
        self.rows(conn, now).ok().map(super::Observation::Bridges)
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        self.config
            .processes
            .iter()
            .flat_map(|p| [p.heartbeat_file.clone(), p.pid_file.clone()])
            .collect()
    }

    fn wake_in(&self, _now: i64) -> Option<Duration> {
        // The moment a fresh heartbeat goes stale: no file event marks it.
        let now = now_precise();
        self.config
            .processes
            .iter()
            .filter_map(|p| {
                mtime_precise(&p.heartbeat_file)
                    .map(|m| m + p.heartbeat_stale_secs as f64 + 0.01 - now)
            })
            .filter(|s| *s > 0.0)
            .min_by(f64::total_cmp)
            .map(Duration::from_secs_f64)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
