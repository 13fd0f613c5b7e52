//! The threadkeeper SQLite store: where it is, how to open it for reading
//! (panels, `status`) and for writing (loops, operator commands), and which
//! threadkeeper layout it has.
//!
//! The file belongs to threadkeeper. Reads go through a read-only connection
//! so a dashboard refresh never writes and never queues behind a writer;
//! writes go through one connection in short `BEGIN IMMEDIATE` transactions.

mod codec;
pub mod events;
pub mod hooks;
pub mod jobs;
pub mod keeper;
pub mod schema;
pub mod seed;
pub mod snapshot;
pub mod tasks;
pub mod threads;
pub mod undo;
pub mod writer;

pub use writer::WriteStore;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::error::{Error, Result};

/// Columns every threadkeeper `threads` table has, 0.8 to 0.21.
const THREAD_COLUMNS: [&str; 4] = ["id", "question", "state", "last_touched_at"];

/// Page cache per connection. SQLite's default (2 MiB) fills up on any
/// count over a big table and stays filled; the pages are in the OS's
/// cache anyway, and a supervisor that idles beside the agents should
/// stay small.
pub(crate) const CACHE_KIB: i64 = 512;

/// threadkeeper 0.21 writes 5 and refuses anything newer; so do we.
const NEWEST_KNOWN_USER_VERSION: i64 = 5;
/// A reader under WAL never waits on a writer; this only covers the rare
/// moment a checkpoint or recovery holds the WAL index.
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the store is: `--db`, else `THREADKEEPER_DB`, else
/// `~/.threadkeeper/db.sqlite`; `None` when none of them is known, never a
/// path relative to whatever the current directory happens to be.
pub fn resolve_db_path(
    flag: Option<&Path>,
    env: Option<&str>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(e));
    }
    home.map(|h| h.join(".threadkeeper").join("db.sqlite"))
}

/// An empty path is what `Settings` holds when nothing names the store.
pub(crate) fn check_located(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        Err(Error::NoStoreLocation)
    } else {
        Ok(())
    }
}

/// Which threadkeeper wrote the file, detected by probing tables and
/// columns, never by version numbers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// `daemon_health` or `tasks.role` present.
    #[serde(rename = "threadkeeper_0_21")]
    Threadkeeper021,
    /// threadkeeper's wider schema (`verbatim`, `signals`, ...) without 0.21's additions.
    #[serde(rename = "threadkeeper_0_8")]
    Threadkeeper08,
    /// Only the core tables, as keeper-tui creates them.
    Core,
}

impl LayoutKind {
    pub fn describe(self) -> &'static str {
        match self {
            LayoutKind::Threadkeeper021 => "threadkeeper 0.21.x",
            LayoutKind::Threadkeeper08 => "threadkeeper 0.8.x",
            LayoutKind::Core => "core layout",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub kind: LayoutKind,
    pub user_version: i64,
    pub journal_mode: String,
    pub tables: BTreeSet<String>,
    pub thread_columns: BTreeSet<String>,
    pub note_columns: BTreeSet<String>,
    /// threadkeeper's tables, indexes, views and triggers as written, and
    /// user_version: a rollup made under another schema is not trusted.
    /// keeper-tui's own tables (made as they are first needed) do not count.
    #[serde(skip)]
    pub schema_hash: u64,
}

impl Layout {
    pub fn probe(conn: &Connection) -> rusqlite::Result<Self> {
        let mut stmt =
            conn.prepare("SELECT name FROM sqlite_master WHERE type IN ('table','view')")?;
        let tables = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<BTreeSet<_>>>()?;
        let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let schema_hash = schema_hash(conn, user_version)?;
        let journal_mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let thread_columns = columns(conn, "threads")?;
        let note_columns = columns(conn, "notes")?;
        let task_columns = columns(conn, "tasks")?;
        let kind = if tables.contains("daemon_health") || task_columns.contains("role") {
            LayoutKind::Threadkeeper021
        } else if tables.contains("verbatim") || tables.contains("signals") {
            LayoutKind::Threadkeeper08
        } else {
            LayoutKind::Core
        };
        Ok(Layout {
            kind,
            user_version,
            journal_mode,
            tables,
            thread_columns,
            note_columns,
            schema_hash,
        })
    }

