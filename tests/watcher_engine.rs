//! The session watcher inside a real engine, with scheduled passes off:
//! only the file watch on the transcripts directory can make it look, so
//! a transcript written after the engine started being queued once it
//! goes stale proves the watch (new project directories included).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn queued_for(db: &std::path::Path, path: &std::path::Path) -> i64 {
    let c = rw(db);
    let has: bool = c
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'keeper_job_runs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if !has {
        return 0;
    }
    let args = serde_json::json!({ "path": path.display().to_string() }).to_string();
    c.query_row(
        "SELECT COUNT(*) FROM keeper_job_runs WHERE job = 'extract' AND args = ?1",
        [args],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_transcript_written_after_start_is_queued_with_no_interval() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let dir = home.path().join("transcripts");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = home.path().join("keeper.toml");
    std::fs::write(
        &cfg,
        format!(
            "[janitor]\ninterval_secs = 0\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n[tasks]\nreconcile_secs = 0\n\
             [[job]]\nname = \"extract\"\ncommand = [\"sh\", \"-c\", \"exit 0\", \"{{path}}\"]\n\
             [watcher]\ndir = \"{}\"\nstale_secs = 1\ninterval_secs = 0\njob = \"extract\"\n",
            std::process::id(),
            dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(home.path().join("engine.err")).unwrap();
    let _engine = Engine(
        keeper(home.path())
            .args([
                "--db",
                db.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "engine",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let err = || std::fs::read_to_string(home.path().join("engine.err")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !err().contains("this engine runs the loops") {
        assert!(
            Instant::now() < deadline,
            "the engine never led:\n{}",
            err()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A project directory made after the engine started, and a session in it.
    let project = dir.join("project-new");
    std::fs::create_dir_all(&project).unwrap();
    let transcript = project.join("s1.jsonl");
    std::fs::write(&transcript, "{\"line\": 1}\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while queued_for(&db, &transcript) == 0 {
        assert!(
            Instant::now() < deadline,
            "never queued with passes off:\n{}",
            err()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(queued_for(&db, &transcript), 1);
}
