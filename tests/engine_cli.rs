//! `keeper-tui engine` and `keeper-tui info` as an operator runs them:
//! the real binary, real signals, a real store.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

fn keeper(home: &Path) -> Command {
    // The reaper must never look at the default tmux server from a test:
    // the XDG config sends it to a private socket with no server.
    let cfg = home.join("config/keeper-tui");
    std::fs::create_dir_all(&cfg).unwrap();
    let toml = format!(
        "[reaper]\ntmux_socket_name = \"keeper-test-{}-none\"\n",
        std::process::id()
    );
    std::fs::write(cfg.join("keeper.toml"), toml).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_keeper-tui"));
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env_remove("THREADKEEPER_DB")
        .env_remove("KEEPER_LOG");
    c
}

fn seeded(home: &Path) -> PathBuf {
    let db = home.join("db.sqlite");
    let out = keeper(home)
        .args([
            "seed",
            db.to_str().unwrap(),
            "--threads",
            "300",
            "--events",
            "2000",
            "--notes",
            "500",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Poll the store (bounded) until `sql` returns more than `above`.
fn wait_for_rows(db: &Path, sql: &str, above: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(db, sql) <= above {
        assert!(Instant::now() < deadline, "no rows for {sql} within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("engine did not exit within 10 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn run_engine_until(sig: &str) {
    let home = tempfile::tempdir().unwrap();
    let db = seeded(home.path());
    let stale_before = count(
        &db,
        &format!(
            "SELECT COUNT(*) FROM threads WHERE state IN ('active','idle') AND last_touched_at < {}",
            keeper_tui::store::now_unix() - 86_400
        ),
    );
    assert!(
        stale_before > 0,
        "the seeded store should have stale threads"
    );
    let child = keeper(home.path())
        .args(["--db", db.to_str().unwrap(), "engine"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The janitor's first pass runs at start with the default config.
    wait_for_rows(
        &db,
        "SELECT COUNT(*) FROM events WHERE session_id='keeper-tui' AND kind='janitor_pass'",
        0,
    );
    signal(&child, sig);
    let out = wait_exit(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("engine stopped"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "the engine printed on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let closed = count(
        &db,
        "SELECT COUNT(*) FROM events WHERE session_id='keeper-tui' AND kind='close_thread'",
    );
    assert_eq!(
        closed, stale_before,
        "the first pass closes every stale thread"
    );
    let log = std::fs::read_to_string(home.path().join("state/keeper-tui/keeper-tui.log")).unwrap();
    assert!(log.contains("janitor: closed="), "{log}");
}

#[test]
fn engine_runs_the_janitor_and_stops_cleanly_on_sigterm() {
    run_engine_until("-TERM");
}

#[test]
fn engine_stops_cleanly_on_sigint() {
    run_engine_until("-INT");
}

#[test]
fn read_only_engine_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let db = seeded(home.path());
    let events = count(&db, "SELECT COUNT(*) FROM events");
    let child = keeper(home.path())
        .args(["--db", db.to_str().unwrap(), "engine", "--read-only"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Give a (wrongly) writing engine every chance to run its first pass.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-TERM");
    let out = wait_exit(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM events"), events);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'keeper_%'"
        ),
        0
    );
}

#[test]
fn info_names_every_path_and_the_detected_layout() {
    let home = tempfile::tempdir().unwrap();
    let db = seeded(home.path());
    let out = keeper(home.path())
        .args(["--db", db.to_str().unwrap(), "info"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("database:  {} (from --db)", db.display())),
        "{text}"
    );
    let cfg = home.path().join("config/keeper-tui/keeper.toml");
    assert!(
        text.contains(&format!("config:    {}", cfg.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "reaper    every 60 s, markers \"msg-warm-\", grace 60 s, boot reap on, tmux server -L keeper-test-{}-none",
            std::process::id()
        )),
        "{text}"
    );
    assert!(text.contains("layout:    core"), "{text}");
    assert!(text.contains("state/keeper-tui/keeper-tui.log"), "{text}");
    assert!(
        text.contains("janitor   every 3600 s, closes threads idle > 1d"),
        "{text}"
    );

    // A 0.21 store is told apart by probing, not by version numbers alone.
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE daemon_health (name TEXT PRIMARY KEY, thread_alive INTEGER NOT NULL, thread_started_at INTEGER, observed_at INTEGER NOT NULL);")
        .unwrap();
    let out = keeper(home.path())
        .env("THREADKEEPER_DB", &db)
        .arg("info")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(from THREADKEEPER_DB)"), "{text}");
    assert!(text.contains("layout:    threadkeeper 0.21.x"), "{text}");
}

#[test]
fn a_clean_stop_leaves_no_wal_behind() {
    let home = tempfile::tempdir().unwrap();
    let db = seeded(home.path());
    let child = keeper(home.path())
        .args(["--db", db.to_str().unwrap(), "engine"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first janitor pass writes enough to grow the WAL.
    wait_for_rows(
        &db,
        "SELECT COUNT(*) FROM events WHERE session_id='keeper-tui' AND kind='janitor_pass'",
        0,
    );
    signal(&child, "-TERM");
    let out = wait_exit(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wal = std::fs::metadata(format!("{}-wal", db.display())).map_or(0, |m| m.len());
    assert_eq!(
        wal, 0,
        "the engine should fold its WAL back into the file on a clean stop"
    );
}

/// A typo in `--db` or `THREADKEEPER_DB` never becomes a new, empty store
/// the loops then act on: the TUI and `engine` refuse it (exit 2) and create
/// nothing; `--create` is the explicit way to start one.
#[test]
fn a_missing_store_is_refused_by_the_tui_and_the_engine_and_nothing_is_created() {
    let home = tempfile::tempdir().unwrap();
    let typo = home.path().join("typo.sqlite");
    let runs: [(&[&str], Option<&Path>); 4] = [
        (&["--db", typo.to_str().unwrap(), "engine"], None),
        (&["engine"], Some(&typo)),
        (&["--db", typo.to_str().unwrap()], None),
        (&[], Some(&typo)),
    ];
    for (args, env) in runs {
        let mut cmd = keeper(home.path());
        cmd.args(args).stdin(Stdio::null());
        if let Some(p) = env {
            cmd.env("THREADKEEPER_DB", p);
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&typo.display().to_string()) || err.contains("needs a terminal"),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
        let wal = home.path().join("typo.sqlite-wal");
        assert!(!wal.exists());
    }
    // The message says how to start one on purpose.
    let o = keeper(home.path())
        .args(["--db", typo.to_str().unwrap(), "engine"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("add --create"));

    // --create: the engine starts on a new, empty store.
    let child = keeper(home.path())
        .args(["--db", typo.to_str().unwrap(), "--create", "engine"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.path().join("create.err")).unwrap())
        .spawn()
        .unwrap();
    // Stopped once it is up (its signal handling is in place then).
    let err = || std::fs::read_to_string(home.path().join("create.err")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !err().contains("engine started") {
        assert!(
            Instant::now() < deadline,
            "--create: the engine did not start: {}",
            err()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(typo.exists(), "--create made no store");
    signal(&child, "-TERM");
    let out = wait_exit(child);
    assert!(out.status.success(), "{}", err());
    assert_eq!(count(&typo, "SELECT COUNT(*) FROM threads"), 0);
}

/// One engine acts per store: the second engine on a store observes (its
/// loops wait) until the first dies, then takes over within the lease's
/// expiry and runs the janitor's scheduled passes itself.
#[test]
fn a_second_engine_observes_until_the_first_dies() {
    let home = tempfile::tempdir().unwrap();
    let db = seeded(home.path());
    let cfg = home.path().join("two.toml");
    std::fs::write(
        &cfg,
        format!(
            "[janitor]\ninterval_secs = 1\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n",
            std::process::id()
        ),
    )
    .unwrap();
    let start = |name: &str| {
        keeper(home.path())
            .args([
                "--db",
                db.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "engine",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.path().join(name)).unwrap())
            .spawn()
            .unwrap()
    };
    let log = |name: &str| std::fs::read_to_string(home.path().join(name)).unwrap_or_default();
    let wait_log = |name: &str, needle: &str, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !log(name).contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{name} never said {needle:?}:\n{}",
                log(name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut first = start("first.err");
    wait_log("first.err", "this engine runs the loops", 10);
    let second = start("second.err");
    wait_log(
        "second.err",
        &format!("observer: the loops run in pid {}", first.id()),
        10,
    );
    // While the first holds the lease, the second runs no scheduled pass.
    let c = Connection::open(&db).unwrap();
    let now = keeper_tui::store::now_unix();
    c.execute(
        "UPDATE threads SET state = 'active', last_touched_at = ?1 WHERE id IN (SELECT id FROM threads LIMIT 5)",
        [now - 3 * 86_400],
    )
    .unwrap();
    wait_log("first.err", "scheduled janitor: closed=", 10);
    assert!(
        !log("second.err").contains("scheduled janitor"),
        "{}",
        log("second.err")
    );

    // The holder dies without a word: the second takes over.
    let _ = first.kill();
    let _ = first.wait();
    wait_log("second.err", "this engine runs the loops", 45);
    c.execute(
        "UPDATE threads SET state = 'active', last_touched_at = ?1 WHERE id IN (SELECT id FROM threads LIMIT 3 OFFSET 10)",
        [now - 3 * 86_400],
    )
    .unwrap();
    wait_log("second.err", "scheduled janitor: closed=", 10);
    signal(&second, "-TERM");
    let out = wait_exit(second);
    assert!(out.status.success());
    // A clean stop gives the lease back.
    let rows: i64 = c
        .query_row("SELECT COUNT(*) FROM keeper_lease", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}
