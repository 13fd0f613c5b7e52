//! The screen on small panes and long lists: zoom, the too-small screen,
//! shared slots that say so, rows out of sight counted, the status bar's
//! message and hints, filters in every list, page moves, sort, the mouse,
//! and a cursor that stays on its item.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;

use keeper_tui::engine::Command;
use keeper_tui::store::threads::{ThreadAnchor, ThreadPage, ThreadQuery, ThreadRow};
use keeper_tui::ui::app::{App, Effect, Purpose};
use keeper_tui::ui::keys::Panel;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ui_common::{THEME, app, draw, page, rows, snapshot, thread};

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    rows(&draw(app, w, h)).join("\n")
}

/// Threads `t-00000` … in touched order, `n` of them loaded of `total`.
fn many_threads(n: usize) -> Vec<ThreadRow> {
    (0..n)
        .map(|i| {
            thread(
                &format!("t-{i:05}"),
                "idle",
                60 * (i as i64 + 1),
                &format!("question {i}"),
                None,
            )
        })
        .collect()
}

fn app_with_threads(p: ThreadPage) -> App {
    let mut snap = snapshot();
    snap.threads = Arc::new(p);
    App::new(Arc::new(snap), THEME)
}

fn selected_thread(app: &App) -> String {
    app.snapshot.threads.rows[app.threads.selected().unwrap()]
        .id
        .clone()
}

fn queries(fx: &[Effect]) -> Vec<ThreadQuery> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(Command::SetThreadQuery(q), Purpose::Silent) => Some(q.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn zoom_gives_the_focused_panel_the_whole_body_and_esc_returns() {
    let mut app = app();
    ch(&mut app, '4');
    let normal = screen(&mut app, 80, 24);
    assert!(normal.contains("Loops") && normal.contains("Threads"));
    ch(&mut app, 'z');
    let zoomed = screen(&mut app, 80, 24);
    assert!(zoomed.contains("4 Threads"), "{zoomed}");
    for other in ["2 Loops", "1 Stores", "5 Log"] {
        assert!(!zoomed.contains(other), "{other} still shown:\n{zoomed}");
    }
    assert_eq!(app.slots.len(), 1);
    assert_eq!(app.slots[0].area.height, 22, "title and status rows only");
    // Every thread fits now.
    assert!(zoomed.contains("t-0005"), "{zoomed}");
    key(&mut app, KeyCode::Esc);
    assert!(screen(&mut app, 80, 24).contains("2 Loops"));
    ch(&mut app, 'z');
    ch(&mut app, 'z');
    assert!(screen(&mut app, 80, 24).contains("2 Loops"));
}

#[test]
fn below_60x15_the_screen_says_so_and_refuses_keys() {
    let mut app = app();
    ch(&mut app, '4');
    let small = screen(&mut app, 59, 15);
    assert!(small.contains("terminal too small"), "{small}");
    assert!(small.contains("need 60×15, have 59×15"), "{small}");
    assert!(!small.contains("Threads"), "no bare panels:\n{small}");
    assert!(ch(&mut app, 'o').is_empty(), "o acts on nothing visible");
    let msg = app.status.as_ref().unwrap();
    assert!(msg.error && msg.text.contains("too small"), "{}", msg.text);
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
    let ok = screen(&mut app, 60, 15);
    assert!(!ok.contains("need 60×15") && ok.contains("Threads"), "{ok}");
}

#[test]
fn the_focused_panel_shows_its_first_row_at_every_size() {
    let mut snap = snapshot();
    snap.bridges = vec![ui_common::bridge_row("bridge-a")];
    for (w, h) in [(60, 15), (80, 24), (120, 40), (200, 50)] {
        let mut app = App::new(Arc::new(snap.clone()), THEME);
        for (digit, first_row) in [
            ('1', "threads"),
            ('2', "janitor"),
            ('3', "reject_candidate"),
            ('4', "t-0001"),
            ('5', "notice number"),
            ('7', "bridge-a"),
        ] {
            ch(&mut app, digit);
            let s = screen(&mut app, w, h);
            assert!(s.contains(first_row), "{digit} at {w}x{h}:\n{s}");
        }
    }
}

#[test]
fn a_shared_slot_names_the_panels_taking_turns_in_it() {
    let mut app = app();
    ch(&mut app, '4');
    // Words where they fit, numbers where they do not.
    let s = screen(&mut app, 120, 24);
    assert!(s.contains("also 6 8 9 ┓"), "{s}");
    assert!(s.contains("1 Stores") && s.contains("also 3 ┐"), "{s}");
    let s = screen(&mut app, 200, 50);
    assert!(
        s.contains("8 Tasks · 9 Jobs here too"),
        "Sessions' slot:\n{s}"
    );
}

#[test]
fn rows_out_of_sight_are_counted_and_the_total_comes_from_the_store() {
    let mut p = page(many_threads(500));
    p.total = 99_338;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("500 of 99,338"), "{s}");
    // Everything below the visible rows, loaded or not.
    let shown = s
        .lines()
        .filter(|l| l.contains("question ") && l.contains("t-0"))
        .count();
    assert!(
        s.contains(&format!("+{} more ↓", group(99_338 - shown as u64))),
        "{shown} shown:\n{s}"
    );
}

