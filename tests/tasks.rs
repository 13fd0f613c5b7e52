//! The reconciler against real processes: which running task rows it ends
//! (process gone, pid reused) and which it leaves (live, visible, liveness
//! unknown, unreadable), through the library, a real engine and `keeper-tui
//! tasks --json`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;
mod tasks_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use keeper_tui::config::TasksConfig;
use keeper_tui::loops::reconciler::Reconciler;
use keeper_tui::loops::{PassMode, PassResult};
use keeper_tui::store::now_unix;
use tasks_common::*;

fn reconciler() -> Reconciler {
    Reconciler::new(TasksConfig::default(), Vec::new())
}

fn forced_pass(rec: &Reconciler, db: &Path) -> PassResult {
    let store = open_writer(db);
    pass(rec, &store, PassMode::Forced, now_unix()).unwrap()
}

fn has_line(r: &PassResult, needle: &str) -> bool {
    r.detail.iter().any(|l| l.contains(needle))
}

#[test]
fn a_task_whose_process_exited_is_ended_with_no_return_code() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let mut task = Group::sh("exit 3");
    let pid = task.pid();
    wait_until(Duration::from_secs(10), "the task to exit", || {
        task.leader_exited()
    });
    let started = now_unix() - 60;
    add_task(&rw(&db), "tk_zombie", &pid, &started, "You are a CURATOR");
    // A dead process nobody has reaped yet is gone too.
    let r = forced_pass(&reconciler(), &db);
    assert_eq!(r.summary, "ended=1", "{r:?}");
    assert!(
        has_line(&r, &format!("tk_zombie: ended (pid {pid} is gone)")),
        "{r:?}"
    );
    let (ended_at, rc) = ending(&db, "tk_zombie");
    assert!(ended_at.is_some_and(|e| e >= started), "{ended_at:?}");
    assert_eq!(rc, None, "the reconciler never makes up a return code");
    let passes = events(&db, "reconciler_pass");
    assert_eq!(passes.last().unwrap().1, "ended=1", "{passes:?}");

    // Reaped: no such process at all.
    task.end();
    add_task(&rw(&db), "tk_reaped", &pid, &started, "EXTRACT facts");
    let r = forced_pass(&reconciler(), &db);
    assert_eq!(r.summary, "ended=1", "{r:?}");
    assert!(ending(&db, "tk_reaped").0.is_some());
    assert_eq!(ending(&db, "tk_reaped").1, None);
}

#[test]
fn a_reused_pid_ends_the_task_and_the_new_process_is_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let stranger = Group::sleep();
    // The task started an hour before the process its pid now names.
    add_task(
        &rw(&db),
        "tk_reused",
        &stranger.pid(),
        &(now_unix() - HOUR),
        "You are a CURATOR",
    );
    let r = forced_pass(&reconciler(), &db);
    assert_eq!(r.summary, "ended=1", "{r:?}");
    assert!(
        has_line(
            &r,
            &format!("pid {} now names a process started at", stranger.pid())
        ),
        "{r:?}"
    );
    assert_eq!(ending(&db, "tk_reused").1, None);
    assert!(ending(&db, "tk_reused").0.is_some());
    assert!(running(stranger.pid()), "the reconciler never signals");
}

#[test]
fn live_and_visible_tasks_stay_running() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let task = Group::sleep();
    let c = rw(&db);
    // threadkeeper writes started_at just after the spawn.
    add_task(
        &c,
        "tk_live",
        &task.pid(),
        &(task.started_at() + 1),
        "CURATOR",
    );
    add_task(
        &c,
        "tk_visible",
        &0,
        &(now_unix() - HOUR),
        "You are an ARCHIVIST",
    );
    add_task(
        &c,
        "tk_negative",
        &-1,
        &(now_unix() - HOUR),
        "You are an ARCHIVIST",
    );
    drop(c);
    let before = dump(&db)
        .into_iter()
        .filter(|l| l.starts_with("tasks "))
        .collect::<Vec<_>>();
    let r = forced_pass(&reconciler(), &db);
    assert_eq!(r.summary, "no_ended", "{r:?}");
    assert!(!r.changed);
    let after = dump(&db)
        .into_iter()
        .filter(|l| l.starts_with("tasks "))
        .collect::<Vec<_>>();
    assert_eq!(before, after);
    assert!(running(task.pid()));
    // A forced pass that ends nothing still says it ran.
    assert_eq!(events(&db, "reconciler_pass").last().unwrap().1, "no_ended");
}

