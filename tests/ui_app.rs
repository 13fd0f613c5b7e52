//! `App`: keys, snapshots and replies in, effects and state out.
#![allow(clippy::unwrap_used, reason = "tests")]

mod ui_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keeper_tui::engine::{Command, EngineError, Outcome};
use keeper_tui::loops::{LoopId, PassMode, PassResult, Touched};
use keeper_tui::store::threads::{ThreadFilter, ThreadQuery};
use keeper_tui::ui::app::{App, Effect, Popup, Purpose};
use keeper_tui::ui::keys::{BINDINGS, Panel, active};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ui_common::{app, draw, notices, page, rows, snapshot, thread};

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn status(app: &App) -> (String, bool) {
    let s = app.status.as_ref().expect("a status message");
    (s.text.clone(), s.error)
}

fn silent_filter(state: Option<&str>, text: &str) -> Vec<Effect> {
    vec![Effect::Send(
        Command::SetThreadQuery(ThreadQuery {
            filter: ThreadFilter {
                state: state.map(Into::into),
                text: text.into(),
            },
            ..ThreadQuery::default()
        }),
        Purpose::Silent,
    )]
}

#[test]
fn help_opens_and_closes() {
    let mut app = app();
    assert!(ch(&mut app, '?').is_empty());
    assert_eq!(app.popup, Some(Popup::Help { scroll: 0 }));
    ch(&mut app, 'j');
    assert_eq!(app.popup, Some(Popup::Help { scroll: 1 }));
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.popup, None);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = app();
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c), vec![Effect::Quit]);
    // Ctrl-C quits from inside a popup and while typing a filter.
    ch(&mut app, '?');
    assert_eq!(app.on_key(ctrl_c), vec![Effect::Quit]);
    let mut app = ui_common::app();
    ch(&mut app, '4');
    ch(&mut app, '/');
    assert_eq!(app.on_key(ctrl_c), vec![Effect::Quit]);
}

#[test]
fn tab_shift_tab_and_digits_move_focus() {
    let mut app = app();
    assert_eq!(app.focus, Panel::Loops);
    // Screen order: the top band, the left column top to bottom, the right
    // column top to bottom, the bottom band. Bridges is not drawn (nothing
    // supervised) and is passed.
    let order = [
        Panel::Stores,
        Panel::Outcomes,
        Panel::Threads,
        Panel::Sessions,
        Panel::Tasks,
        Panel::Jobs,
        Panel::Log,
        Panel::Loops,
    ];
    for want in order {
        key(&mut app, KeyCode::Tab);
        assert_eq!(app.focus, want);
    }
    // Terminals report Shift-Tab with SHIFT; it must not matter.
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.focus, Panel::Log, "wraps around backwards");
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Panel::Jobs);
    for (c, panel) in ['1', '2', '3', '4', '5', '6'].into_iter().zip(Panel::ALL) {
        ch(&mut app, c);
        assert_eq!(app.focus, panel);
    }
    ch(&mut app, '7');
    assert_eq!(
        app.focus,
        Panel::Sessions,
        "7 does not focus a hidden panel"
    );
    let (text, error) = status(&app);
    assert!(error && text.contains("Bridges is not shown"), "{text}");
    ch(&mut app, '8');
    assert_eq!(app.focus, Panel::Tasks);
}

#[test]
fn with_a_supervised_process_tab_and_7_reach_bridges() {
    let mut snap = ui_common::snapshot();
    snap.bridges = vec![ui_common::bridge_row("bridge")];
    let mut app = App::new(Arc::new(snap), ui_common::THEME);
    ch(&mut app, '7');
    assert_eq!(app.focus, Panel::Bridges);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Loops, "wraps around");
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Panel::Bridges);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Panel::Log);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Bridges);
}

