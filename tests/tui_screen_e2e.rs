//! The screen end to end on the demo world: the real binary in a pane of
//! a private tmux server. Every panel takes focus from its digit and zooms
//! to the whole body and back, at 80×24 and 200×50; the zoomed Log shows a
//! notice of over 300 characters whole, wrapped; a tmux session started on
//! the demo's server shows in Sessions within 3 s. The mouse is in
//! `tui_mouse_e2e.rs`, the Threads panel over a big store in
//! `tui_threads_e2e.rs`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;
mod screen_common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use e2e_common::back_at_prompt;
use screen_common::{PANELS, demo_in_a_pane, focused, titles_shown, wait_settled};

/// The tmux sessions the demo starts on its own server.
const DEMO_SESSIONS: [&str; 6] = [
    "msg-warm-1001",
    "msg-warm-1002",
    "msg-warm-1003",
    "echo-msg-warm-1718",
    "topic-12476",
    "scratch",
];

fn is_clock(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 8
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
        && b[2] == b':'
        && b[5] == b':'
}

/// The first word of a row, past an orphan's `⚠`.
fn first_word(row: &str) -> &str {
    row.split_whitespace().find(|w| *w != "⚠").unwrap_or("")
}

/// Whether the panel's rows hold one that only a data row would show.
fn shows_data(digit: char, rows: &[String]) -> bool {
    let lowercase =
        |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    match digit {
        '1' => rows
            .iter()
            .any(|r| r.starts_with("threads ") && r.contains("active")),
        '2' => rows.iter().any(|r| r.starts_with("janitor ")),
        // Under the header `outcome 7d 30d all`: a name and its counts.
        '3' => rows.get(1).is_some_and(|r| {
            let mut words = r.split_whitespace();
            words.next().is_some_and(lowercase)
                && words.next().is_some_and(|n| n.parse::<u64>().is_ok())
        }),
        // Under the header `id state age question`: a thread and its state.
        '4' => rows.get(1).is_some_and(|r| {
            let mut words = r.split_whitespace();
            words.next().is_some_and(|id| {
                id.len() > 1
                    && id.starts_with('T')
                    && id[1..].chars().all(|c| c.is_ascii_hexdigit())
            }) && words.next().is_some_and(lowercase)
        }),
        '5' => rows.iter().any(|r| is_clock(r)),
        '6' => rows.iter().any(|r| DEMO_SESSIONS.contains(&first_word(r))),
        '7' => rows.iter().any(|r| r.starts_with("bridge ")),
        '8' => rows.iter().any(|r| r.starts_with("tk_")),
        '9' => rows.iter().any(|r| r.starts_with("digest ")),
        _ => false,
    }
}

/// Panel `digit` alone in the body, border to border, its data on show.
fn zoomed(screen: &str, digit: char, name: &str, width: u16, height: u16) -> bool {
    let Some(f) = focused(screen) else {
        return false;
    };
    let top = screen.lines().nth(1).unwrap_or("");
    f.is(digit, name)
        && f.top == 1
        && f.bottom == usize::from(height) - 2
        && top.starts_with('┏')
        && top.trim_end().ends_with('┓')
        && top.trim_end().chars().count() == usize::from(width)
        && titles_shown(screen) == vec![digit]
        && shows_data(digit, &f.rows)
}

fn every_panel_focuses_and_zooms(width: u16, height: u16) {
    let started = Instant::now();
    let (_dir, t, _demo) = demo_in_a_pane(width, height, "");
    for (n, (digit, name)) in PANELS.into_iter().enumerate() {
        t.keys(&[&digit.to_string()]);
        let what = format!("{digit} {name} focused with a data row");
        let (s, _) = wait_settled(&t, &what, 20, |s, _| {
            focused(s).is_some_and(|f| f.is(digit, name) && shows_data(digit, &f.rows))
        });
        let laid_out = titles_shown(&s);
        assert!(laid_out.len() > 1, "other panels share the screen:\n{s}");

        t.keys(&["z"]);
        wait_settled(&t, &format!("{digit} {name} zoomed"), 20, |s, _| {
            zoomed(s, digit, name, width, height)
        });

        // Back with `z` or Esc, in turns: the same panels as before.
        let back = if n % 2 == 0 { "z" } else { "Escape" };
        t.keys(&[back]);
        let what = format!("{digit} {name} back from zoom with {back}, beside {laid_out:?}");
        wait_settled(&t, &what, 20, |s, _| {
            focused(s).is_some_and(|f| f.is(digit, name)) && titles_shown(s) == laid_out
        });
    }
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
    eprintln!("{width}×{height}: every panel in {:?}", started.elapsed());
}

#[test]
fn every_panel_focuses_and_zooms_at_80x24() {
    every_panel_focuses_and_zooms(80, 24);
}

#[test]
fn every_panel_focuses_and_zooms_at_200x50() {
    every_panel_focuses_and_zooms(200, 50);
}

/// `000-001-002-…` cut at `len`: no stretch of it repeats, so a row shown
/// twice or left out cannot pass for the text.
fn counting(prefix: &str, len: usize) -> String {
    let mut s = prefix.to_string();
    let mut i = 0;
    while s.len() < len {
        write!(s, "{i:03}-").unwrap();
        i += 1;
    }
    s.truncate(len);
    s
}

