//! Drawing the whole screen: title, panels (see `screen`), status bar and
//! any popup over them, into a buffer.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, StatefulWidget, Widget, Wrap};

use super::app::{App, Popup};
use super::keys::{Action, active};
use super::painted::{Drawn, Part, Parts};
use super::panels::log::LogPanel;
use super::popups::confirm::ConfirmPopup;
use super::popups::detail::DetailPopup;
use super::popups::help::HelpPopup;
use super::{layout, panels, popups, screen, theme};

/// Draw the whole screen from the app state, with ages measured at `now`.
pub fn draw(frame: &mut Frame<'_>, app: &mut App, now: i64) {
    let area = frame.area();
    draw_parts(frame.buffer_mut(), area, app, now);
}

/// Draw the whole screen into `buf`; what a later tick of the clock may
/// redraw on its own.
pub fn draw_parts(buf: &mut Buffer, area: Rect, app: &mut App, now: i64) -> Parts {
    app.too_small = layout::too_small(area);
    if app.too_small {
        app.slots.clear();
        draw_too_small(buf, area, app);
        // Nothing on it tells the time.
        return Parts::Each(Vec::new());
    }
    let [title, main, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let clock = draw_title(buf, title, app, now);
    let mut parts = vec![Drawn::new(Part::Clock, clock, Some(now + 1), None)];
    draw_status(buf, status, app);
    // The snapshot is shared, not copied: an `Arc` clone per frame.
    let snap = Arc::clone(&app.snapshot);
    if let Some(figures) = &snap.store {
        let changes = screen::draw_panels(buf, main, app, figures, now);
        parts.extend(app.slots.iter().zip(changes).enumerate().map(
            |(i, (slot, (changes_at, table)))| {
                Drawn::new(Part::Slot(i), slot.area, changes_at, table)
            },
        ));
    } else {
        // No panels drawn: nothing for the mouse to land on.
        app.slots.clear();
        draw_store_error(buf, main, app);
    }
    let theme = app.theme;
    if matches!(app.popup, Some(Popup::Help { .. })) {
        app.help_max_scroll = HelpPopup { scroll: 0, theme }.max_scroll(main);
    }
    match &mut app.popup {
        Some(Popup::Detail { text, scroll, .. }) => {
            *scroll = (*scroll).min(popups::detail::max_scroll(main, text));
        }
        Some(Popup::Help { scroll }) => *scroll = (*scroll).min(app.help_max_scroll),
        _ => {}
    }
    match &app.popup {
        Some(Popup::Help { scroll }) => HelpPopup {
            scroll: *scroll,
            theme,
        }
        .render(main, buf),
        Some(Popup::Detail {
            title,
            text,
            scroll,
        }) => {
            DetailPopup {
                title,
                text,
                scroll: *scroll,
                theme,
            }
            .render(main, buf);
        }
        Some(Popup::Confirm(c)) => ConfirmPopup { confirm: c, theme }.render(main, buf),
        None => {}
    }
    // A popup lies over the panels: a part redrawn alone would cover it.
    if app.popup.is_some() {
        Parts::Whole
    } else {
        Parts::Each(parts)
    }
}

/// Bare borders would hide what the keys act on: say what is needed.
fn draw_too_small(buf: &mut Buffer, a: Rect, app: &App) {
    let t = app.theme;
    let mut lines = vec![
        Line::from(Span::styled("terminal too small", t.bad())),
        Line::from(format!(
            "need {}×{}, have {}×{}",
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT,
            a.width,
            a.height
        )),
        Line::from(Span::styled("q quits", t.dim())),
    ];
    if let Some(m) = &app.status {
        lines.push(Line::from(Span::styled(
            crate::text::printable(&m.text).into_owned(),
            if m.error { t.bad() } else { t.ok() },
        )));
    }
    let top = a.height.saturating_sub(lines.len() as u16) / 2;
    let body = Rect::new(a.x, a.y + top, a.width, a.height - top);
    Paragraph::new(lines)
        .alignment(ratatui::layout::Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(body, buf);
}

/// The title row: the store and its markers, and the clock; where the
/// clock is.
fn draw_title(buf: &mut Buffer, area: Rect, app: &App, now: i64) -> Rect {
    let t = app.theme;
    let snap = &app.snapshot;
    let mut spans = Vec::new();
    if app.demo.is_some() {
        spans.push(Span::styled("  DEMO (removed on exit)", t.accent()));
    }
    if snap.read_only {
        spans.push(Span::styled("  READ-ONLY", t.warn()));
    }
    match &snap.role {
        Some(crate::engine::lease::Role::Observer { pid, host }) => spans.push(Span::styled(
            format!(
                "  observer — loops run in pid {pid} on {}",
                crate::text::printable(host)
            ),
            t.warn(),
        )),
        Some(crate::engine::lease::Role::Unknown { .. }) => {
            spans.push(Span::styled("  no lease: loops wait", t.bad()));
        }
        Some(crate::engine::lease::Role::Holder) | None => {}
    }
    if app.paused {
        spans.push(Span::styled("  PAUSED", t.warn()));
    }
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(9)]).areas(area);
    // The markers (demo, read-only, observer, paused) matter more than the
    // whole path: the path gives way, cut from its start.
    let name = " keeper-tui ";
    let marks: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(left.width)
        .saturating_sub(name.len() + marks + 1)
        .max(8);
    let mut line = vec![
        Span::styled(name, t.key()),
        Span::raw(clip_start(&crate::text::printable(&snap.db_path), room)),
    ];
    line.extend(spans);
    Line::from(line).render(left, buf);
    draw_clock(buf, right, app, now);
    right
}

