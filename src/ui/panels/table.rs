//! A table panel as values: its frame, header, column widths, highlight and
//! rows, each row with the moment its words about time next change. The
//! whole table is drawn from them, and so is one row drawn again alone:
//! the columns follow the widths and the area, not the rows' text, so a
//! row drawn by itself lands where the whole table put it. A tick of the
//! clock that moved one row's "12s" then builds and draws that row only.

use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Row, StatefulWidget, Table, TableState};

/// One cell to write, where.
pub type Change = (u16, u16, Cell);

/// Everything a table panel draws but its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chrome {
    pub block: Block<'static>,
    pub header: Row<'static>,
    pub widths: Vec<Constraint>,
    pub highlight: Style,
    /// How many rows it lists.
    pub rows: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableParts {
    pub chrome: Chrome,
    pub rows: Vec<Row<'static>>,
    /// When each row's words about time next change.
    pub changes: Vec<Option<i64>>,
}

/// A table as last drawn: what it was drawn from, where, and the scroll
/// and cursor its state had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMemo {
    parts: TableParts,
    area: Rect,
    offset: usize,
    selected: Option<usize>,
}

/// Which rows a redraw builds again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// What they show moved (a new snapshot): every row on screen.
    All,
    /// Only time moved, now this moment: the rows whose words changed.
    Time(i64),
}

impl TableParts {
    /// Draw the whole table; what it was drawn from, for a later redraw.
    pub fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) -> TableMemo {
        let memo = self.clone();
        let Chrome {
            block,
            header,
            widths,
            highlight,
            ..
        } = self.chrome;
        Table::new(self.rows, widths)
            .header(header)
            .row_highlight_style(highlight)
            .block(block)
            .render(area, buf, state);
        TableMemo {
            parts: memo,
            area,
            offset: state.offset(),
            selected: state.selected(),
        }
    }
}

impl TableMemo {
    /// Draw again, one by one, the rows on screen that `again` asks for
    /// and that differ from those last drawn, into `shown` (the screen as
    /// last drawn); the cells that changed, and when a row on screen
    /// next changes by time. `None` when anything but rows differs (the
    /// frame, the header, the widths, the number of rows, the scroll, the
    /// cursor): then the whole table must be drawn.
    pub fn redraw(
        &mut self,
        (area, chrome): (Rect, &Chrome),
        again: Again,
        shown: &mut Buffer,
        state: &TableState,
        mut row: impl FnMut(usize) -> (Row<'static>, Option<i64>),
    ) -> Option<(Vec<Change>, Option<i64>)> {
        let same_frame = self.area == area
            && self.parts.chrome == *chrome
            && self.offset == state.offset()
            && self.selected == state.selected();
        if !same_frame {
            return None;
        }
        // Inside the borders, below the header: one line per row.
        let rows_area = Rect::new(
            area.x + 1,
            area.y + 2,
            area.width.saturating_sub(2),
            area.height.saturating_sub(3),
        );
        let first = self.offset;
        let last = (first + usize::from(rows_area.height)).min(chrome.rows);
        let mut changes = Vec::new();
        for i in first..last {
            let due = match again {
                Again::All => true,
                Again::Time(now) => self.parts.changes[i].is_some_and(|t| t <= now),
            };
            if !due {
                continue;
            }
            let (new, next) = row(i);
            self.parts.changes[i] = next;
            if new == self.parts.rows[i] {
                continue;
            }
            let line = Rect::new(
                rows_area.x,
                rows_area.y + (i - first) as u16,
                rows_area.width,
                1,
            );
            changes.extend(draw_row(
                shown,
                line,
                &new,
                chrome,
                state.selected() == Some(i),
            ));
            self.parts.rows[i] = new;
        }
        let next = self.parts.changes[first..last]
            .iter()
            .flatten()
            .min()
            .copied();
        Some((changes, next))
    }
}

/// One row alone on its line, as the whole table draws it; the cells that
/// changed.
fn draw_row(
    shown: &mut Buffer,
    line: Rect,
    row: &Row<'static>,
    chrome: &Chrome,
    selected: bool,
) -> Vec<Change> {
    let before = cells_of(shown, line);
    for x in line.left()..line.right() {
        if let Some(c) = shown.cell_mut((x, line.y)) {
            c.reset();
        }
    }
    let mut alone = TableState::default().with_selected(selected.then_some(0));
    Table::new([row.clone()], chrome.widths.clone())
        .row_highlight_style(chrome.highlight)
        .render(line, shown, &mut alone);
    let after = cells_of(shown, line);
    before
        .diff(&after)
        .into_iter()
        .map(|(x, y, c)| (x, y, c.clone()))
        .collect()
}

/// The cells of `area` in `buf` (empty where `buf` has none).
pub fn cells_of(buf: &Buffer, area: Rect) -> Buffer {
    let mut out = Buffer::empty(area);
    let both = area.intersection(buf.area);
    let width = usize::from(both.width);
    if width == 0 {
        return out;
    }
    // A row of cells is contiguous in both buffers.
    for y in both.top()..both.bottom() {
        let (from, to) = (buf.index_of(both.x, y), out.index_of(both.x, y));
        out.content[to..to + width].clone_from_slice(&buf.content[from..from + width]);
    }
    out
}
