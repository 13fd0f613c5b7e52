//! Whole screens on a `TestBackend`, stored as insta snapshots. Clock and
//! log times are local time, so they are masked as `hh:mm:ss`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::ui::app::App;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{THEME, app, draw, redact_times, snapshot, text};

/// The usual tmux pane, the smallest screen that draws panels, a laptop
/// terminal and a wide one.
const SIZES: [(u16, u16); 4] = [(60, 15), (80, 24), (120, 40), (200, 50)];

fn screen(app: &mut App, w: u16, h: u16) -> String {
    redact_times(&text(&draw(app, w, h)))
}

fn press(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

#[test]
fn time_mask_covers_clock_times_only() {
    assert_eq!(
        redact_times("│07:52:40 notice 1 at 12:3"),
        "│hh:mm:ss notice 1 at 12:3"
    );
    assert_eq!(redact_times("23:59:59 "), "hh:mm:ss ");
}

#[test]
fn normal_screen() {
    for (w, h) in SIZES {
        let mut app = app();
        insta::assert_snapshot!(format!("normal_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn help_popup() {
    for (w, h) in SIZES {
        let mut app = app();
        press(&mut app, '?');
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn store_error_screen() {
    let mut snap = snapshot();
    snap.store = None;
    snap.store_error =
        Some("cannot open /srv/keeper/db.sqlite: unable to open database file".into());
    Arc::make_mut(&mut snap.threads).rows.clear();
    for (w, h) in SIZES {
        let mut app = App::new(Arc::new(snap.clone()), THEME);
        insta::assert_snapshot!(format!("store_error_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn confirm_popup() {
    for (w, h) in SIZES {
        let mut app = app();
        press(&mut app, 'F');
        insta::assert_snapshot!(format!("confirm_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn each_panel_focused_and_zoomed() {
    let mut snap = snapshot();
    snap.bridges = vec![ui_common::bridge_row("bridge-a")];
    for (w, h) in SIZES {
        for digit in ['1', '3', '4', '5', '7'] {
            let mut app = App::new(Arc::new(snap.clone()), THEME);
            press(&mut app, digit);
            insta::assert_snapshot!(format!("focus_{digit}_{w}x{h}"), screen(&mut app, w, h));
        }
        let mut app = App::new(Arc::new(snap.clone()), THEME);
        press(&mut app, '4');
        press(&mut app, 'z');
        insta::assert_snapshot!(format!("zoom_threads_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn too_small() {
    let mut app = app();
    insta::assert_snapshot!("too_small_59x15", screen(&mut app, 59, 15));
    insta::assert_snapshot!("too_small_80x14", screen(&mut app, 80, 14));
}

#[test]
fn stores_panel_is_whole_on_the_normal_screen() {
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let mut app = app();
        let s = screen(&mut app, w, h);
        assert!(s.contains("db 1.5 MiB"), "{w}x{h}:\n{s}");
    }
}

#[test]
fn help_popup_shows_its_last_line_when_there_is_room() {
    let mut app = app();
    press(&mut app, '?');
    // Nine panels' keys need about 50 rows; in a shorter screen the popup
    // scrolls (`help_popup` at 120×40 shows "j for more").
    let s = screen(&mut app, 120, 60);
    assert!(s.contains("popups: j/k scroll"), "{s}");
}
