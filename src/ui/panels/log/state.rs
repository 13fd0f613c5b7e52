//! Where the operator is in the Log, and which notices the filter lets
//! through.

use crate::engine::Notice;

/// The Log's cursor, kept by notice number rather than by row, so it stays
/// on its notice while new ones arrive and the oldest drop off the front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogState {
    /// `None` follows the newest notice.
    pub(super) cursor: Option<u64>,
    /// The first notice drawn last frame and how many of its rows were cut
    /// off above the panel: the view stays put while the cursor moves
    /// inside it.
    pub(super) top: Option<(u64, usize)>,
    pub(super) page: usize,
    counted: Option<Counted>,
}

/// The last count of notices through the filter: the same Log, filter and
/// cursor give the same count, so a frame that only redraws the clock
/// scans none of the 10,000.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    filter: String,
    /// The Log's length and its first and last notice: a notice is never
    /// changed once numbered.
    log: (usize, Option<(u64, u64)>),
    selected: Option<u64>,
    total: usize,
    at: Option<usize>,
}

impl LogState {
    pub fn follow(&self) -> bool {
        self.cursor.is_none()
    }

    /// Rows of notices the panel showed when last drawn.
    pub fn page(&self) -> usize {
        self.page
    }

    /// Towards the newest; past it, back to following.
    pub fn down(&mut self, notices: &[Notice], filter: &str, n: usize) {
        if n == 0 || self.cursor.is_none() {
            return;
        }
        let filter = Filter::new(filter);
        let Some(at) = self.resolve(notices, &filter) else {
            self.cursor = None;
            return;
        };
        self.cursor = notices[at + 1..]
            .iter()
            .filter(|x| filter.matches(x))
            .nth(n - 1)
            .map(|x| x.seq);
    }

    /// Towards the oldest; from following, the first step selects the
    /// newest notice.
    pub fn up(&mut self, notices: &[Notice], filter: &str, n: usize) {
        if n == 0 {
            return;
        }
        let filter = Filter::new(filter);
        let from = match self.cursor {
            None => notices.len(),
            Some(_) => match self.resolve(notices, &filter) {
                Some(at) => at,
                None => return,
            },
        };
        let above = notices[..from]
            .iter()
            .rev()
            .filter(|x| filter.matches(x))
            .take(n)
            .last();
        if let Some(x) = above.or_else(|| notices.get(from)) {
            self.cursor = Some(x.seq);
        }
    }

    pub fn top(&mut self, notices: &[Notice], filter: &str) {
        let filter = Filter::new(filter);
        self.cursor = notices.iter().find(|x| filter.matches(x)).map(|x| x.seq);
    }

    pub fn bottom(&mut self) {
        self.cursor = None;
    }

    /// `None` while following, or when nothing passes the filter.
    pub fn selected<'n>(&self, notices: &'n [Notice], filter: &str) -> Option<&'n Notice> {
        self.resolve(notices, &Filter::new(filter))
            .map(|at| &notices[at])
    }

    /// How many notices pass `filter`, and how many of them come before
    /// the one at `selected`.
    pub(super) fn count(
        &mut self,
        notices: &[Notice],
        filter: &Filter,
        selected: Option<usize>,
    ) -> (usize, Option<usize>) {
        if filter.everything() {
            return (notices.len(), selected);
        }
        let log = (
            notices.len(),
            notices
                .first()
                .zip(notices.last())
                .map(|(a, b)| (a.seq, b.seq)),
        );
        let selected_seq = selected.map(|i| notices[i].seq);
        if let Some(c) = &self.counted
            && c.filter == filter.lower
            && c.log == log
            && c.selected == selected_seq
        {
            return (c.total, c.at);
        }
        let before = |end: usize| notices[..end].iter().filter(|n| filter.matches(n)).count();
        let total = before(notices.len());
        let at = selected.map(before);
        self.counted = Some(Counted {
            filter: filter.lower.clone(),
            log,
            selected: selected_seq,
            total,
            at,
        });
        (total, at)
    }

    /// The index of the selected notice: the cursor's own, or, if it
    /// dropped off or the filter hides it, the next that passes (the
    /// oldest remaining), or else the newest that passes.
    pub(super) fn resolve(&self, notices: &[Notice], filter: &Filter) -> Option<usize> {
        let seq = self.cursor?;
        // Notices come in `seq` order.
        let from = notices.partition_point(|x| x.seq < seq);
        notices[from..]
            .iter()
            .position(|x| filter.matches(x))
            .map(|i| from + i)
            .or_else(|| notices[..from].iter().rposition(|x| filter.matches(x)))
    }
}

/// Whether `n`'s text contains `filter`, ignoring case; an empty filter
/// lets everything through.
pub fn matches(n: &Notice, filter: &str) -> bool {
    Filter::new(filter).matches(n)
}

/// A filter lowered once, for many notices.
pub(super) struct Filter {
    lower: String,
}

impl Filter {
    pub(super) fn new(filter: &str) -> Self {
        Filter {
            lower: filter.to_lowercase(),
        }
    }

    pub(super) fn everything(&self) -> bool {
        self.lower.is_empty()
    }

    pub(super) fn matches(&self, n: &Notice) -> bool {
        if self.lower.is_empty() {
            true
        } else if self.lower.is_ascii() {
            // No allocation per notice: an ASCII needle cannot match inside
            // a multi-byte character.
            let needle = self.lower.as_bytes();
            n.text
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        } else {
            n.text.to_lowercase().contains(&self.lower)
        }
    }
}
