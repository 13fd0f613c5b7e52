//! What the screen shows, as the hub holds it, and which events move it
//! enough to publish a new snapshot.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::Notify;

use super::{Event, NOTICES_KEPT, Readable};
use crate::engine::lease::Role;
use crate::engine::{LoopStatus, Notice, RefreshInfo, Snapshot};
use crate::loops::Observation;
use crate::loops::reaper::{Survey, Verdict};
use crate::loops::watchdog::BridgeRow;
use crate::store::now_unix;
use crate::store::snapshot::StoreFigures;
use crate::store::threads::ThreadPage;

pub(super) struct State {
    generation: u64,
    loops: Vec<LoopStatus>,
    notices: NoticeRing,
    store: Option<Arc<StoreFigures>>,
    store_error: Option<String>,
    last_refresh: Option<RefreshInfo>,
    threads: Arc<ThreadPage>,
    sessions: Option<Survey>,
    bridges: Vec<BridgeRow>,
    tasks: Option<Arc<Vec<crate::loops::reconciler::TaskLine>>>,
    jobs: Option<Arc<crate::jobs::seen::JobsSeen>>,
    role: Option<Role>,
}

impl State {
    pub(super) fn new(loops: Vec<LoopStatus>, figures: StoreFigures, threads: ThreadPage) -> Self {
        State {
            generation: 0,
            loops,
            notices: NoticeRing::default(),
            store: Some(Arc::new(figures)),
            store_error: None,
            last_refresh: None,
            threads: Arc::new(threads),
            sessions: None,
            bridges: Vec::new(),
            tasks: None,
            jobs: None,
            role: None,
        }
    }

    /// Take in one event; what it moved on screen.
    pub(super) fn apply(&mut self, ev: Event, view_changed: &Notify) -> Moved {
        match ev {
            Event::Notice { error, text } => {
                self.notices.push(now_unix(), error, text);
                Moved::News
            }
            Event::Loop(status) => {
                if let Some(l) = self.loops.iter_mut().find(|l| l.id == status.id) {
                    let moved = status_moved(l, &status);
                    *l = status;
                    moved
                } else {
                    self.loops.push(status);
                    Moved::News
                }
            }
            Event::Observed(Observation::Sessions(s)) => {
                let moved = survey_moved(self.sessions.as_ref(), &s);
                self.sessions = Some(s);
                moved
            }
            // A look that found what the last one did moves nothing: each
            // reconciler pass looks, every few seconds.
            Event::Observed(Observation::Tasks(rows)) => {
                if self.tasks.as_deref() == Some(&rows) {
                    return Moved::Nothing;
                }
                self.tasks = Some(Arc::new(rows));
                Moved::News
            }
            Event::Observed(Observation::Jobs(seen)) => {
                if self.jobs.as_deref() == Some(&seen) {
                    return Moved::Nothing;
                }
                self.jobs = Some(Arc::new(seen));
                Moved::News
            }
            Event::Observed(Observation::Bridges(rows)) => {
                if self.bridges == rows {
                    return Moved::Nothing;
                }
                self.bridges = rows;
                Moved::News
            }
            Event::Observed(Observation::Heartbeats(mut rows)) => {
                // A heartbeat look asks neither for the current version nor
                // for the heal state.
                for r in &mut rows {
                    if let Some(old) = self.bridges.iter().find(|b| b.health.name == r.health.name)
                    {
                        r.health.stamp.clone_from(&old.health.stamp);
                        r.health.current.clone_from(&old.health.current);
                        r.health.mismatch = old.health.mismatch;
                        r.state.clone_from(&old.state);
                    }
                }
                let moved = heartbeats_moved(&self.bridges, &rows);
                self.bridges = rows;
                moved
            }
            Event::Store(news) => {
                if let Some(f) = news.figures {
                    self.store = Some(Arc::new(f));
                }
                if let Some(page) = news.threads {
                    self.threads = Arc::new(page);
                }
                if let Some(r) = news.refreshed {
                    self.last_refresh = Some(r);
                }
                match news.readable {
                    Some(Readable::Yes) => self.store_error = None,
                    Some(Readable::No(e)) => self.store_error = Some(e),
                    None => {}
                }
                Moved::News
            }
            Event::Wrote => {
                view_changed.notify_one();
                Moved::Nothing
            }
            Event::Lease(role) => {
                self.role = Some(role);
                Moved::News
            }
        }
    }

