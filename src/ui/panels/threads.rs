//! Threads: filterable by state and text, most recently touched first.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::super::ages::Ages;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, clip, shown};
use crate::store::threads::ThreadRow;

pub struct ThreadsPanel<'a> {
    pub rows: &'a [ThreadRow],
    /// The state shown (`None`: all).
    pub state_filter: Option<&'a str>,
    /// Where the rows sit in the whole list, the sort and the text filter.
    pub note: &'a str,
    pub ages: &'a Ages,
    pub focused: bool,
    pub theme: Theme,
}

impl StatefulWidget for ThreadsPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let wide = area.width >= 90;
        // Rows past the selection plus one screenful can never be shown:
        // the table keeps the selection in view. Don't build them.
        let needed = state.selected().unwrap_or(0) + area.height as usize;
        let rows = self.rows.iter().take(needed).map(|r| {
            let st = match r.state.as_str() {
                "active" => t.ok(),
                "closed" => t.dim(),
                _ => Style::new(),
            };
            let mut cells = vec![
                Cell::from(shown(&r.id)),
                Cell::from(shown(&r.state)).style(st),
                Cell::from(self.ages.since(r.last_touched_at)),
                Cell::from(clip(&r.question, 200)),
            ];
            if wide {
                cells.push(
                    Cell::from(clip(r.last_move.as_deref().unwrap_or(""), 200)).style(t.dim()),
                );
            }
            Row::new(cells)
        });
        let mut header = vec!["id", "state", "age", "question"];
        let mut widths = vec![
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Fill(3),
        ];
        if wide {
            header.push("last move");
            widths.push(Constraint::Fill(2));
        }
        let state_name = self.state_filter.unwrap_or("all");
        let title = format!("{state_name}  {}", self.note);
        Table::new(rows, widths)
            .header(Row::new(header).style(t.header()))
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(Panel::Threads, &title, self.focused, t))
            .render(area, buf, state);
    }
}
