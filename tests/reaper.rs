//! The reaper against a real tmux server on a private socket per test
//! (never the default server): what it kills, what it leaves and why, and
//! what it records. Every check reads what tmux really has afterwards.
#![allow(clippy::unwrap_used, reason = "tests")]

mod tmux_common;

use keeper_tui::actions::run_pass;
use keeper_tui::config::ReaperConfig;
use keeper_tui::loops::reaper::{Fate, Named, ReapReport, Reaper, SurveyState};
use keeper_tui::loops::{Loop, PassMode};
use keeper_tui::store::keeper::{claim, recent_passes, release, touch};
use keeper_tui::store::{WriteStore, now_unix};
use keeper_tui::sys::tmux::Server;
use rusqlite::params;
use tempfile::TempDir;
use tmux_common::*;

fn world() -> (TempDir, std::path::PathBuf, WriteStore) {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = new_store(dir.path());
    (dir, db, store)
}

/// A plain connection to the store, as the agent that claims a session
/// (or a test reading it) would hold.
fn conn(db: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

/// A reap by hand, as `keeper-tui reap NAME` runs it.
fn hand(
    reaper: &Reaper,
    store: &WriteStore,
    names: &[String],
    dry_run: bool,
    now: i64,
) -> keeper_tui::error::Result<ReapReport> {
    keeper_tui::actions::with_ctx(&store.path, store, PassMode::Forced, now, |ctx| {
        let names: Vec<Named> = names.iter().map(Named::name).collect();
        reaper.reap_by_hand(ctx, &names, dry_run)
    })
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// Set a claim's `last_used`, as if it had not been used since.
fn age_claim(store: &WriteStore, name: &str, last_used: i64) {
    let n = conn(&store.path)
        .execute(
            "UPDATE keeper_claims SET last_used=?1 WHERE name=?2",
            params![last_used, name],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_boot_pass_kills_exactly_the_unclaimed_agent_sessions() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    for n in [
        "topic-12476",
        "msg-spawn-123",
        "msg-warm-1",
        "echo-msg-warm-1718",
        "msg-warm-att",
        "msg-warm-held",
    ] {
        t.new_session(n);
    }
    let _client = t.attach_client("msg-warm-att");
    let now = now_unix();
    claim(&sc, "msg-warm-held", "spawner", 600, now).unwrap();

    let cfg = t.config();
    let reaper = Reaper::new(cfg.clone());
    assert!(reaper.run_at_start(), "boot_reap is on by default");
    let off = Reaper::new(ReaperConfig {
        boot_reap: false,
        ..cfg
    });
    assert!(!off.run_at_start());

    let survey = reaper.survey(&sc, now).unwrap();
    assert_eq!(survey.state, SurveyState::Listed);
    let row = |n: &str| survey.rows.iter().find(|r| r.session.name == n).unwrap();
    assert!(!row("work").marker && !row("topic-12476").marker && !row("msg-spawn-123").marker);
    assert!(
        row("echo-msg-warm-1718").orphan,
        "agent-prefixed names match"
    );
    assert!(
        row("msg-warm-att")
            .reason
            .contains("attached: reap by hand")
    );
    assert!(
        row("msg-warm-held")
            .reason
            .starts_with("claimed by spawner")
    );

    let report = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(report.summary, "reaped=2 orphans=2", "{report:?}");
    assert_eq!(
        t.names(),
        strings(&[
            "msg-spawn-123",
            "msg-warm-att",
            "msg-warm-held",
            "topic-12476",
            "work"
        ])
    );
    assert_eq!(t.attached("msg-warm-att"), 1);
    assert_eq!(
        reaped_targets(&db),
        strings(&["echo-msg-warm-1718", "msg-warm-1"])
    );
    let passes = events(&db, "reaper_pass");
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].summary, "reaped=2 orphans=2");
    assert_eq!(passes[0].session_id, "keeper-tui");
    assert_eq!(claimed_names(&db), strings(&["msg-warm-held"]));
    let history = recent_passes(&sc, "reaper", 5).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].ok && history[0].mode == "forced");
}

