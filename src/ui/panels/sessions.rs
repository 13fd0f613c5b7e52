//! Sessions: every tmux session the reaper watches — agent or not, its
//! claim and TTL left, age, last activity, attached clients, and whether
//! it is an orphan (or why not).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, TableState, Wrap};

use super::super::ages::Ages;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::table::{Chrome, TableParts};
use super::{block, clip, shown};
use crate::loops::reaper::{SessionRow, Survey, SurveyState};

pub struct SessionsPanel<'a> {
    pub survey: Option<&'a Survey>,
    /// The survey's rows as listed: filtered and sorted.
    pub rows: &'a [&'a SessionRow],
    pub ages: &'a Ages,
    pub focused: bool,
    pub theme: Theme,
    /// Sort and filter, for the title.
    pub note: &'a str,
}

impl SessionsPanel<'_> {
    fn build_row(&self, r: &SessionRow, wide: bool, ages: &Ages) -> Row<'static> {
        let t = self.theme;
        let now = ages.now();
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
                let left = c.ttl_left(now);
                if left >= 0 {
                    format!("{} {}", c.owner, ages.until(now + left))
                } else {
                    format!("{} expired", c.owner)
                }
            });
            cells.push(Cell::from(if r.marker { "agent" } else { "" }));
            cells.push(Cell::from(clip(&claim, 16)));
        }
        cells.push(Cell::from(ages.since(r.session.created)));
        if wide {
            cells.push(Cell::from(ages.since(r.session.activity)));
        }
        cells.push(Cell::from(attached));
        let grace = self.survey.map_or(0, |s| s.grace_secs);
        // The verdict's words count from the same moments: its age, its
        // last activity, its claim's expiry either way.
        ages.mark_since(r.session.created);
        ages.mark_since(r.session.activity);
        if let Some(c) = &r.claim {
            let expiry = now + c.ttl_left(now);
            ages.mark_until(expiry);
            ages.mark_since(expiry);
        }
        cells.push(Cell::from(shown(&r.reason_at(now, grace))));
        Row::new(cells).style(style)
    }

    /// Narrow: the claim is in the verdict text already.
    fn wide(area: Rect) -> bool {
        area.width >= 70
    }

    /// Row `i` as drawn in `area` at `now`, and when its words about time
    /// next change.
    pub fn row(&self, i: usize, area: Rect, now: i64) -> (Row<'static>, Option<i64>) {
        let ages = Ages::at(now);
        let row = self
            .rows
            .get(i)
            .map_or_else(Row::default, |r| self.build_row(r, Self::wide(area), &ages));
        (row, ages.next_change())
    }

    /// Everything the panel draws in `area` but its rows; without a
    /// listing, a paragraph that says why.
    pub fn chrome(&self, area: Rect) -> Result<Chrome, Box<Paragraph<'static>>> {
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
        if let Some(n) = note {
            return Err(Box::new(
                Paragraph::new(n)
                    .style(t.warn())
                    .wrap(Wrap { trim: true })
                    .block(block(Panel::Sessions, &title, self.focused, t)),
            ));
        }
        let wide = Self::wide(area);
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
        Ok(Chrome {
            block: block(Panel::Sessions, &title, self.focused, t),
            header: Row::new(header).style(t.header()),
            widths,
            highlight: if self.focused {
                t.selected()
            } else {
                Style::new()
            },
            rows: rows.len(),
        })
    }

    /// What the panel draws in `area`: its table, or without a listing a
    /// paragraph that says why.
    pub fn table(&self, area: Rect) -> Result<TableParts, Box<Paragraph<'static>>> {
        let chrome = self.chrome(area)?;
        let (rows, changes) = (0..chrome.rows)
            .map(|i| self.row(i, area, self.ages.now()))
            .inspect(|(_, next)| {
                if let Some(t) = next {
                    self.ages.mark(*t);
                }
            })
            .unzip();
        Ok(TableParts {
            chrome,
            rows,
            changes,
        })
    }
}

impl StatefulWidget for SessionsPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        match self.table(area) {
            Ok(table) => {
                table.render(area, buf, state);
            }
            Err(note) => ratatui::widgets::Widget::render(*note, area, buf),
        }
    }
}
