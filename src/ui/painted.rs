//! What the terminal shows, part by part. Between whole frames most ticks
//! of the clock move nothing but a few words about time ("12s", the
//! clock): such a tick draws again only the parts whose words moved and
//! writes only the cells that differ, instead of the whole screen.

use std::sync::Arc;

use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::Rect;

use super::app::App;
use super::keys::Panel;
use super::panels::table::{Again, TableMemo, cells_of};
use super::{draw, screen};
use crate::engine::Snapshot;

/// A part of the screen that can be drawn again on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The clock in the title row.
    Clock,
    /// The panel in this slot of the layout (`App::slots`).
    Slot(usize),
}

/// A part as last drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    pub part: Part,
    pub area: Rect,
    /// When its words about time next change; `None`: never by time alone.
    pub changes_at: Option<i64>,
    /// For a table panel: what it was drawn from, so a tick can draw
    /// again only its rows that changed.
    table: Option<TableMemo>,
    /// Something it shows moved (not only time): every row is looked at.
    moved: bool,
    /// What the terminal shows there, once drawn again since the last
    /// whole frame.
    shown: Option<Buffer>,
    /// A buffer of its size to draw into next, so a tick allocates none.
    spare: Option<Buffer>,
}

impl Drawn {
    pub fn new(part: Part, area: Rect, changes_at: Option<i64>, table: Option<TableMemo>) -> Self {
        Drawn {
            part,
            area,
            changes_at,
            table,
            moved: false,
            shown: None,
            spare: None,
        }
    }
}

/// What a whole frame leaves the next ticks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parts {
    /// The parts cannot be drawn alone (a popup lies over the panels): a
    /// tick draws the whole screen.
    Whole,
    Each(Vec<Drawn>),
}

pub use super::panels::table::Change;

/// What the terminal shows: the last whole frame, and each part drawn
/// again since.
pub struct Painted {
    frame: Buffer,
    parts: Parts,
    /// The moment the screen was last drawn for, whole or in part.
    at: i64,
}

impl Default for Painted {
    fn default() -> Self {
        Painted {
            frame: Buffer::empty(Rect::ZERO),
            parts: Parts::Whole,
            at: i64::MIN,
        }
    }
}

impl Painted {
    /// A whole frame was drawn and written the terminal's way: the cells it
    /// may have left as they were in the areas patched since the last one.
    ///
    /// The terminal's copy of the last frame does not have the parts drawn
    /// again since, so its diff can leave a cell there that should change.
    pub fn whole(&mut self, frame: &Buffer, parts: Parts, now: i64) -> Vec<Change> {
        self.at = now;
        let mut fix = Vec::new();
        // A new size clears the terminal: everything was written.
        if let (true, Parts::Each(old)) = (frame.area == self.frame.area, &self.parts) {
            for shown in old.iter().filter_map(|d| d.shown.as_ref()) {
                let new = cells_of(frame, shown.area);
                fix.extend(owned(shown.diff(&new)));
            }
        }
        self.frame = frame.clone();
        self.parts = parts;
        fix
    }

    /// Draw the panel again at the next tick, whatever its words about
    /// time say: something it shows moved (a time, a heartbeat).
    pub fn due(&mut self, panel: Panel, app: &App) {
        if let Parts::Each(parts) = &mut self.parts {
            for d in parts.iter_mut() {
                if matches!(d.part, Part::Slot(i) if app.slots.get(i).is_some_and(|s| s.shown == panel))
                {
                    d.changes_at = Some(i64::MIN);
                    d.moved = true;
                }
            }
        }
    }

