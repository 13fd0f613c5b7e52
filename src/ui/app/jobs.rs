//! The Jobs panel's side of the UI state: one list of the configured jobs
//! and then their runs, a cursor that stays on its job or run, and the
//! keys that act on them (`n` run now, `x` cancel, `t` retry, Enter), each
//! refused up front when it cannot apply.

use std::time::{Duration, Instant};

use super::{App, Confirm, Effect, Popup, Purpose};
use crate::engine::Command;
use crate::jobs::seen::JobLine;
use crate::loops::{LoopCommand, LoopId};
use crate::store::jobs::{Run, RunState};
use crate::ui::keys::Panel;

const LOOK_EVERY: Duration = Duration::from_secs(2);

/// One row of the Jobs panel.
#[derive(Debug, Clone, PartialEq)]
pub enum JobRow {
    Job(JobLine),
    Run(Box<Run>),
}

/// What the cursor stays on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobKey {
    Job(String),
    Run(i64),
}

impl JobRow {
    fn key(&self) -> JobKey {
        match self {
            JobRow::Job(j) => JobKey::Job(j.name.clone()),
            JobRow::Run(r) => JobKey::Run(r.id),
        }
    }
}

impl App {
    /// The jobs, then their runs (queued and running first).
    pub fn job_rows(&self) -> Vec<JobRow> {
        let Some(seen) = self.snapshot.jobs.as_deref() else {
            return Vec::new();
        };
        let needle = self.needle(Panel::Jobs);
        let hit = |s: &str| needle.is_empty() || s.to_lowercase().contains(&needle);
        let mut runs: Vec<&Run> = seen
            .runs
            .iter()
            .filter(|r| hit(&r.job) || hit(r.state.name()) || hit(&format!("#{}", r.id)))
            .collect();
        // The runner lists queued and running first (`state`); `age` is
        // newest queued first whatever the state.
        let s = self.sort_of(Panel::Jobs);
        if s.column == 1 {
            runs.sort_by(|a, b| b.queued_at.total_cmp(&a.queued_at).then(b.id.cmp(&a.id)));
        }
        if s.reverse {
            runs.reverse();
        }
        let jobs: Vec<JobRow> = seen
            .jobs
            .iter()
            .filter(|j| hit(&j.name) || runs.iter().any(|r| r.job == j.name))
            .cloned()
            .map(JobRow::Job)
            .collect();
        jobs.into_iter()
            .chain(runs.into_iter().cloned().map(|r| JobRow::Run(Box::new(r))))
            .collect()
    }

    fn selected_job_row(&self) -> Option<JobRow> {
        self.job_rows()
            .into_iter()
            .nth(self.jobs.selected().unwrap_or(0))
    }

    pub(super) fn follow_job(&mut self) {
        let rows = self.job_rows();
        let at = self
            .job_cursor
            .as_ref()
            .and_then(|k| rows.iter().position(|r| &r.key() == k));
        match at {
            Some(i) => self.jobs.select(Some(i)),
            None => super::clamp(&mut self.jobs, rows.len()),
        }
        self.remember_job();
    }

    pub(super) fn remember_job(&mut self) {
        if let Some(r) = self.selected_job_row() {
            self.job_cursor = Some(r.key());
        }
    }

    /// Whether the Jobs panel is drawn (it shares a slot with Sessions).
    pub fn jobs_on_screen(&self) -> bool {
        self.on_screen(Panel::Jobs)
    }

    pub(super) fn jobs_look_due(&mut self, now: Instant) -> Vec<Effect> {
        let due = super::nav::look_due(self.last_jobs_look, now, LOOK_EVERY);
        if !self.jobs_on_screen() || !due || self.paused {
            return Vec::new();
        }
        self.last_jobs_look = Some(now);
        vec![Effect::Send(
            Command::ObserveLoop(LoopId::Jobs),
            Purpose::Silent,
        )]
    }