#[test]
fn msg_warm_1_is_reaped_while_claimed_msg_warm_10_stays() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-1");
    t.new_session("msg-warm-10");
    let now = now_unix();
    claim(&sc, "msg-warm-10", "spawner", 600, now).unwrap();
    // The boot pass as the engine runs it: a scheduled pass due at start.
    let reaper = Reaper::new(t.config());
    let r = run_pass(&reaper, &db, &store, PassMode::Scheduled, now).unwrap();
    assert_eq!(r.summary, "reaped=1 orphans=1");
    assert_eq!(t.names(), strings(&["msg-warm-10"]));
    assert_eq!(reaped_targets(&db), strings(&["msg-warm-1"]));
}

#[test]
fn claiming_msg_warm_1_protects_only_msg_warm_1() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-1");
    t.new_session("msg-warm-10");
    t.new_session("msg-warm-100");
    let now = now_unix();
    claim(&sc, "msg-warm-1", "spawner", 600, now).unwrap();
    let reaper = Reaper::new(t.config());
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "reaped=2 orphans=2");
    assert_eq!(t.names(), strings(&["msg-warm-1"]));
    assert_eq!(
        reaped_targets(&db),
        strings(&["msg-warm-10", "msg-warm-100"])
    );
}

#[test]
fn an_expired_claim_gets_its_session_reaped_and_the_claim_released() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-ttl");
    t.new_session("msg-warm-live");
    let now = now_unix();
    claim(&sc, "msg-warm-ttl", "spawner", 1, now).unwrap();
    claim(&sc, "msg-warm-live", "spawner", 600, now).unwrap();
    age_claim(&store, "msg-warm-ttl", now - 100);

    let reaper = Reaper::new(t.config());
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "reaped=1 orphans=1");
    assert!(
        r.detail
            .iter()
            .any(|l| l.starts_with("msg-warm-ttl: reaped (orphan: idle ")
                && l.contains("s, claim by spawner expired")),
        "{r:?}"
    );
    assert_eq!(t.names(), strings(&["msg-warm-live"]));
    assert_eq!(claimed_names(&db), strings(&["msg-warm-live"]));
    let kills = events(&db, "session_reaped");
    assert_eq!(kills.len(), 1);
    assert!(kills[0].summary.contains("expired"), "{kills:?}");
}

#[test]
fn touch_restarts_the_ttl_and_release_makes_an_orphan() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-t");
    let now = now_unix();
    claim(&sc, "msg-warm-t", "spawner", 60, now).unwrap();
    age_claim(&store, "msg-warm-t", now - 1000);
    let reaper = Reaper::new(t.config());
    assert!(reaper.survey(&sc, now).unwrap().rows[0].orphan);

    assert!(touch(&sc, "msg-warm-t", now).unwrap());
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "no_orphans");
    assert!(t.has("msg-warm-t"));
    let row = &reaper.survey(&sc, now).unwrap().rows[0];
    assert!(
        !row.orphan && row.reason.starts_with("claimed by spawner"),
        "{row:?}"
    );

    assert!(release(&sc, "msg-warm-t").unwrap());
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now + 1).unwrap();
    assert_eq!(r.summary, "reaped=1 orphans=1");
    assert!(t.names().is_empty());
    assert_eq!(reaped_targets(&db), strings(&["msg-warm-t"]));
}

#[test]
fn a_session_younger_than_the_grace_survives_and_says_why() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-young");
    let cfg = ReaperConfig {
        grace_secs: 3600,
        ..t.config()
    };
    let reaper = Reaper::new(cfg);
    let now = now_unix();
    let survey = reaper.survey(&sc, now).unwrap();
    let row = &survey.rows[0];
    assert!(!row.orphan);
    assert!(
        row.reason.starts_with("younger than the grace"),
        "{}",
        row.reason
    );
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "no_orphans");
    assert_eq!(t.names(), strings(&["msg-warm-young"]));
    assert!(events(&db, "session_reaped").is_empty());
}

