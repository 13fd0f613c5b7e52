//! Finding transcripts: the regular files under `[watcher] dir` at the
//! glob's depth, each with what the watcher keys it by (path, size,
//! mtime) and what the process scan matches it by (device and inode,
//! which survive renames and symlinks where path text would not).

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::WatcherConfig;

/// A file as the kernel names it: two paths to the same file are one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(m: &fs::Metadata) -> Self {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// One session's transcript, as it was when looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Absolute: the job's `{path}` and the key it is remembered by.
    pub path: String,
    pub size: u64,
    /// Whole seconds since the epoch, as `keeper_watched` keeps it.
    pub mtime: i64,
    pub id: FileId,
}

impl Transcript {
    /// The file at `path` now, if it is still a regular file.
    pub fn stat(path: &str) -> Option<Self> {
        let m = fs::metadata(path).ok().filter(fs::Metadata::is_file)?;
        Some(Transcript {
            path: path.to_string(),
            size: m.size(),
            mtime: m.mtime(),
            id: FileId::of(&m),
        })
    }
}

/// What a look under `dir` found.
#[derive(Debug, Default)]
pub struct Found {
    pub transcripts: Vec<Transcript>,
    /// Files and directories passed over, one line each: a path that is
    /// not UTF-8 cannot be a job's `{path}` argument or a store key.
    pub skipped: Vec<String>,
}

/// The transcripts under `config.dir`; `Ok(None)` when the directory does
/// not exist (no agent has written a session there yet).
pub fn find(config: &WatcherConfig) -> io::Result<Option<Found>> {
    let root = std::path::absolute(&config.dir)?;
    let top = match fs::read_dir(&root) {
        Ok(top) => top,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut found = Found::default();
    if config.glob.starts_with("*/") {
        for entry in top {
            let entry = entry?;
            let name = entry.file_name();
            if name.as_bytes().starts_with(b".") {
                continue;
            }
            let sub = entry.path();
            // A symlinked project directory counts, as it does for `*/`
            // in the shell.
            if !fs::metadata(&sub).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            match fs::read_dir(&sub) {
                Ok(files) => {
                    for file in files {
                        match file {
                            Ok(file) => consider(config, &root, &file.path(), &mut found),
                            Err(e) => found
                                .skipped
                                .push(format!("{}: cannot list: {e}", sub.display())),
                        }
                    }
                }
                // Gone since it was listed: nothing there to find.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => found
                    .skipped
                    .push(format!("{}: cannot list: {e}", sub.display())),
            }
        }
    } else {
        for entry in top {
            consider(config, &root, &entry?.path(), &mut found);
        }
    }
    Ok(Some(found))
}

/// Add `path` to `found` when it is a transcript for the glob.
fn consider(config: &WatcherConfig, root: &Path, path: &Path, found: &mut Found) {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let Some(text) = path.to_str() else {
        if shaped_like(config, relative) {
            found.skipped.push(format!(
                "{}: skipped, its path is not valid UTF-8",
                path.display()
            ));
        }
        return;
    };
    if !config.matches(relative) {
        return;
    }
    // Removed since it was listed, or a directory named like a
    // transcript: neither is a session's file.
    if let Some(t) = Transcript::stat(text) {
        found.transcripts.push(t);
    }
}

/// Whether a path that is not UTF-8 (which `WatcherConfig::matches`
/// refuses outright) would otherwise be a transcript, judged on bytes, so
/// the pass can say it skipped a real one rather than pass over it silently.
fn shaped_like(config: &WatcherConfig, relative: &Path) -> bool {
    let Some((_, suffix)) = config.glob.rsplit_once('*') else {
        return false;
    };
    let suffix = suffix.as_bytes();
    let visible = |name: &[u8]| !name.is_empty() && !name.starts_with(b".");
    let names: Vec<&[u8]> = relative
        .components()
        .map(|c| c.as_os_str().as_bytes())
        .collect();
    names.iter().all(|n| visible(n))
        && names
            .last()
            .is_some_and(|n| n.len() > suffix.len() && n.ends_with(suffix))
}

/// `dir` made absolute without resolving symlinks, for messages.
pub fn shown(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    fn config(glob: &str) -> WatcherConfig {
        WatcherConfig {
            glob: glob.into(),
            ..WatcherConfig::default()
        }
    }

    #[test]
    fn a_name_that_is_not_utf8_is_judged_on_its_bytes() {
        let bad = Path::new(OsStr::from_bytes(b"proj/s\xff.jsonl"));
        assert!(shaped_like(&config("*/*.jsonl"), bad));
        let hidden = Path::new(OsStr::from_bytes(b"proj/.s\xff.jsonl"));
        assert!(!shaped_like(&config("*/*.jsonl"), hidden));
        let other = Path::new(OsStr::from_bytes(b"proj/s\xff.txt"));
        assert!(!shaped_like(&config("*/*.jsonl"), other));
    }
}
