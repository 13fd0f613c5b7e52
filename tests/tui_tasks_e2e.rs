//! The Tasks panel end to end: the real binary in a tmux pane, a real task
//! process, `8` then `x` then `y`, and the row ended as threadkeeper would
//! end a task killed by a signal.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_common::{Tmux, back_at_prompt};

/// The task's process, killed on drop whatever the test did.
struct Task(Child);

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn row(db: &std::path::Path, id: &str) -> (Option<i64>, Option<i64>) {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT ended_at, return_code FROM tasks WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn x_cancels_the_selected_task_after_its_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    drop(keeper_tui::store::WriteStore::open(&db, "keeper-tui").unwrap());
    let mut child = Command::new("sleep");
    child.arg("1000").stdin(Stdio::null()).process_group(0);
    let mut task = Task(child.spawn().unwrap());
    let pid = task.0.id();
    let now = keeper_tui::store::now_unix();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO tasks (id, pid, cwd, prompt, started_at) VALUES ('tk_e2e001', ?1, '/tmp', 'You are a CURATOR', ?2)",
        rusqlite::params![pid, now],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tasks (id, pid, cwd, prompt, started_at) VALUES ('tk_e2e002', 0, '/tmp', 'a visible one', ?1)",
        [now - 10],
    )
    .unwrap();
    drop(conn);
    let cfg = dir.path().join("keeper.toml");
    std::fs::write(
        &cfg,
        format!(
            "[janitor]\ninterval_secs = 0\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n[tasks]\nreconcile_secs = 0\ncancel_grace_secs = 2\n",
            std::process::id()
        ),
    )
    .unwrap();

    let t = Tmux::start(dir.path(), 180, 50);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    let home = dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_STATE_HOME={home}/state NO_COLOR=1 {} --db {} --config {}",
        env!("CARGO_BIN_EXE_keeper-tui"),
        db.display(),
        cfg.display()
    ));
    t.wait_for("the TUI", |s| s.contains("2 Loops"));
    t.keys(&["8"]);
    t.wait_for("the task, live", |s| {
        s.lines()
            .any(|l| l.contains("tk_e2e001") && l.contains("curator") && l.contains("live"))
    });
    // The visible task: refused at once, nothing asked.
    t.keys(&["j", "x"]);
    t.wait_for("the refusal", |s| s.contains("visible terminal"));
    t.keys(&["k", "x"]);
    t.wait_for("the confirm", |s| s.contains("tk_e2e001 (pid"));
    t.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while row(&db, "tk_e2e001").0.is_none() {
        assert!(Instant::now() < deadline, "never ended:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(row(&db, "tk_e2e001").1, Some(-15), "SIGTERM ended it");
    assert!(
        task.0.wait().unwrap().code().is_none(),
        "killed by a signal"
    );
    t.wait_for("the row shown ended", |s| {
        s.lines()
            .any(|l| l.contains("tk_e2e001") && l.contains("ended") && l.contains("-15"))
    });
    let events: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'task_cancelled' AND target = 'tk_e2e001'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(events, 1);
    assert_eq!(
        row(&db, "tk_e2e002"),
        (None, None),
        "the visible task untouched"
    );
    t.keys(&["q"]);
    t.wait_for("the shell again", back_at_prompt);
}
