//! The Tasks panel on a test terminal: its rows, `x` refused up front or
//! confirmed naming task, pid and signal, `H` for hooks, Enter, `/`, and a
//! cursor that stays on its task when the rows move.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::engine::Command;
use keeper_tui::loops::LoopCommand;
use keeper_tui::loops::reconciler::{Proc, TaskLine};
use keeper_tui::store::hooks::{Delivery, DeliveryState};
use keeper_tui::store::tasks::TaskRow;
use keeper_tui::sys::process::TreeUsage;
use keeper_tui::ui::app::{App, Effect, Popup};
use keeper_tui::ui::keys::Panel;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{NOW, THEME, draw, rows};

fn line(id: &str, pid: i64, process: Proc, prompt: &str) -> TaskLine {
    let ended = matches!(process, Proc::Ended);
    TaskLine {
        row: TaskRow {
            id: id.into(),
            pid,
            cwd: "/srv/agents".into(),
            prompt: prompt.into(),
            started_at: NOW - 300,
            ended_at: ended.then_some(NOW - 60),
            return_code: ended.then_some(0),
            role: keeper_tui::store::tasks::infer_role(prompt).into(),
        },
        process,
        usage: (process == Proc::Live).then_some(TreeUsage {
            rss_bytes: 50 << 20,
            cpu_percent: 12.0,
            processes: 3,
        }),
        deliveries: Vec::new(),
    }
}

fn delivery(id: i64, task: &str, state: DeliveryState) -> Delivery {
    Delivery {
        id,
        delivery_id: format!("{task}.task_ended.0"),
        hook: "https://hooks.example.com/keeper".into(),
        task_id: task.into(),
        event: "task_ended".into(),
        state,
        attempts: 1,
        next_at: 0.0,
        last_status: Some(404),
        last_error: None,
        created_at: NOW - 60,
        updated_at: NOW - 60,
        body: String::new(),
    }
}

fn lines() -> Vec<TaskLine> {
    let mut done = line("tk_done01", 4101, Proc::Ended, "EXTRACT the facts");
    done.deliveries = vec![delivery(7, "tk_done01", DeliveryState::Failed)];
    vec![
        line(
            "tk_live01",
            4242,
            Proc::Live,
            "You are a CURATOR: audit lessons",
        ),
        line("tk_seen01", 0, Proc::Visible, "interactive work"),
        line("tk_reuse1", 4343, Proc::Replaced, "old work"),
        done,
    ]
}

fn app_with(tasks: Vec<TaskLine>) -> App {
    let mut snap = ui_common::snapshot();
    snap.tasks = Some(Arc::new(tasks));
    let mut app = App::new(Arc::new(snap), THEME);
    key(&mut app, KeyCode::Char('8'));
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn status(app: &App) -> (String, bool) {
    let s = app.status.as_ref().expect("a status message");
    (s.text.clone(), s.error)
}

#[test]
fn eight_focuses_tasks_and_asks_for_a_fresh_look() {
    let mut snap = ui_common::snapshot();
    snap.tasks = Some(Arc::new(lines()));
    let mut app = App::new(Arc::new(snap), THEME);
    let fx = key(&mut app, KeyCode::Char('8'));
    assert_eq!(app.focus, Panel::Tasks);
    assert!(
        matches!(&fx[..], [Effect::Send(Command::ObserveLoop(id), _)] if id.name() == "reconciler"),
        "{fx:?}"
    );
    let screen = rows(&draw(&mut app, 160, 45)).join("\n");
    assert!(screen.contains("8 Tasks"), "{screen}");
    assert!(screen.contains("3 running, 4 shown of 4"), "{screen}");
    for want in [
        "tk_live01",
        "curator",
        "live",
        "visible",
        "reused",
        "50.0 MiB",
        "1 failed",
    ] {
        assert!(screen.contains(want), "no {want:?}:\n{screen}");
    }
}

#[test]
fn x_on_a_live_task_asks_first_naming_task_pid_and_signal() {
    let mut app = app_with(lines());
    assert!(key(&mut app, KeyCode::Char('x')).is_empty());
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup);
    };
    assert_eq!(c.target, "tk_live01 (pid 4242, curator)");
    assert!(c.detail.as_deref().unwrap().contains("SIGTERM"), "{c:?}");
    assert!(!c.on_confirm, "focus starts on Cancel");
    assert_eq!(
        c.command,
        Command::Loop(LoopCommand::Cancel("tk_live01".into()))
    );
    // Enter on Cancel does nothing; y confirms.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Char('x'));
    let fx = key(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&fx[..], [Effect::Send(Command::Loop(LoopCommand::Cancel(id)), _)] if id == "tk_live01"),
        "{fx:?}"
    );
}

