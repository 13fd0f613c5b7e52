//! The watchdog against real bridge processes and real signals: one
//! escalation step per pass, driven through `actions::run_pass`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod proc_common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use keeper_tui::actions::run_pass;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::watchdog::{Watchdog, check};
use keeper_tui::store::WriteStore;
use keeper_tui::store::keeper::{HealState, heal_state, save_heal_state};
use keeper_tui::sys::process::Liveness;

use proc_common::{World, heal_row, now, nowf, running, wait_until, watchdog};

/// One scheduled pass; its detail lines (one per action).
fn pass(wd: &Watchdog, store: &WriteStore) -> Vec<String> {
    pass_at(wd, store, now())
}

fn pass_at(wd: &Watchdog, store: &WriteStore, at: i64) -> Vec<String> {
    run_pass(wd, &store.path, store, PassMode::Scheduled, at)
        .unwrap()
        .detail
}

/// A plain connection to the store, as a test reads it.
fn conn(store: &WriteStore) -> rusqlite::Connection {
    rusqlite::Connection::open(&store.path).unwrap()
}

fn heal_targets(w: &World) -> Vec<String> {
    w.events("heal")
        .into_iter()
        .map(|(t, _)| t.unwrap_or_default())
        .collect()
}

/// After a tier-1 marker: a hung bridge does nothing at all, so the marker
/// waits for it. Un-hang it and wait until it consumed the marker and
/// re-executed (the version file it writes at start reappears).
fn unhang_and_wait_reexec(w: &World) {
    assert!(w.marker().exists(), "the marker waits for the hung bridge");
    std::fs::remove_file(w.version_file()).unwrap();
    std::fs::remove_file(w.hang_file()).unwrap();
    wait_until(Duration::from_secs(10), "the marker consumed", || {
        !w.marker().exists()
    });
    wait_until(Duration::from_secs(10), "the re-executed bridge", || {
        w.version_file().exists()
    });
}

// 1. Healthy

#[test]
fn healthy_bridge_is_left_alone() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    let wd = watchdog(w.config());
    let store = w.store();
    let detail = pass(&wd, &store);
    assert!(detail.is_empty(), "{detail:?}");
    assert!(w.events("heal").is_empty());
    assert!(w.events("circuit_broken").is_empty());
    let passes = w.events("watchdog_pass");
    assert_eq!(passes.len(), 1, "{passes:?}");
    assert_eq!(passes[0].1, "all_healthy");
    assert!(!w.marker().exists(), "no marker for a healthy bridge");
    assert_eq!(w.pid(), Some(pid));
    assert!(running(pid));
    // The child was not signalled: it has not exited.
    assert!(w.children[0].try_wait().unwrap().is_none());
    assert_eq!(heal_row(&w.db(), "bridge"), None, "nothing to remember");
}

#[test]
fn healthy_bridge_resets_an_old_heal_state() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    let store = w.store();
    let old = HealState {
        name: "bridge".into(),
        tier: 2,
        last_action_at: now() - 600,
        failures: 1,
        last_alert_at: 0,
        last_action: "bridge tier 2: SIGTERM sent pid=1".into(),
        started_group: 0,
    };
    save_heal_state(&conn(&store), &old).unwrap();
    let wd = watchdog(w.config());
    let detail = pass(&wd, &store);
    assert_eq!(detail, ["bridge healthy again"]);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (0, 0), "{st:?}");
    assert!(w.events("heal").is_empty());
    assert_eq!(w.pid(), Some(pid));
    assert!(w.children[0].try_wait().unwrap().is_none());
}

// 2. Stale heartbeat → tier 1