#[test]
fn a_session_killed_after_the_listing_is_reported_gone_by_a_hand_reap() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-1");
    t.new_session("msg-warm-10");
    let reaper = Reaper::new(t.config());
    let now = now_unix();
    let survey = reaper.survey(&sc, now).unwrap();
    assert!(
        survey
            .rows
            .iter()
            .any(|r| r.session.name == "msg-warm-1" && r.orphan)
    );
    t.ok(&["kill-session", "-t", "=msg-warm-1"]);

    let r = hand(&reaper, &store, &strings(&["msg-warm-1"]), false, now).unwrap();
    assert!(has_line(&r.lines(), "msg-warm-1: no such session"), "{r:?}");
    // Not a prefix: msg-warm-10 was never a stand-in for msg-warm-1.
    assert_eq!(t.names(), strings(&["msg-warm-10"]));
    assert!(events(&db, "session_reaped").is_empty());
}

/// tmux runs `after-list-sessions` hooks once `list-sessions` has answered:
/// `commands` change the world right after the `nth` listing (1 or 2) from
/// now, and the hook removes itself so it fires once. The reaper lists once
/// for its survey; each kill then re-reads the claim and checks the session
/// inside tmux itself, so a change after the survey is a change "between
/// list and kill".
fn after_listing(t: &Tmux, nth: u32, commands: &str) {
    let once = format!("set-hook -gu after-list-sessions ; {commands}");
    // Double quotes end the hook, and tmux expands `$` inside them.
    assert!(!once.contains('"') && !once.contains('$'));
    let hook = match nth {
        1 => once,
        2 => format!("set-hook -g after-list-sessions \"{once}\""),
        _ => unreachable!(),
    };
    t.ok(&["set-hook", "-g", "after-list-sessions", &hook]);
}

#[test]
fn a_session_that_vanishes_between_list_and_kill_is_gone_not_an_error() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    for n in ["msg-warm-1", "msg-warm-10", "msg-warm-2"] {
        t.new_session(n);
    }
    let now = now_unix();
    claim(&sc, "msg-warm-10", "spawner", 600, now).unwrap();
    let reaper = Reaper::new(t.config());
    after_listing(&t, 1, "kill-session -t =msg-warm-1");

    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "reaped=1 orphans=2", "{r:?}");
    assert!(has_line(&r.detail, "msg-warm-1: already gone"), "{r:?}");
    assert!(!has_line(&r.detail, "failed"), "{r:?}");
    assert_eq!(t.names(), strings(&["msg-warm-10", "work"]));
    assert_eq!(reaped_targets(&db), strings(&["msg-warm-2"]));
    assert!(recent_passes(&sc, "reaper", 1).unwrap()[0].ok);

    // The same race under a reap by hand.
    t.new_session("msg-warm-3");
    after_listing(&t, 1, "kill-session -t =msg-warm-3");
    let r = hand(&reaper, &store, &strings(&["msg-warm-3"]), false, now).unwrap();
    assert!(has_line(&r.lines(), "msg-warm-3: already gone"), "{r:?}");
    assert_eq!(t.names(), strings(&["msg-warm-10", "work"]));
    assert_eq!(reaped_targets(&db), strings(&["msg-warm-2"]));
}