/// The Log's line for the notice naming `file`, from the demo's log file:
/// the text the Log panel was given.
fn notice_in_log_file(demo: &Path, file: &str) -> Option<String> {
    let log = std::fs::read_dir(demo.join("log")).ok()?;
    log.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("keeper-tui"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .find(|l| l.contains(file))
        .and_then(|l| l.find("scheduled watcher: ").map(|at| l[at..].to_string()))
}

/// The Log's notices on screen, each as its rows of text (the clock and
/// the indent under it left out); a notice cut off at the top is not one.
fn notices(rows: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut open = false;
    for row in rows {
        let chars: Vec<char> = row.chars().collect();
        let clock: String = chars.iter().take(9).collect();
        let text: String = chars.iter().skip(9).collect();
        let text = text.trim_end().to_string();
        if is_clock(&clock) {
            out.push(vec![text]);
            open = true;
        } else if open && clock.trim().is_empty() && !text.is_empty() {
            out.last_mut().unwrap().push(text);
        } else {
            open = false;
        }
    }
    out
}

/// Whether `rows` spell `text` whole and in order: each row the next
/// stretch of it, a row break taking at most the one space it falls on.
fn spells(rows: &[String], text: &str) -> bool {
    let mut rest = text;
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(' ').unwrap_or(rest);
        }
        match rest.strip_prefix(row.as_str()) {
            Some(r) if !row.is_empty() => rest = r,
            _ => return false,
        }
    }
    rest.is_empty()
}

#[test]
fn the_zoomed_log_shows_a_300_character_notice_whole() {
    let (_dir, t, demo) = demo_in_a_pane(80, 24, "");
    t.keys(&["5"]);
    wait_settled(&t, "the Log focused", 20, |s, _| {
        focused(s).is_some_and(|f| f.is('5', "Log"))
    });
    t.keys(&["z"]);
    wait_settled(&t, "the Log zoomed", 20, |s, _| {
        zoomed(s, '5', "Log", 80, 24)
    });

    // A transcript of an ended session under long names: the watcher's
    // notice lists its path.
    let project = counting("wrap-project-", 150);
    let file = format!("{}.jsonl", counting("wrap-session-", 150));
    let folder = demo.join("transcripts").join(&project);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(&file);
    std::fs::write(&path, "{\"type\":\"user\",\"seq\":0,\"text\":\"long\"}\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Some(text) = notice_in_log_file(&demo, &file) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never queued {}:\n{}",
            path.display(),
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.chars().count() >= 300,
        "only {} characters: {text}",
        text.chars().count()
    );

    let (s, _) = wait_settled(&t, "the notice whole on screen", 20, |s, _| {
        zoomed(s, '5', "Log", 80, 24)
            && focused(s).is_some_and(|f| notices(&f.rows).iter().any(|n| spells(n, &text)))
    });
    let rows = notices(&focused(&s).unwrap().rows)
        .into_iter()
        .find(|n| spells(n, &text))
        .unwrap();
    assert!(rows.len() >= 5, "wrapped over {} rows:\n{s}", rows.len());
    eprintln!(
        "a notice of {} characters shown whole over {} rows",
        text.chars().count(),
        rows.len()
    );
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}

/// `keeper-demo-<pid>`: the demo's tmux server, named after the process
/// that made the world, as its directory `keeper-demo-<pid>-<nanos>` is.
fn demo_socket(demo: &Path) -> String {
    let name = demo.file_name().unwrap().to_string_lossy().into_owned();
    name.rsplit_once('-').unwrap().0.to_string()
}

/// A session the test started on the demo's server, killed on drop.
struct Session {
    socket: String,
    name: String,
}

impl Session {
    fn start(socket: &str, name: String) -> Self {
        let out = Command::new("tmux")
            .args(["-L", socket, "new-session", "-d", "-s", &name, "sleep 600"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Session {
            socket: socket.to_string(),
            name,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-session", "-t", &self.name])
            .output();
    }
}

/// Three sessions, one after the other, each started at another moment of
/// the panel's two-second cycle: each must show within 3 s of its start.
#[test]
fn a_new_tmux_session_shows_in_sessions_within_3_s() {
    let (_dir, t, demo) = demo_in_a_pane(120, 40, "");
    let socket = demo_socket(&demo);
    t.keys(&["6"]);
    let (s, _) = wait_settled(
        &t,
        "Sessions focused with the demo's sessions",
        20,
        |s, _| focused(s).is_some_and(|f| f.is('6', "Sessions") && shows_data('6', &f.rows)),
    );
    let title = focused(&s).unwrap().title;
    assert!(title.contains(&format!("-L {socket}")), "{title}");

    let mut took = Vec::new();
    for (n, pause) in [0, 700, 1400].into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(pause));
        let name = format!("e2e-fresh-{}-{n}", std::process::id());
        assert!(!t.screen().contains(&name));
        // Killed once seen, so the list stays as short as the panel.
        let session = Session::start(&socket, name);
        let created = Instant::now();
        t.wait_for(&format!("{} listed", session.name), |s| {
            focused(s).is_some_and(|f| {
                f.is('6', "Sessions") && f.rows.iter().any(|r| first_word(r) == session.name)
            })
        });
        took.push(created.elapsed());
    }
    eprintln!("new sessions showed after {took:?}");
    assert!(
        took.iter().all(|d| *d < Duration::from_secs(3)),
        "new sessions showed after {took:?}"
    );
    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}
