//! A store restored by `mv` while keeper-tui has it open: the writer never
//! writes through its old connection (that corrupts the restored file for
//! every other client), reopens the new file, refuses the write it planned
//! from the old one, and writes to the new file from then on.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use keeper_tui::error::Error;
use keeper_tui::store::{WriteStore, now_unix};
use rusqlite::{Connection, params};

fn integrity(path: &Path) -> String {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// `cp src tmp && mv tmp dst`, as an operator restores a backup.
fn restore(backup: &Path, dst: &Path) {
    let tmp = dst.with_extension("restoring");
    std::fs::copy(backup, &tmp).unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}

/// A copy of `src` at `dst`, its WAL folded in first, as `cp` makes one.
fn backup(src: &Path, dst: &Path) {
    let c = Connection::open(src).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    std::fs::copy(src, dst).unwrap();
}

fn event(store: &WriteStore, kind: &str) -> keeper_tui::error::Result<()> {
    store.write(|tx| {
        tx.execute(
            "INSERT INTO events (created_at, session_id, kind, target, summary) VALUES (?1, 'k', ?2, '', '')",
            params![now_unix(), kind],
        )
        .map(|_| ())
    })
}

fn kinds(path: &Path, kind: &str) -> i64 {
    count(
        &ro(path),
        &format!("SELECT COUNT(*) FROM events WHERE kind = '{kind}'"),
    )
}

#[test]
fn the_writer_refuses_once_then_writes_to_the_restored_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let store = open_writer(&path);
    event(&store, "before_backup").unwrap();
    let saved = dir.path().join("backup.sqlite");
    backup(&path, &saved);
    event(&store, "after_backup").unwrap();
    // Another client keeps the file open, as threadkeeper would.
    let other = rw(&path);
    assert_eq!(count(&other, "SELECT COUNT(*) FROM threads"), 0);

    restore(&saved, &path);
    let e = event(&store, "planned_from_the_old_file").unwrap_err();
    assert!(matches!(e, Error::StoreReplaced { .. }), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert_eq!(
        integrity(&path),
        "ok",
        "while the old file is still open elsewhere"
    );
    // The other client lets go of the old file too.
    drop(other);
    assert_eq!(integrity(&path), "ok");
    assert_eq!(kinds(&path, "planned_from_the_old_file"), 0);

    event(&store, "after_restore").unwrap();
    assert_eq!(integrity(&path), "ok");
    assert_eq!(kinds(&path, "after_restore"), 1);
    assert_eq!(kinds(&path, "before_backup"), 1);
    // Our frames never outlive our write in the WAL, so none of the old
    // file's pages are replayed into the restored one.
    assert_eq!(
        kinds(&path, "after_backup"),
        0,
        "the backup is what is there now"
    );
    // A new client writes to the restored file as usual.
    let fresh = rw(&path);
    add_thread(&fresh, "T2", "active", now_unix());
    assert_eq!(integrity(&path), "ok");
}

/// A much smaller file moved in while the writer still holds the old one:
/// the shared `-wal`/`-shm` describe nothing of ours, so it reads intact.
#[test]
fn a_smaller_file_moved_in_reads_intact_beside_our_open_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let store = open_writer(&path);
    let small = dir.path().join("small.sqlite");
    drop(WriteStore::open(&small, "x").unwrap());
    for i in 0..2000 {
        event(&store, &format!("grow {i} {}", "x".repeat(200))).unwrap();
    }
    restore(&small, &path);
    assert_eq!(integrity(&path), "ok");
    assert_eq!(count(&ro(&path), "SELECT COUNT(*) FROM events"), 0);
    assert!(event(&store, "planned_from_the_old_file").is_err());
    event(&store, "into_the_small_one").unwrap();
    assert_eq!(count(&ro(&path), "SELECT COUNT(*) FROM events"), 1);
    assert_eq!(integrity(&path), "ok");
}

#[test]
fn a_removed_store_gets_no_writes_until_one_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let store = open_writer(&path);
    let saved = dir.path().join("backup.sqlite");
    backup(&path, &saved);
    std::fs::remove_file(&path).unwrap();
    let e = event(&store, "into_the_void").unwrap_err();
    assert!(matches!(e, Error::StoreGone { .. }), "{e}");
    assert!(!path.exists(), "a removed store is not created again");

    restore(&saved, &path);
    event(&store, "once_back").unwrap();
    assert_eq!(kinds(&path, "once_back"), 1);
    event(&store, "second_after").unwrap();
    assert_eq!(kinds(&path, "second_after"), 1);
    assert_eq!(integrity(&path), "ok");
}

#[test]
fn a_foreign_file_moved_into_place_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_store(dir.path());
    let store = open_writer(&path);
    let foreign = dir.path().join("other.sqlite");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE recipes (name TEXT)")
        .unwrap();
    std::fs::rename(&foreign, &path).unwrap();
    let e = event(&store, "x").unwrap_err();
    assert!(matches!(e, Error::StoreReplaced { .. }), "{e}");
    let e = event(&store, "x").unwrap_err();
    assert!(matches!(e, Error::NotThreadkeeper { .. }), "{e}");
    let tables = schema_names(&ro(&path));
    assert!(
        tables
            .iter()
            .all(|t| !t.starts_with("keeper_") && t != "events"),
        "{tables:?}"
    );
}

