//! The demo's jobs: `digest` on a one-minute schedule, `extract` for each
//! agent transcript the session watcher sees end, and `mine` after each
//! `extract`, all in one pool of one so the operator sees runs wait for
//! it. Transcripts live under the demo directory: two sessions already
//! ended, and one an agent keeps writing (see [`keep_writing`]).
//!
//! A run is a process group of its own that would outlive keeper-tui, so
//! the demo ends them two ways: [`stop_runs`], from the world's drop and
//! its guard, kills the groups the store records running; and every
//! command checks each second that the demo directory still exists, for a
//! run spawned in the instant before keeper-tui died, not yet recorded.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use rusqlite::{Connection, OpenFlags};

use crate::config::{Config, JobConfig, Schedule, WatcherConfig};
use crate::error::{Error, Result};
use crate::sys::task::{NotSent, group_running, signal, signal_group_left};

/// Names the demo directory in each run's environment: the commands stop
/// once it is gone, and a test can find any run still alive by it.
pub const DIR_VAR: &str = "KEEPER_DEMO_DIR";

const POOL: &str = "llm";

/// A new live session starts this often, so the one before it ends and
/// the watcher queues it while the operator watches.
const SESSION_SECS: u64 = 120;

/// `sleep 1`, this many times, while the demo directory exists.
fn wait_while_demo(secs: u32) -> String {
    format!(
        "i=0; while [ $i -lt {secs} ] && [ -d \"${DIR_VAR}\" ]; do sleep 1; i=$((i+1)); done; \
         [ -d \"${DIR_VAR}\" ] || exit 0"
    )
}

/// Five lines over five seconds: a scheduled job short enough to watch.
fn digest_script() -> String {
    format!(
        "for i in 1 2 3 4 5; do echo \"digest step $i of 5\"; {}; done; echo 'digest: 3 threads summarised'",
        wait_while_demo(1)
    )
}

/// The transcript's line count, then twenty seconds: time to open the run
/// (Enter) and cancel it (`x`) while it runs. `{path}` arrives quoted.
fn extract_script() -> String {
    format!(
        "f={{path}}; echo \"extract: ${{f#\"${DIR_VAR}\"/transcripts/}} has $(wc -l < \"$f\") lines\"; {}; \
         echo 'extract: 2 decisions, 1 open question'",
        wait_while_demo(20)
    )
}

fn mine_script() -> String {
    format!(
        "echo 'mine: reading what extract found'; {}; echo 'mine: 1 thread proposed'",
        wait_while_demo(3)
    )
}

fn job(name: &str, script: String, dir: &Path) -> JobConfig {
    JobConfig {
        name: name.into(),
        command: vec![script],
        shell: true,
        cwd: Some(dir.to_path_buf()),
        env: BTreeMap::from([(DIR_VAR.to_string(), dir.display().to_string())]),
        pool: Some(POOL.into()),
        timeout_secs: Some(120),
        retries: 0,
        backoff_secs: 10,
        fatal_exit_codes: Vec::new(),
        after: Vec::new(),
        schedule: None,
        hooks: Vec::new(),
    }
}

/// The demo's `[[job]]`s, `[pools]` and `[watcher]`, all under `dir`.
pub fn configure(config: &mut Config, dir: &Path) {
    let mut digest = job("digest", digest_script(), dir);
    digest.schedule = Some(Schedule::Every(Duration::from_secs(60)));
    let mut mine = job("mine", mine_script(), dir);
    mine.after = vec!["extract".into()];
    config.jobs = vec![digest, job("extract", extract_script(), dir), mine];
    config.pools = BTreeMap::from([(POOL.to_string(), 1)]);
    config.watcher = WatcherConfig {
        dir: transcripts(dir),
        glob: "*/*.jsonl".into(),
        stale_secs: 5,
        job: Some("extract".into()),
        max_new_per_pass: 10,
        interval_secs: 2,
    };
}

fn transcripts(dir: &Path) -> PathBuf {
    dir.join("transcripts")
}

/// One transcript line, as agent session stores write them.
fn line(n: u64, role: &str) -> String {
    format!("{{\"type\":\"{role}\",\"seq\":{n},\"text\":\"demo turn {n}\"}}\n")
}

/// Two sessions that ended a while ago (their files old), so the watcher
/// queues `extract` for them on its first pass.
pub fn lay_out_transcripts(dir: &Path) -> Result<()> {
    let ended = [
        ("project-alpha", "5f1c-session.jsonl", 12, 3 * 3600),
        ("project-beta", "9a07-session.jsonl", 7, 40 * 60),
    ];
    for (project, name, lines, age) in ended {
        let folder = transcripts(dir).join(project);
        let path = folder.join(name);
        let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
        std::fs::create_dir_all(&folder).map_err(io)?;
        let text: String = (0..lines)
            .map(|n| line(n, if n % 2 == 0 { "user" } else { "assistant" }))
            .collect();
        std::fs::write(&path, text).map_err(io)?;
        let then = SystemTime::now() - Duration::from_secs(age);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(then))
            .map_err(io)?;
    }
    Ok(())
}

/// An agent's turn in the live session: appended often enough that the
/// file never goes stale while its session lasts. Each session lasts
/// [`SESSION_SECS`]; the next one's first line ends it.
pub fn keep_writing(dir: &Path, now: i64) -> std::io::Result<()> {
    let now = u64::try_from(now).unwrap_or(0);
    let folder = transcripts(dir).join("project-live");
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("live-{}.jsonl", now / SESSION_SECS));
    let mut f = std::fs::File::options()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line(now % SESSION_SECS, "assistant").as_bytes())
}

/// Kill the process group of every run the demo store records running.
/// Runs outlive keeper-tui by design (a restart adopts them); the demo's
/// must not outlive the demo. Each leader is checked by its start time,
/// and a group whose leader is gone only while processes remain in it
/// (the kernel keeps its id from anyone else until then).
pub fn stop_runs(db: &Path) {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(db, flags) else {
        return;
    };
    let _ = conn.busy_timeout(Duration::from_secs(1));
    let runs = match crate::store::jobs::running(&conn) {
        Ok(runs) => runs,
        Err(e) => {
            tracing::info!("demo: cannot list running runs: {e}");
            return;
        }
    };
    for run in runs {
        let pid = run
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 1);
        let (Some(pid), Some(started)) = (pid, run.proc_started_at) else {
            continue;
        };
        let group = run
            .pgid
            .and_then(|g| i32::try_from(g).ok())
            .filter(|g| *g > 1)
            .unwrap_or(pid);
        if let Err(NotSent::Gone) = signal(pid, started, Signal::SIGKILL)
            && group_running(group)
        {
            let _ = signal_group_left(group, Signal::SIGKILL);
        }
    }
}
