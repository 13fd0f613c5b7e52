//! What every list panel has in common: the rows it shows (filtered and
//! sorted in one place, so drawing and acting agree), a cursor that stays
//! on its item rather than its row number, and moving by line or page.

use std::sync::Arc;

use ratatui::widgets::TableState;

use super::App;
use crate::loops::reaper::SessionRow;
use crate::loops::watchdog::BridgeRow;
use crate::store::snapshot::OutcomeFigures;
use crate::ui::keys::Panel;
use crate::ui::panels::loops::LoopRow;

/// The Loops panel's rows, kept with the snapshot (held, so its address
/// names it alone), filter and order they were built from.
pub(super) struct LoopRowsMemo {
    snapshot: Arc<crate::engine::Snapshot>,
    needle: String,
    sort: SortBy,
    rows: Arc<[LoopRow]>,
}

/// A panel's sort: which of its columns, and which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SortBy {
    pub column: usize,
    pub reverse: bool,
}

/// The columns `S` cycles through, per panel; empty: not sortable.
pub fn sort_columns(p: Panel) -> &'static [&'static str] {
    match p {
        Panel::Threads => &["touched", "age", "state", "id"],
        Panel::Loops => &["name", "rate", "last fire"],
        Panel::Sessions => &["idle", "age", "name"],
        Panel::Tasks | Panel::Jobs => &["state", "age"],
        _ => &[],
    }
}

