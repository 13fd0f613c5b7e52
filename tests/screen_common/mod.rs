//! Reading the TUI's screen the way an operator does: which panel has the
//! thick border and what rows it shows, which row is drawn selected (the
//! theme's `NO_COLOR` style: reversed), and whether one panel fills the
//! body. Built on `e2e_common`'s private tmux server.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::e2e_common::Tmux;

/// Every panel: its digit and the name its title starts with.
pub const PANELS: [(char, &str); 9] = [
    ('1', "Stores"),
    ('2', "Loops"),
    ('3', "Outcomes"),
    ('4', "Threads"),
    ('5', "Log"),
    ('6', "Sessions"),
    ('7', "Bridges"),
    ('8', "Tasks"),
    ('9', "Jobs"),
];

/// The environment every run gets: a home of its own (no operator config,
/// state or log touched), temp files under it, and no colour, so the
/// selected row is drawn reversed.
pub fn env_for(home: &std::path::Path) -> String {
    let home = home.display();
    format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state TMPDIR={home} NO_COLOR=1"
    )
}

/// `keeper-tui --demo {extra}` in a `width`×`height` pane of a private tmux
/// server: the temp dir it lives in, the server, and the demo's directory.
pub fn demo_in_a_pane(width: u16, height: u16, extra: &str) -> (tempfile::TempDir, Tmux, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path(), width, height);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    t.type_line(&format!(
        "{} {} --demo {extra}",
        env_for(dir.path()),
        env!("CARGO_BIN_EXE_keeper-tui")
    ));
    t.wait_for("the demo", |s| s.contains("2 Loops"));
    // The demo makes its world under TMPDIR, our temp dir; the title bar
    // names it too, but cut short on a narrow screen.
    let demo = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keeper-demo-"))
        })
        .unwrap_or_else(|| panic!("no demo directory in {}", dir.path().display()));
    (dir, t, demo)
}

/// The focused panel as drawn: its title line and the text inside its
/// thick border, row by row (header rows included).
#[derive(Debug, Clone)]
pub struct Focused {
    /// Screen line of the top border.
    pub top: usize,
    /// Screen line of the bottom border.
    pub bottom: usize,
    /// The top border from `┏` to `┓`.
    pub title: String,
    /// The bottom border from `┗` to `┛`.
    pub footer: String,
    pub rows: Vec<String>,
}

impl Focused {
    /// Whether its title starts with panel `digit` `name`.
    pub fn is(&self, digit: char, name: &str) -> bool {
        self.title.starts_with(&format!("┏ {digit} {name}"))
    }

    /// `↑ N` on the bottom border: rows of the whole list above the view.
    pub fn above(&self) -> u64 {
        let Some((_, after)) = self.footer.split_once("↑ ") else {
            return 0;
        };
        let digits: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(0)
    }
}

/// The part of `line` from the first `open` to the next `close`.
fn between(line: &str, open: char, close: char) -> Option<String> {
    let start = line.find(open)?;
    let rest = &line[start..];
    let end = rest[open.len_utf8()..].find(close)? + open.len_utf8() + close.len_utf8();
    Some(rest[..end].to_string())
}

/// The panel with the thick border (`┏━┓`), if one is on screen whole.
pub fn focused(screen: &str) -> Option<Focused> {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines.iter().position(|l| l.contains('┏'))?;
    let title = between(lines[top], '┏', '┓')?;
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(top + 1) {
        if line.contains('┗') {
            return Some(Focused {
                top,
                bottom: i,
                title,
                footer: between(line, '┗', '┛')?,
                rows,
            });
        }
        // Other panels have thin borders: the row sits between two `┃`.
        let mut cells = line.split('┃');
        cells.next();
        rows.push(cells.next()?.to_string());
    }
    None
}

/// Panels whose title is on screen (`┌ 4 Threads` or `┏ 4 Threads`).
pub fn titles_shown(screen: &str) -> Vec<char> {
    PANELS
        .iter()
        .filter(|(d, name)| {
            screen.contains(&format!("┌ {d} {name}")) || screen.contains(&format!("┏ {d} {name}"))
        })
        .map(|(d, _)| *d)
        .collect()
}

/// The screen with its attributes.
pub fn screen_with_attributes(t: &Tmux) -> String {
    String::from_utf8_lossy(
        &t.cmd(&["capture-pane", "-e", "-p", "-t", &t.session])
            .stdout,
    )
    .into_owned()
}

/// For each screen line, the characters drawn reversed. SGR state is
/// followed across lines, as `capture-pane -e` writes only the changes.
pub fn reversed_text(with_attributes: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut reversed = false;
    let mut chars = with_attributes.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut seq = String::new();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        if c == 'm' {
                            for p in seq.split(';') {
                                match p {
                                    "" | "0" | "27" => reversed = false,
                                    "7" => reversed = true,
                                    _ => {}
                                }
                            }
                        }
                        break;
                    }
                    seq.push(c);
                }
            }
            '\n' => lines.push(String::new()),
            c if reversed => lines.last_mut().unwrap().push(c),
            _ => {}
        }
    }
    lines
}

/// The selected row: its screen line and its reversed text, trimmed.
/// `None` when no row, or more than one, is drawn reversed.
pub fn selected_row(with_attributes: &str) -> Option<(usize, String)> {
    let mut found = reversed_text(with_attributes)
        .into_iter()
        .enumerate()
        .filter(|(_, text)| !text.trim().is_empty());
    let (line, text) = found.next()?;
    found
        .next()
        .is_none()
        .then(|| (line, text.trim().to_string()))
}

/// The first word of the selected row.
pub fn selected_word(with_attributes: &str) -> Option<String> {
    let (_, text) = selected_row(with_attributes)?;
    text.split_whitespace().next().map(str::to_string)
}

/// A screen read twice in a row the same, with its attributes: no frame
/// was being written while it was read.
pub fn settled(t: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = screen_with_attributes(t);
    loop {
        std::thread::sleep(Duration::from_millis(60));
        let now = screen_with_attributes(t);
        if now == last || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

/// Wait (bounded by `secs`) for a settled screen that satisfies `want`,
/// given its plain text and its text with attributes; both are returned.
/// A screen read while a frame is being written never counts: it can show
/// the new layout's top over the old one's bottom.
pub fn wait_settled(
    t: &Tmux,
    what: &str,
    secs: u64,
    want: impl Fn(&str, &str) -> bool,
) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let with_attributes = settled(t);
        let text = plain(&with_attributes);
        if want(&text, &with_attributes) {
            return (text, with_attributes);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; selected {:?}; screen:\n{text}",
            selected_row(&with_attributes)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Drop the escape sequences: the plain text of a screen with attributes.
pub fn plain(with_attributes: &str) -> String {
    let mut out = String::with_capacity(with_attributes.len());
    let mut chars = with_attributes.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Type an SGR mouse click (press and release of the left button) at the
/// 0-based screen cell `column`, `line`.
pub fn click(t: &Tmux, column: usize, line: usize) {
    let (x, y) = (column + 1, line + 1);
    for end in ['M', 'm'] {
        let seq = format!("\x1b[<0;{x};{y}{end}");
        assert!(
            t.cmd(&["send-keys", "-t", &t.session, "-l", &seq])
                .status
                .success()
        );
    }
}
