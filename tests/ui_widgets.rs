//! Each panel and popup drawn alone into a `Buffer`, compared by symbols.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use keeper_tui::engine::{Command, LoopStatus, PassOutcome, Verdict};
use keeper_tui::loops::{LoopId, PassMode};
use keeper_tui::store::snapshot::StoreFigures;
use keeper_tui::ui::Ages;
use keeper_tui::ui::app::Confirm;
use keeper_tui::ui::keys::BINDINGS;
use keeper_tui::ui::panels::bytes;
use keeper_tui::ui::panels::log::{LogPanel, LogState};
use keeper_tui::ui::panels::loops::{LoopRow, LoopsPanel, sparkline, starved_outcomes, verdict};
use keeper_tui::ui::panels::outcomes::OutcomesPanel;
use keeper_tui::ui::panels::stores::StoresPanel;
use keeper_tui::ui::panels::threads::ThreadsPanel;
use keeper_tui::ui::popups::confirm::ConfirmPopup;
use keeper_tui::ui::popups::help::{HelpPopup, lines};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::widgets::{StatefulWidget, TableState, Widget};
use ui_common::{NOW, THEME, notices, rows, snapshot, store_figures, threads};

fn area(w: u16, h: u16) -> Buffer {
    Buffer::empty(Rect::new(0, 0, w, h))
}

fn expected(lines: &[&str]) -> Vec<String> {
    rows(&Buffer::with_lines(lines.iter().copied()))
}

fn loops_panel(rows_: &[LoopRow], w: u16, h: u16) -> Vec<String> {
    let mut buf = area(w, h);
    LoopsPanel {
        rows: rows_,
        ages: &Ages::at(NOW),
        window_days: 7,
        read_only: false,
        focused: false,
        theme: THEME,
        note: "",
    }
    .render(buf.area, &mut buf, &mut TableState::default());
    rows(&buf)
}

fn outcomes_panel(f: &StoreFigures, starved: &[String]) -> Vec<String> {
    let mut buf = area(46, 7);
    let listed: Vec<_> = f.outcomes.iter().collect();
    OutcomesPanel {
        figures: f,
        rows: &listed,
        note: "",
        starved,
        focused: false,
        theme: THEME,
    }
    .render(buf.area, &mut buf, &mut TableState::default());
    rows(&buf)
}

/// The janitor row under `status`, with no figures from the store.
fn janitor_row(status: LoopStatus) -> LoopRow {
    LoopRow {
        kind: "janitor_pass".into(),
        label: "janitor".into(),
        fires_window: 0,
        fires_30d: 0,
        last_at: None,
        by_hour: vec![0; 24],
        keeper: Some(LoopId::Janitor),
        status: Some(status),
        produced: None,
    }
}

fn last_pass(finished_ago: i64, ok: bool) -> PassOutcome {
    PassOutcome {
        mode: PassMode::Scheduled,
        started_at: NOW - finished_ago - 1,
        finished_at: NOW - finished_ago,
        ok,
        changed: ok,
        touched: 1,
        summary: "closed 1".into(),
        held: None,
    }
}

