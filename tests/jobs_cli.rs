//! The jobs verbs through the binary: `jobs run` queues a job and those
//! that follow it, `jobs` lists them, `jobs cancel` drops a queued run and
//! skips its followers, `jobs retry` queues it again, `jobs log` reads the
//! event log; bad input exits 2, refusals 1.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn config(home: &Path) -> PathBuf {
    let cfg = home.join("keeper.toml");
    std::fs::write(
        &cfg,
        "[janitor]\ninterval_secs = 0\n\
         [[job]]\nname = \"extract\"\ncommand = [\"true\"]\n\
         [[job]]\nname = \"mine\"\ncommand = [\"true\"]\nafter = [\"extract\"]\n",
    )
    .unwrap();
    cfg
}

fn jobs(home: &Path, db: &Path, args: &[&str]) -> Output {
    let cfg = config(home);
    let mut all = vec!["--config", cfg.to_str().unwrap(), "jobs"];
    all.extend_from_slice(args);
    run(home, db, &all)
}

fn state(db: &Path, id: i64) -> String {
    rw(db)
        .query_row(
            "SELECT state FROM keeper_job_runs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn run_list_cancel_retry_and_log_through_the_binary() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());

    let o = jobs(home.path(), &db, &["run", "extract"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "extract: queued #1, #2");
    assert_eq!(
        (state(&db, 1), state(&db, 2)),
        ("queued".into(), "queued".into())
    );

    let o = jobs(home.path(), &db, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["extract", "mine", "after #1", "queued"] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }

    let o = jobs(home.path(), &db, &["cancel", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(state(&db, 1), "cancelled");
    assert_eq!(state(&db, 2), "skipped", "its follower is skipped");

    // Cancelled already: refused, nothing changes.
    let o = jobs(home.path(), &db, &["cancel", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(state(&db, 1), "cancelled");

    let o = jobs(home.path(), &db, &["retry", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("extract: queued #3"),
        "{}",
        stdout(&o)
    );
    assert_eq!(state(&db, 3), "queued");

    let o = jobs(home.path(), &db, &["log", "--job", "extract"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stdout(&o);
    assert!(log.contains("#1") && log.contains("cancelled"), "{log}");
    assert!(!log.contains(" mine "), "filtered to extract:\n{log}");
    let o = jobs(home.path(), &db, &["log", "--json"]);
    let entries: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        entries.as_array().is_some_and(|a| a.len() >= 4),
        "{entries}"
    );
}

#[test]
fn an_unknown_job_or_run_is_bad_input() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let o = jobs(home.path(), &db, &["run", "nosuch"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nosuch") && stderr(&o).contains("extract"),
        "{}",
        stderr(&o)
    );
    let o = jobs(home.path(), &db, &["cancel", "99"]);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stderr(&o).contains("99"), "{}", stderr(&o));
}

/// Jobs run inside the engine, which waits on what it starts: a one-shot
/// `pass jobs` would leave its runs unwatched, so it is refused (its
/// dry-run still says what a pass would start).
#[test]
fn pass_jobs_outside_the_engine_is_refused_but_its_dry_run_works() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let cfg = config(home.path());
    let o = run(
        home.path(),
        &db,
        &["--config", cfg.to_str().unwrap(), "pass", "jobs"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("jobs run NAME"), "{}", stderr(&o));
    let o = run(
        home.path(),
        &db,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "pass",
            "jobs",
            "--dry-run",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `jobs cancel` from another process while the engine runs the job: the
/// run's process group is signalled after checking it is the run's, the
/// run is recorded cancelled, and the engine neither retries it nor
/// records it again.
#[test]
fn a_run_held_by_the_engine_is_cancelled_from_another_process() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let cfg = home.path().join("long.toml");
    std::fs::write(
        &cfg,
        format!(
            "[janitor]\ninterval_secs = 0\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n[tasks]\nreconcile_secs = 0\ncancel_grace_secs = 1\n\
             [[job]]\nname = \"long\"\nshell = true\nretries = 3\n\
             command = [\"sleep 300 & sleep 300; wait\"]\n",
            std::process::id()
        ),
    )
    .unwrap();
    let with_cfg = |args: &[&str]| {
        let mut all = vec!["--config", cfg.to_str().unwrap()];
        all.extend_from_slice(args);
        run(home.path(), &db, &all)
    };
    let _engine = Reaped(
        keeper(home.path())
            .args([
                "--db",
                db.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "engine",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let o = with_cfg(&["jobs", "run", "long"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while state(&db, 1) != "running" {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pgid: i64 = rw(&db)
        .query_row("SELECT pgid FROM keeper_job_runs WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let o = with_cfg(&["jobs", "cancel", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(state(&db, 1), "cancelled");
    let group_alive = || {
        std::process::Command::new("pgrep")
            .args(["-g", &pgid.to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while group_alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run's group outlived its cancel"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The engine saw its child end: still cancelled, and no retry queued
    // (a barrier: a run queued now runs, so the engine has passed since).
    let o = with_cfg(&["jobs", "run", "long"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while state(&db, 2) != "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "the next run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(state(&db, 1), "cancelled");
    let runs: i64 = rw(&db)
        .query_row("SELECT COUNT(*) FROM keeper_job_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 2, "no retry of the cancelled run");
    let _ = with_cfg(&["jobs", "cancel", "2"]);
}

/// The engine, killed however the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
