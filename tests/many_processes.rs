//! Many supervised processes: one watcher for all their directories, heals
//! side by side, a prompt stop on SIGTERM even while heals wait out their
//! grace, and a config past the documented limit refused by name.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use keeper_tui::store::keeper::{HealState, save_heal_state};
use keeper_tui::store::now_unix;

const PROCESSES: usize = 60;

fn config(home: &Path, n: usize, grace_secs: u64) -> String {
    let mut toml = format!(
        "[janitor]\ninterval_secs = 1\n[reaper]\ninterval_secs = 0\nboot_reap = false\n\
         tmux_socket_name = \"keeper-test-{}-none\"\n[watchdog]\ntick_secs = 0\n",
        std::process::id()
    );
    for i in 0..n {
        let d = home.join(format!("p{i}"));
        let _ = writeln!(
            toml,
            "[[watchdog.process]]\nname = \"p{i}\"\npid_file = \"{d}/pid\"\nheartbeat_file = \"{d}/beat\"\n\
             heartbeat_stale_secs = 1\nlog_file = \"{d}/log\"\nstart = [\"/bin/sleep\", \"301\"]\n\
             cmdline_pattern = \"sleep 30\"\ngrace_secs = {grace_secs}\ncooldown_secs = 0",
            d = d.display()
        );
    }
    toml
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

struct Sleeps(Vec<Child>);

impl Drop for Sleeps {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn sixty_hung_processes_heal_side_by_side_and_sigterm_stops_within_moments() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let store = open_writer(&db);
    let mut sleeps = Sleeps(Vec::new());
    let long_ago = now_unix() - 3600;
    for i in 0..PROCESSES {
        let d = home.path().join(format!("p{i}"));
        std::fs::create_dir(&d).unwrap();
        let child = Command::new("/bin/sleep")
            .arg("300")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::fs::write(d.join("pid"), format!("{}\n", child.id())).unwrap();
        sleeps.0.push(child);
        // Tier 2 done long ago: the next step is tier 3, which waits out a
        // long grace before its SIGKILL.
        store
            .with_conn(None, |c| {
                save_heal_state(
                    c,
                    &HealState {
                        name: format!("p{i}"),
                        tier: 2,
                        last_action_at: long_ago,
                        ..HealState::default()
                    },
                )
            })
            .unwrap();
    }
    drop(store);
    // Past every process's fresh-start allowance.
    std::thread::sleep(Duration::from_millis(2100));
    let cfg = home.path().join("keeper.toml");
    std::fs::write(&cfg, config(home.path(), PROCESSES, 60)).unwrap();
    let err = home.path().join("engine.err");
    let mut engine = Reaped(
        keeper(home.path())
            .args([
                "--db",
                db.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "engine",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = engine.id();
    // The first watchdog pass waits out tier 3 graces; the janitor keeps
    // its own schedule meanwhile.
    let janitor_passes = || {
        count(
            &ro(&db),
            "SELECT COUNT(*) FROM events WHERE kind = 'janitor_pass'",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while janitor_passes() < 1 {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&err).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (threads, open) = (proc_status(pid, "Threads:"), fds(pid));
    eprintln!("{PROCESSES} processes: engine threads {threads}, open fds {open}");
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(!text.contains("cannot watch"), "{text}");

    let asked = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the engine did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = asked.elapsed();
    eprintln!("stopped {} ms after SIGTERM", took.as_millis());
    // A heal that waited its 60 s grace one after another would take an
    // hour; side by side and stop-aware, the engine is gone long before
    // one grace is over.
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(engine.wait().unwrap().success());
    // Nothing was started or killed on the way out.
    for c in &mut sleeps.0 {
        assert!(c.try_wait().unwrap().is_none(), "a hung process was killed");
    }
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(!text.contains("restarted, new pid"), "{text}");
}

#[test]
fn more_processes_than_the_limit_is_an_error_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let cfg = home.path().join("keeper.toml");
    std::fs::write(&cfg, config(home.path(), 257, 5)).unwrap();
    let o = keeper(home.path())
        .args([
            "--db",
            db.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "info",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("at most 256 [[watchdog.process]] tables (this is number 257)"),
        "{e}"
    );
}
