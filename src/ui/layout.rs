//! Where each panel goes. The screen is three bands — Loops, the middle
//! (Stores and Outcomes beside Threads and the lower slot), Log with Bridges
//! — and the focused panel's band grows to what it needs, so whatever has
//! focus always shows its first rows. Panels that share a slot are drawn one
//! at a time: the focused one, else the one focused last.

use ratatui::layout::{Constraint, Layout, Rect};

use super::keys::Panel;

/// Below this the screen says so instead of drawing bare borders.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

/// Tab's order: bands top to bottom; in the middle, the left column top to
/// bottom, then the right one.
pub const SCREEN_ORDER: [Panel; 9] = [
    Panel::Loops,
    Panel::Stores,
    Panel::Outcomes,
    Panel::Threads,
    Panel::Sessions,
    Panel::Tasks,
    Panel::Jobs,
    Panel::Log,
    Panel::Bridges,
];

/// One place on screen and the panels that take turns in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub area: Rect,
    pub panels: Vec<Panel>,
    pub shown: Panel,
}

impl Slot {
    /// The panels drawn elsewhere-in-time here, for the title.
    pub fn others(&self) -> impl Iterator<Item = Panel> + '_ {
        self.panels
            .iter()
            .copied()
            .filter(move |p| *p != self.shown)
    }
}

/// What the layout needs to know besides the area.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub focus: Panel,
    pub zoomed: bool,
    pub bridges: bool,
    /// Rows of data each banded panel would like (Loops, Log, Bridges).
    pub loops_rows: u16,
    /// Of those, keeper's own (listed first).
    pub keeper_rows: u16,
    pub bridges_rows: u16,
    /// Which panel each shared slot showed last.
    pub last_left: Panel,
    pub last_right: Panel,
    pub last_lower: Panel,
}

/// Borders and a header row.
const TABLE_CHROME: u16 = 3;

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Lay out the body (the screen minus title and status rows).
pub fn slots(body: Rect, w: &Want) -> Vec<Slot> {
    if w.zoomed {
        return vec![Slot {
            area: body,
            panels: vec![w.focus],
            shown: w.focus,
        }];
    }
    let h = body.height;
    let compact = h < 28;
    let narrow = body.width < 80;
    let focus_band = match w.focus {
        Panel::Loops => Band::Loops,
        Panel::Log | Panel::Bridges => Band::Bottom,
        _ => Band::Middle,
    };
    // What each band gets when it does not have focus.
    // keeper's own loops (the ones the keys act on) fit when there is
    // room; threadkeeper's scroll below them.
    let loops_base = if compact {
        (w.loops_rows + TABLE_CHROME).min(if h >= 20 { 6 } else { 4 })
    } else {
        (w.loops_rows + TABLE_CHROME).min((h * 3 / 10).max(w.keeper_rows + TABLE_CHROME))
    };
    let bottom_base = if compact { 3 } else { 6 };
    let middle_min = if compact { 4 } else { 8 };
    let (loops_h, bottom_h) = match focus_band {
        Band::Loops => {
            // Room for its rows, but never more than two thirds: the
            // panels below stay in sight, and the rest scrolls.
            let need = w.loops_rows + TABLE_CHROME;
            let cap = (h * 2 / 3).min(h.saturating_sub(bottom_base + middle_min));
            (need.clamp(loops_base.min(cap), cap), bottom_base)
        }
        Band::Bottom => {
            let need = if w.focus == Panel::Bridges {
                w.bridges_rows + TABLE_CHROME
            } else {
                h / 2
            };
            let room = h.saturating_sub(4 + middle_min);
            (
                4.min(loops_base),
                need.clamp(bottom_base, room.max(bottom_base)),
            )
        }
        // The middle needs room for a header and some rows: the bands
        // around it give way on a short screen.
        Band::Middle if compact => (loops_base, 3),
        Band::Middle => (loops_base, bottom_base),
    };
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(loops_h),
        Constraint::Fill(1),
        Constraint::Length(bottom_h),
    ])
    .areas(body);
    let mut out = vec![Slot {
        area: top,
        panels: vec![Panel::Loops],
        shown: Panel::Loops,
    }];
    out.extend(middle_slots(middle, w, compact, narrow));
    if w.bridges {
        // Whichever of the two has focus gets the width.
        let split = match w.focus {
            Panel::Bridges => [Constraint::Fill(1), Constraint::Fill(3)],
            Panel::Log => [Constraint::Fill(2), Constraint::Fill(1)],
            _ => [Constraint::Fill(1), Constraint::Fill(2)],
        };
        let [log, bridges] = Layout::horizontal(split).areas(bottom);
        out.push(single(log, Panel::Log));
        out.push(single(bridges, Panel::Bridges));
    } else {
        out.push(single(bottom, Panel::Log));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Loops,
    Middle,
    Bottom,
}

fn single(area: Rect, p: Panel) -> Slot {
    Slot {
        area,
        panels: vec![p],
        shown: p,
    }
}

fn shared(area: Rect, panels: &[Panel], focus: Panel, last: Panel) -> Slot {
    let shown = if panels.contains(&focus) {
        focus
    } else if panels.contains(&last) {
        last
    } else {
        panels[0]
    };
    Slot {
        area,
        panels: panels.to_vec(),
        shown,
    }
}

const LEFT: [Panel; 2] = [Panel::Stores, Panel::Outcomes];
const LOWER: [Panel; 3] = [Panel::Sessions, Panel::Tasks, Panel::Jobs];
const RIGHT: [Panel; 4] = [Panel::Threads, Panel::Sessions, Panel::Tasks, Panel::Jobs];

fn middle_slots(area: Rect, w: &Want, compact: bool, narrow: bool) -> Vec<Slot> {
    let f = w.focus;
    if narrow {
        // One column: the side panels and the lists take turns.
        let all: Vec<Panel> = SCREEN_ORDER
            .into_iter()
            .filter(|p| !matches!(p, Panel::Loops | Panel::Log | Panel::Bridges))
            .collect();
        return vec![shared(area, &all, f, w.last_right)];
    }
    // On a narrow screen the column with focus gets the width.
    let right_focused = RIGHT.contains(&f);
    let side = if area.width >= 150 {
        56
    } else if area.width >= 120 {
        46
    } else if right_focused {
        (area.width / 3).max(26)
    } else {
        (area.width / 2).max(42)
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(side), Constraint::Fill(1)]).areas(area);
    let mut out = Vec::new();
    if compact {
        out.push(shared(left, &LEFT, f, w.last_left));
        out.push(shared(right, &RIGHT, f, w.last_right));
        return out;
    }
    let stores_h = super::panels::stores::LINES + 2;
    let outcomes_focused = f == Panel::Outcomes && left.height < stores_h + 8;
    if outcomes_focused {
        out.push(shared(left, &LEFT, f, w.last_left));
    } else {
        let [s, o] =
            Layout::vertical([Constraint::Length(stores_h), Constraint::Fill(1)]).areas(left);
        out.push(single(s, Panel::Stores));
        out.push(single(o, Panel::Outcomes));
    }
    let lower_focused = LOWER.contains(&f);
    let split = if lower_focused {
        [Constraint::Fill(2), Constraint::Fill(3)]
    } else {
        [Constraint::Fill(3), Constraint::Fill(2)]
    };
    let [th, lo] = Layout::vertical(split).areas(right);
    out.push(single(th, Panel::Threads));
    out.push(shared(lo, &LOWER, f, w.last_lower));
    out
}
