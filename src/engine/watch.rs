//! File watching with notify: the engine is told when the database or its
//! WAL changes on disk, instead of polling for it.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches a directory for changes to a few named files. Dropping it stops
/// the watch.
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
        let mut inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            let relevant = matches!(
                ev.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            );
            if relevant
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| names.iter().any(|w| w == n)))
            {
                on_change();
            }
        })?;
        inner.watch(dir, RecursiveMode::NonRecursive)?;
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
