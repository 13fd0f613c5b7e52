//! The one writer connection, and what it does when the file under it
//! changes.
//!
//! An operator may restore a backup with `cp backup N && mv N S` while the
//! engine runs. The writer connection keeps the old, unlinked inode while
//! the `-wal` and `-shm` files at the path now pair with the new main file:
//! writing through it corrupts the restored store for every other client
//! (and, with none, every write goes to a file nobody will read again). So
//! before every write the path must still name the file the connection
//! opened; if not, the old connection is closed and that write is refused
//! (it was planned from the old file); the next write opens and probes the
//! file then at the path. Closing promptly matters too: while any
//! connection holds the old file, its `-wal` and `-shm` stay beside the new
//! one and mislead every client that opens it, so the engine's store view
//! calls [`WriteStore::let_go_if_replaced`] as soon as it sees the swap.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::{
    Layout, check_existing_file, check_located, file_id, parent_dir, probe_threadkeeper, schema,
};
use crate::error::{Error, Result};

/// Same patience as threadkeeper's own connections.
/// Who committed to the store since the writer was last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    /// Nobody, or this writer only rows nothing shows (the lease's).
    Nothing,
    /// This writer alone.
    OwnOnly,
    /// Another connection, in this process or another (or the writer
    /// could not tell).
    Others,
    /// Not known yet: the writer was busy writing.
    Unknown,
}

const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

type FileId = Option<(u64, u64)>;

/// The one writer. Every logical change is one short `BEGIN IMMEDIATE`
/// transaction; SQLite's busy handler retries while another process writes.
/// Shared by the loops and the operator's commands: its lock is held only
/// for one transaction, never while a pass acts on the world.
pub struct WriteStore {
    pub path: PathBuf,
    /// `events.session_id` for keeper's own rows.
    pub session_id: String,
    conn: Mutex<Writer>,
}

struct Writer {
    /// Open the file at the path again on the next write (one-shot
    /// commands); the engine instead reopens through [`WriteStore::reopen`]
    /// once every connection of its own to the old file is closed.
    auto_reopen: bool,
    /// `None` after the file went away and could not be opened again.
    conn: Option<Connection>,
    /// The file `conn` has open.
    id: FileId,
    layout: Layout,
    /// `PRAGMA data_version` when last asked: it moves only for commits of
    /// other connections, which tells the view a change was not all ours.
    seen_version: Option<i64>,
    /// This writer's commits others may see (all but the quiet ones), and
    /// how many there were when last asked.
    writes: u64,
    seen_writes: u64,
}

/// Open `path` for writing, creating a core store when `create` and it is
/// missing, and insist it is threadkeeper's.
fn connect(path: &Path, create: bool) -> Result<(Connection, Layout)> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::from_sqlite(path, e))?;
    let sql = |e| Error::from_sqlite(path, e);
    conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(sql)?;
    if create {
        schema::create_core(&conn).map_err(sql)?;
    } else {
        probe_threadkeeper(path, &conn)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    conn.pragma_update(None, "cache_size", -super::CACHE_KIB)
        .map_err(sql)?;
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(sql)? {
        return Err(Error::ReadOnly {
            path: path.into(),
            why: "SQLite opened it read-only".into(),
        });
    }
    let layout = probe_threadkeeper(path, &conn)?;
    // Reading copes with a thin store; writing needs the events every
    // change is recorded in.
    if !layout.has_table("events") {
        return Err(Error::NotThreadkeeper {
            path: path.into(),
            why: "it has no `events` table, which every change of keeper-tui's is recorded in"
                .into(),
        });
    }
    Ok((conn, layout))
}

/// Copy what we just committed from the WAL into the main file, without
/// waiting for anyone. A WAL whose frames are all copied back is one that
/// new connections read past, so a file moved in over this one later never
/// sees our frames as its own. A reader holding an older snapshot leaves
/// the rest for the next time.
fn settle(conn: &Connection) {
    let _ = conn.busy_timeout(Duration::ZERO);
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let _ = conn.busy_timeout(WRITE_BUSY_TIMEOUT);
}

impl WriteStore {
    /// Open an existing store for writing; a missing file is an error, so a
    /// mistyped `--db` never leaves a stray new store behind.
    pub fn open_existing(path: &Path, session_id: &str) -> Result<Self> {
        check_existing_file(path)?;
        Self::open(path, session_id)
    }

