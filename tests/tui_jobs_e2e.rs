//! The Jobs panel end to end in the demo: the real binary in a tmux pane,
//! a run of `extract` the session watcher queued for an ended transcript,
//! opened (Enter), cancelled (`x`, `y`) and retried (`t`, `y`); and `n`
//! on the scheduled `digest`, whose run waits for the one-slot pool.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_common::{Tmux, back_at_prompt, demo_dir};

/// Wait (bounded by `secs`) until `f` answers; the screen is shown if not.
fn until<T>(t: &Tmux, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A run as the store has it.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    job: String,
    state: String,
    reason: String,
    args: String,
}

fn runs(db: &Path) -> Vec<Run> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let has: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'keeper_job_runs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if !has {
        return Vec::new();
    }
    conn.prepare(
        "SELECT id, job, state, COALESCE(reason, ''), args FROM keeper_job_runs ORDER BY id",
    )
    .unwrap()
    .query_map([], |r| {
        Ok(Run {
            id: r.get(0)?,
            job: r.get(1)?,
            state: r.get(2)?,
            reason: r.get(3)?,
            args: r.get(4)?,
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Every demo job shares the pool `llm = 1`: never two running at once.
fn running_within_the_pool(db: &Path) -> Vec<Run> {
    let running: Vec<Run> = runs(db)
        .into_iter()
        .filter(|r| r.state == "running")
        .collect();
    assert!(running.len() <= 1, "the pool llm = 1 overrun: {running:?}");
    running
}

/// The panel's line for run `id` of `job`.
fn run_line(screen: &str, id: i64, job: &str) -> Option<String> {
    let label = format!("#{id} {job} ");
    screen
        .lines()
        .find(|l| l.contains(&label))
        .map(str::to_string)
}

/// The screen with its attributes: the selected row is drawn reversed
/// (`NO_COLOR`).
fn screen_with_attributes(t: &Tmux) -> String {
    String::from_utf8_lossy(
        &t.cmd(&["capture-pane", "-e", "-p", "-t", &t.session])
            .stdout,
    )
    .into_owned()
}

/// Whether some of `line` is drawn reversed: an SGR sequence with 7.
fn reversed(line: &str) -> bool {
    line.split("\x1b[").skip(1).any(|seq| {
        seq.split_once('m')
            .is_some_and(|(params, _)| params.split(';').any(|p| p == "7"))
    })
}

/// Move the Jobs cursor (`g`, then `j`) until the row `is_it` picks is
/// the selected one.
fn select(t: &Tmux, what: &str, is_it: impl Fn(&str) -> bool) {
    t.keys(&["g"]);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(300));
        let selected = screen_with_attributes(t)
            .lines()
            .any(|l| reversed(l) && is_it(l));
        if selected {
            return;
        }
        t.keys(&["j"]);
    }
    panic!("never selected {what}; screen:\n{}", t.screen());
}

/// Open the details of run `id` (the selected row), wait for its `state`,
/// and look (reopening, bounded) for `text` in its log tail; closed again
/// either way. Whether `text` was seen.
fn details_show(t: &Tmux, id: i64, state: &str, text: &str) -> bool {
    let title = format!("run #{id} of ");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        t.keys(&["Enter"]);
        let s = t.wait_for("the run's details", |s| {
            s.contains(&title) && s.lines().any(|l| l.contains("state") && l.contains(state))
        });
        t.keys(&["Escape"]);
        t.wait_for("the details closed", |s| !s.contains("Esc closes"));
        if s.contains(text) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // The details are read when opened: the run may not have printed yet.
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The line count the run's transcript has, from its `{path}` argument.
fn line_count(args: &str) -> usize {
    let args: serde_json::Value = serde_json::from_str(args).unwrap();
    let path = args["path"].as_str().unwrap();
    std::fs::read_to_string(path).unwrap().lines().count()
}

/// `keeper-tui --demo` in a pane of a private tmux server: the temp dir
/// it lives in, the server, and the demo's store.
fn demo_in_a_pane() -> (tempfile::TempDir, Tmux, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path(), 180, 50);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    let home = dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state TMPDIR={home} NO_COLOR=1 {} --demo",
        env!("CARGO_BIN_EXE_keeper-tui")
    ));
    let s = t.wait_for("the demo", |s| s.contains("DEMO") && s.contains("2 Loops"));
    let demo = demo_dir(&s).unwrap_or_else(|| panic!("no demo path on screen:\n{s}"));
    (dir, t, demo.join("threadkeeper.sqlite"))
}

