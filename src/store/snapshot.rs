//! Stores / loops / outcomes / reliability: the figures threadkeeper
//! 0.8.1's `mp_dashboard(window_days=W)` computes, built once from the file
//! and then refreshed from what changed. Figures are computed in memory for
//! any `now`, so sliding windows need no query at all.

mod adopt;
mod compute;
mod figures;
mod rollup;
pub use self::figures::*;
use self::figures::{TailCount, group, missing_is_none, scalar};
pub use self::rollup::Doubt;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension};

use super::ReadStore;
use super::events::{EventStats, HOUR};
use crate::error::{Error, Result};

const DAY: i64 = 86_400;

/// threadkeeper 0.8.1's loop labels, in its order; other `*_pass` kinds
/// follow, labelled by their kind without `_pass`.
const KNOWN_LOOPS: &[(&str, &str)] = &[
    ("ingest", "ingest_pass"),
    ("shadow", "shadow_review_pass"),
    ("extract", "extract_pass"),
    ("candidate", "candidate_review_pass"),
    ("curator", "curator_pass"),
    ("probe", "probe_pass"),
    ("evolve", "evolve_review_pass"),
];

pub fn loop_label(kind: &str) -> String {
    KNOWN_LOOPS.iter().find(|(_, k)| *k == kind).map_or_else(
        || kind.trim_end_matches("_pass").to_string(),
        |(l, _)| (*l).to_string(),
    )
}

/// The live view of one store: a read-only connection, the event tail and
/// the cached counts. `refresh` brings it up to date with the file.
pub struct StoreView {
    read: ReadStore,
    /// `(device, inode)` of the file when opened: an open connection keeps
    /// reading a deleted or replaced file, so refresh compares this first.
    identity: Option<(u64, u64)>,
    window_days: u32,
    events: EventStats,
    threads: Group,
    /// `(MAX(rowid), MAX(last_touched_at))`: every threadkeeper transition
    /// moves one of them, so an unchanged pair means unchanged counts.
    threads_fingerprint: (i64, i64, i64),
    notes: TailCount,
    dialog: TailCount,
    probe_results: TailCount,
    small: Stores,
    reliability: Reliability,
    /// When the tailed tables were last counted in full on a commit that
    /// added no events; at most once a `RECOUNT_EVERY`, so keeper's own
    /// small writes (its lease, every few seconds) do not each cost one.
    recounted_at: Option<Instant>,
    /// Where the rollup is kept (`None`: it is not).
    cache: Option<PathBuf>,
    /// The store's canonical path: the rollup's key.
    key: Vec<u8>,
    /// The file's stamp when every figure was last checked against the
    /// whole file; cleared by the next partial read.
    checked: Option<Vec<u8>>,
    rollup: RollupState,
    /// Figures moved since the rollup was loaded or saved.
    unsaved: bool,
    saved_at: Option<Instant>,
}

/// How this view started, as far as the rollup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupState {
    /// No cache directory: counted from the store.
    Off,
    /// None kept yet for this store: counted from the store.
    Missing,
    /// Started from the rollup and read `tailed` newer events; `counted`:
    /// the store had changed since, so its row counts were checked.
    Used { tailed: u64, counted: bool },
    /// The rollup could not be used (why), so the store was counted afresh.
    Redone(Doubt),
}

/// The least time between two full recounts a refresh may do on its own.
const RECOUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

fn horizon(window_days: u32) -> i64 {
    i64::from(window_days.max(30)) * DAY
}

impl StoreView {
    /// A view counted from the store alone, keeping no rollup.
    pub fn open(path: &Path, window_days: u32) -> Result<Self> {
        Self::open_cached(path, window_days, None)
    }

