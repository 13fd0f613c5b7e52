//! The Threads panel pages through the store: the engine keeps a window of
//! rows around the cursor's thread (keyset paging on the panel's order), so
//! a list of 100,000 threads scrolls to its last row without loading it
//! all, and the cursor stays on its thread as rows re-sort.

use super::{App, Effect, Purpose};
use crate::engine::Command;
use crate::store::threads::{ThreadAnchor, ThreadKey, ThreadQuery, ThreadSort};
use crate::ui::keys::Panel;
pub use crate::ui::panels::group;

/// Re-centre the window when the cursor comes this close to its edge.
const MARGIN: usize = 100;

/// Where the engine's window of threads is, and moves waiting for it.
#[derive(Debug, Clone, Default)]
pub(super) struct Paging {
    pub anchor: ThreadAnchor,
    /// The cursor moved since the engine last heard where it is.
    pub dirty: bool,
    /// Rows a page move still owes once the next page arrives.
    pub pending_move: i64,
    /// `g`/`G` waiting for the top or bottom page (true: bottom).
    pub jump: Option<bool>,
}

impl App {
    /// What the panel asks the engine for.
    pub fn thread_query(&self) -> ThreadQuery {
        let s = self.sort_of(Panel::Threads);
        ThreadQuery {
            filter: self.filter.clone(),
            sort: ThreadSort::ALL[s.column % ThreadSort::ALL.len()],
            reverse: s.reverse,
            anchor: self.paging.anchor.clone(),
        }
    }

    fn send_thread_query(&mut self) -> Vec<Effect> {
        self.paging.dirty = false;
        vec![Effect::Send(
            Command::SetThreadQuery(self.thread_query()),
            Purpose::Silent,
        )]
    }

    /// After a move: near the loaded rows' edge with more beyond, load the
    /// rows around the cursor now; otherwise let the engine know where the
    /// cursor is at the next tick.
    pub(super) fn threads_moved(&mut self, by: i64, before: usize) -> Vec<Effect> {
        let page = &self.snapshot.threads;
        let len = page.rows.len();
        let sel = self.threads.selected().unwrap_or(0);
        let Some(row) = page.rows.get(sel) else {
            return Vec::new();
        };
        self.paging.anchor = ThreadAnchor::Around(ThreadKey::of(row));
        let more_below = page.offset + (len as u64) < page.total;
        let more_above = page.offset > 0;
        // A page move that ran out of loaded rows finishes once they come.
        let moved = sel as i64 - before as i64;
        let short = by - moved;
        let near_end = by > 0 && more_below && sel + MARGIN >= len;
        let near_top = by < 0 && more_above && sel < MARGIN;
        if near_end || near_top {
            if (short > 0 && near_end) || (short < 0 && near_top) {
                self.paging.pending_move += short;
            }
            return self.send_thread_query();
        }
        self.paging.dirty = true;
        Vec::new()
    }

    pub(super) fn threads_to_end(&mut self, bottom: bool) -> Vec<Effect> {
        let page = &self.snapshot.threads;
        let all_loaded = page.offset == 0 && page.rows.len() as u64 >= page.total;
        self.paging.pending_move = 0;
        if all_loaded {
            let last = page.rows.len().saturating_sub(1);
            self.threads.select(Some(if bottom { last } else { 0 }));
            self.remember(Panel::Threads);
            if let Some(row) = self
                .snapshot
                .threads
                .rows
                .get(self.threads.selected().unwrap_or(0))
            {
                self.paging.anchor = ThreadAnchor::Around(ThreadKey::of(row));
            }
            self.paging.dirty = true;
            return Vec::new();
        }
        self.paging.anchor = if bottom {
            ThreadAnchor::Bottom
        } else {
            ThreadAnchor::Top
        };
        self.paging.jump = Some(bottom);
        self.send_thread_query()
    }

    pub(super) fn threads_resorted(&mut self) -> Vec<Effect> {
        // The new order is loaded around the same thread.
        self.anchor_at_cursor();
        self.send_thread_query()
    }

    /// The window follows the thread the cursor is on now.
    fn anchor_at_cursor(&mut self) {
        let sel = self.threads.selected().unwrap_or(0);
        if let Some(row) = self.snapshot.threads.rows.get(sel) {
            self.paging.anchor = ThreadAnchor::Around(ThreadKey::of(row));
        }
    }

    /// A new page arrived: finish a jump or a page move that waited for it.
    pub(super) fn threads_arrived(&mut self) {
        let len = self.snapshot.threads.rows.len();
        if len == 0 {
            return;
        }
        // Only the page that answers the query sent finishes what waited
        // for it; an older one (a refresh already on its way) does not.
        if self.snapshot.threads.query.anchor != self.paging.anchor {
            return;
        }
        let mut moved = false;
        if let Some(bottom) = self.paging.jump.take() {
            self.threads.select(Some(if bottom { len - 1 } else { 0 }));
            moved = true;
        }
        if self.paging.pending_move != 0 {
            let by = std::mem::take(&mut self.paging.pending_move);
            let sel = self.threads.selected().unwrap_or(0) as i64;
            self.threads
                .select(Some((sel + by).clamp(0, len as i64 - 1) as usize));
            moved = true;
        }
        if moved {
            self.remember(Panel::Threads);
            // From here the window follows the thread the cursor is on.
            self.anchor_at_cursor();
            self.paging.dirty = true;
        }
    }

    /// Once a second: tell the engine where the cursor went, so its next
    /// re-read keeps the cursor's thread in the window.
    pub(super) fn thread_anchor_due(&mut self) -> Vec<Effect> {
        if !self.paging.dirty || self.paused {
            return Vec::new();
        }
        self.send_thread_query()
    }

    /// `row 1,201–1,700 of 99,338`, or `500 of 99,338` from the top.
    pub fn threads_span(&self) -> String {
        let p = &self.snapshot.threads;
        let n = p.rows.len() as u64;
        if p.offset == 0 {
            format!("{} of {}", group(n), group(p.total))
        } else {
            format!(
                "{}–{} of {}",
                group(p.offset + 1),
                group(p.offset + n),
                group(p.total)
            )
        }
    }
}
