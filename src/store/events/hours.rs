//! Event counts by the hour, plus the few hours a window's edge falls in
//! known to the second. A month of a busy store is a few hundred thousand
//! rows but only ~720 hours per kind: small to hold and to persist, and
//! still exact, because every window edge (`now - 7 d`, `now - 30 d`, the
//! 24 hourly bars) needs the seconds of one hour only.

use std::collections::BTreeMap;

use super::super::codec::{Reader, Writer};

pub const HOUR: i64 = 3600;

pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR)
}

/// Rows (or a weight, such as threads closed) per hour, oldest first; only
/// hours with something in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    hours: Vec<(i64, u32)>,
}

impl Series {
    fn find(&self, hour: i64) -> Result<usize, usize> {
        self.hours.binary_search_by_key(&hour, |e| e.0)
    }

    pub fn add(&mut self, hour: i64, w: u32) {
        if w == 0 {
            return;
        }
        match self.hours.last_mut() {
            Some(last) if last.0 == hour => last.1 = last.1.saturating_add(w),
            Some(last) if last.0 < hour => self.hours.push((hour, w)),
            None => self.hours.push((hour, w)),
            Some(_) => match self.find(hour) {
                Ok(i) => self.hours[i].1 = self.hours[i].1.saturating_add(w),
                Err(i) => self.hours.insert(i, (hour, w)),
            },
        }
    }

    pub fn remove(&mut self, hour: i64, w: u32) {
        if let Ok(i) = self.find(hour) {
            self.hours[i].1 = self.hours[i].1.saturating_sub(w);
            if self.hours[i].1 == 0 {
                self.hours.remove(i);
            }
        }
    }

    pub fn at(&self, hour: i64) -> u32 {
        self.find(hour).map_or(0, |i| self.hours[i].1)
    }

    /// Everything in `hour` and after.
    pub fn sum_from(&self, hour: i64) -> u64 {
        let from = self.hours.partition_point(|e| e.0 < hour);
        self.hours[from..].iter().map(|e| u64::from(e.1)).sum()
    }

    /// Forget hours before `hour`.
    pub fn prune(&mut self, hour: i64) {
        let n = self.hours.partition_point(|e| e.0 < hour);
        self.hours.drain(..n);
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.hours.len() as u64);
        let mut prev = 0;
        for &(h, n) in &self.hours {
            w.i64(h - prev);
            w.u64(u64::from(n));
            prev = h;
        }
    }

    /// Hours strictly increasing, counts non-zero: anything else is not a
    /// series this code wrote.
    pub(crate) fn decode(r: &mut Reader) -> Option<Self> {
        let len = r.len(2)?;
        let mut hours = Vec::with_capacity(len);
        let mut prev: i64 = 0;
        for i in 0..len {
            let h = prev.checked_add(r.i64()?)?;
            let n = r.u32()?;
            if n == 0 || (i > 0 && h <= prev) {
                return None;
            }
            hours.push((h, n));
            prev = h;
        }
        Some(Series { hours })
    }
}

/// One row of an hour known to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Second {
    /// Which series: a kind's slot, or [`AUTO_CLOSED_SERIES`].
    pub series: u32,
    /// Seconds into the hour.
    pub sec: u16,
    pub weight: u32,
}

/// The series of threads closed by janitor passes (weighted by `closed=N`).
pub const AUTO_CLOSED_SERIES: u32 = u32::MAX;

/// Hours whose rows are known to the second, each sorted by series and
/// second so a count is two binary searches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExactHours {
    hours: BTreeMap<i64, Vec<Second>>,
}

impl ExactHours {
    pub fn has(&self, hour: i64) -> bool {
        self.hours.contains_key(&hour)
    }

    pub fn put(&mut self, hour: i64, mut rows: Vec<Second>) {
        rows.sort_unstable();
        self.hours.insert(hour, rows);
    }

    /// A row landed in `t`'s hour: kept only if that hour is held.
    pub fn add(&mut self, series: u32, t: i64, weight: u32) {
        if weight == 0 {
            return;
        }
        if let Some(rows) = self.hours.get_mut(&hour_of(t)) {
            let row = Second {
                series,
                sec: sec_of(t),
                weight,
            };
            let at = rows.partition_point(|r| r <= &row);
            rows.insert(at, row);
        }
    }

