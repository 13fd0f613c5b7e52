//! The job runner against real processes: pools, retries with backoff,
//! fatal exit codes, timeouts, `after` chains, cancels that need SIGKILL,
//! an engine killed and replaced mid-run, the event log and run logs.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;
mod tasks_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use keeper_tui::config::{Config, Settings};
use keeper_tui::error::Result;
use keeper_tui::jobs::log::{EventKind, EventLog};
use keeper_tui::jobs::runner::JobRunner;
use keeper_tui::loops::{Loop, LoopCommand, LoopReply, PassMode, PassResult};
use keeper_tui::store::WriteStore;
use keeper_tui::store::jobs::{Run, RunState};
use keeper_tui::store::now_unix;
use tasks_common::{Engine, group_members, wait_until, write_config};

/// A store, a runner configured by `toml` (with `{dir}` replaced by the
/// test's directory), and its state directory.
struct Rig {
    home: tempfile::TempDir,
    db: PathBuf,
    store: WriteStore,
    runner: JobRunner,
}

impl Rig {
    fn new(toml: &str) -> Rig {
        let home = tempfile::tempdir().unwrap();
        let db = new_store(home.path());
        let text = toml.replace("{dir}", home.path().to_str().unwrap());
        let config = Config::parse(&text, &home.path().join("keeper.toml")).unwrap();
        let mut settings = Settings::resolve(config, None, Some(&db));
        settings.log_dir = home.path().join("state");
        let runner = JobRunner::new(&settings);
        let store = open_writer(&db);
        Rig {
            home,
            db,
            store,
            runner,
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    fn pass(&self) -> PassResult {
        pass(&self.runner, &self.store, PassMode::Forced, now_unix()).unwrap()
    }

    fn command(&self, cmd: LoopCommand) -> Result<LoopReply> {
        keeper_tui::actions::with_ctx(&self.db, &self.store, PassMode::Forced, now_unix(), |ctx| {
            self.runner.command(cmd, ctx)
        })
    }

    /// Queue `job` as the operator does; the runs queued, its own first.
    fn run_job(&self, job: &str) -> Vec<i64> {
        match self.command(LoopCommand::RunJob(job.into())).unwrap() {
            LoopReply::Queued { runs, .. } => runs,
            other => panic!("{other:?}"),
        }
    }

    /// Passes, 50 ms apart, until `cond` holds (bounded by `limit`).
    fn pass_until(&self, limit: Duration, what: &str, mut cond: impl FnMut(&Rig) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            self.pass();
            if cond(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.runs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn runs(&self) -> Vec<Run> {
        runs(&self.db)
    }

    fn run(&self, id: i64) -> Run {
        keeper_tui::store::jobs::get(&ro(&self.db), id)
            .unwrap()
            .unwrap()
    }

    fn state(&self, id: i64) -> RunState {
        self.run(id).state
    }

    fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir().join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The event log's `(run, event)` pairs for `job`, oldest first.
    fn logged(&self, job: &str) -> Vec<(i64, EventKind)> {
        EventLog::read(&self.dir().join("state/jobs.jsonl"), Some(job), 1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.run, e.event))
            .collect()
    }
}

/// Every run, oldest first.
fn runs(db: &Path) -> Vec<Run> {
    let mut all = keeper_tui::store::jobs::list(&ro(db), 10_000).unwrap();
    all.sort_by_key(|r| r.id);
    all
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_pool_of_one_runs_one_at_a_time_and_all_succeed() {
    let rig = Rig::new(
        "[pools]\nllm = 1\n[[job]]\nname = \"step\"\nshell = true\npool = \"llm\"\n\
         command = [\"echo start >> {dir}/F; sleep 0.3; echo end >> {dir}/F\"]\n",
    );
    let ids: Vec<i64> = (0..3).flat_map(|_| rig.run_job("step")).collect();
    assert_eq!(ids.len(), 3);
    rig.pass_until(20 * SEC, "three successes", |r| {
        ids.iter().all(|id| r.state(*id) == RunState::Succeeded)
    });
    let lines = rig.lines("F");
    assert_eq!(lines, ["start", "end", "start", "end", "start", "end"]);
    // One at a time, in the order queued.
    let runs: Vec<Run> = ids.iter().map(|id| rig.run(*id)).collect();
    for w in runs.windows(2) {
        assert!(
            w[1].started_at.unwrap() >= w[0].ended_at.unwrap(),
            "{runs:#?}"
        );
    }
    assert_eq!(events(&rig.db, "job_succeeded").len(), 3);
}

#[test]
fn a_failing_run_is_retried_after_its_backoff_until_it_succeeds() {
    let rig = Rig::new(
        "[[job]]\nname = \"flaky\"\nshell = true\nretries = 3\nbackoff_secs = 1\n\
         command = [\"n=$(cat {dir}/C 2>/dev/null || echo 0); n=$((n+1)); echo $n > {dir}/C; \
         echo attempt $n; [ $n -ge 3 ] && exit 0; exit 75\"]\n",
    );
    let first = rig.run_job("flaky")[0];
    rig.pass_until(20 * SEC, "a success", |r| {
        r.runs().iter().any(|x| x.state == RunState::Succeeded)
    });
    let runs = rig.runs();
    let states: Vec<(RunState, u32, Option<i64>)> = runs
        .iter()
        .map(|r| (r.state, r.attempt, r.exit_code))
        .collect();
    assert_eq!(
        states,
        [
            (RunState::Failed, 0, Some(75)),
            (RunState::Failed, 1, Some(75)),
            (RunState::Succeeded, 2, Some(0)),
        ]
    );
    assert_eq!(runs[0].id, first);
    assert_eq!(
        runs[1].reason.as_deref(),
        Some(format!("retry of #{first}").as_str())
    );
    for w in runs.windows(2) {
        let gap = w[1].started_at.unwrap() - w[0].ended_at.unwrap();
        assert!(gap >= 1.0, "the backoff was not kept: {gap} s");
    }
    assert_eq!(runs[2].tail.as_deref(), Some("attempt 3"));
    // The event log tells the same story, in order.
    let kinds: Vec<&str> = rig
        .logged("flaky")
        .into_iter()
        .map(|(_, k)| k.name())
        .collect();
    let attempt = ["queued", "started", "failed", "retry"];
    let expected = [
        &attempt[..],
        &attempt[..],
        &["queued", "started", "succeeded"],
    ]
    .concat();
    assert_eq!(kinds, expected);
    assert_eq!(events(&rig.db, "job_failed").len(), 2);
    let ok = events(&rig.db, "job_succeeded");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0.as_deref(), Some("flaky"));
    assert!(ok[0].1.contains(&format!("run #{}", runs[2].id)) && ok[0].1.contains("exit 0"));
    let passes = events(&rig.db, "jobs_pass");
    assert!(
        !passes.is_empty() && passes.iter().all(|(_, s)| s != "idle"),
        "{passes:?}"
    );
}

#[test]
fn a_fatal_exit_code_is_not_retried() {
    let rig = Rig::new(
        "[[job]]\nname = \"doomed\"\ncommand = [\"sh\", \"-c\", \"exit 9\"]\nretries = 3\n\
         fatal_exit_codes = [9]\n",
    );
    let id = rig.run_job("doomed")[0];
    rig.pass_until(10 * SEC, "the failure", |r| r.state(id) == RunState::Failed);
    // A retry would have been queued in the write that recorded the end.
    assert_eq!(rig.runs().len(), 1, "{:#?}", rig.runs());
    assert_eq!(rig.run(id).exit_code, Some(9));
    assert!(
        !rig.logged("doomed")
            .iter()
            .any(|(_, k)| *k == EventKind::Retry)
    );
}

/// A job naming a hook owes its run's ending to it, once, in the write
/// that records the ending; a job naming none owes nothing.
#[test]
fn a_jobs_ending_is_owed_to_the_hooks_it_names() {
    let rig = Rig::new(
        "[[hook]]\nurl = \"http://127.0.0.1:9/jobs\"\nallow_private = true\n\
         [[hook]]\nurl = \"http://127.0.0.1:9/other\"\nallow_private = true\n\
         [[job]]\nname = \"told\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n\
         hook = [\"http://127.0.0.1:9/jobs\"]\n\
         [[job]]\nname = \"quiet\"\ncommand = [\"true\"]\n",
    );
    let told = rig.run_job("told")[0];
    let quiet = rig.run_job("quiet")[0];
    rig.pass_until(10 * SEC, "both ended", |r| {
        r.state(told) == RunState::Failed && r.state(quiet) == RunState::Succeeded
    });
    rig.pass();
    let conn = rusqlite::Connection::open(&rig.db).unwrap();
    let owed: Vec<(String, String, String, String)> = conn
        .prepare("SELECT hook, task_id, event, body FROM keeper_hook_deliveries ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(owed.len(), 1, "{owed:?}");
    let (hook, key, event, body) = &owed[0];
    assert_eq!(hook, "http://127.0.0.1:9/jobs");
    assert_eq!(key, &format!("run:{told}"));
    assert_eq!(event, "job_failed");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["job"], "told");
    assert_eq!(body["run_id"], told);
    assert_eq!(body["exit_code"], 3);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["source"], "keeper-tui");
}

#[test]
fn a_run_past_its_timeout_is_stopped_with_its_whole_group() {
    let rig = Rig::new(
        "[[job]]\nname = \"slow\"\nshell = true\ntimeout_secs = 1\n\
         command = [\"sleep 30 & sleep 30; wait\"]\n",
    );
    let id = rig.run_job("slow")[0];
    rig.pass_until(10 * SEC, "the run to start", |r| {
        r.state(id) == RunState::Running
    });
    let pgid = i32::try_from(rig.run(id).pgid.unwrap()).unwrap();
    wait_until(10 * SEC, "both sleeps", || group_members(pgid).len() == 3);
    rig.pass_until(15 * SEC, "the timeout", |r| {
        r.state(id) == RunState::TimedOut
    });
    assert_eq!(group_members(pgid), Vec::<i32>::new());
    let run = rig.run(id);
    assert!(run.signal.is_some(), "{run:?}");
    let took = run.ended_at.unwrap() - run.started_at.unwrap();
    assert!((1.0..8.0).contains(&took), "{took}");
    assert!(rig.logged("slow").contains(&(id, EventKind::TimedOut)));
}

const CHAIN: &str = "[[job]]\nname = \"ok\"\ncommand = [\"true\"]\n\
     [[job]]\nname = \"bad\"\ncommand = [\"false\"]\n\
     [[job]]\nname = \"slow\"\ncommand = [\"sleep\", \"30\"]\n\
     [[job]]\nname = \"b\"\nafter = [\"ok\"]\nshell = true\ncommand = [\"echo b >> {dir}/B\"]\n\
     [[job]]\nname = \"b2\"\nafter = [\"bad\"]\ncommand = [\"true\"]\n\
     [[job]]\nname = \"b3\"\nafter = [\"slow\"]\ncommand = [\"true\"]\n";

#[test]
fn a_follower_runs_after_its_job_succeeds() {
    let rig = Rig::new(CHAIN);
    let ids = rig.run_job("ok");
    assert_eq!(ids.len(), 2);
    let (a, b) = (ids[0], ids[1]);
    rig.pass_until(10 * SEC, "the follower", |r| {
        r.state(b) == RunState::Succeeded
    });
    assert_eq!(rig.state(a), RunState::Succeeded);
    assert!(rig.run(b).started_at.unwrap() >= rig.run(a).ended_at.unwrap());
    assert_eq!(rig.lines("B"), ["b"]);
}

#[test]
fn a_follower_is_skipped_when_its_job_fails_or_is_cancelled() {
    let rig = Rig::new(CHAIN);
    let ids = rig.run_job("bad");
    rig.pass_until(10 * SEC, "the skip", |r| {
        r.state(ids[1]) == RunState::Skipped
    });
    assert_eq!(rig.state(ids[0]), RunState::Failed);
    assert!(rig.logged("b2").contains(&(ids[1], EventKind::Skipped)));

    let ids = rig.run_job("slow");
    rig.pass_until(10 * SEC, "the run to start", |r| {
        r.state(ids[0]) == RunState::Running
    });
    let reply = rig.command(LoopCommand::CancelRun(ids[0])).unwrap();
    let LoopReply::RunCancelled {
        run,
        skipped,
        signals,
    } = reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!((run, skipped), (ids[0], vec![ids[1]]));
    assert!(signals[0].starts_with("SIGTERM"), "{signals:?}");
    assert_eq!(rig.state(ids[0]), RunState::Cancelled);
    assert_eq!(rig.state(ids[1]), RunState::Skipped);
    assert_eq!(events(&rig.db, "job_cancelled").len(), 1);
    // Ended runs are refused; a cancelled one can be retried.
    let again = rig.command(LoopCommand::CancelRun(ids[0])).unwrap_err();
    assert!(
        again.to_string().contains("already ended: cancelled"),
        "{again}"
    );
    let LoopReply::Queued { job, runs } = rig.command(LoopCommand::RetryRun(ids[0])).unwrap()
    else {
        panic!()
    };
    assert_eq!((job.as_str(), runs.len()), ("slow", 2));
    let queued = rig.command(LoopCommand::CancelRun(runs[0])).unwrap();
    assert!(
        matches!(queued, LoopReply::RunCancelled { ref skipped, .. } if *skipped == vec![runs[1]])
    );
    let unknown = rig.command(LoopCommand::RunJob("nope".into())).unwrap_err();
    assert!(
        unknown.to_string().contains("known jobs: ok, bad, slow"),
        "{unknown}"
    );
}

#[test]
fn a_cancel_kills_a_group_that_ignores_sigterm_within_the_grace() {
    let rig = Rig::new(
        "[tasks]\ncancel_grace_secs = 1\n[[job]]\nname = \"stubborn\"\nshell = true\n\
         command = ['trap \"\" TERM; sleep 100 & sleep 100 & wait']\n",
    );
    let id = rig.run_job("stubborn")[0];
    rig.pass_until(10 * SEC, "the run to start", |r| {
        r.state(id) == RunState::Running
    });
    let pgid = i32::try_from(rig.run(id).pgid.unwrap()).unwrap();
    wait_until(10 * SEC, "the children", || group_members(pgid).len() == 3);
    // The pass goes on beside the cancel, as in the engine.
    let (reply, took) = std::thread::scope(|s| {
        let cancel = s.spawn(|| {
            let began = Instant::now();
            (rig.command(LoopCommand::CancelRun(id)), began.elapsed())
        });
        while !cancel.is_finished() {
            rig.pass();
            std::thread::sleep(Duration::from_millis(50));
        }
        cancel.join().unwrap()
    });
    let reply = reply.unwrap();
    assert!(took < Duration::from_secs(2), "{took:?}");
    let LoopReply::RunCancelled { signals, .. } = &reply else {
        panic!("{reply:?}")
    };
    assert!(signals[1].starts_with("SIGKILL"), "{signals:?}");
    assert_eq!(group_members(pgid), Vec::<i32>::new());
    let run = rig.run(id);
    assert_eq!((run.state, run.signal), (RunState::Cancelled, Some(9)));
    assert_eq!(
        rig.logged("stubborn").last(),
        Some(&(id, EventKind::Cancelled))
    );
}

#[test]
fn a_run_log_is_cut_to_its_newest_mebibyte() {
    let rig = Rig::new(
        "[[job]]\nname = \"chatty\"\nshell = true\n\
         command = [\"head -c 3000000 /dev/zero | tr '\\\\0' x | fold -w 99; echo last-line\"]\n",
    );
    let id = rig.run_job("chatty")[0];
    rig.pass_until(20 * SEC, "the run to end", |r| {
        r.state(id) == RunState::Succeeded
    });
    let run = rig.run(id);
    let log = std::fs::read(run.log_path.as_ref().unwrap()).unwrap();
    assert!(
        log.len() <= 1024 * 1024 && log.len() > 1024 * 1024 - 200,
        "{}",
        log.len()
    );
    assert!(log.ends_with(b"last-line\n"));
    assert!(
        log.starts_with(&[b'x'; 99]) && log[99] == b'\n',
        "cut mid-line"
    );
    assert!(run.tail.unwrap().ends_with("last-line"));
    let path = rig.dir().join(format!("state/jobs/run-{id}.log"));
    assert_eq!(run.log_path.as_deref(), path.to_str());
}

#[test]
fn a_new_engine_adopts_a_running_run_and_runs_the_queued_one_once() {
    let home = tempfile::tempdir().unwrap();
    let db = new_store(home.path());
    let f = home.path().join("F");
    let f = f.to_str().unwrap();
    write_config(
        home.path(),
        &format!(
            "[pools]\none = 1\n\
             [[job]]\nname = \"long\"\nshell = true\npool = \"one\"\n\
             command = [\"echo long >> {f}; sleep 6; echo long-end >> {f}\"]\n\
             [[job]]\nname = \"next\"\nshell = true\npool = \"one\"\n\
             command = [\"echo next >> {f}\"]\n"
        ),
    );
    let engine = |name: &str| {
        let err = std::fs::File::create(home.path().join(name)).unwrap();
        Engine(
            keeper(home.path())
                .args(["--db", db.to_str().unwrap(), "engine"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap(),
        )
    };
    let mut first = engine("engine1.err");
    wait_until(30 * SEC, "the first engine's lease", || {
        count(
            &ro(&db),
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'keeper_lease'",
        ) == 1
            && count(&ro(&db), "SELECT COUNT(*) FROM keeper_lease") == 1
    });
    let queue = |job: &str| {
        use keeper_tui::store::jobs::{Args, Reason, queue};
        queue(
            &rw(&db),
            job,
            &Args::new(),
            Reason::Operator,
            None,
            None,
            now_unix() as f64,
        )
        .unwrap()
    };
    let long = queue("long");
    let next = queue("next");
    let state = |id: i64| {
        keeper_tui::store::jobs::get(&ro(&db), id)
            .unwrap()
            .unwrap()
            .state
    };
    wait_until(30 * SEC, "the long run to start", || {
        state(long) == RunState::Running
    });
    assert_eq!(state(next), RunState::Queued, "the pool holds one");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    first.0.wait().unwrap();
    // Its lease would run out in 30 s; let the next engine take it now.
    rw(&db)
        .execute("UPDATE keeper_lease SET renewed_at = renewed_at - 120", [])
        .unwrap();
    let _second = engine("engine2.err");
    wait_until(60 * SEC, "the queued run to succeed", || {
        state(next) == RunState::Succeeded
    });

    let all = runs(&db);
    assert_eq!(all.len(), 2, "nothing ran twice: {all:#?}");
    let long_run = &all[0];
    assert_eq!(long_run.state, RunState::Failed);
    assert_eq!(
        long_run.detail.as_deref(),
        Some("adopted: exit status unknown")
    );
    assert!(all[1].started_at.unwrap() >= long_run.ended_at.unwrap());
    let lines = std::fs::read_to_string(f).unwrap();
    assert_eq!(
        lines, "long\nlong-end\nnext\n",
        "each job ran once, in turn"
    );
    assert_eq!(events(&db, "job_failed").len(), 1, "its end recorded once");
    let jsonl = home.path().join("state/keeper-tui/jobs.jsonl");
    let ends: Vec<_> = EventLog::read(&jsonl, Some("long"), 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.event == EventKind::Failed)
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
}

#[test]
fn a_scheduled_job_starts_its_clock_then_fires_once_per_slot() {
    let rig = Rig::new(
        "[[job]]\nname = \"tick\"\nevery = \"1s\"\nshell = true\n\
         command = [\"echo tick >> {dir}/T\"]\n",
    );
    let first = rig.pass();
    // Never fired: the clock starts, nothing runs.
    assert!(rig.runs().is_empty(), "{first:?}");
    assert!(
        first
            .next_look
            .is_some_and(|d| d <= SEC + Duration::from_millis(50)),
        "{first:?}"
    );
    rig.pass_until(10 * SEC, "two fires", |r| {
        r.runs()
            .iter()
            .filter(|x| x.state == RunState::Succeeded)
            .count()
            >= 2
    });
    let runs = rig.runs();
    assert!(runs.iter().all(|r| r.reason.as_deref() == Some("schedule")));
    let starts: Vec<f64> = runs.iter().filter_map(|r| r.queued_at.into()).collect();
    for w in starts.windows(2) {
        assert!(w[1] - w[0] >= 0.9, "one fire per slot: {starts:?}");
    }
    // Each fire is a `job:tick_pass` row, which the Loops panel counts.
    let fires = events(&rig.db, "job:tick_pass");
    assert!(
        fires.len() >= runs.len() && !fires.is_empty(),
        "{fires:?} {runs:?}"
    );
    assert!(
        fires.iter().any(|(_, s)| s.starts_with("queued=#")),
        "{fires:?}"
    );
}

/// Events of `kind`: `(target, summary)`, oldest first.
fn events(db: &Path, kind: &str) -> Vec<(Option<String>, String)> {
    tasks_common::events(db, kind)
}