    /// Open the store for writing, creating a threadkeeper-compatible core
    /// store when the file does not exist yet (its directory must).
    pub fn open(path: &Path, session_id: &str) -> Result<Self> {
        check_located(path)?;
        let exists = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Err(Error::IsDirectory { path: path.into() }),
            Ok(m) if !m.is_file() => {
                return Err(Error::NotAFile {
                    path: path.into(),
                    what: crate::sys::files::kind(&m),
                });
            }
            Ok(m) => {
                if m.permissions().readonly() {
                    return Err(Error::ReadOnly {
                        path: path.into(),
                        why: "the file has no write permission".into(),
                    });
                }
                if !super::dir_writable(path) {
                    return Err(Error::ReadOnly {
                        path: path.into(),
                        why: format!(
                            "its directory {} is not writable, and SQLite writes its -wal and -shm files there",
                            parent_dir(path).display()
                        ),
                    });
                }
                true
            }
            Err(_) => {
                let dir = parent_dir(path);
                if !dir.is_dir() {
                    return Err(Error::NoDirectory {
                        dir,
                        path: path.into(),
                    });
                }
                false
            }
        };
        let (conn, layout) = connect(path, !exists)?;
        // Opened before the view reads the store: any commit the view
        // might not have seen moves the version past this one.
        let seen_version = data_version(&conn);
        Ok(WriteStore {
            path: path.into(),
            conn: Mutex::new(Writer {
                auto_reopen: true,
                id: file_id(path),
                conn: Some(conn),
                layout,
                seen_version,
                writes: 0,
                seen_writes: 0,
            }),
            session_id: session_id.into(),
        })
    }

    /// The layout of the file the writer has open.
    pub fn layout(&self) -> Layout {
        self.lock().layout.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // A panic inside a transaction rolled it back (the guard dropped
        // it); the connection itself is still good.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave reopening after a swap to [`WriteStore::reopen`]: as long as
    /// any connection still holds the old file, its `-shm` (which belongs
    /// to the path) would mislead a new one about the new file.
    pub fn reopen_by_hand(&self) {
        self.lock().auto_reopen = false;
    }

    /// Open the file now at the path, if the writer has none.
    pub fn reopen(&self) -> Result<()> {
        let mut w = self.lock();
        if w.conn.is_some() {
            return Ok(());
        }
        let (conn, layout) = connect(&self.path, false)?;
        w.conn = Some(conn);
        w.id = file_id(&self.path);
        w.layout = layout;
        w.seen_version = None;
        tracing::warn!("{}: opened the new file for writing", self.path.display());
        Ok(())
    }

    /// Whether a connection other than this writer committed since the
    /// last answer. A closed writer or a failed read answers yes. A writer
    /// busy writing cannot be asked without waiting for it: the question
    /// stays open, and the next answer covers the time since the last one.
    pub fn others_wrote(&self) -> Wrote {
        let Ok(mut w) = self.conn.try_lock() else {
            return Wrote::Unknown;
        };
        let now = w.conn.as_ref().and_then(data_version);
        let before = std::mem::replace(&mut w.seen_version, now);
        let writes = w.writes;
        let own = std::mem::replace(&mut w.seen_writes, writes) != writes;
        if now.is_none() || before != now {
            Wrote::Others
        } else if own {
            Wrote::OwnOnly
        } else {
            Wrote::Nothing
        }
    }

    /// Close the connection if its file is no longer at the path. The
    /// next write opens whatever is there then.
    pub fn let_go_if_replaced(&self) -> bool {
        let mut w = self.lock();
        if w.conn.is_some() && w.id != file_id(&self.path) {
            w.conn = None;
            tracing::warn!(
                "{}: the file was replaced or removed; the writer let go of it",
                self.path.display()
            );
            return true;
        }
        false
    }

    /// The writer, on the file at the path. A connection whose file was
    /// replaced or removed is closed and this write refused; with none,
    /// the file at the path is opened and probed.
    fn current(&self) -> Result<MutexGuard<'_, Writer>> {
        let mut w = self.lock();
        let now = file_id(&self.path);
        let path = self.path.clone();
        if w.conn.is_some() {
            if w.id == now {
                return Ok(w);
            }
            w.conn = None;
            return Err(if now.is_some() {
                Error::StoreReplaced { path }
            } else {
                Error::StoreGone { path }
            });
        }
        if now.is_none() {
            return Err(Error::StoreGone { path });
        }
        if !w.auto_reopen {
            return Err(Error::StoreReplaced { path });
        }
        drop(w);
        self.reopen()?;
        Ok(self.lock())
    }

    /// Use the writer connection outside a transaction (a single statement
    /// in autocommit), with a different busy timeout (`None`: the usual).
    pub fn with_conn<T>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.use_conn(timeout, true, f)
    }

    /// [`WriteStore::with_conn`] for rows no figure or panel shows (the
    /// lease's): the view need not read the store again after them.
    pub fn with_conn_quiet<T>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.use_conn(timeout, false, f)
    }

    fn use_conn<T>(
        &self,
        timeout: Option<Duration>,
        seen: bool,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut w = self.current()?;
        let conn = w.conn.as_ref().ok_or_else(|| Error::StoreGone {
            path: self.path.clone(),
        })?;
        let sql = |e| Error::from_sqlite(&self.path, e);
        // Only a use that wrote leaves pages of ours to fold back.
        let before = conn.total_changes();
        if let Some(t) = timeout {
            conn.busy_timeout(t).map_err(sql)?;
        }
        let out = f(conn);
        if timeout.is_some() {
            conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(sql)?;
        }
        let wrote = conn.total_changes() != before;
        if wrote {
            settle(conn);
        }
        if wrote && seen {
            w.writes += 1;
        }
        out.map_err(sql)
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction: all of it lands or
    /// none. The file is checked again once the lock is held, so a file
    /// swapped in while waiting for it gets nothing.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let path = &self.path;
        let mut w = self.current()?;
        let id = w.id;
        let conn = w
            .conn
            .as_mut()
            .ok_or_else(|| Error::StoreGone { path: path.clone() })?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::from_sqlite(path, e))?;
        if file_id(path) != id {
            drop(tx);
            drop(w);
            self.let_go_if_replaced();
            return Err(Error::StoreReplaced { path: path.clone() });
        }
        let out = f(&tx).map_err(|e| Error::from_sqlite(path, e))?;
        tx.commit().map_err(|e| Error::from_sqlite(path, e))?;
        settle(conn);
        // Counted while the lock is held: whoever asks next sees it.
        w.writes += 1;
        Ok(out)
    }
}

fn data_version(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
}
