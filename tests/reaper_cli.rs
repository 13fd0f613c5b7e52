//! The reaper's verbs through the binary, against a real tmux server on a
//! private socket per test (never the default server): `sessions`, `reap`,
//! `claim`/`touch`/`release`, `pass reaper`, and keeper-tui's own session.
#![allow(clippy::unwrap_used, reason = "tests")]

mod tmux_common;

use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;
use tmux_common::*;

struct World {
    dir: TempDir,
    db: PathBuf,
    config: PathBuf,
}

/// A new store and a config pointing the reaper at `sock`, without grace.
fn world(sock: &str, extra: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = new_store(dir.path());
    drop(store);
    let config = dir.path().join("keeper.toml");
    std::fs::write(
        &config,
        format!("[reaper]\ntmux_socket_name = \"{sock}\"\ngrace_secs = 0\nidle_secs = 0\n{extra}"),
    )
    .unwrap();
    World { dir, db, config }
}

impl World {
    fn run(&self, args: &[&str]) -> Output {
        let home = self.dir.path();
        Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
            .arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("USER", "tester")
            .env_remove("THREADKEEPER_DB")
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .output()
            .unwrap()
    }

    /// Run, expect success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        String::from_utf8(o.stdout).unwrap()
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The table line of one session.
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in\n{out}"))
}

#[test]
fn sessions_lists_every_session_with_its_verdict() {
    let t = Tmux::start("work");
    for n in ["topic-12476", "msg-warm-a", "msg-warm-c"] {
        t.new_session(n);
    }
    let w = world(&t.sock, "");
    w.ok(&["claim", "msg-warm-c", "--owner", "bob"]);

    let out = w.ok(&["sessions"]);
    assert!(
        out.starts_with(&format!(
            "tmux server -L {}: 4 session(s), 1 orphan(s)",
            t.sock
        )),
        "{out}"
    );
    assert!(line(&out, "work").ends_with("not an agent session (no marker)"));
    assert!(line(&out, "topic-12476").ends_with("not an agent session (no marker)"));
    let a = line(&out, "msg-warm-a");
    assert!(
        a.contains("orphan: idle ") && a.ends_with("s, no claim"),
        "{a}"
    );
    let c = line(&out, "msg-warm-c");
    assert!(
        c.contains("bob 10m left") && c.contains("claimed by bob"),
        "{c}"
    );

    let json: serde_json::Value = serde_json::from_str(&w.ok(&["sessions", "--json"])).unwrap();
    assert_eq!(json["state"], "Listed");
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    assert_eq!(
        t.names(),
        strings(&["msg-warm-a", "msg-warm-c", "topic-12476", "work"])
    );
}

#[test]
fn claim_touch_release_say_what_they_did() {
    let t = Tmux::none();
    let w = world(&t.sock, "default_ttl_secs = 900\n");
    assert_eq!(
        w.ok(&["claim", "msg-warm-x", "--owner", "alice", "--ttl", "30"]),
        "claimed msg-warm-x for alice, ttl 30s\n"
    );
    assert_eq!(
        w.ok(&["claim", "msg-warm-x"]),
        "claimed msg-warm-x for tester (was alice), ttl 900s\n"
    );
    assert_eq!(
        w.ok(&["claim", "msg-warm-x"]),
        "renewed the claim on msg-warm-x for tester, ttl 900s\n"
    );
    assert_eq!(w.ok(&["touch", "msg-warm-x"]), "touched msg-warm-x\n");
    assert_eq!(claimed_names(&w.db), strings(&["msg-warm-x"]));
    assert_eq!(w.ok(&["release", "msg-warm-x"]), "released msg-warm-x\n");
    assert!(claimed_names(&w.db).is_empty());

    for verb in ["touch", "release"] {
        let o = w.run(&[verb, "msg-warm-x"]);
        assert_eq!(o.status.code(), Some(2), "{verb}: {}", err(&o));
        assert!(o.stdout.is_empty());
        assert!(
            err(&o).contains("no claim on session \"msg-warm-x\""),
            "{verb}: {}",
            err(&o)
        );
    }
}

