//! Stores: what is in the store, and the queues that should not grow.
//! Lines come most important first, so a short panel keeps what matters.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, bytes, shown};
use crate::store::snapshot::{Group, StoreFigures};

/// Lines of content when nothing is cut.
pub const LINES: u16 = 9;

pub struct StoresPanel<'a> {
    pub figures: &'a StoreFigures,
    pub focused: bool,
    pub theme: Theme,
    /// Names a panel sharing this slot in the compact layout.
    pub other: &'a str,
}

fn get(g: &Group, key: &str) -> i64 {
    g.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

fn group(g: &Group) -> String {
    if g.is_empty() {
        return "—".into();
    }
    g.iter()
        .map(|(k, n)| format!("{} {n}", shown(k)))
        .collect::<Vec<_>>()
        .join("  ")
}

impl Widget for StoresPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let s = &self.figures.stores;
        let r = &self.figures.reliability;
        let label = |l: &str| Span::styled(format!("{l:<9} "), t.header());
        let pending = get(&s.extract_candidates, "pending");
        let lines = vec![
            Line::from(vec![
                label("threads"),
                Span::styled(format!("active {}", get(&s.threads, "active")), t.ok()),
                Span::raw(format!("  idle {}", get(&s.threads, "idle"))),
                Span::styled(format!("  closed {}", get(&s.threads, "closed")), t.dim()),
            ]),
            Line::from(vec![
                label("tasks"),
                Span::styled(
                    format!("running {}", s.tasks_running),
                    if s.tasks_running > 0 { t.ok() } else { t.dim() },
                ),
                Span::raw(format!(" of {}", s.tasks_total)),
                // Where to see them and act on them.
                Span::styled("  → 8", t.dim()),
            ]),
            Line::from(vec![
                label("pending"),
                Span::styled(
                    format!("candidates {pending}"),
                    if pending > 0 { t.warn() } else { t.dim() },
                ),
                Span::raw(format!("  evolve {}", get(&s.evolve, "pending"))),
            ]),
            Line::from(vec![
                label("notes"),
                Span::raw(format!("{}  dialog {}", s.notes, s.dialog)),
            ]),
            Line::from(vec![
                label("file"),
                Span::raw(format!(
                    "db {}  wal {}",
                    bytes(s.db_bytes),
                    bytes(s.wal_bytes)
                )),
            ]),
            Line::from(vec![
                label("probes"),
                Span::raw(format!("{} ({} runs)", s.probes, s.probe_results)),
                Span::styled(
                    format!("  weak {}", r.weak_categories),
                    if r.weak_categories > 0 {
                        t.warn()
                    } else {
                        t.dim()
                    },
                ),
                Span::raw(format!("  untested {}", r.untested_categories)),
            ]),
            Line::from(vec![label("skills"), Span::raw(group(&s.skills_by_tier))]),
            Line::from(vec![label("claims"), Span::raw(group(&s.claims_by_tier))]),
            Line::from(vec![
                label("knowledge"),
                Span::raw(format!("distill {}  concepts {}", s.distill, s.concepts)),
            ]),
        ];
        debug_assert_eq!(lines.len(), LINES as usize);
        // Compact: say where the panel sharing this slot is (the layout
        // name is in `keeper-tui info`).
        let title = if self.other.is_empty() {
            self.figures.layout.describe().to_string()
        } else {
            format!("· {} here too", self.other)
        };
        Paragraph::new(lines)
            .block(block(Panel::Stores, &title, self.focused, t))
            .render(area, buf);
    }
}
