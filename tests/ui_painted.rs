//! A tick of the clock that moved nothing but time redraws only the parts
//! whose words about time changed: what it writes must leave the terminal
//! exactly as a whole frame drawn at that moment would, and a whole frame
//! after such ticks must too.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::config::Schedule;
use keeper_tui::engine::Snapshot;
use keeper_tui::jobs::seen::{JobLine, JobsSeen};
use keeper_tui::loops::reaper::{SessionRow, Survey, SurveyState, Verdict};
use keeper_tui::loops::reconciler::{Proc, TaskLine};
use keeper_tui::store::jobs::{Run, RunState};
use keeper_tui::store::keeper::Claim;
use keeper_tui::store::tasks::TaskRow;
use keeper_tui::sys::tmux::Session;
use keeper_tui::ui::app::{App, Popup};
use keeper_tui::ui::keys::Panel;
use keeper_tui::ui::painted::{Change, Painted, Parts, panels_moved};
use keeper_tui::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::{Backend, TestBackend};
use ratatui::buffer::Buffer;
use ui_common::NOW;

/// In colour: a patch that lost a style shows.
const THEME: Theme = Theme { color: true };

const W: u16 = 200;
const H: u16 = 50;

fn session(id: &str, name: &str, created: i64, activity: i64) -> Session {
    Session {
        id: id.into(),
        name: name.into(),
        created,
        activity,
        attached: 0,
    }
}

/// Every kind of session row the panel words from the clock.
fn survey() -> Survey {
    let claim = Claim {
        name: "msg-warm-2".into(),
        owner: "jobs".into(),
        claimed_at: NOW - 100,
        last_used: NOW - 100,
        ttl_secs: 130,
    };
    let row = |s: Session, verdict: Verdict, claim: Option<Claim>| SessionRow {
        marker: verdict != Verdict::NotAgent,
        orphan: verdict == Verdict::Orphan,
        reason: String::new(),
        verdict,
        claim,
        session: s,
        task: None,
    };
    Survey {
        server: "tmux server -L agents".into(),
        at: NOW,
        grace_secs: 60,
        state: SurveyState::Listed,
        own: Some("$0".into()),
        rows: vec![
            row(
                session("$0", "ops", NOW - 4_000, NOW - 1),
                Verdict::NotAgent,
                None,
            ),
            row(
                session("$1", "msg-warm-1", NOW - 7_300, NOW - 3_590),
                Verdict::Orphan,
                None,
            ),
            row(
                session("$2", "msg-warm-2", NOW - 500, NOW - 50),
                Verdict::Claimed,
                Some(claim),
            ),
            row(
                session("$3", "msg-warm-3", NOW - 20, NOW - 20),
                Verdict::Young,
                None,
            ),
            row(
                session("$4", "msg-warm-4", NOW - 90_000, NOW - 10),
                Verdict::Busy,
                None,
            ),
        ],
    }
}

fn task(id: &str, started: i64, ended: Option<i64>) -> TaskLine {
    TaskLine {
        row: TaskRow {
            id: id.into(),
            pid: 4242,
            cwd: "/srv/agents".into(),
            prompt: "EXTRACT the facts".into(),
            started_at: started,
            ended_at: ended,
            return_code: ended.map(|_| 0),
            role: "extract".into(),
        },
        process: if ended.is_some() {
            Proc::Ended
        } else {
            Proc::Live
        },
        usage: None,
        deliveries: Vec::new(),
    }
}

/// A run `started` seconds ago (queued if `None`), ended `ended` ago.
fn job_run(id: i64, state: RunState, started: Option<i64>, ended: Option<i64>) -> Run {
    let at = |ago: i64| (NOW - ago) as f64;
    Run {
        queued_at: at(90),
        // Queued runs wait 40 s more.
        not_before: if started.is_some() { at(90) } else { at(-40) },
        started_at: started.map(at),
        ended_at: ended.map(at),
        ..ui_common::job_run(id, "digest", state)
    }
}

