//! `keeper-tui cancel` against real process groups and real signals:
//! SIGTERM, SIGKILL after the grace, the row ended with the signal, and
//! every refusal leaving both the process and the row as they were.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;
mod tasks_common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use keeper_tui::store::now_unix;
use tasks_common::*;

/// A store and a config with a one-second grace.
fn world() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    write_config(home.path(), "[tasks]\ncancel_grace_secs = 1\n");
    (home, db)
}

fn cancel(home: &Path, db: &Path, id: &str, yes: bool) -> Output {
    let mut args = vec!["cancel", id];
    if yes {
        args.push("--yes");
    }
    run(home, db, &args)
}

/// A running task row for `g`, started (as threadkeeper writes it) just
/// after its process.
fn task_of(db: &Path, id: &str, g: &Group) {
    add_task(
        &rw(db),
        id,
        &g.pid(),
        &(g.started_at() + 1),
        "You are a CURATOR",
    );
}

#[test]
fn a_group_that_ignores_sigterm_is_killed_after_the_grace() {
    let (home, db) = world();
    let task = Group::sh("trap '' TERM; sleep 1000 & sleep 1000 & wait");
    // The shell and both sleeps: the trap is in place before they start.
    let members = task.wait_members(3);
    task_of(&db, "tk_stubborn", &task);
    let o = cancel(home.path(), &db, "tk_stubborn", true);
    assert!(o.status.success(), "{}", stderr(&o));
    let pgid = task.pid();
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "SIGTERM to process group {pgid}, then SIGKILL to process group {pgid}"
        )),
        "{out}"
    );
    assert!(out.contains("return_code -9"), "{out}");
    let (ended_at, rc) = ending(&db, "tk_stubborn");
    assert!(ended_at.is_some());
    assert_eq!(rc, Some(-9));
    for pid in members {
        assert!(!running(pid), "pid {pid} of the group is still running");
    }
    assert!(group_members(pgid).is_empty());
    let ev = events(&db, "task_cancelled");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0.as_deref(), Some("tk_stubborn"));
    assert!(
        ev[0].1.starts_with(&format!("pid {pgid}: SIGTERM")),
        "{ev:?}"
    );
    assert!(ev[0].1.contains("SIGKILL"), "{ev:?}");
}

/// The task's leader exits on SIGTERM but a child it started ignores it:
/// the child is still the task's, and gets SIGKILL after the grace.
#[test]
fn what_outlives_its_leader_in_the_group_is_killed_after_the_grace() {
    let (home, db) = world();
    let task = Group::sh("(trap '' TERM; exec sleep 1000) & exec sleep 2000");
    let members = task.wait_members(2);
    wait_until(
        std::time::Duration::from_secs(10),
        "the trap and exec",
        || members.iter().all(|p| cmdline(*p).starts_with("sleep ")),
    );
    task_of(&db, "tk_leftover", &task);
    let o = cancel(home.path(), &db, "tk_leftover", true);
    assert!(o.status.success(), "{}", stderr(&o));
    let pgid = task.pid();
    assert!(
        stdout(&o).contains(&format!(
            "SIGTERM to process group {pgid}, then SIGKILL to process group {pgid}"
        )),
        "{}",
        stdout(&o)
    );
    assert_eq!(ending(&db, "tk_leftover").1, Some(-9));
    for pid in members {
        assert!(!running(pid), "pid {pid} of the group is still running");
    }
}

