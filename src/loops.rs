//! The background loops keeper-tui runs. Every loop has an id, an interval,
//! and a `pass`; the engine's scheduler, the `pass` CLI verb and the tests
//! all drive that same `pass`.

pub mod janitor;
pub mod reaper;
pub mod watchdog;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::Connection;

use serde::Serialize;

use crate::error::Result;
use crate::store::WriteStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopId {
    Janitor,
    Reaper,
    Watchdog,
}

impl LoopId {
    pub const ALL: &'static [LoopId] = &[LoopId::Janitor, LoopId::Reaper, LoopId::Watchdog];

    pub fn name(self) -> &'static str {
        match self {
            LoopId::Janitor => "janitor",
            LoopId::Reaper => "reaper",
            LoopId::Watchdog => "watchdog",
        }
    }

    /// The `events.kind` this loop's passes are recorded under.
    pub fn pass_kind(self) -> &'static str {
        match self {
            LoopId::Janitor => "janitor_pass",
            LoopId::Reaper => "reaper_pass",
            LoopId::Watchdog => "watchdog_pass",
        }
    }
}

impl fmt::Display for LoopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LoopId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LoopId::ALL
            .iter()
            .copied()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = LoopId::ALL.iter().map(|l| l.name()).collect();
                format!("unknown loop {s:?}; known loops: {}", names.join(", "))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassMode {
    /// Due by the loop's interval; skipped when the loop is disabled.
    Scheduled,
    /// Asked for by the operator; runs even when the loop is disabled.
    Forced,
    /// Says what a forced pass would do and writes nothing.
    DryRun,
}

impl PassMode {
    pub fn name(self) -> &'static str {
        match self {
            PassMode::Scheduled => "scheduled",
            PassMode::Forced => "forced",
            PassMode::DryRun => "dry-run",
        }
    }
}

/// What one pass did, in words fit for a status bar (`summary`) and a
/// detail list (`detail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    pub summary: String,
    pub detail: Vec<String>,
    /// False for passes that wrote nothing (disabled, dry-run).
    pub wrote: bool,
}

pub trait Loop: Send {
    fn id(&self) -> LoopId;
    /// `None` when scheduled passes are off (forced passes still run).
    fn interval(&self) -> Option<Duration>;
    /// Whether a first pass runs at engine start. By default only loops
    /// that are scheduled at all; the reaper's boot reap opts in on its own.
    fn run_at_start(&self) -> bool {
        self.interval().is_some()
    }
    /// A scheduled or forced pass. `DryRun` is routed to `dry_run`.
    fn pass(&mut self, store: &mut WriteStore, mode: PassMode, now: i64) -> Result<PassReport>;
    /// What a forced pass would do, from a read-only connection, so it also
    /// works under `--read-only`.
    fn dry_run(&self, conn: &Connection, path: &Path, now: i64) -> Result<PassReport>;
    /// What the loop watches, for its panel (the reaper's sessions), read
    /// without acting. `None` for loops with nothing to show.
    fn observe(&self, _conn: &Connection, _now: i64) -> Option<Observation> {
        None
    }
    /// Files whose changes should wake the loop at once (heartbeats).
    fn watched_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// When the loop wants to look again even without a file event (a
    /// heartbeat about to go stale); `None`: its interval is enough.
    fn wake_in(&self, _now: i64) -> Option<Duration> {
        None
    }
    /// For commands that belong to one kind of loop (a reap by hand).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// What a loop's panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Observation {
    Sessions(reaper::Survey),
    Bridges(Vec<watchdog::BridgeRow>),
}
