//! Log: the engine's notices, newest at the bottom.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, shown};
use crate::engine::Notice;

pub struct LogPanel<'a> {
    pub notices: &'a [Notice],
    pub focused: bool,
    pub theme: Theme,
}

fn clock(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(String::new, |t| {
        t.with_timezone(&chrono::Local)
            .format("%H:%M:%S")
            .to_string()
    })
}

impl StatefulWidget for LogPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let rows = self.notices.iter().map(|n| {
            Row::new(vec![
                Cell::from(clock(n.at)).style(t.dim()),
                Cell::from(shown(&n.text)),
            ])
            .style(if n.error { t.bad() } else { Style::new() })
        });
        // Unless the operator is scrolling here, follow the newest notice;
        // leaving the panel drops the old selection.
        if !self.focused || state.selected().is_none() {
            let visible = area.height.saturating_sub(2) as usize;
            *state = TableState::default().with_offset(self.notices.len().saturating_sub(visible));
        } else if let Some(sel) = state.selected() {
            // A selection on the last page keeps the newest notice in view.
            let visible = area.height.saturating_sub(2) as usize;
            if sel + visible >= self.notices.len() {
                *state.offset_mut() = self.notices.len().saturating_sub(visible);
            }
        }
        Table::new(rows, [Constraint::Length(8), Constraint::Fill(1)])
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(Panel::Log, "", self.focused, t))
            .render(area, buf, state);
    }
}