#[test]
fn the_recheck_spares_a_session_replaced_or_claimed_after_the_listing() {
    let (_dir, db, store) = world();
    let sc = conn(&store.path);
    let t = Tmux::start("work");
    for n in ["msg-warm-late", "msg-warm-new", "msg-warm-x"] {
        t.new_session(n);
    }
    let reaper = Reaper::new(t.config());
    let now = now_unix();
    let survey = reaper.survey(&sc, now).unwrap();
    let row = |name: &str| {
        survey
            .rows
            .iter()
            .find(|r| r.session.name == name)
            .unwrap()
            .clone()
    };
    assert!(
        ["msg-warm-late", "msg-warm-new", "msg-warm-x"]
            .iter()
            .all(|n| row(n).orphan)
    );

    // After the survey: a spawner claims msg-warm-late, and msg-warm-new is
    // killed and made again, within the same second as likely as not: the
    // session judged is gone, and the new one has another id.
    claim(&sc, "msg-warm-late", "spawner", 600, now).unwrap();
    t.ok(&["kill-session", "-t", "=msg-warm-new"]);
    t.new_session("msg-warm-new");
    assert_ne!(t.id("msg-warm-new"), row("msg-warm-new").session.id);

    let late = reaper.recheck_and_kill(&sc, &row("msg-warm-late"), false, now);
    assert_eq!(
        late,
        Fate::Spared("claimed by spawner since it was listed".into())
    );
    let new = reaper.recheck_and_kill(&sc, &row("msg-warm-new"), false, now);
    assert_eq!(new, Fate::Gone);
    // By hand the same: a replaced session is not the one the operator chose.
    let new_by_hand = reaper.recheck_and_kill(&sc, &row("msg-warm-new"), true, now);
    assert_eq!(new_by_hand, Fate::Gone);
    let x = reaper.recheck_and_kill(&sc, &row("msg-warm-x"), false, now);
    assert!(
        matches!(&x, Fate::Reaped(why) if why.starts_with("orphan: idle ") && why.ends_with("s, no claim")),
        "{x:?}"
    );
    assert_eq!(
        t.names(),
        strings(&["msg-warm-late", "msg-warm-new", "work"])
    );
    // recheck_and_kill writes nothing; the pass records.
    assert!(reaped_targets(&db).is_empty());
}

/// A client that attaches after the survey turns an automatic reap into a
/// spare; by hand it may still go.
#[test]
fn a_client_attaching_after_the_listing_spares_it_unless_by_hand() {
    let (_dir, _db, store) = world();
    let sc = conn(&store.path);
    let t = Tmux::start("work");
    t.new_session("msg-warm-att");
    let reaper = Reaper::new(t.config());
    let now = now_unix();
    let survey = reaper.survey(&sc, now).unwrap();
    let row = survey
        .rows
        .iter()
        .find(|r| r.session.name == "msg-warm-att")
        .unwrap()
        .clone();
    assert!(row.orphan && row.session.attached == 0);
    let _client = t.attach_client("msg-warm-att");
    wait_until("the client attached", || t.attached("msg-warm-att") == 1);
    let auto = reaper.recheck_and_kill(&sc, &row, false, now);
    assert!(
        matches!(&auto, Fate::Spared(why) if why.contains("client attached")),
        "{auto:?}"
    );
    assert!(t.has("msg-warm-att"));
    let by_hand = reaper.recheck_and_kill(&sc, &row, true, now);
    assert!(matches!(by_hand, Fate::Reaped(_)), "{by_hand:?}");
    assert!(!t.has("msg-warm-att"));
}

#[test]
fn a_missing_server_or_a_bad_socket_reaps_nothing_and_says_why() {
    let none = Tmux::none();
    for server in [
        none.server(),
        Server::Socket("/nonexistent/dir/sock".into()),
    ] {
        let (_dir, db, store) = world();
        let sc = conn(&db);
        let what = server.describe();
        let cfg = ReaperConfig {
            tmux: server,
            grace_secs: 0,
            ..ReaperConfig::default()
        };
        let reaper = Reaper::new(cfg);
        let now = now_unix();
        let survey = reaper.survey(&sc, now).unwrap();
        assert_eq!(survey.state, SurveyState::NoServer, "{what}");
        assert!(survey.rows.is_empty());

        let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
        assert_eq!(r.summary, "no_orphans", "{what}");
        assert_eq!(r.detail[0], format!("no {what} is running"));
        let d = reaper.dry_run(&sc, &store.path, now).unwrap();
        assert!(
            d.summary.contains(&format!("no {what} is running")),
            "{d:?}"
        );
        let e = hand(&reaper, &store, &strings(&["msg-warm-1"]), false, now)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("no {what} is running")), "{e}");
        assert!(events(&db, "session_reaped").is_empty());
    }
    // Asking never started a server on the private socket.
    assert!(none.names().is_empty());
}

