//! Aggregates of the `events` table, tailed by `events.id` so each row is
//! read once: per kind a total, the newest row, and rows per hour inside
//! the horizon; the hours a window's edge falls in are read to the second
//! when a figure needs them.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use super::hours::{AUTO_CLOSED_SERIES, ExactHours, HOUR, Second, Series, hour_of, sec_of};
use super::{KindClass, classify};
use crate::store::codec::{Reader, Writer};

/// Everything kept about one event kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindStats {
    pub kind: String,
    pub class: KindClass,
    pub total: u64,
    pub last_at: i64,
    /// Id and time of the newest row, re-read on refresh because
    /// threadkeeper's no-op collapse moves that row's `created_at`.
    pub last_id: i64,
    pub last_row_at: i64,
    /// Rows per hour inside the horizon (loops, outcomes and accepts only).
    pub hours: Series,
}

#[derive(Debug, Clone, Default)]
pub struct EventStats {
    pub high_water: i64,
    pub min_id: i64,
    pub kinds: Vec<KindStats>,
    index: HashMap<Box<[u8]>, usize>,
    /// Threads closed by janitor passes (the sum of their `closed=N`).
    pub auto_closed: Series,
    pub auto_closed_total: u64,
    /// Rows in hours older than `now - horizon_secs` count in totals only.
    pub horizon_secs: i64,
    /// The series hold every row from this hour on: the first hour kept
    /// when the table was first read, raised as hours are let go. A clock
    /// that steps back asks for older hours, which are not there.
    pub complete_from: i64,
    exact: ExactHours,
    /// Set by `tail` when the new rows touch threads (notes, closes, ...).
    pub threads_touched: bool,
    /// Moves with every row read and every row that moved: whether there
    /// is anything new to keep.
    pub revision: u64,
}

