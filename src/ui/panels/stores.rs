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

/// `99338` → `99.3k`, `1234567` → `1.2M`.
fn short(n: i64) -> String {
    if n < 1_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        format!("{:.1}M", n as f64 / 1e6)
    }
}

impl Widget for StoresPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let s = &self.figures.stores;
        let r = &self.figures.reliability;
        // A panel too narrow for the threads line keeps every number by
        // shortening them.
        let full = format!(
            "{:<9} active {}  idle {}  closed {}",
            "",
            get(&s.threads, "active"),
            get(&s.threads, "idle"),
            get(&s.threads, "closed")
        );
        let narrow = full.chars().count() + 1 > usize::from(area.width.saturating_sub(2));
        let label = |l: &str| Span::styled(format!("{l:<9} "), t.header());
        let num = |n: i64| if narrow { short(n) } else { n.to_string() };
        let gap = if narrow { " " } else { "  " };
        let pending = get(&s.extract_candidates, "pending");
        let lines = vec![
            Line::from(vec![
                label("threads"),
                Span::styled(format!("active {}", num(get(&s.threads, "active"))), t.ok()),
                Span::raw(format!("{gap}idle {}", num(get(&s.threads, "idle")))),
                Span::styled(
                    format!("{gap}closed {}", num(get(&s.threads, "closed"))),
                    t.dim(),
                ),
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
                Span::raw(format!("{}{gap}dialog {}", num(s.notes), num(s.dialog))),
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
        let title = self.figures.layout.describe().to_string();
        Paragraph::new(lines)
            .block(block(Panel::Stores, &title, self.focused, t))
            .render(area, buf);
    }
}
