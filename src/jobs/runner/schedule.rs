//! Scheduled jobs: when one is due, and firing it once however many
//! engines look and however long keeper-tui was down.
//!
//! A slot is computed from the last fire alone, so two engines that both
//! see a job due record the same slot and `set_last_fire` lets only one of
//! them queue it. Slots missed while nothing ran are not made up: the
//! newest missed one fires, once.

use chrono::{Duration as ChronoDuration, Local, NaiveTime, TimeZone};

use super::{Done, JobRunner, named};
use crate::config::Schedule;
use crate::error::Result;
use crate::jobs::log::{Entry, EventKind};
use crate::jobs::queue::queue_chain;
use crate::loops::PassCtx;
use crate::store::jobs::{Args, Reason, last_fire, set_last_fire};

/// Whether a schedule is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Due {
    /// Fire now, as the slot at `slot`; the one after is at `next`.
    Now { slot: f64, next: f64 },
    /// Not before `at`.
    At(f64),
}

/// When `schedule`, last fired at `last`, fires next, seen at `now`.
pub(super) fn due(schedule: Schedule, last: f64, now: f64) -> Due {
    match schedule {
        Schedule::Every(gap) => {
            let gap = gap.as_secs_f64().max(1.0);
            if now < last + gap {
                return Due::At(last + gap);
            }
            let slot = last + ((now - last) / gap).floor() * gap;
            Due::Now {
                slot,
                next: slot + gap,
            }
        }
        Schedule::Daily { hour, minute } => {
            let latest = daily_at_or_before(hour, minute, now);
            let next = daily_after(hour, minute, now);
            match latest {
                Some(slot) if slot > last => Due::Now { slot, next },
                _ => Due::At(next),
            }
        }
    }
}

/// Local HH:MM on the day `days` from the local date of `t`; `None` when
/// that time does not exist that day (a daylight-saving gap).
fn local_slot(hour: u8, minute: u8, t: f64, days: i64) -> Option<f64> {
    let at = Local.timestamp_opt(t.floor() as i64, 0).single()?;
    let day = at.date_naive() + ChronoDuration::days(days);
    let time = NaiveTime::from_hms_opt(u32::from(hour), u32::from(minute), 0)?;
    let slot = day.and_time(time).and_local_timezone(Local).earliest()?;
    Some(slot.timestamp() as f64)
}

/// The newest local HH:MM at or before `now`.
fn daily_at_or_before(hour: u8, minute: u8, now: f64) -> Option<f64> {
    (0..=2)
        .filter_map(|d| local_slot(hour, minute, now, -d))
        .find(|s| *s <= now)
}

/// The first local HH:MM after `now` (a day on, should every slot in
/// reach fall in a gap).
fn daily_after(hour: u8, minute: u8, now: f64) -> f64 {
    (0..=2)
        .filter_map(|d| local_slot(hour, minute, now, d))
        .find(|s| *s > now)
        .unwrap_or(now + 86_400.0)
}

impl JobRunner {
    /// Queue every due scheduled job; a job that never fired starts its
    /// clock now instead of firing. Returns when the next one is due.
    pub(super) fn fire_schedules(&self, ctx: &PassCtx<'_>, done: &mut Done) -> Result<Option<f64>> {
        let now = crate::sys::process::now_precise();
        let mut next: Option<f64> = None;
        let mut soonest = |t: f64| next = Some(next.map_or(t, |n| n.min(t)));
        for job in &self.jobs {
            let Some(schedule) = job.schedule else {
                continue;
            };
            let last = last_fire(ctx.read, &job.name).map_err(Self::sql(ctx))?;
            let Some(last) = last else {
                // No burst of every job at first start: the clock starts.
                ctx.store.write(|tx| set_last_fire(tx, &job.name, now))?;
                let (Due::At(t) | Due::Now { next: t, .. }) = due(schedule, now, now);
                soonest(t);
                continue;
            };
            match due(schedule, last, now) {
                Due::At(t) => soonest(t),
                Due::Now { slot, next } => {
                    soonest(next);
                    if ctx.stopping() {
                        continue;
                    }
                    let queued = ctx.store.write(|tx| {
                        if !set_last_fire(tx, &job.name, slot)? {
                            return Ok(Vec::new());
                        }
                        let ids = queue_chain(
                            tx,
                            &self.jobs,
                            &job.name,
                            &Args::new(),
                            Reason::Schedule,
                            true,
                            now,
                        )?;
                        // Each fire is a `*_pass` row: the Loops panel shows a
                        // scheduled job's fire rate like any loop's.
                        let summary = match ids.first() {
                            Some(id) => format!("queued=#{id}"),
                            None => "already_pending".to_string(),
                        };
                        crate::store::events::insert_event(
                            tx,
                            &ctx.store.session_id,
                            &format!("job:{}_pass", job.name),
                            Some(""),
                            &summary,
                            now as i64,
                        )?;
                        named(tx, &ids)
                    })?;
                    if !queued.is_empty() {
                        done.detail.push(format!("{}: fired", job.name));
                    }
                    self.note_queued(&queued, "schedule");
                    done.queued.extend(queued.iter().map(|(id, _)| *id));
                }
            }
        }
        Ok(next)
    }

    /// Event-log lines for a chain just queued.
    pub(super) fn note_queued(&self, runs: &[(i64, String)], why: &str) {
        let entries: Vec<Entry> = runs
            .iter()
            .map(|(id, job)| Entry::now(job, *id, EventKind::Queued, why))
            .collect();
        self.log(&entries);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use super::{Due, due};
    use crate::config::Schedule;

    #[test]
    fn every_fires_the_newest_missed_slot_once() {
        let every = Schedule::Every(Duration::from_secs(60));
        assert_eq!(due(every, 1000.0, 1059.0), Due::At(1060.0));
        assert_eq!(
            due(every, 1000.0, 1060.0),
            Due::Now {
                slot: 1060.0,
                next: 1120.0
            }
        );
        // Down for an hour: one fire, at the newest slot, not sixty.
        assert_eq!(
            due(every, 1000.0, 4630.0),
            Due::Now {
                slot: 4600.0,
                next: 4660.0
            }
        );
    }

    #[test]
    fn daily_fires_once_after_its_local_time() {
        use chrono::{Local, TimeZone};
        let at = |d: u32, h: u32, m: u32| {
            Local
                .with_ymd_and_hms(2024, 3, d, h, m, 0)
                .earliest()
                .unwrap()
                .timestamp() as f64
        };
        let daily = Schedule::Daily {
            hour: 3,
            minute: 30,
        };
        // Last fired yesterday at 03:30; now 03:29 and 03:31 today.
        assert_eq!(
            due(daily, at(10, 3, 30), at(11, 3, 29)),
            Due::At(at(11, 3, 30))
        );
        assert_eq!(
            due(daily, at(10, 3, 30), at(11, 3, 31)),
            Due::Now {
                slot: at(11, 3, 30),
                next: at(12, 3, 30)
            }
        );
        // Fired at today's slot: nothing until tomorrow's.
        assert_eq!(
            due(daily, at(11, 3, 30), at(11, 9, 0)),
            Due::At(at(12, 3, 30))
        );
    }
}
