//! The Sessions panel: every session with its verdict, and `R` asking
//! first with the exact tmux command.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::engine::Command;
use keeper_tui::loops::LoopCommand;
use keeper_tui::loops::reaper::{Named, SessionRow, Survey, SurveyState, Verdict};
use keeper_tui::store::keeper::Claim;
use keeper_tui::sys::tmux::Session;
use keeper_tui::ui::Ages;
use keeper_tui::ui::app::{App, Effect, Popup, Purpose};
use keeper_tui::ui::keys::Panel;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{NOW, THEME, draw, redact_times, rows};

static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn row(
    name: &str,
    age: i64,
    attached: u32,
    marker: bool,
    claim: Option<Claim>,
    orphan: bool,
    reason: &str,
) -> SessionRow {
    SessionRow {
        session: Session {
            id: format!(
                "${}",
                NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            name: name.into(),
            created: NOW - age,
            activity: NOW - age / 2,
            attached,
        },
        marker,
        verdict: match (marker, orphan, claim.is_some()) {
            (false, _, _) => Verdict::NotAgent,
            (true, true, _) if attached > 0 => Verdict::Attached,
            (true, true, _) => Verdict::Orphan,
            (true, false, true) => Verdict::Claimed,
            (true, false, false) => Verdict::Young,
        },
        claim,
        orphan: orphan && attached == 0,
        reason: reason.into(),
        task: None,
    }
}

fn survey() -> Survey {
    let claim = Claim {
        name: "msg-warm-10".into(),
        owner: "jobs".into(),
        claimed_at: NOW - 100,
        last_used: NOW - 100,
        ttl_secs: 600,
    };
    Survey {
        server: "tmux server -L agents".into(),
        at: NOW,
        grace_secs: 60,
        state: SurveyState::Listed,
        own: None,
        rows: vec![
            row(
                "msg-warm-1",
                3600,
                0,
                true,
                None,
                true,
                "orphan: idle 30m, no claim",
            ),
            row(
                "msg-warm-10",
                3600,
                0,
                true,
                Some(claim),
                false,
                "claimed by jobs (8m left)",
            ),
            row(
                "msg-warm-att",
                7200,
                1,
                true,
                None,
                true,
                "1 client(s) attached: reap by hand",
            ),
            row(
                "topic-12476",
                60,
                0,
                false,
                None,
                false,
                "not an agent session (no marker)",
            ),
        ],
    }
}

fn app_with(survey: Option<Survey>) -> App {
    let mut snap = ui_common::snapshot();
    snap.sessions = survey;
    let mut app = App::new(Arc::new(snap), THEME);
    app.reap_command = Some(Box::new(|s: &Session| {
        format!("tmux -L agents kill-session -t '{}'  # {}", s.id, s.name)
    }));
    app
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// The survey's own order: `S` from idle, past age, to name.
fn by_name(app: &mut App) {
    press(app, KeyCode::Char('S'));
    press(app, KeyCode::Char('S'));
    assert_eq!(app.sort_note(Panel::Sessions), "  ▼name");
    // The cursor stayed on its session; start from the top.
    press(app, KeyCode::Char('g'));
}

#[test]
fn sessions_sort_idle_longest_first_then_by_age_and_name() {
    let mut app = app_with(Some(survey()));
    press(&mut app, KeyCode::Char('6'));
    let names = |app: &App| -> Vec<String> {
        app.session_list()
            .iter()
            .map(|r| r.session.name.clone())
            .collect()
    };
    // Idle: activity is half the age ago in the fixture.
    assert_eq!(
        names(&app),
        ["msg-warm-att", "msg-warm-1", "msg-warm-10", "topic-12476"]
    );
    // The cursor stays on its session through a re-sort.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.sort_note(Panel::Sessions), "  ▼age");
    press(&mut app, KeyCode::Char('I'));
    assert_eq!(app.sort_note(Panel::Sessions), "  ▲age");
    let at = app.sessions.selected().unwrap();
    assert_eq!(names(&app)[at], "msg-warm-1");
    press(&mut app, KeyCode::Char('<'));
    assert_eq!(app.sort_note(Panel::Sessions), "  ▲idle");
    assert_eq!(
        names(&app),
        ["topic-12476", "msg-warm-10", "msg-warm-1", "msg-warm-att"]
    );
    let at = app.sessions.selected().unwrap();
    assert_eq!(names(&app)[at], "msg-warm-1");
}

#[test]
fn the_whole_screen_shows_the_sessions_panel() {
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = app_with(Some(survey()));
        press(&mut app, KeyCode::Char('6'));
        let screen = redact_times(&rows(&draw(&mut app, w, h)).join("\n"));
        insta::assert_snapshot!(format!("sessions_{w}x{h}"), screen);
    }
}

#[test]
fn focusing_sessions_asks_for_a_fresh_look_once() {
    let mut app = app_with(Some(survey()));
    assert_eq!(
        press(&mut app, KeyCode::Char('6')),
        vec![Effect::Send(Command::Observe, Purpose::Silent)]
    );
    assert_eq!(app.focus, Panel::Sessions);
    assert!(
        press(&mut app, KeyCode::Char('6')).is_empty(),
        "already there: no second look"
    );
}

#[test]
fn r_asks_first_naming_the_exact_command_and_focus_starts_on_cancel() {
    let survey = survey();
    let id = survey.rows[0].session.id.clone();
    assert_eq!(survey.rows[0].session.name, "msg-warm-1");
    let mut app = app_with(Some(survey));
    press(&mut app, KeyCode::Char('6'));
    by_name(&mut app);
    press(&mut app, KeyCode::Char('R'));
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm popup: {:?}", app.popup)
    };
    assert_eq!(c.target, "msg-warm-1");
    assert!(!c.on_confirm, "focus must start on Cancel");
    let detail = c.detail.clone().unwrap();
    assert!(
        detail.contains(&format!(
            "`tmux -L agents kill-session -t '{id}'  # msg-warm-1`"
        )),
        "{detail}"
    );
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(
        screen.contains(&format!(
            "tmux -L agents kill-session -t '{id}'  # msg-warm-1"
        )),
        "{screen}"
    );
    // Enter on Cancel does nothing.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.popup.is_none());
    // Again, move to Confirm: the reap goes to the engine.
    press(&mut app, KeyCode::Char('R'));
    press(&mut app, KeyCode::Right);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::Send(
            Command::Loop(LoopCommand::Reap(vec![Named {
                name: "msg-warm-1".into(),
                id: Some(id.clone()),
            }])),
            Purpose::Message
        )]
    );
}

