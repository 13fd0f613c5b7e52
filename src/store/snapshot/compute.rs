//! The figures at a moment, from the counts held in memory: only the hour
//! a window's edge falls in may need one read of the store.

use std::path::Path;

use super::{
    AcceptRate, DAY, KNOWN_LOOPS, LoopFigures, OutcomeFigures, StoreFigures, StoreView, loop_label,
};
use crate::error::{Error, Result};
use crate::store::events::{AUTO_CLOSED, HOUR, KindClass, OUTCOME_KINDS};

impl StoreView {
    /// The figures at `now`.
    pub fn figures(&mut self, now: i64) -> Result<StoreFigures> {
        let cuts = self.cuts(now);
        let read = self
            .events
            .hold(&self.read.conn, &cuts)
            .map_err(|e| Error::from_sqlite(&self.read.path, e))?;
        self.unsaved |= read;
        Ok(self.figures_held(now))
    }

    fn figures_held(&self, now: i64) -> StoreFigures {
        let w = i64::from(self.window_days);
        let cut_win = now - w * DAY;
        let cut_30 = now - 30 * DAY;
        let ev = &self.events;

        let mut stores = self.small.clone();
        stores.threads.clone_from(&self.threads);
        stores.threads_total = self.threads.iter().map(|(_, n)| n).sum();
        let (db_bytes, wal_bytes) = file_sizes(&self.read.path);
        stores.db_bytes = db_bytes;
        stores.wal_bytes = wal_bytes;

        let mut loops: Vec<LoopFigures> = ev
            .kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| k.class == KindClass::Loop)
            .map(|(i, k)| LoopFigures {
                kind: k.kind.clone(),
                label: loop_label(&k.kind),
                fires_window: ev.count_since(i, cut_win),
                fires_30d: ev.count_since(i, cut_30),
                fires_all: k.total,
                last_at: (k.last_at > 0).then_some(k.last_at),
                fires_by_hour: (0..24)
                    .map(|h| {
                        let from = now - (24 - h) * HOUR;
                        (ev.count_since(i, from) - ev.count_since(i, from + HOUR)) as u32
                    })
                    .collect(),
            })
            .filter(|l| l.fires_30d > 0 || l.last_at.is_some())
            .collect();
        let rank = |kind: &str| {
            KNOWN_LOOPS
                .iter()
                .position(|(_, k)| *k == kind)
                .unwrap_or(usize::MAX)
        };
        loops.sort_by(|a, b| {
            rank(&a.kind)
                .cmp(&rank(&b.kind))
                .then_with(|| a.kind.cmp(&b.kind))
        });

        let mut outcomes: Vec<OutcomeFigures> = OUTCOME_KINDS
            .iter()
            .filter_map(|kind| ev.slot_of(kind))
            .filter(|&i| ev.kinds[i].total > 0)
            .map(|i| OutcomeFigures {
                kind: ev.kinds[i].kind.clone(),
                window: ev.count_since(i, cut_win),
                d30: ev.count_since(i, cut_30),
                all: ev.kinds[i].total,
            })
            .collect();
        if ev.auto_closed_total > 0 {
            outcomes.push(OutcomeFigures {
                kind: AUTO_CLOSED.into(),
                window: ev.auto_closed_since(cut_win),
                d30: ev.auto_closed_since(cut_30),
                all: ev.auto_closed_total,
            });
        }
        let accept_kinds = || {
            ev.kinds
                .iter()
                .enumerate()
                .filter(|(_, k)| k.class == KindClass::Accept)
        };
        let accepted: u64 = accept_kinds().map(|(_, k)| k.total).sum();
        let accepted_window: u64 = accept_kinds()
            .map(|(i, _)| ev.count_since(i, cut_win))
            .sum();
        let rejected = ev.get("reject_candidate").map_or(0, |k| k.total);

        StoreFigures {
            now,
            window_days: self.window_days,
            layout: self.read.layout.kind,
            stores,
            loops,
            outcomes,
            candidate_accept_rate: AcceptRate {
                accepted,
                decided: accepted + rejected,
                accepted_window,
            },
            reliability: self.reliability,
            events_high_water: ev.high_water,
        }
    }
}

fn file_sizes(path: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (size(path), size(Path::new(&wal)))
}
