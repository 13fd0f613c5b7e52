//! Popups drawn over the panels: help, confirm, detail.

pub mod confirm;
pub mod detail;
pub mod help;

use ratatui::layout::{Constraint, Flex, Layout, Rect};

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}
