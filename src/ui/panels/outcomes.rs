//! Outcomes: what the loops produced, in the window, in 30 days and ever.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, shown};
use crate::store::snapshot::{OutcomeFigures, StoreFigures};

pub struct OutcomesPanel<'a> {
    pub figures: &'a StoreFigures,
    /// The outcomes listed: the figures' through the panel's filter.
    pub rows: &'a [&'a OutcomeFigures],
    /// The filter, for the title.
    pub note: &'a str,
    /// Outcome kinds whose producing loop fires while they stay flat.
    pub starved: &'a [String],
    pub focused: bool,
    pub theme: Theme,
}

impl StatefulWidget for OutcomesPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let f = self.figures;
        let rows = self.rows.iter().map(|o| {
            let starved = self.starved.contains(&o.kind);
            let style = if starved {
                t.warn()
            } else if o.window == 0 {
                t.dim()
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(if starved {
                    format!("⚠ {}", shown(&o.kind))
                } else {
                    shown(&o.kind)
                }),
                Cell::from(o.window.to_string()),
                Cell::from(o.d30.to_string()),
                Cell::from(o.all.to_string()),
            ])
            .style(style)
        });
        let a = f.candidate_accept_rate;
        let rate = if a.decided > 0 {
            format!(
                "accept {}/{} = {:.0}%",
                a.accepted,
                a.decided,
                a.accepted as f64 / a.decided as f64 * 100.0
            )
        } else {
            String::new()
        };
        let widths = [
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(7),
        ];
        Table::new(rows, widths)
            .header(
                Row::new(vec![
                    "outcome".to_string(),
                    format!("{}d", f.window_days),
                    "30d".into(),
                    "all".into(),
                ])
                .style(t.header()),
            )
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(
                Panel::Outcomes,
                &format!("{rate}{}", self.note),
                self.focused,
                t,
            ))
            .render(area, buf, state);
    }
}