#[test]
fn stale_heartbeat_writes_the_restart_marker_and_the_bridge_reexecs() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&["--version", "v1"]);
    w.hang_until_stale(1);
    let h = check(&w.config(), nowf());
    assert!(h.stale && !h.healthy(), "{h:?}");

    let wd = watchdog(w.config());
    let store = w.store();
    let detail = pass(&wd, &store);
    assert_eq!(detail.len(), 1, "{detail:?}");
    assert!(
        detail[0].starts_with("bridge tier 1: restart marker written (heartbeat"),
        "{detail:?}"
    );
    assert_eq!(heal_targets(&w), ["bridge:tier1"]);
    assert_eq!(w.events("watchdog_pass").len(), 1);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (1, 0));

    // The real bridge honours it once it runs again: marker consumed,
    // re-exec, same pid.
    let before = std::fs::metadata(w.heartbeat())
        .unwrap()
        .modified()
        .unwrap();
    unhang_and_wait_reexec(&w);
    assert_eq!(w.pid(), Some(pid));
    assert!(running(pid));
    assert_eq!(
        std::fs::read_to_string(w.version_file()).unwrap().trim(),
        "v1"
    );
    wait_until(Duration::from_secs(10), "a fresh heartbeat", || {
        std::fs::metadata(w.heartbeat())
            .unwrap()
            .modified()
            .unwrap()
            > before
    });
    assert_eq!(pass(&wd, &store), ["bridge healthy again"]);
    assert_eq!(heal_state(&conn(&store), "bridge").unwrap().tier, 0);
    assert_eq!(w.pid(), Some(pid));
    assert!(w.children[0].try_wait().unwrap().is_none());
}

// 3. Still stale → tier 2, one SIGTERM; the cooldown suppresses

#[test]
fn still_stale_after_the_cooldown_sends_exactly_one_sigterm() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    w.hang_until_stale(1);
    let wd = watchdog(w.config());
    let store = w.store();
    let first = pass(&wd, &store);
    assert!(first[0].starts_with("bridge tier 1:"), "{first:?}");
    assert!(w.marker().exists(), "a hung bridge leaves the marker");
    assert!(!check(&w.config(), nowf()).healthy(), "still hung");

    let second = pass(&wd, &store);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(
        second[0].starts_with(&format!("bridge tier 2: SIGTERM sent pid={pid} (")),
        "{second:?}"
    );
    assert_eq!(heal_targets(&w), ["bridge:tier1", "bridge:tier2"]);
    // It was SIGTERM that ended it.
    let status = w.children[0].wait().unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");

    // Now dead, but within a 30 s cooldown: nothing happens.
    let mut cfg = w.config();
    cfg.cooldown_secs = 30;
    let wd = watchdog(cfg);
    let third = pass(&wd, &store);
    assert!(third.is_empty(), "{third:?}");
    assert_eq!(heal_targets(&w), ["bridge:tier1", "bridge:tier2"]);
    assert_eq!(heal_state(&conn(&store), "bridge").unwrap().tier, 2);
    assert!(!w.pid_file().exists() || w.pid() == Some(pid), "no restart");
}

// 4. Ignores SIGTERM → tier 3: SIGKILL and a confirmed restart

#[test]
fn a_bridge_that_ignores_sigterm_is_killed_and_restarted_with_a_new_pid() {
    let mut w = World::new();
    let old = w.spawn_bridge(&["--ignore-sigterm"]);
    w.hang_until_stale(1);
    let mut cfg = w.config();
    // No marker: tier 1 is skipped, straight to SIGTERM.
    cfg.restart_markers = vec![];
    let wd = watchdog(cfg);
    let store = w.store();

    let t2 = pass(&wd, &store);
    assert!(
        t2[0].starts_with(&format!("bridge tier 2: SIGTERM sent pid={old}")),
        "{t2:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(running(old), "it ignores SIGTERM");
    assert!(w.children[0].try_wait().unwrap().is_none());

    let t3 = pass(&wd, &store);
    assert_eq!(t3.len(), 1, "{t3:?}");
    let new = w.pid().unwrap();
    w.track(new);
    assert_ne!(new, old);
    assert!(
        t3[0].starts_with(&format!(
            "bridge tier 3: SIGKILL pid={old}, restarted, new pid={new} ("
        )),
        "{t3:?}"
    );
    assert!(running(new), "the new bridge runs");
    assert!(!running(old), "the old one is gone or a zombie");
    let status = w.children[0].wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert_eq!(heal_targets(&w), ["bridge:tier2", "bridge:tier3"]);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!(
        (st.tier, st.failures),
        (3, 1),
        "a restart counts toward the breaker until it proves healthy: {st:?}"
    );
    assert!(matches!(
        check(&w.config(), nowf()).liveness,
        Liveness::Alive(ref p) if p.pid == new
    ));
    // Its own heartbeat proves it: the next look forgets the heal.
    let started = std::time::SystemTime::now();
    wait_until(
        Duration::from_secs(10),
        "the new bridge's heartbeat",
        || {
            std::fs::metadata(w.heartbeat())
                .and_then(|m| m.modified())
                .is_ok_and(|m| m >= started)
        },
    );
    assert_eq!(pass(&wd, &store), ["bridge healthy again"]);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (0, 0), "{st:?}");
}

