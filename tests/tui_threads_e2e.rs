//! The Threads panel over a store of 100,000 threads, end to end: the
//! title counts them all, `G` pages to the real last row and `g` back, and
//! the cursor stays on its thread while another process touches others
//! and they re-sort above it.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;
mod screen_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_common::{Tmux, back_at_prompt};
use rusqlite::Connection;
use screen_common::{
    Focused, env_for, focused, plain, selected_row, selected_word, settled, wait_settled,
};

const THREADS: &str = "100,000";

/// A seeded store of 100,000 threads and a config under which nothing
/// writes to it on its own: no janitor or reaper passes (the reaper's tmux
/// server a private, absent one), no reconciler.
struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.sqlite");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
        .args(["seed", db.to_str().unwrap()])
        .args(["--threads", "100000", "--events", "1000", "--notes", "1000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("seeded 100,000 threads in {:?}", started.elapsed());
    let config = dir.path().join("keeper.toml");
    std::fs::write(
        &config,
        format!(
            "[janitor]\ninterval_secs = 0\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-absent\"\n[tasks]\nreconcile_secs = 0\n",
            std::process::id()
        ),
    )
    .unwrap();
    World { dir, db, config }
}

/// keeper-tui on the store at 120×40, Threads focused with its first page.
fn threads_in_a_pane(w: &World) -> Tmux {
    let t = Tmux::start(w.dir.path(), 120, 40);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    t.type_line(&format!(
        "{} {} --db {} --config {}",
        env_for(w.dir.path()),
        env!("CARGO_BIN_EXE_keeper-tui"),
        w.db.display(),
        w.config.display()
    ));
    t.wait_for("the TUI", |s| s.contains("2 Loops"));
    t.keys(&["4"]);
    t.wait_for("Threads focused, counting them all", |s| {
        threads(s).is_some_and(|f| f.title.contains(&format!(" 500 of {THREADS} ")))
    });
    t
}

fn threads(screen: &str) -> Option<Focused> {
    focused(screen).filter(|f| f.is('4', "Threads"))
}

fn open(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// The panel's order (most recently touched first, id breaking ties):
/// the first `n` threads, or the last `n` with `from_end`, as shown.
fn in_order(db: &Path, n: usize, from_end: bool) -> Vec<String> {
    let dir = if from_end { "ASC" } else { "DESC" };
    let mut ids: Vec<String> = open(db)
        .prepare(&format!(
            "SELECT id FROM threads ORDER BY last_touched_at {dir}, id {dir} LIMIT ?1"
        ))
        .unwrap()
        .query_map([n as i64], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    if from_end {
        ids.reverse();
    }
    ids
}

/// Threads ahead of `id` in the panel's order: its place, from 0.
fn place(db: &Path, id: &str) -> u64 {
    let n: i64 = open(db)
        .query_row(
            "SELECT COUNT(*) FROM threads t, threads me WHERE me.id = ?1 \
             AND (t.last_touched_at, t.id) > (me.last_touched_at, me.id)",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    n as u64
}

/// A settled screen where Threads is focused and `want` holds of the
/// panel and the screen with its attributes.
fn wait_threads(
    t: &Tmux,
    what: &str,
    secs: u64,
    want: impl Fn(&Focused, &str) -> bool,
) -> (Focused, String) {
    let (s, e) = wait_settled(t, what, secs, |s, e| {
        threads(s).is_some_and(|f| want(&f, e))
    });
    (threads(&s).unwrap(), e)
}

/// The thread ids of the view's rows, top to bottom, and which of them
/// is selected.
fn view(f: &Focused, s: &str) -> (Vec<String>, Option<usize>) {
    let ids = f
        .rows
        .iter()
        .skip(1)
        .filter_map(|r| r.split_whitespace().next().map(str::to_string));
    let first = f.top + 2;
    let at = selected_row(s).and_then(|(line, _)| line.checked_sub(first));
    (ids.collect(), at)
}

/// `g`, then three rows down: the thread on the fourth row, selected.
fn on_the_fourth_row(t: &Tmux, db: &Path) -> String {
    let top = in_order(db, 4, false);
    t.keys(&["g"]);
    wait_threads(t, "the first row", 20, |f, s| {
        f.title.contains(&format!(" 500 of {THREADS} "))
            && selected_word(s).as_deref() == Some(top[0].as_str())
    });
    t.keys(&["j", "j", "j"]);
    wait_threads(t, &format!("the fourth row, {}", top[3]), 20, |_, s| {
        selected_word(s).as_deref() == Some(top[3].as_str())
    });
    top[3].clone()
}

/// Another process's touch: one commit.
fn touch(conn: &Connection, id: &str) {
    let now = keeper_tui::store::now_unix();
    let changed = conn
        .execute(
            "UPDATE threads SET last_touched_at = ?1 WHERE id = ?2",
            rusqlite::params![now, id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// Wait until the cursor is on `kept` at its place in the store's order
/// (rows above the view plus its row in the view), then check that the
/// rows down to it are the store's, some of them `touched`.
fn cursor_at_its_place(t: &Tmux, db: &Path, kept: &str, touched: &[String]) {
    let at = place(db, kept);
    let what = format!("the cursor on {kept}, the {}th thread", at + 1);
    let (f, s) = wait_threads(t, &what, 20, |f, s| {
        let (_, row) = view(f, s);
        selected_word(s).as_deref() == Some(kept) && row.is_some_and(|r| f.above() + r as u64 == at)
    });
    let order = in_order(db, at as usize + 1, false);
    let (ids, row) = view(&f, &s);
    let row = row.unwrap();
    let from = f.above() as usize;
    assert_eq!(
        ids[..=row],
        order[from..=from + row],
        "the rows down to the cursor are not the store's order:\n{}",
        plain(&s)
    );
    assert!(
        ids[..row].iter().any(|id| touched.contains(id)),
        "no touched thread shown above the cursor:\n{}",
        plain(&s)
    );
}

#[test]
fn a_hundred_thousand_threads_page_to_the_end_and_the_cursor_keeps_its_thread() {
    let started = Instant::now();
    let w = world();
    let t = threads_in_a_pane(&w);

    // `G`: the real last row, the least recently touched thread.
    let last = in_order(&w.db, 1, true).pop().unwrap();
    t.keys(&["G"]);
    wait_threads(&t, &format!("the last row, {last}"), 20, |f, s| {
        f.title.contains(&format!("–{THREADS} of {THREADS} "))
            && selected_word(s).as_deref() == Some(last.as_str())
    });
    let kept = on_the_fourth_row(&t, &w.db);

    // Another process touches 20 other threads, one commit each over 10 s:
    // the least recently touched, so each one moves up past the cursor.
    let touched = in_order(&w.db, 20, true);
    assert!(!touched.contains(&kept));
    let conn = open(&w.db);
    let begun = Instant::now();
    for (n, id) in touched.iter().enumerate() {
        let due = begun + Duration::from_millis(500 * n as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        touch(&conn, id);
        let s = settled(&t);
        assert_eq!(
            selected_word(&s).as_deref(),
            Some(kept.as_str()),
            "after touching {} thread(s), the cursor left {kept}:\n{}",
            n + 1,
            plain(&s)
        );
    }
    assert_eq!(
        place(&w.db, &kept),
        23,
        "20 touched and the 3 first rows are ahead"
    );
    cursor_at_its_place(&t, &w.db, &kept, &touched);

    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
    eprintln!("100,000 threads e2e took {:?}", started.elapsed());
}

/// Three threads touched within one second, each in its own commit with
/// the screen redrawn in between: all three move above the cursor.
#[test]
fn threads_touched_within_one_second_all_move_above_the_cursor() {
    let w = world();
    let t = threads_in_a_pane(&w);
    let kept = on_the_fourth_row(&t, &w.db);
    let touched = in_order(&w.db, 3, true);
    let conn = open(&w.db);
    // From the start of a second: commits 0, 300 and 600 ms into it.
    let second = keeper_tui::store::now_unix();
    while keeper_tui::store::now_unix() == second {
        std::thread::sleep(Duration::from_millis(5));
    }
    for (n, id) in touched.iter().enumerate() {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        touch(&conn, id);
    }
    let stamps: Vec<i64> = touched
        .iter()
        .map(|id| {
            conn.query_row(
                "SELECT last_touched_at FROM threads WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        })
        .collect();
    assert!(
        stamps.iter().all(|s| *s == stamps[0]),
        "the three commits were meant to share one second: {stamps:?}"
    );
    assert_eq!(
        place(&w.db, &kept),
        6,
        "3 touched and the 3 first rows are ahead"
    );
    cursor_at_its_place(&t, &w.db, &kept, &touched);
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}

/// `g` typed with the moves after it, as fingers do: the moves count from
/// the first row, whether or not the first page has come yet. Five times,
/// each from the last row.
#[test]
fn g_then_moves_typed_at_once_count_from_the_first_row() {
    let w = world();
    let t = threads_in_a_pane(&w);
    let last = in_order(&w.db, 1, true).pop().unwrap();
    let fourth = in_order(&w.db, 4, false).pop().unwrap();
    for attempt in 1..=5 {
        t.keys(&["G"]);
        wait_threads(&t, &format!("the last row, {last}"), 20, |f, s| {
            f.title.contains(&format!("–{THREADS} of {THREADS} "))
                && selected_word(s).as_deref() == Some(last.as_str())
        });
        t.keys(&["g", "j", "j", "j"]);
        wait_threads(
            &t,
            &format!("the fourth row, {fourth}, after `gjjj` (attempt {attempt})"),
            10,
            |f, s| {
                f.title.contains(&format!(" 500 of {THREADS} "))
                    && selected_word(s).as_deref() == Some(fourth.as_str())
            },
        );
    }
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}