fn group(n: u64) -> String {
    keeper_tui::ui::app::group(n)
}

#[test]
fn moving_near_the_end_of_the_loaded_rows_loads_the_rows_around_the_cursor() {
    let mut p = page(many_threads(500));
    p.total = 100_000;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    screen(&mut app, 120, 40);
    assert!(queries(&ch(&mut app, 'j')).is_empty(), "far from the edge");
    let mut asked = Vec::new();
    for _ in 0..50 {
        asked.extend(queries(&key(&mut app, KeyCode::PageDown)));
        if !asked.is_empty() {
            break;
        }
    }
    let q = asked.first().expect("a page query near the edge");
    let ThreadAnchor::Around(k) = &q.anchor else {
        panic!("{q:?}")
    };
    assert_eq!(k.id, selected_thread(&app));
    assert!(app.threads.selected().unwrap() >= 400);
    // The page arrives; the cursor stays on its thread in the new window.
    let id = selected_thread(&app);
    let at: usize = id[2..].parse().unwrap();
    let mut next = ThreadPage {
        rows: (at - 250..at + 250)
            .map(|i| thread(&format!("t-{i:05}"), "idle", 60, "q", None))
            .collect(),
        offset: (at - 250) as u64,
        total: 100_000,
        query: q.clone(),
    };
    next.query.anchor = q.anchor.clone();
    let mut snap = (*app.snapshot).clone();
    snap.threads = Arc::new(next);
    app.on_snapshot(Arc::new(snap));
    assert_eq!(selected_thread(&app), id);
    assert_eq!(app.threads.selected(), Some(250));
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains(&format!(
            "{}–{} of 100,000",
            group(at as u64 - 249),
            group(at as u64 + 250)
        )),
        "{s}"
    );
}

#[test]
fn g_and_shift_g_go_to_the_real_ends_of_a_paged_list() {
    let mut p = page(many_threads(500));
    p.total = 100_000;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    let q = queries(&ch(&mut app, 'G'));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].anchor, ThreadAnchor::Bottom);
    let last = ThreadPage {
        rows: (99_500..100_000)
            .map(|i| thread(&format!("t-{i:05}"), "idle", 60, "q", None))
            .collect(),
        offset: 99_500,
        total: 100_000,
        query: q[0].clone(),
    };
    let mut snap = (*app.snapshot).clone();
    snap.threads = Arc::new(last);
    app.on_snapshot(Arc::new(snap));
    assert_eq!(selected_thread(&app), "t-99999", "the real last row");
    let q = queries(&ch(&mut app, 'g'));
    assert_eq!(q[0].anchor, ThreadAnchor::Top);
}

#[test]
fn the_cursor_stays_on_its_thread_when_rows_resort() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(selected_thread(&app), "t-0003");
    // Another process touched t-0005 and t-0004: they move to the top.
    let mut rows_ = ui_common::threads();
    let touched: Vec<_> = rows_.drain(3..).rev().collect();
    let reordered: Vec<_> = touched.into_iter().chain(rows_).collect();
    let mut snap = snapshot();
    snap.threads = Arc::new(page(reordered));
    app.on_snapshot(Arc::new(snap));
    assert_eq!(selected_thread(&app), "t-0003");
    assert_eq!(app.threads.selected(), Some(4));
}

#[test]
fn every_list_filters_with_shell_editing_keys() {
    let mut app = app();
    ch(&mut app, '2');
    ch(&mut app, '/');
    assert_eq!(app.editing, Some(Panel::Loops));
    for c in "no match cur".chars() {
        ch(&mut app, c);
    }
    ctrl(&mut app, 'w');
    assert_eq!(app.inputs[1].text, "no match ");
    ctrl(&mut app, 'u');
    for c in "cur".chars() {
        ch(&mut app, c);
    }
    key(&mut app, KeyCode::Enter);
    let labels: Vec<_> = app.loop_rows().iter().map(|r| r.label.clone()).collect();
    assert_eq!(labels, ["curator"]);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("/cur"), "{s}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.loop_rows().len(), 4);
    // The Log and Outcomes too.
    ch(&mut app, '3');
    ch(&mut app, '/');
    for c in "lesson".chars() {
        ch(&mut app, c);
    }
    assert_eq!(app.outcome_rows().len(), 1);
}