// 5. No pid file → tier 3; a failing start → the breaker

/// Another keeper-tui healing the same process holds its claim: this one
/// neither signals nor starts anything, and says who is at it; once that
/// claim is released (or runs out) it acts.
#[test]
fn a_process_another_keeper_tui_is_healing_is_left_to_it() {
    let mut w = World::new();
    let store = w.store();
    let c = conn(&store);
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS keeper_heal_claims (name TEXT PRIMARY KEY, holder TEXT NOT NULL, \
         pid INTEGER NOT NULL, until INTEGER NOT NULL)",
    )
    .unwrap();
    c.execute(
        "INSERT INTO keeper_heal_claims VALUES ('bridge', 'someone-else', 4242, ?1)",
        [now() + 600],
    )
    .unwrap();
    let wd = watchdog(w.config());
    let detail = pass(&wd, &store);
    assert_eq!(
        detail,
        ["bridge: another keeper-tui (pid 4242) is healing it"],
        "{detail:?}"
    );
    assert_eq!(w.pid(), None, "nothing was started");
    assert!(heal_targets(&w).is_empty());
    c.execute("DELETE FROM keeper_heal_claims", []).unwrap();
    let detail = pass_at(&wd, &store, now() + 10);
    let new = w.pid().expect("started once the claim is gone");
    w.track(new);
    assert!(
        detail[0].starts_with("bridge tier 3: restarted"),
        "{detail:?}"
    );
    // Its own claim went with the record.
    let left: i64 = c
        .query_row("SELECT COUNT(*) FROM keeper_heal_claims", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn no_pid_file_goes_straight_to_tier_3_without_a_signal() {
    let mut w = World::new();
    let store = w.store();
    // Even with a remembered tier 0 / nothing, no pid means tier 3.
    let wd = watchdog(w.config());
    let detail = pass(&wd, &store);
    let new = w.pid().expect("the started bridge wrote its pid");
    w.track(new);
    assert_eq!(detail.len(), 1, "{detail:?}");
    assert!(
        detail[0].starts_with(&format!(
            "bridge tier 3: restarted, new pid={new} (no live pid"
        )),
        "{detail:?}"
    );
    assert!(!detail[0].contains("SIG"), "no signal: {detail:?}");
    assert!(running(new));
    assert!(proc_common::cmdline(new).contains(&w.dir.display().to_string()));
    assert_eq!(heal_targets(&w), ["bridge:tier3"]);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!(
        (st.tier, st.failures),
        (3, 1),
        "counted until it proves healthy"
    );
    // Give it its first heartbeat: then it is healthy and its heal forgotten.
    wait_until(Duration::from_secs(10), "the first heartbeat", || {
        w.heartbeat().exists()
    });
    assert_eq!(pass(&wd, &store), ["bridge healthy again"]);
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (0, 0), "{st:?}");
}

