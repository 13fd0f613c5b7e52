//! The rollup kept in the cache directory: a view started from it shows
//! exactly the figures of a view counted afresh from the store — after new
//! events, deletions from the middle, a replaced file, a damaged rollup,
//! a collapsed no-op pass, a wider window, a schema change, and at every
//! moment a window's edge can fall on.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use common::*;
use keeper_tui::store::now_unix;
use keeper_tui::store::snapshot::{Doubt, RollupState, StoreFigures, StoreView};
use rusqlite::Connection;

const KINDS: &[&str] = &[
    "ingest_pass",
    "curator_pass",
    "janitor_pass",
    "probe_pass",
    "skill_materialized",
    "reject_candidate",
    "accept_candidate:note",
    "note:move",
    "open_thread",
    "session_reaped",
];

/// A small deterministic generator: the same store every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `n` events spread over the last 40 days, oldest first as a live store
/// grows (with some out of order), janitor passes closing a few threads.
fn add_events(c: &Connection, rng: &mut Lcg, n: u64, now: i64, span: i64) {
    c.execute_batch("BEGIN").unwrap();
    let mut at = now - span;
    for _ in 0..n {
        at += (rng.next((2 * span as u64 / n).max(1))) as i64;
        let t = if rng.next(20) == 0 {
            at - rng.next(3 * DAY as u64) as i64
        } else {
            at
        }
        .min(now);
        let kind = KINDS[rng.next(KINDS.len() as u64) as usize];
        let summary = if kind == "janitor_pass" {
            format!("closed={}", rng.next(4))
        } else {
            "x".into()
        };
        add_event(c, kind, "", &summary, t);
    }
    c.execute_batch("COMMIT").unwrap();
}

fn world(dir: &Path, now: i64) -> std::path::PathBuf {
    let path = new_store(dir);
    let c = rw(&path);
    for i in 0..40 {
        let state = ["active", "idle", "closed"][i % 3];
        add_thread(&c, &format!("T{i:03}"), state, now - i as i64 * HOUR);
    }
    for i in 0..50 {
        add_note(&c, Some("T000"), &format!("note {i}"), now - i * HOUR);
    }
    add_events(&c, &mut Lcg(7), 3_000, now, 40 * DAY);
    path
}

fn sizeless(mut f: StoreFigures) -> StoreFigures {
    f.stores.db_bytes = 0;
    f.stores.wal_bytes = 0;
    f
}

/// Counted from the store alone.
fn afresh(path: &Path, window: u32, now: i64) -> StoreFigures {
    sizeless(StoreView::open(path, window).unwrap().figures(now).unwrap())
}

/// Started from the rollup in `cache` (kept again afterwards, as `status`
/// does): the figures and how the rollup was used.
fn kept(path: &Path, cache: &Path, window: u32, now: i64) -> (StoreFigures, RollupState) {
    let mut v = StoreView::open_cached(path, window, Some(cache)).unwrap();
    let f = sizeless(v.figures(now).unwrap());
    v.save_rollup().unwrap();
    (f, v.rollup_state().clone())
}

fn rollup_file(cache: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rollup"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn a_kept_rollup_gives_the_figures_of_a_full_count_and_is_used_while_the_store_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);

    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Missing);
    assert_eq!(f, afresh(&path, 7, now));
    assert!(f.loops.iter().any(|l| l.fires_window > 0));
    assert!(f.outcomes.iter().any(|o| o.kind == "threads_auto_closed"));

    // Written a moment ago: file times that recent may be too coarse to
    // tell a commit in the same tick, so the rows are counted.
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(
        state,
        RollupState::Used {
            tailed: 0,
            counted: true
        }
    );
    assert_eq!(f, afresh(&path, 7, now));

    // Once the file's times have settled, a store that did not change since
    // the rollup was checked against it is not counted again.
    std::thread::sleep(std::time::Duration::from_millis(3_100));
    kept(&path, &cache, 7, now);
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(
        state,
        RollupState::Used {
            tailed: 0,
            counted: false
        },
        "nothing changed: no count"
    );
    assert_eq!(f, afresh(&path, 7, now));
}

#[test]
fn new_events_are_tailed_and_counted_alike() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);

    add_events(&rw(&path), &mut Lcg(99), 1_000, now, 2 * DAY);
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(
        state,
        RollupState::Used {
            tailed: 1_000,
            counted: true
        }
    );
    assert_eq!(f, afresh(&path, 7, now));
}

