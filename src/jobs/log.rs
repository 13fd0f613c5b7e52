//! The job event log: one JSON object per line, appended as runs are
//! queued, start, retry and end, so an operator (or `tail -f`) can follow
//! what jobs did without opening the store.
//!
//! Appends are single `O_APPEND` writes of a whole line, so lines from
//! concurrent writers never interleave. Past a size threshold the file is
//! cut to its newest half at a line boundary, written beside it and renamed
//! over it: a reader sees the old file or the new one, never a torn line.
//! A lock file beside the log (`<name>.lock`) keeps appends (shared) and a
//! rotation (exclusive) apart, so no line lands in a file about to be
//! replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::store::jobs::RunState;

/// Rotate once the log passes this many bytes.
pub const DEFAULT_ROTATE_AT: u64 = 1024 * 1024;

/// What happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Queued,
    Started,
    /// Ended badly and queued again.
    Retry,
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
    TimedOut,
}

impl EventKind {
    /// As written in the `event` field.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Started => "started",
            EventKind::Retry => "retry",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Cancelled => "cancelled",
            EventKind::Skipped => "skipped",
            EventKind::TimedOut => "timed_out",
        }
    }

    /// The event of a run entering `state`.
    pub fn for_state(state: RunState) -> Self {
        match state {
            RunState::Queued => EventKind::Queued,
            RunState::Running => EventKind::Started,
            RunState::Succeeded => EventKind::Succeeded,
            RunState::Failed => EventKind::Failed,
            RunState::Cancelled => EventKind::Cancelled,
            RunState::Skipped => EventKind::Skipped,
            RunState::TimedOut => EventKind::TimedOut,
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix time, seconds.
    pub ts: f64,
    pub job: String,
    pub run: i64,
    pub event: EventKind,
    #[serde(default)]
    pub detail: String,
}

impl Entry {
    /// An entry stamped with the current time.
    pub fn now(job: &str, run: i64, event: EventKind, detail: &str) -> Self {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Entry {
            ts,
            job: job.into(),
            run,
            event,
            detail: detail.into(),
        }
    }
}

/// The log at `path`, appended to and rotated in place.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    rotate_at: u64,
}

impl EventLog {
    /// The log at `path`, rotated past [`DEFAULT_ROTATE_AT`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_rotate_at(path, DEFAULT_ROTATE_AT)
    }

    /// The log at `path`, rotated once it passes `bytes`.
    pub fn with_rotate_at(path: impl Into<PathBuf>, bytes: u64) -> Self {
        EventLog {
            path: path.into(),
            rotate_at: bytes,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `entry` as one line, creating the file (not its directory)
    /// if need be, and rotate if that took the file past the threshold.
    pub fn append(&self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let size = {
            let _shared = self.lock(FlockArg::LockShared)?;
            let mut file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?;
            // One write call: O_APPEND places it whole after any other.
            file.write_all(&line)?;
            file.metadata()?.len()
        };
        if size > self.rotate_at {
            let _exclusive = self.lock(FlockArg::LockExclusive)?;
            // Another writer may have rotated while this one waited.
            if fs::metadata(&self.path)?.len() > self.rotate_at {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Keep the newest half of the file, from the first whole line in it.
    /// Called with the exclusive lock held.
    fn rotate(&self) -> io::Result<()> {
        let data = fs::read(&self.path)?;
        let keep = &data[newest_half_start(&data)..];
        let tmp = self.beside(".", ".rotate");
        let mut out = File::create(&tmp)?;
        out.write_all(keep)?;
        out.set_permissions(fs::metadata(&self.path)?.permissions())?;
        out.sync_all()?;
        drop(out);
        fs::rename(&tmp, &self.path)
    }

    /// `<dir>/<prefix><name><suffix>`: beside the log, so the rotation's
    /// temporary file is on the same file system and renames over it.
    fn beside(&self, prefix: &str, suffix: &str) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "events".into(), |n| n.to_string_lossy().into_owned());
        self.path.with_file_name(format!("{prefix}{name}{suffix}"))
    }

    fn lock(&self, how: FlockArg) -> io::Result<Flock<File>> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.beside("", ".lock"))?;
        loop {
            match Flock::lock(file, how) {
                Ok(lock) => return Ok(lock),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => return Err(e.into()),
            }
        }
    }

    /// The last `lines` entries of the log at `path` (only `job`'s, when
    /// given), oldest first. A line that is not an entry (garbled, or cut
    /// short by a crash) is skipped; a log not yet written is empty.
    pub fn read(path: &Path, job: Option<&str>, lines: usize) -> io::Result<Vec<Entry>> {
        let data = match fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<Entry> = data
            .split(|b| *b == b'\n')
            .rev()
            .filter_map(|l| serde_json::from_slice::<Entry>(l).ok())
            .filter(|e| job.is_none_or(|j| e.job == j))
            .take(lines)
            .collect();
        out.reverse();
        Ok(out)
    }
}

/// Where the newest half of `data` begins: half its length back from the
/// end, moved on to the start of the next line.
fn newest_half_start(data: &[u8]) -> usize {
    let cut = data.len() - data.len() / 2;
    if cut == 0 || data[cut - 1] == b'\n' {
        return cut;
    }
    data[cut..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(data.len(), |i| cut + i + 1)
}
