//! Detail: a thread's notes or a loop's recent passes, scrollable.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::centered;
use crate::ui::theme::Theme;

pub struct DetailPopup<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub scroll: u16,
    pub theme: Theme,
}

fn rect(area: Rect) -> Rect {
    let w = area.width.saturating_sub(8).max(20);
    let h = area.height.saturating_sub(4).max(5);
    centered(area, w, h)
}

/// How far `text` can scroll in a popup over `area` before its last line
/// is at the bottom: `G` goes there, and no further.
pub fn max_scroll(area: Rect, text: &str) -> u16 {
    let r = rect(area);
    let lines = Paragraph::new(crate::text::printable_lines(text))
        .wrap(Wrap { trim: false })
        .line_count(r.width.saturating_sub(2));
    u16::try_from(lines)
        .unwrap_or(u16::MAX)
        .saturating_sub(r.height.saturating_sub(2))
}

impl Widget for DetailPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let r = rect(area);
        Clear.render(r, buf);
        Paragraph::new(crate::text::printable_lines(self.text))
            .wrap(Wrap { trim: false })
            .scroll((self.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(self.theme.key())
                    .title(format!(
                        " {} — j/k scroll, Esc closes ",
                        crate::text::printable(self.title)
                    )),
            )
            .render(r, buf);
    }
}
