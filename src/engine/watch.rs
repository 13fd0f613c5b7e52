//! File watching with notify: the engine is told when the database or its
//! WAL changes on disk, instead of polling for it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches directories for changes to named files in them, with one
/// watcher (one inotify instance, one thread) however many directories.
/// Dropping it stops the watch.
pub struct FileWatcher {
    _inner: notify::RecommendedWatcher,
}

impl FileWatcher {
    /// Call `on_change` (from notify's thread) whenever one of `names` in
    /// `dir` is created, modified or removed. Reads never trigger it.
    pub fn start(
        dir: &Path,
        names: Vec<OsString>,
        on_change: impl Fn() + Send + 'static,
    ) -> notify::Result<Self> {
        let (w, mut failed) = Self::start_dirs(vec![(dir.to_path_buf(), names)], on_change)?;
        match failed.pop() {
            Some((_, e)) => Err(e),
            None => Ok(w),
        }
    }

    /// The same for several directories at once; the directories that
    /// could not be watched come back with why.
    pub fn start_dirs(
        dirs: Vec<(PathBuf, Vec<OsString>)>,
        on_change: impl Fn() + Send + 'static,
    ) -> notify::Result<(Self, Vec<(PathBuf, notify::Error)>)> {
        let wanted: HashMap<PathBuf, Vec<OsString>> = dirs.iter().cloned().collect();
        let mut inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            let relevant = matches!(
                ev.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            );
            let named = |p: &PathBuf| {
                let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
                    return false;
                };
                wanted
                    .get(dir)
                    .is_some_and(|names| names.iter().any(|w| w == name))
            };
            if relevant && ev.paths.iter().any(named) {
                on_change();
            }
        })?;
        let failed = dirs
            .into_iter()
            .filter_map(|(dir, _)| {
                inner
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .err()
                    .map(|e| (dir, e))
            })
            .collect();
        Ok((FileWatcher { _inner: inner }, failed))
    }
}

impl FileWatcher {
    /// Call `on_change` whenever a file ending in `.{ext}` anywhere under
    /// `dir` is created, modified or removed (any file when `ext` is
    /// `None`), or a directory is, however deep and in directories made
    /// later.
    pub fn start_tree(
        dir: &Path,
        ext: Option<OsString>,
        on_change: impl Fn() + Send + 'static,
    ) -> notify::Result<Self> {
        let mut inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            let relevant = matches!(
                ev.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            );
            // A new directory counts too: a file made in it at once may come
            // before the watch on it, and be seen only by the next look.
            let matching =
                |p: &PathBuf| ext.as_ref().is_none_or(|e| p.extension() == Some(e)) || p.is_dir();
            if relevant && ev.paths.iter().any(matching) {
                on_change();
            }
        })?;
        inner.watch(dir, RecursiveMode::Recursive)?;
        Ok(FileWatcher { _inner: inner })
    }
}

/// The database watch: the file itself, its WAL and a rollback journal.
pub(crate) struct DbWatcher {
    _watch: FileWatcher,
}

impl DbWatcher {
    pub(crate) fn start(db: &Path, changed: Arc<Notify>) -> notify::Result<Self> {
        let dir = match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let base = db.file_name().map(OsString::from).unwrap_or_default();
        let with = |suffix: &str| {
            let mut n = base.clone();
            n.push(suffix);
            n
        };
        let names = vec![base.clone(), with("-wal"), with("-journal")];
        let watch = FileWatcher::start(&dir, names, move || changed.notify_one())?;
        Ok(DbWatcher { _watch: watch })
    }
}