/// Parse `closed=N` from a janitor pass summary.
fn closed_count(summary: &[u8]) -> u32 {
    summary
        .strip_prefix(b"closed=")
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn touches_threads(kind: &[u8]) -> bool {
    kind.starts_with(b"note:")
        || matches!(
            kind,
            b"open_thread" | b"close_thread" | b"idle_thread" | b"janitor_pass"
        )
}

fn first_kept_hour(now: i64, horizon_secs: i64) -> i64 {
    hour_of(now - horizon_secs)
}

impl EventStats {
    pub fn new(horizon_secs: i64) -> Self {
        EventStats {
            horizon_secs,
            ..Default::default()
        }
    }

    /// Nothing read yet.
    pub fn is_empty(&self) -> bool {
        self.high_water == 0 && self.kinds.is_empty()
    }

    fn slot(&mut self, kind: &[u8]) -> usize {
        if let Some(&i) = self.index.get(kind) {
            return i;
        }
        let name = String::from_utf8_lossy(kind).into_owned();
        let class = classify(&name);
        self.kinds.push(KindStats {
            kind: name,
            class,
            total: 0,
            last_at: 0,
            last_id: 0,
            last_row_at: 0,
            hours: Series::default(),
        });
        let i = self.kinds.len() - 1;
        self.index.insert(kind.into(), i);
        i
    }

    /// Hours the next tail should record to the second as it reads them
    /// (a first read of the whole table passes the hours the figures will
    /// need, saving a second read of them).
    pub fn hold_while_tailing(&mut self, cuts: &[i64]) {
        if !self.is_empty() {
            return;
        }
        for h in cuts.iter().map(|&c| hour_of(c)) {
            if !self.exact.has(h) {
                self.exact.put(h, Vec::new());
            }
        }
    }

    /// Read every row with `id > high_water` and fold it in. Returns the
    /// number of rows read.
    pub fn tail(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<u64> {
        let keep_from = first_kept_hour(now, self.horizon_secs);
        if self.is_empty() {
            self.complete_from = keep_from;
        }
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, created_at, CASE WHEN kind='janitor_pass' THEN summary END \
             FROM events WHERE id > ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([self.high_water])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let kind = row.get_ref(1)?.as_bytes().unwrap_or(b"");
            let at: i64 = row.get::<_, Option<i64>>(2)?.unwrap_or(0);
            if touches_threads(kind) {
                self.threads_touched = true;
            }
            let closed = row.get_ref(3)?.as_bytes_or_null()?.map(closed_count);
            let i = self.slot(kind);
            let k = &mut self.kinds[i];
            k.total += 1;
            k.last_at = k.last_at.max(at);
            k.last_id = id;
            k.last_row_at = at;
            let kept = hour_of(at) >= keep_from;
            if k.class != KindClass::Other && kept {
                k.hours.add(hour_of(at), 1);
                self.exact.add(i as u32, at, 1);
            }
            if let Some(closed) = closed {
                self.auto_closed_total += u64::from(closed);
                if kept {
                    self.auto_closed.add(hour_of(at), closed);
                    self.exact.add(AUTO_CLOSED_SERIES, at, closed);
                }
            }
            self.high_water = id;
            n += 1;
        }
        self.revision += n;
        Ok(n)
    }

    /// Re-read the newest row of each loop kind: threadkeeper (and keeper)
    /// collapse repeated no-op passes by moving that row's `created_at`.
    /// Returns whether one had moved.
    pub fn recheck_last_rows(&mut self, conn: &Connection, now: i64) -> rusqlite::Result<bool> {
        let mut moved = false;
        let keep_from = first_kept_hour(now, self.horizon_secs);
        let mut stmt = conn.prepare_cached("SELECT created_at FROM events WHERE id=?1")?;
        for (i, k) in self.kinds.iter_mut().enumerate() {
            if k.class != KindClass::Loop || k.last_id == 0 {
                continue;
            }
            let now_at: Option<i64> = stmt.query_row([k.last_id], |r| r.get(0)).optional()?;
            if let Some(at) = now_at
                && at != k.last_row_at
            {
                let old = k.last_row_at;
                if k.hours.at(hour_of(old)) > 0 {
                    k.hours.remove(hour_of(old), 1);
                    self.exact.remove(i as u32, old, 1);
                }
                if hour_of(at) >= keep_from {
                    k.hours.add(hour_of(at), 1);
                    self.exact.add(i as u32, at, 1);
                }
                k.last_row_at = at;
                k.last_at = k.last_at.max(at);
                moved = true;
                self.revision += 1;
            }
        }
        Ok(moved)
    }

    /// Drop hours that fell out of the horizon.
    pub fn prune(&mut self, now: i64) {
        let keep_from = first_kept_hour(now, self.horizon_secs);
        self.complete_from = self.complete_from.max(keep_from);
        for k in &mut self.kinds {
            k.hours.prune(keep_from);
        }
        self.auto_closed.prune(keep_from);
        self.exact.retain(|h| h >= keep_from);
    }

    pub fn slot_of(&self, kind: &str) -> Option<usize> {
        self.index.get(kind.as_bytes()).copied()
    }

    /// The figures at `now` would need hours these counts let go of (the
    /// clock is behind the one they were kept by).
    pub fn short_for(&self, now: i64, horizon_secs: i64) -> bool {
        !self.is_empty() && first_kept_hour(now, horizon_secs) < self.complete_from
    }

    pub fn get(&self, kind: &str) -> Option<&KindStats> {
        self.index.get(kind.as_bytes()).map(|&i| &self.kinds[i])
    }

    fn series(&self, id: u32) -> &Series {
        match self.kinds.get(id as usize) {
            Some(k) => &k.hours,
            None => &self.auto_closed,
        }
    }

    /// Rows of series `id` at or after `cut`: whole hours from the series,
    /// the hour `cut` falls in from its seconds (held by [`Self::hold`];
    /// should it not be, that hour counts whole).
    fn since(&self, id: u32, cut: i64) -> u64 {
        let s = self.series(id);
        let (h, sec) = (hour_of(cut), sec_of(cut));
        if sec == 0 {
            return s.sum_from(h);
        }
        let later = s.sum_from(h + 1);
        match s.at(h) {
            0 => later,
            whole => later + self.exact.sum_from(h, id, sec).unwrap_or(u64::from(whole)),
        }
    }

    /// Rows of the kind in slot `i` (of [`Self::kinds`]) at or after `cut`.
    pub fn count_since(&self, i: usize, cut: i64) -> u64 {
        self.since(i as u32, cut)
    }

    pub fn auto_closed_since(&self, cut: i64) -> u64 {
        self.since(AUTO_CLOSED_SERIES, cut)
    }

    /// Make sure the hours of `cuts` are held to the second where a series
    /// has rows in them (one read of each missing hour), and let go of
    /// every other hour. Returns whether it read any.
    pub fn hold(&mut self, conn: &Connection, cuts: &[i64]) -> rusqlite::Result<bool> {
        let mut read = false;
        let mut hours: Vec<i64> = cuts.iter().map(|&c| hour_of(c)).collect();
        hours.sort_unstable();
        hours.dedup();
        self.exact.retain(|h| hours.binary_search(&h).is_ok());
        for (&cut, h) in cuts.iter().zip(cuts.iter().map(|&c| hour_of(c))) {
            let busy = self.kinds.iter().any(|k| k.hours.at(h) > 0) || self.auto_closed.at(h) > 0;
            if sec_of(cut) == 0 || self.exact.has(h) || !busy {
                continue;
            }
            let rows = self.read_hour(conn, h)?;
            self.exact.put(h, rows);
            read = true;
        }
        Ok(read)
    }

    fn read_hour(&self, conn: &Connection, hour: i64) -> rusqlite::Result<Vec<Second>> {
        let mut stmt = conn.prepare_cached(
            "SELECT kind, created_at, CASE WHEN kind='janitor_pass' THEN summary END \
             FROM events WHERE created_at >= ?1 AND created_at < ?2 AND id <= ?3",
        )?;
        let mut rows = stmt.query([hour * HOUR, (hour + 1) * HOUR, self.high_water])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let kind = row.get_ref(0)?.as_bytes().unwrap_or(b"");
            let at: i64 = row.get(1)?;
            let Some(&i) = self.index.get(kind) else {
                continue;
            };
            if self.kinds[i].class != KindClass::Other {
                out.push(Second {
                    series: i as u32,
                    sec: sec_of(at),
                    weight: 1,
                });
            }
            if let Some(closed) = row.get_ref(2)?.as_bytes_or_null()?.map(closed_count)
                && closed > 0
            {
                out.push(Second {
                    series: AUTO_CLOSED_SERIES,
                    sec: sec_of(at),
                    weight: closed,
                });
            }
        }
        Ok(out)
    }

    /// Rows held to the second (for the memory figures).
    pub fn exact_rows(&self) -> usize {
        self.exact.len()
    }

    /// The newest row's kind and time, as this count last saw it.
    pub fn high_water_row(&self) -> Option<(&str, i64, KindClass)> {
        self.kinds
            .iter()
            .find(|k| k.last_id == self.high_water && self.high_water > 0)
            .map(|k| (k.kind.as_str(), k.last_row_at, k.class))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.i64(self.high_water);
        w.i64(self.min_id);
        w.i64(self.horizon_secs);
        w.i64(self.complete_from);
        w.u64(self.auto_closed_total);
        self.auto_closed.encode(w);
        w.u64(self.kinds.len() as u64);
        for k in &self.kinds {
            w.bytes(k.kind.as_bytes());
            w.u64(k.total);
            w.i64(k.last_at);
            w.i64(k.last_id);
            w.i64(k.last_row_at);
            k.hours.encode(w);
        }
        self.exact.encode(w);
    }

    pub(crate) fn decode(r: &mut Reader) -> Option<Self> {
        let high_water = r.i64()?;
        let min_id = r.i64()?;
        let horizon_secs = r.i64()?;
        let complete_from = r.i64()?;
        let auto_closed_total = r.u64()?;
        let auto_closed = Series::decode(r)?;
        let n = r.len(6)?;
        let mut stats = EventStats {
            high_water,
            min_id,
            auto_closed,
            auto_closed_total,
            horizon_secs,
            complete_from,
            ..EventStats::default()
        };
        for _ in 0..n {
            let kind = r.bytes()?;
            let i = stats.slot(kind);
            // A kind twice, or a name that is not text, is not our file.
            if i + 1 != stats.index.len() || stats.kinds[i].kind.as_bytes() != kind {
                return None;
            }
            let k = &mut stats.kinds[i];
            k.total = r.u64()?;
            k.last_at = r.i64()?;
            k.last_id = r.i64()?;
            k.last_row_at = r.i64()?;
            k.hours = Series::decode(r)?;
            if k.last_id > high_water || k.total == 0 {
                return None;
            }
        }
        stats.exact = ExactHours::decode(r, stats.kinds.len())?;
        if high_water > 0 && stats.high_water_row().is_none() {
            return None;
        }
        Some(stats)
    }
}

impl PartialEq for EventStats {
    /// The figures' inputs, not the lookup table or the held seconds
    /// (which depend on which hours were last asked for).
    fn eq(&self, o: &Self) -> bool {
        self.high_water == o.high_water
            && self.min_id == o.min_id
            && self.kinds == o.kinds
            && self.auto_closed == o.auto_closed
            && self.auto_closed_total == o.auto_closed_total
            && self.horizon_secs == o.horizon_secs
            && self.complete_from == o.complete_from
    }
}
