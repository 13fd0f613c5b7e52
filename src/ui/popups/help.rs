//! Help: every key, generated from the same table the handler uses.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use super::centered;
use crate::ui::keys::{BINDINGS, Scope};
use crate::ui::theme::Theme;

pub struct HelpPopup {
    pub scroll: u16,
    pub theme: Theme,
}

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Global => "everywhere".into(),
        Scope::In(panels) => {
            let names: Vec<_> = panels.iter().map(|p| p.title()).collect();
            format!("in {}", names.join(", "))
        }
    }
}

/// The help text: every binding, grouped by where it works.
pub fn lines(theme: Theme) -> Vec<Line<'static>> {
    let mut scopes: Vec<Scope> = Vec::new();
    for b in BINDINGS {
        if !scopes.contains(&b.scope) {
            scopes.push(b.scope);
        }
    }
    // "everywhere" first.
    scopes.sort_by_key(|s| *s != Scope::Global);
    let mut out = Vec::new();
    for scope in scopes {
        out.push(Line::from(Span::styled(scope_name(scope), theme.header())));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<7}", b.label), theme.key()),
                Span::raw(b.help),
            ]));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::from(Span::styled(
        "popups: j/k scroll, Esc closes; confirm: ←/→ or Tab to choose, Enter, y/n",
        theme.dim(),
    )));
    out
}

impl Widget for HelpPopup {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let text = lines(self.theme);
        let h = (text.len() as u16 + 2).min(area.height.saturating_sub(2));
        let r = centered(area, 84, h);
        Clear.render(r, buf);
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((self.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(self.theme.key())
                    .title(" keys — Esc closes "),
            )
            .render(r, buf);
    }
}