/// Jobs whose next run counts down and runs whose times count up.
fn jobs() -> JobsSeen {
    JobsSeen {
        jobs: vec![JobLine {
            name: "digest".into(),
            schedule: Some(Schedule::Every(std::time::Duration::from_secs(3_600))),
            next_run: Some((NOW + 75) as f64),
            pool: None,
            pool_use: None,
        }],
        runs: vec![
            job_run(3, RunState::Running, Some(20), None),
            job_run(2, RunState::Queued, None, None),
            job_run(1, RunState::Succeeded, Some(3_650), Some(3_590)),
        ],
    }
}

fn snapshot() -> Snapshot {
    let mut snap = ui_common::snapshot();
    // Loops whose last pass, next pass and verdict all move with the clock.
    let mut janitor = ui_common::janitor_status();
    janitor.next_due = Some(NOW + 75);
    janitor.interval_secs = Some(60);
    if let Some(l) = janitor.last.as_mut() {
        l.finished_at = NOW - 100;
    }
    snap.loops = vec![janitor];
    snap.sessions = Some(survey());
    snap.tasks = Some(Arc::new(vec![
        task("tk_live", NOW - 45, None),
        task("tk_done", NOW - 4_000, Some(NOW - 100)),
    ]));
    snap.bridges = vec![ui_common::bridge_row("bridge")];
    snap.jobs = Some(Arc::new(jobs()));
    snap
}

fn app_focused(panel: Panel) -> App {
    let mut app = App::new(Arc::new(snapshot()), THEME);
    app.focus = panel;
    if matches!(panel, Panel::Sessions | Panel::Tasks | Panel::Jobs) {
        app.lower = panel;
    }
    app
}

/// The screen as a whole frame drawn at `now` would leave it.
fn whole_at(app: &mut App, now: i64) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    t.draw(|f| {
        let area = f.area();
        keeper_tui::ui::draw_parts(f.buffer_mut(), area, app, now);
    })
    .unwrap();
    t.backend().buffer().clone()
}

/// A terminal showing a whole frame at `now`, and what was painted.
fn start(app: &mut App, now: i64) -> (Terminal<TestBackend>, Painted) {
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    let mut painted = Painted::default();
    draw_whole(&mut t, &mut painted, app, now);
    (t, painted)
}

fn draw_whole(t: &mut Terminal<TestBackend>, painted: &mut Painted, app: &mut App, now: i64) {
    let mut parts = Parts::Whole;
    let done = t
        .draw(|f| {
            let area = f.area();
            parts = keeper_tui::ui::draw_parts(f.buffer_mut(), area, app, now);
        })
        .unwrap();
    let fix = painted.whole(done.buffer, parts, now);
    write(t, &fix);
}

fn write(t: &mut Terminal<TestBackend>, changes: &[Change]) {
    t.backend_mut()
        .draw(changes.iter().map(|(x, y, c)| (*x, *y, c)))
        .unwrap();
}

/// The rows where any cell differs, in its text or its style.
fn diff_rows(got: &Buffer, want: &Buffer) -> Vec<String> {
    assert_eq!(got.area, want.area);
    let (g, w) = (ui_common::rows(got), ui_common::rows(want));
    (0..want.area.height)
        .filter(|&y| (0..want.area.width).any(|x| got[(x, y)] != want[(x, y)]))
        .map(|y| {
            let y = usize::from(y);
            format!("row {y}:\n  got  {}\n  want {}", g[y], w[y])
        })
        .collect()
}

#[test]
fn a_tick_in_the_same_second_writes_nothing() {
    let mut app = app_focused(Panel::Loops);
    let (_t, mut painted) = start(&mut app, NOW);
    assert_eq!(painted.tick(&mut app, NOW).map(|c| c.len()), Some(0));
}

#[test]
fn a_tick_writes_the_cells_that_moved_and_no_others() {
    let mut app = app_focused(Panel::Sessions);
    let (_t, mut painted) = start(&mut app, NOW);
    let (was, now) = (whole_at(&mut app, NOW), whole_at(&mut app, NOW + 1));
    let mut moved: Vec<(u16, u16)> = was.diff(&now).iter().map(|(x, y, _)| (*x, *y)).collect();
    let mut written: Vec<(u16, u16)> = painted
        .tick(&mut app, NOW + 1)
        .unwrap()
        .iter()
        .map(|(x, y, _)| (*x, *y))
        .collect();
    assert!(!moved.is_empty(), "the clock moved at least");
    moved.sort_unstable();
    written.sort_unstable();
    assert_eq!(written, moved);
}

