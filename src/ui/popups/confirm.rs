//! The one confirm step: names the operation and the exact target, and
//! starts with focus on Cancel.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::centered;
use crate::ui::app::Confirm;
use crate::ui::panels::shown;
use crate::ui::theme::Theme;

pub struct ConfirmPopup<'a> {
    pub confirm: &'a Confirm,
    pub theme: Theme,
}

impl Widget for ConfirmPopup<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let c = self.confirm;
        let button = |label: &str, on: bool| {
            Span::styled(
                format!("[ {label} ]"),
                if on { t.selected() } else { Style::new() },
            )
        };
        let mut text = vec![
            Line::raw(""),
            Line::from(vec![
                Span::raw(format!("{} ", c.operation)),
                Span::styled(shown(&c.target), t.header()),
                Span::raw("?"),
            ]),
            Line::raw(""),
            Line::from(vec![
                button("Cancel", !c.on_confirm),
                Span::raw("   "),
                button("Confirm", c.on_confirm),
            ]),
        ];
        let mut height = 7;
        if let Some(d) = &c.detail {
            // The exact effect, e.g. the tmux command, under the question.
            text.insert(2, Line::raw(""));
            text.insert(3, Line::from(Span::styled(shown(d), t.key())));
            height += 3;
        }
        let r = centered(area, 76, height);
        Clear.render(r, buf);
        Paragraph::new(text)
            .centered()
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.warn())
                    .title(" confirm "),
            )
            .render(r, buf);
    }
}