#[test]
fn x_is_refused_up_front_for_what_cannot_be_cancelled() {
    for (at, why) in [
        (1, "visible terminal"),
        (2, "now belongs to a process that started after"),
        (3, "has already ended"),
    ] {
        let mut app = app_with(lines());
        for _ in 0..at {
            key(&mut app, KeyCode::Char('j'));
        }
        assert!(key(&mut app, KeyCode::Char('x')).is_empty());
        assert!(app.popup.is_none(), "no confirm for row {at}");
        let (text, error) = status(&app);
        assert!(error && text.contains(why), "row {at}: {text}");
    }
    // Read-only: refused before anything is looked at.
    let mut snap = ui_common::snapshot();
    snap.read_only = true;
    snap.tasks = Some(Arc::new(lines()));
    let mut app = App::new(Arc::new(snap), THEME);
    key(&mut app, KeyCode::Char('8'));
    key(&mut app, KeyCode::Char('x'));
    assert!(app.popup.is_none());
    assert!(status(&app).0.contains("read-only"));
}

#[test]
fn the_cursor_stays_on_its_task_when_rows_move() {
    let mut app = app_with(lines());
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    // A new task starts: it is listed first and every row moves down.
    let mut moved = lines();
    moved.insert(0, line("tk_new001", 5000, Proc::Live, "new"));
    let mut snap = (*app.snapshot).clone();
    snap.tasks = Some(Arc::new(moved));
    app.on_snapshot(Arc::new(snap));
    assert_eq!(app.tasks.selected(), Some(3));
    key(&mut app, KeyCode::Char('x'));
    assert!(status(&app).0.contains("pid 4343"), "still on tk_reuse1");
}

#[test]
fn h_redelivers_what_was_delivered_or_failed_after_a_confirm() {
    let mut app = app_with(lines());
    key(&mut app, KeyCode::Char('H'));
    let (text, error) = status(&app);
    assert!(error && text.contains("nothing to redeliver"), "{text}");
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('H'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup);
    };
    assert_eq!(c.command, Command::Redeliver(vec![7]));
}

#[test]
fn enter_shows_the_whole_prompt_and_the_deliveries() {
    let mut app = app_with(lines());
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Enter);
    let Some(Popup::Detail { title, text, .. }) = &app.popup else {
        panic!("no detail: {:?}", app.popup);
    };
    assert_eq!(title, "task tk_done01");
    assert!(text.contains("EXTRACT the facts"), "{text}");
    assert!(
        text.contains("#7 task_ended failed after 1 attempt(s)"),
        "{text}"
    );
}

#[test]
fn slash_filters_the_tasks() {
    let mut app = app_with(lines());
    key(&mut app, KeyCode::Char('/'));
    for c in "curator".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.task_lines().len(), 1);
    let screen = rows(&draw(&mut app, 160, 45)).join("\n");
    assert!(
        screen.contains("1 shown of 4") && screen.contains("/curator"),
        "{screen}"
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.task_lines().len(), 4);
}

#[test]
fn a_small_pane_keeps_id_pid_process_age_and_rc() {
    let mut app = app_with(lines());
    let screen = rows(&draw(&mut app, 80, 24)).join("\n");
    let live = screen
        .lines()
        .find(|l| l.contains("tk_live01"))
        .unwrap_or_else(|| panic!("no live row:\n{screen}"));
    for want in ["4242", "live", "5m"] {
        assert!(live.contains(want), "no {want:?} in {live:?}");
    }
    assert!(
        screen
            .lines()
            .any(|l| l.contains("tk_done01") && l.contains("ended")),
        "{screen}"
    );
}
