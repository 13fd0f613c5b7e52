//! The panels, each drawn into the slot the layout gave it, with what the
//! frame adds on its border (who shares the slot, rows out of sight).

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{StatefulWidget, Widget};

use super::ages::Ages;
use super::app::App;
use super::keys::Panel;
use super::layout::Slot;
use super::panels::bridges::BridgesPanel;
use super::panels::log::LogPanel;
use super::panels::loops::{LoopsPanel, starved_outcomes};
use super::panels::outcomes::OutcomesPanel;
use super::panels::sessions::SessionsPanel;
use super::panels::stores::StoresPanel;
use super::panels::table::{Again, Change, TableMemo};
use super::panels::threads::ThreadsPanel;
use super::{frame, layout, panels};

/// A slot as drawn: when its words about time next change, and for a
/// table, what it was drawn from (so a tick can draw its rows alone).
pub type SlotDrawn = (Option<i64>, Option<TableMemo>);

/// Each slot of the layout draws the panel it shows; a slot that other
/// panels share says which on its top border. For each slot, in order:
/// what was drawn.
pub fn draw_panels(
    buf: &mut Buffer,
    area: Rect,
    app: &mut App,
    figures: &crate::store::snapshot::StoreFigures,
    now: i64,
) -> Vec<SlotDrawn> {
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
    let changes = slots
        .iter()
        .map(|slot| draw_in_slot(buf, app, slot, figures, &rows, now))
        .collect();
    app.slots = slots;
    changes
}

/// The panel a slot shows, with its border notes.
pub fn draw_slot(
    buf: &mut Buffer,
    app: &mut App,
    slot: &Slot,
    figures: &crate::store::snapshot::StoreFigures,
    now: i64,
) -> SlotDrawn {
    // Only Loops and Outcomes show the loop rows.
    let rows = if matches!(slot.shown, Panel::Loops | Panel::Outcomes) {
        app.loop_rows()
    } else {
        Arc::from(Vec::new())
    };
    draw_in_slot(buf, app, slot, figures, &rows, now)
}

fn draw_in_slot(
    buf: &mut Buffer,
    app: &mut App,
    slot: &Slot,
    figures: &crate::store::snapshot::StoreFigures,
    rows: &[panels::loops::LoopRow],
    now: i64,
) -> SlotDrawn {
    let ages = Ages::at(now);
    let memo = draw_panel(buf, app, slot.shown, slot.area, figures, rows, &ages);
    frame::share_note(buf, slot, app.theme);
    (ages.next_change(), memo)
}

/// Draw a table panel again into `shown` (the screen as last drawn): only
/// the rows `again` asks for that changed since `memo`, when nothing else
/// did; when a row on screen next changes by time, and the cells written.
/// `None` when the panel must be drawn whole.
pub fn redraw_rows(
    shown: &mut Buffer,
    app: &mut App,
    slot: &Slot,
    (now, again): (i64, Again),
    memo: &mut TableMemo,
) -> Option<(Option<i64>, Vec<Change>)> {
    let ages = Ages::at(now);
    let t = app.theme;
    let focused = app.focus == slot.shown;
    let snap = Arc::clone(&app.snapshot);
    let note = format!(
        "{}{}",
        app.sort_note(slot.shown),
        app.filter_note(slot.shown)
    );
    let a = slot.area;
    let (changes, next) = match slot.shown {
        Panel::Loops => {
            let rows = app.loop_rows();
            let figures = snap.store.as_ref()?;
            let panel = LoopsPanel {
                rows: &rows,
                ages: &ages,
                window_days: figures.window_days,
                read_only: snap.read_only,
                focused,
                theme: t,
                note: &note,
            };
            let chrome = panel.chrome(a);
            memo.redraw((a, &chrome), again, shown, &app.loops, |i| {
                panel.row(i, a, now)
            })?
        }
        Panel::Sessions => {
            let list = app.session_list();
            let panel = SessionsPanel {
                survey: snap.sessions.as_ref(),
                rows: &list,
                ages: &ages,
                focused,
                theme: t,
                note: &note,
            };
            let chrome = panel.chrome(a).ok()?;
            memo.redraw((a, &chrome), again, shown, &app.sessions, |i| {
                panel.row(i, a, now)
            })?
        }
        _ => return None,
    };
    Some((next, changes))
}