#[test]
fn a_task_that_exits_on_sigterm_ends_with_minus_15() {
    let (home, db) = world();
    let task = Group::sleep();
    task_of(&db, "tk_polite", &task);
    let o = cancel(home.path(), &db, "tk_polite", true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("return_code -15"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("SIGKILL"), "{}", stdout(&o));
    assert_eq!(ending(&db, "tk_polite").1, Some(-15));
    assert!(task.leader_exited());
    let ev = events(&db, "task_cancelled");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(
        ev[0].1.starts_with(&format!("pid {}: SIGTERM", task.pid())),
        "{ev:?}"
    );
}

#[test]
fn without_yes_it_says_what_it_would_do_and_does_nothing() {
    let (home, db) = world();
    let task = Group::sleep();
    task_of(&db, "tk_asked", &task);
    let before = dump(&db);
    let o = cancel(home.path(), &db, "tk_asked", false);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "would send SIGTERM to pid {} and its process group, then SIGKILL after 1 s",
            task.pid()
        )),
        "{err}"
    );
    assert!(err.contains("keeper-tui cancel tk_asked --yes"), "{err}");
    assert!(running(task.pid()));
    assert_eq!(dump(&db), before);
}

#[test]
fn an_ended_or_visible_task_is_refused_and_left_as_it_was() {
    let (home, db) = world();
    let now = now_unix();
    let c = rw(&db);
    add_ended_task(&c, "tk_done", now - 600, now - 60, 0);
    add_task(&c, "tk_window", &0, &(now - 60), "You are a CURATOR");
    drop(c);
    let before = dump(&db);
    for (id, says) in [
        ("tk_done", "tk_done has already ended"),
        ("tk_window", "runs in a visible terminal (pid 0)"),
    ] {
        for yes in [true, false] {
            let o = cancel(home.path(), &db, id, yes);
            assert_eq!(o.status.code(), Some(1), "{id}: {}", stderr(&o));
            assert!(stderr(&o).contains(says), "{id}: {}", stderr(&o));
        }
    }
    assert_eq!(dump(&db), before);
}

#[test]
fn a_pid_now_naming_a_newer_process_is_never_signalled() {
    let (home, db) = world();
    let stranger = Group::sleep();
    add_task(
        &rw(&db),
        "tk_reused",
        &stranger.pid(),
        &(now_unix() - HOUR),
        "You are a CURATOR",
    );
    let row = task_row(&db, "tk_reused");
    let o = cancel(home.path(), &db, "tk_reused", true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "pid {} now belongs to a process started at",
            stranger.pid()
        )),
        "{}",
        stderr(&o)
    );
    assert!(running(stranger.pid()), "the unrelated sleep was signalled");
    assert_eq!(task_row(&db, "tk_reused"), row);
    assert!(events(&db, "task_cancelled").is_empty());
}

/// Only a task that leads its process group has the group signalled: a
/// task pid inside another process's group is signalled alone, and the
/// rest of that group (here its parent shell) lives on.
#[test]
fn a_task_inside_another_group_is_signalled_alone() {
    let (home, db) = world();
    let parent = Group::sh("sleep 1000 & exec sleep 2000");
    let mut child = 0;
    wait_until(
        std::time::Duration::from_secs(10),
        "the task in the group",
        || {
            let found = parent
                .members()
                .into_iter()
                .find(|p| cmdline(*p).trim() == "sleep 1000");
            child = found.unwrap_or(0);
            found.is_some() && cmdline(parent.pid()).trim() == "sleep 2000"
        },
    );
    let started = keeper_tui::sys::process::inspect(child).unwrap().started_at;
    add_task(
        &rw(&db),
        "tk_member",
        &child,
        &(started + 1),
        "You are a CURATOR",
    );
    let o = cancel(home.path(), &db, "tk_member", true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("SIGTERM to pid {child}")),
        "{}",
        stdout(&o)
    );
    assert_eq!(ending(&db, "tk_member").1, Some(-15));
    assert!(!running(child));
    assert!(
        running(parent.pid()),
        "the task's group leader was signalled"
    );
}

#[test]
fn an_unknown_task_is_a_usage_error() {
    let (home, db) = world();
    let before = dump(&db);
    let o = cancel(home.path(), &db, "tk_nope", true);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no task \"tk_nope\""), "{}", stderr(&o));
    assert_eq!(dump(&db), before);
}