    pub fn has_table(&self, name: &str) -> bool {
        self.tables.contains(name)
    }
}

fn schema_hash(conn: &Connection, user_version: i64) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT type || char(0) || name || char(0) || tbl_name || char(0) || COALESCE(sql,'') \
         FROM sqlite_master WHERE tbl_name NOT LIKE 'keeper!_%' ESCAPE '!' ORDER BY type, name",
    )?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let version = user_version.to_le_bytes();
    let mut parts: Vec<&[u8]> = rows.iter().map(String::as_bytes).collect();
    parts.push(&version);
    Ok(codec::fnv64(&parts))
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<BTreeSet<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    stmt.query_map([table], |r| r.get::<_, String>(0))?
        .collect()
}

/// A read-only view of the store: `mode=ro` plus `query_only`, so nothing
/// this connection runs can write, and a missing file is never created.
pub struct ReadStore {
    pub path: PathBuf,
    pub conn: Connection,
    pub layout: Layout,
}

pub(crate) fn check_existing_file(path: &Path) -> Result<()> {
    check_located(path)?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::IsDirectory { path: path.into() }),
        Ok(m) if !m.is_file() => Err(Error::NotAFile {
            path: path.into(),
            what: crate::sys::files::kind(&m),
        }),
        Ok(_) => Ok(()),
        Err(_) => {
            let dir = parent_dir(path);
            if dir.is_dir() {
                Err(Error::NoDatabase {
                    path: path.into(),
                    hint: "check the path (--db, THREADKEEPER_DB, [store].db); to start an empty store there, add --create to `keeper-tui` or `keeper-tui engine`",
                })
            } else {
                Err(Error::NoDirectory {
                    dir,
                    path: path.into(),
                })
            }
        }
    }
}

pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Probe the layout and insist on a `threads` table: anything else is
/// another application's database and must not be touched.
pub(crate) fn probe_threadkeeper(path: &Path, conn: &Connection) -> Result<Layout> {
    let layout = Layout::probe(conn).map_err(|e| Error::from_sqlite(path, e))?;
    if !layout.has_table("threads") {
        return Err(Error::NotThreadkeeper {
            path: path.into(),
            why: "it has no `threads` table".into(),
        });
    }
    // Another application's `threads` is not threadkeeper's.
    let missing: Vec<&str> = THREAD_COLUMNS
        .iter()
        .copied()
        .filter(|c| !layout.thread_columns.contains(*c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotThreadkeeper {
            path: path.into(),
            why: format!("its `threads` table has no {}", missing.join(", ")),
        });
    }
    if layout.user_version > NEWEST_KNOWN_USER_VERSION {
        return Err(Error::TooNew {
            path: path.into(),
            found: layout.user_version,
        });
    }
    Ok(layout)
}

impl ReadStore {
    /// A WAL store in a directory this user cannot write has no `-shm` to
    /// share and cannot make one: SQLite then refuses even to read. Such a
    /// file is read as it is on disk (`immutable=1`), which is all of it
    /// when no writer left a WAL behind — and no writer can, there.
    pub fn open(path: &Path) -> Result<Self> {
        check_existing_file(path)?;
        match Self::open_with(path, false) {
            Err(Error::ReadOnly { .. } | Error::Sqlite { .. }) if !dir_writable(path) => {
                Self::open_with(path, true)
            }
            other => other,
        }
    }

    fn open_with(path: &Path, immutable: bool) -> Result<Self> {
        let sql = |e| Error::from_sqlite(path, e);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if immutable {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(sql)?;
        conn.busy_timeout(READ_BUSY_TIMEOUT).map_err(sql)?;
        conn.pragma_update(None, "query_only", true).map_err(sql)?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(sql)?;
        let layout = probe_threadkeeper(path, &conn)?;
        Ok(ReadStore {
            path: path.into(),
            conn,
            layout,
        })
    }
}

/// Can this process create files beside `path` (SQLite's `-wal`, `-shm`)?
pub(crate) fn dir_writable(path: &Path) -> bool {
    nix::unistd::access(&parent_dir(path), nix::unistd::AccessFlags::W_OK).is_ok()
}

/// `file:PATH?immutable=1`, with the characters a URI path gives meaning
/// to escaped.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// (device, inode) of the file at `path` now: a connection opened on a file
/// that has since been replaced at the same path (a restore by `mv`) or
/// removed is not the store any more.
pub(crate) fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// First `n` characters (not bytes), the way threadkeeper's Python slices.
pub fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
