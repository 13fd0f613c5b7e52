//! The job event log on a real file: appends, rotation to the newest half
//! at a line boundary (a small threshold, and the real 1 MiB once), reads
//! filtered by job and limited in lines, garbled lines skipped, and
//! concurrent writers never tearing a line.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

use keeper_tui::jobs::log::{DEFAULT_ROTATE_AT, Entry, EventKind, EventLog};
use keeper_tui::store::jobs::RunState;

fn entry(job: &str, run: i64, detail: &str) -> Entry {
    Entry {
        ts: 1_700_000_000.25 + run as f64,
        job: job.into(),
        run,
        event: EventKind::Succeeded,
        detail: detail.into(),
    }
}

/// Every line of the file, each of which must be a whole entry.
fn whole_lines(path: &Path) -> Vec<Entry> {
    let data = std::fs::read(path).unwrap();
    assert!(data.is_empty() || data.ends_with(b"\n"), "ends mid-line");
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("torn line {:?}: {e}", String::from_utf8_lossy(l)))
        })
        .collect()
}

/// Append numbered entries until the log rotates; checks the rotation kept
/// the newest half from a line boundary. Returns the size it rotated at.
fn append_until_rotated(log: &EventLog, detail: &str) -> u64 {
    let mut before = Vec::new();
    for run in 0.. {
        let e = entry("j", run, detail);
        let mut line = serde_json::to_vec(&e).unwrap();
        line.push(b'\n');
        log.append(&e).unwrap();
        let after = std::fs::read(log.path()).unwrap();
        let mut grown = before.clone();
        grown.extend_from_slice(&line);
        if after == grown {
            before = after;
            continue;
        }
        // Rotated: a suffix of what was there, starting a line, at most half.
        assert!(grown.ends_with(&after), "not the newest part");
        assert!(
            after.len() <= grown.len() / 2,
            "{} of {}",
            after.len(),
            grown.len()
        );
        let cut = grown.len() - after.len();
        assert_eq!(grown[cut - 1], b'\n', "cut mid-line");
        // No more than one line short of half: the cut is at the first boundary.
        assert!(grown.len() / 2 - after.len() < line.len() + 1);
        let kept = whole_lines(log.path());
        assert_eq!(kept.last().unwrap(), &e, "the newest entry is kept");
        let runs: Vec<i64> = kept.iter().map(|k| k.run).collect();
        let first = runs[0];
        assert_eq!(runs, (first..=run).collect::<Vec<_>>(), "a contiguous tail");
        return grown.len() as u64;
    }
    unreachable!()
}

#[test]
fn rotation_past_a_small_threshold_keeps_the_newest_half_in_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::with_rotate_at(dir.path().join("events.jsonl"), 4096);
    let rotated_at = append_until_rotated(&log, "some detail");
    assert!(rotated_at > 4096, "rotated at {rotated_at}");
    // And again, from the rotated file.
    let log2 = EventLog::with_rotate_at(dir.path().join("b.jsonl"), 1000);
    for _ in 0..3 {
        append_until_rotated(&log2, "x");
        std::fs::remove_file(log2.path()).unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rotate"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn rotation_at_the_real_one_mebibyte_threshold() {
    assert_eq!(DEFAULT_ROTATE_AT, 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::new(dir.path().join("events.jsonl"));
    let detail = "d".repeat(1000);
    let rotated_at = append_until_rotated(&log, &detail);
    assert!(
        rotated_at > DEFAULT_ROTATE_AT,
        "rotated early, at {rotated_at}"
    );
    assert!(
        rotated_at < DEFAULT_ROTATE_AT + 1100,
        "rotated late, at {rotated_at}"
    );
    let size = std::fs::metadata(log.path()).unwrap().len();
    assert!(size <= DEFAULT_ROTATE_AT / 2 + 1, "{size}");
}

#[test]
fn read_returns_the_last_lines_filtered_by_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    assert!(
        EventLog::read(&path, None, 10).unwrap().is_empty(),
        "not yet written"
    );
    let log = EventLog::new(&path);
    for run in 0..10 {
        let job = if run % 2 == 0 { "even" } else { "odd" };
        log.append(&entry(job, run, "")).unwrap();
    }
    let runs = |job, n| -> Vec<i64> {
        EventLog::read(&path, job, n)
            .unwrap()
            .iter()
            .map(|e| e.run)
            .collect()
    };
    assert_eq!(runs(None, 3), vec![7, 8, 9]);
    assert_eq!(runs(Some("even"), 2), vec![6, 8]);
    assert_eq!(runs(Some("odd"), 100), vec![1, 3, 5, 7, 9]);
    assert_eq!(runs(None, 0), Vec::<i64>::new());
    assert_eq!(runs(Some("none"), 5), Vec::<i64>::new());
    assert_eq!(runs(None, 100).len(), 10);
}

