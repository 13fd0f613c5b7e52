//! The threadkeeper core layout, for when keeper-tui has to create a store
//! itself. Table definitions, indexes and the notes FTS triggers are the
//! ones threadkeeper 0.8.1 creates (its later `ADD COLUMN` migrations
//! included), so threadkeeper 0.8.1 and 0.21.0 both open and migrate the
//! file as if they had made it. `user_version` is left at 0, as 0.8.1 does.

use rusqlite::Connection;

const CORE: &str = r"
CREATE TABLE IF NOT EXISTS threads (
    id              TEXT PRIMARY KEY,
    question        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK(state IN ('active','idle','closed')),
    parent_id       TEXT REFERENCES threads(id),
    outcome         TEXT,
    last_move       TEXT,
    depth           INTEGER NOT NULL DEFAULT 0,
    opened_at       INTEGER NOT NULL,
    last_touched_at INTEGER NOT NULL
);
ALTER TABLE threads ADD COLUMN claimed_at INTEGER;
ALTER TABLE threads ADD COLUMN claimed_by_cid TEXT;
CREATE TABLE IF NOT EXISTS notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id   TEXT REFERENCES threads(id),
    content     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    session_id  TEXT,
    embedding   BLOB,
    embed_backend TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id            TEXT PRIMARY KEY,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    client        TEXT,
    write_origin  TEXT NOT NULL DEFAULT 'foreground'
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT,
    summary     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    session_id      TEXT PRIMARY KEY,
    last_event_id   INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS presence (
    session_id      TEXT PRIMARY KEY,
    client          TEXT,
    started_at      INTEGER NOT NULL,
    heartbeat_at    INTEGER NOT NULL,
    current_thread  TEXT,
    last_action     TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    id            TEXT PRIMARY KEY,
    pid           INTEGER NOT NULL,
    parent_cid    TEXT,
    spawned_cid   TEXT,
    cwd           TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    return_code   INTEGER
);
ALTER TABLE tasks ADD COLUMN rss_kb INTEGER;
ALTER TABLE tasks ADD COLUMN rss_updated_at INTEGER;
CREATE INDEX IF NOT EXISTS idx_notes_thread   ON notes(thread_id);
CREATE INDEX IF NOT EXISTS idx_notes_created  ON notes(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_threads_state  ON threads(state);
CREATE INDEX IF NOT EXISTS idx_threads_touch  ON threads(last_touched_at DESC);
CREATE INDEX IF NOT EXISTS idx_events_created ON events(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_events_session ON events(session_id);
CREATE INDEX IF NOT EXISTS idx_presence_hb    ON presence(heartbeat_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_started  ON tasks(started_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_parent   ON tasks(parent_cid);
CREATE INDEX IF NOT EXISTS idx_tasks_running  ON tasks(ended_at) WHERE ended_at IS NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    content, content='notes', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS notes_fts_ai AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS notes_fts_ad AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts(notes_fts, rowid, content) VALUES('delete', old.id, old.content);
END;
";

/// Create the core layout in a brand-new file, in WAL mode like
/// threadkeeper. Runs in one transaction so a failure leaves no half store.
pub fn create_core(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(&format!("BEGIN IMMEDIATE;{CORE}COMMIT;"))
}
