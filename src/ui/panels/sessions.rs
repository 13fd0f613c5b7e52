//! Sessions: every tmux session the reaper watches — agent or not, its
//! claim and TTL left, age, last activity, attached clients, and whether
//! it is an orphan (or why not).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Wrap};

use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, clip, shown};
use crate::loops::reaper::{SessionRow, Survey, SurveyState};
use crate::report::fmt_age;

pub struct SessionsPanel<'a> {
    pub survey: Option<&'a Survey>,
    /// The survey's rows as listed: filtered and sorted.
    pub rows: &'a [&'a SessionRow],
    pub now: i64,
    pub focused: bool,
    pub theme: Theme,
    /// Sort and filter, for the title.
    pub note: &'a str,
}

impl SessionsPanel<'_> {
    fn row(&self, r: &SessionRow, wide: bool) -> Row<'static> {
        let t = self.theme;
        let style = if r.orphan {
            t.warn()
        } else if r.marker {
            Style::new()
        } else {
            t.dim()
        };
        let name = if r.orphan {
            format!("⚠ {}", shown(&r.session.name))
        } else {
            shown(&r.session.name)
        };
        let attached = if r.session.attached > 0 {
            r.session.attached.to_string()
        } else {
            String::new()
        };
        let mut cells = vec![Cell::from(name)];
        if wide {
            let claim = r.claim.as_ref().map_or_else(String::new, |c| {
                let left = c.ttl_left(self.now);
                if left >= 0 {
                    format!("{} {}", c.owner, fmt_age(left))
                } else {
                    format!("{} expired", c.owner)
                }
            });
            cells.push(Cell::from(if r.marker { "agent" } else { "" }));
            cells.push(Cell::from(clip(&claim, 16)));
        }
        cells.push(Cell::from(fmt_age(self.now - r.session.created)));
        if wide {
            cells.push(Cell::from(fmt_age(self.now - r.session.activity)));
        }
        cells.push(Cell::from(attached));
        let grace = self.survey.map_or(0, |s| s.grace_secs);
        cells.push(Cell::from(shown(&r.reason_at(self.now, grace))));
        Row::new(cells).style(style)
    }
}

impl StatefulWidget for SessionsPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        // Without a listing, the body says why: tmux gone, or not answering.
        let (title, note, rows): (String, Option<String>, &[&SessionRow]) = match self.survey {
            None => ("not surveyed yet".into(), None, &[]),
            Some(s) => match &s.state {
                SurveyState::Listed => (
                    format!("{} · {} orphan(s){}", s.server, s.orphans(), self.note),
                    None,
                    self.rows,
                ),
                SurveyState::NoServer => (
                    format!("{}: not running", s.server),
                    Some("no tmux server: no sessions to watch".into()),
                    &[],
                ),
                SurveyState::Unknown(why) => (
                    format!("{}: unknown", s.server),
                    Some(format!("{why} — reaping nothing until tmux answers")),
                    &[],
                ),
            },
        };
        // Narrow: the claim is in the verdict text already.
        let wide = area.width >= 70;
        let table_rows: Vec<Row> = rows.iter().map(|r| self.row(r, wide)).collect();
        if let Some(n) = note {
            let text = Paragraph::new(n)
                .style(t.warn())
                .wrap(Wrap { trim: true })
                .block(block(Panel::Sessions, &title, self.focused, t));
            ratatui::widgets::Widget::render(text, area, buf);
            return;
        }
        let name_w = rows
            .iter()
            .map(|r| r.session.name.chars().count() + 2)
            .max()
            .unwrap_or(8)
            .clamp(8, (area.width / 2).max(28) as usize);
        let mut header = vec!["session"];
        let mut widths = vec![Constraint::Length(name_w as u16)];
        if wide {
            header.extend(["", "claim"]);
            widths.extend([Constraint::Length(5), Constraint::Length(16)]);
        }
        header.push("age");
        widths.push(Constraint::Length(4));
        if wide {
            header.push("idle");
            widths.push(Constraint::Length(4));
        }
        header.extend(["att", "verdict"]);
        widths.extend([Constraint::Length(3), Constraint::Fill(1)]);
        Table::new(table_rows, widths)
            .header(Row::new(header).style(t.header()))
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(Panel::Sessions, &title, self.focused, t))
            .render(area, buf, state);
    }
}