/// The clock in the title row; when it next changes.
pub(super) fn draw_clock(buf: &mut Buffer, area: Rect, app: &App, now: i64) -> i64 {
    Line::from(Span::styled(local_clock(now), app.theme.dim()))
        .right_aligned()
        .render(area, buf);
    now + 1
}

thread_local! {
    /// The quarter hour the local offset was last looked up for, and the
    /// offset.
    static LOCAL_OFFSET: std::cell::Cell<Option<(i64, i64)>> = const { std::cell::Cell::new(None) };
}

/// `HH:MM:SS ` in local time. The clock redraws every second: the zone's
/// offset is looked up once a quarter hour (zones change offsets on a
/// quarter hour of UTC), not with each second.
fn local_clock(now: i64) -> String {
    let quarter = now.div_euclid(900);
    let offset = LOCAL_OFFSET.with(|cache| match cache.get() {
        Some((q, off)) if q == quarter => Some(off),
        _ => {
            let off = chrono::DateTime::from_timestamp(quarter * 900, 0)
                .map(|t| i64::from(t.with_timezone(&chrono::Local).offset().local_minus_utc()));
            if let Some(off) = off {
                cache.set(Some((quarter, off)));
            }
            off
        }
    });
    offset.map_or_else(String::new, |off| {
        let secs = (now + off).rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02} ",
            secs / 3_600,
            secs % 3_600 / 60,
            secs % 60
        )
    })
}

/// The end of `s` in at most `n` characters, marked `…` where cut.
fn clip_start(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len <= n {
        return s.to_string();
    }
    let tail: String = s.chars().skip(len - n.saturating_sub(1)).collect();
    format!("…{tail}")
}

