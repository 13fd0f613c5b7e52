//! Hostile store text on the whole screen: every cell ratatui would send
//! to the terminal holds printable text of the width ratatui counted.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::engine::Notice;
use ratatui::buffer::Buffer;
use ui_common::{NOW, THEME, draw, outcome, rows, snapshot, thread};

const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}gnp.exe 🇺🇸\u{200d}";

fn assert_clean(buf: &Buffer) {
    for (y, row) in rows(buf).iter().enumerate() {
        for c in row.chars() {
            assert!(
                !(c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{1f1e6}'..='\u{1f1ff}')),
                "row {y} holds raw {c:?}: {row}"
            );
        }
    }
}

#[test]
fn hostile_questions_kinds_and_notices_are_drawn_escaped() {
    let mut snap = snapshot();
    let mut threads = (*snap.threads).clone();
    threads
        .rows
        .insert(0, thread(HOSTILE, "active", 5, HOSTILE, Some(HOSTILE)));
    threads.total += 1;
    snap.threads = Arc::new(threads);
    let mut notices = (*snap.notices).clone();
    notices.push(Notice {
        at: NOW - 1,
        error: false,
        seq: notices.len() as u64,
        text: format!("reopened {HOSTILE}").into(),
    });
    snap.notices = Arc::new(notices);
    let mut figures = (**snap.store.as_ref().unwrap()).clone();
    figures.outcomes.push(outcome(HOSTILE, 1, 1, 1));
    snap.store = Some(Arc::new(figures));
    let mut app = keeper_tui::ui::app::App::new(Arc::new(snap), THEME);
    for (w, h) in [(200, 50), (120, 40), (80, 24)] {
        let buf = draw(&mut app, w, h);
        assert_clean(&buf);
        let screen = rows(&buf).join("\n");
        assert!(
            screen.contains("x\\e]0;pwned\\x07\\e[2J"),
            "{w}x{h}:\n{screen}"
        );
    }
    // Scrolled: the row below the hostile one is whole.
    app.on_key(ratatui::crossterm::event::KeyEvent::new(
        ratatui::crossterm::event::KeyCode::Char('4'),
        ratatui::crossterm::event::KeyModifiers::NONE,
    ));
    for _ in 0..3 {
        app.on_key(ratatui::crossterm::event::KeyEvent::new(
            ratatui::crossterm::event::KeyCode::Char('j'),
            ratatui::crossterm::event::KeyModifiers::NONE,
        ));
        let buf = draw(&mut app, 120, 40);
        assert_clean(&buf);
        assert!(rows(&buf).join("\n").contains("why is the disk filling up"));
    }
}
