//! One watcher pass over 10,000 transcripts (100 projects of 100
//! sessions, all stale and closed): with every file already processed
//! (the steady state, no process scan), with all but 10 processed, and
//! the first pass where all are new (capped at `max_new_per_pass`).
//! A fresh store per run, the same files. `cargo bench --bench watcher`.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use keeper_tui::actions::run_pass;
use keeper_tui::config::Config;
use keeper_tui::loops::PassMode;
use keeper_tui::loops::watcher::Watcher;
use keeper_tui::store::jobs::remember_watched;
use keeper_tui::store::{WriteStore, now_unix};

const FILES: usize = 10_000;
const MAX_NEW: usize = 10;
const RUNS: usize = 5;

fn watcher(dir: &Path) -> Watcher {
    let text = format!(
        "[[job]]\nname = \"extract\"\ncommand = [\"extract\", \"{{path}}\"]\n\n\
         [[job]]\nname = \"mine\"\ncommand = [\"mine\", \"{{path}}\"]\nafter = [\"extract\"]\n\n\
         [watcher]\ndir = {dir:?}\nglob = \"*/*.jsonl\"\nstale_secs = 600\n\
         job = \"extract\"\nmax_new_per_pass = {MAX_NEW}\n",
        dir = dir.to_str().expect("UTF-8 temp dir")
    );
    let cfg = Config::parse(&text, Path::new("bench.toml")).expect("config");
    Watcher::new(cfg.watcher, cfg.jobs)
}

/// `(path, size, mtime)` of each transcript made.
fn make_files(dir: &Path) -> Vec<(String, u64, i64)> {
    let mut out = Vec::with_capacity(FILES);
    let old = SystemTime::now() - Duration::from_secs(7200);
    for p in 0..FILES / 100 {
        let project = dir.join(format!("project-{p:03}"));
        fs::create_dir_all(&project).expect("project dir");
        for s in 0..100 {
            let path = project.join(format!("session-{s:03}.jsonl"));
            let body = format!("{{\"project\":{p},\"session\":{s}}}\n");
            fs::write(&path, &body).expect("transcript");
            File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(old))
                .expect("mtime");
            let mtime = old
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let path = path.to_str().expect("UTF-8").to_string();
            out.push((path, body.len() as u64, mtime));
        }
    }
    out
}

/// Time one pass on a fresh store where the first `processed` files are
/// already remembered; returns the time and the pass's summary.
fn one(
    dir: &Path,
    files: &[(String, u64, i64)],
    processed: usize,
    run: usize,
) -> (Duration, String) {
    let db = dir.join(format!("bench-{processed}-{run}.sqlite"));
    let store = WriteStore::open(&db, "keeper-tui").expect("store");
    let now = now_unix();
    store
        .write(|tx| {
            for (path, size, mtime) in &files[..processed] {
                remember_watched(tx, path, *size, *mtime, None, now)?;
            }
            Ok(())
        })
        .expect("remember");
    let w = watcher(&dir.join("sessions"));
    let t0 = Instant::now();
    let r = run_pass(&w, &db, &store, PassMode::Scheduled, now_unix()).expect("pass");
    (t0.elapsed(), r.summary)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = make_files(&dir.path().join("sessions"));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| transcripts | already processed | queued | runs | median | min | max |");
    println!("|---|---|---|---|---|---|---|");
    for processed in [FILES, FILES - MAX_NEW, 0] {
        let mut times = Vec::new();
        let mut summary = String::new();
        for run in 0..RUNS {
            let (t, s) = one(dir.path(), &files, processed, run);
            times.push(t);
            summary = s;
        }
        times.sort();
        println!(
            "| {FILES} | {processed} | {summary} | {RUNS} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(times[RUNS / 2]),
            ms(times[0]),
            ms(times[RUNS - 1])
        );
    }
}