/// A change to the janitor's status, named by the verdict it should give.
type Case = (&'static str, fn(&mut LoopStatus));

/// The first row's text under the `state` header.
fn state_cell(drawn: &[String]) -> String {
    let header = &drawn[1];
    let col = header[..header.find("state").unwrap()].chars().count();
    drawn[2].chars().skip(col).collect()
}

#[test]
fn stores_panel_shows_counts_queues_and_file_sizes() {
    let f = store_figures();
    let mut buf = area(46, 11);
    StoresPanel {
        figures: &f,
        focused: false,
        theme: THEME,
    }
    .render(buf.area, &mut buf);
    // Most important first, so a short panel keeps what matters.
    assert_eq!(
        rows(&buf),
        expected(&[
            "┌ 1 Stores threadkeeper 0.8.x ───────────────┐",
            "│threads   active 3  idle 2  closed 5        │",
            "│tasks     running 2 of 9  → 8               │",
            "│pending   candidates 4  evolve 1            │",
            "│notes     42  dialog 7                      │",
            "│file      db 1.5 MiB  wal 4.0 KiB           │",
            "│probes    5 (20 runs)  weak 1  untested 2   │",
            "│skills    core 2  trial 1                   │",
            "│claims    —                                 │",
            "│knowledge distill 3  concepts 11            │",
            "└────────────────────────────────────────────┘",
        ])
    );
}

#[test]
fn sizes_are_human() {
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(1023), "1023 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(1_572_864), "1.5 MiB");
    assert_eq!(bytes(3 << 30), "3.0 GiB");
}

#[test]
fn loops_panel_puts_keepers_janitor_first_with_sparkline_and_flag() {
    let rows_ = LoopRow::build(&snapshot());
    assert_eq!(
        loops_panel(&rows_, 100, 8),
        expected(&[
            "┌ 2 Loops fires 7d / 30d ──────────────────────────────────────────────────────────────────────────┐",
            "│loop        7d    30d    last  fires/h, 24h             state                                     │",
            "│janitor     12    40     1m    ··▂▄···▂▂···▄▆█···▂···▄▂ ok · every 2m · next 40s · closed 2 of 5 i│",
            "│ingest      150   600    30s   ▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃█ ext                                       │",
            "│candidate   5     20     2h    ························ ext                                       │",
            "│curator ⚠   3     9      1d    ························ ext · no outcomes in window               │",
            "│                                                                                                  │",
            "└──────────────────────────────────────────────────────────────────────────────────────────────────┘",
        ])
    );
}

#[test]
fn sparkline_column_needs_72_columns() {
    let rows_ = LoopRow::build(&snapshot());
    let wide = loops_panel(&rows_, 72, 8);
    assert!(wide[1].contains("fires/h, 24h"), "{wide:#?}");
    assert!(wide[2].contains("··▂▄···▂▂···▄▆█···▂···▄▂"), "{wide:#?}");
    let narrow = loops_panel(&rows_, 71, 8);
    assert_eq!(
        narrow[..3],
        expected(&[
            "┌ 2 Loops fires 7d / 30d ─────────────────────────────────────────────┐",
            "│loop        7d    30d    last  state                                 │",
            "│janitor     12    40     1m    ok · every 2m · next 40s · closed 2 of│",
        ])
    );
    assert!(!narrow.iter().any(|l| l.contains('█')), "{narrow:#?}");
}

#[test]
fn verdict_follows_loop_status() {
    let ok = janitor_row(ui_common::janitor_status());
    assert_eq!(
        verdict(&ok, NOW, false),
        (Some(Verdict::Ok), "closed 2 of 5 idle".into())
    );
    assert_eq!(verdict(&ok, NOW, true).0, Some(Verdict::ReadOnly));

    let mut s = ui_common::janitor_status();
    s.interval_secs = None;
    assert_eq!(
        verdict(&janitor_row(s), NOW, false).0,
        Some(Verdict::Disabled)
    );

    let mut s = ui_common::janitor_status();
    s.running = true;
    assert_eq!(
        verdict(&janitor_row(s), NOW, false).0,
        Some(Verdict::Running)
    );

    let mut s = ui_common::janitor_status();
    s.last = Some(last_pass(10, false));
    assert_eq!(
        verdict(&janitor_row(s), NOW, false),
        (Some(Verdict::Failing), "closed 1".into())
    );

    // Every 120 s: a last pass older than 2×120+60 s is stale.
    let mut s = ui_common::janitor_status();
    s.next_due = None;
    s.last = Some(last_pass(300, true));
    assert_eq!(
        verdict(&janitor_row(s.clone()), NOW, false).0,
        Some(Verdict::Ok)
    );
    s.last = Some(last_pass(301, true));
    assert_eq!(verdict(&janitor_row(s), NOW, false).0, Some(Verdict::Stale));

    // Due more than one interval ago and still not run: the task is dead.
    let mut s = ui_common::janitor_status();
    s.next_due = Some(NOW - 121);
    assert_eq!(verdict(&janitor_row(s), NOW, false).0, Some(Verdict::Dead));

    let mut ext = janitor_row(ui_common::janitor_status());
    ext.status = None;
    ext.keeper = None;
    assert_eq!(verdict(&ext, NOW, false), (None, String::new()));
}

#[test]
fn janitor_row_shows_each_verdict() {
    let cases: [Case; 5] = [
        ("ok", |_| {}),
        ("disabled", |s| s.interval_secs = None),
        ("failing", |s| s.last = Some(last_pass(10, false))),
        ("stale", |s| {
            s.next_due = None;
            s.last = Some(last_pass(3_600, true));
        }),
        ("running", |s| s.running = true),
    ];
    for (word, change) in cases {
        let mut s = ui_common::janitor_status();
        change(&mut s);
        let drawn = loops_panel(&[janitor_row(s)], 100, 4);
        assert!(state_cell(&drawn).starts_with(word), "{word}: {drawn:#?}");
    }
    let mut buf = area(100, 4);
    LoopsPanel {
        rows: &[janitor_row(ui_common::janitor_status())],
        ages: &Ages::at(NOW),
        window_days: 7,
        read_only: true,
        focused: false,
        theme: THEME,
        note: "",
    }
    .render(buf.area, &mut buf, &mut TableState::default());
    let drawn = rows(&buf);
    assert!(
        state_cell(&drawn).starts_with("read-only · every 2m · closed 2 of 5 idle"),
        "{drawn:#?}"
    );
    assert!(
        !drawn[2].contains("next"),
        "read-only shows no next due: {drawn:#?}"
    );
}

#[test]
fn sparkline_scales_to_the_busiest_hour() {
    let mut hours = vec![0u32; 24];
    for (i, h) in hours.iter_mut().enumerate().take(8) {
        *h = i as u32 + 1;
    }
    hours[23] = 100;
    let line = sparkline(&hours);
    assert_eq!(line.chars().count(), 24);
    // 1..8 fires against a busiest hour of 100: all at least the lowest bar.
    assert_eq!(line, "▁▁▁▁▁▁▁▁···············█");
    let steps: Vec<u32> = (1..=8).chain([0; 16]).collect();
    assert_eq!(sparkline(&steps), "▁▂▃▄▅▆▇█················");
    assert_eq!(sparkline(&[0; 24]), "·".repeat(24));
}

#[test]
fn a_loop_firing_while_its_outcomes_stay_flat_is_flagged() {
    let mut snap = snapshot();
    let f = std::sync::Arc::make_mut(snap.store.as_mut().unwrap());
    // The janitor fired 12 times this week and closed nothing.
    f.outcomes.retain(|o| o.kind != "threads_auto_closed");
    f.outcomes
        .push(ui_common::outcome("threads_auto_closed", 0, 3, 15));
    // The curator produced again: no longer flagged.
    f.outcomes[1].window = 2;
    let rows_ = LoopRow::build(&snap);
    let janitor = &rows_[0];
    assert_eq!(janitor.kind, "janitor_pass");
    assert!(janitor.flat());
    assert_eq!(
        starved_outcomes(&rows_),
        vec!["threads_auto_closed".to_string()]
    );
    let drawn = loops_panel(&rows_, 110, 8);
    assert!(drawn[2].starts_with("│janitor ⚠ "), "{drawn:#?}");
    assert!(drawn[2].contains("ok · every 2m · next 40s · no outcomes in window"));
    assert!(!drawn[5].contains('⚠'), "curator produced: {drawn:#?}");
    let starved = starved_outcomes(&rows_);
    let out = outcomes_panel(snap.store.as_ref().unwrap(), &starved);
    assert!(
        out.iter().any(|l| l.starts_with("│⚠ threads_auto_closed ")),
        "{out:#?}"
    );
    assert!(
        !out.iter().any(|l| l.contains("⚠ lesson_append")),
        "{out:#?}"
    );
}

#[test]
fn no_flag_without_fires_or_with_accepts() {
    let mut snap = snapshot();
    let f = std::sync::Arc::make_mut(snap.store.as_mut().unwrap());
    // A curator that did not fire in the window is idle, not starved.
    f.loops[2].fires_window = 0;
    // Candidate review: no rejects this week, but 2 accepts count.
    f.outcomes[0].window = 0;
    let rows_ = LoopRow::build(&snap);
    assert!(rows_.iter().all(|r| !r.flat()), "{rows_:#?}");
    assert!(starved_outcomes(&rows_).is_empty());

    std::sync::Arc::make_mut(snap.store.as_mut().unwrap())
        .candidate_accept_rate
        .accepted_window = 0;
    let rows_ = LoopRow::build(&snap);
    let candidate = rows_.iter().find(|r| r.label == "candidate").unwrap();
    assert!(candidate.flat());
    assert_eq!(
        starved_outcomes(&rows_),
        vec!["accept_candidate".to_string(), "reject_candidate".into()]
    );
}

#[test]
fn outcomes_panel_lists_window_30d_all_and_accept_rate() {
    let f = store_figures();
    let rows_ = LoopRow::build(&snapshot());
    let starved = starved_outcomes(&rows_);
    assert_eq!(
        outcomes_panel(&f, &starved),
        expected(&[
            "┌ 3 Outcomes accept 4/6 = 67% ───────────────┐",
            "│outcome                 7d    30d    all    │",
            "│reject_candidate        1     2      2      │",
            "│⚠ lesson_append         0     0      4      │",
            "│threads_auto_closed     4     9      15     │",
            "│                                            │",
            "└────────────────────────────────────────────┘",
        ])
    );
    let mut none = f.clone();
    none.candidate_accept_rate = keeper_tui::store::snapshot::AcceptRate::default();
    assert!(outcomes_panel(&none, &[])[0].starts_with("┌ 3 Outcomes ──"));
}

fn threads_panel(state: Option<&str>, note: &str, w: u16) -> Vec<String> {
    let rows_ = threads();
    let mut buf = area(w, 8);
    ThreadsPanel {
        rows: &rows_,
        state_filter: state,
        note,
        ages: &Ages::at(NOW),
        focused: false,
        theme: THEME,
    }
    .render(buf.area, &mut buf, &mut TableState::default());
    rows(&buf)
}

#[test]
fn threads_panel_lists_id_state_age_question() {
    let drawn = threads_panel(None, "5 of 5", 60);
    assert_eq!(
        drawn,
        expected(&[
            "┌ 4 Threads all  5 of 5 ───────────────────────────────────┐",
            "│id      state   age   question                            │",
            "│t-0001  active  30s   why is the disk filling up          │",
            "│t-0002  active  1h    rotate the bridge logs              │",
            "│t-0003  idle    2d    tune the janitor threshold          │",
            "│t-0004  closed  9d    migrate to WAL                      │",
            "│t-0005  closed  40d   old question                        │",
            "└──────────────────────────────────────────────────────────┘",
        ])
    );
}

#[test]
fn threads_title_shows_state_filter_and_text() {
    let drawn = threads_panel(Some("active"), "5 of 5  ▼touched  /disk▏", 60);
    assert!(
        drawn[0].starts_with("┌ 4 Threads active  5 of 5  ▼touched  /disk▏ ─"),
        "{drawn:#?}"
    );
}

#[test]
fn last_move_column_only_when_wide() {
    let narrow = threads_panel(None, "", 89);
    assert!(!narrow[1].contains("last move"), "{narrow:#?}");
    assert!(!narrow[2].contains("checked du"), "{narrow:#?}");
    let wide = threads_panel(None, "", 90);
    assert!(wide[1].contains("last move"), "{wide:#?}");
    assert!(
        wide[2]
            .trim_end_matches('│')
            .trim_end()
            .ends_with("checked du on /var"),
        "{wide:#?}"
    );
}

fn log_panel(state: &mut LogState, focused: bool) -> Vec<String> {
    let n = notices(20);
    let mut buf = area(40, 6);
    LogPanel {
        notices: &n,
        filter: "",
        editing: false,
        focused,
        theme: THEME,
    }
    .render(buf.area, &mut buf, state);
    rows(&buf)
}

#[test]
fn log_follows_the_newest_notice() {
    let drawn = log_panel(&mut LogState::default(), false);
    assert!(drawn[4].contains("notice number 19"), "{drawn:#?}");
    assert!(drawn[1].contains("notice number 16"), "{drawn:#?}");
    // Focused with nothing selected it still follows.
    let drawn = log_panel(&mut LogState::default(), true);
    assert!(drawn[4].contains("notice number 19"), "{drawn:#?}");
    // Focused with a selection: the operator is scrolling, so it stays put.
    let mut at_top = LogState::default();
    at_top.top(&notices(20), "");
    let drawn = log_panel(&mut at_top, true);
    assert!(drawn[1].contains("notice number 0 "), "{drawn:#?}");
}

#[test]
fn log_follows_the_newest_notice_after_focus_leaves() {
    // The operator scrolled to the top of the log, then tabbed away.
    let mut state = LogState::default();
    state.top(&notices(20), "");
    let drawn = log_panel(&mut state, false);
    assert!(drawn[4].contains("notice number 19"), "{drawn:#?}");
}

/// The popup's inner text, wrapped lines joined and spaces collapsed.
fn flat_text(lines_: &[String]) -> String {
    lines_
        .iter()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn help_lists_every_binding() {
    let text: Vec<String> = lines(THEME).iter().map(ToString::to_string).collect();
    for b in BINDINGS {
        assert!(
            text.iter()
                .any(|l| l.trim_start().starts_with(b.label) && l.ends_with(b.help)),
            "binding {:?} missing from help: {text:#?}",
            b.label
        );
    }
    // Drawn, too: tall enough that nothing needs scrolling.
    let mut buf = area(100, 60);
    HelpPopup {
        scroll: 0,
        theme: THEME,
    }
    .render(buf.area, &mut buf);
    let drawn = flat_text(&rows(&buf));
    for b in BINDINGS {
        let want = format!("{} {}", b.label, b.help);
        let want = want.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(drawn.contains(&want), "{want:?} not on screen: {drawn}");
    }
}

fn confirm_popup(on_confirm: bool) -> Buffer {
    let c = Confirm {
        operation: "force a pass of".into(),
        target: "every loop".into(),
        command: Command::ForceAll,
        detail: None,
        on_confirm,
    };
    let mut buf = area(80, 15);
    ConfirmPopup {
        confirm: &c,
        theme: THEME,
    }
    .render(buf.area, &mut buf);
    buf
}

/// Whether every cell of `label` on screen is drawn reversed.
fn reversed(buf: &Buffer, label: &str) -> bool {
    let drawn = rows(buf);
    let (y, line) = drawn
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains(label))
        .unwrap();
    let x = line[..line.find(label).unwrap()].chars().count() as u16;
    (x..x + label.chars().count() as u16)
        .all(|x| buf[(x, y as u16)].modifier.contains(Modifier::REVERSED))
}

#[test]
fn confirm_names_operation_and_target_and_starts_on_cancel() {
    let buf = confirm_popup(false);
    let drawn = rows(&buf);
    assert!(
        drawn.iter().any(|l| l.contains("┌ confirm ─")),
        "{drawn:#?}"
    );
    assert!(
        drawn
            .iter()
            .any(|l| l.contains("force a pass of every loop?")),
        "{drawn:#?}"
    );
    let buttons = drawn.iter().find(|l| l.contains("[ Cancel ]")).unwrap();
    assert!(
        buttons.find("[ Cancel ]") < buttons.find("[ Confirm ]"),
        "Cancel first"
    );
    assert!(reversed(&buf, "[ Cancel ]"));
    assert!(!reversed(&buf, "[ Confirm ]"));

    let buf = confirm_popup(true);
    assert!(!reversed(&buf, "[ Cancel ]"));
    assert!(reversed(&buf, "[ Confirm ]"));
}

#[test]
fn long_loop_labels_keep_their_flag() {
    for kind in ["dialectic_mine_pass", "evolve_apply_pass"] {
        let mut snap = snapshot();
        let f = std::sync::Arc::make_mut(snap.store.as_mut().unwrap());
        let mut l = f.loops[2].clone();
        l.kind = kind.into();
        l.label = keeper_tui::store::snapshot::loop_label(kind);
        f.loops = vec![l];
        snap.loops.clear();
        let rows_ = LoopRow::build(&snap);
        assert!(rows_[0].flat(), "{kind} fires with no outcomes");
        let drawn = loops_panel(&rows_, 120, 4);
        assert!(
            drawn[2].contains(&format!("{} ⚠", rows_[0].label)),
            "{drawn:#?}"
        );
    }
}

#[test]
fn starved_outcome_keeps_its_flag_when_narrow() {
    let f = store_figures();
    let starved = vec!["threads_auto_closed".to_string()];
    // At 80 columns the Outcomes panel is 38 wide.
    let mut buf = area(38, 7);
    let listed: Vec<_> = f.outcomes.iter().collect();
    OutcomesPanel {
        figures: &f,
        rows: &listed,
        note: "",
        starved: &starved,
        focused: false,
        theme: THEME,
    }
    .render(buf.area, &mut buf, &mut TableState::default());
    let drawn = rows(&buf);
    let row = drawn.iter().find(|l| l.contains("threads_auto")).unwrap();
    assert!(row.contains('⚠'), "{drawn:#?}");
}