pub(super) fn slot(p: Panel) -> usize {
    p.number() - 1
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn has(hay: &str, needle: &str) -> bool {
    needle.is_empty() || lower(hay).contains(needle)
}

impl App {
    pub fn sort_of(&self, p: Panel) -> SortBy {
        self.sorts[slot(p)]
    }

    /// `▼idle` for a title: the column and the direction.
    pub fn sort_note(&self, p: Panel) -> String {
        let cols = sort_columns(p);
        let s = self.sort_of(p);
        match cols.get(s.column) {
            Some(name) => format!("  {}{name}", if s.reverse { "▲" } else { "▼" }),
            None => String::new(),
        }
    }

    /// The filter as a title shows it.
    pub fn filter_note(&self, p: Panel) -> String {
        self.inputs[slot(p)].shown(self.editing == Some(p))
    }

    pub(super) fn needle(&self, p: Panel) -> String {
        lower(self.inputs[slot(p)].text.trim())
    }

    /// The rows of the Loops panel, as drawn: keeper's own loops first (the
    /// keys act on them), then threadkeeper's in the chosen order.
    pub fn loop_rows(&self) -> Arc<[LoopRow]> {
        let needle = self.needle(Panel::Loops);
        let sort = self.sort_of(Panel::Loops);
        if let Some(m) = self.loop_rows.borrow().as_ref()
            && Arc::ptr_eq(&m.snapshot, &self.snapshot)
            && m.needle == needle
            && m.sort == sort
        {
            return Arc::clone(&m.rows);
        }
        let rows: Arc<[LoopRow]> = self.build_loop_rows(&needle).into();
        *self.loop_rows.borrow_mut() = Some(LoopRowsMemo {
            snapshot: Arc::clone(&self.snapshot),
            needle,
            sort,
            rows: Arc::clone(&rows),
        });
        rows
    }

    fn build_loop_rows(&self, needle: &str) -> Vec<LoopRow> {
        let rows: Vec<LoopRow> = LoopRow::build(&self.snapshot)
            .into_iter()
            .filter(|r| has(&r.label, needle) || has(&r.kind, needle))
            .collect();
        // keeper's own keep their place at the top, in their fixed order;
        // the sort orders threadkeeper's below them.
        let (mut rows, mut theirs): (Vec<LoopRow>, Vec<LoopRow>) =
            rows.into_iter().partition(|r| r.keeper.is_some());
        rows.sort_by_key(|r| r.keeper);
        let s = self.sort_of(Panel::Loops);
        theirs.sort_by(|a, b| {
            let o = match s.column {
                0 => a.label.cmp(&b.label),
                1 => b.fires_window.cmp(&a.fires_window),
                _ => b.last_at.cmp(&a.last_at),
            }
            .then_with(|| a.kind.cmp(&b.kind));
            if s.reverse { o.reverse() } else { o }
        });
        rows.extend(theirs);
        rows
    }

    pub fn outcome_rows(&self) -> Vec<&OutcomeFigures> {
        let needle = self.needle(Panel::Outcomes);
        self.snapshot
            .store
            .as_ref()
            .map(|f| {
                f.outcomes
                    .iter()
                    .filter(|o| has(&o.kind, &needle))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn session_list(&self) -> Vec<&SessionRow> {
        let Some(survey) = self.snapshot.sessions.as_ref() else {
            return Vec::new();
        };
        let needle = self.needle(Panel::Sessions);
        let mut rows: Vec<&SessionRow> = survey
            .rows
            .iter()
            .filter(|r| has(&r.session.name, &needle) || has(&r.reason, &needle))
            .collect();
        let s = self.sort_of(Panel::Sessions);
        rows.sort_by(|a, b| {
            let o = match s.column {
                // Idle longest first: where orphans are.
                0 => a.session.activity.cmp(&b.session.activity),
                // Oldest first.
                1 => a.session.created.cmp(&b.session.created),
                _ => a.session.name.cmp(&b.session.name),
            }
            .then_with(|| a.session.name.cmp(&b.session.name));
            if s.reverse { o.reverse() } else { o }
        });
        rows
    }

    pub fn bridge_rows(&self) -> Vec<&BridgeRow> {
        let needle = self.needle(Panel::Bridges);
        self.snapshot
            .bridges
            .iter()
            .filter(|b| has(&b.health.name, &needle))
            .collect()
    }

    /// The identity of each row, in order, for panels whose cursor follows
    /// its item here (Tasks, Jobs and the Log keep their own).
    fn keys_of(&self, p: Panel) -> Option<Vec<String>> {
        Some(match p {
            Panel::Loops => self.loop_rows().iter().map(|r| r.kind.clone()).collect(),
            Panel::Outcomes => self
                .outcome_rows()
                .into_iter()
                .map(|o| o.kind.clone())
                .collect(),
            Panel::Threads => self
                .snapshot
                .threads
                .rows
                .iter()
                .map(|t| t.id.clone())
                .collect(),
            Panel::Sessions => self
                .session_list()
                .into_iter()
                .map(|r| r.session.name.clone())
                .collect(),
            Panel::Bridges => self
                .bridge_rows()
                .into_iter()
                .map(|b| b.health.name.clone())
                .collect(),
            _ => return None,
        })
    }

    pub(super) fn table_mut(&mut self, p: Panel) -> Option<&mut TableState> {
        match p {
            Panel::Loops => Some(&mut self.loops),
            Panel::Outcomes => Some(&mut self.outcomes),
            Panel::Threads => Some(&mut self.threads),
            Panel::Sessions => Some(&mut self.sessions),
            Panel::Bridges => Some(&mut self.bridges),
            Panel::Tasks => Some(&mut self.tasks),
            Panel::Jobs => Some(&mut self.jobs),
            Panel::Log | Panel::Stores => None,
        }
    }

    /// After new rows: each cursor back on its item, wherever it went.
    pub(super) fn follow(&mut self, p: Panel) {
        let Some(keys) = self.keys_of(p) else {
            return;
        };
        let at = self.cursors[slot(p)]
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x == k));
        if let Some(state) = self.table_mut(p) {
            match at {
                Some(i) => state.select(Some(i)),
                None => super::clamp(state, keys.len()),
            }
        }
        // A list that lacks the item for a moment (a page that does not
        // hold it yet) does not make the cursor forget it; a move does.
        if at.is_some() || self.cursors[slot(p)].is_none() {
            self.remember(p);
        }
    }

    /// The cursor moved: remember what it is on now.
    pub(super) fn remember(&mut self, p: Panel) {
        let Some(keys) = self.keys_of(p) else {
            match p {
                Panel::Tasks => self.remember_task(),
                Panel::Jobs => self.remember_job(),
                _ => {}
            }
            return;
        };
        let at = self
            .table_mut(p)
            .and_then(|s| s.selected())
            .and_then(|i| keys.get(i).cloned());
        if at.is_some() {
            self.cursors[slot(p)] = at;
        }
    }

    /// Rows a page move skips: what the panel showed at the last draw.
    pub(super) fn page_rows(&self, p: Panel) -> usize {
        self.slots
            .iter()
            .find(|s| s.shown == p)
            .map_or(10, |s| usize::from(s.area.height.saturating_sub(4)).max(1))
    }

    /// Whether `p` was drawn at the last frame.
    pub fn on_screen(&self, p: Panel) -> bool {
        self.slots.iter().any(|s| s.shown == p)
    }
}
