//! The session watcher against real transcript files in a temp dir, a
//! real store and real processes holding files open: what is queued,
//! how often, in what order, and what is left alone.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use keeper_tui::actions::run_pass;
use keeper_tui::config::Config;
use keeper_tui::loops::watcher::Watcher;
use keeper_tui::loops::{Loop, PassMode, PassResult, Touched};
use keeper_tui::store::jobs::{self, Args, Reason};
use keeper_tui::store::{WriteStore, now_unix};

const STALE: i64 = 600;

/// A watcher on `dir` queueing `extract`, which `mine` follows.
fn watcher(dir: &Path, max_new: usize) -> Watcher {
    let text = format!(
        "[[job]]\nname = \"extract\"\ncommand = [\"extract\", \"{{path}}\"]\n\n\
         [[job]]\nname = \"mine\"\ncommand = [\"mine\", \"{{path}}\"]\nafter = [\"extract\"]\n\n\
         [watcher]\ndir = {dir:?}\nglob = \"*/*.jsonl\"\nstale_secs = {STALE}\n\
         job = \"extract\"\nmax_new_per_pass = {max_new}\n",
        dir = dir.to_str().unwrap()
    );
    let cfg = Config::parse(&text, Path::new("watcher-test.toml")).unwrap();
    Watcher::new(cfg.watcher, cfg.jobs)
}

struct Setup {
    _tmp: tempfile::TempDir,
    db: PathBuf,
    store: WriteStore,
    sessions: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let db = new_store(tmp.path());
    let store = open_writer(&db);
    let sessions = tmp.path().join("sessions");
    fs::create_dir(&sessions).unwrap();
    Setup {
        _tmp: tmp,
        db,
        store,
        sessions,
    }
}