/// The reproduction: the engine closes stale threads every second while
/// another client writes a note every 20 ms; a backup is restored by `mv`.
/// The restored file stays intact, the client's notes keep landing, and the
/// engine's later closes land in the restored file (before, they went to
/// the old file, corrupting the new one through the shared WAL).
///
/// The client pauses while the file is swapped: its own frames still in
/// the WAL at that moment would be replayed into the new file whatever
/// keeper-tui does (SQLite's WAL belongs to the path, not to the file), so
/// a restore with live writers must use `sqlite3 DB ".restore BACKUP"`.
#[test]
fn the_engine_survives_a_restore_by_mv_under_write_load() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = home_dir.path().to_path_buf();
    let path = new_store(&home);
    let now = now_unix();
    let c = rw(&path);
    for i in 0..50 {
        add_thread(&c, &format!("T{i:03}"), "active", now - 3 * DAY);
    }
    drop(c);
    let saved = home.as_path().join("backup.sqlite");
    backup(&path, &saved);
    // The backup gets more stale threads than the engine has closed yet.
    let b = rw(&saved);
    for i in 50..80 {
        add_thread(&b, &format!("T{i:03}"), "active", now - 3 * DAY);
    }
    drop(b);

    let cfg = home.as_path().join("keeper.toml");
    std::fs::write(
        &cfg,
        format!(
            "[janitor]\ninterval_secs = 1\n[reaper]\ninterval_secs = 0\nboot_reap = false\ntmux_socket_name = \"keeper-test-{}-none\"\n",
            std::process::id()
        ),
    )
    .unwrap();
    let mut engine = Reaped(
        keeper(home.as_path())
            .args([
                "--db",
                path.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "engine",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.join("engine.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let closed = |p: &Path| {
        count(
            &ro(p),
            "SELECT COUNT(*) FROM threads WHERE state = 'closed'",
        )
    };
    wait_until("the first janitor pass", || closed(&path) == 50);

    let client = NoteClient::start(&path);
    wait_until("some notes", || client.notes() > 10);
    let log = || std::fs::read_to_string(home.join("engine.err")).unwrap();
    {
        let _pause = client.paused.lock().unwrap();
        // Fold the client's last frames in, as its own closing would with
        // nobody else attached.
        let c = rw(&path);
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        drop(c);
        restore(&saved, &path);
        // Until every connection to the old file is closed, its `-shm`
        // misleads any client that opens the new one: the engine must let
        // go promptly.
        let swapped = Instant::now();
        wait_until_or("the engine to let go of the old file", log, || {
            log().contains("another file took the store's path")
        });
        assert!(swapped.elapsed() < Duration::from_secs(2));
    }
    // The engine's next passes close the 30 stale threads only the backup had.
    let log = || std::fs::read_to_string(home.join("engine.err")).unwrap();
    wait_until_or(
        "the janitor to close threads in the restored file",
        log,
        || closed(&path) == 80,
    );
    let before = client.notes();
    wait_until("more notes after the restore", || {
        client.notes() > before + 20
    });
    let failed = client.stop();

    assert_eq!(integrity(&path), "ok");
    assert_eq!(failed, 0, "the other client's writes all landed");
    let _ = Command::new("kill")
        .args(["-TERM", &engine.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "engine did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    engine.wait().unwrap();
    let err = std::fs::read_to_string(home.join("engine.err")).unwrap();
    assert!(err.contains("the writer let go of it"), "{err}");
    assert!(!err.contains('\u{1b}'), "no colour codes in a file: {err}");
    assert_eq!(integrity(&path), "ok");
}

/// A threadkeeper-like client: a connection per call, a note per commit,
/// every 20 ms until stopped; `paused` held stops it between commits.
struct NoteClient {
    stop: Arc<AtomicBool>,
    paused: Arc<std::sync::Mutex<()>>,
    notes: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl NoteClient {
    fn start(path: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(std::sync::Mutex::new(()));
        let (notes, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = {
            let (stop, paused, notes, failed) =
                (stop.clone(), paused.clone(), notes.clone(), failed.clone());
            let path = path.to_path_buf();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let turn = paused.lock().unwrap();
                    let c = Connection::open(&path).unwrap();
                    c.busy_timeout(Duration::from_secs(5)).unwrap();
                    let ok = c.execute_batch(
                        "BEGIN IMMEDIATE; \
                         INSERT INTO notes (thread_id, kind, content, created_at) \
                         VALUES ('T000', 'move', 'n', strftime('%s','now')); \
                         COMMIT;",
                    );
                    drop(c);
                    drop(turn);
                    let counter = if ok.is_ok() { &notes } else { &failed };
                    counter.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        NoteClient {
            stop,
            paused,
            notes,
            failed,
            thread,
        }
    }

    fn notes(&self) -> u64 {
        self.notes.load(Ordering::SeqCst)
    }

    /// Stop it; the number of commits that failed.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.failed.load(Ordering::SeqCst)
    }
}

fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_or(what, String::new, cond);
}

/// As `wait_until`; a timeout shows `context()` (the engine's log).
fn wait_until_or(what: &str, context: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
