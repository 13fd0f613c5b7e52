//! Reaping from the TUI, end to end: keeper-tui runs inside an agent-named
//! session of a private tmux server and watches that same server. `R` on
//! its own session is refused; `R` on an orphan, after the confirm popup
//! that names the exact command, kills it; the operator's session lives.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;

use std::process::Command;

use e2e_common::{Tmux, back_at_prompt};
use rusqlite::Connection;

fn reaped(db: &std::path::Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT target FROM events WHERE kind='session_reaped' ORDER BY id")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The row of a session on the Sessions panel (the whole screen line).
fn session_row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.split(['┃', '│'])
            .any(|c| c.split_whitespace().any(|w| w == name))
    })
}

/// Filters the Sessions panel down to the one session named `part` and
/// waits until it is the only row.
fn only(t: &Tmux, part: &str) {
    t.keys(&["/", "C-u"]);
    assert!(
        t.cmd(&["send-keys", "-t", &t.session, "-l", part])
            .status
            .success()
    );
    t.keys(&["Enter"]);
    t.wait_for("the filtered sessions", |s| {
        ["msg-warm-operator", "msg-warm-orphan", "topic-12476"]
            .iter()
            .all(|n| session_row(s, n).is_some() == n.contains(part))
    });
}

/// keeper-tui running in session `msg-warm-operator` of a private server
/// it also watches, beside an orphan and a non-agent session.
fn operator_world() -> (tempfile::TempDir, std::path::PathBuf, Tmux) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
        .args([
            "seed",
            db.to_str().unwrap(),
            "--threads",
            "100",
            "--events",
            "500",
            "--notes",
            "100",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());

    // The operator's own pane lives in a session whose name has the marker.
    let t = Tmux::start_in(dir.path(), 140, 45, "msg-warm-operator");
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    t.cmd(&["new-session", "-d", "-s", "msg-warm-orphan", "sleep 3600"]);
    t.cmd(&["new-session", "-d", "-s", "topic-12476", "sleep 3600"]);
    let config = dir.path().join("keeper.toml");
    std::fs::write(
        &config,
        format!(
            "[janitor]\ninterval_secs = 0\n\n[reaper]\ntmux_socket_name = \"{}\"\ngrace_secs = 0\nidle_secs = 0\ninterval_secs = 0\nboot_reap = false\n",
            t.socket
        ),
    )
    .unwrap();
    let home = dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state NO_COLOR=1 {} --db {} --config {}",
        env!("CARGO_BIN_EXE_keeper-tui"),
        db.display(),
        config.display()
    ));
    (dir, db, t)
}

#[test]
fn r_reaps_an_orphan_after_confirming_and_spares_the_operators_own_session() {
    let (_dir, db, t) = operator_world();
    t.wait_for("the panels", |s| {
        s.contains("2 Loops") && s.contains("6 Sessions")
    });

    // Sessions panel: the operator's own session says so.
    t.keys(&["6"]);
    let s = t.wait_for("the sessions listed", |s| {
        session_row(s, "msg-warm-orphan").is_some_and(|r| r.contains("orphan: idle"))
            && session_row(s, "msg-warm-operator")
                .is_some_and(|r| r.contains("keeper-tui runs in this session"))
    });
    assert!(
        session_row(&s, "topic-12476")
            .unwrap()
            .contains("not an agent session"),
        "{s}"
    );

    // R on its own session: refused at once, no confirm, nothing dies. Rows
    // are sorted by idle time, which the keys sent here change, so each
    // session is picked by a filter, not by its place.
    only(&t, "warm-operator");
    t.keys(&["R"]);
    let s = t.wait_for("the refusal", |s| {
        s.contains("msg-warm-operator: not reaped: keeper-tui runs in this session")
    });
    assert!(!s.contains("reap session msg-warm-operator?"), "{s}");

    // The orphan, R: the popup names the exact command, focus on Cancel.
    only(&t, "warm-orphan");
    t.keys(&["R"]);
    let popup = t.wait_for("the confirm popup naming the command", |s| {
        s.contains("reap session msg-warm-orphan?")
    });
    let id = t.cmd(&[
        "display-message",
        "-p",
        "-t",
        "=msg-warm-orphan:",
        "#{session_id}",
    ]);
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(id.starts_with('$'), "{id:?}");
    assert!(
        popup
            .replace('\n', " ")
            .contains(&format!("kill-session -t '{id}'")),
        "{popup}"
    );
    t.keys(&["Enter"]);
    t.wait_for("the cancel", |s| s.contains("cancelled"));
    assert!(
        t.cmd(&["has-session", "-t", "=msg-warm-orphan"])
            .status
            .success(),
        "Enter on Cancel must not reap"
    );

    t.keys(&["R"]);
    t.wait_for("the popup again", |s| {
        s.contains("reap session msg-warm-orphan?")
    });
    t.keys(&["Right", "Enter"]);
    t.wait_for("the reap message", |s| {
        s.contains("msg-warm-orphan: reaped (orphan: idle")
    });
    assert!(
        !t.cmd(&["has-session", "-t", "=msg-warm-orphan"])
            .status
            .success(),
        "the orphan must be gone"
    );
    assert!(
        t.cmd(&["has-session", "-t", "=msg-warm-operator"])
            .status
            .success()
    );
    assert!(
        t.cmd(&["has-session", "-t", "=topic-12476"])
            .status
            .success()
    );
    assert_eq!(reaped(&db), ["msg-warm-orphan"]);

    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
}