#[test]
fn an_unresponsive_server_is_unknown_and_nothing_is_killed() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("msg-warm-a");
    t.new_session("msg-warm-b");
    let cfg = ReaperConfig {
        tmux_timeout_ms: 300,
        ..t.config()
    };
    let reaper = Reaper::new(cfg);
    let now = now_unix();
    t.stop();

    let e = run_pass(&reaper, &db, &store, PassMode::Forced, now)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("did not answer") && e.contains("reaped nothing"),
        "{e}"
    );
    match reaper.survey(&sc, now).unwrap().state {
        SurveyState::Unknown(why) => assert!(why.contains("did not answer"), "{why}"),
        other => panic!("expected unknown, got {other:?}"),
    }
    let e = reaper
        .dry_run(&sc, &store.path, now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("would reap nothing"), "{e}");
    let e = hand(&reaper, &store, &strings(&["msg-warm-a"]), false, now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reaped nothing"), "{e}");

    t.cont();
    assert_eq!(t.names(), strings(&["msg-warm-a", "msg-warm-b"]));
    assert!(events(&db, "reaper_pass").is_empty());
    assert!(events(&db, "session_reaped").is_empty());
    let history = recent_passes(&sc, "reaper", 5).unwrap();
    assert_eq!(history.len(), 1);
    assert!(!history[0].ok && history[0].summary.contains("did not answer"));
}

#[test]
fn a_dry_run_kills_nothing_and_lists_what_would_go() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    t.new_session("msg-warm-a");
    t.new_session("msg-warm-c");
    let now = now_unix();
    claim(&sc, "msg-warm-c", "spawner", 600, now).unwrap();
    let reaper = Reaper::new(t.config());

    let d = reaper.dry_run(&sc, &store.path, now).unwrap();
    assert_eq!(d.summary, "would reap 1 of 3 session(s)");
    assert!(!d.changed);
    assert!(
        d.detail
            .iter()
            .any(|l| l.starts_with("msg-warm-a: would reap (orphan: idle ")
                && l.ends_with("s, no claim)")),
        "{d:?}"
    );
    assert!(
        has_line(&d.detail, "msg-warm-c: keeps (claimed by spawner"),
        "{d:?}"
    );
    assert!(!has_line(&d.detail, "work"), "{d:?}");

    let p = run_pass(&reaper, &db, &store, PassMode::DryRun, now).unwrap();
    assert_eq!(p, d);
    let h = hand(&reaper, &store, &strings(&["msg-warm-a"]), true, now).unwrap();
    let cmd = format!(
        "tmux -L {} kill-session -t '{}'",
        t.sock,
        t.id("msg-warm-a")
    );
    assert!(has_line(&h.lines(), &format!("would run `{cmd}`")), "{h:?}");

    assert_eq!(t.names(), strings(&["msg-warm-a", "msg-warm-c", "work"]));
    assert!(events(&db, "reaper_pass").is_empty());
    assert!(events(&db, "session_reaped").is_empty());
    assert!(recent_passes(&sc, "reaper", 5).unwrap().is_empty());
}

#[test]
fn a_pass_records_each_kill_and_no_op_passes_collapse() {
    let (_dir, db, store) = world();
    let t = Tmux::start("work");
    for n in ["msg-warm-a", "msg-warm-b", "x-msg-warm-c"] {
        t.new_session(n);
    }
    let reaper = Reaper::new(t.config());
    let now = now_unix();
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "reaped=3 orphans=3");
    assert_eq!(t.names(), strings(&["work"]));
    let kills = events(&db, "session_reaped");
    assert_eq!(kills.len(), 3);
    assert!(
        kills
            .iter()
            .all(|e| e.created_at == now && e.session_id == "keeper-tui")
    );
    assert_eq!(
        reaped_targets(&db),
        strings(&["msg-warm-a", "msg-warm-b", "x-msg-warm-c"])
    );

    run_pass(&reaper, &db, &store, PassMode::Forced, now + 10).unwrap();
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now + 20).unwrap();
    assert_eq!(r.summary, "no_orphans");
    let passes = events(&db, "reaper_pass");
    let summaries: Vec<&str> = passes.iter().map(|e| e.summary.as_str()).collect();
    assert_eq!(summaries, ["reaped=3 orphans=3", "no_orphans"]);
    assert_eq!(passes[0].created_at, now);
    assert_eq!(passes[1].created_at, now + 20, "the no-op row moved");
    assert_eq!(t.names(), strings(&["work"]));
}

