//! Completion hooks are owed in the write that ends a task, once per hook
//! that wants it: whatever ends the task (a pass, a second pass, a cancel
//! racing passes in the same engine or from another process), no hook is
//! ever owed the same task twice. Nothing listens at the hooks' address:
//! only the owed rows are looked at.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;
mod tasks_common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use keeper_tui::actions::with_ctx;
use keeper_tui::config::{HookConfig, HookEvent, TasksConfig};
use keeper_tui::loops::reconciler::Reconciler;
use keeper_tui::loops::{Loop, LoopCommand, LoopReply, PassMode};
use keeper_tui::store::now_unix;
use tasks_common::*;

fn hooks() -> Vec<HookConfig> {
    let mut curator = hook("curator");
    curator.role = Some("curator".into());
    let mut nightly = hook("nightly");
    nightly.prompt_contains = Some("nightly".into());
    let mut cancelled = hook("cancelled");
    cancelled.on = vec![HookEvent::TaskCancelled];
    let mut extract = hook("extract");
    extract.on = vec![HookEvent::TaskEnded];
    extract.role = Some("extract".into());
    vec![hook("all"), curator, nightly, cancelled, extract]
}

fn url(path: &str) -> String {
    format!("http://127.0.0.1:9/{path}")
}

fn owed(hook: &str, task: &str, event: &str) -> (String, String, String) {
    (url(hook), task.into(), event.into())
}

/// A pid that names no process: a child that exited and was reaped.
fn dead_pid() -> i32 {
    let mut g = Group::sh("exit 0");
    wait_until(Duration::from_secs(10), "the task to exit", || {
        g.leader_exited()
    });
    g.end();
    g.pid()
}

#[test]
fn an_ending_owes_each_matching_hook_once_and_a_second_pass_owes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let pid = dead_pid();
    let then = now_unix() - 60;
    let c = rw(&db);
    add_task(
        &c,
        "tk_a",
        &pid,
        &then,
        "You are a CURATOR: the nightly run",
    );
    add_task(&c, "tk_b", &pid, &then, "Run the EXTRACT pass");
    add_task(&c, "tk_c", &pid, &then, "Nothing to match");
    drop(c);
    let rec = Reconciler::new(TasksConfig::default(), hooks());
    let store = open_writer(&db);
    let r = pass(&rec, &store, PassMode::Forced, now_unix()).unwrap();
    assert_eq!(r.summary, "ended=3", "{r:?}");
    assert!(
        r.detail.iter().any(|l| l == "6 hook delivery(ies) owed"),
        "{r:?}"
    );
    let want = vec![
        owed("all", "tk_a", "task_ended"),
        owed("all", "tk_b", "task_ended"),
        owed("all", "tk_c", "task_ended"),
        owed("curator", "tk_a", "task_ended"),
        owed("extract", "tk_b", "task_ended"),
        owed("nightly", "tk_a", "task_ended"),
    ];
    assert_eq!(deliveries(&db), want);
    for mode in [PassMode::Forced, PassMode::Scheduled] {
        let r = pass(&rec, &store, mode, now_unix()).unwrap();
        assert_eq!(r.summary, "no_ended", "{r:?}");
    }
    // A fresh reconciler (another engine) owes nothing more either.
    let other = Reconciler::new(TasksConfig::default(), hooks());
    pass(&other, &store, PassMode::Forced, now_unix()).unwrap();
    assert_eq!(deliveries(&db), want);
}

/// threadkeeper 0.21 stores the role: it wins over the prompt's words.
#[test]
fn the_stored_role_is_the_one_a_hook_filters_on() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let c = rw(&db);
    c.execute_batch("ALTER TABLE tasks ADD COLUMN role TEXT")
        .unwrap();
    let pid = dead_pid();
    add_task(&c, "tk_r", &pid, &(now_unix() - 60), "You are a CURATOR");
    c.execute(
        "UPDATE tasks SET role = 'probe_runner' WHERE id = 'tk_r'",
        [],
    )
    .unwrap();
    drop(c);
    let rec = Reconciler::new(TasksConfig::default(), hooks());
    pass(&rec, &open_writer(&db), PassMode::Forced, now_unix()).unwrap();
    assert_eq!(deliveries(&db), vec![owed("all", "tk_r", "task_ended")]);
}

