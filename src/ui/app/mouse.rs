//! The mouse, as gitui and btm use it: a click focuses the panel under it
//! and selects the row clicked; the wheel scrolls the panel under it.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::{App, Effect};
use crate::ui::keys::{Action, Panel};

/// Rows of a panel above its first data row: the border, and the header
/// row for tables that have one.
fn chrome(p: Panel) -> Option<u16> {
    match p {
        Panel::Loops
        | Panel::Outcomes
        | Panel::Threads
        | Panel::Sessions
        | Panel::Bridges
        | Panel::Tasks => Some(2),
        Panel::Jobs => Some(1),
        // The Log's rows wrap; Stores has none to select.
        Panel::Log | Panel::Stores => None,
    }
}

/// Whether clicks and the wheel act (`--no-mouse`: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mouse {
    On,
    Off,
}

impl App {
    pub fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Effect> {
        if self.mouse == Mouse::Off
            || self.popup.is_some()
            || self.editing.is_some()
            || self.too_small
        {
            return Vec::new();
        }
        let at = Position::new(ev.column, ev.row);
        let Some(slot) = self.slots.iter().find(|s| s.area.contains(at)).cloned() else {
            return Vec::new();
        };
        let p = slot.shown;
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let mut fx = if p == self.focus {
                    Vec::new()
                } else {
                    self.act(Action::Focus(p))
                };
                let Some(top) = chrome(p) else {
                    return fx;
                };
                let first = slot.area.y + top;
                let last = slot.area.y + slot.area.height.saturating_sub(1);
                if ev.row < first || ev.row >= last {
                    return fx;
                }
                let before = self.threads.selected().unwrap_or(0);
                let len = self.list_len();
                let Some(state) = self.table_mut(p) else {
                    return fx;
                };
                let index = state.offset() + usize::from(ev.row - first);
                if index < len {
                    state.select(Some(index));
                    self.remember(p);
                    if p == Panel::Threads {
                        fx.extend(self.threads_moved(0, before));
                    }
                }
                fx
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let mut fx = if p == self.focus {
                    Vec::new()
                } else {
                    self.act(Action::Focus(p))
                };
                let down = ev.kind == MouseEventKind::ScrollDown;
                for _ in 0..3 {
                    fx.extend(self.act(if down { Action::Down } else { Action::Up }));
                }
                fx
            }
            _ => Vec::new(),
        }
    }
}
