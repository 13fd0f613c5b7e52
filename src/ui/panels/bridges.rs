//! Bridges: each supervised process — pid, alive, heartbeat age, version
//! stamp against the current one, tier, failures, breaker, last action.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::super::ages::Ages;
use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, clip, shown};
use crate::loops::watchdog::BridgeRow;
use crate::sys::process::Liveness;

pub struct BridgesPanel<'a> {
    /// The rows listed: through the panel's filter.
    pub rows: &'a [BridgeRow],
    /// Every supervised process, before the filter.
    pub total: usize,
    /// The filter, for the title.
    pub note: &'a str,
    pub ages: &'a Ages,
    pub focused: bool,
    pub theme: Theme,
}

fn version(r: &BridgeRow) -> String {
    let short = |v: &str| v.chars().take(8).collect::<String>();
    match (&r.health.stamp, &r.health.current) {
        (None, _) => "—".into(),
        (Some(s), None) => short(s),
        (Some(s), Some(c)) if s == c => format!("{} current", short(s)),
        (Some(s), Some(c)) => format!("{} ≠ {}", short(s), short(c)),
    }
}

/// Below this width a row keeps what tells a hung bridge from a healthy
/// one: name, pid, alive, heartbeat age, tier and health.
const NARROW: u16 = 90;

fn pick<T>(all: Vec<T>, narrow: bool) -> Vec<T> {
    if !narrow {
        return all;
    }
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 3 | 5 | 7))
        .map(|(_, x)| x)
        .collect()
}

impl BridgesPanel<'_> {
    fn row(&self, r: &BridgeRow, narrow: bool) -> Row<'static> {
        let t = self.theme;
        let h = &r.health;
        let broken = r.state.failures >= r.breaker_limit;
        let (alive, style) = match &h.liveness {
            Liveness::Alive(_) => ("alive", t.ok()),
            Liveness::Dead => ("dead", t.bad()),
            Liveness::Zombie(_) => ("zombie", t.bad()),
            Liveness::NotOurs { .. } => ("not ours", t.bad()),
        };
        let beat = h
            .heartbeat_at
            .map_or_else(|| "none".into(), |at| self.ages.since(at));
        let last = if r.state.last_action.is_empty() {
            String::new()
        } else {
            // The row already names the process.
            let prefix = format!("{} ", h.name);
            let text = r
                .state
                .last_action
                .strip_prefix(&prefix)
                .unwrap_or(&r.state.last_action);
            // A reset leaves no action time: say what, not when.
            if r.state.last_action_at > 0 {
                format!("{} ago: {text}", self.ages.since(r.state.last_action_at))
            } else {
                text.to_string()
            }
        };
        let health = if broken {
            "BROKEN".to_string()
        } else if h.healthy() {
            "healthy".into()
        } else {
            clip(&h.why(), 22)
        };
        let cells = vec![
            Cell::from(shown(&h.name)),
            Cell::from(
                h.liveness
                    .pid()
                    .map_or_else(|| "—".into(), |p| p.to_string()),
            ),
            Cell::from(alive).style(style),
            Cell::from(beat).style(if h.stale { t.warn() } else { Style::new() }),
            Cell::from(shown(&version(r))).style(if h.mismatch { t.warn() } else { Style::new() }),
            Cell::from(r.state.tier.to_string()),
            Cell::from(format!("{}/{}", r.state.failures, r.breaker_limit)).style(if broken {
                t.bad()
            } else {
                Style::new()
            }),
            Cell::from(health).style(if broken {
                t.bad()
            } else if h.healthy() {
                t.ok()
            } else {
                t.warn()
            }),
            Cell::from(shown(&last)).style(t.dim()),
        ];
        Row::new(pick(cells, narrow))
    }
}

impl StatefulWidget for BridgesPanel<'_> {
    type State = TableState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut TableState) {
        let t = self.theme;
        let narrow = area.width < NARROW;
        let rows = self.rows.iter().map(|r| self.row(r, narrow));
        let widths = vec![
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(17),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(22),
            Constraint::Fill(1),
        ];
        let header = vec![
            "process",
            "pid",
            "",
            "beat",
            "version",
            "tier",
            "fail",
            "health",
            "last action",
        ];
        let widths = if narrow {
            vec![
                Constraint::Length(14),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(5),
                Constraint::Length(4),
                Constraint::Fill(1),
            ]
        } else {
            widths
        };
        Table::new(rows, widths)
            .header(Row::new(pick(header, narrow)).style(t.header()))
            .row_highlight_style(if self.focused {
                t.selected()
            } else {
                Style::new()
            })
            .block(block(
                Panel::Bridges,
                &if self.rows.len() == self.total {
                    format!("{} supervised{}", self.total, self.note)
                } else {
                    format!(
                        "{} of {} supervised{}",
                        self.rows.len(),
                        self.total,
                        self.note
                    )
                },
                self.focused,
                t,
            ))
            .render(area, buf, state);
    }
}
