//! Loops: how often each loop fires, when it last did, a 24-hour sparkline,
//! and for keeper's own loops the schedule and a verdict. A loop that fires
//! while the outcomes it exists to produce stay flat is flagged.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, StatefulWidget, TableState};

use super::super::ages::Ages;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::table::{Chrome, TableParts};
use super::{block, shown};
use crate::engine::{LoopStatus, Snapshot, Verdict};
use crate::loops::LoopId;
use crate::report::fmt_age;
use crate::store::events::AUTO_CLOSED;
use crate::store::snapshot::loop_label;

/// Which outcomes a loop exists to produce (`accept_candidate*`: any
/// accept kind). The reaper and the watchdog are not here: for them no
/// outcome means nothing was wrong, not wasted work.
const PRODUCES: &[(&str, &[&str])] = &[
    (
        "shadow_review_pass",
        &["skill_materialized", "lesson_append", "tier_promoted"],
    ),
    (
        "candidate_review_pass",
        &["accept_candidate*", "reject_candidate"],
    ),
    (
        "curator_pass",
        &[
            "lesson_append",
            "lesson_remove",
            "tier_promoted",
            "tier_demoted",
            "skill_tier_promoted",
        ],
    ),
    (
        "evolve_apply_pass",
        &[
            "evolve_applied",
            "curator_report_applied",
            "roadmap_issue_applied",
        ],
    ),
    ("dialectic_mine_pass", &["dialectic_claim"]),
    ("janitor_pass", &[AUTO_CLOSED]),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopRow {
    pub kind: String,
    pub label: String,
    pub fires_window: u64,
    pub fires_30d: u64,
    pub last_at: Option<i64>,
    pub by_hour: Vec<u32>,
    /// Set for loops keeper-tui runs itself.
    pub keeper: Option<LoopId>,
    pub status: Option<LoopStatus>,
    /// Outcomes this loop produced in the window, when known.
    pub produced: Option<u64>,
}

impl LoopRow {
    /// Every loop the store has seen, plus keeper's own loops even before
    /// their first pass.
    pub fn build(snap: &Snapshot) -> Vec<LoopRow> {
        let mut rows: Vec<LoopRow> = Vec::new();
        if let Some(f) = &snap.store {
            for l in &f.loops {
                let produced = PRODUCES
                    .iter()
                    .find(|(k, _)| *k == l.kind)
                    .map(|(_, outs)| {
                        let listed: u64 = f
                            .outcomes
                            .iter()
                            .filter(|o| outs.contains(&o.kind.as_str()))
                            .map(|o| o.window)
                            .sum();
                        let accepted = if outs.contains(&"accept_candidate*") {
                            f.candidate_accept_rate.accepted_window
                        } else {
                            0
                        };
                        listed + accepted
                    });
                rows.push(LoopRow {
                    kind: l.kind.clone(),
                    label: l.label.clone(),
                    fires_window: l.fires_window,
                    fires_30d: l.fires_30d,
                    last_at: l.last_at,
                    by_hour: l.fires_by_hour.clone(),
                    keeper: None,
                    status: None,
                    produced,
                });
            }
        }
        for status in &snap.loops {
            let kind = status.id.pass_kind();
            match rows.iter_mut().find(|r| r.kind == kind) {
                Some(r) => {
                    r.keeper = Some(status.id);
                    r.status = Some(status.clone());
                }
                None => rows.push(LoopRow {
                    kind: kind.into(),
                    label: loop_label(kind),
                    fires_window: 0,
                    fires_30d: 0,
                    last_at: None,
                    by_hour: vec![0; 24],
                    keeper: Some(status.id),
                    status: Some(status.clone()),
                    produced: None,
                }),
            }
        }
        // keeper's own loops first: they are the ones the keys act on.
        rows.sort_by_key(|r| r.keeper.is_none());
        rows
    }

    /// Fires in the window while its outcomes stayed flat.
    pub fn flat(&self) -> bool {
        self.fires_window > 0 && self.produced == Some(0)
    }
}

/// The verdict on one of keeper's loops (`None`: threadkeeper runs it,
/// shown as `ext`) and its last pass's result.
pub fn verdict(row: &LoopRow, now: i64, read_only: bool) -> (Option<Verdict>, String) {
    let Some(s) = &row.status else {
        return (None, String::new());
    };
    let last = s
        .last
        .as_ref()
        .map(|l| l.summary.clone())
        .unwrap_or_default();
    (Some(Verdict::of(s, now, read_only)), last)
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// 24 characters, one per hour, oldest first; `·` for an hour with none.
pub fn sparkline(by_hour: &[u32]) -> String {
    let max = by_hour.iter().copied().max().unwrap_or(0);
    by_hour
        .iter()
        .map(|&n| {
            if n == 0 || max == 0 {
                '·'
            } else {
                // The busiest hour is a full bar; any fire shows at least `▁`.
                BARS[((n as usize * BARS.len()).div_ceil(max as usize) - 1).min(BARS.len() - 1)]
            }
        })
        .collect()
}

pub struct LoopsPanel<'a> {
    pub rows: &'a [LoopRow],
    pub ages: &'a Ages,
    pub window_days: u32,
    pub read_only: bool,
    pub focused: bool,
    pub theme: Theme,
    /// Sort and filter, for the title.
    pub note: &'a str,
}

impl LoopsPanel<'_> {
    /// `every 2m · next 40s` for keeper's loops; empty for threadkeeper's.
    fn schedule(&self, r: &LoopRow, ages: &Ages) -> String {
        let Some(s) = &r.status else {
            return String::new();
        };
        match s.interval_secs {
            None => String::new(),
            Some(i) => {
                let next = s
                    .next_due
                    .filter(|_| !self.read_only)
                    .map_or_else(String::new, |due| {
                        if due <= ages.now() {
                            " · due".into()
                        } else {
                            format!(" · next {}", ages.until(due))
                        }
                    });
                format!(" · every {}{next}", fmt_age(i as i64))
            }
        }
    }

    /// The sparkline column needs the room.
    fn spark(area: Rect) -> bool {
        area.width >= 72
    }

    /// Everything the panel draws in `area` but its rows.
    pub fn chrome(&self, area: Rect) -> Chrome {
        let t = self.theme;
        let spark = Self::spark(area);
        let mut header = vec![
            "loop".to_string(),
            format!("{}d", self.window_days),
            "30d".into(),
            "last".into(),
        ];
        if spark {
            header.push("fires/h, 24h".into());
        }
        header.push("state".into());
        // Wide enough for the longest label and its flag.
        let name_w = self
            .rows
            .iter()
            .map(|r| r.label.chars().count() + 2)
            .max()
            .unwrap_or(8)
            .clamp(8, 24);
        let mut widths = vec![
            Constraint::Length(name_w as u16),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(5),
        ];
        if spark {
            widths.push(Constraint::Length(24));
        }
        widths.push(Constraint::Fill(1));
        let title = format!("fires {}d / 30d{}", self.window_days, self.note);
        Chrome {
            block: block(Panel::Loops, &title, self.focused, t),
            header: Row::new(header).style(t.header()),
            widths,
            highlight: if self.focused {
                t.selected()
            } else {
                Style::new()
            },
            rows: self.rows.len(),
        }
    }

    /// Row `i` as drawn in `area` at `now`, and when its words about time
    /// next change.
    pub fn row(&self, i: usize, area: Rect, now: i64) -> (Row<'static>, Option<i64>) {
        let ages = Ages::at(now);
        let row = self.rows.get(i).map_or_else(Row::default, |r| {
            self.build_row(r, Self::spark(area), &ages)
        });
        (row, ages.next_change())
    }

    fn build_row(&self, r: &LoopRow, spark: bool, ages: &Ages) -> Row<'static> {
        let t = self.theme;
        let (verdict, last) = verdict(r, ages.now(), self.read_only);
        if let Some(s) = r.status.as_ref().filter(|_| !self.read_only) {
            Verdict::turns(s).for_each(|t| ages.mark(t));
        }
        let vstyle = match verdict {
            Some(Verdict::Ok | Verdict::Running) => t.ok(),
            Some(Verdict::Failing | Verdict::Dead) => t.bad(),
            Some(Verdict::Stale | Verdict::Held) => t.warn(),
            Some(Verdict::Disabled | Verdict::ReadOnly) | None => t.dim(),
        };
        let held = verdict == Some(Verdict::Held);
        let verdict = verdict.map_or("ext", Verdict::name);
        let flat = r.flat();
        let name = if flat {
            format!("{} ⚠", shown(&r.label))
        } else {
            shown(&r.label)
        };
        let mut cells = vec![
            Cell::from(name).style(if flat { t.warn() } else { Style::new() }),
            Cell::from(r.fires_window.to_string()),
            Cell::from(r.fires_30d.to_string()),
            Cell::from(
                r.last_at
                    .map_or_else(|| "never".into(), |at| ages.since(at)),
            ),
        ];
        if spark {
            cells.push(Cell::from(sparkline(&r.by_hour)).style(t.accent()));
        }
        let mut state_text = vec![
            Span::styled(verdict, vstyle),
            Span::raw(self.schedule(r, ages)),
        ];
        if flat {
            state_text.push(Span::styled(" · no outcomes in window", t.warn()));
        }
        if !last.is_empty() {
            state_text.push(Span::styled(format!(" · {last}"), t.dim()));
        }
        if held {
            state_text.push(Span::styled(" — f to review", t.warn()));
        }
        cells.push(Cell::from(Line::from(state_text)));
        Row::new(cells)
    }

    /// What the panel draws in `area`, as values.
    pub fn table(&self, area: Rect) -> TableParts {
        let (rows, changes) = (0..self.rows.len())
            .map(|i| self.row(i, area, self.ages.now()))
            .inspect(|(_, next)| {
                if let Some(t) = next {
                    self.ages.mark(*t);
                }
            })
            .unzip();
        TableParts {
            chrome: self.chrome(area),
            rows,
            changes,
        }
    }
}

impl StatefulWidget for LoopsPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        self.table(area).render(area, buf, state);
    }
}

/// Outcome kinds that the flagged (firing but flat) loops should produce.
pub fn starved_outcomes(rows: &[LoopRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.flat())
        .filter_map(|r| PRODUCES.iter().find(|(k, _)| *k == r.kind))
        .flat_map(|(_, outs)| outs.iter().map(|o| o.trim_end_matches('*').to_string()))
        .collect()
}