#[test]
fn a_long_message_shortens_the_hints_but_never_covers_help_and_quit() {
    let mut app = app();
    app.say("x".repeat(300), true);
    let s = screen(&mut app, 80, 24);
    let bar = s.lines().last().unwrap();
    assert!(bar.trim_end().ends_with("? help  q/C-c quit"), "{bar:?}");
    assert!(bar.contains('…'), "the message is cut, marked: {bar:?}");
    app.say("short", false);
    let s = screen(&mut app, 80, 24);
    let bar = s.lines().last().unwrap();
    assert!(
        bar.starts_with(" short") && bar.contains("f force pass"),
        "{bar:?}"
    );
}

fn click(app: &mut App, col: u16, row: u16) -> Vec<Effect> {
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn a_click_focuses_the_panel_and_selects_the_row_under_it() {
    let mut app = app();
    let s = screen(&mut app, 120, 40);
    let (y, line) = s
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("t-0003"))
        .unwrap();
    let x = line.chars().position(|c| c == 't').unwrap();
    let x = line.char_indices().nth(x).map(|_| x).unwrap();
    let col = line[..line.find("t-0003").unwrap()].chars().count() as u16;
    assert!(x as u16 <= col);
    click(&mut app, col + 1, y as u16);
    assert_eq!(app.focus, Panel::Threads);
    assert_eq!(selected_thread(&app), "t-0003");
    // The wheel scrolls the panel under it.
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: col + 1,
        row: y as u16,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(
        selected_thread(&app),
        "t-0005",
        "three down, stopped at the end"
    );
}

#[test]
fn after_o_the_cursor_stays_on_the_reopened_thread() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(selected_thread(&app), "t-0003");
    assert!(!ch(&mut app, 'o').is_empty());
    // Reopened: touched now, so it leads the list.
    let mut rows_ = ui_common::threads();
    let mut reopened = rows_.remove(2);
    reopened.state = "active".into();
    rows_.insert(0, reopened);
    let mut snap = snapshot();
    snap.threads = Arc::new(page(rows_));
    app.on_snapshot(Arc::new(snap));
    assert_eq!(app.threads.selected(), Some(0));
    assert_eq!(selected_thread(&app), "t-0003");
    // The next `o` acts on it again (and is refused: it is active now).
    assert!(ch(&mut app, 'o').is_empty());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("t-0003 is already active")
    );
}

#[test]
fn a_narrow_title_cuts_the_path_not_the_markers() {
    let mut snap = snapshot();
    snap.db_path = format!("/home/operator/{}/threadkeeper.sqlite", "deep/".repeat(20));
    snap.read_only = true;
    let mut app = App::new(Arc::new(snap), THEME);
    app.demo = Some("/tmp/demo".into());
    let s = screen(&mut app, 80, 24);
    let title = s.lines().next().unwrap();
    assert!(
        title.contains("DEMO") && title.contains("READ-ONLY"),
        "{title}"
    );
    assert!(title.contains("…"), "the path is cut, marked: {title}");
    assert!(
        title.contains("threadkeeper.sqlite"),
        "its end kept: {title}"
    );
}

#[test]
fn with_the_mouse_off_a_click_does_nothing() {
    let mut app = app();
    app.mouse = keeper_tui::ui::app::Mouse::Off;
    let s = screen(&mut app, 120, 40);
    let y = s.lines().position(|l| l.contains("t-0003")).unwrap();
    assert!(click(&mut app, 60, y as u16).is_empty());
    assert_eq!(app.focus, Panel::Loops);
}

#[test]
fn a_popup_hidden_by_a_too_small_screen_takes_no_keys() {
    let mut app = app();
    ch(&mut app, 'F');
    assert!(app.popup.is_some());
    screen(&mut app, 59, 15);
    assert!(ch(&mut app, 'y').is_empty(), "y must not confirm unseen");
    assert!(key(&mut app, KeyCode::Right).is_empty());
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none(), "Esc still closes it");
}