    /// Nothing but time moved since the last frame, now `now`: the cells
    /// to write, or `None` when the whole screen must be drawn.
    pub fn tick(&mut self, app: &mut App, now: i64) -> Option<Vec<Change>> {
        // The moments parts wait for are the clock's: one stepped back
        // would leave them waiting.
        if now < self.at {
            return None;
        }
        self.at = now;
        let Parts::Each(parts) = &mut self.parts else {
            return None;
        };
        let mut changes = Vec::new();
        for d in parts
            .iter_mut()
            .filter(|d| d.changes_at.is_some_and(|t| t <= now))
        {
            // Checked before anything is taken: a whole frame after this
            // still needs to know what every part shows.
            let snap = Arc::clone(&app.snapshot);
            let slot = match d.part {
                Part::Clock => None,
                Part::Slot(i) => Some((
                    app.slots.get(i).filter(|s| s.area == d.area)?.clone(),
                    snap.store.as_ref()?,
                )),
            };
            let mut shown = d
                .shown
                .take()
                .unwrap_or_else(|| cells_of(&self.frame, d.area));
            let again = if std::mem::take(&mut d.moved) {
                Again::All
            } else {
                Again::Time(now)
            };
            // A table whose frame stayed: only its rows that moved.
            if let (Some((slot, _)), Some(memo)) = (&slot, d.table.as_mut())
                && let Some((next, cells)) =
                    screen::redraw_rows(&mut shown, app, slot, (now, again), memo)
            {
                d.changes_at = next;
                changes.extend(cells);
                d.shown = Some(shown);
                continue;
            }
            let mut fresh = match d.spare.take() {
                Some(mut b) => {
                    b.reset();
                    b
                }
                None => Buffer::empty(d.area),
            };
            (d.changes_at, d.table) = match &slot {
                None => (Some(draw::draw_clock(&mut fresh, d.area, app, now)), None),
                Some((slot, figures)) => screen::draw_slot(&mut fresh, app, slot, figures, now),
            };
            changes.extend(owned(shown.diff(&fresh)));
            d.shown = Some(fresh);
            d.spare = Some(shown);
        }
        Some(changes)
    }
}

fn owned(diff: Vec<(u16, u16, &Cell)>) -> impl Iterator<Item = Change> + '_ {
    diff.into_iter().map(|(x, y, c)| (x, y, c.clone()))
}

/// The panels a new snapshot changed, when nothing else on screen
/// depends on what moved (the layout, the title, the status bar, another
/// panel); `None`: something else moved too.
pub fn panels_moved(old: &Snapshot, new: &Snapshot) -> Option<Vec<Panel>> {
    // The Log's notices reach the status bar; the store's figures the
    // Loops, Stores and Outcomes panels, and through the loops they list,
    // the layout.
    let same_layout = match (old.store.as_deref(), new.store.as_deref()) {
        (Some(o), Some(n)) => o
            .loops
            .iter()
            .map(|l| &l.kind)
            .eq(n.loops.iter().map(|l| &l.kind)),
        (None, None) => true,
        _ => false,
    };
    let same_rest = same_layout
        && Arc::ptr_eq(&old.notices, &new.notices)
        && old.store_error == new.store_error
        && old.role == new.role
        && old.read_only == new.read_only
        && old.db_path == new.db_path
        // Row counts size the bands.
        && old.loops.len() == new.loops.len()
        && old.bridges.len() == new.bridges.len();
    same_rest.then(|| moved(old, new))
}

/// The panels whose rows a new snapshot may have changed.
pub fn moved(old: &Snapshot, new: &Snapshot) -> Vec<Panel> {
    let figures = !same(old.store.as_ref(), new.store.as_ref());
    let moved = [
        (figures, Panel::Stores),
        (figures, Panel::Outcomes),
        (figures || old.loops != new.loops, Panel::Loops),
        (!Arc::ptr_eq(&old.threads, &new.threads), Panel::Threads),
        (old.sessions != new.sessions, Panel::Sessions),
        (!same(old.tasks.as_ref(), new.tasks.as_ref()), Panel::Tasks),
        (!same(old.jobs.as_ref(), new.jobs.as_ref()), Panel::Jobs),
        (old.bridges != new.bridges, Panel::Bridges),
    ];
    moved.into_iter().filter(|m| m.0).map(|m| m.1).collect()
}

/// The same shared value, or both absent.
fn same<T>(a: Option<&Arc<T>>, b: Option<&Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}
