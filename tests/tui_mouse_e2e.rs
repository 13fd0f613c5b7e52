//! The mouse end to end on the demo world, at 120×40: a click on a row of
//! the Threads panel (raw SGR mouse reports typed into the pane) focuses
//! Threads and selects the row clicked; with --no-mouse the program asks
//! for no mouse reports and the same click changes nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;
mod screen_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_common::{Tmux, back_at_prompt};
use screen_common::{
    click, demo_in_a_pane, focused, plain, selected_row, selected_word, settled, wait_settled,
};

/// Where the unfocused Threads panel's `nth` data row is: the cell to
/// click and the thread id shown there.
fn threads_row(screen: &str, nth: usize) -> Option<(usize, usize, String)> {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines.iter().position(|l| l.contains("┌ 4 Threads"))?;
    let left = lines[top].split("┌ 4 Threads").next()?.chars().count();
    let line = top + 2 + nth;
    let row: String = lines.get(line)?.chars().skip(left + 1).collect();
    let id = row.split_whitespace().next()?.to_string();
    id.starts_with('T').then_some((left + 3, line, id))
}

/// Thread ids shown in the unfocused Threads panel, top to bottom.
fn threads_shown(screen: &str) -> Vec<String> {
    (0..)
        .map_while(|n| threads_row(screen, n).map(|(_, _, id)| id))
        .collect()
}

/// The store's first `n` threads in the panel's order (most recently
/// touched first, id breaking ties).
fn by_touch(db: &Path, n: usize) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.prepare("SELECT id FROM threads ORDER BY last_touched_at DESC, id DESC LIMIT ?1")
        .unwrap()
        .query_map([n as i64], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Whether `shown` is a run of `order`: the screen was up to date with it.
fn a_run_of(shown: &[String], order: &[String]) -> bool {
    !shown.is_empty() && order.windows(shown.len()).any(|w| w == shown)
}

/// The demo at 120×40, Loops focused on its first row, Threads showing.
fn mouse_demo(extra: &str) -> (tempfile::TempDir, Tmux, PathBuf) {
    let (dir, t, demo) = demo_in_a_pane(120, 40, extra);
    wait_settled(&t, "Loops focused on janitor, Threads rows", 20, |s, e| {
        focused(s).is_some_and(|f| f.is('2', "Loops"))
            && selected_word(e).as_deref() == Some("janitor")
            && threads_shown(s).len() > 3
    });
    (dir, t, demo.join("threadkeeper.sqlite"))
}

#[test]
fn a_click_focuses_threads_and_selects_the_row_under_it() {
    let (_dir, t, db) = mouse_demo("");
    assert_eq!(t.format("#{mouse_any_flag}"), "1", "mouse reporting is on");
    // The demo's agents touch threads, re-sorting the rows; a click that
    // raced one is tried again.
    for attempt in 1..=5 {
        let before = by_touch(&db, 60);
        let s = plain(&settled(&t));
        let (column, line, id) = threads_row(&s, 2).unwrap_or_else(|| panic!("{s}"));
        let up_to_date = a_run_of(&threads_shown(&s), &before);
        click(&t, column, line);
        let (s, e) = wait_settled(&t, "Threads focused with a row selected", 20, |s, e| {
            focused(s).is_some_and(|f| {
                f.is('4', "Threads")
                    && selected_row(e).is_some_and(|(l, _)| l > f.top && l < f.bottom)
            })
        });
        let selected = selected_word(&e).unwrap();
        if selected == id {
            eprintln!("clicked {id} on attempt {attempt}");
            t.keys(&["q"]);
            t.wait_for("the shell prompt again", back_at_prompt);
            return;
        }
        assert!(
            !up_to_date || by_touch(&db, 60) != before,
            "clicked {id} (line {line}, column {column}), {selected} is selected:\n{s}"
        );
        t.keys(&["2"]);
        wait_settled(&t, "Loops focused again", 20, |s, _| {
            focused(s).is_some_and(|f| f.is('2', "Loops"))
        });
    }
    panic!("the rows re-sorted under every click");
}

#[test]
fn with_no_mouse_a_click_changes_nothing() {
    let (_dir, t, _db) = mouse_demo("--no-mouse");
    assert_eq!(t.format("#{mouse_any_flag}"), "0", "mouse reporting is off");
    let s = plain(&settled(&t));
    let (column, line, id) = threads_row(&s, 2).unwrap_or_else(|| panic!("{s}"));
    click(&t, column, line);
    // A key after the click: once it has acted, so has the click.
    t.keys(&["j"]);
    let (s, e) = wait_settled(&t, "the key after the click", 20, |_, e| {
        selected_word(e).is_some_and(|w| w != "janitor")
    });
    let f = focused(&s).unwrap();
    assert!(
        f.is('2', "Loops") && selected_word(&e).as_deref() == Some("reaper"),
        "a click on {id} (line {line}, column {column}) with --no-mouse changed the screen: \
         {} is focused, {:?} selected:\n{s}",
        f.title,
        selected_row(&e),
    );
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}