#[test]
fn a_start_that_fails_three_times_breaks_the_circuit_until_reset() {
    let w = World::new();
    let mut cfg = w.config();
    cfg.start = vec!["/nonexistent/bin".into()];
    cfg.quiet_secs = 3600;
    let wd = watchdog(cfg);
    let store = w.store();

    for n in 1..=3u32 {
        let d = pass(&wd, &store);
        assert_eq!(d.len(), 1, "pass {n}: {d:?}");
        assert!(d[0].starts_with("bridge tier 3: "), "pass {n}: {d:?}");
        assert!(!d[0].contains("restarted"), "pass {n}: {d:?}");
        let st = heal_state(&conn(&store), "bridge").unwrap();
        assert_eq!(st.failures, n, "{st:?}");
        // The real reason, not "no live pid within 5s".
        assert!(
            d[0].contains("start failed: cannot start /nonexistent/bin: No such file"),
            "pass {n}: {d:?}"
        );
        // The opening is said when it happens.
        assert_eq!(
            d[0].contains("circuit broken after 3 restarts"),
            n == 3,
            "{d:?}"
        );
    }
    assert_eq!(heal_targets(&w).len(), 3);
    let broken = w.events("circuit_broken");
    assert_eq!(broken.len(), 1, "one alert when it breaks: {broken:?}");
    assert_eq!(broken[0].0.as_deref(), Some("bridge"));

    // Broken: no action on later passes, no second alert within quiet_secs.
    for _ in 0..3 {
        let d = pass(&wd, &store);
        assert!(d.is_empty(), "{d:?}");
    }
    assert_eq!(heal_targets(&w).len(), 3);
    assert_eq!(w.events("circuit_broken").len(), 1);

    // Once the quiet period is over: one more alert, still no action, and
    // again silence for the next quiet period.
    let later = now() + 3601;
    let d = pass_at(&wd, &store, later);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("bridge circuit broken after 3 restarts that did not come back healthy"),
        "{d:?}"
    );
    assert!(pass_at(&wd, &store, later + 10).is_empty());
    assert_eq!(w.events("circuit_broken").len(), 2);
    assert_eq!(heal_targets(&w).len(), 3, "no action while broken");

    // The operator resets it; the watchdog acts again.
    let msg = wd.reset(&store, &conn(&store), "bridge").unwrap();
    assert!(msg.contains("reset"), "{msg}");
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (0, 0));
    let d = pass(&wd, &store);
    assert!(d[0].starts_with("bridge tier 3: "), "{d:?}");
    assert_eq!(heal_targets(&w).len(), 4);
    assert_eq!(heal_state(&conn(&store), "bridge").unwrap().failures, 1);
    assert!(wd.reset(&store, &conn(&store), "nobody").is_err());
}