fn arrive(app: &mut App, rows: std::ops::Range<usize>, total: u64, query: ThreadQuery) {
    let page = ThreadPage {
        offset: rows.start as u64,
        rows: rows
            .map(|i| thread(&format!("t-{i:05}"), "idle", 60, "q", None))
            .collect(),
        total,
        query,
    };
    let mut snap = (*app.snapshot).clone();
    snap.threads = Arc::new(page);
    app.on_snapshot(Arc::new(snap));
}

#[test]
fn after_a_jump_the_window_follows_the_cursor_s_thread() {
    let mut p = page(many_threads(500));
    p.total = 100_000;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    let q = queries(&ch(&mut app, 'G')).remove(0);
    arrive(&mut app, 99_500..100_000, 100_000, q);
    assert_eq!(selected_thread(&app), "t-99999");
    // The next tick tells the engine where the cursor is, so a reopen that
    // moves the thread to the top keeps it in the window.
    let later = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let q = queries(&app.panel_looks_due(later));
    assert_eq!(q.len(), 1, "{q:?}");
    let ThreadAnchor::Around(k) = &q[0].anchor else {
        panic!("{q:?}")
    };
    assert_eq!(k.id, "t-99999");
    // A sort asks for the new order around the same thread.
    let q = queries(&ch(&mut app, 'S'));
    assert!(matches!(&q[0].anchor, ThreadAnchor::Around(k) if k.id == "t-99999"));
}

#[test]
fn a_page_move_waits_for_the_page_that_answers_it() {
    let mut p = page(many_threads(500));
    p.total = 100_000;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    screen(&mut app, 120, 40);
    // Past the loaded rows: the rest of each page move waits.
    let mut asked = Vec::new();
    for _ in 0..60 {
        asked.extend(queries(&key(&mut app, KeyCode::PageDown)));
    }
    assert_eq!(selected_thread(&app), "t-00499");
    let before = selected_thread(&app);
    // A refresh of the old window lands first: nothing moves.
    let old = app.snapshot.threads.query.clone();
    arrive(&mut app, 0..500, 100_000, old);
    assert_eq!(selected_thread(&app), before);
    // The answer: the page move finishes in it.
    let at: usize = before[2..].parse().unwrap();
    arrive(
        &mut app,
        at - 250..at + 250,
        100_000,
        asked.last().unwrap().clone(),
    );
    let now: usize = selected_thread(&app)[2..].parse().unwrap();
    assert!(now > at, "{now} after {at}");
}

#[test]
fn a_new_filter_cancels_a_jump_still_on_its_way() {
    let mut p = page(many_threads(500));
    p.total = 100_000;
    let mut app = app_with_threads(p);
    ch(&mut app, '4');
    ch(&mut app, 'G');
    let q = queries(&ch(&mut app, 's')).remove(0);
    assert_eq!(q.anchor, ThreadAnchor::Top);
    arrive(&mut app, 0..500, 24_000, q);
    assert_eq!(app.threads.selected(), Some(0), "the new list from its top");
}

#[test]
fn end_in_help_then_up_scrolls_back() {
    let mut app = app();
    ch(&mut app, '?');
    screen(&mut app, 80, 24);
    key(&mut app, KeyCode::End);
    screen(&mut app, 80, 24);
    let keeper_tui::ui::app::Popup::Help { scroll: end } = app.popup.clone().unwrap() else {
        panic!()
    };
    assert!(end > 0 && end < 200, "clamped to the last page: {end}");
    key(&mut app, KeyCode::Char('k'));
    let keeper_tui::ui::app::Popup::Help { scroll } = app.popup.clone().unwrap() else {
        panic!()
    };
    assert_eq!(scroll, end - 1);
}

#[test]
fn the_bridges_filter_shows_in_its_title() {
    let mut snap = snapshot();
    snap.bridges = vec![
        ui_common::bridge_row("bridge-a"),
        ui_common::bridge_row("other"),
    ];
    let mut app = App::new(Arc::new(snap), THEME);
    ch(&mut app, '7');
    ch(&mut app, '/');
    for c in "brid".chars() {
        ch(&mut app, c);
    }
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("1 of 2 supervised  /brid"), "{s}");
}

#[test]
fn enter_in_a_filtered_log_shows_the_newest_match() {
    let mut app = app();
    ch(&mut app, '5');
    ch(&mut app, '/');
    for c in "number 2".chars() {
        ch(&mut app, c);
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    let Some(keeper_tui::ui::app::Popup::Detail { text, .. }) = &app.popup else {
        panic!("{:?}", app.popup)
    };
    assert!(text.contains("notice number 2"), "{text}");
}
