//! The rollup: what counting the store found (events per kind and hour up
//! to a high-water id, notes and threads figures), kept in keeper-tui's
//! cache directory so the next process starts from it and reads only what
//! is new. It never lives in the store: `status` does not write there.
//!
//! A rollup is trusted only as far as the store confirms it (see
//! `StoreView::adopt`); a file that cannot be read or decoded is set aside
//! and counted afresh, never an error.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::figures::{Group, TailCount};
use crate::store::codec::{Reader, Writer, fnv64};
use crate::store::events::EventStats;

const MAGIC: &[u8] = b"keeper-tui rollup\n";
const VERSION: u64 = 2;
/// Far beyond any real rollup (a busy month is a few hundred KiB): a
/// bigger file is not one of ours, and is not read into memory.
const MAX_BYTES: u64 = 64 << 20;
/// Rollups of stores nobody looked at for this long are removed when
/// another is saved.
const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

pub(super) struct Rollup {
    pub path: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
    /// The store file's [`stamp`] when the figures were last checked
    /// against all of it; `None` when they were not (a long-running view).
    pub stamp: Option<Vec<u8>>,
    pub schema: u64,
    pub events: EventStats,
    pub tails: [TailCount; 3],
    pub threads: Group,
    pub threads_fp: (i64, i64, i64),
}

/// Why a rollup on disk was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doubt {
    Unreadable(ErrorKind),
    Garbage(&'static str),
    /// Another file is at the store's path (device or inode differ).
    OtherFile,
    /// `user_version` or the tables changed.
    Schema,
    /// Made for a shorter window than asked for now.
    Horizon,
    /// The clock is behind the one it was kept by: the hours asked for
    /// now are older than those it holds.
    Clock,
    /// The newest row it counted is gone or is another row now.
    HighWater,
    /// The oldest rows it counted were deleted.
    Lowest,
    /// Rows were deleted from the middle: the table holds `found` rows, the
    /// rollup and the rows after it add up to `expected`.
    Count {
        expected: u64,
        found: u64,
    },
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Doubt::Unreadable(kind) => write!(f, "it cannot be read ({kind})"),
            Doubt::Garbage(what) => write!(f, "it is damaged ({what})"),
            Doubt::OtherFile => f.write_str("another file is at the store's path now"),
            Doubt::Schema => f.write_str("the store's tables or user_version changed"),
            Doubt::Horizon => f.write_str("it covers a shorter window than asked for"),
            Doubt::Clock => f.write_str("the clock is behind the one it was kept by"),
            Doubt::HighWater => f.write_str("the newest event it counted was deleted or changed"),
            Doubt::Lowest => f.write_str("the oldest events it counted were deleted"),
            Doubt::Count { expected, found } => write!(
                f,
                "events were deleted ({found} rows in the table, {expected} counted)"
            ),
        }
    }
}

impl Doubt {
    /// The file itself is bad, as opposed to the store having moved on.
    pub fn is_damage(&self) -> bool {
        matches!(self, Doubt::Unreadable(_) | Doubt::Garbage(_))
    }
}