/// Rows of live processes judged before `id` in every pass (the survey
/// is newest first): each pass then spends long enough looking for a
/// cancel to land in the middle of it.
fn busy_rows(db: &Path, n: usize) {
    let c = rw(db);
    let me = std::process::id();
    for i in 0..n {
        add_task(
            &c,
            &format!("tk_busy_{i:03}"),
            &me,
            &(now_unix() + 10),
            "busy",
        );
    }
}

/// In one engine a cancel and the reconciler's passes share a reconciler:
/// the passes leave the task to the cancel, so it always ends cancelled.
#[test]
fn a_cancel_beside_passes_of_the_same_reconciler_is_recorded_as_cancelled() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    busy_rows(&db, 150);
    let config = TasksConfig {
        cancel_grace_secs: 1,
        ..TasksConfig::default()
    };
    let rec = Reconciler::new(config, hooks());
    let store = open_writer(&db);
    for round in 0..50 {
        let task = Group::sleep();
        let id = format!("tk_x{round}");
        add_task(
            &rw(&db),
            &id,
            &task.pid(),
            &(task.started_at() + 1),
            "CURATOR",
        );
        let stop = AtomicBool::new(false);
        let reply = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    pass(&rec, &store, PassMode::Forced, now_unix()).unwrap();
                }
            });
            let reply = with_ctx(&db, &store, PassMode::Forced, now_unix(), |ctx| {
                rec.command(LoopCommand::Cancel(id.clone()), ctx)
            });
            stop.store(true, Ordering::SeqCst);
            reply
        });
        let LoopReply::Cancelled(c) = reply.unwrap() else {
            panic!("not a cancel's reply");
        };
        assert!(c.ended, "round {round}: {c}");
        assert_eq!(ending(&db, &id).1, Some(-15), "round {round}");
        let mine: Vec<_> = deliveries(&db).into_iter().filter(|d| d.1 == id).collect();
        assert_eq!(
            mine,
            vec![
                owed("all", &id, "task_cancelled"),
                owed("cancelled", &id, "task_cancelled"),
                owed("curator", &id, "task_cancelled"),
            ],
            "round {round}"
        );
    }
}

/// `keeper-tui cancel` from another process races this process's passes:
/// the row is recorded as cancelled, and each hook owed once.
#[test]
fn a_cancel_from_another_process_racing_passes_owes_each_hook_once() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    write_config(
        home.path(),
        "[tasks]\ncancel_grace_secs = 1\n\
         [[hook]]\nurl = \"http://127.0.0.1:9/all\"\nallow_private = true\n\
         [[hook]]\nurl = \"http://127.0.0.1:9/curator\"\nallow_private = true\nrole = \"curator\"\n",
    );
    let hooks = vec![hook("all"), {
        let mut h = hook("curator");
        h.role = Some("curator".into());
        h
    }];
    busy_rows(&db, 50);
    let rec = Reconciler::new(TasksConfig::default(), hooks);
    let store = open_writer(&db);
    let task = Group::sleep();
    add_task(
        &rw(&db),
        "tk_race",
        &task.pid(),
        &(task.started_at() + 1),
        "CURATOR",
    );
    let stop = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                pass(&rec, &store, PassMode::Forced, now_unix()).unwrap();
            }
        });
        let out = run(home.path(), &db, &["cancel", "tk_race", "--yes"]);
        stop.store(true, Ordering::SeqCst);
        out
    });
    // And once more after the dust settles: still nothing new.
    pass(&rec, &store, PassMode::Forced, now_unix()).unwrap();
    // The cancel marks the task in the store before its first signal, so
    // a pass in another process leaves the row to it even once the
    // process is gone: it is recorded as cancelled, never as found gone.
    let (ended_at, rc) = ending(&db, "tk_race");
    assert!(ended_at.is_some());
    assert_eq!(rc, Some(-15), "{}", stdout(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(events(&db, "task_cancelled").len(), 1);
    let event = "task_cancelled";
    assert_eq!(
        deliveries(&db),
        vec![
            owed("all", "tk_race", event),
            owed("curator", "tk_race", event)
        ]
    );
}