#[test]
fn unreadable_rows_are_skipped_and_named_and_the_others_still_end() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let mut gone = Group::sh("exit 0");
    let pid = gone.pid();
    wait_until(Duration::from_secs(10), "the task to exit", || {
        gone.leader_exited()
    });
    gone.end();
    let now = now_unix();
    let c = rw(&db);
    add_task(&c, "tk_text_pid", &"abc", &(now - 60), "CURATOR");
    add_task(&c, "tk_text_start", &pid, &"yesterday", "CURATOR");
    add_task(&c, "tk_real_pid", &2.5_f64, &(now - 60), "CURATOR");
    add_task(&c, "tk_gone_1", &pid, &(now - 60), "CURATOR");
    add_task(&c, "tk_gone_2", &pid, &(now - 120), "CURATOR");
    drop(c);
    let r = forced_pass(&reconciler(), &db);
    assert_eq!(r.summary, "ended=2", "{r:?}");
    for bad in ["tk_text_pid", "tk_text_start", "tk_real_pid"] {
        assert!(
            has_line(&r, &format!("{bad}: skipped, unreadable row")),
            "{bad}: {r:?}"
        );
        assert_eq!(ending(&db, bad), (None, None), "{bad}");
    }
    assert!(ending(&db, "tk_gone_1").0.is_some());
    assert!(ending(&db, "tk_gone_2").0.is_some());
}

