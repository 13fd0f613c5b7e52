//! The TUI: draws the engine's snapshots and turns keys into commands.
//! Nothing here touches the store; the engine does all the I/O.

pub mod app;
pub mod keys;
pub mod panels;
pub mod popups;
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
use self::keys::{Panel, active};
use self::panels::bridges::BridgesPanel;
use self::panels::log::LogPanel;
use self::panels::loops::{LoopsPanel, starved_outcomes};
use self::panels::outcomes::OutcomesPanel;
use self::panels::sessions::SessionsPanel;
use self::panels::stores::StoresPanel;
use self::panels::threads::ThreadsPanel;
use self::popups::confirm::ConfirmPopup;
use self::popups::detail::DetailPopup;
use self::popups::help::HelpPopup;
use crate::engine::{EngineError, EngineHandle, Reply};
use crate::store::now_unix;

/// Draw the whole screen from the app state, with ages measured at `now`.
pub fn draw(frame: &mut Frame<'_>, app: &mut App, now: i64) {
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
    match &snap.store {
        Some(figures) => draw_panels(frame, main, app, figures, now),
        None => draw_store_error(frame, main, app),
    }
    let theme = app.theme;
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

fn draw_title(frame: &mut Frame<'_>, area: Rect, app: &App, now: i64) {
    let t = app.theme;
    let snap = &app.snapshot;
    let mut spans = vec![
        Span::styled(" keeper-tui ", t.key()),
        Span::raw(snap.db_path.clone()),
    ];
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
    frame.render_widget(Line::from(spans), left);
    frame.render_widget(
        Line::from(Span::styled(clock, t.dim())).right_aligned(),
        right,
    );
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = app.theme;
    // While typing or in a popup, one sentence says which keys work.
    let sentence = if app.editing_filter {
        Some("type to filter threads · Enter keeps · Esc clears")
    } else {
        match &app.popup {
            Some(Popup::Confirm(_)) => Some("←/→ choose · Enter does it · y/n · Esc cancels"),
            Some(_) => Some("j/k scroll · Esc close"),
            None => None,
        }
    };
    let items: Vec<(&str, &str)> = if app.snapshot.store.is_none() {
        vec![("r", "retry"), ("?", "help"), ("q/C-c", "quit")]
    } else {
        // The status bar lists what acts; moving around is in the help.
        active(app.focus)
            .filter(|b| b.status_bar)
            .map(|b| (b.label, b.hint))
            .collect()
    };
    let msg = app.status.as_ref().map_or_else(
        || Span::raw(""),
        |m| {
            Span::styled(
                format!(" {}", crate::text::printable(&m.text)),
                if m.error { t.bad() } else { t.ok() },
            )
        },
    );
    let msg_width = (msg.width() as u16 + 2).min(area.width / 2 + area.width / 4);
    let [left, right] =
        Layout::horizontal([Constraint::Length(msg_width), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Line::from(msg), left);
    let hints = match sentence {
        Some(s) => Line::from(Span::styled(format!("{s} "), t.dim())),
        None => hint_line(&items, right.width, t),
    };
    frame.render_widget(hints.right_aligned(), right);
}

/// Whole hints only, as many as fit; help and quit are always kept.
fn hint_line(items: &[(&str, &str)], width: u16, t: theme::Theme) -> Line<'static> {
    let cost = |(k, h): &(&str, &str)| (k.chars().count() + h.chars().count() + 3) as u16;
    let kept_last: Vec<_> = items
        .iter()
        .filter(|(k, _)| matches!(*k, "?" | "q/C-c"))
        .collect();
    let mut budget = width.saturating_sub(kept_last.iter().map(|i| cost(i)).sum());
    let mut shown: Vec<&(&str, &str)> = Vec::new();
    for item in items.iter().filter(|(k, _)| !matches!(*k, "?" | "q/C-c")) {
        if cost(item) > budget {
            break;
        }
        budget -= cost(item);
        shown.push(item);
    }
    shown.extend(kept_last);
    Line::from(
        shown
            .into_iter()
            .flat_map(|(k, h)| {
                [
                    Span::styled((*k).to_string(), t.key()),
                    Span::styled(format!(" {h}  "), t.dim()),
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
            focused: false,
            theme: t,
        },
        log,
        &mut app.log,
    );
}

/// Normal: Loops across the top, Stores over Outcomes beside Threads, Log
/// below. Compact (under 30 rows): the left slot shows Stores or Outcomes,
/// whichever was focused last.
fn draw_panels(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &mut App,
    figures: &crate::store::snapshot::StoreFigures,
    now: i64,
) {
    let t = app.theme;
    let rows = app.loop_rows();
    let compact = area.height < 30;
    let side = if area.width >= 150 {
        56
    } else if area.width >= 110 {
        46
    } else {
        40
    };
    let loops_h = (rows.len() as u16 + 3).clamp(6, if compact { 9 } else { 16 });
    let log_h = if compact { 3 } else { 6 };
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(loops_h),
        Constraint::Fill(1),
        Constraint::Length(log_h),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(side), Constraint::Fill(1)]).areas(middle);
    let focus = app.focus;
    if matches!(focus, Panel::Stores | Panel::Outcomes) {
        app.side = focus;
    }
    if matches!(
        focus,
        Panel::Threads | Panel::Sessions | Panel::Tasks | Panel::Jobs
    ) {
        app.right = focus;
    }
    let (threads_a, sessions_a) = if compact {
        if matches!(app.right, Panel::Sessions | Panel::Tasks | Panel::Jobs) {
            (None, Some(right))
        } else {
            (Some(right), None)
        }
    } else {
        let [th, se] = Layout::vertical([Constraint::Fill(3), Constraint::Fill(2)]).areas(right);
        (Some(th), Some(se))
    };
    let (stores_a, outcomes_a) = if compact {
        if app.side == Panel::Outcomes {
            (None, Some(left))
        } else {
            (Some(left), None)
        }
    } else {
        let [s, o] =
            Layout::vertical([Constraint::Length(STORES_HEIGHT), Constraint::Fill(1)]).areas(left);
        (Some(s), Some(o))
    };

    frame.render_stateful_widget(
        LoopsPanel {
            rows: &rows,
            now,
            window_days: figures.window_days,
            read_only: app.snapshot.read_only,
            focused: focus == Panel::Loops,
            theme: t,
        },
        top,
        &mut app.loops,
    );
    draw_left(frame, app, figures, &rows, stores_a, outcomes_a, compact);
    draw_right(frame, app, now, threads_a, sessions_a);
    let snap = Arc::clone(&app.snapshot);
    // Supervised processes share the bottom row with the Log.
    let bottom = if snap.bridges.is_empty() {
        bottom
    } else {
        let [log, bridges] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Fill(2)]).areas(bottom);
        frame.render_stateful_widget(
            BridgesPanel {
                rows: &snap.bridges,
                now,
                focused: focus == Panel::Bridges,
                theme: t,
            },
            bridges,
            &mut app.bridges,
        );
        log
    };
    frame.render_stateful_widget(
        LogPanel {
            notices: &snap.notices,
            focused: focus == Panel::Log,
            theme: t,
        },
        bottom,
        &mut app.log,
    );
}