    pub(super) fn run_now_selected(&mut self) -> Vec<Effect> {
        let job = match self.selected_job_row() {
            Some(JobRow::Job(j)) => j.name,
            Some(JobRow::Run(r)) => r.job,
            None => {
                self.say("no job selected (none is configured?)", true);
                return Vec::new();
            }
        };
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "run now".into(),
            target: format!("job {job}"),
            detail: Some("queued now; it starts when its pool has room, and the jobs that follow it queue behind it".into()),
            command: Command::Loop(LoopCommand::RunJob(job)),
            on_confirm: false,
        }));
        Vec::new()
    }

    pub(super) fn cancel_run_selected(&mut self) -> Vec<Effect> {
        let Some(JobRow::Run(r)) = self.selected_job_row() else {
            self.say("select a run (below the jobs) to cancel it", true);
            return Vec::new();
        };
        if r.state.is_final() {
            self.say(
                format!("run #{} has already ended ({})", r.id, r.state.name()),
                true,
            );
            return Vec::new();
        }
        let detail = match (r.state, r.pid) {
            (RunState::Running, Some(pid)) => format!(
                "SIGTERM to process group {}, then SIGKILL after [tasks].cancel_grace_secs; the runs waiting on it are skipped",
                r.pgid.unwrap_or(pid)
            ),
            _ => "it has not started: it is dropped, and the runs waiting on it are skipped".into(),
        };
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "cancel run".into(),
            target: format!("#{} ({}, {})", r.id, r.job, r.state.name()),
            detail: Some(detail),
            command: Command::Loop(LoopCommand::CancelRun(r.id)),
            on_confirm: false,
        }));
        Vec::new()
    }

    pub(super) fn retry_selected(&mut self) -> Vec<Effect> {
        let Some(JobRow::Run(r)) = self.selected_job_row() else {
            self.say("select a run (below the jobs) to retry it", true);
            return Vec::new();
        };
        if !matches!(
            r.state,
            RunState::Failed | RunState::Cancelled | RunState::TimedOut | RunState::Skipped
        ) {
            self.say(
                format!(
                    "run #{} is {}: only a failed, cancelled, timed-out or skipped run is retried",
                    r.id,
                    r.state.name()
                ),
                true,
            );
            return Vec::new();
        }
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "retry".into(),
            target: format!("run #{} of {}", r.id, r.job),
            detail: Some(
                "a new run of the job with the same arguments, and the jobs that follow it".into(),
            ),
            command: Command::Loop(LoopCommand::RetryRun(r.id)),
            on_confirm: false,
        }));
        Vec::new()
    }

    /// The listed runs linked to `run` by retries (`retry_of`), first try
    /// first: what the job went through to get here.
    fn attempts_of(&self, run: &Run) -> String {
        let runs: Vec<Run> = self
            .job_rows()
            .into_iter()
            .filter_map(|row| match row {
                JobRow::Run(r) => Some(*r),
                JobRow::Job(_) => None,
            })
            .collect();
        let by_id = |id: i64| runs.iter().find(|r| r.id == id);
        // Back to the first try …
        let mut first = run.id;
        while let Some(prev) = by_id(first).and_then(|r| r.retry_of)
            && by_id(prev).is_some()
        {
            first = prev;
        }
        // … then forward through each retry of it.
        let mut lines = Vec::new();
        let mut at = Some(first);
        while let Some(id) = at {
            let Some(r) = by_id(id) else { break };
            lines.push(format!(
                "  #{} attempt {}: {}{}",
                r.id,
                r.attempt + 1,
                r.state.name(),
                r.exit_code
                    .map_or_else(String::new, |c| format!(", exit {c}"))
            ));
            at = runs.iter().find(|n| n.retry_of == Some(id)).map(|n| n.id);
        }
        lines.join("\n")
    }

    pub(super) fn job_details(&mut self) -> Vec<Effect> {
        let (title, text) = match self.selected_job_row() {
            None => return Vec::new(),
            Some(JobRow::Job(j)) => {
                let runs: Vec<String> = self
                    .job_rows()
                    .into_iter()
                    .filter_map(|r| match r {
                        JobRow::Run(r) if r.job == j.name => Some(format!(
                            "#{} {} attempt {} exit {}",
                            r.id,
                            r.state.name(),
                            r.attempt + 1,
                            r.exit_code.map_or_else(|| "—".into(), |c| c.to_string())
                        )),
                        _ => None,
                    })
                    .collect();
                (
                    format!("job {}", j.name),
                    format!(
                        "schedule  {}\npool      {}\n\nruns:\n{}",
                        crate::jobs::seen::schedule_text(j.schedule.as_ref()),
                        j.pool.as_deref().unwrap_or("—"),
                        if runs.is_empty() {
                            "  none".into()
                        } else {
                            runs.join("\n")
                        }
                    ),
                )
            }
            Some(JobRow::Run(r)) => (
                format!("run #{} of {}", r.id, r.job),
                format!(
                    "state     {}\nattempt   {}\nreason    {}\npid       {}\nexit      {}\ndetail    {}\nlog       {}\n\nattempts:\n{}\n\nlog tail:\n{}",
                    r.state.name(),
                    r.attempt + 1,
                    r.reason.as_deref().unwrap_or("—"),
                    r.pid.map_or_else(|| "—".into(), |p| p.to_string()),
                    r.exit_code.map_or_else(|| "—".into(), |c| c.to_string()),
                    r.detail.as_deref().unwrap_or("—"),
                    r.log_path.as_deref().unwrap_or("—"),
                    self.attempts_of(&r),
                    r.tail.as_deref().unwrap_or("(no output yet)")
                ),
            ),
        };
        self.popup = Some(Popup::Detail {
            title,
            text: crate::text::printable_lines(&text).into_owned(),
            scroll: 0,
        });
        Vec::new()
    }
}