#[test]
fn reset_from_the_cli_closes_the_circuit() {
    let w = World::new();
    let store = w.store();
    save_heal_state(
        &conn(&store),
        &HealState {
            name: "bridge".into(),
            tier: 3,
            last_action_at: now(),
            failures: 3,
            last_alert_at: now(),
            last_action: "x".into(),
            started_group: 0,
        },
    )
    .unwrap();
    drop(store);
    let cfg = w.dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[watchdog.process]]\nname = \"bridge\"\npid_file = \"{}\"\nheartbeat_file = \"{}\"\nlog_file = \"{}\"\nstart = [\"/bin/true\"]\n",
            w.pid_file().display(),
            w.heartbeat().display(),
            w.dir.join("bridge.log").display()
        ),
    )
    .unwrap();
    let out = Command::new(proc_common::BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("--db")
        .arg(w.db())
        .args(["watchdog", "reset", "bridge"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let row = heal_row(&w.db(), "bridge").unwrap();
    assert_eq!((row.0, row.1), (0, 0), "{row:?}");
}

// 6. Version

fn git(repo: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn repo_with_a_commit(w: &World) -> std::path::PathBuf {
    let repo = w.dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "one"]);
    repo
}

#[test]
fn a_version_mismatch_in_a_real_repository_goes_to_tier_1() {
    let mut w = World::new();
    let repo = repo_with_a_commit(&w);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    let repo_s = repo.display().to_string();
    let pid = w.spawn_bridge(&["--version-repo", &repo_s]);
    let mut cfg = w.config();
    cfg.version_file = Some(w.version_file());
    cfg.version_repo = Some(repo.clone());
    cfg.start = w.bridge_argv(&["--version-repo", &repo_s]);
    let wd = watchdog(cfg.clone());
    let store = w.store();
    let h = check(&cfg, nowf());
    assert_eq!(h.stamp.as_deref(), Some(first.as_str()));
    assert!(h.healthy(), "{h:?}");
    assert!(pass(&wd, &store).is_empty());

    git(&repo, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    let h = check(&cfg, nowf());
    assert!(h.mismatch && !h.stale, "{h:?}");
    std::fs::remove_file(w.version_file()).unwrap_or(());
    // Removing the stamp would hide the mismatch: put it back as it was.
    std::fs::write(w.version_file(), format!("{first}\n")).unwrap();
    let d = pass(&wd, &store);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with(&format!(
            "bridge tier 1: restart marker written (runs {} but {} is current)",
            &first[..12],
            &second[..12]
        )),
        "{d:?}"
    );
    assert_eq!(heal_targets(&w), ["bridge:tier1"]);

    // The bridge re-executes and stamps the new HEAD: healthy again.
    wait_until(Duration::from_secs(10), "the new stamp", || {
        !w.marker().exists()
            && std::fs::read_to_string(w.version_file()).is_ok_and(|s| s.trim() == second)
    });
    assert_eq!(w.pid(), Some(pid));
    assert_eq!(pass(&wd, &store), ["bridge healthy again"]);
    assert_eq!(heal_state(&conn(&store), "bridge").unwrap().tier, 0);
    assert_eq!(heal_targets(&w).len(), 1);
}

#[test]
fn a_missing_version_stamp_is_not_a_trigger() {
    let mut w = World::new();
    let repo = repo_with_a_commit(&w);
    let pid = w.spawn_bridge(&["--version", "something-else"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let mut cfg = w.config();
    cfg.version_file = Some(w.dir.join("no-such.version"));
    cfg.version_repo = Some(repo);
    let h = check(&cfg, nowf());
    assert_eq!(h.stamp, None);
    assert!(!h.mismatch && h.healthy(), "{h:?}");
    let wd = watchdog(cfg);
    let store = w.store();
    assert!(pass(&wd, &store).is_empty());
    // No version file configured at all: no action either.
    let wd = watchdog(w.config());
    assert!(pass(&wd, &store).is_empty());
    assert!(w.events("heal").is_empty());
    assert!(!w.marker().exists());
    assert_eq!(w.pid(), Some(pid));
}

#[test]
fn an_unknown_stamp_against_a_real_version_is_a_mismatch() {
    let mut w = World::new();
    let repo = repo_with_a_commit(&w);
    w.spawn_bridge(&[]);
    let mut cfg = w.config();
    cfg.version_file = Some(w.version_file());
    cfg.version_repo = Some(repo);
    assert_eq!(
        std::fs::read_to_string(w.version_file()).unwrap().trim(),
        "unknown"
    );
    let h = check(&cfg, nowf());
    assert!(h.mismatch, "{h:?}");
}

// 7. Identity: an unrelated process is never signalled; zombies are dead

#[test]
fn an_unrelated_process_in_the_pid_file_is_never_signalled() {
    let mut w = World::new();
    let sleep = Command::new("sleep")
        .arg("300")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sleep_pid = sleep.id() as i32;
    w.children.push(sleep);
    std::fs::write(w.pid_file(), format!("{sleep_pid}\n")).unwrap();
    // Even with a tier remembered that would mean SIGTERM next.
    let store = w.store();
    save_heal_state(
        &conn(&store),
        &HealState {
            name: "bridge".into(),
            tier: 1,
            last_action_at: now() - 600,
            ..HealState::default()
        },
    )
    .unwrap();
    let h = check(&w.config(), nowf());
    assert!(
        matches!(h.liveness, Liveness::NotOurs { pid, .. } if pid == sleep_pid),
        "{h:?}"
    );
    let wd = watchdog(w.config());
    let d = pass(&wd, &store);
    assert_eq!(d.len(), 1, "{d:?}");
    let new = w.pid().unwrap();
    w.track(new);
    assert_ne!(new, sleep_pid);
    assert!(
        d[0].starts_with(&format!(
            "bridge tier 3: restarted, new pid={new} (pid {sleep_pid} is not ours"
        )),
        "{d:?}"
    );
    assert!(!d[0].contains("SIG"), "{d:?}");
    assert!(running(sleep_pid), "the sleep survives");
    assert!(w.children[0].try_wait().unwrap().is_none(), "not signalled");
}

/// No `cmdline_pattern` (it is optional): an unrelated process named by
/// the pid file, with no heartbeat, through pass after pass, is never
/// signalled; the real bridge is still recognised by its start command.
#[test]
fn without_a_pattern_the_start_command_tells_ours_from_an_unrelated_process() {
    let mut w = World::new();
    let sleep = Command::new("sleep")
        .arg("300")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sleep_pid = sleep.id() as i32;
    w.children.push(sleep);
    std::fs::write(w.pid_file(), format!("{sleep_pid}\n")).unwrap();
    let mut cfg = w.config();
    cfg.cmdline_pattern = None;
    // No way to start one either: tier 3 has nothing to do.
    cfg.start = vec!["/nonexistent/bridge".into(), "serve".into()];
    let h = check(&cfg, nowf());
    assert!(
        matches!(&h.liveness, Liveness::NotOurs { pid, why } if *pid == sleep_pid && why.contains("not the start command")),
        "{h:?}"
    );
    let wd = watchdog(cfg.clone());
    let store = w.store();
    for i in 0..4 {
        let d = pass_at(&wd, &store, now() + 60 * i);
        assert!(!d.iter().any(|l| l.contains("SIG")), "{d:?}");
    }
    assert!(running(sleep_pid), "the sleep survives");
    assert!(w.children[0].try_wait().unwrap().is_none(), "not signalled");

    // The bridge itself, started as `start` says, is ours without a pattern.
    let mut cfg = w.config();
    cfg.cmdline_pattern = None;
    let pid = w.spawn_bridge(&[]);
    let h = check(&cfg, nowf());
    assert!(
        matches!(&h.liveness, Liveness::Alive(p) if p.pid == pid),
        "{h:?}"
    );
    // With neither a pattern nor a start command, nothing can be proven.
    cfg.start = Vec::new();
    let h = check(&cfg, nowf());
    assert!(
        matches!(&h.liveness, Liveness::NotOurs { why, .. } if why.contains("set cmdline_pattern")),
        "{h:?}"
    );
}

#[test]
fn a_zombie_is_treated_as_dead() {
    let mut w = World::new();
    let child = Command::new("sh")
        .args(["-c", "exit 0"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let zpid = child.id() as i32;
    // Not waited on until the World drops: a real zombie of ours.
    w.children.push(child);
    wait_until(Duration::from_secs(10), "a zombie", || {
        proc_common::proc_state(zpid) == Some('Z')
    });
    std::fs::write(w.pid_file(), format!("{zpid}\n")).unwrap();
    let h = check(&w.config(), nowf());
    assert_eq!(h.liveness, Liveness::Zombie(zpid));
    assert!(!h.healthy());
    let wd = watchdog(w.config());
    let store = w.store();
    let d = pass(&wd, &store);
    let new = w.pid().unwrap();
    w.track(new);
    assert_ne!(new, zpid);
    assert!(
        d[0].starts_with(&format!(
            "bridge tier 3: restarted, new pid={new} (pid {zpid} is a zombie"
        )),
        "{d:?}"
    );
    assert!(!d[0].contains("SIG"), "{d:?}");
    assert_eq!(proc_common::proc_state(zpid), Some('Z'));
}

// 8. Heal state survives a restart of keeper-tui

#[test]
fn heal_state_survives_a_restart() {
    let mut w = World::new();
    let pid = w.spawn_bridge(&[]);
    w.hang_until_stale(1);
    {
        let wd = watchdog(w.config());
        let store = w.store();
        let d = pass(&wd, &store);
        assert!(d[0].starts_with("bridge tier 1:"), "{d:?}");
    }
    let wd = watchdog(w.config());
    let store = w.store();
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (1, 0), "{st:?}");
    assert!(st.last_action_at > 0);
    let d = pass(&wd, &store);
    assert!(
        d[0].starts_with(&format!("bridge tier 2: SIGTERM sent pid={pid}")),
        "{d:?}"
    );
    assert_eq!(heal_targets(&w), ["bridge:tier1", "bridge:tier2"]);
}

// 9. Bugs found on reading

#[test]
fn a_version_stamp_with_non_ascii_text_is_handled_not_panicked_on() {
    let mut w = World::new();
    w.spawn_bridge(&["--version", "ünïcödé-öne-release-candidate"]);
    let mut cfg = w.config();
    cfg.version_file = Some(w.version_file());
    cfg.version_command = Some(vec!["echo".into(), "ünïcödé-twö-release-candidate".into()]);
    let wd = watchdog(cfg.clone());
    let store = w.store();
    let h = check(&cfg, nowf());
    assert!(h.mismatch, "{h:?}");
    assert_eq!(h.why(), "runs ünïcödé-öne- but ünïcödé-twö- is current");
    let d = pass(&wd, &store);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("bridge tier 1: restart marker written (runs ünïcödé-öne- but"),
        "{d:?}"
    );
    // The status verb and the panel's rows read the same stamp.
    assert_eq!(wd.rows(&conn(&store), now()).unwrap().len(), 1);
}

/// A process that writes its pid and never a heartbeat (`sleep` under a
/// name of its own, so the test can find and end it).
fn silent_start(w: &World) -> (Vec<String>, String) {
    let tag = format!("{}", 6000 + std::process::id() % 1000);
    let script = format!("echo $$ > {}; exec sleep {tag}", w.pid_file().display());
    (
        vec!["sh".into(), "-c".into(), script],
        format!("sleep {tag}"),
    )
}

#[test]
fn a_restarted_process_is_not_judged_by_its_predecessors_last_beat() {
    let w = World::new();
    // A heartbeat file left long ago by a process that is gone.
    std::fs::write(w.heartbeat(), "old").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(w.heartbeat())
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let mut cfg = w.config();
    cfg.heartbeat_stale_secs = 30;
    let (start, pattern) = silent_start(&w);
    cfg.start = start;
    cfg.cmdline_pattern = Some(pattern);
    let wd = watchdog(cfg);
    let store = w.store();
    let d = pass(&wd, &store);
    assert!(d[0].contains("restarted, new pid="), "{d:?}");
    let new = w.pid().unwrap();
    // Fresh: thirty seconds from its own start before it can be stale,
    // whatever the old file says; and not yet proved, so nothing is reset.
    let d = pass(&wd, &store);
    proc_common::kill9(new);
    assert!(d.is_empty(), "a fresh process is left alone: {d:?}");
    let st = heal_state(&conn(&store), "bridge").unwrap();
    assert_eq!((st.tier, st.failures), (3, 1), "{st:?}");
    assert_eq!(w.pid(), Some(new));
}

#[test]
fn tier_3_starts_nothing_when_a_new_process_took_over_during_the_grace() {
    let mut w = World::new();
    let old = w.spawn_bridge(&["--ignore-sigterm"]);
    w.hang_until_stale(1);
    let mut cfg = w.config();
    cfg.grace_secs = 4;
    let store = w.store();
    save_heal_state(
        &conn(&store),
        &HealState {
            name: "bridge".into(),
            tier: 2,
            last_action_at: now() - 600,
            ..HealState::default()
        },
    )
    .unwrap();
    let wd = watchdog(cfg);
    let heal = std::thread::spawn(move || pass(&wd, &store));
    // While the watchdog waits out the grace, someone starts a new bridge.
    std::thread::sleep(Duration::from_millis(500));
    let newer = w.spawn_bridge(&[]);
    let d = heal.join().unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains(&format!("SIGKILL pid={old}"))
            && d[0].contains(&format!(
                "a new process pid={newer} is already running; not starting another"
            )),
        "{d:?}"
    );
    assert_eq!(w.pid(), Some(newer), "no third bridge");
    assert!(running(newer));
    assert!(!running(old));
}

#[test]
fn a_pass_that_has_not_started_acting_gives_up_when_keeper_tui_stops() {
    let w = World::new();
    // No pid file: the next step would start a process.
    let wd = watchdog(w.config());
    let store = w.store();
    let read = rusqlite::Connection::open(&store.path).unwrap();
    let stopping = std::sync::atomic::AtomicBool::new(true);
    let ctx = keeper_tui::loops::PassCtx {
        read: &read,
        store: &store,
        mode: PassMode::Scheduled,
        now: now(),
        first: false,
        stopping: &stopping,
        allowed: keeper_tui::loops::Allowed::Configured,
    };
    let err = keeper_tui::loops::Loop::pass(&wd, &ctx).unwrap_err();
    assert!(
        matches!(err, keeper_tui::error::Error::ShuttingDown(_)),
        "{err}"
    );
    assert!(w.pid().is_none(), "nothing was started");
    assert!(w.events("heal").is_empty(), "nothing recorded");
}
