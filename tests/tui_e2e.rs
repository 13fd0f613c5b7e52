//! The real binary in a real terminal: a private tmux server per test
//! (`tmux -L keeper-test-…`, never the default server), keys sent with
//! `send-keys`, the screen read with `capture-pane`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use e2e_common::{NEXT, Tmux, back_at_prompt};
use rusqlite::Connection;

struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
        .args([
            "seed",
            db.to_str().unwrap(),
            "--threads",
            "300",
            "--events",
            "4000",
            "--notes",
            "600",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("keeper.toml");
    // Scheduled janitor passes off: the forced pass is the one that closes.
    // The reaper watches a private socket (never the default server).
    let socket = format!(
        "keeper-test-{}-reaper-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    std::fs::write(
        &config,
        format!("[janitor]\ninterval_secs = 0\n\n[reaper]\ntmux_socket_name = \"{socket}\"\n"),
    )
    .unwrap();
    World { dir, db, config }
}

fn launch(t: &Tmux, w: &World, extra: &str) {
    let home = w.dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state NO_COLOR=1 {} --db {} --config {} {extra}",
        env!("CARGO_BIN_EXE_keeper-tui"),
        w.db.display(),
        w.config.display()
    ));
}

/// The janitor row's "fires in window" number, read off the screen.
fn janitor_fires(screen: &str) -> Option<u64> {
    screen.lines().find_map(|l| {
        let cells: Vec<&str> = l.split('│').chain(l.split('┃')).collect();
        cells.iter().find_map(|c| {
            let mut words = c.split_whitespace();
            (words.next() == Some("janitor"))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    })
}

/// `(id, state)` of the first row under the Threads header.
fn first_thread(screen: &str) -> Option<(String, String)> {
    let row = screen
        .lines()
        .skip_while(|l| !l.contains(" 4 Threads"))
        .nth(2)?;
    let cell = row
        .split(['┃', '│'])
        .find(|c| c.trim_start().starts_with('T'))?;
    let mut words = cell.split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

fn state_of(db: &Path, id: &str) -> String {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT state FROM threads WHERE id=?1", [id], |r| r.get(0))
        .unwrap()
}

#[test]
fn operator_session_help_force_reopen_quit() {
    let w = world();
    let t = Tmux::start(w.dir.path(), 120, 40);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    launch(&t, &w, "");
    let s = t.wait_for("the panels", |s| {
        s.contains("2 Loops") && s.contains("4 Threads") && janitor_fires(s).is_some()
    });
    assert_eq!(
        t.format("#{alternate_on}"),
        "1",
        "the TUI should use the alternate screen"
    );
    let before = janitor_fires(&s).unwrap();

    // Help from the key table, and Esc closes it.
    t.keys(&["?"]);
    // A capture can land mid-frame, so wait for everything checked at once.
    let needles = [
        "keys — Esc closes",
        "force a pass of the selected loop",
        "reopen the selected thread",
        "quit",
    ];
    t.wait_for("the help popup with its keys", |s| {
        needles.iter().all(|n| s.contains(n))
    });
    t.keys(&["Escape"]);
    t.wait_for("help to close", |s| !s.contains("keys — Esc closes"));

    // Force a janitor pass (Loops is focused, keeper's janitor is the first row).
    let stale_before: i64 = Connection::open(&w.db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM threads WHERE state IN ('active','idle') AND last_touched_at < strftime('%s','now') - 86400",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stale_before > 0);
    // `f` shows what it would do first, focus on Cancel.
    t.keys(&["f"]);
    t.wait_for("the confirm naming the count", |s| {
        s.contains(&format!("close {stale_before} thread(s)?"))
    });
    t.keys(&["Right", "Enter"]);
    let s = t.wait_for("the pass result", |s| {
        s.contains(&format!("janitor: closed={stale_before}"))
    });
    let s = if janitor_fires(&s) == Some(before + 1) {
        s
    } else {
        t.wait_for("the janitor count to move", |s| {
            janitor_fires(s) == Some(before + 1)
        })
    };
    assert!(
        s.contains("forced janitor: closed="),
        "the log panel should record the pass:\n{s}"
    );

    // Reopen a closed thread: Threads panel, state filter to "closed".
    t.keys(&["4", "s", "s", "s"]);
    // The title follows the key at once; the rows come with the engine's
    // next snapshot, so wait for a row that is itself closed.
    let s = t.wait_for("closed threads listed", |s| {
        s.contains("4 Threads closed")
            && first_thread(s).is_some_and(|(_, state)| state == "closed")
    });
    let (id, _) = first_thread(&s).unwrap();
    assert!(id.starts_with('T'), "{id:?} is not a thread id:\n{s}");
    assert_eq!(state_of(&w.db, &id), "closed");
    t.keys(&["o"]);
    t.wait_for("the reopen message", |s| {
        s.contains(&format!("reopened {id} (was closed)"))
    });
    assert_eq!(state_of(&w.db, &id), "active");

    // Quit: back at a clean shell.
    t.keys(&["q"]);
    let s = t.wait_for("the shell prompt again", back_at_prompt);
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "the alternate screen must be left"
    );
    assert_eq!(t.format("#{pane_current_command}"), "bash");
    assert!(
        !s.contains("2 Loops"),
        "TUI remnants on the shell screen:\n{s}"
    );
}

fn keeper_pid(w: &World) -> String {
    let out = Command::new("pgrep")
        .args(["-f", &format!("keeper-tui --db {}", w.db.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .expect("keeper-tui is running")
        .trim()
        .to_string()
}

fn ends_cleanly_on(signal: &str) {
    let w = world();
    let t = Tmux::start(w.dir.path(), 120, 40);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    launch(&t, &w, "");
    t.wait_for("the panels", |s| {
        s.contains("2 Loops") && s.contains("3 Outcomes")
    });
    // Resizing reflows into the compact layout, where Stores shares its
    // slot and says so on its border.
    assert!(
        t.cmd(&["resize-window", "-t", &t.session, "-x", "80", "-y", "24"])
            .status
            .success()
    );
    t.wait_for("the compact layout", |s| {
        s.lines()
            .any(|l| l.contains("1 Stores") && l.contains("also 3 ┐"))
    });
    assert!(
        Command::new("kill")
            .args([signal, &keeper_pid(&w)])
            .status()
            .unwrap()
            .success()
    );
    t.wait_for("the shell prompt again", back_at_prompt);
    assert_eq!(t.format("#{alternate_on}"), "0");
    assert_eq!(t.format("#{pane_current_command}"), "bash");
}

#[test]
fn sigterm_restores_the_terminal() {
    ends_cleanly_on("-TERM");
}

#[test]
fn sighup_restores_the_terminal() {
    ends_cleanly_on("-HUP");
}

#[test]
fn a_vanished_store_shows_an_error_and_comes_back() {
    let w = world();
    let t = Tmux::start(w.dir.path(), 120, 40);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    launch(&t, &w, "");
    t.wait_for("the panels", |s| {
        s.contains("2 Loops") && s.contains("janitor")
    });
    let aside = w.dir.path().join("aside.sqlite");
    std::fs::rename(&w.db, &aside).unwrap();
    let s = t.wait_for("the error screen", |s| {
        s.contains("The store cannot be read.")
    });
    assert!(
        s.contains("store unreadable"),
        "the Log should say so:\n{s}"
    );
    std::fs::rename(&aside, &w.db).unwrap();
    t.wait_for("the panels again", |s| {
        s.contains("2 Loops") && s.contains("store is readable again")
    });
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}

#[test]
fn read_only_keys_say_why_and_change_nothing() {
    let w = world();
    let t = Tmux::start(w.dir.path(), 120, 40);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    launch(&t, &w, "--read-only");
    t.wait_for("the panels", |s| {
        s.contains("READ-ONLY") && s.contains("janitor")
    });
    let events: i64 = Connection::open(&w.db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    // Refused at once: no confirm, no dry-run first.
    t.keys(&["f"]);
    t.wait_for("the refusal", |s| {
        s.contains("read-only mode: refused to force a pass")
    });
    let after: i64 = Connection::open(&w.db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, events);
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}

/// Thread text that carries escapes, a bidi override and a flag reaches
/// the terminal only as visible escapes: the pane keeps its title, and
/// after scrolling past it the row below reads as written.
#[test]
fn hostile_thread_text_never_reaches_the_terminal_raw() {
    let w = world();
    let now = keeper_tui::store::now_unix();
    let c = Connection::open(&w.db).unwrap();
    c.execute(
        "UPDATE threads SET question = ?1, last_touched_at = ?2, state = 'active' \
         WHERE id = (SELECT id FROM threads ORDER BY id LIMIT 1)",
        rusqlite::params![
            "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}txt.exe 🇺🇸🇬🇧 end",
            now + 100
        ],
    )
    .unwrap();
    c.execute(
        "UPDATE threads SET question = 'plain row below', last_touched_at = ?1, state = 'active' \
         WHERE id = (SELECT id FROM threads ORDER BY id LIMIT 1 OFFSET 1)",
        [now + 50],
    )
    .unwrap();
    drop(c);
    let t = Tmux::start(w.dir.path(), 160, 40);
    let title = t.format("#{pane_title}");
    launch(&t, &w, "");
    t.wait_for("the escaped question", |s| {
        s.contains("evil\\e]0;pwned\\x07\\e[2J\\u{202e}txt.exe")
    });
    t.keys(&["4"]);
    for key in ["j", "j", "j", "k", "k", "k", "j"] {
        t.keys(&[key]);
    }
    let screen = t.wait_for("the row below, whole", |s| {
        s.lines().any(|l| l.contains("plain row below"))
    });
    assert!(
        !screen.contains('\u{202e}') && !screen.contains('\u{1f1fa}'),
        "{screen}"
    );
    assert!(screen.contains("\\u{1f1fa"), "{screen}");
    assert_eq!(
        t.format("#{pane_title}"),
        title,
        "the title was not changed"
    );
    t.keys(&["q"]);
    t.wait_for("the shell prompt", back_at_prompt);
}

/// In a real terminal too: a store path that names nothing is refused with
/// exit 2, and no file appears.
#[test]
fn the_tui_refuses_a_missing_store_and_creates_nothing() {
    let w = world();
    let typo = w.dir.path().join("typo.sqlite");
    let t = Tmux::start(w.dir.path(), 120, 30);
    let home = w.dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state {} --db {} --config {}; echo exit=$?",
        env!("CARGO_BIN_EXE_keeper-tui"),
        typo.display(),
        w.config.display()
    ));
    let screen = t.wait_for("the refusal", |s| {
        s.lines().any(|l| l.starts_with("exit=") && l.len() > 5)
    });
    assert!(screen.contains("exit=2"), "{screen}");
    assert!(
        screen.replace('\n', "").contains("add --create"),
        "{screen}"
    );
    assert!(!typo.exists());
}

/// Opened on a neglected store (thousands of stale threads) with the
/// default janitor, the TUI changes nothing on its own: the first pass
/// holds and says so; `f` shows the count, Cancel leaves everything, and
/// only the confirmed pass closes them.
#[test]
fn a_neglected_store_is_held_until_the_operator_agrees() {
    let w = world();
    std::fs::write(
        &w.config,
        std::fs::read_to_string(&w.config)
            .unwrap()
            .replace("[janitor]\ninterval_secs = 0\n", "[janitor]\n"),
    )
    .unwrap();
    let old = keeper_tui::store::now_unix() - 5 * 86_400;
    let c = Connection::open(&w.db).unwrap();
    c.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
         INSERT INTO threads (id, question, state, opened_at, last_touched_at) \
         SELECT printf('S%05d', i), 'old question ' || i, 'active', ?1 - 86400, ?1 FROM n",
        [old],
    )
    .unwrap();
    let stale = |c: &Connection| -> i64 {
        c.query_row(
            "SELECT COUNT(*) FROM threads WHERE state IN ('active','idle') AND last_touched_at < strftime('%s','now') - 86400",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let n = stale(&c);
    assert!(n > 5000);
    let closed_before: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM threads WHERE state = 'closed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let t = Tmux::start(w.dir.path(), 160, 40);
    launch(&t, &w, "");
    t.wait_for("the janitor held", |s| {
        s.contains(&format!("held: would close {n} (limit 200)")) && s.contains("f to review")
    });
    assert_eq!(stale(&c), n, "nothing closed");

    t.keys(&["f"]);
    t.wait_for("the confirm with the count", |s| {
        s.contains(&format!("close {n} thread(s)?"))
    });
    t.keys(&["Enter"]);
    t.wait_for("the cancel", |s| s.contains("cancelled"));
    assert_eq!(stale(&c), n, "Cancel closes nothing");

    t.keys(&["f"]);
    t.wait_for("the confirm again", |s| {
        s.contains(&format!("close {n} thread(s)?"))
    });
    t.keys(&["Right", "Enter"]);
    t.wait_for("the pass result", |s| {
        s.contains(&format!("janitor: closed={n}"))
    });
    assert_eq!(stale(&c), 0);
    let closed: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM threads WHERE state = 'closed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(closed, closed_before + n);

    // Its details list the pass among those that can be undone, and
    // keeper's record names what it closed.
    t.keys(&["Enter"]);
    t.wait_for("the janitor's details", |s| {
        s.contains("passes that can be undone") && s.contains(&format!("closed {n}"))
    });
    t.keys(&["Escape"]);
    t.wait_for("the details closed", |s| {
        !s.contains("passes that can be undone")
    });

    // `u` takes that pass back, after a confirm naming it.
    t.keys(&["u"]);
    t.wait_for("the undo confirm", |s| {
        s.contains("undo janitor pass #") && s.contains(&format!("closed {n})?"))
    });
    t.keys(&["Right", "Enter"]);
    t.wait_for("the undo result", |s| s.contains(&format!("reopened {n}")));
    let closed: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM threads WHERE state = 'closed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        closed, closed_before,
        "every thread that pass closed is open again"
    );
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    t.keys(&["q"]);
    t.wait_for("the shell prompt", back_at_prompt);
}
