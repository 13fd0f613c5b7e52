//! Tasks: threadkeeper's agent processes — running first, then the latest
//! ended — with what each PID names now and what its process tree costs.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};

use super::super::ages::Ages;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, bytes, clip, shown};
use crate::loops::reconciler::{Proc, TaskLine};
use crate::report::fmt_age;

pub struct TasksPanel<'a> {
    /// `None` until the reconciler has looked.
    pub rows: Option<&'a [&'a TaskLine]>,
    /// All tasks listed, before the filter.
    pub total: usize,
    /// The filter as the title shows it (`/text`, with a caret while typed).
    pub filter: &'a str,
    pub ages: &'a Ages,
    pub focused: bool,
    pub theme: Theme,
}

/// The hook column: the worst state among a task's deliveries.
fn hooks(line: &TaskLine) -> String {
    use crate::store::hooks::DeliveryState as S;
    let n = |s: S| line.deliveries.iter().filter(|d| d.state == s).count();
    match (n(S::Failed), n(S::Pending), n(S::Delivered)) {
        (0, 0, 0) => "—".into(),
        (f, _, _) if f > 0 => format!("{f} failed"),
        (0, p, _) if p > 0 => format!("{p} pending"),
        (_, _, d) => format!("{d} sent"),
    }
}

impl StatefulWidget for TasksPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let filter = self.filter;
        let Some(rows) = self.rows else {
            let title = filter.to_string();
            Paragraph::new("no look at the tasks yet")
                .style(t.dim())
                .block(block(Panel::Tasks, &title, self.focused, t))
                .render(area, buf);
            return;
        };
        let running = rows.iter().filter(|l| l.row.running()).count();
        let title = format!(
            "{running} running, {} shown of {}{filter}",
            rows.len(),
            self.total,
        );
        let wide = area.width >= 120;
        // A small pane keeps what tells one task from another and what a
        // cancel needs: id, pid, process, age, rc, the prompt.
        let narrow = area.width < 100;
        let body = rows.iter().map(|l| self.row(l, narrow, wide));
        let (mut header, mut widths) = if narrow {
            (
                vec!["id", "pid", "process", "age", "rc"],
                vec![
                    Constraint::Length(10),
                    Constraint::Length(7),
                    Constraint::Length(7),
                    Constraint::Length(5),
                    Constraint::Length(4),
                ],
            )
        } else {
            (
                vec![
                    "id", "role", "pid", "process", "age", "rss", "cpu", "rc", "hooks",
                ],
                Self::wide_widths(),
            )
        };
        if wide {
            header.push("cwd");
            widths.push(Constraint::Length(24));
        }
        header.push("prompt");
        widths.push(Constraint::Fill(1));
        let table = Table::new(body, widths)
            .header(Row::new(header).style(t.header()))
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(Panel::Tasks, &title, self.focused, t));
        StatefulWidget::render(table, area, buf, state);
    }
}

impl TasksPanel<'_> {
    fn row(&self, l: &TaskLine, narrow: bool, wide: bool) -> Row<'static> {
        let t = self.theme;
        let r = &l.row;
        let style = match l.process {
            Proc::Live => t.ok(),
            Proc::Gone | Proc::Replaced => t.warn(),
            Proc::Unknown => t.bad(),
            Proc::Visible | Proc::Ended => Style::new(),
        };
        let age = match r.ended_at {
            Some(e) => fmt_age(e - r.started_at),
            None => self.ages.since(r.started_at),
        };
        let (rss, cpu) = l.usage.map_or_else(
            || ("—".to_string(), "—".to_string()),
            |u| (bytes(u.rss_bytes), format!("{:.0}%", u.cpu_percent)),
        );
        let rc = r.return_code.map_or_else(|| "—".into(), |c| c.to_string());
        if narrow {
            return Row::new(vec![
                Cell::from(clip(&r.id, 10)),
                Cell::from(r.pid.to_string()),
                Cell::from(l.process.word()).style(style),
                Cell::from(age),
                Cell::from(rc),
                Cell::from(shown(&r.prompt_head(200))).style(t.dim()),
            ])
            .style(if r.running() { Style::new() } else { t.dim() });
        }
        let mut cells = vec![
            Cell::from(clip(&r.id, 14)),
            Cell::from(clip(if r.role.is_empty() { "—" } else { &r.role }, 18)),
            Cell::from(r.pid.to_string()),
            Cell::from(l.process.word()).style(style),
            Cell::from(age),
            Cell::from(rss),
            Cell::from(cpu),
            Cell::from(rc),
            Cell::from(hooks(l)),
        ];
        if wide {
            cells.push(Cell::from(clip(&r.cwd, 24)).style(t.dim()));
        }
        cells.push(Cell::from(shown(&r.prompt_head(200))).style(t.dim()));
        Row::new(cells).style(if r.running() { Style::new() } else { t.dim() })
    }

    fn wide_widths() -> Vec<Constraint> {
        vec![
            Constraint::Length(14),
            Constraint::Length(18),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(9),
        ]
    }
}
