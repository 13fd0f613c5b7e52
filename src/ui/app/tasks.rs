//! The Tasks panel's side of the UI state: its filter, a cursor that
//! stays on its task, the look it asks for while on screen, and the keys
//! that act on a task (`x` cancel, `H` redeliver, Enter details), each
//! refused up front when it cannot apply.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{App, Confirm, Effect, Popup, Purpose};
use crate::engine::Command;
use crate::loops::reconciler::{Proc, TaskLine};
use crate::loops::{LoopCommand, LoopId};
use crate::store::hooks::DeliveryState;
use crate::ui::keys::Panel;

/// How often the panel, while on screen, asks for a fresh look (process
/// states, memory and CPU).
const LOOK_EVERY: Duration = Duration::from_secs(2);

impl App {
    /// The tasks the panel lists: the last look, through the filter.
    pub fn task_lines(&self) -> Vec<&TaskLine> {
        let Some(all) = self.snapshot.tasks.as_deref() else {
            return Vec::new();
        };
        let needle = self.needle(Panel::Tasks);
        let mut lines: Vec<&TaskLine> = all
            .iter()
            .filter(|l| {
                needle.is_empty()
                    || [&l.row.id, &l.row.role, &l.row.cwd, &l.row.prompt]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        // The engine lists running tasks first, then the newest ended: the
        // `state` order. `age` puts the newest first whatever its state.
        let s = self.sort_of(Panel::Tasks);
        if s.column == 1 {
            lines.sort_by_key(|l| std::cmp::Reverse(l.row.started_at));
        }
        if s.reverse {
            lines.reverse();
        }
        lines
    }

    pub(super) fn selected_task(&self) -> Option<TaskLine> {
        self.task_lines()
            .get(self.tasks.selected().unwrap_or(0))
            .map(|l| (*l).clone())
    }

    /// Whether the Tasks panel is drawn (it shares a slot with Sessions).
    pub fn tasks_on_screen(&self) -> bool {
        self.on_screen(Panel::Tasks)
    }

    /// The cursor follows its task, not its row number, as rows move.
    pub(super) fn follow_task(&mut self) {
        let lines = self.task_lines();
        let at = self
            .task_cursor
            .as_ref()
            .and_then(|id| lines.iter().position(|l| &l.row.id == id));
        let n = lines.len();
        match at {
            Some(i) => self.tasks.select(Some(i)),
            None => super::clamp(&mut self.tasks, n),
        }
        self.remember_task();
    }

    pub(super) fn remember_task(&mut self) {
        let id = self.selected_task().map(|l| l.row.id);
        if id.is_some() {
            self.task_cursor = id;
        }
    }

    /// Once a second: a fresh look at the tasks while their panel shows.
    pub fn looks_due(&mut self, now: Instant) -> Vec<Effect> {
        let due = super::nav::look_due(self.last_task_look, now, LOOK_EVERY);
        if !self.tasks_on_screen() || !due || self.paused {
            return Vec::new();
        }
        self.last_task_look = Some(now);
        vec![Effect::Send(
            Command::ObserveLoop(LoopId::Reconciler),
            Purpose::Silent,
        )]
    }

    /// Once a second: fresh looks for the panels on screen that ask for them.
    pub fn panel_looks_due(&mut self, now: Instant) -> Vec<Effect> {
        let mut fx = self.looks_due(now);
        fx.extend(self.jobs_look_due(now));
        fx.extend(self.sessions_look_due(now));
        fx.extend(self.thread_anchor_due());
        fx
    }

    pub(super) fn cancel_selected(&mut self) -> Vec<Effect> {
        let Some(line) = self.selected_task() else {
            self.say("no task selected", true);
            return Vec::new();
        };
        let r = &line.row;
        let refused = match line.process {
            Proc::Ended => Some(format!("{} has already ended", r.id)),
            Proc::Visible => Some(format!(
                "{} runs in a visible terminal (pid {}): it cannot be cancelled by pid; close its window",
                r.id, r.pid
            )),
            Proc::Replaced => Some(format!(
                "pid {} now belongs to a process that started after {}: not signalled",
                r.pid, r.id
            )),
            Proc::Unknown => Some(format!(
                "cannot tell whether pid {} is still {}: not signalled",
                r.pid, r.id
            )),
            Proc::Live | Proc::Gone => None,
        };
        if let Some(why) = refused {
            self.say(why, true);
            return Vec::new();
        }
        let role = if r.role.is_empty() {
            String::new()
        } else {
            format!(", {}", r.role)
        };
        let detail = if line.process == Proc::Gone {
            "its process is already gone: the row is ended, as the reconciler would".to_string()
        } else {
            "SIGTERM to its process group, then SIGKILL after [tasks].cancel_grace_secs if it is still alive; the row ends with return_code -15 or -9".to_string()
        };
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "cancel task".into(),
            target: format!("{} (pid {}{role})", r.id, r.pid),
            detail: Some(detail),
            command: Command::Loop(LoopCommand::Cancel(r.id.clone())),
            on_confirm: false,
        }));
        Vec::new()
    }

    pub(super) fn redeliver_selected(&mut self) -> Vec<Effect> {
        let Some(line) = self.selected_task() else {
            self.say("no task selected", true);
            return Vec::new();
        };
        let ids: Vec<i64> = line
            .deliveries
            .iter()
            .filter(|d| d.state != DeliveryState::Pending)
            .map(|d| d.id)
            .collect();
        if ids.is_empty() {
            let why = if line.deliveries.is_empty() {
                "no completion hook was owed for it"
            } else {
                "its deliveries are still pending"
            };
            self.say(
                format!("{}: nothing to redeliver: {why}", line.row.id),
                true,
            );
            return Vec::new();
        }
        self.popup = Some(Popup::Confirm(Confirm {
            operation: "redeliver".into(),
            target: format!("{} hook delivery(ies) of {}", ids.len(), line.row.id),
            detail: Some(
                "each is sent again from its first attempt, with the same delivery id".into(),
            ),
            command: Command::Redeliver(ids),
            on_confirm: false,
        }));
        Vec::new()
    }

    pub(super) fn task_details(&mut self) -> Vec<Effect> {
        let Some(l) = self.selected_task() else {
            return Vec::new();
        };
        let r = &l.row;
        let mut t = String::new();
        let _ = writeln!(t, "id          {}", r.id);
        let _ = writeln!(
            t,
            "role        {}",
            if r.role.is_empty() { "—" } else { &r.role }
        );
        let _ = writeln!(t, "pid         {} ({})", r.pid, l.process.word());
        let _ = writeln!(t, "cwd         {}", r.cwd);
        let _ = writeln!(t, "started_at  {}", r.started_at);
        let _ = writeln!(
            t,
            "ended_at    {}",
            r.ended_at
                .map_or_else(|| "— (running)".into(), |e| e.to_string())
        );
        let _ = writeln!(
            t,
            "return_code {}",
            r.return_code.map_or_else(|| "—".into(), |c| c.to_string())
        );
        if let Some(u) = l.usage {
            let _ = writeln!(
                t,
                "tree        {} process(es), {}, {:.0}% CPU",
                u.processes,
                crate::ui::panels::bytes(u.rss_bytes),
                u.cpu_percent
            );
        }
        let _ = writeln!(t, "\nhook deliveries:");
        if l.deliveries.is_empty() {
            let _ = writeln!(t, "  none");
        }
        for d in &l.deliveries {
            let last = d
                .last_error
                .clone()
                .or_else(|| d.last_status.map(|s| format!("HTTP {s}")))
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                t,
                "  #{} {} {} after {} attempt(s) to {}: {last}",
                d.id,
                d.event,
                d.state.name(),
                d.attempts,
                d.hook
            );
        }
        let _ = writeln!(t, "\nprompt:\n{}", r.prompt);
        self.popup = Some(Popup::Detail {
            title: format!("task {}", r.id),
            text: crate::text::printable_lines(&t).into_owned(),
            scroll: 0,
        });
        Vec::new()
    }
}
