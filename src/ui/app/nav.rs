//! Moving around a list — by line, by page, to either end — and choosing
//! its order. Threads are paged from the store: a move past the loaded
//! rows asks the engine for the rows around the cursor.

use std::time::{Duration, Instant};

use super::{App, Effect, Purpose, lists};
use crate::engine::Command;
use crate::loops::LoopId;
use crate::ui::keys::{Action, Panel};

/// How often the Sessions panel, while on screen, asks tmux again.
const SESSIONS_LOOK_EVERY: Duration = Duration::from_secs(2);

/// Whether a look `every` apart is due at a tick of the 1 s clock. Ticks
/// drift by a little each time: half a tick of slack keeps a 2 s look at
/// every other tick instead of slipping to the third.
pub(super) fn look_due(last: Option<Instant>, now: Instant, every: Duration) -> bool {
    last.is_none_or(|t| now + Duration::from_millis(500) >= t + every)
}

impl App {
    /// The keys that move around a list, zoom and sort.
    pub(super) fn navigate(&mut self, action: Action) -> Vec<Effect> {
        let p = self.focus;
        match action {
            Action::Zoom => {
                self.zoomed = !self.zoomed;
                Vec::new()
            }
            Action::SortNext | Action::SortPrev | Action::SortReverse => self.sort_step(action),
            _ if p == Panel::Log => {
                self.mv_log(action);
                Vec::new()
            }
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(self.page_rows(p) as i64),
            Action::PageUp => self.move_by(-(self.page_rows(p) as i64)),
            Action::Top => self.move_to_end(false),
            _ => self.move_to_end(true),
        }
    }

    /// Move the cursor `by` rows (negative: up), stopping at the ends.
    pub(super) fn move_by(&mut self, by: i64) -> Vec<Effect> {
        // `g j j j` typed at once: the moves count from the row the jump
        // lands on, once its page is here.
        if self.focus == Panel::Threads && self.paging.jump.is_some() {
            self.paging.pending_move += by;
            return Vec::new();
        }
        let before = self.threads.selected().unwrap_or(0);
        self.mv(|at, len| {
            let to = at as i64 + by;
            to.clamp(0, len as i64 - 1) as usize
        });
        if self.focus == Panel::Threads {
            return self.threads_moved(by, before);
        }
        Vec::new()
    }

    pub(super) fn move_to_end(&mut self, bottom: bool) -> Vec<Effect> {
        if self.focus == Panel::Threads {
            return self.threads_to_end(bottom);
        }
        if bottom {
            self.mv(|_, len| len - 1);
        } else {
            self.mv(|_, _| 0);
        }
        Vec::new()
    }

    /// `S`/`>`, `<`, `I`: the next or previous column, or the other way.
    pub(super) fn sort_step(&mut self, action: Action) -> Vec<Effect> {
        let p = self.focus;
        let n = lists::sort_columns(p).len();
        if n == 0 {
            return Vec::new();
        }
        let s = &mut self.sorts[lists::slot(p)];
        match action {
            Action::SortNext => s.column = (s.column + 1) % n,
            Action::SortPrev => s.column = (s.column + n - 1) % n,
            _ => s.reverse = !s.reverse,
        }
        let note = self.sort_note(p);
        self.say(format!("{}{note}", p.title()), false);
        if p == Panel::Threads {
            return self.threads_resorted();
        }
        // The cursor stays on its item wherever the new order puts it.
        match p {
            Panel::Tasks => self.follow_task(),
            Panel::Jobs => self.follow_job(),
            p => self.follow(p),
        }
        Vec::new()
    }

    /// Once a second: while Sessions is on screen, a look every two
    /// seconds, so new sessions show at once. The reaper lists tmux again
    /// only when the server's panes came or went, or its listing is old.
    pub(super) fn sessions_look_due(&mut self, now: Instant) -> Vec<Effect> {
        let due = look_due(self.last_sessions_look, now, SESSIONS_LOOK_EVERY);
        if !self.on_screen(Panel::Sessions) || !due || self.paused {
            return Vec::new();
        }
        self.last_sessions_look = Some(now);
        vec![Effect::Send(
            Command::ObserveLoop(LoopId::Reaper),
            Purpose::Silent,
        )]
    }
}
