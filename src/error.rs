//! Errors written for the operator: what was wrong, the bad value quoted,
//! and what would be right. The binary prints `Display` as-is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot locate the threadkeeper store: no --db, no THREADKEEPER_DB, no [store].db in the config, and no $HOME to find ~/.threadkeeper/db.sqlite under; name it with --db PATH or THREADKEEPER_DB=PATH"
    )]
    NoStoreLocation,

    #[error("no threadkeeper database at {path}: {hint}", path = .path.display())]
    NoDatabase { path: PathBuf, hint: &'static str },

    #[error(
        "directory {dir} does not exist (database path {path}); create it or pass --db with an existing directory",
        dir = .dir.display(), path = .path.display()
    )]
    NoDirectory { dir: PathBuf, path: PathBuf },

    #[error("{path} is not an SQLite database (is it the right file?)", path = .path.display())]
    NotSqlite { path: PathBuf },

    #[error("{path} is corrupt: {detail}; restore it from a backup or run `sqlite3 {path} .recover`", path = .path.display())]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "{path} is an SQLite database but not a threadkeeper store ({why}); check --db or THREADKEEPER_DB",
        path = .path.display()
    )]
    NotThreadkeeper { path: PathBuf, why: String },

    #[error("{path} is read-only ({why}); this command needs to write. Make it writable or use a read-only command such as `status`", path = .path.display())]
    ReadOnly { path: PathBuf, why: String },

    #[error("{path} stayed locked by another writer for the whole busy timeout; nothing was changed, try again when it is free", path = .path.display())]
    Locked { path: PathBuf },

    #[error(
        "{path} was replaced by another file while keeper-tui had it open (a restore by `mv`?): nothing was written; writing resumes once the new file has been opened and reads cleanly",
        path = .path.display()
    )]
    StoreReplaced { path: PathBuf },

    #[error(
        "{path} was removed or renamed while keeper-tui had it open: nothing is written until a store is back at that path",
        path = .path.display()
    )]
    StoreGone { path: PathBuf },

    #[error("{path} is {what}, not a database file; check --db or THREADKEEPER_DB", path = .path.display())]
    NotAFile { path: PathBuf, what: &'static str },

    #[error("{path} is a directory, not a database file", path = .path.display())]
    IsDirectory { path: PathBuf },

    #[error("no claim on session {name:?}: claim it first with `keeper-tui claim {name}`")]
    UnknownClaim { name: String },

    #[error("thread {id:?} does not exist in {path}", path = .path.display())]
    UnknownThread { id: String, path: PathBuf },

    #[error("{path} has user_version {found}, newer than any threadkeeper keeper-tui knows (5); refusing to touch it", path = .path.display())]
    TooNew { path: PathBuf, found: i64 },

    #[error("database {path}: {source}", path = .path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("config {path}: {message}", path = .path.display())]
    Config { path: PathBuf, message: String },

    #[error("{0}")]
    Io(String),

    #[error("{0}")]
    Refused(String),

    /// The command line asked for something that does not go together.
    #[error("{0}")]
    Usage(String),

    /// keeper-tui is stopping: a pass that had not started acting gave up.
    #[error("keeper-tui is shutting down: {0}")]
    ShuttingDown(&'static str),

    #[error("engine stopped before answering")]
    EngineGone,
}

impl Error {
    /// Exit status for the binary, one rule for every verb: 2 for bad input
    /// (a usage error; a store, config, thread or claim named that is not
    /// there or not what it should be), 1 for a refusal or a failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::UnknownThread { .. }
            | Error::UnknownClaim { .. }
            | Error::Usage(_)
            | Error::NoStoreLocation
            | Error::NoDatabase { .. }
            | Error::NoDirectory { .. }
            | Error::NotSqlite { .. }
            | Error::NotThreadkeeper { .. }
            | Error::NotAFile { .. }
            | Error::IsDirectory { .. }
            | Error::Config { .. } => 2,
            _ => 1,
        }
    }

    /// Classify an SQLite failure on `path` into the operator's words.
    pub fn from_sqlite(path: &std::path::Path, err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        if let rusqlite::Error::SqliteFailure(e, ref msg) = err {
            match e.code {
                ErrorCode::NotADatabase => return Error::NotSqlite { path },
                ErrorCode::DatabaseCorrupt => {
                    return Error::Corrupt {
                        path,
                        detail: msg
                            .clone()
                            .unwrap_or_else(|| "malformed database image".into()),
                    };
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return Error::Locked { path };
                }
                ErrorCode::ReadOnly => {
                    return Error::ReadOnly {
                        path,
                        why: msg
                            .clone()
                            .unwrap_or_else(|| "SQLite refused the write".into()),
                    };
                }
                _ => {}
            }
        }
        Error::Sqlite { path, source: err }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