#[test]
fn dry_runs_kill_nothing_and_reap_kills_the_orphans() {
    let t = Tmux::start("work");
    for n in [
        "msg-warm-a",
        "echo-msg-warm-1718",
        "msg-warm-c",
        "msg-spawn-123",
    ] {
        t.new_session(n);
    }
    let w = world(&t.sock, "");
    w.ok(&["claim", "msg-warm-c", "--owner", "bob"]);
    let before = t.names();

    for args in [&["reap", "--dry-run"][..], &["pass", "reaper", "--dry-run"]] {
        let out = w.ok(args);
        assert!(
            out.starts_with("reaper: would reap 2 of 5 session(s)"),
            "{out}"
        );
        assert!(
            out.lines().any(|l| l
                .trim_start()
                .starts_with("msg-warm-a: would reap (orphan: idle ")
                && l.ends_with("s, no claim)")),
            "{out}"
        );
        assert!(out.contains("echo-msg-warm-1718: would reap"), "{out}");
        assert!(out.contains("msg-warm-c: keeps (claimed by bob"), "{out}");
        assert_eq!(t.names(), before);
    }
    assert!(events(&w.db, "reaper_pass").is_empty());

    let out = w.ok(&["reap"]);
    assert!(out.starts_with("reaper: reaped=2 orphans=2"), "{out}");
    assert_eq!(t.names(), strings(&["msg-spawn-123", "msg-warm-c", "work"]));
    assert_eq!(
        reaped_targets(&w.db),
        strings(&["echo-msg-warm-1718", "msg-warm-a"])
    );
    let out = w.ok(&["pass", "reaper"]);
    assert_eq!(out, "reaper: no_orphans\n");
    let passes: Vec<String> = events(&w.db, "reaper_pass")
        .into_iter()
        .map(|e| e.summary)
        .collect();
    assert_eq!(passes, strings(&["reaped=2 orphans=2", "no_orphans"]));
}

