//! The TUI: draws the engine's snapshots and turns keys into commands.
//! Nothing here touches the store; the engine does all the I/O.

pub mod app;
mod frame;
pub mod keys;
pub mod layout;
pub mod panels;
pub mod popups;
mod screen;
pub mod theme;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tokio::sync::mpsc;

use self::app::{App, Effect, Popup, Purpose};
use self::keys::{Action, active};
use self::panels::log::LogPanel;
use self::popups::confirm::ConfirmPopup;
use self::popups::detail::DetailPopup;
use self::popups::help::HelpPopup;
use crate::engine::{EngineError, EngineHandle, Reply};
use crate::store::now_unix;

/// Draw the whole screen from the app state, with ages measured at `now`.
pub fn draw(frame: &mut Frame<'_>, app: &mut App, now: i64) {
    app.too_small = layout::too_small(frame.area());
    if app.too_small {
        app.slots.clear();
        draw_too_small(frame, app);
        return;
    }
    let [title, main, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_title(frame, title, app, now);
    draw_status(frame, status, app);
    // The snapshot is shared, not copied: an `Arc` clone per frame.
    let snap = Arc::clone(&app.snapshot);
    if let Some(figures) = &snap.store {
        screen::draw_panels(frame, main, app, figures, now);
    } else {
        // No panels drawn: nothing for the mouse to land on.
        app.slots.clear();
        draw_store_error(frame, main, app);
    }
    let theme = app.theme;
    app.help_max_scroll = HelpPopup { scroll: 0, theme }.max_scroll(main);
    match &mut app.popup {
        Some(Popup::Detail { text, scroll, .. }) => {
            *scroll = (*scroll).min(popups::detail::max_scroll(main, text));
        }
        Some(Popup::Help { scroll }) => *scroll = (*scroll).min(app.help_max_scroll),
        _ => {}
    }
    match &app.popup {
        Some(Popup::Help { scroll }) => frame.render_widget(
            HelpPopup {
                scroll: *scroll,
                theme,
            },
            main,
        ),
        Some(Popup::Detail {
            title,
            text,
            scroll,
        }) => {
            frame.render_widget(
                DetailPopup {
                    title,
                    text,
                    scroll: *scroll,
                    theme,
                },
                main,
            );
        }
        Some(Popup::Confirm(c)) => frame.render_widget(ConfirmPopup { confirm: c, theme }, main),
        None => {}
    }
}

/// Bare borders would hide what the keys act on: say what is needed.
fn draw_too_small(frame: &mut Frame<'_>, app: &App) {
    let a = frame.area();
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
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        body,
    );
}

fn draw_title(frame: &mut Frame<'_>, area: Rect, app: &App, now: i64) {
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
    let clock = chrono::DateTime::from_timestamp(now, 0).map_or_else(String::new, |c| {
        c.with_timezone(&chrono::Local)
            .format("%H:%M:%S ")
            .to_string()
    });
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
    frame.render_widget(Line::from(line), left);
    frame.render_widget(
        Line::from(Span::styled(clock, t.dim())).right_aligned(),
        right,
    );
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

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &App) {
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
        frame.render_widget(Line::from(Span::styled(cut, style)), left);
    }
    let hints = match sentence {
        Some(s) => Line::from(Span::styled(
            panels::clip(&format!("{s} "), usize::from(right.width)),
            t.dim(),
        )),
        None => hint_line(&items, right.width, t),
    };
    frame.render_widget(hints.right_aligned(), right);
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

fn draw_store_error(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
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
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.bad())
                .title(" store "),
        ),
        top,
    );
    let snap = Arc::clone(&app.snapshot);
    frame.render_stateful_widget(
        LogPanel {
            notices: &snap.notices,
            filter: "",
            editing: false,
            focused: false,
            theme: t,
        },
        log,
        &mut app.log,
    );
}

/// Run the TUI on an already initialised terminal until the operator quits
/// or a signal asks us to stop.
pub async fn run_loop(
    terminal: &mut ratatui::DefaultTerminal,
    handle: EngineHandle,
    mut app: App,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut keys = EventStream::new();
    let mut snapshots = handle.snapshots.clone();
    let (reply_tx, mut replies) = mpsc::unbounded_channel::<(Purpose, Reply)>();
    // Ages ("12s ago") and the clock move once a second; nothing else is
    // redrawn unless something happened.
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut dirty = true;
    // Queued in key order; only the answer is awaited apart. True: quit.
    let run = |effects: Vec<Effect>| {
        for effect in effects {
            match effect {
                Effect::Quit => return true,
                Effect::Send(command, purpose) => {
                    let answer = handle.send(command);
                    let tx = reply_tx.clone();
                    tokio::spawn(async move {
                        let reply = answer.await.unwrap_or(Err(EngineError::Stopped));
                        let _ = tx.send((purpose, reply));
                    });
                }
            }
        }
        false
    };
    loop {
        if dirty {
            terminal.draw(|f| draw(f, &mut app, now_unix()))?;
            dirty = false;
        }
        tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    if run(app.on_key(key)) {
                        return Ok(());
                    }
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    if run(app.on_mouse(m)) {
                        return Ok(());
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let snap = snapshots.borrow_and_update().clone();
                dirty |= app.on_snapshot(snap);
            }
            Some((purpose, reply)) = replies.recv() => {
                if run(app.on_reply(purpose, reply)) {
                    return Ok(());
                }
                dirty = true;
            }
            _ = clock.tick() => {
                app.tick(Instant::now());
                if run(app.panel_looks_due(Instant::now())) {
                    return Ok(());
                }
                dirty = true;
            }
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
        }
    }
}
