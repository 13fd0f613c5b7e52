//! A one-line text input for the filters, with the editing keys shells and
//! readline taught everyone: Ctrl-A/E to the ends, Ctrl-U and Ctrl-W to
//! delete back to the start or a word, arrows to move.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    /// In characters, 0..=len.
    cursor: usize,
}

/// What a key did to the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Changed,
    Moved,
    /// Enter: keep the text, stop editing.
    Done,
    /// Esc: clear the text, stop editing.
    Cancelled,
    Ignored,
}

impl LineInput {
    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_idx)
            .map_or(self.text.len(), |(b, _)| b)
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Delete the characters in `from..to` (character positions).
    fn delete(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte_at(from), self.byte_at(to));
        self.text.replace_range(a..b, "");
        self.cursor = from;
    }

    pub fn key(&mut self, key: KeyEvent) -> Edit {
        let before = self.text.len();
        let edit = self.apply(key);
        // A delete with nothing to delete changes nothing.
        if edit == Edit::Changed && self.text.len() == before {
            return Edit::Moved;
        }
        edit
    }

    fn apply(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => Edit::Done,
            KeyCode::Esc => {
                self.clear();
                Edit::Cancelled
            }
            KeyCode::Char('a') | KeyCode::Home if ctrl || key.code == KeyCode::Home => {
                self.cursor = 0;
                Edit::Moved
            }
            KeyCode::Char('e') | KeyCode::End if ctrl || key.code == KeyCode::End => {
                self.cursor = self.len();
                Edit::Moved
            }
            KeyCode::Char('u') if ctrl => {
                self.delete(0, self.cursor);
                Edit::Changed
            }
            KeyCode::Char('k') if ctrl => {
                let end = self.len();
                self.delete(self.cursor, end);
                self.cursor = self.cursor.min(self.len());
                Edit::Changed
            }
            KeyCode::Char('w') if ctrl => {
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                self.delete(start, self.cursor);
                Edit::Changed
            }
            KeyCode::Left => {
                self.cursor = self.cursor.saturating_sub(1);
                Edit::Moved
            }
            KeyCode::Right => {
                self.cursor = (self.cursor + 1).min(self.len());
                Edit::Moved
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.delete(self.cursor - 1, self.cursor);
                Edit::Changed
            }
            KeyCode::Delete if self.cursor < self.len() => {
                self.delete(self.cursor, self.cursor + 1);
                Edit::Changed
            }
            KeyCode::Char(c) if !ctrl => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                Edit::Changed
            }
            _ => Edit::Ignored,
        }
    }

    /// How a title shows it: `/text`, with a caret where typing goes while
    /// it is being edited; empty when there is nothing to show.
    pub fn shown(&self, editing: bool) -> String {
        if self.text.is_empty() && !editing {
            return String::new();
        }
        let text = crate::text::printable(&self.text);
        if !editing {
            return format!("  /{text}");
        }
        let (before, after): (String, String) = {
            let at = self.byte_at(self.cursor);
            (
                crate::text::printable(&self.text[..at]).into_owned(),
                crate::text::printable(&self.text[at..]).into_owned(),
            )
        };
        format!("  /{before}▏{after}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn typed(s: &str) -> LineInput {
        let mut i = LineInput::default();
        for c in s.chars() {
            i.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        i
    }

    fn ctrl(i: &mut LineInput, c: char) -> Edit {
        i.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    #[test]
    fn ctrl_w_deletes_the_word_before_the_cursor() {
        let mut i = typed("bridge tier  3");
        assert_eq!(ctrl(&mut i, 'w'), Edit::Changed);
        assert_eq!(i.text, "bridge tier  ");
        ctrl(&mut i, 'w');
        assert_eq!(i.text, "bridge ");
    }

    #[test]
    fn ctrl_u_deletes_to_the_start_and_ctrl_a_e_move() {
        let mut i = typed("héllo wörld");
        ctrl(&mut i, 'a');
        i.key(KeyEvent::new(KeyCode::Char('>'), KeyModifiers::NONE));
        assert_eq!(i.text, ">héllo wörld");
        ctrl(&mut i, 'e');
        for _ in 0..5 {
            i.key(KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
        }
        ctrl(&mut i, 'u');
        assert_eq!(i.text, "wörld");
        assert_eq!(i.shown(true), "  /▏wörld");
        i.key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        assert_eq!(i.text, "wörld", "nothing before the cursor to delete");
    }

    #[test]
    fn esc_clears_and_enter_keeps() {
        let mut i = typed("abc");
        assert_eq!(
            i.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            Edit::Done
        );
        assert_eq!(i.shown(false), "  /abc");
        assert_eq!(
            i.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            Edit::Cancelled
        );
        assert_eq!(i.shown(false), "");
    }
}
