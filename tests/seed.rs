//! `keeper-tui seed`: deterministic rows, threadkeeper's state spread, and
//! never a write to an existing file.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use common::*;

const NOW: &str = "1750000000";

fn seed(home: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let path = home.join(name);
    let o = keeper(home)
        .arg("seed")
        .arg(&path)
        .args(["--now", NOW])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    path
}

/// Rows of the tables seed fills (keeper's own tables aside).
fn rows(path: &Path) -> Vec<String> {
    dump(path)
        .into_iter()
        .filter(|r| {
            ["threads ", "events ", "notes ", "sessions ", "tasks "]
                .iter()
                .any(|t| r.starts_with(t))
        })
        .collect()
}

#[test]
fn the_same_arguments_give_the_same_rows() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "--threads",
        "300",
        "--events",
        "2000",
        "--notes",
        "1500",
        "--seed",
        "42",
    ];
    let a = rows(&seed(home.path(), "a.sqlite", &args));
    let b = rows(&seed(home.path(), "b.sqlite", &args));
    assert_eq!(a.len(), 300 + 2000 + 1500 + 50 + 303);
    assert!(a == b, "two seeds with the same arguments differ");

    let mut other = args;
    other[7] = "43";
    let c = rows(&seed(home.path(), "c.sqlite", &other));
    assert!(a != c, "a different --seed gave the same rows");

    let c = ro(&home.path().join("a.sqlite"));
    let newest: i64 = c
        .query_row("SELECT MAX(last_touched_at) FROM threads", [], |r| r.get(0))
        .unwrap();
    assert!(newest <= NOW.parse().unwrap());
}

#[test]
fn the_state_spread_is_threadkeepers() {
    let home = tempfile::tempdir().unwrap();
    let path = seed(
        home.path(),
        "db.sqlite",
        &["--threads", "2000", "--events", "200", "--notes", "200"],
    );
    let c = ro(&path);
    let share = |state: &str| {
        count(
            &c,
            &format!("SELECT COUNT(*) FROM threads WHERE state='{state}'"),
        ) as f64
            / 2000.0
    };
    assert_eq!(count(&c, "SELECT COUNT(*) FROM threads"), 2000);
    for (state, want) in [("closed", 0.60), ("active", 0.25), ("idle", 0.15)] {
        let got = share(state);
        assert!((got - want).abs() <= 0.05, "{state}: {got:.3} vs {want}");
    }
    // threadkeeper's id shape: T + 3 hex while there is room.
    let bad = count(
        &c,
        "SELECT COUNT(*) FROM threads WHERE id NOT GLOB 'T[0-9a-f][0-9a-f][0-9a-f]'",
    );
    assert_eq!(bad, 0);
}

#[test]
fn seed_refuses_an_existing_path() {
    let home = tempfile::tempdir().unwrap();
    let existing = new_store(home.path());
    let before = std::fs::read(&existing).unwrap();
    let o = keeper(home.path())
        .arg("seed")
        .arg(&existing)
        .args(["--threads", "10", "--now", NOW])
        .output()
        .unwrap();
    let err = clean_failure(&o, &existing);
    assert!(err.contains("already exists"), "{err}");
    assert!(std::fs::read(&existing).unwrap() == before);

    let text = home.path().join("notes.txt");
    std::fs::write(&text, "keep me").unwrap();
    let o = keeper(home.path()).arg("seed").arg(&text).output().unwrap();
    clean_failure(&o, &text);
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "keep me");
}
