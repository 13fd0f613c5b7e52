//! The demo world end to end: its bridge hangs (and ignores SIGTERM), the
//! watchdog climbs the tiers on screen, and the bridge comes back.
#![allow(clippy::unwrap_used, reason = "tests")]

mod e2e_common;

use std::path::PathBuf;

use e2e_common::{Tmux, back_at_prompt, demo_dir};

/// `keeper-tui --demo` in a pane of a private tmux server, up with its
/// bridge healthy: the temp dir it lives in, the server, the demo's dir.
fn demo_in_a_pane() -> (tempfile::TempDir, Tmux, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path(), 180, 50);
    t.wait_for("the shell prompt", |s| s.contains("ready$"));
    let home = dir.path().display();
    t.type_line(&format!(
        "HOME={home} XDG_CONFIG_HOME={home}/cfg XDG_STATE_HOME={home}/state TMPDIR={home} NO_COLOR=1 {} --demo",
        env!("CARGO_BIN_EXE_keeper-tui")
    ));
    let s = t.wait_for("the demo with its bridge healthy", |s| {
        s.contains("7 Bridges") && s.contains("healthy")
    });
    let demo = demo_dir(&s).unwrap_or_else(|| panic!("no demo path on screen:\n{s}"));
    (dir, t, demo)
}

#[test]
fn a_hung_demo_bridge_is_healed_through_tier_3_and_comes_back() {
    let (_dir, t, demo) = demo_in_a_pane();
    let pid_file = demo.join("bridge/bridge.pid");
    let old_pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();

    // Hang it: no heartbeat, no restart marker honoured, SIGTERM ignored.
    std::fs::write(demo.join("bridge/bridge.hang"), "").unwrap();
    t.wait_for("tier 1", |s| {
        s.contains("bridge tier 1: restart marker written")
    });
    t.wait_for("tier 2", |s| s.contains("bridge tier 2: SIGTERM sent pid="));
    let s = t.wait_for("tier 3 and a confirmed restart", |s| {
        s.contains("restarted, new pid=")
    });
    let new_pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(new_pid, old_pid, "a new bridge process:\n{s}");
    assert!(s.contains(&format!("SIGKILL pid={old_pid}")), "{s}");
    t.wait_for("the bridge healthy again", |s| {
        s.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .any(|w| w[0].ends_with("bridge") && w[1] == new_pid)
                && l.contains("healthy")
        })
    });

    t.keys(&["q"]);
    t.wait_for("the shell prompt again", back_at_prompt);
    assert!(!demo.exists(), "the demo world is removed on exit");
    let gone = std::fs::read_to_string(format!("/proc/{new_pid}/cmdline"))
        .map_or(true, |c| !c.contains("bridge"));
    assert!(gone, "the demo bridge must not outlive the demo");
}

/// However the demo ends — `kill -9`, its pane's tmux server killed, SIGHUP
/// — within 5 s no demo process, demo tmux server, bridge, job run or
/// directory is left.
#[test]
fn the_demo_leaves_nothing_behind_however_it_ends() {
    for ending in ["kill -9", "kill-server", "SIGHUP"] {
        let (_dir, t, demo) = demo_in_a_pane();
        let bridge: i32 = std::fs::read_to_string(demo.join("bridge/bridge.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The demo directory is named after the keeper-tui that made it.
        let keeper: i32 = demo
            .file_name()
            .and_then(|n| {
                n.to_str()?
                    .strip_prefix("keeper-demo-")?
                    .split('-')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{}", demo.display()));
        // The demo's own tmux server, named after the keeper-tui that made it.
        let socket = format!("keeper-demo-{keeper}");
        let demo_server_up = || {
            std::process::Command::new("tmux")
                .args(["-L", &socket, "has-session"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        assert!(demo_server_up(), "{ending}: the demo's tmux server runs");
        // A run of a demo job (a process group of its own) is going.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while job_processes(&demo).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{ending}: no demo job ever ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        match ending {
            "kill -9" => signal(keeper, "-KILL"),
            "SIGHUP" => signal(keeper, "-HUP"),
            _ => {
                let _ = t.cmd(&["kill-server"]);
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let alive = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        loop {
            let left = [
                (demo.exists(), "the demo directory"),
                (demo_server_up(), "the demo tmux server"),
                (alive(bridge), "the bridge"),
                (alive(keeper), "keeper-tui"),
                (guard_runs(&demo), "the demo's guard"),
                (!job_processes(&demo).is_empty(), "a demo job's process"),
            ];
            if left.iter().all(|(l, _)| !l) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{ending}: left after 5 s: {:?}",
                left.iter()
                    .filter(|(l, _)| *l)
                    .map(|(_, w)| *w)
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Live processes of the demo's job runs: their environment names the
/// demo directory, whatever they are (the shell, a `sleep` under it).
fn job_processes(demo: &std::path::Path) -> Vec<i32> {
    let needle = format!("{}={}", keeper_tui::demo::DIR_VAR, demo.display());
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// A demo guard for `demo` still runs.
fn guard_runs(demo: &std::path::Path) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", &format!("demo-guard .*--dir {}", demo.display())])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn signal(pid: i32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}
