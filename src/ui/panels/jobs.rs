//! Jobs: each configured job with its schedule, next run and pool use,
//! then its runs — queued and running first, then history with duration
//! and exit code.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};

use super::super::ages::Ages;
use super::super::app::JobRow;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, clip, shown};
use crate::jobs::seen::schedule_text;
use crate::report::fmt_age;
use crate::store::jobs::RunState;

pub struct JobsPanel<'a> {
    /// `None` until the runner has looked (or no job is configured).
    pub rows: Option<&'a [JobRow]>,
    pub ages: &'a Ages,
    pub focused: bool,
    pub theme: Theme,
    /// Sort and filter, for the title.
    pub note: &'a str,
}

impl JobsPanel<'_> {
    fn row(&self, r: &JobRow) -> Row<'static> {
        let t = self.theme;
        match r {
            JobRow::Job(j) => {
                let next = j.next_run.map_or_else(String::new, |n| {
                    // Whole seconds: the moment's fraction never shows.
                    format!("next {}", self.ages.until(n.floor() as i64))
                });
                let pool = match (&j.pool, j.pool_use) {
                    (Some(p), Some((used, cap))) => format!("{p} {used}/{cap}"),
                    _ => "no pool".into(),
                };
                Row::new(vec![
                    Cell::from(clip(&j.name, 18)).style(t.header()),
                    Cell::from(schedule_text(j.schedule.as_ref())),
                    Cell::from(next),
                    Cell::from(pool),
                    Cell::from(""),
                    Cell::from(""),
                ])
            }
            JobRow::Run(run) => {
                let style = match run.state {
                    RunState::Running => t.ok(),
                    RunState::Failed | RunState::TimedOut => t.bad(),
                    RunState::Cancelled | RunState::Skipped => t.warn(),
                    RunState::Queued | RunState::Succeeded => Style::new(),
                };
                let took = match (run.started_at, run.ended_at) {
                    (Some(s), Some(e)) => fmt_age((e - s) as i64),
                    (Some(s), None) => format!("{}…", self.ages.since(s.ceil() as i64)),
                    _ => "—".into(),
                };
                let detail = run
                    .detail
                    .as_deref()
                    .or(run.reason.as_deref())
                    .unwrap_or("");
                Row::new(vec![
                    Cell::from(clip(&format!("  #{} {}", run.id, run.job), 18)),
                    Cell::from(run.state.name()).style(style),
                    Cell::from(format!("try {}", run.attempt + 1)),
                    Cell::from(took),
                    Cell::from(
                        run.exit_code
                            .map_or_else(|| "—".into(), |c| format!("exit {c}")),
                    ),
                    Cell::from(shown(detail)).style(t.dim()),
                ])
            }
        }
    }
}

impl StatefulWidget for JobsPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let Some(rows) = self.rows else {
            Paragraph::new("no look at the jobs yet")
                .style(t.dim())
                .block(block(Panel::Jobs, "", self.focused, t))
                .render(area, buf);
            return;
        };
        let live = rows
            .iter()
            .filter(|r| matches!(r, JobRow::Run(run) if !run.state.is_final()))
            .count();
        let jobs = rows.iter().filter(|r| matches!(r, JobRow::Job(_))).count();
        let title = format!("{jobs} job(s), {live} queued or running{}", self.note);
        let body: Vec<Row<'static>> = rows.iter().map(|r| self.row(r)).collect();
        let widths = if area.width < 72 {
            [
                Constraint::Length(12),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(7),
                Constraint::Fill(1),
            ]
        } else {
            [
                Constraint::Length(18),
                Constraint::Length(12),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Fill(1),
            ]
        };
        let table = Table::new(body, widths)
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(Panel::Jobs, &title, self.focused, t));
        StatefulWidget::render(table, area, buf, state);
    }
}
