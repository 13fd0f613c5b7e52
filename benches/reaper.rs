//! One reaper pass over 300 tmux sessions, 200 of them orphans, on a
//! private tmux server (`tmux -L keeper-bench-reaper-<pid>`, never the
//! default one). `cargo bench --bench reaper`.

use std::process::Command;
use std::time::{Duration, Instant};

use keeper_tui::actions::run_pass;
use keeper_tui::config::ReaperConfig;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::reaper::Reaper;
use keeper_tui::store::keeper::claim;
use keeper_tui::store::{WriteStore, now_unix};
use keeper_tui::sys::tmux::Server;

const RUNS: usize = 5;

fn tmux(socket: &str, args: &[&str]) {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("run tmux");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut times = Vec::new();
    for run in 0..RUNS {
        // A server per run: a killed server takes a moment to go away.
        let socket = format!("keeper-bench-reaper-{}-{run}", std::process::id());
        let db = dir.path().join(format!("run{run}.sqlite"));
        let store = WriteStore::open(&db, "keeper-tui").expect("store");
        // Setup is not timed: one session per call.
        for i in 0..300 {
            let name = if i < 200 {
                format!("msg-warm-orphan-{i}")
            } else {
                format!("msg-warm-held-{i}")
            };
            tmux(
                &socket,
                &[
                    "-f",
                    "/dev/null",
                    "new-session",
                    "-d",
                    "-s",
                    &name,
                    "sleep 3600",
                ],
            );
        }
        let now = now_unix();
        for i in 200..300 {
            store
                .with_conn(None, |c| {
                    claim(c, &format!("msg-warm-held-{i}"), "bench", 3600, now)
                })
                .expect("claim");
        }
        let config = ReaperConfig {
            tmux: Server::Named(socket.clone()),
            grace_secs: 0,
            ..ReaperConfig::default()
        };
        let reaper = Reaper::new(config);
        let t0 = Instant::now();
        let report = run_pass(&reaper, &db, &store, PassMode::Forced, now_unix()).expect("pass");
        times.push(t0.elapsed());
        assert_eq!(report.summary, "reaped=200 orphans=200", "{report:?}");
        tmux(&socket, &["kill-server"]);
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("tmux-0/{socket}")));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| sessions | orphans reaped | runs | median | min | max |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| 300 | 200 | {RUNS} | {:.0} ms | {:.0} ms | {:.0} ms |",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
}
