//! The panels, each drawn into the slot the layout gave it, with what the
//! frame adds on its border (who shares the slot, rows out of sight).

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::App;
use super::keys::Panel;
use super::panels::bridges::BridgesPanel;
use super::panels::log::LogPanel;
use super::panels::loops::{LoopsPanel, starved_outcomes};
use super::panels::outcomes::OutcomesPanel;
use super::panels::sessions::SessionsPanel;
use super::panels::stores::StoresPanel;
use super::panels::threads::ThreadsPanel;
use super::{frame, layout, panels};

/// Each slot of the layout draws the panel it shows; a slot that other
/// panels share says which on its top border.
pub fn draw_panels(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &mut App,
    figures: &crate::store::snapshot::StoreFigures,
    now: i64,
) {
    let rows = app.loop_rows();
    let want = layout::Want {
        focus: app.focus,
        zoomed: app.zoomed,
        bridges: !app.snapshot.bridges.is_empty(),
        loops_rows: rows.len() as u16,
        keeper_rows: rows.iter().filter(|r| r.keeper.is_some()).count() as u16,
        bridges_rows: app.snapshot.bridges.len() as u16,
        last_left: app.side,
        last_right: app.right,
        last_lower: app.lower,
    };
    let slots = layout::slots(area, &want);
    for slot in &slots {
        draw_panel(frame, app, slot.shown, slot.area, figures, &rows, now);
        frame::share_note(frame.buffer_mut(), slot, app.theme);
    }
    app.slots = slots;
}

fn draw_panel(
    frame: &mut Frame<'_>,
    app: &mut App,
    panel: Panel,
    a: Rect,
    figures: &crate::store::snapshot::StoreFigures,
    rows: &[panels::loops::LoopRow],
    now: i64,
) {
    let t = app.theme;
    let focused = app.focus == panel;
    let snap = Arc::clone(&app.snapshot);
    let filter = app.filter_note(panel);
    let sort = app.sort_note(panel);
    match panel {
        Panel::Loops => {
            frame.render_stateful_widget(
                LoopsPanel {
                    rows,
                    now,
                    window_days: figures.window_days,
                    read_only: snap.read_only,
                    focused,
                    theme: t,
                    note: &format!("{sort}{filter}"),
                },
                a,
                &mut app.loops,
            );
            frame::more_marks(frame.buffer_mut(), a, &app.loops, rows.len(), 3, t);
        }
        Panel::Stores => frame.render_widget(
            StoresPanel {
                figures,
                focused,
                theme: t,
            },
            a,
        ),
        Panel::Outcomes => {
            let starved = starved_outcomes(rows);
            let list = app.outcome_rows();
            let n = list.len();
            let mut state = app.outcomes;
            frame.render_stateful_widget(
                OutcomesPanel {
                    figures,
                    rows: &list,
                    starved: &starved,
                    focused,
                    theme: t,
                    note: &filter,
                },
                a,
                &mut state,
            );
            app.outcomes = state;
            frame::more_marks(frame.buffer_mut(), a, &app.outcomes, n, 3, t);
        }
        Panel::Threads => {
            let span = app.threads_span();
            frame.render_stateful_widget(
                ThreadsPanel {
                    rows: &snap.threads.rows,
                    state_filter: app.filter.state.as_deref(),
                    note: &format!("{span}{sort}{filter}"),
                    now,
                    focused,
                    theme: t,
                },
                a,
                &mut app.threads,
            );
            // Rows out of sight include those not loaded from the store.
            let page = &snap.threads;
            let (above, below) = frame::hidden(a, &app.threads, page.rows.len(), 3);
            let unloaded = page
                .total
                .saturating_sub(page.offset + page.rows.len() as u64);
            frame::marks(
                frame.buffer_mut(),
                a,
                page.offset + above as u64,
                below as u64 + unloaded,
                t,
            );
        }
        Panel::Sessions | Panel::Tasks | Panel::Jobs | Panel::Bridges | Panel::Log => {
            draw_lists(frame, app, panel, a, now);
        }
    }
}

/// The panels below Threads and in the bottom band.
fn draw_lists(frame: &mut Frame<'_>, app: &mut App, panel: Panel, a: Rect, now: i64) {
    let t = app.theme;
    let focused = app.focus == panel;
    let snap = Arc::clone(&app.snapshot);
    let filter = app.filter_note(panel);
    let sort = app.sort_note(panel);
    match panel {
        Panel::Sessions => {
            let list = app.session_list();
            let n = list.len();
            let mut state = app.sessions;
            frame.render_stateful_widget(
                SessionsPanel {
                    survey: snap.sessions.as_ref(),
                    rows: &list,
                    now,
                    focused,
                    theme: t,
                    note: &format!("{sort}{filter}"),
                },
                a,
                &mut state,
            );
            app.sessions = state;
            frame::more_marks(frame.buffer_mut(), a, &app.sessions, n, 3, t);
        }
        Panel::Tasks => {
            let lines = app.task_lines();
            let total = snap.tasks.as_ref().map_or(0, |t| t.len());
            let n = lines.len();
            let widget = panels::tasks::TasksPanel {
                rows: snap.tasks.as_ref().map(|_| lines.as_slice()),
                total,
                filter: &format!("{sort}{filter}"),
                now,
                focused,
                theme: t,
            };
            let mut state = app.tasks;
            frame.render_stateful_widget(widget, a, &mut state);
            app.tasks = state;
            frame::more_marks(frame.buffer_mut(), a, &app.tasks, n, 3, t);
        }
        Panel::Jobs => {
            let list = app.job_rows();
            let widget = panels::jobs::JobsPanel {
                rows: snap.jobs.as_ref().map(|_| list.as_slice()),
                now: now as f64,
                focused,
                theme: t,
                note: &format!("{sort}{filter}"),
            };
            let mut state = app.jobs;
            frame.render_stateful_widget(widget, a, &mut state);
            app.jobs = state;
            frame::more_marks(frame.buffer_mut(), a, &app.jobs, list.len(), 2, t);
        }
        Panel::Bridges => {
            let list: Vec<_> = app.bridge_rows().into_iter().cloned().collect();
            frame.render_stateful_widget(
                BridgesPanel {
                    rows: &list,
                    total: snap.bridges.len(),
                    note: &filter,
                    now,
                    focused,
                    theme: t,
                },
                a,
                &mut app.bridges,
            );
            frame::more_marks(frame.buffer_mut(), a, &app.bridges, list.len(), 3, t);
        }
        Panel::Log => {
            let text = app.inputs[panel.number() - 1].text.clone();
            frame.render_stateful_widget(
                LogPanel {
                    notices: &snap.notices,
                    filter: &text,
                    editing: app.editing == Some(Panel::Log),
                    focused,
                    theme: t,
                },
                a,
                &mut app.log,
            );
        }
        Panel::Stores | Panel::Loops | Panel::Outcomes | Panel::Threads => {}
    }
}
