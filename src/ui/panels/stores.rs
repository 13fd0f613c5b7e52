//! Stores: what is in the store, and the queues that should not grow.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::keys::Panel;
use super::super::theme::Theme;
use super::{block, bytes};
use crate::store::snapshot::{Group, StoreFigures};

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
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join("  ")
}

impl Widget for StoresPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let s = &self.figures.stores;
        let label = |l: &str| Span::styled(format!("{l:<10}"), t.header());
        let pending = get(&s.extract_candidates, "pending");
        let evolve_pending = get(&s.evolve, "pending");
        let lines = vec![
            Line::from(vec![
                label("threads"),
                Span::styled(format!("active {}", get(&s.threads, "active")), t.ok()),
                Span::raw(format!("  idle {}", get(&s.threads, "idle"))),
                Span::styled(format!("  closed {}", get(&s.threads, "closed")), t.dim()),
                Span::raw(format!("  ({})", s.threads_total)),
            ]),
            Line::from(vec![
                label("notes"),
                Span::raw(format!("{}   dialog {}", s.notes, s.dialog)),
            ]),
            Line::from(vec![
                label("knowledge"),
                Span::raw(format!("distill {}   concepts {}", s.distill, s.concepts)),
            ]),
            Line::from(vec![
                label("tasks"),
                Span::styled(
                    format!("running {}", s.tasks_running),
                    if s.tasks_running > 0 { t.ok() } else { t.dim() },
                ),
                Span::raw(format!(" / {}", s.tasks_total)),
            ]),
            Line::from(vec![
                label("pending"),
                Span::styled(
                    format!("candidates {pending}"),
                    if pending > 0 { t.warn() } else { t.dim() },
                ),
                Span::raw(format!("   evolve {evolve_pending}")),
            ]),
            Line::from(vec![label("skills"), Span::raw(group(&s.skills_by_tier))]),
            Line::from(vec![label("claims"), Span::raw(group(&s.claims_by_tier))]),
            Line::from(vec![
                label("probes"),
                Span::raw(format!(
                    "{}  results {}  weak {}  untested {}",
                    s.probes,
                    s.probe_results,
                    self.figures.reliability.weak_categories,
                    self.figures.reliability.untested_categories
                )),
            ]),
            Line::from(vec![
                label("file"),
                Span::raw(format!(
                    "db {}   wal {}",
                    bytes(s.db_bytes),
                    bytes(s.wal_bytes)
                )),
            ]),
        ];
        let layout = self.figures.layout;
        Paragraph::new(lines)
            .block(block(Panel::Stores, layout.describe(), self.focused, t))
            .render(area, buf);
    }
}