/// What tells whether the store's bytes changed: the size and times of the
/// file and of its `-wal` (every commit writes one of them; a copy over
/// the file changes its times too). Taken before a read, so an equal
/// stamp later means no commit since that read.
///
/// Only `stat`: a process must never open and close a file SQLite holds
/// locks on (closing any descriptor of a file drops all the process's
/// POSIX locks on it). And only when every time in it is a few seconds
/// old: a file's times may be as coarse as a clock tick, and a commit
/// within the tick of the stamp would not move them. A store written
/// just now gets no stamp, and its next reader counts.
///
/// A `-wal` that is missing or empty holds no frames: the file alone is
/// the store then (SQLite's first reader creates an empty one).
/// Not the `-wal`'s change time: SQLite running as root re-owns that file
/// at every open.
pub fn stamp(path: &Path) -> Option<Vec<u8>> {
    let settled = |t: i64| t < crate::store::now_unix() - SETTLE_SECS;
    let mut out = Writer::default();
    let m = std::fs::metadata(path).ok()?;
    if !settled(m.mtime()) || !settled(m.ctime()) {
        return None;
    }
    out.u64(m.size());
    for (s, ns) in [(m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())] {
        out.i64(s);
        out.i64(ns);
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    match std::fs::metadata(&wal) {
        Ok(w) if w.size() > 0 => {
            if !settled(w.mtime()) {
                return None;
            }
            out.u64(w.size());
            out.i64(w.mtime());
            out.i64(w.mtime_nsec());
        }
        _ => out.u64(0),
    }
    Some(out.buf)
}

/// How old a file's times must be for a stamp to trust them.
const SETTLE_SECS: i64 = 2;

pub fn file_for(dir: &Path, store: &[u8]) -> PathBuf {
    dir.join(format!("{:016x}.rollup", fnv64(&[store])))
}

impl Rollup {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.path);
        w.u64(self.dev);
        w.u64(self.ino);
        match &self.stamp {
            Some(s) => {
                w.u64(1);
                w.bytes(s);
            }
            None => w.u64(0),
        }
        w.u64(self.schema);
        self.events.encode(&mut w);
        for t in &self.tails {
            w.i64(t.count);
            w.i64(t.max_rowid);
            w.i64(t.min_rowid);
        }
        w.u64(self.threads.len() as u64);
        for (k, n) in &self.threads {
            w.bytes(k.as_bytes());
            w.i64(*n);
        }
        let (a, b, c) = self.threads_fp;
        w.i64(a);
        w.i64(b);
        w.i64(c);
        let payload = w.buf;
        let mut file = Vec::with_capacity(payload.len() + 64);
        file.extend_from_slice(MAGIC);
        let mut head = Writer::default();
        head.u64(VERSION);
        head.u64(payload.len() as u64);
        file.extend_from_slice(&head.buf);
        file.extend_from_slice(&payload);
        file.extend_from_slice(&fnv64(&[&payload]).to_le_bytes());
        file
    }

    fn decode(file: &[u8]) -> Result<Self, Doubt> {
        let rest = file
            .strip_prefix(MAGIC)
            .ok_or(Doubt::Garbage("not a rollup file"))?;
        let mut r = Reader::new(rest);
        if r.u64() != Some(VERSION) {
            return Err(Doubt::Garbage("written by another version"));
        }
        let len = r.len(1).ok_or(Doubt::Garbage("truncated"))?;
        let body = r.rest();
        let (payload, sum) = body
            .split_at_checked(len)
            .ok_or(Doubt::Garbage("truncated"))?;
        if sum.len() != 8 || sum != fnv64(&[payload]).to_le_bytes() {
            return Err(Doubt::Garbage("checksum mismatch"));
        }
        Self::decode_payload(&mut Reader::new(payload)).ok_or(Doubt::Garbage("unexpected content"))
    }

    fn decode_payload(r: &mut Reader) -> Option<Self> {
        let path = r.bytes()?.to_vec();
        let dev = r.u64()?;
        let ino = r.u64()?;
        let stamp = match r.u64()? {
            0 => None,
            1 => Some(r.bytes()?.to_vec()),
            _ => return None,
        };
        let schema = r.u64()?;
        let events = EventStats::decode(r)?;
        let mut tails = [TailCount::default(); 3];
        for t in &mut tails {
            t.count = r.i64()?;
            t.max_rowid = r.i64()?;
            t.min_rowid = r.i64()?;
        }
        let n = r.len(2)?;
        let mut threads = Vec::with_capacity(n);
        for _ in 0..n {
            let k = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            threads.push((k, r.i64()?));
        }
        let threads_fp = (r.i64()?, r.i64()?, r.i64()?);
        r.is_empty().then_some(Rollup {
            path,
            dev,
            ino,
            stamp,
            schema,
            events,
            tails,
            threads,
            threads_fp,
        })
    }

    /// The rollup kept for the store at `store` (its canonical path), if
    /// any: `Ok(None)` when there is none (or it is another store's).
    pub fn load(dir: &Path, store: &[u8]) -> Result<Option<Self>, Doubt> {
        let file = file_for(dir, store);
        let bytes = match std::fs::File::open(&file) {
            Ok(f) => {
                use std::io::Read;
                let mut buf = Vec::new();
                f.take(MAX_BYTES + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| Doubt::Unreadable(e.kind()))?;
                if buf.len() as u64 > MAX_BYTES {
                    return Err(Doubt::Garbage("too big"));
                }
                buf
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Doubt::Unreadable(e.kind())),
        };
        let r = Self::decode(&bytes)?;
        // Two paths with the same hash: not ours to use (nor to doubt).
        Ok((r.path == store).then_some(r))
    }

    /// Written beside and renamed into place, so a reader sees the old
    /// rollup or the new one, never half of one.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let file = file_for(dir, &self.path);
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&self.encode()));
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &file)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        forget_old(dir);
        Ok(())
    }
}

fn forget_old(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let ours = p.extension().is_some_and(|x| x == "rollup");
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > FORGET_AFTER);
        if ours && old {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rollup {
        Rollup {
            path: b"/tmp/x.sqlite".to_vec(),
            dev: 1,
            ino: 2,
            stamp: Some(vec![1, 2, 3]),
            schema: 42,
            events: EventStats::new(30 * 86_400),
            tails: [TailCount::default(); 3],
            threads: vec![("active".into(), 3)],
            threads_fp: (1, 2, 3),
        }
    }

    #[test]
    fn a_rollup_round_trips_and_any_cut_or_flipped_byte_is_refused() {
        let bytes = sample().encode();
        let back = Rollup::decode(&bytes).unwrap();
        assert_eq!(back.path, b"/tmp/x.sqlite");
        assert_eq!((back.dev, back.ino, back.schema), (1, 2, 42));
        assert_eq!(back.stamp, Some(vec![1, 2, 3]));
        assert_eq!(back.threads, vec![("active".to_string(), 3)]);
        for n in 0..bytes.len() {
            assert!(Rollup::decode(&bytes[..n]).is_err(), "cut at {n}");
            let mut flipped = bytes.clone();
            flipped[n] ^= 0x10;
            assert!(Rollup::decode(&flipped).is_err(), "flipped at {n}");
        }
    }
}