#[test]
fn events_deleted_from_the_middle_mean_a_full_count() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);
    let c = rw(&path);

    // threadkeeper's retention: `created_at < cutoff`, which with rows out
    // of order is 200 rows from the middle of the ids, plus its own pass.
    let cutoff: i64 = c
        .query_row(
            "SELECT created_at FROM events ORDER BY created_at LIMIT 1 OFFSET 200",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let lowest: i64 = c
        .query_row("SELECT MIN(id) FROM events", [], |r| r.get(0))
        .unwrap();
    c.execute_batch(&format!(
        "BEGIN; DELETE FROM events WHERE created_at < {cutoff} AND id > {lowest}; \
         INSERT INTO events (session_id, kind, target, summary, created_at) \
         VALUES ('s', 'retention_pass', '', 'events=200', {now}); COMMIT;"
    ))
    .unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert!(
        matches!(state, RollupState::Redone(Doubt::Count { .. })),
        "{state:?}"
    );
    assert_eq!(f, afresh(&path, 7, now));

    // The oldest rows, then the newest one.
    c.execute("DELETE FROM events WHERE id = ?1", [lowest])
        .unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Redone(Doubt::Lowest));
    assert_eq!(f, afresh(&path, 7, now));
    c.execute(
        "DELETE FROM events WHERE id = (SELECT MAX(id) FROM events)",
        [],
    )
    .unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Redone(Doubt::HighWater));
    assert_eq!(f, afresh(&path, 7, now));
}

#[test]
fn another_file_at_the_path_is_counted_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);

    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = world(&other_dir, now);
    add_events(&rw(&other), &mut Lcg(3), 500, now, DAY);
    std::fs::rename(&other, &path).unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Redone(Doubt::OtherFile));
    assert_eq!(f, afresh(&path, 7, now));
}

#[test]
fn a_damaged_rollup_is_set_aside_and_written_anew() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);
    let file = rollup_file(&cache);
    let good = std::fs::read(&file).unwrap();

    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        (
            "garbage",
            (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("one byte flipped", {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 1;
            b
        }),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        let (f, state) = kept(&path, &cache, 7, now);
        assert!(
            matches!(&state, RollupState::Redone(d) if d.is_damage()),
            "{what}: {state:?}"
        );
        assert_eq!(f, afresh(&path, 7, now), "{what}");
        let (_, state) = kept(&path, &cache, 7, now);
        assert!(
            matches!(state, RollupState::Used { .. }),
            "{what}: written anew, {state:?}"
        );
    }
}

#[test]
fn a_collapsed_no_op_pass_moves_its_hour() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    let c = rw(&path);
    add_event(&c, "probe_pass", "", "no_change", now - 5 * HOUR - 17);
    kept(&path, &cache, 7, now);

    // threadkeeper 0.21 moves the newest no-op row instead of adding one.
    c.execute(
        "UPDATE events SET created_at = ?1 WHERE id = (SELECT MAX(id) FROM events)",
        [now - 20],
    )
    .unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(
        state,
        RollupState::Used {
            tailed: 0,
            counted: true
        }
    );
    assert_eq!(f, afresh(&path, 7, now));
}

#[test]
fn a_wider_window_or_another_schema_is_counted_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);

    let (f, state) = kept(&path, &cache, 60, now);
    assert_eq!(state, RollupState::Redone(Doubt::Horizon));
    assert_eq!(f, afresh(&path, 60, now));
    // A narrower one than the rollup's is fine.
    let (f, state) = kept(&path, &cache, 3, now);
    assert!(matches!(state, RollupState::Used { .. }), "{state:?}");
    assert_eq!(f, afresh(&path, 3, now));

    rw(&path)
        .execute_batch("CREATE TABLE extra (x); PRAGMA user_version = 1;")
        .unwrap();
    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Redone(Doubt::Schema));
    assert_eq!(f, afresh(&path, 7, now));
}