    /// A view that starts from the rollup kept in `cache` when the store
    /// confirms it, and counts afresh otherwise.
    pub fn open_cached(path: &Path, window_days: u32, cache: Option<&Path>) -> Result<Self> {
        let identity = super::file_id(path);
        // Before any read: a stamp equal to it later means no commit since.
        let stamp = rollup::stamp(path);
        let read = ReadStore::open(path)?;
        let key = std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .into_os_string()
            .into_encoded_bytes();
        let mut view = StoreView {
            identity,
            read,
            window_days: window_days.max(1),
            events: EventStats::new(horizon(window_days)),
            threads: Vec::new(),
            threads_fingerprint: (-1, -1, -1),
            notes: TailCount::default(),
            dialog: TailCount::default(),
            probe_results: TailCount::default(),
            small: Stores::default(),
            reliability: Reliability::default(),
            recounted_at: None,
            cache: cache.map(Path::to_path_buf),
            key,
            checked: None,
            rollup: RollupState::Off,
            unsaved: false,
            saved_at: None,
        };
        let now = super::now_unix();
        if let Some(dir) = cache {
            view.rollup = match rollup::Rollup::load(dir, &view.key) {
                Ok(None) => RollupState::Missing,
                Err(doubt) => RollupState::Redone(doubt),
                Ok(Some(r)) => match view.adopt(r, stamp.as_deref(), now) {
                    Ok(Ok(state)) => {
                        view.rollup = state;
                        return Ok(view);
                    }
                    Ok(Err(doubt)) => RollupState::Redone(doubt),
                    Err(e) => return Err(Error::from_sqlite(path, e)),
                },
            };
        }
        view.count_afresh(now)?;
        view.checked = stamp;
        Ok(view)
    }

    /// Everything from the store, in one read, holding to the second the
    /// hours the figures at `now` will ask for.
    fn count_afresh(&mut self, now: i64) -> Result<RefreshStats> {
        self.events = EventStats::new(horizon(self.window_days));
        let cuts = self.cuts(now);
        self.events.hold_while_tailing(&cuts);
        self.threads_fingerprint = (-1, -1, -1);
        self.notes = TailCount::default();
        self.dialog = TailCount::default();
        self.probe_results = TailCount::default();
        let mut stats = self.refresh(now)?;
        stats.rebuilt = true;
        Ok(stats)
    }

    /// Every time a figure at `now` starts or ends a count: the window's
    /// start, 30 days back, and the 24 hourly bars.
    fn cuts(&self, now: i64) -> Vec<i64> {
        let mut cuts = vec![now - i64::from(self.window_days) * DAY, now - 30 * DAY];
        cuts.extend((0..=24).map(|h| now - h * HOUR));
        cuts
    }

    pub fn rollup_state(&self) -> &RollupState {
        &self.rollup
    }

    pub fn path(&self) -> &Path {
        &self.read.path
    }

    pub fn conn(&self) -> &Connection {
        &self.read.conn
    }

    pub fn layout(&self) -> &super::Layout {
        &self.read.layout
    }

    /// Another file (or none) is at the path now.
    pub fn file_replaced(&self) -> bool {
        super::file_id(&self.read.path) != self.identity
    }

    /// Bring the view up to date: tail new events, recount what they (or
    /// the cheap fingerprints) say changed. A read transaction keeps every
    /// figure from the same moment of the file.
    pub fn refresh(&mut self, now: i64) -> Result<RefreshStats> {
        let path = self.read.path.clone();
        match super::file_id(&path) {
            None => {
                return Err(Error::NoDatabase {
                    path,
                    hint: "the file was removed while keeper-tui was reading it; waiting for it to come back",
                });
            }
            Some(id) if Some(id) != self.identity => {
                // Replaced (restored from backup, moved into place): start over.
                let new = StoreView::open_cached(&path, self.window_days, self.cache.as_deref())?;
                *self = new;
                return Ok(RefreshStats {
                    rebuilt: true,
                    replaced: true,
                    ..RefreshStats::default()
                });
            }
            Some(_) => {}
        }
        self.refresh_inner(now, true)
            .map_err(|e| Error::from_sqlite(&path, e))
    }