#[test]
fn pass_reaper_refuses_days() {
    let t = Tmux::start("msg-warm-a");
    let w = world(&t.sock, "");
    let o = w.run(&["pass", "reaper", "--days", "1"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(
        err(&o).contains("--days belongs to the janitor, not the reaper"),
        "{}",
        err(&o)
    );
    assert_eq!(t.names(), strings(&["msg-warm-a"]));
}

#[test]
fn reap_by_name_takes_an_attached_agent_session_and_refuses_the_rest() {
    let t = Tmux::start("work");
    t.new_session("msg-warm-att");
    t.new_session("msg-warm-held");
    let _client = t.attach_client("msg-warm-att");
    let w = world(&t.sock, "");
    w.ok(&["claim", "msg-warm-held", "--owner", "bob"]);

    assert_eq!(
        w.ok(&["reap"]),
        "reaper: no_orphans\n",
        "attached: not in a pass"
    );
    let out = w.ok(&["reap", "--dry-run", "msg-warm-att"]);
    let cmd = format!(
        "tmux -L {} kill-session -t '{}'",
        t.sock,
        t.id("msg-warm-att")
    );
    assert!(
        out.contains(&format!("msg-warm-att: would run `{cmd}`")),
        "{out}"
    );
    assert_eq!(t.attached("msg-warm-att"), 1);

    let o = w.run(&[
        "reap",
        "work",
        "msg-warm-held",
        "msg-warm-nope",
        "msg-warm-att",
    ]);
    // One of the names is not there: bad input, whatever else happened.
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("reaper: reaped=1 orphans=1"), "{out}");
    for l in [
        "work: refused: not an agent session (no marker)",
        "msg-warm-held: refused: claimed by bob",
        "msg-warm-nope: no such session",
        "msg-warm-att: reaped (1 client(s) attached: reap by hand)",
    ] {
        assert!(out.contains(l), "{l} not in {out}");
    }
    assert_eq!(t.names(), strings(&["msg-warm-held", "work"]));
    assert_eq!(reaped_targets(&w.db), strings(&["msg-warm-att"]));
    // A refusal alone is exit 1, and says why.
    let o = w.run(&["reap", "work"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("work: refused: not an agent session"),
        "{o:?}"
    );
}

#[test]
fn keeper_tui_never_reaps_the_session_it_runs_in() {
    let t = Tmux::start("work");
    t.new_session("msg-warm-other");
    // A name that ends in `;`: tmux reads a trailing `;` in an argument as
    // a command separator, so a kill by name would take msg-warm-self.
    t.new_session("msg-warm-self\\;");
    let w = world(&t.sock, "");
    let d = w.dir.path().display();
    // Runs inside a pane of the private server: $TMUX and $TMUX_PANE are
    // that server's.
    let script = format!(
        "cd {d} && unset THREADKEEPER_DB; export HOME={d} XDG_CONFIG_HOME={d}/config \
         XDG_STATE_HOME={d}/state; K='{} --db {} --config {}'; \
         $K reap msg-warm-self > hand.txt 2>&1; $K sessions > sessions.txt 2>&1; \
         $K reap > reap.txt 2>&1; echo rc=$? > done.txt; sleep 3600",
        env!("CARGO_BIN_EXE_keeper-tui"),
        w.db.display(),
        w.config.display()
    );
    t.new_session_running("msg-warm-self", &script);
    let file = |n: &str| std::fs::read_to_string(w.dir.path().join(n)).unwrap_or_default();
    wait_until("keeper-tui to finish in its pane", || {
        file("done.txt").contains("rc=")
    });
    assert_eq!(file("done.txt").trim(), "rc=0", "{}", file("reap.txt"));

    let hand = file("hand.txt");
    assert!(
        hand.contains("msg-warm-self: refused: keeper-tui runs in this session"),
        "{hand}"
    );
    let sessions = file("sessions.txt");
    assert!(
        line(&sessions, "msg-warm-self").ends_with("keeper-tui runs in this session"),
        "{sessions}"
    );
    let reap = file("reap.txt");
    assert!(reap.starts_with("reaper: reaped=2 orphans=2"), "{reap}");
    assert!(reap.contains("msg-warm-other: reaped"), "{reap}");
    assert!(reap.contains("msg-warm-self;: reaped"), "{reap}");
    assert_eq!(t.names(), strings(&["msg-warm-self", "work"]));
    assert_eq!(
        reaped_targets(&w.db),
        strings(&["msg-warm-other", "msg-warm-self;"])
    );
}

/// Names that tmux's command parser or its formats would read as
/// something else: a trailing `;`, format braces and escapes, quotes, `$`,
/// spaces. Each kill must take exactly the session judged.
#[test]
fn hostile_session_names_never_make_the_reaper_kill_another_session() {
    let t = Tmux::start("work");
    for n in ["msg-warm-5", "msg-warm-protected", "msg-warm-busy"] {
        t.new_session(n);
    }
    // `\;` at the end of an argument is tmux's escape for a literal `;`.
    let hostile = [
        "msg-warm-5\\;",
        "msg-warm-protected\\;",
        "msg-warm-a,b}#x",
        "msg-warm-$(touch pwned) 'q\" #",
        "msg-warm-busy;kill-server",
    ];
    for n in hostile {
        t.new_session(n);
    }
    let w = world(&t.sock, "protected = [\"msg-warm-protected\"]\n");
    w.ok(&["claim", "msg-warm-5", "--owner", "bob"]);
    w.ok(&["claim", "msg-warm-busy", "--owner", "carol"]);
    let names_before = t.names();
    assert_eq!(names_before.len(), 9, "{names_before:?}");

    let out = w.ok(&["pass", "reaper"]);
    let kept = strings(&["msg-warm-5", "msg-warm-busy", "msg-warm-protected", "work"]);
    assert_eq!(t.names(), kept, "{out}");
    let mut gone: Vec<String> = names_before
        .into_iter()
        .filter(|n| !kept.contains(n))
        .collect();
    gone.sort();
    let mut reaped = reaped_targets(&w.db);
    reaped.sort();
    assert_eq!(reaped, gone, "{out}");
    assert!(out.contains("reaped=5 orphans=5"), "{out}");
    // The claim is still there: its session was never touched.
    let sessions = w.ok(&["sessions"]);
    assert!(
        line(&sessions, "msg-warm-5").contains("claimed by bob"),
        "{sessions}"
    );
    assert!(!w.dir.path().join("pwned").exists());
}

#[test]
fn no_server_and_an_unresponsive_server_through_the_binary() {
    let none = Tmux::none();
    let w = world(&none.sock, "");
    let out = w.ok(&["sessions"]);
    assert_eq!(
        out,
        format!("tmux server -L {}: not running (no sessions)\n", none.sock)
    );
    let out = w.ok(&["reap"]);
    assert!(
        out.contains(&format!("no tmux server -L {} is running", none.sock)),
        "{out}"
    );
    let o = w.run(&["reap", "msg-warm-a"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("is running: nothing to reap"),
        "{}",
        err(&o)
    );
    assert!(none.names().is_empty());

    let t = Tmux::start("msg-warm-a");
    t.new_session("msg-warm-b");
    let w = world(&t.sock, "tmux_timeout_ms = 300\n");
    t.stop();
    for (args, says) in [
        (
            &["sessions"][..],
            "unknown: tmux did not answer within 300 ms",
        ),
        (&["reap"], "did not answer within 300 ms; reaped nothing"),
        (&["reap", "msg-warm-a"], "reaped nothing"),
        (&["reap", "--dry-run"], "would reap nothing"),
        (&["pass", "reaper"], "reaped nothing"),
    ] {
        let o = w.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
    }
    t.cont();
    assert_eq!(t.names(), strings(&["msg-warm-a", "msg-warm-b"]));
    assert!(events(&w.db, "reaper_pass").is_empty());
    assert!(events(&w.db, "session_reaped").is_empty());
}

/// `keeper-tui engine`, killed (and waited for) on drop.
struct Engine(std::process::Child);

impl Engine {
    fn start(w: &World) -> Self {
        let home = w.dir.path();
        let log = std::fs::File::create(home.join("engine.out")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_keeper-tui"))
            .arg("--db")
            .arg(&w.db)
            .arg("--config")
            .arg(&w.config)
            .arg("engine")
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env_remove("THREADKEEPER_DB")
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Engine(child)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn boot_reap(interval_secs: u32) {
    let t = Tmux::start("work");
    t.new_session("msg-warm-left-over");
    t.new_session("msg-warm-held");
    let w = world(
        &t.sock,
        &format!(
            "interval_secs = {interval_secs}\nboot_reap = true\n\n[janitor]\ninterval_secs = 0\n"
        ),
    );
    w.ok(&["claim", "msg-warm-held", "--owner", "bob"]);
    let _engine = Engine::start(&w);
    wait_until("the boot reap", || !events(&w.db, "reaper_pass").is_empty());
    assert_eq!(t.names(), strings(&["msg-warm-held", "work"]));
    assert_eq!(reaped_targets(&w.db), strings(&["msg-warm-left-over"]));
}

#[test]
fn the_engine_reaps_the_left_over_orphans_at_boot() {
    boot_reap(3600);
}

#[test]
fn the_engine_boot_reaps_even_with_scheduled_passes_off() {
    boot_reap(0);
}

/// An owner (or a session name) with terminal escapes is printed escaped;
/// `--json` keeps it exact.
#[test]
fn sessions_print_hostile_owners_and_names_escaped() {
    let t = Tmux::start("work");
    t.new_session("msg-warm-1");
    let w = world(&t.sock, "");
    let owner = "bob\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}";
    let out = w.ok(&["claim", "msg-warm-1", "--owner", owner]);
    assert!(
        !out.contains('\u{1b}') && out.contains("bob\\e]0;pwned\\x07"),
        "{out}"
    );
    let out = w.ok(&["sessions"]);
    assert!(
        !out.chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{out:?}"
    );
    assert!(line(&out, "msg-warm-1").contains("bob\\e]0;pwned"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["sessions", "--json"])).unwrap();
    assert!(json.to_string().contains("bob\\u001b]0;pwned"), "{json}");
}

/// Scheduled reaps take only what is abandoned: a session whose pane keeps
/// printing, one whose pane runs a process recorded as a running
/// threadkeeper task, and a claimed one survive pass after pass; idle
/// unclaimed ones go once they have been idle for `idle_secs`. Each idle
/// session reaped is the proof that another pass ran past the others.
#[test]
fn scheduled_reaps_leave_busy_task_and_claimed_sessions_alone() {
    let t = Tmux::start("work");
    t.new_session_running(
        "msg-warm-busy",
        "while true; do echo working; sleep 1; done",
    );
    t.new_session_running("msg-warm-task", "bash -c 'sleep 3601; true'");
    t.new_session("msg-warm-claimed");
    let w = world(&t.sock, "");
    // The same world with the evidence that counts: 3 s of idleness.
    let cfg = std::fs::read_to_string(&w.config).unwrap().replace(
        "idle_secs = 0",
        "idle_secs = 3\ninterval_secs = 1\nboot_reap = false",
    );
    std::fs::write(&w.config, format!("{cfg}\n[janitor]\ninterval_secs = 0\n")).unwrap();
    w.ok(&["claim", "msg-warm-claimed", "--owner", "bob"]);
    // The task: the `sleep 3601` inside the pane's bash, a running row in
    // `tasks` as threadkeeper writes it.
    let pane_pid = t.cmd(&[
        "display-message",
        "-p",
        "-t",
        "=msg-warm-task:",
        "#{pane_pid}",
    ]);
    let pane_pid = String::from_utf8_lossy(&pane_pid.stdout).trim().to_string();
    let mut sleep_pid = String::new();
    wait_until("the task's process", || {
        let o = Command::new("pgrep")
            .args(["-P", &pane_pid, "-f", "sleep 3601"])
            .output()
            .unwrap();
        sleep_pid = String::from_utf8_lossy(&o.stdout).trim().to_string();
        !sleep_pid.is_empty()
    });
    rusqlite::Connection::open(&w.db)
        .unwrap()
        .execute(
            "INSERT INTO tasks (id, pid, cwd, prompt, started_at) VALUES ('tk_a1b2c3', ?1, '/', 'p', strftime('%s','now'))",
            [sleep_pid.parse::<i64>().unwrap()],
        )
        .unwrap();
    let sessions = w.ok(&["sessions"]);
    assert!(
        line(&sessions, "msg-warm-task").ends_with("runs task tk_a1b2c3"),
        "{sessions}"
    );
    assert!(
        line(&sessions, "msg-warm-busy").contains("busy"),
        "{sessions}"
    );

    let _engine = Engine::start(&w);
    for round in 1..=3 {
        let name = format!("msg-warm-idle-{round}");
        t.new_session(&name);
        wait_until("the idle session reaped", || !t.has(&name));
        for kept in ["msg-warm-busy", "msg-warm-task", "msg-warm-claimed", "work"] {
            assert!(t.has(kept), "round {round}: {kept} was reaped");
        }
    }
    assert_eq!(
        reaped_targets(&w.db),
        strings(&["msg-warm-idle-1", "msg-warm-idle-2", "msg-warm-idle-3"])
    );
}

/// With the default `idle_secs` (600) and a pass every second: an unclaimed
/// session whose pane prints every second lives through ten minutes of
/// scheduled reaps, while an idle one started beside it goes once it has
/// been idle for ten minutes — the proof that the passes ran all along.
#[test]
fn ten_minutes_of_scheduled_reaps_spare_a_busy_session() {
    let t = Tmux::start("work");
    t.new_session_running(
        "msg-warm-busy",
        "while true; do echo working; sleep 1; done",
    );
    t.new_session("msg-warm-idle");
    let started = std::time::Instant::now();
    let w = world(&t.sock, "");
    let cfg = std::fs::read_to_string(&w.config)
        .unwrap()
        .replace("grace_secs = 0\nidle_secs = 0\n", "interval_secs = 1\n");
    assert!(!cfg.contains("idle_secs"), "{cfg}");
    std::fs::write(&w.config, format!("{cfg}\n[janitor]\ninterval_secs = 0\n")).unwrap();
    let _engine = Engine::start(&w);
    let limit = std::time::Duration::from_secs(600 + 60);
    while t.has("msg-warm-idle") {
        assert!(
            t.has("msg-warm-busy"),
            "the busy session was reaped after {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < limit,
            "the idle session was never reaped"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // tmux keeps activity in whole seconds.
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(599),
        "reaped after {took:?}, before idle_secs"
    );
    assert!(t.has("msg-warm-busy"));
    assert_eq!(reaped_targets(&w.db), strings(&["msg-warm-idle"]));
}