#[test]
fn by_hand_reaps_an_attached_agent_session_and_refuses_the_rest() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    for n in ["msg-warm-att", "msg-warm-held", "msg-warm-kept"] {
        t.new_session(n);
    }
    let _client = t.attach_client("msg-warm-att");
    let now = now_unix();
    claim(&sc, "msg-warm-held", "spawner", 600, now).unwrap();
    let cfg = ReaperConfig {
        protected: strings(&["msg-warm-kept"]),
        ..t.config()
    };
    let reaper = Reaper::new(cfg);

    // A pass leaves the attached one alone.
    let r = run_pass(&reaper, &db, &store, PassMode::Forced, now).unwrap();
    assert_eq!(r.summary, "no_orphans");
    assert_eq!(t.attached("msg-warm-att"), 1);

    let names = strings(&["work", "msg-warm-held", "msg-warm-kept", "msg-warm-att"]);
    let r = hand(&reaper, &store, &names, false, now).unwrap();
    assert_eq!(r.summary, "reaped=1 orphans=1", "{r:?}");
    for line in [
        "work: refused: not an agent session (no marker)",
        "msg-warm-held: refused: claimed by spawner",
        "msg-warm-kept: refused: protected in the config",
        "msg-warm-att: reaped (1 client(s) attached: reap by hand)",
    ] {
        assert!(has_line(&r.lines(), line), "{line} not in {r:?}");
    }
    assert_eq!(
        t.names(),
        strings(&["msg-warm-held", "msg-warm-kept", "work"])
    );
    assert_eq!(reaped_targets(&db), strings(&["msg-warm-att"]));
}

/// More sessions than a pipe buffer holds (64 KiB of `list-sessions`
/// output) must still be listed, not time out as "unknown".
#[test]
fn a_listing_bigger_than_a_pipe_buffer_is_read() {
    let t = Tmux::start("work");
    // 300 sessions with long names: about 80 KiB of list-sessions output.
    let long = "x".repeat(230);
    for i in 0..300 {
        t.new_session(&format!("msg-warm-{i:03}-{long}"));
    }
    let (_dir, _db, store) = world();
    let sc = conn(&store.path);
    let reaper = Reaper::new(ReaperConfig {
        tmux_timeout_ms: 20_000,
        ..t.config()
    });
    let survey = reaper.survey(&sc, now_unix()).unwrap();
    assert_eq!(survey.state, SurveyState::Listed);
    assert_eq!(survey.rows.len(), 301);
}

/// A claim that cannot be read at the re-check is not "no claim": the
/// session is spared, and the spawner's claim is left alone.
#[test]
fn a_claim_that_cannot_be_read_at_the_recheck_spares_the_session() {
    let t = Tmux::start("work");
    t.new_session("msg-warm-1");
    let (_dir, db, store) = world();
    let sc = conn(&store.path);
    // A rollback journal, so a writer's EXCLUSIVE lock blocks readers.
    drop(sc);
    store
        .with_conn(None, |c| {
            c.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))
        })
        .unwrap();
    let sc = conn(&store.path);
    let reaper = Reaper::new(t.config());
    let now = now_unix();
    let survey = reaper.survey(&sc, now).unwrap();
    let row = survey
        .rows
        .iter()
        .find(|r| r.session.name == "msg-warm-1")
        .unwrap()
        .clone();
    assert!(row.orphan);
    // Between the survey and the re-check, the spawner claims it, and a
    // writer holds the file so the claim cannot be read.
    claim(&sc, "msg-warm-1", "spawner", 600, now).unwrap();
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    sc.busy_timeout(std::time::Duration::from_millis(100))
        .unwrap();
    let outcome = reaper.recheck_and_kill(&sc, &row, false, now);
    holder.execute_batch("ROLLBACK").unwrap();
    let keeper_tui::loops::reaper::Fate::Spared(why) = outcome else {
        panic!("an unreadable claim must spare the session, got {outcome:?}");
    };
    assert!(why.contains("could not re-read its claim"), "{why}");
    assert!(t.has("msg-warm-1"));
    assert_eq!(claimed_names(&db), strings(&["msg-warm-1"]));
}