/// Stores over Outcomes (or one of them, compact).
fn draw_left(
    frame: &mut Frame<'_>,
    app: &mut App,
    figures: &crate::store::snapshot::StoreFigures,
    rows: &[panels::loops::LoopRow],
    stores_a: Option<Rect>,
    outcomes_a: Option<Rect>,
    compact: bool,
) {
    let t = app.theme;
    let focus = app.focus;
    if let Some(a) = stores_a {
        let other = if compact { "3 Outcomes" } else { "" };
        frame.render_widget(
            StoresPanel {
                figures,
                focused: focus == Panel::Stores,
                theme: t,
                other,
            },
            a,
        );
    }
    if let Some(a) = outcomes_a {
        let starved = starved_outcomes(rows);
        frame.render_stateful_widget(
            OutcomesPanel {
                figures,
                starved: &starved,
                focused: focus == Panel::Outcomes,
                theme: t,
            },
            a,
            &mut app.outcomes,
        );
    }
}

/// Threads over Sessions (or one of them, compact).
fn draw_right(
    frame: &mut Frame<'_>,
    app: &mut App,
    now: i64,
    threads_a: Option<Rect>,
    sessions_a: Option<Rect>,
) {
    let t = app.theme;
    let focus = app.focus;
    let snap = Arc::clone(&app.snapshot);
    if let Some(a) = threads_a {
        frame.render_stateful_widget(
            ThreadsPanel {
                rows: &snap.threads,
                filter: &app.filter,
                editing: app.editing_filter,
                now,
                focused: focus == Panel::Threads,
                theme: t,
            },
            a,
            &mut app.threads,
        );
    }
    if let Some(a) = sessions_a
        && app.lower == Panel::Jobs
    {
        let rows = app.job_rows();
        let widget = panels::jobs::JobsPanel {
            rows: snap.jobs.as_ref().map(|_| rows.as_slice()),
            now: now as f64,
            focused: focus == Panel::Jobs,
            theme: t,
            shares: " · 6 Sessions, 8 Tasks here too",
        };
        let mut state = app.jobs;
        frame.render_stateful_widget(widget, a, &mut state);
        app.jobs = state;
    } else if let Some(a) = sessions_a
        && app.lower == Panel::Tasks
    {
        let lines = app.task_lines();
        let total = snap.tasks.as_ref().map_or(0, |t| t.len());
        let filter = app.task_filter.clone();
        let widget = panels::tasks::TasksPanel {
            rows: snap.tasks.as_ref().map(|_| lines.as_slice()),
            total,
            filter: &filter,
            editing: app.editing_task_filter,
            now,
            focused: focus == Panel::Tasks,
            theme: t,
            shares: " · 6 Sessions, 9 Jobs here too",
        };
        let mut state = app.tasks;
        frame.render_stateful_widget(widget, a, &mut state);
        app.tasks = state;
    } else if let Some(a) = sessions_a {
        frame.render_stateful_widget(
            SessionsPanel {
                survey: snap.sessions.as_ref(),
                now,
                focused: focus == Panel::Sessions,
                theme: t,
            },
            a,
            &mut app.sessions,
        );
    }
}

/// Rows the Stores panel needs: its lines and two borders.
const STORES_HEIGHT: u16 = panels::stores::LINES + 2;

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
