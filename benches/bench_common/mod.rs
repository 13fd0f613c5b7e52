//! What the benches share: where their files go, fresh copies of a store,
//! and the seeded store they measure by default.
#![allow(dead_code, reason = "each bench uses some of these")]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};

pub type BenchResult<T> = std::result::Result<T, Box<dyn Error>>;

pub struct Size {
    pub name: &'static str,
    pub threads: u64,
    pub events: u64,
    pub notes: u64,
}

pub const SIZE_A: Size = Size {
    name: "A",
    threads: 10_000,
    events: 100_000,
    notes: 100_000,
};
pub const SIZE_B: Size = Size {
    name: "B",
    threads: 100_000,
    events: 1_000_000,
    notes: 1_000_000,
};

pub fn tmp_dir() -> PathBuf {
    std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(sidecar(path, suffix));
    }
}

/// A fresh, private copy of `src` (plus its WAL, if it has one) at `dst`.
pub fn fresh_copy(src: &Path, dst: &Path) -> BenchResult<()> {
    remove_store(dst);
    std::fs::copy(src, dst)?;
    let wal = sidecar(src, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        std::fs::copy(&wal, sidecar(dst, "-wal"))?;
    }
    Ok(())
}

/// `VmHWM` (peak resident set) of this process, in KiB.
/// The store to measure: `KEEPER_BENCH_DB`, else a seeded store of
/// `KEEPER_BENCH_SIZE` (A or B, default B), cached in the temp dir.
pub fn store_path() -> BenchResult<(PathBuf, String)> {
    if let Some(p) = std::env::var_os("KEEPER_BENCH_DB") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(format!("KEEPER_BENCH_DB={} is not a file", p.display()).into());
        }
        return Ok((p, "KEEPER_BENCH_DB".into()));
    }
    let size = match std::env::var("KEEPER_BENCH_SIZE").as_deref() {
        Ok("A" | "a") => SIZE_A,
        Ok("B" | "b") | Err(_) => SIZE_B,
        Ok(other) => return Err(format!("KEEPER_BENCH_SIZE={other:?}: use A or B").into()),
    };
    let path = tmp_dir().join(format!("keeper-bench-{}.sqlite", size.name));
    if path.is_file() {
        println!(
            "reusing the cached size-{} store {}",
            size.name,
            path.display()
        );
        return Ok((path, format!("seeded size {} (cached)", size.name)));
    }
    println!(
        "building a size-{} store ({} threads / {} events / {} notes) at {} with keeper_tui::store::seed; it is cached for later runs ...",
        size.name,
        size.threads,
        size.events,
        size.notes,
        path.display()
    );
    // Build under a temporary name so an interrupted build is never reused.
    let building = sidecar(&path, ".building");
    remove_store(&building);
    let t = Instant::now();
    seed(
        &building,
        SeedSpec {
            threads: size.threads,
            events: size.events,
            notes: size.notes,
            seed: 20_240_601,
            now: now_unix(),
            span_days: 60,
        },
    )?;
    std::fs::rename(&building, &path)?;
    remove_store(&building);
    println!("  built in {:.1} s", t.elapsed().as_secs_f64());
    Ok((path, format!("seeded size {}", size.name)))
}