/// The one honest way here to make a live process unreadable: keeper-tui
/// runs as nobody with `/proc` mounted `hidepid=invisible` in a mount
/// namespace of its own, so root's task process is neither listed nor
/// signalable (EPERM). Needs root, `unshare`, `setpriv` and leave to
/// mount; said and skipped otherwise.
#[test]
fn liveness_unknown_never_ends_a_task() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let can = std::fs::metadata("/proc/self").unwrap().uid() == 0
        && ["unshare", "setpriv"].iter().all(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_ok()
        })
        && std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "mount", "-t", "proc"])
            .args(["-o", "hidepid=invisible", "proc", "/proc"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !can {
        eprintln!("skipped: needs root, unshare, setpriv and a proc mount of its own");
        return;
    }
    let task = Group::sleep();
    add_task(
        &rw(&db),
        "tk_hidden",
        &task.pid(),
        &(task.started_at() + 1),
        "CURATOR",
    );
    write_config(home.path(), "");
    for p in [home.path(), db.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let as_nobody = |args: &[&str]| {
        let script = "mount -t proc -o hidepid=invisible proc /proc && \
                      exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"";
        std::process::Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(env!("CARGO_BIN_EXE_keeper-tui"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env_remove("THREADKEEPER_DB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = as_nobody(&["pass", "reconciler"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("reconciler: no_ended"), "{out}");
    assert!(out.contains("tk_hidden: kept, liveness unknown"), "{out}");
    assert_eq!(ending(&db, "tk_hidden"), (None, None));

    let o = as_nobody(&["tasks", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows[0]["process"], "unknown", "{rows}");

    let o = as_nobody(&["cancel", "tk_hidden", "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot tell whether pid"),
        "{}",
        stderr(&o)
    );
    assert_eq!(ending(&db, "tk_hidden"), (None, None));
    assert!(running(task.pid()));
}

#[test]
fn a_running_engine_ends_a_gone_task_on_its_own() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let live = Group::sleep();
    let c = rw(&db);
    add_task(
        &c,
        "tk_live",
        &live.pid(),
        &(live.started_at() + 1),
        "CURATOR",
    );
    drop(c);
    let cfg = write_config(home.path(), "[tasks]\nreconcile_secs = 1\n");
    let _engine = Engine(
        keeper(home.path())
            .arg("--db")
            .arg(&db)
            .arg("--config")
            .arg(&cfg)
            .arg("engine")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Its first pass finds nothing to end.
    wait_until(Duration::from_secs(20), "the engine's first pass", || {
        !events(&db, "reconciler_pass").is_empty()
    });
    assert_eq!(events(&db, "reconciler_pass")[0].1, "no_ended");
    // A task whose process exits while the engine runs: a later scheduled
    // pass ends it.
    let mut gone = Group::sh("exit 0");
    wait_until(Duration::from_secs(10), "the task to exit", || {
        gone.leader_exited()
    });
    gone.end();
    add_task(
        &rw(&db),
        "tk_gone",
        &gone.pid(),
        &(now_unix() - 60),
        "CURATOR",
    );
    wait_until(Duration::from_secs(20), "the engine's reconciler", || {
        events(&db, "reconciler_pass")
            .iter()
            .any(|(_, s)| s == "ended=1")
    });
    let (ended_at, rc) = ending(&db, "tk_gone");
    assert!(ended_at.is_some());
    assert_eq!(rc, None);
    // Judged in every pass, and left running.
    assert_eq!(ending(&db, "tk_live"), (None, None));
    assert!(running(live.pid()));
}

#[test]
fn tasks_json_lists_running_first_with_their_process_then_the_ended() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    write_config(home.path(), "");
    let live = Group::sleep();
    let gone = Group::sh("exit 0");
    wait_until(Duration::from_secs(10), "the task to exit", || {
        gone.leader_exited()
    });
    let now = now_unix();
    let c = rw(&db);
    add_task(
        &c,
        "tk_live",
        &live.pid(),
        &(live.started_at() + 1),
        "You are a CURATOR of the skills",
    );
    add_task(
        &c,
        "tk_gone",
        &gone.pid(),
        &(now - 600),
        "Run the EXTRACT pass",
    );
    add_task(&c, "tk_visible", &0, &(now - 1200), "No role here");
    add_ended_task(&c, "tk_old", now - 9000, now - 8000, 0);
    add_ended_task(&c, "tk_recent", now - 5000, now - 100, -15);
    drop(c);
    let o = run(home.path(), &db, &["tasks", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["process"].as_str().unwrap(),
                r["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("tk_live", "live", "curator"),
            ("tk_gone", "gone", "extract"),
            ("tk_visible", "visible", ""),
            ("tk_recent", "ended", "archivist"),
            ("tk_old", "ended", "archivist"),
        ]
    );
    assert_eq!(rows[0]["pid"], live.pid());
    assert_eq!(rows[0]["ended_at"], serde_json::Value::Null);
    assert_eq!(rows[3]["return_code"], -15);
    assert_eq!(rows[3]["ended_at"], now - 100);
    // Listing ends nothing: that is the reconciler's to do.
    assert_eq!(ending(&db, "tk_gone"), (None, None));

    let o = run(home.path(), &db, &["tasks", "--json", "--ended", "1"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["id"], "tk_recent");
}

/// A row threadkeeper never wrote is named on stderr and left out; every
/// other row is still listed, and `--json` stays one JSON array.
#[test]
fn tasks_json_leaves_out_an_unreadable_row_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    write_config(home.path(), "");
    let now = now_unix();
    let c = rw(&db);
    add_task(&c, "tk_text_pid", &"abc", &(now - 60), "CURATOR");
    add_task(&c, "tk_visible", &0, &(now - 120), "CURATOR");
    add_ended_task(&c, "tk_done", now - 600, now - 300, 0);
    c.execute(
        "UPDATE tasks SET ended_at = 'later' WHERE id = 'tk_done'",
        [],
    )
    .unwrap();
    add_ended_task(&c, "tk_fine", now - 600, now - 500, 1);
    drop(c);
    let o = run(home.path(), &db, &["tasks", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["tk_visible", "tk_fine"]);
    let err = stderr(&o);
    assert!(err.contains("task tk_text_pid left out"), "{err}");
    assert!(err.contains("task tk_done left out"), "{err}");
}
