//! FIFOs, directories and odd times where keeper-tui expects a file: every
//! command finishes with a message naming the path and what is there, and
//! nothing hangs. Each command runs with a deadline; a hang fails the test
//! instead of stalling the suite.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

/// Run keeper-tui with a deadline of 10 s; `None` if it had to be killed.
fn run_bounded(home: &Path, args: &[&str]) -> Option<Output> {
    let mut child = keeper(home)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

fn must_finish(home: &Path, args: &[&str]) -> Output {
    run_bounded(home, args).unwrap_or_else(|| panic!("keeper-tui {args:?} hung"))
}

struct Bridge {
    dir: PathBuf,
    config: PathBuf,
}

/// A supervised process whose files live in `dir`, none of them there yet.
fn bridge(home: &Path) -> Bridge {
    let dir = home.join("bridge");
    std::fs::create_dir_all(&dir).unwrap();
    let config = home.join("keeper.toml");
    std::fs::write(
        &config,
        format!(
            "[reaper]\ninterval_secs = 0\nboot_reap = false\ntmux_socket_name = \"keeper-test-{}-none\"\n\
             [[watchdog.process]]\nname = \"bridge\"\npid_file = \"{d}/pid\"\nheartbeat_file = \"{d}/beat\"\n\
             version_file = \"{d}/version\"\nversion_command = [\"echo\", \"v2\"]\n\
             log_file = \"{d}/log\"\nstart = [\"/bin/true\"]\ncmdline_pattern = \"sleep 300\"\n",
            std::process::id(),
            d = dir.display()
        ),
    )
    .unwrap();
    Bridge { dir, config }
}

#[test]
fn fifos_at_the_pid_and_version_files_do_not_hang_the_watchdog() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let b = bridge(home.path());
    fifo(&b.dir.join("pid"));
    fifo(&b.dir.join("version"));
    let (db, cfg) = (db.to_str().unwrap(), b.config.to_str().unwrap());

    let o = must_finish(
        home.path(),
        &["--db", db, "--config", cfg, "watchdog", "status"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("bridge"), "{out}");

    let o = must_finish(
        home.path(),
        &["--db", db, "--config", cfg, "pass", "watchdog"],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // The engine keeps answering SIGTERM with a FIFO in its way.
    let mut engine = Reaped(
        keeper(home.path())
            .args(["--db", db, "--config", cfg, "engine"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Once its watchdog has acted with the FIFOs in place (a heal is
    // recorded), it is asked to stop.
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(
        &ro(Path::new(db)),
        "SELECT COUNT(*) FROM events WHERE kind = 'heal'",
    ) == 0
    {
        assert!(Instant::now() < deadline, "the watchdog never acted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &engine.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while engine.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the engine did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fifo_as_the_store_or_the_config_is_refused_by_name() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("db.sqlite");
    fifo(&db);
    let said = format!(
        "{} is a FIFO (named pipe), not a database file",
        db.display()
    );
    for verb in [
        &["status"][..],
        &["sessions"],
        &["pass", "janitor"],
        &["engine"],
    ] {
        let mut args = vec!["--db", db.to_str().unwrap()];
        args.extend_from_slice(verb);
        let o = must_finish(home.path(), &args);
        assert!(!o.status.success(), "{verb:?}");
        let err = stderr(&o);
        assert!(err.contains(&said), "{verb:?}: {err}");
    }
    // `info` reports it in its layout line and goes on.
    let o = must_finish(home.path(), &["--db", db.to_str().unwrap(), "info"]);
    assert!(stdout(&o).contains(&said), "{}", stdout(&o));
    let real = new_store(&home.path().join("real").tap_mkdir());
    let cfg = home.path().join("keeper.toml");
    fifo(&cfg);
    let o = must_finish(
        home.path(),
        &[
            "--db",
            real.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "status",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("is a FIFO (named pipe), not a regular file"),
        "{err}"
    );
}

#[test]
fn a_directory_or_a_future_time_at_the_heartbeat_is_no_fresh_beat() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let b = bridge(home.path());
    let mut sleep = Command::new("/bin/sleep").arg("300").spawn().unwrap();
    std::fs::write(b.dir.join("pid"), format!("{}\n", sleep.id())).unwrap();
    let text = std::fs::read_to_string(&b.config).unwrap();
    std::fs::write(&b.config, format!("{text}heartbeat_stale_secs = 1\n")).unwrap();
    // Past its fresh-start allowance: only a beat could keep it healthy.
    std::thread::sleep(Duration::from_millis(2100));
    let (db, cfg) = (db.to_str().unwrap(), b.config.to_str().unwrap());
    let status = |home: &Path| {
        stdout(&must_finish(
            home,
            &["--db", db, "--config", cfg, "watchdog", "status"],
        ))
    };

    std::fs::create_dir(b.dir.join("beat")).unwrap();
    let out = status(home.path());
    assert!(out.contains("no heartbeat file"), "{out}");

    std::fs::remove_dir(b.dir.join("beat")).unwrap();
    std::fs::write(b.dir.join("beat"), "").unwrap();
    // An hour ahead, as `touch -d` or a skewed file server leaves it.
    let ahead = std::time::SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(b.dir.join("beat"))
        .unwrap()
        .set_modified(ahead)
        .unwrap();
    let out = status(home.path());
    assert!(out.contains("in the future: not counted"), "{out}");
    let _ = sleep.kill();
    let _ = sleep.wait();
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