#[test]
fn r_on_a_session_without_a_marker_is_refused_in_place() {
    let mut app = app_with(Some(survey()));
    press(&mut app, KeyCode::Char('6'));
    by_name(&mut app);
    for _ in 0..3 {
        press(&mut app, KeyCode::Char('j'));
    }
    assert!(press(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app.popup.is_none());
    let msg = app.status.as_ref().unwrap();
    assert!(
        msg.error && msg.text.contains("topic-12476 is not an agent session"),
        "{}",
        msg.text
    );
}

#[test]
fn an_unknown_tmux_says_so_in_the_panel() {
    let mut s = survey();
    s.state = SurveyState::Unknown("tmux did not answer within 5000 ms".into());
    s.rows.clear();
    let mut app = app_with(Some(s));
    press(&mut app, KeyCode::Char('6'));
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(
        screen.contains("6 Sessions tmux server -L agents: unknown"),
        "{screen}"
    );
    assert!(
        screen.contains("tmux did not answer within 5000 ms — reaping nothing until tmux answers"),
        "{screen}"
    );
}

/// The verdict is worded when drawn, from the same clock as the age
/// column: a session judged young 5 s after its start and drawn 30 s later
/// says 35 s, not the 5 s of the survey.
#[test]
fn verdict_text_is_worded_at_drawing_time() {
    use keeper_tui::ui::panels::sessions::SessionsPanel;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::{StatefulWidget, TableState};
    let mut young = row(
        "msg-warm-new",
        5,
        0,
        true,
        None,
        false,
        "younger than the grace (5s old, grace 1m)",
    );
    young.verdict = Verdict::Young;
    let s = Survey {
        rows: vec![young],
        ..survey()
    };
    let area = Rect::new(0, 0, 120, 6);
    let mut buf = Buffer::empty(area);
    let listed: Vec<_> = s.rows.iter().collect();
    SessionsPanel {
        survey: Some(&s),
        rows: &listed,
        ages: &Ages::at(NOW + 30),
        focused: true,
        theme: THEME,
        note: "",
    }
    .render(area, &mut buf, &mut TableState::default());
    let text = ui_common::text(&buf);
    assert!(
        text.contains("younger than the grace (35s old, grace 1m)"),
        "{text}"
    );
    assert!(!text.contains("(5s old"), "{text}");
}