#[test]
fn ticks_leave_the_screen_as_a_whole_frame_would_whatever_the_focus() {
    for focus in [
        Panel::Loops,
        Panel::Sessions,
        Panel::Tasks,
        Panel::Threads,
        Panel::Bridges,
        Panel::Jobs,
        Panel::Outcomes,
        Panel::Stores,
        Panel::Log,
    ] {
        let mut app = app_focused(focus);
        let (mut t, mut painted) = start(&mut app, NOW);
        if focus == Panel::Jobs {
            let shown = ui_common::rows(t.backend().buffer()).join("\n");
            assert!(
                shown.contains("digest") && shown.contains("running"),
                "{shown}"
            );
        }
        // Second by second past a minute, then across an hour and a day.
        let moments = (1..=75).chain([3_589, 3_590, 3_600, 3_601, 86_400, 86_461]);
        for k in moments {
            let changes = painted.tick(&mut app, NOW + k).unwrap();
            write(&mut t, &changes);
            let want = whole_at(&mut app, NOW + k);
            let off = diff_rows(t.backend().buffer(), &want);
            assert!(off.is_empty(), "{focus:?} at +{k}s:\n{}", off.join("\n"));
        }
    }
}

#[test]
fn a_whole_frame_after_ticks_rewrites_what_the_terminal_did_not_see() {
    let mut app = app_focused(Panel::Loops);
    let (mut t, mut painted) = start(&mut app, NOW);
    // The ticks change cells the terminal's own record still has as they
    // were at NOW; ten seconds on, the clock's last digit is back to what
    // that record says, so only the fix-up can put it right.
    for k in 1..=3 {
        let changes = painted.tick(&mut app, NOW + k).unwrap();
        write(&mut t, &changes);
    }
    draw_whole(&mut t, &mut painted, &mut app, NOW + 10);
    let want = whole_at(&mut app, NOW + 10);
    let off = diff_rows(t.backend().buffer(), &want);
    assert!(off.is_empty(), "{}", off.join("\n"));
}

#[test]
fn a_popup_over_the_panels_makes_a_tick_draw_the_whole_screen() {
    let mut app = app_focused(Panel::Loops);
    app.popup = Some(Popup::Help { scroll: 0 });
    let (_t, mut painted) = start(&mut app, NOW);
    assert!(painted.tick(&mut app, NOW + 1).is_none());
}

#[test]
fn a_panel_due_is_drawn_again_at_the_next_tick_even_in_the_same_second() {
    let mut app = app_focused(Panel::Sessions);
    let (mut t, mut painted) = start(&mut app, NOW);
    // A new look: a session went quiet for longer.
    let mut snap = (*app.snapshot).clone();
    if let Some(s) = snap.sessions.as_mut() {
        s.rows[1].session.activity -= 600;
    }
    let before = Arc::clone(&app.snapshot);
    app.on_snapshot(Arc::new(snap));
    assert_eq!(
        panels_moved(&before, &app.snapshot),
        Some(vec![Panel::Sessions])
    );
    painted.due(Panel::Sessions, &app);
    let changes = painted.tick(&mut app, NOW).unwrap();
    assert!(!changes.is_empty());
    write(&mut t, &changes);
    let want = whole_at(&mut app, NOW);
    let off = diff_rows(t.backend().buffer(), &want);
    assert!(off.is_empty(), "{}", off.join("\n"));
}