/// Window edges fall anywhere inside an hour: a view that started from the
/// rollup and slides with the clock, and one that tails new events as it
/// goes, give at each moment the figures of a full count at that moment.
#[test]
fn every_moment_matches_a_full_count() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    kept(&path, &cache, 7, now);
    let mut view = StoreView::open_cached(&path, 7, Some(&cache)).unwrap();
    let c = rw(&path);
    let mut rng = Lcg(11);
    for step in 0..60 {
        let at = now + step * 1_237;
        if step % 7 == 3 {
            add_event(&c, "curator_pass", "", "ok", at - rng.next(7200) as i64);
            add_event(&c, "janitor_pass", "", "closed=2", at);
            view.refresh(at).unwrap();
        }
        let f = sizeless(view.figures(at).unwrap());
        assert_eq!(f, afresh(&path, 7, at), "step {step}");
        by_sql(&c, &f, at);
    }
}

/// The same figures straight from the rows, second by second.
fn by_sql(c: &Connection, f: &StoreFigures, now: i64) {
    let n = |kind: &str, from: i64, to: i64| -> u64 {
        c.query_row(
            "SELECT COUNT(*) FROM events WHERE kind=?1 AND created_at >= ?2 AND created_at < ?3",
            rusqlite::params![kind, from, to],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
    };
    let far = i64::MAX;
    for l in &f.loops {
        assert_eq!(l.fires_window, n(&l.kind, now - 7 * DAY, far), "{}", l.kind);
        assert_eq!(l.fires_30d, n(&l.kind, now - 30 * DAY, far), "{}", l.kind);
        for (h, &bar) in l.fires_by_hour.iter().enumerate() {
            let from = now - (24 - h as i64) * HOUR;
            assert_eq!(
                u64::from(bar),
                n(&l.kind, from, from + HOUR),
                "{} bar {h}",
                l.kind
            );
        }
    }
    for o in f
        .outcomes
        .iter()
        .filter(|o| o.kind != "threads_auto_closed")
    {
        assert_eq!(o.window, n(&o.kind, now - 7 * DAY, far), "{}", o.kind);
        assert_eq!(o.d30, n(&o.kind, now - 30 * DAY, far), "{}", o.kind);
    }
    let closed: i64 = c
        .query_row(
            "SELECT COALESCE(SUM(CAST(substr(summary, 8) AS INTEGER)), 0) FROM events \
             WHERE kind='janitor_pass' AND created_at >= ?1",
            [now - 7 * DAY],
            |r| r.get(0),
        )
        .unwrap();
    let auto = f.outcomes.iter().find(|o| o.kind == "threads_auto_closed");
    assert_eq!(auto.map_or(0, |o| o.window), closed as u64);
}

/// Closing any descriptor of a file drops every POSIX lock the process
/// holds on it: telling whether the store changed must never open it (nor
/// its `-wal` or `-shm`) while a connection of this process holds a lock.
#[test]
fn keeping_a_rollup_leaves_the_process_s_locks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    // Settled file times: the stamp is taken in full.
    std::thread::sleep(std::time::Duration::from_millis(3_100));
    let writer = rw(&path);
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    add_event(&writer, "probe_pass", "", "ok", now);

    let mut view = StoreView::open_cached(&path, 7, Some(&cache)).unwrap();
    view.figures(now).unwrap();
    view.save_rollup().unwrap();
    view.rebuild(now).unwrap();

    let other = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg(".timeout 200")
        .arg("BEGIN IMMEDIATE; COMMIT;")
        .output()
        .unwrap();
    assert!(
        !other.status.success(),
        "another process took the write lock this one holds: {}",
        String::from_utf8_lossy(&other.stdout)
    );
    writer.execute_batch("COMMIT").unwrap();
}

/// A rollup kept by a clock ahead of this one (stepped back since, or a
/// cache shared with another host) lacks the older hours asked for now.
#[test]
fn a_rollup_kept_by_a_clock_ahead_is_counted_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let now = now_unix();
    let path = world(dir.path(), now);
    let mut ahead = StoreView::open_cached(&path, 7, Some(&cache)).unwrap();
    ahead.refresh(now + 3 * HOUR).unwrap();
    ahead.figures(now + 3 * HOUR).unwrap();
    ahead.save_rollup().unwrap();
    drop(ahead);

    let (f, state) = kept(&path, &cache, 7, now);
    assert_eq!(state, RollupState::Redone(Doubt::Clock));
    assert_eq!(f, afresh(&path, 7, now));
    by_sql(&rw(&path), &f, now);
}