/// `x` and `y` on the selected running run `extract`, then `t` and `y` on
/// it cancelled: the new run's id.
fn cancel_then_retry(t: &Tmux, db: &Path, extract: &Run, printed: &str) -> i64 {
    let id = extract.id;
    t.keys(&["x"]);
    t.wait_for("the cancel confirm", |s| {
        s.contains(&format!("#{id} (extract, running)"))
    });
    t.keys(&["y"]);
    until(t, "the run cancelled in the store", 30, || {
        runs(db)
            .into_iter()
            .any(|r| r.id == id && r.state == "cancelled")
            .then_some(())
    });
    t.wait_for("the run shown cancelled", |s| {
        run_line(s, id, "extract").is_some_and(|l| l.contains("cancelled"))
    });
    // The tail recorded when it ended holds the line count.
    assert!(
        details_show(t, id, "cancelled", printed),
        "the cancelled run's details lack {printed:?}:\n{}",
        t.screen()
    );

    // `t` on it: a new run of extract for the same transcript.
    t.keys(&["t"]);
    t.wait_for("the retry confirm", |s| {
        s.contains(&format!("run #{id} of extract"))
    });
    t.keys(&["y"]);
    let retry = until(t, "the retry queued", 20, || {
        runs(db).into_iter().find(|r| {
            r.job == "extract"
                && r.id > id
                && r.args == extract.args
                && r.reason == format!("retry of #{id}")
        })
    });
    assert!(
        matches!(retry.state.as_str(), "queued" | "running"),
        "{retry:?}"
    );
    t.wait_for("the retry shown queued or running", |s| {
        run_line(s, retry.id, "extract")
            .is_some_and(|l| l.contains("queued") || l.contains("running"))
    });
    retry.id
}

#[test]
fn a_watcher_run_is_opened_cancelled_and_retried_and_digest_runs_within_its_pool() {
    let started = Instant::now();
    let (_dir, t, db) = demo_in_a_pane();

    // A run of extract, queued by the watcher for an ended transcript, runs.
    t.keys(&["9"]);
    let extract = until(&t, "a watcher's extract running", 30, || {
        running_within_the_pool(&db)
            .into_iter()
            .find(|r| r.job == "extract" && r.reason == "watcher")
    });
    let run_id = extract.id;
    t.wait_for("the run shown running", |s| {
        run_line(s, run_id, "extract").is_some_and(|l| l.contains("running"))
    });

    // `n` on digest: queued, and waiting while the pool's one slot is taken.
    select(&t, "the digest job", |l| {
        l.contains("digest ") && l.contains("every 1m")
    });
    t.keys(&["n"]);
    t.wait_for("the run-now confirm", |s| s.contains("job digest"));
    t.keys(&["y"]);
    let digest = until(&t, "digest queued by the operator", 20, || {
        runs(&db)
            .into_iter()
            .find(|r| r.job == "digest" && r.reason == "operator")
    });
    t.wait_for("the digest run shown", |s| {
        run_line(s, digest.id, "digest").is_some()
    });

    // Enter on the extract run: its state and the line count it printed.
    let label = format!("#{run_id} extract ");
    select(&t, &label, |l| l.contains(&label));
    let printed = format!("has {} lines", line_count(&extract.args));
    let tail_while_running = details_show(&t, run_id, "running", &printed);

    let retry_id = cancel_then_retry(&t, &db, &extract, &printed);
    assert!(retry_id > run_id);

    // The digest run starts once the pool has room, and alone in it.
    until(&t, "digest running", 120, || {
        running_within_the_pool(&db)
            .iter()
            .any(|r| r.id == digest.id)
            .then_some(())
    });
    // The store saw it running, alone in its pool; on screen it may
    // already be past that (a 5 s run, a look every 2 s).
    t.wait_for("digest shown running or done", |s| {
        run_line(s, digest.id, "digest")
            .is_some_and(|l| l.contains("running") || l.contains("succeeded"))
    });

    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
    let demo = db.parent().unwrap().to_path_buf();
    until(&t, "the demo world removed", 10, || {
        (!demo.exists()).then_some(())
    });
    eprintln!("jobs e2e took {:?}", started.elapsed());
    // Checked last, so everything else is known whatever this says.
    assert!(
        tail_while_running,
        "Enter on a running run showed no log tail with {printed:?} within 3 s"
    );
}
