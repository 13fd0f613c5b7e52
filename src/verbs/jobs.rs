//! The jobs verbs: `jobs`, `jobs run`, `jobs cancel`, `jobs retry`,
//! `jobs log`.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::{out, out_exact};
use crate::actions;
use crate::cli::{JobsArgs, JobsVerb};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::jobs::log::EventLog;
use crate::jobs::runner::JobRunner;
use crate::jobs::seen::schedule_text;
use crate::loops::{Loop, LoopCommand, PassMode};
use crate::report::fmt_age;
use crate::store::jobs::{Run, list};
use crate::store::{ReadStore, WriteStore, now_unix};

fn runs_table(runs: &[Run], now: f64) -> String {
    let mut t = format!(
        "{:>6}  {:<16} {:<10} {:>3}  {:>7}  {:>8}  {:>5}  DETAIL\n",
        "RUN", "JOB", "STATE", "TRY", "PID", "TOOK", "EXIT"
    );
    for r in runs {
        let took = match (r.started_at, r.ended_at) {
            (Some(s), Some(e)) => fmt_age((e - s) as i64),
            (Some(s), None) => format!("{}…", fmt_age((now - s) as i64)),
            _ => "—".into(),
        };
        let _ = writeln!(
            t,
            "{:>6}  {:<16} {:<10} {:>3}  {:>7}  {:>8}  {:>5}  {}",
            r.id,
            crate::ui::panels::clip(&r.job, 16),
            r.state.name(),
            r.attempt + 1,
            r.pid.map_or_else(|| "—".into(), |p| p.to_string()),
            took,
            r.exit_code.map_or_else(|| "—".into(), |c| c.to_string()),
            r.detail.as_deref().or(r.reason.as_deref()).unwrap_or("")
        );
    }
    if runs.is_empty() {
        t.push_str("(no runs)\n");
    }
    t
}

pub fn jobs(settings: &Settings, a: &JobsArgs) -> Result<ExitCode> {
    match &a.action {
        None => show(settings, a.json),
        Some(JobsVerb::Log { job, lines }) => log(settings, job.as_deref(), *lines, a.json),
        Some(JobsVerb::Run { name }) => command(settings, LoopCommand::RunJob(name.clone())),
        Some(JobsVerb::Cancel { run }) => command(settings, LoopCommand::CancelRun(*run)),
        Some(JobsVerb::Retry { run }) => command(settings, LoopCommand::RetryRun(*run)),
    }
}

fn show(settings: &Settings, json: bool) -> Result<ExitCode> {
    let read = ReadStore::open(&settings.db_path)?;
    let runs = list(&read.conn, 200).map_err(|e| Error::from_sqlite(&read.path, e))?;
    let cfg = &settings.config;
    if json {
        let value = serde_json::json!({ "jobs": cfg.jobs, "pools": cfg.pools, "runs": runs });
        return out_exact(&serde_json::to_string_pretty(&value).unwrap_or_default());
    }
    let mut t = String::new();
    if cfg.jobs.is_empty() {
        t.push_str("no [[job]] is configured (`keeper-tui config` shows how)\n");
    } else {
        let _ = writeln!(t, "{:<16} {:<16} {:<10} AFTER", "JOB", "SCHEDULE", "POOL");
        for j in &cfg.jobs {
            let pool = j.pool.as_ref().map_or_else(
                || "—".to_string(),
                |p| format!("{p} ({})", cfg.pools.get(p).copied().unwrap_or(0)),
            );
            let _ = writeln!(
                t,
                "{:<16} {:<16} {:<10} {}",
                crate::ui::panels::clip(&j.name, 16),
                schedule_text(j.schedule.as_ref()),
                pool,
                j.after.join(", ")
            );
        }
    }
    t.push('\n');
    t.push_str(&runs_table(&runs, crate::sys::process::now_precise()));
    out(t.trim_end())
}

fn log(settings: &Settings, job: Option<&str>, lines: usize, json: bool) -> Result<ExitCode> {
    let path = settings.log_dir.join("jobs.jsonl");
    let entries = EventLog::read(&path, job, lines)
        .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    if json {
        return out_exact(&serde_json::to_string_pretty(&entries).unwrap_or_default());
    }
    let mut t = String::new();
    for e in &entries {
        let at = chrono::DateTime::from_timestamp(e.ts as i64, 0)
            .map(|d| {
                d.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "{at}  #{:<6} {:<16} {:<10} {}",
            e.run,
            e.job,
            e.event.name(),
            e.detail
        );
    }
    if entries.is_empty() {
        let _ = writeln!(t, "(no entries in {})", path.display());
    }
    out(t.trim_end())
}

fn command(settings: &Settings, cmd: LoopCommand) -> Result<ExitCode> {
    if settings.config.read_only {
        return Err(Error::Refused(
            "read-only: [engine].read_only is set, so no job is run, cancelled or retried".into(),
        ));
    }
    let db = &settings.db_path;
    let store = WriteStore::open_existing(db, &settings.config.session_id)?;
    let runner = JobRunner::new(settings);
    let reply = actions::with_ctx(db, &store, PassMode::Forced, now_unix(), |ctx| {
        runner.command(cmd, ctx)
    })?;
    out(&reply.to_string())
}