    /// Count the tailed tables in full and start over if a count differs
    /// from the tail's: rows deleted from the middle in a commit that also
    /// added some. Costs a `COUNT(*)` of events and notes (about 10 ms each
    /// per million rows), so it runs on the minute, after changes only.
    pub fn verify(&mut self, now: i64) -> Result<bool> {
        let path = self.read.path.clone();
        let sql = |e| Error::from_sqlite(&path, e);
        let count = |table: &str| -> rusqlite::Result<Option<i64>> {
            self.read
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .optional()
                .or_else(missing_is_none)
        };
        let events_tailed: u64 = self.events.kinds.iter().map(|k| k.total).sum();
        let drifted = count("events")
            .map_err(sql)?
            .is_some_and(|n| n as u64 != events_tailed)
            || count("notes")
                .map_err(sql)?
                .is_some_and(|n| n != self.notes.count);
        if drifted {
            self.rebuild(now)?;
        }
        Ok(drifted)
    }

    /// Throw everything away and count from scratch.
    pub fn rebuild(&mut self, now: i64) -> Result<RefreshStats> {
        let stamp = rollup::stamp(&self.read.path);
        let stats = self.count_afresh(now)?;
        self.checked = stamp;
        Ok(stats)
    }

    /// [`StoreView::refresh`] after commits that were all keeper-tui's own:
    /// they add rows and never delete any, so there is nothing to recount.
    pub fn refresh_after_own_writes(&mut self, now: i64) -> Result<RefreshStats> {
        if super::file_id(&self.read.path) != self.identity {
            return self.refresh(now);
        }
        self.refresh_inner(now, false)
            .map_err(|e| Error::from_sqlite(&self.read.path, e))
    }