fn set_mtime(path: &Path, secs_ago: i64) {
    let at = SystemTime::now() - Duration::from_secs(secs_ago.unsigned_abs());
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

/// A transcript `secs_ago` old at `dir/<project>/<session>.jsonl`.
fn transcript(dir: &Path, project: &str, session: &str, secs_ago: i64) -> String {
    let project = dir.join(project);
    fs::create_dir_all(&project).unwrap();
    let path = project.join(format!("{session}.jsonl"));
    fs::write(&path, format!("{{\"session\":\"{session}\"}}\n")).unwrap();
    set_mtime(&path, secs_ago);
    path.to_str().unwrap().to_string()
}

fn pass(w: &Watcher, s: &Setup) -> PassResult {
    run_pass(w, &s.db, &s.store, PassMode::Scheduled, now_unix()).unwrap()
}

/// One job run as the tests look at it.
#[derive(Debug, Clone)]
struct RunRow {
    id: i64,
    job: String,
    after_run: Option<i64>,
    chain: Option<i64>,
    reason: Option<String>,
}

/// Every run, by the transcript it was queued for.
fn runs_by_path(db: &Path) -> HashMap<String, Vec<RunRow>> {
    let conn = ro(db);
    let mut out: HashMap<String, Vec<RunRow>> = HashMap::new();
    for r in jobs::list(&conn, 1_000_000).unwrap() {
        out.entry(r.args.get("path").cloned().unwrap_or_default())
            .or_default()
            .push(RunRow {
                id: r.id,
                job: r.job,
                after_run: r.after_run,
                chain: r.chain,
                reason: r.reason,
            });
    }
    for runs in out.values_mut() {
        runs.sort_by_key(|r| r.id);
    }
    out
}

fn path_args(path: &str) -> Args {
    Args::from([("path".to_string(), path.to_string())])
}

/// A live process holding `path` open on fd 3, killed on drop.
struct Holder(Child);

impl Holder {
    fn open(path: &str) -> Self {
        let child = Command::new("sh")
            .args(["-c", "exec 3<\"$1\"; exec sleep 100", "sh", path])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let fd = PathBuf::from(format!("/proc/{}/fd/3", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::metadata(&fd).is_err() || !is_sleeping(child.id()) {
            assert!(Instant::now() < deadline, "the holder never opened {path}");
            std::thread::sleep(Duration::from_millis(10));
        }
        Holder(child)
    }
}

/// The child has exec'd `sleep` (with fd 3 inherited).
fn is_sleeping(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_thousand_transcripts_are_queued_once_each_oldest_first_ten_a_pass() {
    let s = setup();
    let mut stale = Vec::new();
    for p in 0..100 {
        for i in 0..10 {
            // Distinct ages: the oldest is p0/s0.
            let age = STALE + 10_000 - (p * 10 + i);
            stale.push((
                transcript(&s.sessions, &format!("p{p}"), &format!("s{i}"), age),
                age,
            ));
        }
    }
    let (fresh, _) = stale.remove(500);
    set_mtime(Path::new(&fresh), 0);
    let (held, _) = stale.remove(0);
    let holder = Holder::open(&held);
    let w = watcher(&s.sessions, 10);

    let first = pass(&w, &s);
    assert!(first.changed, "{first:?}");
    assert_eq!(first.touched_count, 10);
    assert_eq!(first.summary, "queued=10 waiting=988");
    let mut oldest: Vec<&(String, i64)> = stale.iter().collect();
    oldest.sort_by_key(|(_, age)| -age);
    let expected: Vec<Touched> = oldest[..10]
        .iter()
        .map(|(p, _)| Touched::Transcript(p.clone()))
        .collect();
    assert_eq!(first.touched, expected, "oldest first");
    assert!(
        first
            .detail
            .iter()
            .any(|l| l.starts_with(&format!("{held}: still open in pid"))),
        "{:?}",
        first.detail
    );

    for _ in 1..100 {
        let r = pass(&w, &s);
        assert!(r.touched_count <= 10, "{r:?}");
    }
    let runs = runs_by_path(&s.db);
    assert_eq!(runs.len(), stale.len(), "one chain per stale closed file");
    for (path, _) in &stale {
        let chain = &runs[path];
        assert_eq!(chain.len(), 2, "{path}: {chain:?}");
        let (extract, mine) = (&chain[0], &chain[1]);
        assert_eq!(extract.job, "extract");
        assert_eq!(extract.reason.as_deref(), Some("watcher"));
        assert_eq!(extract.after_run, None);
        assert_eq!(mine.job, "mine");
        assert_eq!(mine.after_run, Some(extract.id), "mine waits on extract");
        assert_eq!(mine.chain, Some(extract.id));
    }
    assert!(!runs.contains_key(&fresh), "still being written");
    assert!(!runs.contains_key(&held), "still held open");

    let quiet = pass(&w, &s);
    assert!(!quiet.changed, "{quiet:?}");
    assert_eq!(quiet.summary, "no_new");

    // Once its holder is gone, and once the written one goes stale,
    // each is an ended session.
    drop(holder);
    set_mtime(Path::new(&fresh), STALE + 1);
    let late = pass(&w, &s);
    assert_eq!(late.summary, "queued=2", "{late:?}");
    let runs = runs_by_path(&s.db);
    assert_eq!(runs[&held].len(), 2);
    assert_eq!(runs[&fresh].len(), 2);
}

#[test]
fn a_file_that_grows_again_after_it_was_queued_is_queued_again() {
    let s = setup();
    let path = transcript(&s.sessions, "p", "s", STALE * 2);
    let w = watcher(&s.sessions, 10);
    assert_eq!(pass(&w, &s).summary, "queued=1");
    assert_eq!(pass(&w, &s).summary, "no_new");
    // The runs end, as the runner would end them.
    rw(&s.db)
        .execute("UPDATE keeper_job_runs SET state = 'succeeded'", [])
        .unwrap();
    assert_eq!(
        pass(&w, &s).summary,
        "no_new",
        "the same version stays done"
    );

    let mut f = File::options().append(true).open(&path).unwrap();
    f.write_all(b"{\"more\":true}\n").unwrap();
    drop(f);
    assert_eq!(pass(&w, &s).summary, "no_new", "written just now");
    set_mtime(Path::new(&path), STALE + 5);
    let again = pass(&w, &s);
    assert_eq!(again.summary, "queued=1", "{again:?}");
    let runs = &runs_by_path(&s.db)[&path];
    let extracts = runs.iter().filter(|r| r.job == "extract").count();
    assert_eq!(extracts, 2, "{runs:?}");
}

#[test]
fn a_run_queued_or_running_for_the_path_blocks_a_duplicate_until_it_ends() {
    let s = setup();
    let path = transcript(&s.sessions, "p", "s", STALE * 2);
    let conn = rw(&s.db);
    let id = jobs::queue(
        &conn,
        "extract",
        &path_args(&path),
        Reason::Operator,
        None,
        None,
        1.0,
    )
    .unwrap();
    let w = watcher(&s.sessions, 10);
    let r = pass(&w, &s);
    assert_eq!(r.summary, "no_new", "{r:?}");
    assert!(
        r.detail.contains(&format!(
            "{path}: a run of extract for it is still queued or running"
        )),
        "{:?}",
        r.detail
    );
    conn.execute(
        "UPDATE keeper_job_runs SET state = 'running' WHERE id = ?1",
        [id],
    )
    .unwrap();
    assert_eq!(pass(&w, &s).summary, "no_new");
    assert_eq!(runs_by_path(&s.db)[&path].len(), 1);

    conn.execute(
        "UPDATE keeper_job_runs SET state = 'failed' WHERE id = ?1",
        [id],
    )
    .unwrap();
    assert_eq!(pass(&w, &s).summary, "queued=1");
    assert_eq!(runs_by_path(&s.db)[&path].len(), 3);
}

#[test]
fn a_missing_directory_is_said_quietly_and_is_no_error() {
    let s = setup();
    let w = watcher(&s.sessions.join("not-yet"), 10);
    for _ in 0..2 {
        let r = pass(&w, &s);
        assert!(!r.changed);
        assert!(r.summary.starts_with("no_dir: "), "{r:?}");
        assert!(r.summary.ends_with("not-yet does not exist"), "{r:?}");
    }
    assert!(runs_by_path(&s.db).is_empty());
}

#[test]
fn a_path_that_is_not_utf8_is_skipped_with_a_line() {
    let s = setup();
    let good = transcript(&s.sessions, "p", "good", STALE * 2);
    let bad = s
        .sessions
        .join("p")
        .join(std::ffi::OsStr::from_bytes(b"bad\xff.jsonl"));
    fs::write(&bad, b"{}\n").unwrap();
    set_mtime(&bad, STALE * 2);
    let w = watcher(&s.sessions, 10);
    let r = pass(&w, &s);
    assert_eq!(r.touched, vec![Touched::Transcript(good)]);
    assert!(
        r.detail
            .iter()
            .any(|l| l.ends_with("skipped, its path is not valid UTF-8")),
        "{:?}",
        r.detail
    );
}

#[test]
fn a_dry_run_lists_what_would_be_queued_and_writes_nothing() {
    let s = setup();
    let paths: Vec<String> = (0..15)
        .map(|i| transcript(&s.sessions, "p", &format!("s{i:02}"), STALE + 100 - i))
        .collect();
    let w = watcher(&s.sessions, 10);
    let before = dump(&s.db);
    let read = keeper_tui::store::ReadStore::open(&s.db).unwrap();
    let r = w.dry_run(&read.conn, &s.db, now_unix()).unwrap();
    assert_eq!(dump(&s.db), before);
    assert!(!r.changed);
    assert_eq!(r.summary, "would queue extract for 10 session(s)");
    let expected: Vec<Touched> = paths[..10]
        .iter()
        .map(|p| Touched::Transcript(p.clone()))
        .collect();
    assert_eq!(r.touched, expected);
    assert!(
        r.detail.contains(
            &"5 more ended session(s) wait for the next pass (at most 10 per pass)".into()
        ),
        "{:?}",
        r.detail
    );
}