    pub(super) fn snapshot(&mut self, db_path: &str, read_only: bool) -> Snapshot {
        self.generation += 1;
        Snapshot {
            generation: self.generation,
            db_path: db_path.to_string(),
            read_only,
            store: if self.store_error.is_some() {
                None
            } else {
                self.store.clone()
            },
            store_error: self.store_error.clone(),
            last_refresh: self.last_refresh.clone(),
            loops: self.loops.clone(),
            notices: self.notices.published(),
            threads: Arc::clone(&self.threads),
            sessions: self.sessions.clone(),
            bridges: self.bridges.clone(),
            tasks: self.tasks.clone(),
            jobs: self.jobs.clone(),
            timing_only: false,
            role: self.role.clone(),
        }
    }
}

/// The Log: the newest [`NOTICES_KEPT`] notices, numbered as they come.
#[derive(Default)]
struct NoticeRing {
    kept: VecDeque<Notice>,
    next_seq: u64,
    /// The Log as last published, shared by every snapshot until a notice
    /// arrives; rebuilt once per published snapshot, not once per notice,
    /// so a burst of notices costs one copy of the ring.
    published: Arc<Vec<Notice>>,
    stale: bool,
}

impl NoticeRing {
    fn push(&mut self, at: i64, error: bool, text: String) {
        if self.kept.len() == NOTICES_KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(Notice {
            at,
            error,
            seq: self.next_seq,
            text: text.into(),
        });
        self.next_seq += 1;
        self.stale = true;
    }

    fn published(&mut self) -> Arc<Vec<Notice>> {
        if self.stale {
            self.published = Arc::new(self.kept.iter().cloned().collect());
            self.stale = false;
        }
        Arc::clone(&self.published)
    }
}

/// What an event moved on screen. Heartbeats and next looks move times
/// only; the screen redraws its ages each second anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Moved {
    Nothing,
    Timing,
    News,
}

/// A fresh look at the sessions that found what the last one did is only
/// time: the panel words its verdicts from the clock as it draws.
fn survey_moved(
    old: Option<&crate::loops::reaper::Survey>,
    new: &crate::loops::reaper::Survey,
) -> Moved {
    let Some(old) = old else {
        return Moved::News;
    };
    let same = old.server == new.server
        && old.grace_secs == new.grace_secs
        && old.state == new.state
        && old.own == new.own
        && old.rows.len() == new.rows.len()
        && old.rows.iter().zip(&new.rows).all(|(a, b)| {
            // keeper-tui's own session shows activity whenever it redraws:
            // that is no news, or each redraw would cause the next. Agent
            // session or not.
            let own = (a.verdict == Verdict::Own && b.verdict == Verdict::Own)
                || (a.session.id == b.session.id
                    && new.own.as_deref() == Some(b.session.id.as_str()));
            let same_session = if own {
                crate::sys::tmux::Session {
                    activity: b.session.activity,
                    ..a.session.clone()
                } == b.session
            } else {
                a.session == b.session
            };
            same_session
                && a.marker == b.marker
                && a.claim == b.claim
                && a.orphan == b.orphan
                && a.verdict == b.verdict
                && a.task == b.task
        });
    if same { Moved::Timing } else { Moved::News }
}

