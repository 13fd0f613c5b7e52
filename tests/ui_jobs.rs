//! The Jobs panel on a test terminal: jobs with schedule, next run and
//! pool use, then their runs; `n`, `x` and `t` refused up front or asked
//! first; Enter shows a run's log tail; the cursor stays on its run.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;
use std::time::Duration;

use keeper_tui::config::Schedule;
use keeper_tui::engine::Command;
use keeper_tui::jobs::seen::{JobLine, JobsSeen};
use keeper_tui::loops::LoopCommand;
use keeper_tui::store::jobs::{Run, RunState};
use keeper_tui::ui::app::{App, Effect, Popup};
use keeper_tui::ui::keys::Panel;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{NOW, THEME, draw, job_run as run, rows};

fn seen(runs: Vec<Run>) -> JobsSeen {
    JobsSeen {
        jobs: vec![
            JobLine {
                name: "digest".into(),
                schedule: Some(Schedule::Every(Duration::from_secs(3600))),
                next_run: Some(NOW as f64 + 600.0),
                pool: Some("llm".into()),
                pool_use: Some((1, 1)),
            },
            JobLine {
                name: "extract".into(),
                schedule: None,
                next_run: None,
                pool: None,
                pool_use: None,
            },
        ],
        runs,
    }
}

fn runs() -> Vec<Run> {
    vec![
        run(12, "digest", RunState::Running),
        run(11, "extract", RunState::Queued),
        run(10, "extract", RunState::Failed),
        run(9, "digest", RunState::Succeeded),
    ]
}

fn app_with(runs: Vec<Run>) -> App {
    let mut snap = ui_common::snapshot();
    snap.jobs = Some(Arc::new(seen(runs)));
    let mut app = App::new(Arc::new(snap), THEME);
    key(&mut app, KeyCode::Char('9'));
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn down(app: &mut App, n: usize) {
    for _ in 0..n {
        key(app, KeyCode::Char('j'));
    }
}

fn status(app: &App) -> (String, bool) {
    let s = app.status.as_ref().expect("a status message");
    (s.text.clone(), s.error)
}

#[test]
fn nine_shows_jobs_then_runs() {
    let mut app = app_with(runs());
    assert_eq!(app.focus, Panel::Jobs);
    let screen = rows(&draw(&mut app, 160, 45)).join("\n");
    assert!(
        screen.contains("9 Jobs 2 job(s), 2 queued or running"),
        "{screen}"
    );
    for want in [
        "every 1h",
        "next 10m",
        "llm 1/1",
        "#12 digest",
        "running",
        "#10 extract",
        "failed",
        "exit 2",
    ] {
        assert!(screen.contains(want), "no {want:?}:\n{screen}");
    }
}

#[test]
fn n_on_a_job_asks_first_then_queues_it() {
    let mut app = app_with(runs());
    key(&mut app, KeyCode::Char('n'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup);
    };
    assert_eq!(
        c.command,
        Command::Loop(LoopCommand::RunJob("digest".into()))
    );
    assert!(!c.on_confirm);
}

#[test]
fn x_cancels_a_live_run_and_refuses_an_ended_one() {
    let mut app = app_with(runs());
    key(&mut app, KeyCode::Char('x'));
    assert!(app.popup.is_none(), "a job row is no run");
    assert!(status(&app).1);
    down(&mut app, 2);
    key(&mut app, KeyCode::Char('x'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup);
    };
    assert_eq!(c.command, Command::Loop(LoopCommand::CancelRun(12)));
    assert!(
        c.detail
            .as_deref()
            .unwrap()
            .contains("SIGTERM to process group 7012")
    );
    key(&mut app, KeyCode::Esc);
    down(&mut app, 2);
    key(&mut app, KeyCode::Char('x'));
    assert!(app.popup.is_none());
    let (text, error) = status(&app);
    assert!(
        error && text.contains("run #10 has already ended (failed)"),
        "{text}"
    );
}

#[test]
fn t_retries_only_what_ended_badly() {
    let mut app = app_with(runs());
    down(&mut app, 4);
    key(&mut app, KeyCode::Char('t'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup);
    };
    assert_eq!(c.command, Command::Loop(LoopCommand::RetryRun(10)));
    key(&mut app, KeyCode::Esc);
    down(&mut app, 1);
    key(&mut app, KeyCode::Char('t'));
    assert!(app.popup.is_none(), "a succeeded run is not retried");
    assert!(status(&app).0.contains("is succeeded"));
}

#[test]
fn enter_on_a_run_shows_its_log_tail() {
    let mut app = app_with(runs());
    down(&mut app, 2);
    key(&mut app, KeyCode::Enter);
    let Some(Popup::Detail { title, text, .. }) = &app.popup else {
        panic!("no detail: {:?}", app.popup);
    };
    assert_eq!(title, "run #12 of digest");
    assert!(text.contains("line from run 12"), "{text}");
    assert!(text.contains("/state/jobs/run-12.log"), "{text}");
}

#[test]
fn the_cursor_stays_on_its_run_when_rows_move() {
    let mut app = app_with(runs());
    down(&mut app, 4);
    let mut moved = runs();
    moved.insert(0, run(13, "extract", RunState::Queued));
    let mut snap = (*app.snapshot).clone();
    snap.jobs = Some(Arc::new(seen(moved)));
    app.on_snapshot(Arc::new(snap));
    key(&mut app, KeyCode::Enter);
    let Some(Popup::Detail { title, .. }) = &app.popup else {
        panic!("no detail: {:?}", app.popup);
    };
    assert_eq!(title, "run #10 of extract");
}

#[test]
fn read_only_refuses_every_job_key_up_front() {
    let mut snap = ui_common::snapshot();
    snap.read_only = true;
    snap.jobs = Some(Arc::new(seen(runs())));
    let mut app = App::new(Arc::new(snap), THEME);
    key(&mut app, KeyCode::Char('9'));
    for c in ['n', 'x', 't'] {
        key(&mut app, KeyCode::Char(c));
        assert!(app.popup.is_none(), "{c}");
        assert!(status(&app).0.contains("read-only"), "{c}");
    }
}

#[test]
fn enter_on_a_retry_lists_its_attempts_from_the_first() {
    let mut retried = run(14, "extract", RunState::Running);
    retried.attempt = 1;
    retried.retry_of = Some(10);
    let mut with_retry = runs();
    with_retry.insert(0, retried);
    let mut app = app_with(with_retry);
    down(&mut app, 2);
    key(&mut app, KeyCode::Enter);
    let Some(Popup::Detail { title, text, .. }) = &app.popup else {
        panic!("no detail: {:?}", app.popup);
    };
    assert_eq!(title, "run #14 of extract");
    assert!(
        text.contains("attempts:\n  #10 attempt 1: failed, exit 2\n  #14 attempt 2: running"),
        "{text}"
    );
}
