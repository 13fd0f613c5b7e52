//! Log: the engine's notices, newest at the bottom, each wrapped whole
//! under its time. [`LogState`] is the cursor and the movements;
//! `layout` picks and wraps the notices on screen.

mod layout;
mod state;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{StatefulWidget, Widget};

pub use self::state::{LogState, matches};

use self::layout::Layout;
use self::state::Filter;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, shown};
use crate::engine::Notice;

pub struct LogPanel<'a> {
    pub notices: &'a [Notice],
    pub filter: &'a str,
    /// The filter is being typed: its end is marked in the title.
    pub editing: bool,
    pub focused: bool,
    pub theme: Theme,
}

/// `HH:MM:SS ` before each notice.
const CLOCK: usize = 9;

fn clock(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(String::new, |t| {
        t.with_timezone(&chrono::Local)
            .format("%H:%M:%S ")
            .to_string()
    })
}

fn grouped(n: usize) -> String {
    super::group(n as u64)
}

/// The title's tail: how long the Log is, where the cursor is, the filter.
fn title(filter: &str, editing: bool, total: usize, at: Option<usize>) -> String {
    let mut parts = Vec::new();
    if !filter.is_empty() || editing {
        parts.push(format!(
            "/{}{}",
            shown(filter),
            if editing { "▏" } else { "" }
        ));
    }
    if filter.is_empty() {
        if at.is_none() {
            let noun = if total == 1 { "line" } else { "lines" };
            parts.push(format!("{} {noun}", grouped(total)));
        }
    } else {
        let noun = if total == 1 { "match" } else { "matches" };
        parts.push(format!("{} {noun}", grouped(total)));
    }
    parts.push(match at {
        Some(at) => format!("line {} of {}", grouped(at + 1), grouped(total)),
        None => "following".to_string(),
    });
    parts.join(" · ")
}

impl StatefulWidget for LogPanel<'_> {
    type State = LogState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut LogState) {
        let t = self.theme;
        // Leaving the panel gives the cursor up: back on it, the operator
        // sees the newest notices first.
        if !self.focused {
            state.cursor = None;
        }
        let filter = Filter::new(self.filter);
        let selected = state.resolve(self.notices, &filter);
        if let Some(at) = selected {
            state.cursor = Some(self.notices[at].seq);
        }
        let (total, at) = state.count(self.notices, &filter, selected);
        let frame = block(
            Panel::Log,
            &title(self.filter, self.editing, total, at),
            self.focused,
            t,
        );
        let inner = frame.inner(area);
        frame.render(area, buf);
        state.page = inner.height as usize;
        if inner.is_empty() {
            return;
        }
        if total == 0 {
            let why = if self.notices.is_empty() {
                "no notices yet".to_string()
            } else {
                format!("no notice matches /{}", shown(self.filter))
            };
            buf.set_stringn(inner.x, inner.y, why, inner.width as usize, t.dim());
            return;
        }
        // Too narrow for a clock beside the text: the text alone.
        let gutter = if inner.width as usize > 2 * CLOCK {
            CLOCK
        } else {
            0
        };
        let layout = Layout {
            notices: self.notices,
            filter: &filter,
            width: inner.width as usize - gutter,
            height: inner.height as usize,
        };
        let top = state.top.and_then(|(seq, skip)| {
            let from = self.notices.partition_point(|n| n.seq < seq);
            self.notices[from..]
                .iter()
                .position(|n| filter.matches(n))
                .map(|i| (from + i, skip))
        });
        let Some(view) = layout.view(selected, top) else {
            return;
        };
        state.top = view
            .notices
            .first()
            .map(|w| (self.notices[w.index].seq, view.skip));
        let highlight = if self.focused {
            t.selected()
        } else {
            Style::new()
        };
        let text_x = inner.x + gutter as u16;
        let y0 = inner.y + view.pad as u16;
        for (y, (w, row)) in (y0..).zip(view.lines(layout.height)) {
            let n = &self.notices[w.index];
            if row == 0 && gutter > 0 {
                buf.set_stringn(inner.x, y, clock(n.at), gutter, t.dim());
            }
            let style = if n.error { t.bad() } else { Style::new() };
            buf.set_stringn(text_x, y, &w.text[w.rows[row].clone()], layout.width, style);
            if Some(w.index) == selected {
                buf.set_style(Rect::new(inner.x, y, inner.width, 1), highlight);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234), "1,234");
        assert_eq!(grouped(10_000), "10,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn the_title_says_where_the_cursor_is_and_what_matches() {
        assert_eq!(title("", false, 1_234, None), "1,234 lines · following");
        assert_eq!(title("", false, 1_234, Some(1_199)), "line 1,200 of 1,234");
        assert_eq!(
            title("disk", false, 3, None),
            "/disk · 3 matches · following"
        );
        assert_eq!(
            title("disk", true, 1, Some(0)),
            "/disk▏ · 1 match · line 1 of 1"
        );
        assert_eq!(title("", true, 2, None), "/▏ · 2 lines · following");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_words_only_when_it_must() {
        let text = "alpha beta gamma";
        let rows: Vec<&str> = layout::wrap(text, 11)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(rows, ["alpha beta", "gamma"]);
        let text = "abcdefghij";
        let rows: Vec<&str> = layout::wrap(text, 4)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(rows, ["abcd", "efgh", "ij"]);
        let text = "日本語のテキスト";
        let rows: Vec<&str> = layout::wrap(text, 5)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(rows, ["日本", "語の", "テキ", "スト"]);
    }
}