fn draw_status(buf: &mut Buffer, area: Rect, app: &App) {
    let t = app.theme;
    // While typing or in a popup, one sentence says which keys work.
    let sentence = if app.editing.is_some() {
        Some("type to filter · C-u C-w C-a C-e edit · Enter keeps · Esc clears")
    } else {
        match &app.popup {
            Some(Popup::Confirm(_)) => Some("←/→ choose · Enter does it · y/n · Esc cancels"),
            Some(_) => Some("j/k scroll · Esc close"),
            None => None,
        }
    };
    let items: Vec<Hint> = if app.snapshot.store.is_none() {
        vec![
            Hint::new("r", "retry", false),
            Hint::new("?", "help", true),
            Hint::new("q/C-c", "quit", true),
        ]
    } else {
        // The status bar lists what acts; moving around is in the help.
        active(app.focus)
            .filter(|b| b.status_bar)
            .map(|b| {
                Hint::new(
                    b.label,
                    b.hint,
                    matches!(b.action, Action::Help | Action::Quit),
                )
            })
            .collect()
    };
    let msg = app.status.as_ref().map(|m| {
        (
            format!(" {}", crate::text::printable(&m.text)),
            if m.error { t.bad() } else { t.ok() },
        )
    });
    // The message comes first; the hints give way to it, down to help and
    // quit, and only then is the message cut.
    let keep: u16 = items.iter().filter(|h| h.kept).map(Hint::cost).sum();
    let msg_w = msg.as_ref().map_or(0, |(m, _)| {
        u16::try_from(m.chars().count() + 2).unwrap_or(u16::MAX)
    });
    let msg_room = msg_w.min(area.width.saturating_sub(keep));
    let [left, right] =
        Layout::horizontal([Constraint::Length(msg_room), Constraint::Fill(1)]).areas(area);
    if let Some((m, style)) = msg {
        let cut = panels::clip(&m, usize::from(msg_room.saturating_sub(1)));
        Line::from(Span::styled(cut, style)).render(left, buf);
    }
    let hints = match sentence {
        Some(s) => Line::from(Span::styled(
            panels::clip(&format!("{s} "), usize::from(right.width)),
            t.dim(),
        )),
        None => hint_line(&items, right.width, t),
    };
    hints.right_aligned().render(right, buf);
}

/// A key and its word in the status bar; `kept` ones (help, quit) are
/// always shown.
struct Hint {
    key: &'static str,
    word: &'static str,
    kept: bool,
}

impl Hint {
    fn new(key: &'static str, word: &'static str, kept: bool) -> Self {
        Hint { key, word, kept }
    }

    fn cost(&self) -> u16 {
        (self.key.chars().count() + self.word.chars().count() + 3) as u16
    }
}

/// Whole hints only, as many as fit; help and quit are always kept.
fn hint_line(items: &[Hint], width: u16, t: theme::Theme) -> Line<'static> {
    let kept_last: Vec<&Hint> = items.iter().filter(|h| h.kept).collect();
    let mut budget = width.saturating_sub(kept_last.iter().map(|h| h.cost()).sum());
    let mut shown: Vec<&Hint> = Vec::new();
    for item in items.iter().filter(|h| !h.kept) {
        if item.cost() > budget {
            break;
        }
        budget -= item.cost();
        shown.push(item);
    }
    shown.extend(kept_last);
    Line::from(
        shown
            .into_iter()
            .flat_map(|h| {
                [
                    Span::styled(h.key.to_string(), t.key()),
                    Span::styled(format!(" {}  ", h.word), t.dim()),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

fn draw_store_error(buf: &mut Buffer, area: Rect, app: &mut App) {
    let t = app.theme;
    let [top, log] = Layout::vertical([Constraint::Fill(1), Constraint::Length(7)]).areas(area);
    let text = app
        .snapshot
        .store_error
        .clone()
        .unwrap_or_else(|| "reading the store…".into());
    let lines = vec![
        Line::from(Span::styled("The store cannot be read.", t.bad())),
        Line::raw(""),
        Line::raw(text),
        Line::raw(""),
        Line::from(Span::styled(
            "keeper-tui keeps watching and recovers as soon as the file is back; r retries now, q quits.",
            t.dim(),
        )),
    ];
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.bad())
                .title(" store "),
        )
        .render(top, buf);
    let snap = Arc::clone(&app.snapshot);
    LogPanel {
        notices: &snap.notices,
        filter: "",
        editing: false,
        focused: false,
        theme: t,
    }
    .render(log, buf, &mut app.log);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_as_chrono_words_the_local_time() {
        let base = 1_800_000_000;
        for t in [
            base,
            base + 59,
            base + 3_599,
            base + 3_600,
            base + 86_399,
            base + 200_000,
        ] {
            let want = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .with_timezone(&chrono::Local)
                .format("%H:%M:%S ")
                .to_string();
            assert_eq!(local_clock(t), want, "at {t}");
        }
    }
}
