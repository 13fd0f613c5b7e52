//! Text from the store, tmux or a process, made safe to show a human.
//!
//! Any agent can put any string in a thread question, an event kind or a
//! session name. Written raw to a terminal, an escape sequence in it can
//! retitle the pane, set the clipboard (OSC 52) or clear the screen; a bidi
//! override reorders what follows it; a character whose width the terminal
//! and ratatui disagree on (a flag, a zero-width joiner) leaves cells stuck
//! in other rows. Everything printed for a human — CLI text, the TUI, the
//! Log — goes through [`printable`]; `--json` stays exact.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Would this character, shown raw, do anything but print itself at the
/// width every terminal agrees on?
fn unsafe_char(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(c,
            '\u{00AD}' // soft hyphen: width 0 or 1
            | '\u{061C}' // Arabic letter mark
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, bidi isolates, deprecated formats
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}' // BOM
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
            | '\u{1F1E6}'..='\u{1F1FF}' // regional indicators (flags)
            | '\u{E0000}'..='\u{E007F}' // tags
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

fn escape(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` with every control character (C0 including newline and tab, DEL,
/// C1), bidi control and character of disputed width replaced by a visible
/// escape (`\e`, `\n`, `\x07`, `\u{202e}`). One line in, one line out.
/// A backslash stays as it is: the result is for reading, not parsing.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for text of several lines: each line made safe, the line
/// breaks kept.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(printable).collect();
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_leave_nothing_a_terminal_would_act_on() {
        let hostile = "a\u{1b}]0;pwned\u{7}\u{1b}]52;c;aGk=\u{7}\u{1b}[2Jb";
        let p = printable(hostile);
        assert_eq!(p, "a\\e]0;pwned\\x07\\e]52;c;aGk=\\x07\\e[2Jb");
        assert!(!p.chars().any(char::is_control));
        assert_eq!(printable("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\x7f");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(printable("🇺🇸"), "\\u{1f1fa}\\u{1f1f8}");
        assert_eq!(printable("one\ntwo\tthree"), "one\\ntwo\\tthree");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "plain",
            "naïve café — ok",
            "日本語",
            "emoji 🙂",
            "back\\slash",
            "",
        ] {
            assert!(matches!(printable(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert_eq!(printable_lines("a\u{1b}[2J\nb\tc\n"), "a\\e[2J\nb\\tc\n");
        assert!(matches!(printable_lines("a\nb"), Cow::Borrowed(_)));
    }
}