#[test]
fn movement_stays_within_bounds() {
    let mut app = app();
    // Loops: janitor, ingest, candidate, curator.
    assert_eq!(app.loops.selected(), Some(0));
    ch(&mut app, 'k');
    assert_eq!(app.loops.selected(), Some(0));
    ch(&mut app, 'j');
    key(&mut app, KeyCode::Down);
    assert_eq!(app.loops.selected(), Some(2));
    for _ in 0..10 {
        ch(&mut app, 'j');
    }
    assert_eq!(app.loops.selected(), Some(3));
    ch(&mut app, 'g');
    assert_eq!(app.loops.selected(), Some(0));
    app.on_key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
    assert_eq!(app.loops.selected(), Some(3));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.loops.selected(), Some(2));

    ch(&mut app, '4');
    assert_eq!(app.threads.selected(), Some(0));
    ch(&mut app, 'G');
    assert_eq!(app.threads.selected(), Some(4));
    ch(&mut app, 'j');
    assert_eq!(app.threads.selected(), Some(4));
    ch(&mut app, 'k');
    assert_eq!(app.threads.selected(), Some(3));
    ch(&mut app, 'g');
    assert_eq!(app.threads.selected(), Some(0));
    assert_eq!(
        app.loops.selected(),
        Some(2),
        "each panel keeps its own selection"
    );
}

/// `f` looks before it acts: a pass that would change nothing runs at
/// once; one that would asks first, with the count and the first items, and
/// then changes no more than that.
#[test]
fn f_reviews_what_a_pass_would_do_before_it_does_it() {
    let mut app = app();
    let review = vec![Effect::Send(
        Command::DryRun(LoopId::Janitor),
        Purpose::Review(LoopId::Janitor),
    )];
    assert_eq!(ch(&mut app, 'f'), review);
    let would = |n: usize| {
        Ok(Outcome::DryRun {
            id: LoopId::Janitor,
            result: PassResult {
                summary: format!("would close {n} thread(s) idle > 1d"),
                touched: (0..n.min(200))
                    .map(|i| Touched::Thread(format!("T{i:03}")))
                    .collect(),
                touched_count: n,
                ..PassResult::default()
            },
        })
    };
    // Nothing to do: it runs without asking.
    assert_eq!(
        app.on_reply(Purpose::Review(LoopId::Janitor), would(0)),
        vec![Effect::Send(
            Command::ForcePass(LoopId::Janitor),
            Purpose::Message
        )]
    );
    assert_eq!(status(&app), ("forcing a janitor pass…".into(), false));
    assert!(app.popup.is_none());

    // 39,463 to close: a confirm, focus on Cancel, naming the count.
    assert_eq!(ch(&mut app, 'f'), review);
    assert!(
        app.on_reply(Purpose::Review(LoopId::Janitor), would(39_463))
            .is_empty()
    );
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("{:?}", app.popup);
    };
    assert!(!c.on_confirm);
    assert_eq!(
        (c.operation.as_str(), c.target.as_str()),
        ("close", "39463 thread(s)")
    );
    let detail = c.detail.clone().unwrap();
    assert!(
        detail.contains("T000, T001, T002, T003, T004, T005, … +39457"),
        "{detail}"
    );
    // Enter on Cancel: nothing.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.popup.is_none());
    // Again, and confirm: the pass may close those 39,463 and no more.
    ch(&mut app, 'f');
    app.on_reply(Purpose::Review(LoopId::Janitor), would(39_463));
    key(&mut app, KeyCode::Right);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Send(
            Command::ForceAgreed {
                id: LoopId::Janitor,
                count: 39_463
            },
            Purpose::Message
        )]
    );
}

#[test]
fn loop_keys_on_the_janitor() {
    let mut app = app();
    assert_eq!(
        ch(&mut app, 'd'),
        vec![Effect::Send(
            Command::DryRun(LoopId::Janitor),
            Purpose::Detail("janitor dry-run".into())
        )]
    );
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Send(
            Command::LoopHistory("janitor_pass".into()),
            Purpose::Detail("loop janitor".into())
        )]
    );
}

#[test]
fn threadkeepers_loops_cannot_be_forced_here() {
    let mut app = app();
    ch(&mut app, 'j');
    assert!(ch(&mut app, 'f').is_empty());
    let (text, error) = status(&app);
    assert!(error);
    assert_eq!(
        text,
        "candidate is run by threadkeeper, not keeper-tui: nothing to force here"
    );
    app.status = None;
    assert!(ch(&mut app, 'd').is_empty());
    assert!(
        status(&app)
            .0
            .starts_with("candidate is run by threadkeeper")
    );
    // Its history still opens.
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Send(
            Command::LoopHistory("candidate_review_pass".into()),
            Purpose::Detail("loop candidate".into())
        )]
    );
}

#[test]
fn loop_keys_do_nothing_elsewhere() {
    let mut app = app();
    ch(&mut app, '4');
    assert!(ch(&mut app, 'f').is_empty());
    assert!(ch(&mut app, 'd').is_empty());
    ch(&mut app, '2');
    assert!(ch(&mut app, 'o').is_empty());
    // Stores is not a list: nothing to filter.
    ch(&mut app, '1');
    assert!(ch(&mut app, '/').is_empty());
    assert_eq!(app.editing, None);
}