    pub fn remove(&mut self, series: u32, t: i64, weight: u32) {
        if let Some(rows) = self.hours.get_mut(&hour_of(t)) {
            let row = Second {
                series,
                sec: sec_of(t),
                weight,
            };
            if let Ok(i) = rows.binary_search(&row) {
                rows.remove(i);
            }
        }
    }

    /// The weight of `series` in `hour` from second `sec` on; `None` when
    /// the hour is not held.
    pub fn sum_from(&self, hour: i64, series: u32, sec: u16) -> Option<u64> {
        let rows = self.hours.get(&hour)?;
        let from = rows.partition_point(|r| (r.series, r.sec) < (series, sec));
        let to = rows.partition_point(|r| r.series <= series);
        Some(
            rows[from..to.max(from)]
                .iter()
                .map(|r| u64::from(r.weight))
                .sum(),
        )
    }

    pub fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        self.hours.retain(|&h, _| keep(h));
    }

    pub fn len(&self) -> usize {
        self.hours.values().map(Vec::len).sum()
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.hours.len() as u64);
        for (&h, rows) in &self.hours {
            w.i64(h);
            w.u64(rows.len() as u64);
            for r in rows {
                w.u64(u64::from(r.series));
                w.u64(u64::from(r.sec));
                w.u64(u64::from(r.weight));
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader, series_count: usize) -> Option<Self> {
        let n = r.len(2)?;
        let mut hours = BTreeMap::new();
        for _ in 0..n {
            let h = r.i64()?;
            let len = r.len(3)?;
            let mut rows = Vec::with_capacity(len);
            for _ in 0..len {
                let series = r.u32()?;
                let sec = u16::try_from(r.u64()?)
                    .ok()
                    .filter(|&s| i64::from(s) < HOUR)?;
                let weight = r.u32()?;
                if (series as usize >= series_count && series != AUTO_CLOSED_SERIES) || weight == 0
                {
                    return None;
                }
                rows.push(Second {
                    series,
                    sec,
                    weight,
                });
            }
            if !rows.is_sorted() || hours.insert(h, rows).is_some() {
                return None;
            }
        }
        Some(ExactHours { hours })
    }
}

pub fn sec_of(t: i64) -> u16 {
    // In 0..3600, so it fits.
    (t - hour_of(t) * HOUR) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_sums_from_an_hour_and_keeps_its_order() {
        let mut s = Series::default();
        for h in [5, 3, 9, 5, 3, 7] {
            s.add(h, 1);
        }
        assert_eq!(s.at(5), 2);
        assert_eq!(s.sum_from(0), 6);
        assert_eq!(s.sum_from(6), 2);
        assert_eq!(s.sum_from(10), 0);
        s.remove(3, 2);
        assert_eq!(s.at(3), 0);
        s.prune(6);
        assert_eq!(s.sum_from(0), 2);
        let mut w = Writer::default();
        s.encode(&mut w);
        assert_eq!(Series::decode(&mut Reader::new(&w.buf)), Some(s));
    }

    #[test]
    fn exact_hours_count_from_a_second() {
        let mut e = ExactHours::default();
        let h = 1000;
        e.put(h, Vec::new());
        for (series, sec) in [(1, 10), (0, 5), (1, 3599), (1, 0), (2, 7)] {
            e.add(series, h * HOUR + sec, 1);
        }
        e.add(1, (h + 1) * HOUR, 1); // an hour not held: ignored
        assert_eq!(e.sum_from(h, 1, 0), Some(3));
        assert_eq!(e.sum_from(h, 1, 11), Some(1));
        assert_eq!(e.sum_from(h, 0, 6), Some(0));
        assert_eq!(e.sum_from(h, 3, 0), Some(0));
        assert_eq!(e.sum_from(h + 1, 1, 0), None);
        e.remove(1, h * HOUR + 10, 1);
        assert_eq!(e.sum_from(h, 1, 0), Some(2));
        let mut w = Writer::default();
        e.encode(&mut w);
        assert_eq!(
            ExactHours::decode(&mut Reader::new(&w.buf), 3),
            Some(e.clone())
        );
        // A series the file does not know is garbage.
        assert_eq!(ExactHours::decode(&mut Reader::new(&w.buf), 2), None);
    }

    #[test]
    fn negative_times_fall_in_their_own_hour() {
        assert_eq!(hour_of(-1), -1);
        assert_eq!(sec_of(-1), 3599);
        assert_eq!(sec_of(7200), 0);
    }
}
