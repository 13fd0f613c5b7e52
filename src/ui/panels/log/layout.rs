//! Which notices are on screen and how each wraps. Only those notices are
//! wrapped: the walk starts at the notice the view hangs on and stops once
//! the panel is full, however long the Log.

use std::borrow::Cow;
use std::ops::Range;

use ratatui::text::Span;

use super::state::Filter;
use crate::engine::Notice;

/// One notice as drawn: its text made printable, cut into rows.
pub(super) struct Wrapped<'a> {
    pub index: usize,
    pub text: Cow<'a, str>,
    pub rows: Vec<Range<usize>>,
}

pub(super) struct View<'a> {
    /// Top to bottom.
    pub notices: Vec<Wrapped<'a>>,
    /// Rows of the first notice above the panel's top edge.
    pub skip: usize,
    /// Empty rows above the first notice when the Log is shorter than the
    /// panel: the newest stays on the last row.
    pub pad: usize,
}

impl View<'_> {
    /// Each row on screen: the notice and which of its rows.
    pub fn lines(&self, height: usize) -> impl Iterator<Item = (&Wrapped<'_>, usize)> {
        self.notices
            .iter()
            .flat_map(|w| (0..w.rows.len()).map(move |r| (w, r)))
            .skip(self.skip)
            .take(height.saturating_sub(self.pad))
    }
}

pub(super) struct Layout<'a, 'f> {
    pub notices: &'a [Notice],
    pub filter: &'f Filter,
    /// Columns for the text, right of the clock.
    pub width: usize,
    pub height: usize,
}

enum Missed {
    /// The selected notice ends below the panel.
    Below,
    /// The notices from the top run out before the panel is full.
    Short,
}

impl<'a> Layout<'a, '_> {
    /// The view: the newest matching notice at the bottom while following
    /// (`selected` is `None`); else the last frame's `top` kept when the
    /// selection is inside it, moved just enough to show it when not.
    /// `None` when no notice passes the filter.
    pub fn view(&self, selected: Option<usize>, top: Option<(usize, usize)>) -> Option<View<'a>> {
        let last = self.notices.iter().rposition(|n| self.filter.matches(n))?;
        let Some(sel) = selected else {
            return Some(self.bottom_up(last));
        };
        let (first, skip) = top
            .filter(|&(first, skip)| first < sel || (first == sel && skip == 0))
            .unwrap_or((sel, 0));
        Some(match self.top_down(first, skip, sel) {
            Ok(v) => v,
            Err(Missed::Short) => self.bottom_up(last),
            Err(Missed::Below) => self.bottom_up(sel),
        })
    }

    fn wrapped(&self, index: usize) -> Wrapped<'a> {
        let text = crate::text::printable(&self.notices[index].text);
        let rows = wrap(&text, self.width);
        Wrapped { index, text, rows }
    }

    /// The notice at `last` on the bottom row, older ones above it; or,
    /// taller than the panel, its first rows: a notice's start says what
    /// it is about.
    fn bottom_up(&self, last: usize) -> View<'a> {
        let mut notices = Vec::new();
        let mut rows = 0;
        for i in (0..=last).rev() {
            if rows >= self.height {
                break;
            }
            if self.filter.matches(&self.notices[i]) {
                let w = self.wrapped(i);
                rows += w.rows.len();
                notices.push(w);
            }
        }
        let skip = if notices.len() == 1 {
            0
        } else {
            rows.saturating_sub(self.height)
        };
        notices.reverse();
        View {
            notices,
            skip,
            pad: self.height.saturating_sub(rows),
        }
    }

    /// From row `skip` of the notice at `first` downwards, as long as the
    /// notice at `sel` ends on screen (or, taller than the panel, starts
    /// at its top).
    fn top_down(&self, first: usize, skip: usize, sel: usize) -> Result<View<'a>, Missed> {
        let mut notices = Vec::new();
        let mut rows = 0;
        let mut skip = skip;
        for i in first..self.notices.len() {
            if !self.filter.matches(&self.notices[i]) {
                continue;
            }
            let w = self.wrapped(i);
            if notices.is_empty() {
                // A resize can leave fewer rows than were skipped.
                skip = skip.min(w.rows.len() - 1);
            }
            rows += w.rows.len();
            notices.push(w);
            let shown = rows - skip;
            if i == sel && shown > self.height && !(i == first && skip == 0) {
                return Err(Missed::Below);
            }
            if shown >= self.height {
                if i < sel {
                    return Err(Missed::Below);
                }
                return Ok(View {
                    notices,
                    skip,
                    pad: 0,
                });
            }
        }
        Err(Missed::Short)
    }
}

/// Byte ranges of `text`'s rows at `width` columns: broken at the last
/// space that fits, inside a word only when no space does. Only the space
/// at each break is left out, so the rows hold the whole text.
pub(super) fn wrap(text: &str, width: usize) -> Vec<Range<usize>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut start = 0;
    let mut used = 0;
    // The last space in the row: where it is, and the row's width after it.
    let mut space: Option<(usize, usize)> = None;
    for (i, c) in text.char_indices() {
        let w = char_width(text, i, c);
        if c == ' ' && used + w > width {
            rows.push(start..i);
            start = i + 1;
            used = 0;
            space = None;
            continue;
        }
        while used + w > width && i > start {
            if let Some((at, after)) = space.take() {
                rows.push(start..at);
                start = at + 1;
                used -= after;
            } else {
                rows.push(start..i);
                start = i;
                used = 0;
            }
        }
        used += w;
        if c == ' ' {
            space = Some((i, used));
        }
    }
    rows.push(start..text.len());
    rows
}

fn char_width(text: &str, at: usize, c: char) -> usize {
    if c.is_ascii() {
        1
    } else {
        Span::raw(&text[at..at + c.len_utf8()]).width()
    }
}
