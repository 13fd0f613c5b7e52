//! Completion hooks end to end: real `keeper-tui engine` processes on a
//! store, a task whose process is killed, the reconciler ending it and
//! owing the hook, and a real HTTP server on 127.0.0.1 that answers as
//! scripted and keeps every request it got.
#![allow(clippy::unwrap_used, reason = "tests")]

mod hooks_common;
mod http_common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use hooks_common::{Hook, PROMPT, SECRET, World, wait_until};
use http_common::{Reply, Seen, Server, free_port};
use sha2::Sha256;

const S: Duration = Duration::from_secs(1);

fn ok() -> Reply {
    Reply::Status(200)
}

fn statuses(codes: &[u16]) -> Vec<Reply> {
    codes.iter().map(|&c| Reply::Status(c)).collect()
}

/// The requests that carried `task`'s ending.
fn for_task(seen: &[Seen], task: &str) -> Vec<Seen> {
    seen.iter()
        .filter(|s| s.json()["task_id"] == task)
        .cloned()
        .collect()
}

/// `N` of a hooks pass's `delivered=N`.
fn delivered_count(said: &str) -> usize {
    said.split_once("delivered=")
        .and_then(|(_, rest)| rest.split(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn verify_signature(seen: &Seen) {
    let header = seen.header("x-keeper-signature-256").unwrap();
    let hex_mac = header.strip_prefix("sha256=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&seen.body);
    mac.verify_slice(&hex::decode(hex_mac).unwrap()).unwrap();
}

#[test]
fn two_server_errors_then_ok_is_delivered_on_the_third_attempt_signed() {
    let server = Server::scripted(statuses(&[500, 500, 200]), ok());
    let mut w = World::new(&Hook::local(server.url()));
    let _engine = w.engine("engine");
    w.task_ends("t-retry");

    let row = w.wait_state("t-retry", "delivered", 20 * S);
    assert_eq!(row.attempts, 3, "{row:?}");
    assert_eq!(row.last_status, Some(200));
    assert_eq!(row.last_error, None);
    assert_eq!(w.events("hook_delivered", "t-retry"), 1);
    assert_eq!(w.events("hook_failed", "t-retry"), 0);

    // Recorded delivered only after the answer: every request is in.
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(s.path, "/hooks/done?x=1");
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(
            s.header("x-keeper-delivery"),
            Some(row.delivery_id.as_str())
        );
        assert_eq!(s.body, seen[0].body, "a retry sends the same body");
        verify_signature(s);
    }

    let (started, ended) = w.task_times("t-retry");
    let ended = ended.unwrap();
    let body = seen[0].json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = vec![
        "delivery_id",
        "event",
        "task_id",
        "role",
        "status",
        "return_code",
        "started_at",
        "finished_at",
        "duration_s",
        "cwd",
        "prompt_head",
        "source",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(
        body,
        serde_json::json!({
            "delivery_id": row.delivery_id,
            "event": "task_ended",
            "task_id": "t-retry",
            "role": "curator",
            "status": "ended",
            "return_code": null,
            "started_at": started,
            "finished_at": ended,
            "duration_s": ended - started,
            "cwd": w.dir.to_str().unwrap(),
            "prompt_head": PROMPT,
            "source": "keeper-tui",
        })
    );
}

#[test]
fn not_found_fails_after_one_attempt() {
    let server = Server::scripted(statuses(&[404]), ok());
    let mut w = World::new(&Hook::local(server.url()));
    let _engine = w.engine("engine");
    w.task_ends("t-404");

    let row = w.wait_state("t-404", "failed", 20 * S);
    assert_eq!(row.attempts, 1, "{row:?}");
    assert_eq!(row.last_status, Some(404));
    assert!(
        row.last_error.as_deref().unwrap().contains("404"),
        "{row:?}"
    );
    assert_eq!(w.events("hook_failed", "t-404"), 1);
    assert_eq!(w.events("hook_delivered", "t-404"), 0);
    // Failed is final: recorded after the one answer, nothing follows it.
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn too_many_requests_is_retried() {
    let server = Server::scripted(statuses(&[429, 429]), ok());
    let mut w = World::new(&Hook::local(server.url()));
    let _engine = w.engine("engine");
    w.task_ends("t-429");

    let row = w.wait_state("t-429", "delivered", 20 * S);
    assert_eq!(row.attempts, 3, "{row:?}");
    assert_eq!(server.seen().len(), 3);
    assert_eq!(w.events("hook_delivered", "t-429"), 1);
}

/// The default `max_attempts` (6) would give up before the receiver comes
/// back: its backoffs add up to 0.5 + 1 + 2 + 4 + 8 = 15.5 s, less than the
/// 20 s outage. Ten attempts span 121.5 s.
#[test]
fn a_receiver_down_for_twenty_seconds_gets_it_once_back() {
    let port = free_port();
    let mut hook = Hook::local(format!("http://127.0.0.1:{port}/hooks/done"));
    hook.max_attempts = Some(10);
    let mut w = World::new(&hook);
    let _engine = w.engine("engine");
    w.task_ends("t-down");

    let first = w.wait_row("t-down", "the first attempt", 20 * S, |r| r.attempts >= 1);
    let down_until = Instant::now() + 20 * S;
    assert_eq!(first.state, "pending", "{first:?}");
    assert!(
        first
            .last_error
            .as_deref()
            .unwrap()
            .contains("could not connect"),
        "{first:?}"
    );
    // The outage itself: its length is the scenario, not a proof.
    std::thread::sleep(down_until.saturating_duration_since(Instant::now()));
    let before = w.delivery("t-down").unwrap();
    assert_eq!(before.state, "pending", "{before:?}");
    // Backed off: attempts at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s, none more
    // until 31.5 s.
    assert!(
        (5..=7).contains(&before.attempts),
        "attempts in 20 s: {before:?}"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = Server::scripted_on(listener, Vec::new(), ok());
    let row = w.wait_state("t-down", "delivered", 45 * S);
    assert!(row.attempts > before.attempts, "{row:?}");
    assert_eq!(row.last_error, None);
    assert_eq!(server.seen().len(), 1);
    assert_eq!(w.events("hook_delivered", "t-down"), 1);
}

#[test]
fn an_owed_delivery_outlives_a_killed_engine() {
    let port = free_port();
    let mut hook = Hook::local(format!("http://127.0.0.1:{port}/hooks/done"));
    // The next engine takes the lease only once the dead one's runs out
    // (30 s): the delivery must not give up meanwhile.
    hook.max_attempts = Some(10);
    let mut w = World::new(&hook);
    let mut first = w.engine("first");
    first.wait_leading(10 * S);
    w.task_ends("t-kill");
    w.wait_row("t-kill", "the delivery owed", 20 * S, |_| true);
    first.kill9();
    let row = w.delivery("t-kill").unwrap();
    assert_eq!(row.state, "pending", "{row:?}");

    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = Server::scripted_on(listener, Vec::new(), ok());
    let second = w.engine("second");
    let row = w.wait_state("t-kill", "delivered", 75 * S);
    assert!(
        second.said().contains("this engine runs the loops"),
        "{}",
        second.said()
    );
    assert_eq!(server.seen().len(), 1, "exactly one POST");
    assert_eq!(
        server.seen()[0].header("x-keeper-delivery"),
        Some(row.delivery_id.as_str())
    );
    assert_eq!(w.events("hook_delivered", "t-kill"), 1);
}

/// Two engines share the store, and forced passes from the command line
/// race the one holding the lease: each delivery is claimed by one sender
/// at a time, so every task is POSTed once.
#[test]
fn two_engines_and_forced_passes_post_each_task_once() {
    let server = Server::scripted(Vec::new(), ok());
    let mut w = World::new(&Hook::local(server.url()));
    let a = w.engine("a");
    let b = w.engine("b");
    wait_until(10 * S, "one engine to lead, the other to observe", || {
        let (a, b) = (a.said(), b.said());
        let leads = |s: &str| s.contains("this engine runs the loops");
        let observes = |s: &str| s.contains("observer: the loops run in pid");
        (leads(&a) && observes(&b)) || (leads(&b) && observes(&a))
    });
    // Forced passes from the command line while the tasks end one by one:
    // each ending is raced for by two senders.
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (verbs, stop) = (w.verbs(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                let out = verbs.run(&["pass", "hooks"]);
                let said = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(
                    out.status.success(),
                    "{said}{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                sent += delivered_count(&said);
                // Paced so that the engine wins some of the races too.
                std::thread::sleep(Duration::from_millis(1500));
            }
            sent
        })
    };
    let tasks: Vec<String> = (0..8).map(|i| format!("t-pair-{i}")).collect();
    for t in &tasks {
        w.start_task(t);
    }
    for t in &tasks {
        w.end_task(t);
        // Pacing, so that endings fall into different reconciler passes.
        std::thread::sleep(Duration::from_millis(300));
    }
    let all_delivered = || {
        tasks
            .iter()
            .all(|t| w.delivery(t).is_some_and(|r| r.state == "delivered"))
    };
    let finished = Instant::now() + 30 * S;
    while !all_delivered() && Instant::now() < finished && !racer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let by_cli = racer.join().unwrap();
    assert!(all_delivered(), "not all delivered within 30 s");
    eprintln!(
        "delivered by forced passes: {by_cli}, by the engine: {}",
        tasks.len() - by_cli
    );
    // A delivery recorded delivered is never claimed again, and a claim
    // is held until the answer is recorded: no POST is still on its way.
    // One more forced pass after the last record finds nothing to send.
    let out = w.run(&["pass", "hooks"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing due"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = server.seen();
    let mut per_task: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        *per_task
            .entry(s.json()["task_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for t in &tasks {
        assert_eq!(per_task.get(t), Some(&1), "POSTs per task: {per_task:?}");
        assert_eq!(w.events("hook_delivered", t), 1, "{t}");
        assert_eq!(for_task(&seen, t).len(), 1);
    }
    assert_eq!(seen.len(), tasks.len());
}

#[test]
fn a_redirect_is_not_followed_and_the_delivery_fails() {
    let elsewhere = Server::scripted(Vec::new(), ok());
    let server = Server::scripted(Vec::new(), Reply::Redirect(elsewhere.url()));
    let mut w = World::new(&Hook::local(server.url()));
    let _engine = w.engine("engine");
    w.task_ends("t-302");

    let row = w.wait_state("t-302", "failed", 20 * S);
    assert_eq!(row.attempts, 1, "{row:?}");
    assert_eq!(row.last_status, Some(302));
    let why = row.last_error.unwrap();
    assert!(
        why.contains(&format!("redirect to {} not followed", elsewhere.url())),
        "{why}"
    );
    assert_eq!(server.seen().len(), 1);
    // Recorded after the 302 came back: a followed redirect would be here.
    assert!(elsewhere.seen().is_empty());
    assert_eq!(w.events("hook_failed", "t-302"), 1);
}

#[test]
fn a_private_address_is_failed_naming_it_without_allow_private() {
    let mut hook = Hook::local("http://10.0.0.1/".into());
    hook.allow_private = false;
    let mut w = World::new(&hook);
    let _engine = w.engine("engine");
    w.task_ends("t-private");

    let row = w.wait_state("t-private", "failed", 20 * S);
    assert_eq!(row.attempts, 1, "{row:?}");
    assert_eq!(row.last_status, None);
    let why = row.last_error.unwrap();
    assert!(why.contains("10.0.0.1"), "{why}");
    assert!(why.contains("private"), "{why}");
    assert!(why.contains("allow_private"), "{why}");
    assert_eq!(w.events("hook_failed", "t-private"), 1);
}

#[test]
fn redeliver_queues_a_failed_delivery_and_the_engine_sends_it() {
    let server = Server::scripted(statuses(&[404]), ok());
    let mut w = World::new(&Hook::local(server.url()));
    let _engine = w.engine("engine");
    w.task_ends("t-again");
    let failed = w.wait_state("t-again", "failed", 20 * S);

    let out = w.run(&["hooks", "redeliver", &failed.id.to_string()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("queued again"), "{said}");
    let row = w.wait_state("t-again", "delivered", 20 * S);
    assert_eq!(row.attempts, 1, "counted from the redelivery: {row:?}");
    assert_eq!(row.last_status, Some(200));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.header("x-keeper-delivery"),
            Some(row.delivery_id.as_str())
        );
    }
    assert_eq!(w.events("hook_failed", "t-again"), 1);
    assert_eq!(w.events("hook_delivered", "t-again"), 1);
}

/// A delivery backing off for many seconds does not hold up one owed
/// since: the new one goes out as soon as it is owed.
#[test]
fn a_new_ending_is_not_held_behind_another_s_backoff() {
    let server = Server::answering(|seen, _| {
        if seen.json()["task_id"] == "t-slow" {
            Reply::Status(503)
        } else {
            Reply::Status(200)
        }
    });
    let mut hook = Hook::local(server.url());
    hook.max_attempts = Some(10);
    let mut w = World::new(&hook);
    let _engine = w.engine("engine");
    w.task_ends("t-slow");
    // The sixth attempt is 15.5 s in; the seventh waits 16 s more.
    let slow = w.wait_row("t-slow", "six attempts", 30 * S, |r| r.attempts >= 6);
    assert_eq!(slow.state, "pending", "{slow:?}");

    w.task_ends("t-quick");
    w.wait_state("t-quick", "delivered", 10 * S);
    let still = w.delivery("t-slow").unwrap();
    assert_eq!(
        still.attempts, slow.attempts,
        "delivered only when the slow one's retry came round: {still:?}"
    );
    assert_eq!(for_task(&server.seen(), "t-quick").len(), 1);
}

/// A delivery claimed by a sender that died mid-send is taken again only
/// when the claim runs out; until then the loop sleeps to that moment
/// instead of looking again and again.
#[test]
fn a_claim_left_by_a_dead_sender_is_waited_out() {
    use keeper_tui::config::{HookConfig, HookEvent};
    use keeper_tui::loops::hooks::HookSender;
    use keeper_tui::loops::{Loop as _, PassMode};
    use keeper_tui::store::hooks::{claim, owe};
    use keeper_tui::store::tasks::TaskRow;
    use keeper_tui::store::{WriteStore, now_unix};
    use keeper_tui::sys::process::now_precise;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let store = WriteStore::open(&db, keeper_tui::config::DEFAULT_SESSION_ID).unwrap();
    let hook = HookConfig {
        url: "http://127.0.0.1:9/".into(),
        secret_env: None,
        on: HookEvent::ALL.to_vec(),
        role: None,
        prompt_contains: None,
        allow_private: true,
        max_attempts: 6,
        timeout_secs: 10,
    };
    let now = now_unix();
    let task = TaskRow {
        id: "t-claimed".into(),
        pid: 1,
        cwd: "/".into(),
        prompt: PROMPT.into(),
        started_at: now - 5,
        ended_at: Some(now),
        return_code: Some(0),
        role: "curator".into(),
    };
    let until = now_precise() + 30.0;
    store
        .write(|tx| {
            owe(
                tx,
                std::slice::from_ref(&hook),
                &task,
                HookEvent::TaskEnded,
                now,
            )?;
            assert!(claim(tx, 1, "a dead engine", now_precise(), until)?);
            Ok(())
        })
        .unwrap();

    let sender = HookSender::new(vec![hook], &db);
    let r =
        keeper_tui::actions::with_ctx(&db, &store, PassMode::Forced, now, |ctx| sender.pass(ctx))
            .unwrap();
    assert_eq!(r.summary, "nothing due");
    let wait = r.next_look.or(r.stale_in).unwrap();
    assert!(wait > 25 * S && wait <= 30 * S, "{wait:?}");
}
