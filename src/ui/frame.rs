//! What is drawn on a panel's border after the panel: which other panels
//! take turns in its slot, and how many rows are out of sight above and
//! below — so nothing is cut without the screen saying so.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{TableState, Widget};

use super::layout::Slot;
use super::theme::Theme;

/// `6 Sessions · 8 Tasks here too` on the top border, right-aligned; the
/// numbers alone (`also 6 8`) when the words do not fit.
pub fn share_note(buf: &mut Buffer, slot: &Slot, t: Theme) {
    let others: Vec<_> = slot.others().collect();
    if others.is_empty() || slot.area.width < 12 || slot.area.height < 2 {
        return;
    }
    let long = format!(
        " {} here too ",
        others
            .iter()
            .map(|p| format!("{} {}", p.number(), p.title()))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let short = format!(
        " also {} ",
        others
            .iter()
            .map(|p| p.number().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let a = slot.area;
    // Only over the border: never over the panel's own title.
    let free = free_border(buf, a.x, a.y, a.width);
    let text = if long.chars().count() <= free {
        long
    } else {
        short
    };
    let w = text.chars().count() as u16;
    if usize::from(w) > free || w + 2 > a.width {
        return;
    }
    let at = Rect::new(a.x + a.width - 1 - w, a.y, w, 1);
    Line::from(Span::styled(text, t.dim())).render(at, buf);
}

/// Border cells free at the right end of a border row (one kept as a gap
/// after whatever is written there).
fn free_border(buf: &Buffer, x: u16, y: u16, width: u16) -> usize {
    let mut free: usize = 0;
    for cx in (x + 1..x + width.saturating_sub(1)).rev() {
        let sym = buf.cell((cx, y)).map_or("", |c| c.symbol());
        if !matches!(sym, "─" | "━" | "═") {
            break;
        }
        free += 1;
    }
    free.saturating_sub(1)
}

/// `↑ 12` and `+5 more ↓` on the bottom border of a table whose rows do
/// not all fit. `chrome`: rows of border and header around the data.
pub fn more_marks(
    buf: &mut Buffer,
    a: Rect,
    state: &TableState,
    len: usize,
    chrome: u16,
    t: Theme,
) {
    let (above, below) = hidden(a, state, len, chrome);
    marks(buf, a, above as u64, below as u64, t);
}

/// Rows of a table out of sight above and below, at the last render.
pub fn hidden(a: Rect, state: &TableState, len: usize, chrome: u16) -> (usize, usize) {
    let visible = usize::from(a.height.saturating_sub(chrome));
    if visible == 0 {
        return (0, len);
    }
    let above = state.offset().min(len);
    (above, len.saturating_sub(above + visible))
}

pub fn marks(buf: &mut Buffer, a: Rect, above: u64, below: u64, t: Theme) {
    if a.height < 3 || a.width < 16 {
        return;
    }
    let mut text = String::new();
    if above > 0 {
        let _ = write!(text, " ↑ {} ", super::app::group(above));
    }
    if below > 0 {
        let _ = write!(text, " +{} more ↓ ", super::app::group(below));
    }
    if text.is_empty() {
        return;
    }
    let w = text.chars().count() as u16;
    if usize::from(w) > free_border(buf, a.x, a.y + a.height - 1, a.width) {
        return;
    }
    let at = Rect::new(a.x + a.width - 1 - w, a.y + a.height - 1, w, 1);
    Line::from(Span::styled(text, t.dim())).render(at, buf);
}