#[test]
fn thread_keys() {
    let mut app = app();
    ch(&mut app, '4');
    // t-0003 is idle (t-0001 and t-0002 are active: nothing to reopen).
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(
        ch(&mut app, 'o'),
        vec![Effect::Send(
            Command::ReopenThread {
                id: "t-0003".into(),
                note: None
            },
            Purpose::Message
        )]
    );
    assert_eq!(status(&app), ("reopening t-0003…".into(), false));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Send(
            Command::ThreadDetail("t-0003".into()),
            Purpose::Detail("thread t-0003".into())
        )]
    );
}

#[test]
fn filter_by_text() {
    let mut app = app();
    ch(&mut app, '4');
    assert!(ch(&mut app, '/').is_empty());
    assert_eq!(app.editing, Some(Panel::Threads));
    assert_eq!(ch(&mut app, 'd'), silent_filter(None, "d"));
    // While typing, letters are text, not keys: `q` does not quit.
    assert_eq!(ch(&mut app, 'q'), silent_filter(None, "dq"));
    assert_eq!(key(&mut app, KeyCode::Backspace), silent_filter(None, "d"));
    assert_eq!(ch(&mut app, 'i'), silent_filter(None, "di"));
    // Enter keeps the filter and stops editing.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.editing, None);
    assert_eq!(app.filter.text, "di");
    // Esc, no longer editing, clears it.
    assert_eq!(key(&mut app, KeyCode::Esc), silent_filter(None, ""));
    assert_eq!(app.filter, ThreadFilter::default());
}

#[test]
fn esc_while_editing_clears_the_text() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 's');
    ch(&mut app, '/');
    ch(&mut app, 'x');
    assert_eq!(
        key(&mut app, KeyCode::Esc),
        silent_filter(Some("active"), "")
    );
    assert_eq!(app.editing, None);
    assert_eq!(app.filter.text, "");
}

#[test]
fn s_cycles_the_state_filter() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 'j');
    for state in [Some("active"), Some("idle"), Some("closed"), None] {
        assert_eq!(ch(&mut app, 's'), silent_filter(state, ""));
        assert_eq!(app.threads.selected(), Some(0), "back to the top");
    }
}

#[test]
fn force_all_asks_first_with_cancel_focused() {
    let mut app = app();
    assert!(ch(&mut app, 'F').is_empty());
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("no confirm popup: {:?}", app.popup);
    };
    assert!(!c.on_confirm);
    assert_eq!(
        (c.operation.as_str(), c.target.as_str()),
        ("force a pass of", "every loop")
    );
    assert_eq!(c.command, Command::ForceAll);
    // Keys meant for panels do nothing while it is open.
    assert!(ch(&mut app, 'f').is_empty());
    assert!(matches!(app.popup, Some(Popup::Confirm(_))));
    // Enter on Cancel cancels.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.popup, None);
    assert_eq!(status(&app), ("cancelled".into(), false));

    ch(&mut app, 'F');
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Right);
    assert!(matches!(&app.popup, Some(Popup::Confirm(c)) if c.on_confirm));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Send(Command::ForceAll, Purpose::Message)]
    );
    assert_eq!(app.popup, None);
    assert_eq!(status(&app).0, "force a pass of every loop…");
}

#[test]
fn y_confirms_n_and_esc_cancel() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 'F');
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Effect::Send(Command::ForceAll, Purpose::Message)]
    );
    for cancel in [KeyCode::Char('n'), KeyCode::Esc] {
        app.status = None;
        ch(&mut app, 'F');
        assert!(key(&mut app, cancel).is_empty());
        assert_eq!(app.popup, None);
        assert_eq!(status(&app).0, "cancelled");
    }
}

