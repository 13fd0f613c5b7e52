//! Blocking work the engine hands to tokio's blocking pool: each job runs
//! with a panic guard, so a bug in one answers its waiter with what went
//! wrong instead of dropping the answer on the floor.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::EngineError;
use crate::error::Result;
use crate::store::ReadStore;

/// The panic's message, when it has one.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

/// Run `f`; a panic becomes `EngineError::Panicked` naming `what`.
pub(crate) fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> std::result::Result<T, EngineError>,
) -> std::result::Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            tracing::error!("{what} panicked: {text}");
            Err(EngineError::Panicked {
                what: what.to_string(),
                text,
            })
        }
    }
}

/// Read-only connections for a loop's jobs: one kept between jobs, more
/// opened when jobs overlap. The lock is taken only to hand one out or
/// take it back, from blocking code.
pub(crate) struct ReadPool {
    db: PathBuf,
    idle: Mutex<Option<(ReadStore, FileId)>>,
}

/// (device, inode): a connection to a file that has since been replaced at
/// the same path is not kept.
type FileId = Option<(u64, u64)>;

fn file_id(path: &std::path::Path) -> FileId {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A loop's reads are small (claims, heal rows): a small page cache.
const LOOP_CACHE_KIB: i64 = 512;

impl ReadPool {
    pub(crate) fn new(db: PathBuf) -> Self {
        ReadPool {
            db,
            idle: Mutex::new(None),
        }
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&ReadStore) -> T) -> Result<T> {
        let now_id = file_id(&self.db);
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|(_, id)| *id == now_id && now_id.is_some());
        let (read, id) = if let Some(k) = kept {
            k
        } else {
            let r = ReadStore::open(&self.db)?;
            let _ = r.conn.pragma_update(None, "cache_size", -LOOP_CACHE_KIB);
            (r, now_id)
        };
        let out = f(&read);
        *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some((read, id));
        Ok(out)
    }
}
