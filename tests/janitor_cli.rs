//! The janitor through the binary: `pass janitor` prints what it did,
//! `--dry-run` writes nothing, and the user's file keeps its settings.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::*;
use keeper_tui::store::now_unix;

#[test]
fn dry_run_through_the_binary_lists_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    add_thread(&c, "T0a1", "active", now - 3 * DAY);
    add_thread(&c, "T0a2", "idle", now - 2 * DAY);
    add_thread(&c, "T0a3", "active", now - HOUR);
    add_closed_thread(&c, "T0a4", "done", now - 50 * DAY);
    drop(c);
    let rows = dump(&path);
    let bytes = std::fs::read(&path).unwrap();

    let o = run(home.path(), &path, &["pass", "janitor", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("janitor: would close 2 thread(s) idle > 1d"),
        "{out}"
    );
    assert!(out.contains("T0a1") && out.contains("T0a2"), "{out}");
    assert!(!out.contains("T0a3") && !out.contains("T0a4"), "{out}");
    assert_eq!(dump(&path), rows);
    assert!(std::fs::read(&path).unwrap() == bytes, "db file changed");
}

#[test]
fn pass_through_the_binary_prints_the_closed_count() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    add_thread(&c, "T070", "active", now - 3 * DAY);
    add_thread(&c, "T071", "idle", now - 5 * DAY);
    // Idle for 1.5 days: closed by the default 1 day, not by --days 2.
    add_thread(&c, "T072", "active", now - DAY - 12 * HOUR);
    add_closed_thread(&c, "T073", "done", now - 40 * DAY);
    let schema_before = schema_names(&c);
    drop(c);

    let o = run(home.path(), &path, &["pass", "janitor", "--days", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "janitor: closed=2");
    let c = ro(&path);
    assert_eq!(thread(&c, "T072").0, "active");
    assert_eq!(
        thread(&c, "T070").1.as_deref(),
        Some("auto-closed by janitor: idle > 2d (reopen via note)")
    );
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM events WHERE kind='janitor_pass' AND summary='closed=2'"
        ),
        1
    );
    // keeper adds only its own history table: no index on anyone's events.
    let added: Vec<String> = schema_names(&c)
        .into_iter()
        .filter(|n| !schema_before.contains(n))
        .collect();
    assert!(added.contains(&"keeper_passes".to_string()), "{added:?}");
    for name in &added {
        let own = name.starts_with("keeper_") || name.starts_with("sqlite_autoindex_keeper_");
        assert!(
            own,
            "keeper added {name}, which is not one of its own keeper_* objects"
        );
    }
    drop(c);

    let o = run(home.path(), &path, &["pass", "janitor", "--days", "2"]);
    assert_eq!(stdout(&o).trim(), "janitor: no_stale");
}

#[test]
fn a_pass_leaves_user_version_and_journal_mode_alone() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let c = rw(&path);
    c.pragma_update(None, "user_version", 5).unwrap();
    add_thread(&c, "T080", "active", now_unix() - 3 * DAY);
    drop(c);
    let o = run(home.path(), &path, &["pass", "janitor"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = ro(&path);
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!((v, mode.as_str()), (5, "wal"));
}

/// Past `max_close_per_pass` the CLI pass closes nothing and says how to
/// go ahead; `--yes` goes ahead.
#[test]
fn a_pass_past_the_limit_needs_yes() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    for i in 0..250 {
        add_thread(&c, &format!("T{i:04}"), "active", now - 3 * DAY);
    }
    drop(c);
    let before = dump(&path);
    let o = run(home.path(), &path, &["pass", "janitor"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("would close 250 threads, more than [janitor].max_close_per_pass (200); nothing was changed")
            && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(dump(&path), before);
    let o = run(home.path(), &path, &["pass", "janitor", "--yes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "janitor: closed=250");

    // A limit of 0: one is already past it, and said as one.
    let c = rw(&path);
    add_thread(&c, "T0250", "active", now - 3 * DAY);
    drop(c);
    let cfg = home.path().join("zero.toml");
    std::fs::write(&cfg, "[janitor]\nmax_close_per_pass = 0\n").unwrap();
    let o = run(
        home.path(),
        &path,
        &["--config", cfg.to_str().unwrap(), "pass", "janitor"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("would close 1 thread, more than [janitor].max_close_per_pass (0)"),
        "{}",
        stderr(&o)
    );
}

/// A janitor pass can be taken back: `undo` lists it, `undo N` reopens what
/// it closed that nobody touched since, writing what threadkeeper's `note`
/// writes, and the same pass cannot be undone twice.
#[test]
fn undo_takes_a_janitor_pass_back() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    for i in 0..30 {
        add_thread(&c, &format!("T{i:03}"), "active", now - 3 * DAY);
    }
    drop(c);
    let o = run(home.path(), &path, &["pass", "janitor"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("janitor: closed=30"),
        "{}",
        stdout(&o)
    );
    // Someone notes on one of them meanwhile: it is theirs now.
    let c = rw(&path);
    c.execute(
        "UPDATE threads SET state = 'active', last_touched_at = ?1 WHERE id = 'T007'",
        [now + 5],
    )
    .unwrap();
    drop(c);
    let list = stdout(&run(home.path(), &path, &["undo"]));
    let pass: i64 = list
        .lines()
        .find_map(|l| l.strip_prefix('#')?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{list}"));
    assert!(list.contains("closed 30"), "{list}");
    let o = run(home.path(), &path, &["undo", &pass.to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = stdout(&o);
    assert!(
        said.starts_with(&format!("undid janitor pass #{pass}: reopened 29"))
            && said.contains("(1 touched since, left as they are)"),
        "{said}"
    );
    let c = ro(&path);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM threads WHERE state = 'closed'"),
        0
    );
    assert_eq!(count(&c, "SELECT COUNT(*) FROM notes"), 29);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM events WHERE kind = 'note:move'"),
        29
    );
    assert_eq!(
        c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
    // Once only.
    let o = run(home.path(), &path, &["undo", &pass.to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&format!("no janitor pass #{pass} to undo")));
}
