//! The Bridges panel: supervised processes on screen, `f` to evaluate,
//! `C` to reset a broken circuit after a confirm, and what the watchdog does
//! on its own reaching the status bar.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::engine::{Command, Notice};
use keeper_tui::loops::watchdog::{BridgeRow, Health};
use keeper_tui::loops::{LoopCommand, LoopId};
use keeper_tui::store::keeper::HealState;
use keeper_tui::sys::process::{Liveness, ProcInfo};
use keeper_tui::ui::app::{App, Effect, Popup, Purpose};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{NOW, THEME, draw, redact_times, rows};

fn bridges() -> Vec<BridgeRow> {
    let alive = ProcInfo {
        pid: 4242,
        zombie: false,
        started_at: NOW - 600,
        cmdline: "bridge --dir /srv".into(),
        argv: vec!["bridge".into(), "--dir".into(), "/srv".into()],
        parent: Some(1),
    };
    vec![
        BridgeRow {
            health: Health {
                name: "bridge".into(),
                liveness: Liveness::Alive(alive),
                heartbeat_age: Some(131),
                heartbeat_at: Some(NOW - 131),
                stale: true,
                proven: true,
                stamp: Some("a1b2c3d4e5f6".into()),
                current: Some("a1b2c3d4e5f6".into()),
                mismatch: false,
                beat_ahead: None,
            },
            state: HealState {
                name: "bridge".into(),
                tier: 2,
                last_action_at: NOW - 20,
                failures: 0,
                last_alert_at: 0,
                last_action: "bridge tier 2: SIGTERM sent pid=4242 (heartbeat 111s stale)".into(),
                started_group: 0,
            },
            breaker_limit: 3,
        },
        BridgeRow {
            health: Health {
                name: "mcp".into(),
                liveness: Liveness::Dead,
                heartbeat_age: None,
                heartbeat_at: None,
                stale: true,
                proven: true,
                stamp: None,
                current: None,
                mismatch: false,
                beat_ahead: None,
            },
            state: HealState {
                name: "mcp".into(),
                tier: 3,
                failures: 3,
                ..HealState::default()
            },
            breaker_limit: 3,
        },
    ]
}

fn app() -> App {
    let mut snap = ui_common::snapshot();
    snap.bridges = bridges();
    App::new(Arc::new(snap), THEME)
}

fn press(app: &mut App, c: char) -> Vec<Effect> {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

#[test]
fn the_whole_screen_shows_the_bridges_panel() {
    for (w, h) in [(160, 45), (120, 40)] {
        let mut app = app();
        press(&mut app, '7');
        let screen = redact_times(&rows(&draw(&mut app, w, h)).join("\n"));
        assert!(screen.contains("7 Bridges 2 supervised"), "{screen}");
        insta::assert_snapshot!(format!("bridges_{w}x{h}"), screen);
    }
    let mut app = app();
    let screen = rows(&draw(&mut app, 160, 45)).join("\n");
    assert!(screen.contains("4242"), "{screen}");
    assert!(
        screen.contains("BROKEN"),
        "the broken circuit shows: {screen}"
    );
}

#[test]
fn f_evaluates_and_c_resets_the_circuit_only_after_confirming() {
    let mut app = app();
    press(&mut app, '7');
    // `f` looks first; what it does next is `review`'s (tests/ui_app.rs).
    assert_eq!(
        press(&mut app, 'f'),
        vec![Effect::Send(
            Command::DryRun(LoopId::Watchdog),
            Purpose::Review(LoopId::Watchdog)
        )]
    );
    // The first row's circuit is closed: refused at once, no confirm.
    assert!(press(&mut app, 'C').is_empty());
    assert!(
        app.popup.is_none(),
        "nothing to confirm on a closed circuit"
    );
    let said = app.status.as_ref().map(|s| (s.text.clone(), s.error));
    assert!(
        said.as_ref().is_some_and(
            |(t, e)| *e && t.contains("is closed (0/3 failed restarts): nothing to reset")
        ),
        "{said:?}"
    );
    press(&mut app, 'j');
    assert!(press(&mut app, 'C').is_empty());
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm: {:?}", app.popup)
    };
    assert_eq!(c.target, "mcp");
    assert!(!c.on_confirm);
    assert!(c.detail.as_ref().unwrap().contains("3 failed restart(s)"));
    assert!(
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
            .is_empty(),
        "Enter on Cancel"
    );
    press(&mut app, 'C');
    assert_eq!(
        press(&mut app, 'y'),
        vec![Effect::Send(
            Command::Loop(LoopCommand::ResetCircuit("mcp".into())),
            Purpose::Message
        )]
    );
}

#[test]
fn what_the_engine_does_on_its_own_reaches_the_status_bar_once() {
    let mut app = app();
    let mut snap = (*app.snapshot).clone();
    // Notices present when the screen opens are history, not news.
    snap.notices = Arc::new(vec![Notice {
        at: NOW - 100,
        error: false,
        seq: 0,
        text: "engine started".into(),
    }]);
    app.on_snapshot(Arc::new(snap.clone()));
    assert!(app.status.is_none());
    let heal = "scheduled watchdog: bridge tier 2: SIGTERM sent pid=4242 (heartbeat 131s stale)";
    Arc::make_mut(&mut snap.notices).push(Notice {
        at: NOW,
        error: false,
        seq: 1,
        text: heal.into(),
    });
    app.on_snapshot(Arc::new(snap.clone()));
    assert_eq!(app.status.as_ref().unwrap().text, heal);
    app.status = None;
    app.on_snapshot(Arc::new(snap));
    assert!(app.status.is_none(), "the same notice is shown once");
}

/// A heal state reset (healthy again, or by the operator) has no action
/// time: the panel says what happened, never an age counted from 1970.
#[test]
fn a_reset_heal_state_shows_no_age_from_time_zero() {
    let mut row = ui_common::bridge_row("bridge");
    row.state.last_action = "healthy again".into();
    row.state.last_action_at = 0;
    let mut snap = ui_common::snapshot();
    snap.bridges = vec![row];
    let mut app = App::new(Arc::new(snap), THEME);
    press(&mut app, '7');
    let screen = rows(&draw(&mut app, 160, 45)).join("\n");
    assert!(screen.contains("healthy again"), "{screen}");
    assert!(!screen.contains("d ago"), "{screen}");
}
