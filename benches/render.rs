//! Full-frame render time: the whole screen drawn into ratatui's
//! `TestBackend` at 200×50 (and 80×24), from a snapshot of a real seeded
//! store; then the same with a full Log of 10,000 notices, and what
//! publishing that Log costs the engine. `cargo bench --bench render`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keeper_tui::config::{Config, Settings};
use keeper_tui::engine::{Engine, Notice, Snapshot};
use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};
use keeper_tui::ui::app::App;
use keeper_tui::ui::keys::Panel;
use keeper_tui::ui::panels::log::{LogPanel, LogState};
use keeper_tui::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::StatefulWidget;

const FRAMES: usize = 2000;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("render.sqlite");
    let spec = SeedSpec {
        threads: 10_000,
        events: 100_000,
        notes: 20_000,
        seed: 1,
        now: now_unix(),
        span_days: 30,
    };
    seed(&db, spec).expect("seed");
    let config = Config {
        read_only: true,
        ..Config::default()
    };
    let (_engine, handle) =
        Engine::new(Settings::resolve(config, None, Some(&db))).expect("engine");
    let snapshot = Arc::clone(&handle.snapshots.borrow());

    println!("| frame | size | frames | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let app = App::new(Arc::clone(&snapshot), Theme { color: true });
        frames("whole screen", app, (w, h));
    }

    let mut full = (*snapshot).clone();
    full.notices = Arc::new(log(10_000));
    let full = Arc::new(full);
    let app = App::new(Arc::clone(&full), Theme { color: true });
    frames("whole screen, 10,000 notices, following", app, (200, 50));
    let mut app = App::new(Arc::clone(&full), Theme { color: true });
    app.focus = Panel::Log;
    app.log.up(&full.notices, "", 5_000);
    frames(
        "whole screen, 10,000 notices, cursor mid-Log",
        app,
        (200, 50),
    );
    log_alone(&full, "", false, "Log panel alone, 10,000 notices");
    log_alone(
        &full,
        "sigterm",
        false,
        "Log panel alone, 10,000 notices, filter (1 in 8 match)",
    );
    log_alone(
        &full,
        "sigterm",
        true,
        "Log panel alone, 10,000 notices, filter, first frame (counts the matches)",
    );

    // The engine's copy of its Log for each snapshot it publishes after
    // notices arrived: every notice, its text shared.
    let mut times = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        let t0 = Instant::now();
        let copy: Vec<Notice> = full.notices.iter().cloned().collect();
        std::hint::black_box(&copy);
        drop(copy);
        times.push(t0.elapsed());
    }
    report("engine: publish a Log of 10,000 notices", "", &mut times);
}

/// Notices of the lengths the engine writes, a few long enough to wrap.
fn log(n: u64) -> Vec<Notice> {
    let now = now_unix();
    (0..n)
        .map(|seq| {
            let text = match seq % 8 {
                0 => format!("scheduled watchdog: bridge tier 2: SIGTERM sent pid={seq}"),
                3 => format!(
                    "janitor pass {seq}: closed 12 idle threads, kept 3 with open questions; \
                     the oldest had been idle for 9 days and its last note asked about the \
                     rotation of the bridge logs on the staging host"
                ),
                _ => format!("refreshed in 3.1 ms ({seq} new events)"),
            };
            Notice {
                at: now - (n - seq) as i64,
                error: seq % 50 == 0,
                seq,
                text: text.into(),
            }
        })
        .collect()
}

fn frames(what: &str, mut app: App, (w, h): (u16, u16)) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let now = now_unix();
    let mut times: Vec<Duration> = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // A new `now` every frame changes the age labels, as the clock does.
        let t0 = Instant::now();
        terminal
            .draw(|f| keeper_tui::ui::draw(f, &mut app, now + i as i64))
            .expect("draw");
        times.push(t0.elapsed());
    }
    report(what, &format!("{w}×{h}"), &mut times);
}

/// `fresh`: a new state each frame, as after the Log or the filter moved.
fn log_alone(snap: &Snapshot, filter: &str, fresh: bool, what: &str) {
    let area = Rect::new(0, 0, 200, 50);
    let mut state = LogState::default();
    let mut times = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        let mut buf = Buffer::empty(area);
        if fresh {
            state = LogState::default();
        }
        let t0 = Instant::now();
        LogPanel {
            notices: &snap.notices,
            filter,
            editing: false,
            focused: true,
            theme: Theme { color: true },
        }
        .render(area, &mut buf, &mut state);
        times.push(t0.elapsed());
    }
    report(what, "200×50", &mut times);
}

fn report(what: &str, size: &str, times: &mut [Duration]) {
    times.sort();
    let n = times.len();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| {what} | {size} | {n} | {:.0} µs | {:.0} µs | {:.0} µs |",
        us(times[n / 2]),
        us(times[n * 99 / 100]),
        us(times[n - 1])
    );
}
