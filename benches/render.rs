//! Full-frame render time: the whole screen drawn into ratatui's
//! `TestBackend` at 200×50 (and 80×24), from a snapshot of a real seeded
//! store. `cargo bench --bench render`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keeper_tui::config::{Config, Settings};
use keeper_tui::engine::Engine;
use keeper_tui::store::now_unix;
use keeper_tui::store::seed::{SeedSpec, seed};
use keeper_tui::ui::app::App;
use keeper_tui::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

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

    println!("| size | frames | median | p99 | max |");
    println!("|---|---|---|---|---|");
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let mut app = App::new(Arc::clone(&snapshot), Theme { color: true });
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
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {w}×{h} | {FRAMES} | {:.0} µs | {:.0} µs | {:.0} µs |",
            us(times[FRAMES / 2]),
            us(times[FRAMES * 99 / 100]),
            us(times[FRAMES - 1])
        );
    }
}