#[test]
fn what_a_snapshot_moved_names_its_panels_or_says_the_whole_screen() {
    let old = snapshot();
    let same = old.clone();
    assert_eq!(panels_moved(&old, &same), Some(Vec::new()));

    let mut loops = old.clone();
    loops.loops[0].running = true;
    let mut tasks = old.clone();
    tasks.tasks = Some(Arc::new(Vec::new()));
    assert_eq!(panels_moved(&old, &loops), Some(vec![Panel::Loops]));
    assert_eq!(panels_moved(&old, &tasks), Some(vec![Panel::Tasks]));

    // New figures for the same loops: the panels that show figures.
    let mut figures = old.clone();
    figures.store = Some(Arc::new(ui_common::store_figures()));
    assert_eq!(
        panels_moved(&old, &figures),
        Some(vec![Panel::Stores, Panel::Outcomes, Panel::Loops])
    );

    // The Log's notices reach the status bar; a loop more or less, the
    // bands' sizes; the role, the title.
    let mut notices = old.clone();
    notices.notices = Arc::new(ui_common::notices(7));
    let mut another_loop = old.clone();
    let mut f = ui_common::store_figures();
    f.loops.pop();
    another_loop.store = Some(Arc::new(f));
    let mut more = old.clone();
    more.loops.push(ui_common::janitor_status());
    let mut role = old.clone();
    role.role = Some(keeper_tui::engine::lease::Role::Holder);
    for moved in [notices, another_loop, more, role] {
        assert_eq!(panels_moved(&old, &moved), None);
    }
}

#[test]
fn new_figures_drawn_panel_by_panel_leave_the_screen_as_a_whole_frame() {
    for focus in [Panel::Loops, Panel::Stores, Panel::Outcomes, Panel::Threads] {
        let mut app = app_focused(focus);
        let (mut t, mut painted) = start(&mut app, NOW);
        let mut snap = (*app.snapshot).clone();
        let mut f = ui_common::store_figures();
        f.stores.notes += 1_000;
        f.loops[0].fires_window += 7;
        f.loops[0].last_at = Some(NOW - 2);
        f.outcomes[0].window += 3;
        snap.store = Some(Arc::new(f));
        let before = Arc::clone(&app.snapshot);
        app.on_snapshot(Arc::new(snap));
        for p in panels_moved(&before, &app.snapshot).unwrap() {
            painted.due(p, &app);
        }
        let changes = painted.tick(&mut app, NOW).unwrap();
        write(&mut t, &changes);
        let want = whole_at(&mut app, NOW);
        let off = diff_rows(t.backend().buffer(), &want);
        assert!(off.is_empty(), "{focus:?}:\n{}", off.join("\n"));
    }
}

#[test]
fn a_loop_turning_dead_is_drawn_at_that_second() {
    // Nothing else on the Loops panel moves for days.
    let mut figures = ui_common::store_figures();
    for l in &mut figures.loops {
        l.last_at = Some(NOW - 3 * 86_400);
    }
    let mut janitor = ui_common::janitor_status();
    janitor.last = None;
    // Overdue by 10 s: dead once overdue by more than its 2 minutes.
    janitor.next_due = Some(NOW - 10);
    let mut snap = ui_common::snapshot();
    snap.store = Some(Arc::new(figures));
    snap.loops = vec![janitor];
    let mut app = App::new(Arc::new(snap), THEME);
    let (mut t, mut painted) = start(&mut app, NOW);
    let turn = NOW - 10 + 120 + 1;
    for at in [turn - 1, turn] {
        let changes = painted.tick(&mut app, at).unwrap();
        write(&mut t, &changes);
    }
    let want = whole_at(&mut app, turn);
    assert!(ui_common::text(&want).contains("dead"));
    let off = diff_rows(t.backend().buffer(), &want);
    assert!(off.is_empty(), "{}", off.join("\n"));
}

#[test]
fn a_clock_stepped_back_draws_the_whole_screen() {
    let mut app = app_focused(Panel::Sessions);
    let (mut t, mut painted) = start(&mut app, NOW);
    for k in 1..=3 {
        let changes = painted.tick(&mut app, NOW + k).unwrap();
        write(&mut t, &changes);
    }
    // The parts wait for moments the clock has to reach again.
    assert!(painted.tick(&mut app, NOW - 30).is_none());
    draw_whole(&mut t, &mut painted, &mut app, NOW - 30);
    for k in 1..=5 {
        let changes = painted.tick(&mut app, NOW - 30 + k).unwrap();
        write(&mut t, &changes);
        let off = diff_rows(t.backend().buffer(), &whole_at(&mut app, NOW - 30 + k));
        assert!(off.is_empty(), "+{k}s:\n{}", off.join("\n"));
    }
}