#[test]
fn a_listing_names_the_server_pid_to_watch() {
    let t = Tmux::start("work");
    let tmux = keeper_tui::sys::tmux::Tmux::new(t.server(), std::time::Duration::from_secs(5));
    let (listing, pid) = tmux.list_watched();
    assert!(
        matches!(&listing, keeper_tui::sys::tmux::Listing::Sessions(s) if s.len() == 1),
        "{listing:?}"
    );
    assert_eq!(pid, Some(t.display("#{pid}").parse().unwrap()));
    let none = Tmux::none();
    let nobody = keeper_tui::sys::tmux::Tmux::new(none.server(), std::time::Duration::from_secs(5));
    assert_eq!(
        nobody.list_watched(),
        (keeper_tui::sys::tmux::Listing::NoServer, None)
    );
}

#[test]
fn a_look_lists_again_only_when_a_pane_comes_or_goes() {
    let (_dir, db, _store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    let reaper = Reaper::new(t.config());
    let names = |s: &keeper_tui::loops::reaper::Survey| -> Vec<String> {
        s.rows.iter().map(|r| r.session.name.clone()).collect()
    };
    // The first listing learns the server; the second is the first the
    // server's panes can vouch for; after it, nothing new: no tmux.
    assert!(reaper.look(&sc, now_unix()).unwrap().is_some());
    assert!(reaper.look(&sc, now_unix()).unwrap().is_some());
    assert!(reaper.last_look_holds());
    assert!(reaper.look(&sc, now_unix()).unwrap().is_none());

    t.new_session("msg-warm-new");
    assert!(!reaper.last_look_holds(), "a new session forks a pane");
    let seen = reaper.look(&sc, now_unix()).unwrap().unwrap();
    assert_eq!(names(&seen), ["msg-warm-new", "work"]);

    t.ok(&["kill-session", "-t", "=msg-warm-new"]);
    // Its pane's process ends once tmux has reaped it.
    wait_until("the pane gone from the server's children", || {
        !reaper.last_look_holds()
    });
    let seen = reaper.look(&sc, now_unix()).unwrap().unwrap();
    assert_eq!(names(&seen), ["work"]);
}

#[test]
fn a_reap_makes_the_next_look_list_again() {
    let (_dir, db, store) = world();
    let sc = conn(&db);
    let t = Tmux::start("work");
    // Its process outlives the kill (it ignores the hangup and the
    // terminate), so the server's children stay as they were: only the
    // reap itself can tell the next look to list again.
    t.new_session_running("msg-warm-1", "trap '' HUP TERM; exec sleep 3600");
    let pane = t.cmd(&["display-message", "-p", "-t", "=msg-warm-1:", "#{pane_pid}"]);
    let pane = String::from_utf8_lossy(&pane.stdout).trim().to_string();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pane}"));
    assert!(!pane.is_empty() && proc_dir.exists(), "{pane:?}");
    let reaper = Reaper::new(t.config());
    reaper.look(&sc, now_unix()).unwrap();
    reaper.look(&sc, now_unix()).unwrap();
    assert!(reaper.last_look_holds());
    let report = hand(
        &reaper,
        &store,
        &strings(&["msg-warm-1"]),
        false,
        now_unix(),
    )
    .unwrap();
    assert_eq!(report.reaped().count(), 1, "{report}");
    assert!(proc_dir.exists(), "the pane's process is still there");
    assert!(!reaper.last_look_holds());
    let seen = reaper.look(&sc, now_unix()).unwrap().unwrap();
    assert!(seen.rows.iter().all(|r| r.session.name != "msg-warm-1"));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pane])
        .status();
}
