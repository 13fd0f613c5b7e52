//! Blocking work the engine hands to tokio's blocking pool: each job runs
//! with a panic guard, so a bug in one answers its waiter with what went
//! wrong instead of dropping the answer on the floor.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::EngineError;
use crate::error::Result;
use crate::store::{ReadStore, file_id};

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

impl ReadPool {
    pub(crate) fn new(db: PathBuf) -> Self {
        ReadPool {
            db,
            idle: Mutex::new(None),
        }
    }

    /// Close the idle connection if its file is no longer at the path: as
    /// long as any connection holds the old file, its `-wal` and `-shm`
    /// stay beside the new one and mislead every client that opens it.
    pub(crate) fn let_go_if_replaced(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle
            .as_ref()
            .is_some_and(|(_, id)| *id != file_id(&self.db))
        {
            *idle = None;
        }
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&ReadStore) -> T) -> Result<T> {
        let now_id = file_id(&self.db);
        let kept = match self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some((read, id)) if id == now_id && now_id.is_some() => Some((read, id)),
            Some(_) | None => None,
        };
        let (read, id) = if let Some(k) = kept {
            k
        } else {
            (ReadStore::open(&self.db)?, now_id)
        };
        let out = f(&read);
        *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some((read, id));
        Ok(out)
    }
}
