//! One widget per panel. Each takes what it shows by reference and draws
//! into a `Buffer`; selection lives in the `App`'s `TableState`s.

pub mod bridges;
pub mod jobs;
pub mod log;
pub mod loops;
pub mod outcomes;
pub mod sessions;
pub mod stores;
pub mod table;
pub mod tasks;
pub mod threads;

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

use super::keys::Panel;
use super::theme::Theme;

/// The frame of a panel: its number, title and focus state.
pub fn block(panel: Panel, extra: &str, focused: bool, theme: Theme) -> Block<'static> {
    let mut title = vec![Span::styled(
        format!(" {} {} ", panel.number(), panel.title()),
        theme.title(focused),
    )];
    if !extra.is_empty() {
        title.push(Span::styled(format!("{extra} "), theme.dim()));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(theme.border(focused))
        .title(Line::from(title))
}

/// Human sizes for the Stores panel.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Store or tmux text for a cell: control characters, bidi controls and
/// characters of disputed width escaped (see [`crate::text`]).
pub fn shown(s: &str) -> String {
    crate::text::printable(s).into_owned()
}

/// [`shown`], cut to `n` characters, marking the cut.
pub fn clip(s: &str, n: usize) -> String {
    let s = crate::text::printable(s);
    if s.chars().count() <= n {
        s.into_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `99338` → `99,338`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}