    fn refresh_inner(&mut self, now: i64, others_wrote: bool) -> rusqlite::Result<RefreshStats> {
        let conn = &self.read.conn;
        let revision = self.events.revision;
        let may_recount = others_wrote
            && self
                .recounted_at
                .is_none_or(|t| t.elapsed() >= RECOUNT_EVERY);
        conn.execute_batch("BEGIN")?;
        let result = Self::refresh_locked(
            conn,
            self.read.layout.has_table("events"),
            may_recount,
            now,
            &mut self.events,
            &mut self.threads,
            &mut self.threads_fingerprint,
            [&mut self.notes, &mut self.dialog, &mut self.probe_results],
            &mut self.small,
            &mut self.reliability,
        );
        // A read transaction: ending it cannot fail in a way that matters.
        let _ = conn.execute_batch("COMMIT");
        if may_recount && result.as_ref().is_ok_and(|s| s.new_events == 0) {
            self.recounted_at = Some(Instant::now());
        }
        self.checked = None;
        if self.events.revision != revision
            || result
                .as_ref()
                .is_ok_and(|s| s.rebuilt || s.threads_recounted)
        {
            self.unsaved = true;
        }
        result
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "split borrows of one view's fields"
    )]
    fn refresh_locked(
        conn: &Connection,
        has_events: bool,
        may_recount: bool,
        now: i64,
        events: &mut EventStats,
        threads: &mut Group,
        threads_fp: &mut (i64, i64, i64),
        [notes, dialog, probe_results]: [&mut TailCount; 3],
        small: &mut Stores,
        reliability: &mut Reliability,
    ) -> rusqlite::Result<RefreshStats> {
        let mut stats = RefreshStats::default();
        if has_events {
            Self::refresh_events(conn, now, events, threads_fp, &mut stats)?;
        }
        Self::refresh_counts(conn, events, threads, threads_fp, &mut stats)?;
        // threadkeeper records an event with every row it adds: commits
        // that added none deleted or changed rows (its consolidate removes
        // duplicate notes from the middle, where the tail cannot see).
        let verify = may_recount && stats.new_events == 0;
        notes.refresh(conn, "notes", verify)?;
        dialog.refresh(conn, "dialog_messages", verify)?;
        probe_results.refresh(conn, "probe_results", verify)?;
        Self::refresh_small(conn, small, reliability)?;
        small.notes = notes.count;
        small.dialog = dialog.count;
        small.probe_results = probe_results.count;
        Ok(stats)
    }

    fn refresh_events(
        conn: &Connection,
        now: i64,
        events: &mut EventStats,
        threads_fp: &mut (i64, i64, i64),
        stats: &mut RefreshStats,
    ) -> rusqlite::Result<()> {
        let (min_id, max_id): (i64, i64) = conn.query_row(
            "SELECT COALESCE((SELECT MIN(id) FROM events),0), COALESCE((SELECT MAX(id) FROM events),0)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if (events.high_water > 0 && (min_id != events.min_id || max_id < events.high_water))
            || (events.high_water == 0 && !events.kinds.is_empty())
            || events.short_for(now, events.horizon_secs)
        {
            // Rows were deleted (0.21's retention), the file was replaced,
            // or the clock stepped back past the hours still held.
            *events = EventStats::new(events.horizon_secs);
            *threads_fp = (-1, -1, -1);
            stats.rebuilt = true;
        }
        events.min_id = min_id;
        events.threads_touched = false;
        // Before the tail: a collapse may have moved the newest row of a
        // loop that the tail is about to replace with an even newer row.
        events.recheck_last_rows(conn, now)?;
        stats.new_events = events.tail(conn, now)?;
        events.prune(now);
        Ok(())
    }

    fn refresh_counts(
        conn: &Connection,
        events: &EventStats,
        threads: &mut Group,
        threads_fp: &mut (i64, i64, i64),
        stats: &mut RefreshStats,
    ) -> rusqlite::Result<()> {
        let fp = Self::threads_fingerprint(conn)?;
        if events.threads_touched || fp != *threads_fp {
            *threads = group(conn, "threads", "state", &["active", "idle", "closed"])?;
            *threads_fp = fp;
            stats.threads_recounted = true;
        }
        Ok(())
    }

    /// The newest row, the newest touch, and how many threads share that
    /// second: a second thread touched in the same second as the first
    /// moves the third (all three from `idx_threads_touch`).
    fn threads_fingerprint(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
        conn.query_row(
            "SELECT COALESCE((SELECT MAX(rowid) FROM threads),0), \
             COALESCE((SELECT MAX(last_touched_at) FROM threads),0), \
             (SELECT COUNT(*) FROM threads WHERE last_touched_at = \
                (SELECT MAX(last_touched_at) FROM threads))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn refresh_small(
        conn: &Connection,
        small: &mut Stores,
        reliability: &mut Reliability,
    ) -> rusqlite::Result<()> {
        small.distill = scalar(conn, "SELECT COUNT(*) FROM distill")?;
        small.concepts = scalar(conn, "SELECT COUNT(*) FROM concepts")?;
        small.skills_by_tier = group(
            conn,
            "skill_usage",
            "tier",
            &["hypothesis", "observed", "validated"],
        )?;
        small.claims_by_tier = group(
            conn,
            "user_dialectic",
            "tier",
            &["hypothesis", "observed", "validated", "disputed"],
        )?;
        small.extract_candidates = group(
            conn,
            "extract_candidates",
            "status",
            &["pending", "accepted", "rejected"],
        )?;
        small.evolve = group(
            conn,
            "evolve",
            "COALESCE(status,'pending')",
            &["pending", "promoted", "dismissed"],
        )?;
        small.probes = scalar(conn, "SELECT COUNT(*) FROM probes")?;
        small.tasks_running = scalar(conn, "SELECT COUNT(*) FROM tasks WHERE ended_at IS NULL")?;
        small.tasks_total = scalar(conn, "SELECT COUNT(*) FROM tasks")?;
        reliability.weak_categories = scalar(
            conn,
            "SELECT COUNT(*) FROM reliability \
             WHERE fail_rate_30d IS NOT NULL AND attempts>=3 AND fail_rate_30d>0",
        )?;
        reliability.untested_categories = scalar(
            conn,
            "SELECT COUNT(DISTINCT p.category) FROM probes p \
             LEFT JOIN reliability r ON r.category=p.category \
             WHERE p.enabled=1 AND (r.category IS NULL OR r.attempts=0)",
        )?;
        Ok(())
    }
}