fn draw_panel(
    buf: &mut Buffer,
    app: &mut App,
    panel: Panel,
    a: Rect,
    figures: &crate::store::snapshot::StoreFigures,
    rows: &[panels::loops::LoopRow],
    ages: &Ages,
) -> Option<TableMemo> {
    let t = app.theme;
    let focused = app.focus == panel;
    let snap = Arc::clone(&app.snapshot);
    let filter = app.filter_note(panel);
    let sort = app.sort_note(panel);
    match panel {
        Panel::Loops => {
            let memo = LoopsPanel {
                rows,
                ages,
                window_days: figures.window_days,
                read_only: snap.read_only,
                focused,
                theme: t,
                note: &format!("{sort}{filter}"),
            }
            .table(a)
            .render(a, buf, &mut app.loops);
            frame::more_marks(buf, a, &app.loops, rows.len(), 3, t);
            return Some(memo);
        }
        Panel::Stores => StoresPanel {
            figures,
            focused,
            theme: t,
        }
        .render(a, buf),
        Panel::Outcomes => {
            let starved = starved_outcomes(rows);
            let list = app.outcome_rows();
            let n = list.len();
            let mut state = app.outcomes;
            OutcomesPanel {
                figures,
                rows: &list,
                starved: &starved,
                focused,
                theme: t,
                note: &filter,
            }
            .render(a, buf, &mut state);
            app.outcomes = state;
            frame::more_marks(buf, a, &app.outcomes, n, 3, t);
        }
        Panel::Threads => {
            let span = app.threads_span();
            ThreadsPanel {
                rows: &snap.threads.rows,
                state_filter: app.filter.state.as_deref(),
                note: &format!("{span}{sort}{filter}"),
                ages,
                focused,
                theme: t,
            }
            .render(a, buf, &mut app.threads);
            // Rows out of sight include those not loaded from the store.
            let page = &snap.threads;
            let (above, below) = frame::hidden(a, &app.threads, page.rows.len(), 3);
            let unloaded = page
                .total
                .saturating_sub(page.offset + page.rows.len() as u64);
            frame::marks(
                buf,
                a,
                page.offset + above as u64,
                below as u64 + unloaded,
                t,
            );
        }
        Panel::Sessions | Panel::Tasks | Panel::Jobs | Panel::Bridges | Panel::Log => {
            return draw_lists(buf, app, panel, a, ages);
        }
    }
    None
}

/// The panels below Threads and in the bottom band.
fn draw_lists(
    buf: &mut Buffer,
    app: &mut App,
    panel: Panel,
    a: Rect,
    ages: &Ages,
) -> Option<TableMemo> {
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
            let memo = match (SessionsPanel {
                survey: snap.sessions.as_ref(),
                rows: &list,
                ages,
                focused,
                theme: t,
                note: &format!("{sort}{filter}"),
            })
            .table(a)
            {
                Ok(table) => Some(table.render(a, buf, &mut state)),
                Err(note) => {
                    note.render(a, buf);
                    None
                }
            };
            app.sessions = state;
            frame::more_marks(buf, a, &app.sessions, n, 3, t);
            return memo;
        }
        Panel::Tasks => {
            let lines = app.task_lines();
            let total = snap.tasks.as_ref().map_or(0, |t| t.len());
            let n = lines.len();
            let widget = panels::tasks::TasksPanel {
                rows: snap.tasks.as_ref().map(|_| lines.as_slice()),
                total,
                filter: &format!("{sort}{filter}"),
                ages,
                focused,
                theme: t,
            };
            let mut state = app.tasks;
            widget.render(a, buf, &mut state);
            app.tasks = state;
            frame::more_marks(buf, a, &app.tasks, n, 3, t);
        }
        Panel::Jobs => {
            let list = app.job_rows();
            let widget = panels::jobs::JobsPanel {
                rows: snap.jobs.as_ref().map(|_| list.as_slice()),
                ages,
                focused,
                theme: t,
                note: &format!("{sort}{filter}"),
            };
            let mut state = app.jobs;
            widget.render(a, buf, &mut state);
            app.jobs = state;
            frame::more_marks(buf, a, &app.jobs, list.len(), 2, t);
        }
        Panel::Bridges => {
            let list: Vec<_> = app.bridge_rows().into_iter().cloned().collect();
            BridgesPanel {
                rows: &list,
                total: snap.bridges.len(),
                note: &filter,
                ages,
                focused,
                theme: t,
            }
            .render(a, buf, &mut app.bridges);
            frame::more_marks(buf, a, &app.bridges, list.len(), 3, t);
        }
        Panel::Log => {
            let text = app.inputs[panel.number() - 1].text.clone();
            LogPanel {
                notices: &snap.notices,
                filter: &text,
                editing: app.editing == Some(Panel::Log),
                focused,
                theme: t,
            }
            .render(a, buf, &mut app.log);
        }
        Panel::Stores | Panel::Loops | Panel::Outcomes | Panel::Threads => {}
    }
    None
}