/// A loop's new status against the old: a moved next look alone is time.
fn status_moved(old: &LoopStatus, new: &LoopStatus) -> Moved {
    let with_new_due = LoopStatus {
        next_due: new.next_due,
        ..old.clone()
    };
    if old == new {
        Moved::Nothing
    } else if with_new_due == *new {
        Moved::Timing
    } else {
        Moved::News
    }
}

/// New heartbeat rows against the old: the same but for when each beat
/// was seen is only time moving.
fn heartbeats_moved(old: &[BridgeRow], new: &[BridgeRow]) -> Moved {
    if old == new {
        return Moved::Nothing;
    }
    let same_but_times = old.len() == new.len()
        && old.iter().zip(new).all(|(o, n)| {
            let mut n = n.clone();
            n.health.heartbeat_at = o.health.heartbeat_at;
            n.health.heartbeat_age = o.health.heartbeat_age;
            *o == n
        });
    if same_but_times {
        Moved::Timing
    } else {
        Moved::News
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loops::LoopId;
    use crate::loops::watchdog::Health;
    use crate::store::keeper::HealState;
    use crate::sys::process::Liveness;

    fn row(beat: i64, stale: bool) -> BridgeRow {
        BridgeRow {
            health: Health {
                name: "bridge".into(),
                liveness: Liveness::Dead,
                heartbeat_age: Some(0),
                heartbeat_at: Some(beat),
                stale,
                proven: true,
                stamp: None,
                current: None,
                mismatch: false,
                beat_ahead: None,
            },
            state: HealState::default(),
            breaker_limit: 3,
        }
    }

    fn survey(at: i64, activity: i64) -> crate::loops::reaper::Survey {
        use crate::loops::reaper::{SessionRow, Survey, SurveyState, Verdict};
        Survey {
            server: "tmux".into(),
            at,
            grace_secs: 60,
            state: SurveyState::Listed,
            own: None,
            rows: vec![SessionRow {
                session: crate::sys::tmux::Session {
                    id: "$1".into(),
                    name: "msg-warm-1".into(),
                    created: 100,
                    activity,
                    attached: 0,
                },
                marker: true,
                claim: None,
                orphan: true,
                reason: format!("orphan: idle {}s", at - activity),
                verdict: Verdict::Orphan,
                task: None,
            }],
        }
    }

    #[test]
    fn keeper_tui_s_own_redraws_in_its_session_are_no_news() {
        let mut first = survey(1_000, 500);
        first.rows[0].verdict = Verdict::Own;
        let mut later = survey(1_002, 1_001);
        later.rows[0].verdict = Verdict::Own;
        assert!(matches!(survey_moved(Some(&first), &later), Moved::Timing));
    }

    #[test]
    fn keeper_tui_s_own_session_is_known_by_its_id_agent_or_not() {
        let mut first = survey(1_000, 500);
        first.rows[0].verdict = Verdict::NotAgent;
        first.own = Some("$1".into());
        let mut later = survey(1_002, 1_001);
        later.rows[0].verdict = Verdict::NotAgent;
        later.own = Some("$1".into());
        assert!(matches!(survey_moved(Some(&first), &later), Moved::Timing));
        // Another session's output is news.
        later.own = Some("$2".into());
        assert!(matches!(survey_moved(Some(&first), &later), Moved::News));
    }

    #[test]
    fn a_session_look_that_found_the_same_sessions_is_only_time() {
        let first = survey(1_000, 500);
        assert!(matches!(survey_moved(None, &first), Moved::News));
        // Two seconds on: the same sessions, the verdict worded later.
        assert!(matches!(
            survey_moved(Some(&first), &survey(1_002, 500)),
            Moved::Timing
        ));
        // Output in a pane: news.
        assert!(matches!(
            survey_moved(Some(&first), &survey(1_002, 1_001)),
            Moved::News
        ));
        let mut attached = survey(1_002, 500);
        attached.rows[0].session.attached = 1;
        assert!(matches!(survey_moved(Some(&first), &attached), Moved::News));
    }

    #[test]
    fn the_log_keeps_the_newest_notices_numbered_in_order() {
        let mut ring = NoticeRing::default();
        let extra = 37;
        for i in 0..NOTICES_KEPT + extra {
            ring.push(i as i64, i % 5 == 0, format!("notice {i}"));
        }
        let log = ring.published();
        assert_eq!(log.len(), NOTICES_KEPT);
        assert_eq!(log[0].seq, extra as u64);
        assert_eq!(&*log[0].text, format!("notice {extra}"));
        assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let newest = log.last().unwrap();
        assert_eq!(newest.seq, (NOTICES_KEPT + extra - 1) as u64);
        assert_eq!(
            &*newest.text,
            format!("notice {}", NOTICES_KEPT + extra - 1)
        );
    }

    #[test]
    fn publishing_the_log_shares_it_until_a_notice_arrives() {
        let mut ring = NoticeRing::default();
        ring.push(1, false, "first".into());
        let a = ring.published();
        let b = ring.published();
        assert!(Arc::ptr_eq(&a, &b), "no notice, no new copy");
        ring.push(2, true, "second".into());
        let c = ring.published();
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(
            Arc::ptr_eq(&a[0].text, &c[0].text),
            "the text is shared, not copied"
        );
        assert_eq!(c[1].seq, 1);
        assert!(c[1].error);
    }

    #[test]
    fn a_look_that_found_what_the_last_one_did_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.sqlite");
        let spec = crate::store::seed::SeedSpec {
            threads: 2,
            events: 2,
            notes: 2,
            seed: 1,
            now: 1_000_000,
            span_days: 1,
        };
        crate::store::seed::seed(&db, spec).unwrap();
        let figures = crate::store::snapshot::StoreView::open(&db, 7)
            .unwrap()
            .figures(1_000_000)
            .unwrap();
        let mut state = State::new(Vec::new(), figures, ThreadPage::default());
        let changed = Notify::new();
        let look = || Event::Observed(Observation::Tasks(Vec::new()));
        assert_eq!(state.apply(look(), &changed), Moved::News);
        assert_eq!(state.apply(look(), &changed), Moved::Nothing);
        let jobs = || Event::Observed(Observation::Jobs(crate::jobs::seen::JobsSeen::default()));
        assert_eq!(state.apply(jobs(), &changed), Moved::News);
        assert_eq!(state.apply(jobs(), &changed), Moved::Nothing);
        let bridges = |beat| Event::Observed(Observation::Bridges(vec![row(beat, false)]));
        assert_eq!(state.apply(bridges(100), &changed), Moved::News);
        assert_eq!(state.apply(bridges(100), &changed), Moved::Nothing);
        assert_eq!(state.apply(bridges(101), &changed), Moved::News);
    }

    #[test]
    fn a_newer_beat_is_timing_and_a_change_of_health_is_news() {
        let old = vec![row(100, false)];
        assert_eq!(heartbeats_moved(&old, &old.clone()), Moved::Nothing);
        assert_eq!(heartbeats_moved(&old, &[row(101, false)]), Moved::Timing);
        assert_eq!(heartbeats_moved(&old, &[row(101, true)]), Moved::News);
        assert_eq!(heartbeats_moved(&old, &[]), Moved::News);
    }

    #[test]
    fn a_moved_next_look_is_timing_and_a_pass_is_news() {
        let status = LoopStatus {
            id: LoopId::Watchdog,
            interval_secs: None,
            running: false,
            next_due: Some(100),
            last: None,
            passes: 1,
            failures: 0,
        };
        assert_eq!(status_moved(&status, &status.clone()), Moved::Nothing);
        let later = LoopStatus {
            next_due: Some(101),
            ..status.clone()
        };
        assert_eq!(status_moved(&status, &later), Moved::Timing);
        let ran = LoopStatus { passes: 2, ..later };
        assert_eq!(status_moved(&status, &ran), Moved::News);
    }
}
