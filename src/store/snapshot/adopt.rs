//! Starting a view from its rollup, and keeping the rollup.
//!
//! A rollup is used only when the store confirms it: same file (device,
//! inode), same tables and `user_version`, the newest row it counted still
//! there as the same kind at the same time (a loop's newest row may have
//! moved: threadkeeper's no-op collapse, which the recheck follows), the
//! oldest id unchanged, and — unless the file has not changed at all since
//! the rollup was checked against it — the table's row count equal to what
//! the rollup counted plus the rows after it. Anything else is a doubt, and
//! a doubt means counting afresh.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};

use super::figures::TailCount;
use super::rollup::{Doubt, Rollup};
use super::{Reliability, RollupState, StoreView, Stores, group, horizon};
use crate::store::events::{EventStats, KindClass};

/// What the store confirmed of a rollup, brought up to date.
struct Adopted {
    events: EventStats,
    tails: [TailCount; 3],
    threads: super::Group,
    threads_fp: (i64, i64, i64),
    small: Stores,
    reliability: Reliability,
    tailed: u64,
    moved: bool,
}

/// The least time between two saves a long-running view makes on its own.
const SAVE_EVERY: Duration = Duration::from_secs(30);

impl StoreView {
    /// `Ok(Err(doubt))`: the rollup does not describe this store.
    pub(super) fn adopt(
        &mut self,
        r: Rollup,
        stamp: Option<&[u8]>,
        now: i64,
    ) -> rusqlite::Result<Result<RollupState, Doubt>> {
        if self.identity != Some((r.dev, r.ino)) {
            return Ok(Err(Doubt::OtherFile));
        }
        if r.schema != self.read.layout.schema_hash {
            return Ok(Err(Doubt::Schema));
        }
        let wanted = horizon(self.window_days);
        if r.events.horizon_secs < wanted {
            return Ok(Err(Doubt::Horizon));
        }
        if r.events.short_for(now, wanted) {
            return Ok(Err(Doubt::Clock));
        }
        let unchanged = stamp.is_some() && stamp == r.stamp.as_deref();
        let conn = &self.read.conn;
        conn.execute_batch("BEGIN")?;
        let has_events = self.read.layout.has_table("events");
        let result = Self::adopt_locked(conn, has_events, r, unchanged, now, wanted);
        // A read transaction: ending it cannot fail in a way that matters.
        let _ = conn.execute_batch("COMMIT");
        let a = match result? {
            Ok(a) => a,
            Err(doubt) => return Ok(Err(doubt)),
        };
        self.small = a.small;
        self.reliability = a.reliability;
        self.events = a.events;
        [self.notes, self.dialog, self.probe_results] = a.tails;
        (self.threads, self.threads_fingerprint) = (a.threads, a.threads_fp);
        self.unsaved = a.tailed > 0 || a.moved || !unchanged;
        self.checked = stamp.map(<[u8]>::to_vec);
        Ok(Ok(RollupState::Used {
            tailed: a.tailed,
            counted: !unchanged,
        }))
    }

    fn adopt_locked(
        conn: &Connection,
        has_events: bool,
        r: Rollup,
        unchanged: bool,
        now: i64,
        horizon_secs: i64,
    ) -> rusqlite::Result<Result<Adopted, Doubt>> {
        let mut events = r.events;
        if has_events {
            if let Some(doubt) = ends_moved(conn, &events)? {
                return Ok(Err(doubt));
            }
        } else if !events.is_empty() {
            return Ok(Err(Doubt::Schema));
        }
        events.horizon_secs = horizon_secs;
        let mut tailed = 0;
        let mut moved = false;
        if has_events {
            moved = events.recheck_last_rows(conn, now)?;
            tailed = events.tail(conn, now)?;
        }
        events.prune(now);
        let [mut notes, mut dialog, mut probe_results] = r.tails;
        let (mut threads, mut threads_fp) = (r.threads, r.threads_fp);
        if !unchanged {
            if has_events {
                let found: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
                let expected: u64 = events.kinds.iter().map(|k| k.total).sum();
                if found as u64 != expected {
                    return Ok(Err(Doubt::Count {
                        expected,
                        found: found as u64,
                    }));
                }
            }
            for (t, table) in [
                (&mut notes, "notes"),
                (&mut dialog, "dialog_messages"),
                (&mut probe_results, "probe_results"),
            ] {
                *t = TailCount::default();
                t.refresh(conn, table, false)?;
            }
            threads = group(conn, "threads", "state", &["active", "idle", "closed"])?;
            threads_fp = Self::threads_fingerprint(conn)?;
        }
        let mut small = Stores::default();
        let mut reliability = Reliability::default();
        Self::refresh_small(conn, &mut small, &mut reliability)?;
        small.notes = notes.count;
        small.dialog = dialog.count;
        small.probe_results = probe_results.count;
        Ok(Ok(Adopted {
            events,
            tails: [notes, dialog, probe_results],
            threads,
            threads_fp,
            small,
            reliability,
            tailed,
            moved,
        }))
    }

    /// Keep the rollup, if this view keeps one and anything moved since it
    /// was last kept. Returns whether it wrote.
    pub fn save_rollup(&mut self) -> std::io::Result<bool> {
        let (Some(dir), Some((dev, ino))) = (self.cache.clone(), self.identity) else {
            return Ok(false);
        };
        if !self.unsaved {
            return Ok(false);
        }
        let r = Rollup {
            path: std::mem::take(&mut self.key),
            dev,
            ino,
            stamp: self.checked.clone(),
            schema: self.read.layout.schema_hash,
            events: std::mem::take(&mut self.events),
            tails: [self.notes, self.dialog, self.probe_results],
            threads: std::mem::take(&mut self.threads),
            threads_fp: self.threads_fingerprint,
        };
        let saved = r.save(&dir);
        self.key = r.path;
        self.events = r.events;
        self.threads = r.threads;
        saved?;
        self.unsaved = false;
        self.saved_at = Some(Instant::now());
        Ok(true)
    }

    /// A long-running view keeps its rollup at most every [`SAVE_EVERY`]
    /// while the figures move, so a restart begins close to where it was.
    pub fn rollup_due(&self) -> bool {
        self.cache.is_some()
            && self.unsaved
            && self.saved_at.is_none_or(|t| t.elapsed() >= SAVE_EVERY)
    }
}

/// The rollup's newest row gone or another row now, or its oldest gone.
fn ends_moved(conn: &Connection, events: &EventStats) -> rusqlite::Result<Option<Doubt>> {
    if let Some((kind, at, class)) = events.high_water_row() {
        let row: Option<(Vec<u8>, i64)> = conn
            .query_row(
                "SELECT kind, created_at FROM events WHERE id=?1",
                [events.high_water],
                |r| {
                    let kind = r.get_ref(0)?.as_bytes().map(<[u8]>::to_vec).ok();
                    Ok((kind.unwrap_or_default(), r.get(1)?))
                },
            )
            .optional()?;
        let same =
            row.is_some_and(|(k, t)| k == kind.as_bytes() && (t == at || class == KindClass::Loop));
        if !same {
            return Ok(Some(Doubt::HighWater));
        }
    }
    let min: i64 = conn.query_row("SELECT COALESCE(MIN(id),0) FROM events", [], |r| r.get(0))?;
    Ok((min != events.min_id).then_some(Doubt::Lowest))
}
