//! What the Jobs panel shows: each configured job with its schedule, next
//! run and pool use, and the runs — queued and running first.

use serde::Serialize;

use crate::config::{JobConfig, Schedule};
use crate::store::jobs::{Run, RunState, last_fire, list};

/// Runs listed: the live ones and the newest history.
pub const RUNS_SHOWN: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobLine {
    pub name: String,
    pub schedule: Option<Schedule>,
    /// When a schedule next fires (Unix seconds).
    pub next_run: Option<f64>,
    pub pool: Option<String>,
    /// Runs of the pool running now, and its size (`None`: no limit).
    pub pool_use: Option<(usize, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobsSeen {
    pub jobs: Vec<JobLine>,
    pub runs: Vec<Run>,
}

/// How a schedule reads in a table.
pub fn schedule_text(s: Option<&Schedule>) -> String {
    match s {
        None => "—".into(),
        Some(Schedule::Every(d)) => {
            format!("every {}", crate::report::fmt_age(d.as_secs() as i64))
        }
        Some(Schedule::Daily { hour, minute }) => format!("daily {hour:02}:{minute:02}"),
    }
}

/// The moment a schedule fires next after its last fire.
pub fn next_fire(schedule: &Schedule, last: Option<f64>, now: f64) -> f64 {
    let from = last.unwrap_or(now);
    match schedule {
        Schedule::Every(d) => from + d.as_secs_f64(),
        Schedule::Daily { hour, minute } => {
            use chrono::{Local, TimeZone, Timelike};
            let Some(at) = Local.timestamp_opt(from as i64, 0).single() else {
                return from + 86_400.0;
            };
            let today = at
                .with_hour(u32::from(*hour))
                .and_then(|t| t.with_minute(u32::from(*minute)))
                .and_then(|t| t.with_second(0));
            match today {
                Some(t) if t.timestamp() as f64 > from => t.timestamp() as f64,
                Some(t) => (t + chrono::Duration::days(1)).timestamp() as f64,
                None => from + 86_400.0,
            }
        }
    }
}

pub fn look(
    read: &rusqlite::Connection,
    jobs: &[JobConfig],
    pools: &std::collections::BTreeMap<String, u32>,
    now: f64,
) -> rusqlite::Result<JobsSeen> {
    let mut runs = list(read, RUNS_SHOWN)?;
    // A running run's tail is kept only when it ends: read it from its log.
    for r in runs.iter_mut().filter(|r| r.state == RunState::Running) {
        if let Some(log) = r.log_path.as_deref() {
            r.tail = super::runner::runlog::tail(std::path::Path::new(log)).or(r.tail.take());
        }
    }
    let running_in = |pool: &str| {
        runs.iter()
            .filter(|r| r.state == RunState::Running)
            .filter(|r| {
                jobs.iter()
                    .find(|j| j.name == r.job)
                    .is_some_and(|j| j.pool.as_deref() == Some(pool))
            })
            .count()
    };
    let mut lines = Vec::new();
    for j in jobs {
        let next_run = match &j.schedule {
            Some(s) => Some(next_fire(s, last_fire(read, &j.name)?, now)),
            None => None,
        };
        lines.push(JobLine {
            name: j.name.clone(),
            schedule: j.schedule,
            next_run,
            pool: j.pool.clone(),
            pool_use: j
                .pool
                .as_ref()
                .map(|p| (running_in(p), pools.get(p).copied().unwrap_or(0))),
        });
    }
    Ok(JobsSeen { jobs: lines, runs })
}
