//! A run's output file: bounded to its newest part, and its last lines
//! kept in the store so an operator sees how a run ended without the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A run log is cut to its newest this many bytes.
pub(super) const KEEP: u64 = 1024 * 1024;
/// A running run's log is cut once it grows past this, so a chatty run
/// cannot fill the disk before it ends.
pub(super) const CUT_AT: u64 = 2 * KEEP;
/// Lines of output kept as a run's `tail`.
const TAIL_LINES: usize = 20;
/// Read from the end for the tail: plenty for 20 ordinary lines.
const TAIL_BYTES: u64 = 16 * 1024;

/// Cut `path` to its newest [`KEEP`] bytes, from the first whole line in
/// them, when it is longer than `over`. The file is rewritten in place,
/// not replaced: a running process keeps appending to the same file
/// (lines it writes while the cut is made may be lost, never torn into
/// the kept part). Returns whether it was cut.
pub(super) fn trim(path: &Path, over: u64) -> io::Result<bool> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len <= over {
        return Ok(false);
    }
    let mut keep = vec![0; usize::try_from(KEEP).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut keep, len - KEEP)?;
    let start = match keep.iter().position(|b| *b == b'\n') {
        Some(i) if i + 1 < keep.len() => i + 1,
        _ => 0,
    };
    let keep = &keep[start..];
    file.write_all_at(keep, 0)?;
    file.set_len(keep.len() as u64)?;
    Ok(true)
}

/// The last [`TAIL_LINES`] lines of `path`; `None` when there is no
/// output.
pub(crate) fn tail(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let from = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line may be cut short by where the read began.
    if from > 0 && lines.len() > 1 {
        lines.remove(0);
    }
    let start = lines.len().saturating_sub(TAIL_LINES);
    let out = lines[start..].join("\n");
    (!out.trim().is_empty()).then_some(out)
}