#[test]
fn pause_holds_new_snapshots_back() {
    let mut app = app();
    let mut newer = snapshot();
    newer.generation = 8;
    newer.threads = Arc::new(page(vec![thread(
        "t-0099",
        "active",
        5,
        "a brand new question",
        None,
    )]));
    let newer = Arc::new(newer);

    assert!(ch(&mut app, 'p').is_empty());
    assert!(app.paused);
    assert!(!app.on_snapshot(Arc::clone(&newer)));
    assert_eq!(app.snapshot.generation, 7);
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(screen.contains("PAUSED"));
    assert!(screen.contains("why is the disk filling up"));
    assert!(!screen.contains("a brand new question"));

    ch(&mut app, 'p');
    assert!(!app.paused);
    assert!(Arc::ptr_eq(&app.snapshot, &newer));
    assert_eq!(status(&app).0, "live updates resumed");
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(!screen.contains("PAUSED"));
    assert!(screen.contains("a brand new question"));
    assert!(app.on_snapshot(Arc::new(snapshot())), "live again");
}

#[test]
fn a_smaller_snapshot_clamps_selections() {
    let mut app = app();
    ch(&mut app, '4');
    ch(&mut app, 'G');
    let mut fewer = snapshot();
    Arc::make_mut(&mut fewer.threads).rows.truncate(2);
    assert!(app.on_snapshot(Arc::new(fewer)));
    assert_eq!(app.threads.selected(), Some(1));
    let mut none = snapshot();
    Arc::make_mut(&mut none.threads).rows.clear();
    app.on_snapshot(Arc::new(none));
    assert_eq!(app.threads.selected(), None);
    assert!(ch(&mut app, 'o').is_empty(), "nothing to reopen");
    assert_eq!(status(&app), ("no thread selected".into(), true));
}

/// A forced janitor pass that closed two threads, as the engine answers it.
fn closed_two() -> Outcome {
    Outcome::Pass {
        id: LoopId::Janitor,
        mode: PassMode::Forced,
        result: PassResult {
            changed: true,
            summary: "closed=2".into(),
            touched: vec![Touched::Thread("T1".into()), Touched::Thread("T2".into())],
            ..PassResult::default()
        },
    }
}

#[test]
fn replies_become_messages_errors_or_details() {
    let mut app = app();
    app.on_reply(Purpose::Message, Ok(closed_two()));
    // The reply names what the pass closed.
    assert_eq!(status(&app), ("janitor: closed=2: T1, T2".into(), false));
    assert!(!app.tick(Instant::now()));
    assert!(app.status.is_some(), "still shown");
    assert!(app.tick(Instant::now() + Duration::from_secs(6)));
    assert_eq!(app.status, None);
    assert!(
        !app.tick(Instant::now() + Duration::from_secs(6)),
        "nothing left to clear"
    );

    app.on_reply(
        Purpose::Message,
        Err(EngineError::ReadOnly("reopen thread T1".into())),
    );
    assert_eq!(
        status(&app),
        (
            "read-only mode: refused to reopen thread T1 (keeper-tui was started with --read-only)"
                .into(),
            true
        )
    );
    app.on_reply(
        Purpose::Silent,
        Err(EngineError::Refused("listing failed".into())),
    );
    assert_eq!(status(&app), ("listing failed".into(), true));

    app.on_reply(
        Purpose::Detail("thread t-0001".into()),
        Ok(Outcome::Detail("notes…".into())),
    );
    assert_eq!(
        app.popup,
        Some(Popup::Detail {
            title: "thread t-0001".into(),
            text: "notes…".into(),
            scroll: 0
        })
    );
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(
        screen.contains(" thread t-0001 — j/k scroll, Esc closes "),
        "{screen}"
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.popup, None, "Enter closes a detail popup");
}

#[test]
fn status_bar_hints_come_from_the_key_table() {
    for panel in Panel::ALL {
        let mut app = app();
        app.focus = panel;
        let screen = rows(&draw(&mut app, 200, 50));
        let bar = screen.last().unwrap();
        let mut shown = 0;
        for b in active(panel) {
            let hint = format!("{} {}  ", b.label, b.hint);
            assert_eq!(
                bar.contains(&hint),
                b.status_bar,
                "{panel:?}: {hint:?} in {bar:?}"
            );
            shown += usize::from(b.status_bar);
        }
        assert!(shown >= 5, "{panel:?}: {bar:?}");
        // Keys of other panels are not offered.
        for b in BINDINGS
            .iter()
            .filter(|b| !active(panel).any(|a| a.label == b.label))
        {
            assert!(
                !bar.contains(&format!("{} {}", b.label, b.hint)),
                "{panel:?}: {bar:?}"
            );
        }
    }
}

