//! Synthetic snapshots and buffer helpers for the TUI tests. Every time is
//! relative to `NOW`, so ages on screen never depend on the wall clock.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use keeper_tui::engine::{LoopStatus, Notice, PassOutcome, Snapshot};
use keeper_tui::loops::{LoopId, PassMode};
use keeper_tui::store::LayoutKind;
use keeper_tui::store::jobs::{Run, RunState};
use keeper_tui::store::snapshot::{
    AcceptRate, LoopFigures, OutcomeFigures, Reliability, StoreFigures, Stores,
};
use keeper_tui::store::threads::{ThreadPage, ThreadRow};
use keeper_tui::ui::app::App;
use keeper_tui::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

pub const NOW: i64 = 1_800_000_000;
pub const THEME: Theme = Theme { color: false };

/// Janitor fires per hour over the last 24 h: busiest hour 4, some idle.
pub const JANITOR_HOURS: [u32; 24] = [
    0, 0, 1, 2, 0, 0, 0, 1, 1, 0, 0, 0, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 2, 1,
];

fn figures(
    kind: &str,
    fires_window: u64,
    fires_30d: u64,
    last_ago: i64,
    hours: &[u32],
) -> LoopFigures {
    LoopFigures {
        kind: kind.into(),
        label: keeper_tui::store::snapshot::loop_label(kind),
        fires_window,
        fires_30d,
        fires_all: fires_30d * 3,
        last_at: Some(NOW - last_ago),
        fires_by_hour: hours.to_vec(),
    }
}

pub fn outcome(kind: &str, window: u64, d30: u64, all: u64) -> OutcomeFigures {
    OutcomeFigures {
        kind: kind.into(),
        window,
        d30,
        all,
    }
}

/// A threadkeeper 0.8 store: janitor (keeper's loop) closing threads,
/// ingest (no outcomes of its own), candidate review (accepts and
/// rejects) and a curator that fires but produces nothing (flagged).
pub fn store_figures() -> StoreFigures {
    let mut ingest_hours = [1u32; 24];
    ingest_hours[23] = 3;
    StoreFigures {
        now: NOW,
        window_days: 7,
        layout: LayoutKind::Threadkeeper08,
        stores: Stores {
            threads: vec![
                ("active".into(), 3),
                ("idle".into(), 2),
                ("closed".into(), 5),
            ],
            threads_total: 10,
            notes: 42,
            dialog: 7,
            distill: 3,
            concepts: 11,
            skills_by_tier: vec![("core".into(), 2), ("trial".into(), 1)],
            claims_by_tier: Vec::new(),
            extract_candidates: vec![("pending".into(), 4), ("accepted".into(), 6)],
            evolve: vec![("pending".into(), 1)],
            probes: 5,
            probe_results: 20,
            tasks_running: 2,
            tasks_total: 9,
            db_bytes: 1_572_864,
            wal_bytes: 4_096,
        },
        loops: vec![
            figures("ingest_pass", 150, 600, 30, &ingest_hours),
            figures("candidate_review_pass", 5, 20, 7_200, &[0; 24]),
            figures("curator_pass", 3, 9, 90_000, &[0; 24]),
            figures("janitor_pass", 12, 40, 80, &JANITOR_HOURS),
        ],
        outcomes: vec![
            outcome("reject_candidate", 1, 2, 2),
            outcome("lesson_append", 0, 0, 4),
            outcome("threads_auto_closed", 4, 9, 15),
        ],
        candidate_accept_rate: AcceptRate {
            accepted: 4,
            decided: 6,
            accepted_window: 2,
        },
        reliability: Reliability {
            weak_categories: 1,
            untested_categories: 2,
        },
        events_high_water: 1_234,
    }
}

/// keeper's janitor: every 2 minutes, next in 40 s, last pass fine.
pub fn janitor_status() -> LoopStatus {
    LoopStatus {
        id: LoopId::Janitor,
        interval_secs: Some(120),
        running: false,
        next_due: Some(NOW + 40),
        last: Some(PassOutcome {
            mode: PassMode::Scheduled,
            started_at: NOW - 81,
            finished_at: NOW - 80,
            ok: true,
            changed: true,
            touched: 2,
            summary: "closed 2 of 5 idle".into(),
            held: None,
        }),
        passes: 12,
        failures: 0,
    }
}

pub fn notices(n: usize) -> Vec<Notice> {
    (0..n)
        .map(|i| Notice {
            at: NOW - 600 + 10 * i as i64,
            error: i == 3,
            seq: i as u64,
            text: format!("notice number {i}").into(),
        })
        .collect()
}

