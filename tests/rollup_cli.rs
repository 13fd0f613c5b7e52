//! `status` keeps its rollup in `$XDG_CACHE_HOME/keeper-tui`: the second
//! run starts from it, a damaged one is set aside with a line in the log
//! (never an error, never a word on the output scripts read), and the
//! store itself is never written.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::*;
use keeper_tui::store::now_unix;

/// `status --json` without the moment it was taken and the file sizes,
/// which are not figures of the rows.
fn figures(home: &std::path::Path, db: &std::path::Path) -> serde_json::Value {
    let o = run(home, db, &["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "status says nothing on stderr");
    let mut v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("now");
    let stores = m.get_mut("stores").unwrap().as_object_mut().unwrap();
    stores.remove("db_bytes");
    stores.remove("wal_bytes");
    v
}

#[test]
fn status_keeps_a_rollup_and_a_damaged_one_is_only_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let db = new_store(home);
    let now = now_unix();
    let c = rw(&db);
    for i in 0..3 {
        add_thread(&c, &format!("T{i}"), "active", now - HOUR);
    }
    // Ages well inside their windows and hourly bars: a second between two
    // runs moves nothing.
    for (kind, age) in [
        ("ingest_pass", HOUR / 2),
        ("ingest_pass", 3 * DAY),
        ("janitor_pass", 20 * DAY),
        ("skill_materialized", 2 * HOUR + HOUR / 2),
    ] {
        let summary = if kind == "janitor_pass" {
            "closed=4"
        } else {
            "x"
        };
        add_event(&c, kind, "", summary, now - age);
    }
    drop(c);
    let before = dump(&db);

    let first = figures(home, &db);
    let cache = home.join("cache/keeper-tui");
    let kept: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(figures(home, &db), first, "from the rollup");

    std::fs::write(&kept[0], b"not a rollup at all").unwrap();
    assert_eq!(figures(home, &db), first, "counted afresh");
    let log = std::fs::read_to_string(home.join("state/keeper-tui/keeper-tui.log")).unwrap();
    assert!(
        log.contains("the kept rollup was not used: it is damaged"),
        "{log}"
    );
    assert!(
        std::fs::read(&kept[0])
            .unwrap()
            .starts_with(b"keeper-tui rollup"),
        "written anew"
    );
    assert_eq!(dump(&db), before, "the store is never written");
}