#[test]
fn status_bar_shows_a_message_beside_the_hints() {
    let mut app = app();
    app.on_reply(Purpose::Message, Ok(closed_two()));
    let screen = rows(&draw(&mut app, 200, 50));
    let bar = screen.last().unwrap();
    assert!(bar.starts_with(" janitor: closed=2: T1, T2 "), "{bar:?}");
    assert!(bar.contains("f force pass  "), "{bar:?}");

    ch(&mut app, '?');
    let bar = rows(&draw(&mut app, 200, 50)).pop().unwrap();
    assert!(
        bar.trim_end().ends_with("j/k scroll · Esc close"),
        "{bar:?}"
    );
    key(&mut app, KeyCode::Esc);
    ch(&mut app, '4');
    ch(&mut app, '/');
    let bar = rows(&draw(&mut app, 200, 50)).pop().unwrap();
    assert!(
        bar.contains("type to filter · C-u C-w C-a C-e edit · Enter keeps · Esc clears"),
        "{bar:?}"
    );
}

#[test]
fn log_follows_newest_again_after_focus_leaves() {
    let mut snap = snapshot();
    snap.notices = Arc::new(notices(30));
    let mut app = App::new(Arc::new(snap), ui_common::THEME);
    ch(&mut app, '5');
    ch(&mut app, 'g');
    key(&mut app, KeyCode::Tab);
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(screen.contains("notice number 29"), "{screen}");
}

#[test]
fn first_move_in_the_log_starts_from_the_newest_notice() {
    let mut snap = snapshot();
    snap.notices = Arc::new(notices(30));
    let mut app = App::new(Arc::new(snap), ui_common::THEME);
    ch(&mut app, '5');
    // At 120×40 the Log shows notices 25..=29; a first move stays among them.
    ch(&mut app, 'k');
    assert!(
        app.log
            .selected(&app.snapshot.notices, "")
            .is_some_and(|n| n.seq >= 25),
        "{:?}",
        app.log
    );
    let screen = rows(&draw(&mut app, 120, 40)).join("\n");
    assert!(screen.contains("notice number 29"), "{screen}");
}

#[test]
fn help_scroll_stops_at_the_end() {
    let mut app = app();
    ch(&mut app, '?');
    for _ in 0..100 {
        ch(&mut app, 'j');
    }
    let screen = rows(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("go to the bottom"), "{screen}");
}

#[test]
fn status_bar_names_the_confirm_keys() {
    let mut app = app();
    ch(&mut app, 'F');
    let bar = rows(&draw(&mut app, 120, 40)).pop().unwrap();
    assert!(!bar.contains("j/k scroll"), "{bar:?}");
    assert!(bar.contains("y/n") || bar.contains("←/→"), "{bar:?}");
}

#[test]
fn r_refreshes_from_any_panel() {
    for panel in Panel::ALL {
        let mut app = app();
        app.focus = panel;
        assert_eq!(
            ch(&mut app, 'r'),
            vec![Effect::Send(Command::Refresh, Purpose::Message)]
        );
        assert_eq!(status(&app), ("refreshing…".into(), false));
    }
}

#[test]
fn a_snapshot_where_only_times_moved_waits_for_the_clock_tick() {
    let mut app = app();
    let mut snap = ui_common::snapshot();
    snap.generation += 1;
    snap.timing_only = true;
    assert!(
        !app.on_snapshot(Arc::new(snap.clone())),
        "no redraw of its own"
    );
    assert_eq!(
        app.snapshot.generation, snap.generation,
        "but kept for the tick"
    );
    snap.generation += 1;
    snap.timing_only = false;
    assert!(app.on_snapshot(Arc::new(snap)), "news redraws at once");
}

/// `o` on a thread that is already active says so at once and sends
/// nothing: the engine is never asked for a change that cannot apply.
#[test]
fn o_on_an_active_thread_is_refused_in_place() {
    let mut app = app();
    ch(&mut app, '4');
    // t-0001, the first row, is active.
    assert!(ch(&mut app, 'o').is_empty());
    assert_eq!(
        status(&app),
        ("t-0001 is already active: nothing to reopen".into(), true)
    );
    // An idle one goes to the engine.
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(
        ch(&mut app, 'o'),
        vec![Effect::Send(
            Command::ReopenThread {
                id: "t-0003".into(),
                note: None
            },
            Purpose::Message
        )]
    );
}

#[test]
fn every_key_label_fits_the_help_key_column() {
    for b in BINDINGS {
        assert!(
            b.label.chars().count() <= 8,
            "{} runs into its help text",
            b.label
        );
    }
}
