//! Help: every key, generated from the same table the handler uses.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

use super::centered;
use crate::ui::keys::{BINDINGS, Scope};
use crate::ui::theme::Theme;

pub struct HelpPopup {
    pub scroll: u16,
    pub theme: Theme,
}

/// Two spaces, the longest key label (`PgDn/C-f`) and a space.
const KEY_COLUMN: usize = 11;
const WIDTH: u16 = 90;

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Global => "everywhere".into(),
        Scope::In(panels) => {
            let names: Vec<_> = panels.iter().map(|p| p.title()).collect();
            format!("in {}", names.join(", "))
        }
    }
}

/// Break `text` into pieces of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split(' ') {
        let last = out.last_mut().map_or(0, |l| l.chars().count());
        if last > 0 && last + 1 + word.chars().count() > width {
            out.push(String::new());
        }
        if let Some(l) = out.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    out
}

/// The help text for a popup `inner` columns wide: every binding, grouped
/// by where it works; long lines continue under the text, not the key.
pub fn lines_for(theme: Theme, inner: usize) -> Vec<Line<'static>> {
    let mut scopes: Vec<Scope> = Vec::new();
    for b in BINDINGS {
        if !scopes.contains(&b.scope) {
            scopes.push(b.scope);
        }
    }
    scopes.sort_by_key(|s| *s != Scope::Global);
    let text_w = inner.saturating_sub(KEY_COLUMN).max(10);
    let mut out = Vec::new();
    for scope in scopes {
        out.push(Line::from(Span::styled(scope_name(scope), theme.header())));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            for (i, piece) in wrap(b.help, text_w).into_iter().enumerate() {
                let key = if i == 0 {
                    format!("  {:<8} ", b.label)
                } else {
                    " ".repeat(KEY_COLUMN)
                };
                out.push(Line::from(vec![
                    Span::styled(key, theme.key()),
                    Span::raw(piece),
                ]));
            }
        }
    }
    out.push(Line::raw(""));
    for text in [
        "popups: j/k scroll, PgUp/PgDn, g/Home and G/End to the ends, Esc closes; confirm: ←/→ or Tab to choose, Enter, y/n",
        "filter input: C-a/Home start, C-e/End end, C-u delete to start, C-w delete a word, C-k delete to end, ←/→ move",
        "mouse: click a panel to focus it and a row to select it; the wheel scrolls the panel under it (off with --no-mouse)",
    ] {
        for piece in wrap(text, inner) {
            out.push(Line::from(Span::styled(piece, theme.dim())));
        }
    }
    out
}

/// The help text at full width.
pub fn lines(theme: Theme) -> Vec<Line<'static>> {
    lines_for(theme, (WIDTH - 2) as usize)
}

impl HelpPopup {
    fn rect(area: Rect, n_lines: usize) -> Rect {
        let h = (n_lines as u16 + 2).min(area.height);
        centered(area, WIDTH, h)
    }

    /// How far the text can scroll in `area` before the last line is at
    /// the bottom of the popup.
    pub fn max_scroll(&self, area: Rect) -> u16 {
        let inner = (WIDTH.min(area.width).saturating_sub(2)) as usize;
        let n = lines_for(self.theme, inner).len();
        let r = Self::rect(area, n);
        (n as u16).saturating_sub(r.height.saturating_sub(2))
    }
}

impl Widget for HelpPopup {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let inner = (WIDTH.min(area.width).saturating_sub(2)) as usize;
        let text = lines_for(self.theme, inner);
        let max = self.max_scroll(area);
        let r = Self::rect(area, text.len());
        let scroll = self.scroll.min(max);
        let title = if scroll < max {
            " keys — Esc closes · j for more ↓ "
        } else {
            " keys — Esc closes "
        };
        Clear.render(r, buf);
        Paragraph::new(text)
            .scroll((scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(self.theme.key())
                    .title(title),
            )
            .render(r, buf);
    }
}