pub fn thread(
    id: &str,
    state: &str,
    ago: i64,
    question: &str,
    last_move: Option<&str>,
) -> ThreadRow {
    ThreadRow {
        id: id.into(),
        state: state.into(),
        question: question.into(),
        last_move: last_move.map(Into::into),
        outcome: None,
        last_touched_at: NOW - ago,
        opened_at: NOW - ago,
    }
}

pub fn threads() -> Vec<ThreadRow> {
    vec![
        thread(
            "t-0001",
            "active",
            30,
            "why is the disk filling up",
            Some("checked du on /var"),
        ),
        thread("t-0002", "active", 3_600, "rotate the bridge logs", None),
        thread(
            "t-0003",
            "idle",
            2 * 86_400,
            "tune the janitor threshold",
            Some("asked in chat"),
        ),
        thread(
            "t-0004",
            "closed",
            9 * 86_400,
            "migrate to WAL",
            Some("done"),
        ),
        thread("t-0005", "closed", 40 * 86_400, "old question", None),
    ]
}

/// A whole list loaded at once: the first page is all of it.
pub fn page(rows: Vec<ThreadRow>) -> ThreadPage {
    ThreadPage {
        total: rows.len() as u64,
        rows,
        ..ThreadPage::default()
    }
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        generation: 7,
        db_path: "/srv/keeper/db.sqlite".into(),
        read_only: false,
        store: Some(Arc::new(store_figures())),
        store_error: None,
        last_refresh: None,
        loops: vec![janitor_status()],
        notices: Arc::new(notices(6)),
        threads: Arc::new(page(threads())),
        sessions: None,
        bridges: Vec::new(),
        tasks: None,
        jobs: None,
        timing_only: false,
        role: None,
    }
}

pub fn app() -> App {
    App::new(Arc::new(snapshot()), THEME)
}

/// Each row's cell symbols as one String: styles set aside.
pub fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buf[(x, y)].symbol())
                .collect()
        })
        .collect()
}

/// The whole buffer as text, one line per row.
pub fn text(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// The whole app drawn at `w`×`h` with ages measured at `NOW`.
pub fn draw(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| keeper_tui::ui::draw(f, app, NOW))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// Wall-clock times (`HH:MM:SS`, local time) replaced by a same-width mask,
/// so the layout in a stored snapshot stays readable.
pub fn redact_times(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let pattern = "dd:dd:dd";
    while i < chars.len() {
        let matches = i + pattern.len() <= chars.len()
            && pattern.chars().zip(&chars[i..]).all(|(p, c)| match p {
                'd' => c.is_ascii_digit(),
                _ => *c == p,
            });
        if matches {
            out.push_str("hh:mm:ss");
            i += pattern.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A healthy supervised process with no heal state.
pub fn bridge_row(name: &str) -> keeper_tui::loops::watchdog::BridgeRow {
    use keeper_tui::loops::watchdog::{BridgeRow, Health};
    use keeper_tui::store::keeper::HealState;
    use keeper_tui::sys::process::{Liveness, ProcInfo};
    BridgeRow {
        health: Health {
            name: name.into(),
            liveness: Liveness::Alive(ProcInfo {
                pid: 4242,
                zombie: false,
                started_at: NOW - 600,
                cmdline: format!("{name} --serve"),
                argv: vec![name.into(), "--serve".into()],
                parent: Some(1),
            }),
            heartbeat_age: Some(1),
            heartbeat_at: Some(NOW - 1),
            stale: false,
            proven: true,
            stamp: None,
            current: None,
            mismatch: false,
            beat_ahead: None,
        },
        state: HealState {
            name: name.into(),
            ..HealState::default()
        },
        breaker_limit: 3,
    }
}

/// A run of `job` queued a minute ago, started 30 s ago unless queued,
/// ended 10 s ago if final.
pub fn job_run(id: i64, job: &str, state: RunState) -> Run {
    let started = (state != RunState::Queued).then_some(NOW as f64 - 30.0);
    Run {
        id,
        job: job.into(),
        state,
        attempt: 0,
        args: std::collections::BTreeMap::new(),
        chain: None,
        after_run: None,
        reason: Some("schedule".into()),
        pid: started.map(|_| 7000 + id),
        pgid: started.map(|_| 7000 + id),
        proc_started_at: None,
        holder: None,
        exit_code: state
            .is_final()
            .then_some(if state == RunState::Succeeded { 0 } else { 2 }),
        signal: None,
        queued_at: NOW as f64 - 60.0,
        not_before: NOW as f64 - 60.0,
        started_at: started,
        ended_at: state.is_final().then_some(NOW as f64 - 10.0),
        log_path: Some(format!("/state/jobs/run-{id}.log")),
        tail: Some(format!("line from run {id}")),
        detail: None,
        retry_of: None,
    }
}