#[test]
fn entries_are_one_json_object_a_line_with_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::new(dir.path().join("events.jsonl"));
    let e = Entry {
        detail: "exit 3\nsecond line".into(),
        event: EventKind::for_state(RunState::TimedOut),
        ..entry("digest", 42, "")
    };
    log.append(&e).unwrap();
    log.append(&Entry::now("digest", 43, EventKind::Retry, "retry of #42"))
        .unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["ts"], 1_700_000_042.25);
    assert_eq!(v["job"], "digest");
    assert_eq!(v["run"], 42);
    assert_eq!(v["event"], "timed_out");
    assert_eq!(v["detail"], "exit 3\nsecond line");
    let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(v["event"], EventKind::Retry.name());
    assert!(v["ts"].as_f64().unwrap() > 1_700_000_000.0);
    for st in RunState::ALL {
        let kind = EventKind::for_state(st);
        let json = serde_json::to_value(kind).unwrap();
        assert_eq!(json, kind.name());
    }
}

#[test]
fn a_garbled_line_is_skipped() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let log = EventLog::new(&path);
    log.append(&entry("j", 1, "")).unwrap();
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"not json at all\n").unwrap();
        f.write_all(b"{\"ts\": 1.0, \"job\": \"j\", \"ru\n")
            .unwrap();
        f.write_all(b"\xff\xfe\x00 binary\n").unwrap();
        f.write_all(b"{\"ts\": 1.0, \"job\": \"j\", \"run\": 2, \"event\": \"exploded\"}\n")
            .unwrap();
        f.write_all(b"\n").unwrap();
    }
    log.append(&entry("j", 3, "")).unwrap();
    // A line cut short by a writer that died mid-write.
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"ts\": 1.0, \"job\": \"j\", \"run\": 4")
            .unwrap();
    }
    let runs: Vec<i64> = EventLog::read(&path, None, 10)
        .unwrap()
        .iter()
        .map(|e| e.run)
        .collect();
    assert_eq!(runs, vec![1, 3]);
    assert_eq!(EventLog::read(&path, Some("j"), 1).unwrap()[0].run, 3);
}

/// Two threads append `n` entries each to `log` at once.
fn two_writers(log: &EventLog, n: i64) {
    std::thread::scope(|s| {
        for job in ["left", "right"] {
            s.spawn(move || {
                let detail = format!("{job} {}", "x".repeat(200));
                for run in 0..n {
                    log.append(&entry(job, run, &detail)).unwrap();
                }
            });
        }
    });
}

/// Each writer's entries appear in the order it wrote them.
fn in_order(entries: &[Entry]) {
    for job in ["left", "right"] {
        let runs: Vec<i64> = entries
            .iter()
            .filter(|e| e.job == job)
            .map(|e| e.run)
            .collect();
        assert!(runs.windows(2).all(|w| w[1] == w[0] + 1), "{job}: {runs:?}");
    }
}

#[test]
fn concurrent_appends_from_two_threads_are_whole_lines_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::new(dir.path().join("events.jsonl"));
    two_writers(&log, 1000);
    let entries = whole_lines(log.path());
    assert_eq!(entries.len(), 2000);
    in_order(&entries);
    for e in &entries {
        assert!(e.detail.starts_with(&e.job), "a line mixes writers: {e:?}");
    }
}

#[test]
fn concurrent_appends_across_rotations_stay_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::with_rotate_at(dir.path().join("events.jsonl"), 16 * 1024);
    two_writers(&log, 1500);
    let entries = whole_lines(log.path());
    assert!(!entries.is_empty());
    in_order(&entries);
    let size = std::fs::metadata(log.path()).unwrap().len();
    assert!(size <= 16 * 1024 + 300, "{size}");
    let last = entries.last().unwrap();
    assert_eq!(last.run, 1499, "the very last append is kept");
}
