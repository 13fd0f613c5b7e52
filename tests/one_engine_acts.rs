//! Two headless engines and a TUI on one store, one supervised bridge made
//! to hang: only the lease holder heals it, once per tier, and one bridge
//! process is left afterwards.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;
mod proc_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e_common::Tmux;
use proc_common::{BIN, World, wait_until};

/// Kills the engine on drop, whatever the test did.
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(w: &World) -> std::path::PathBuf {
    let dir = w.dir.display();
    let start = w
        .bridge_argv(&[])
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let path = w.dir.join("keeper.toml");
    std::fs::write(
        &path,
        format!(
            "[janitor]\ninterval_secs = 0\n\
             [reaper]\ninterval_secs = 0\nboot_reap = false\n\
             tmux_socket_name = \"keeper-test-{}-none\"\n\
             [watchdog]\ntick_secs = 1\n\
             [[watchdog.process]]\nname = \"bridge\"\n\
             pid_file = \"{dir}/bridge.pid\"\nheartbeat_file = \"{dir}/bridge.heartbeat\"\n\
             heartbeat_stale_secs = 1\nrestart_markers = [\"{dir}/bridge.restart\"]\n\
             start = [{start}]\nlog_file = \"{dir}/bridge.log\"\n\
             cmdline_pattern = \"bridge --dir {dir}\"\n\
             cooldown_secs = 1\ngrace_secs = 1\n",
            std::process::id()
        ),
    )
    .unwrap();
    path
}

fn engine(w: &World, cfg: &Path, log: &str) -> Engine {
    Engine(
        Command::new(BIN)
            .args(["--db", w.db().to_str().unwrap(), "--config"])
            .arg(cfg)
            .arg("engine")
            .env("HOME", &w.dir)
            .env("XDG_STATE_HOME", w.dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(w.dir.join(log)).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn log(w: &World, name: &str) -> String {
    std::fs::read_to_string(w.dir.join(name)).unwrap_or_default()
}

/// Processes whose command line is a bridge of this world.
fn bridges(w: &World) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("bridge --dir {}( |$)", w.dir.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn two_engines_and_a_tui_heal_a_hung_bridge_exactly_once() {
    let mut w = World::new();
    let old = w.spawn_bridge(&["--ignore-sigterm"]);
    drop(w.store());
    let cfg = config(&w);

    let first = engine(&w, &cfg, "first.err");
    wait_until(Duration::from_secs(10), "the first engine to lead", || {
        log(&w, "first.err").contains("this engine runs the loops")
    });
    let holder = first.0.id();
    let second = engine(&w, &cfg, "second.err");
    wait_until(
        Duration::from_secs(10),
        "the second engine to observe",
        || log(&w, "second.err").contains(&format!("observer: the loops run in pid {holder}")),
    );
    let t = Tmux::start(&w.dir, 200, 50);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    let home = w.dir.display();
    t.type_line(&format!(
        "HOME={home} XDG_STATE_HOME={home}/state NO_COLOR=1 {BIN} --db {} --config {}",
        w.db().display(),
        cfg.display()
    ));
    t.wait_for("the TUI observing, the bridge healthy", |s| {
        s.contains(&format!("observer — loops run in pid {holder}")) && s.contains("healthy")
    });

    // Hung: no heartbeat, no marker honoured, SIGTERM ignored.
    std::fs::write(w.hang_file(), "").unwrap();
    // The observer's Log is its own; what the holder did is in the store.
    wait_until(Duration::from_secs(20), "tier 3's restart", || {
        w.events("heal")
            .iter()
            .any(|(_, s)| s.contains("restarted, new pid="))
    });
    wait_until(
        Duration::from_secs(10),
        "a new bridge in the pid file",
        || w.pid().is_some_and(|p| p != old),
    );
    let new = w.pid().unwrap();
    let screen = t.wait_for("the new bridge healthy", |s| {
        s.lines()
            .any(|l| l.contains(&format!("bridge     {new}")) && l.contains("healthy"))
    });

    // A barrier: a forced pass from outside the holder finds nothing to do,
    // so every heal the engines were going to make for this hang is made.
    let pass = Command::new(BIN)
        .args(["--db", w.db().to_str().unwrap(), "--config"])
        .arg(&cfg)
        .args(["pass", "watchdog"])
        .env("HOME", &w.dir)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&pass.stdout).into_owned() + &String::from_utf8_lossy(&pass.stderr);
    assert!(pass.status.success(), "{said}");
    assert!(
        !said.contains("tier"),
        "a healthy bridge was healed: {said}"
    );

    let heals: Vec<String> = w
        .events("heal")
        .into_iter()
        .map(|(t, _)| t.unwrap_or_default())
        .collect();
    assert_eq!(
        heals,
        ["bridge:tier1", "bridge:tier2", "bridge:tier3"],
        "one heal record per tier\n{screen}"
    );
    let restarts = w
        .events("heal")
        .iter()
        .filter(|(_, s)| s.contains("restarted, new pid="))
        .count();
    assert_eq!(restarts, 1);
    assert_eq!(bridges(&w), [new.to_string()], "one bridge process");
    w.track(new);
    // Only the holder acted.
    assert!(
        !log(&w, "second.err").contains("tier"),
        "the observer healed:\n{}",
        log(&w, "second.err")
    );
    assert!(
        log(&w, "first.err").contains("restarted, new pid="),
        "{}",
        log(&w, "first.err")
    );
    t.keys(&["q"]);
    t.wait_for("the TUI gone", e2e_common::back_at_prompt);
    drop(second);
    drop(first);
}
