//! Words about time ("12s", "next 3m", a loop gone stale), measured at one
//! moment, and the soonest moment any of them would read differently. A
//! part of the screen drawn at `now` draws the same until then, so the
//! clock's tick redraws only the parts whose words moved.

use std::cell::Cell;

use crate::report::fmt_age;

/// The moment a part of the screen is drawn for; records, as the part
/// words its times, when the first of those words changes.
#[derive(Debug)]
pub struct Ages {
    now: i64,
    next: Cell<Option<i64>>,
}

impl Ages {
    pub fn at(now: i64) -> Self {
        Ages {
            now,
            next: Cell::new(None),
        }
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// How long ago `at` was, as `fmt_age` words it.
    pub fn since(&self, at: i64) -> String {
        self.mark_since(at);
        fmt_age(self.now - at)
    }

    /// How long until `at` (`0s` once it has passed), as `fmt_age` words it.
    pub fn until(&self, at: i64) -> String {
        self.mark_until(at);
        fmt_age(at - self.now)
    }

    /// Something drawn counts the time since `at` (in `fmt_age`'s steps).
    pub fn mark_since(&self, at: i64) {
        self.mark(age_changes(self.now, at));
    }

    /// Something drawn counts down to `at` (in `fmt_age`'s steps).
    pub fn mark_until(&self, at: i64) {
        if let Some(t) = countdown_changes(self.now, at) {
            self.mark(t);
        }
    }

    /// Something drawn reads differently from `at` on (a threshold, such
    /// as a loop turning stale); a moment already past changes nothing.
    pub fn mark(&self, at: i64) {
        if at > self.now {
            self.next
                .set(Some(self.next.get().map_or(at, |t| t.min(at))));
        }
    }

    /// The soonest moment a word drawn so far reads differently; `None`:
    /// nothing drawn depends on the time.
    pub fn next_change(&self) -> Option<i64> {
        self.next.get()
    }
}

/// The length of `fmt_age`'s step at `secs`: a second under a minute, a
/// minute under an hour, an hour under a day, then a day.
fn step(secs: i64) -> i64 {
    match secs {
        ..60 => 1,
        60..3_600 => 60,
        3_600..86_400 => 3_600,
        _ => 86_400,
    }
}

/// When `fmt_age(t - at)` first differs from its value at `now`.
fn age_changes(now: i64, at: i64) -> i64 {
    let s = now - at;
    if s <= 0 {
        // `0s` until a whole second has passed.
        return at + 1;
    }
    let st = step(s);
    now + (st - s % st)
}

/// When `fmt_age(at - t)` first differs from its value at `now`; `None`
/// once it reads `0s` for good.
fn countdown_changes(now: i64, at: i64) -> Option<i64> {
    let s = at - now;
    if s <= 0 {
        return None;
    }
    // The value drops to the step's start minus one second; under a
    // minute that is the next second.
    let st = step(s);
    Some(now + s % st + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first moment after `now` at which `word(t)` differs, by trying
    /// every second.
    fn first_change(now: i64, horizon: i64, word: impl Fn(i64) -> String) -> Option<i64> {
        let at_now = word(now);
        (now + 1..=now + horizon).find(|t| word(*t) != at_now)
    }

    #[test]
    fn an_age_changes_when_its_words_do() {
        let horizon = 3 * 86_400;
        for s in (-90..200).chain([3_540, 3_599, 3_600, 7_199, 86_399, 86_400, 90_000]) {
            let (at, now) = (1_000_000, 1_000_000 + s);
            let ages = Ages::at(now);
            assert_eq!(ages.since(at), fmt_age(s));
            assert_eq!(
                ages.next_change(),
                first_change(now, horizon, |t| fmt_age(t - at)),
                "age {s}s"
            );
        }
    }

    #[test]
    fn a_countdown_changes_when_its_words_do_and_not_after_zero() {
        let horizon = 3 * 86_400;
        for s in (-90..200).chain([3_540, 3_599, 3_600, 3_601, 7_199, 86_399, 86_400, 90_000]) {
            let (at, now) = (1_000_000 + s, 1_000_000);
            let ages = Ages::at(now);
            assert_eq!(ages.until(at), fmt_age(s));
            assert_eq!(
                ages.next_change(),
                first_change(now, horizon, |t| fmt_age(at - t)),
                "countdown {s}s"
            );
        }
    }

    #[test]
    fn the_soonest_change_wins_and_the_past_is_ignored() {
        let ages = Ages::at(100);
        assert_eq!(ages.next_change(), None);
        ages.mark(90);
        assert_eq!(ages.next_change(), None);
        // 2h ago: next at the third hour; 5s ago: next second.
        ages.since(100 - 7_200);
        assert_eq!(ages.next_change(), Some(100 + 3_600));
        ages.since(95);
        assert_eq!(ages.next_change(), Some(101));
        ages.mark(150);
        assert_eq!(ages.next_change(), Some(101));
    }
}
