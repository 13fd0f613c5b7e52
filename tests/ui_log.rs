//! The Log panel: notices wrapped whole, a cursor that stays on its notice
//! while the Log moves under it, and a filter.

mod ui_common;

use std::ops::Range;
use std::sync::Arc;

use keeper_tui::engine::Notice;
use keeper_tui::ui::panels::log::{LogPanel, LogState, matches};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::widgets::StatefulWidget;
use ui_common::{NOW, THEME, rows};

/// Columns left of a notice's text: the border, then `HH:MM:SS `.
const TEXT_COLUMN: usize = 10;

fn notice(seq: u64, text: &str) -> Notice {
    Notice {
        at: NOW - 1_000 + seq as i64,
        error: false,
        seq,
        text: Arc::from(text),
    }
}

/// The Log as the engine publishes it: consecutive numbers, the oldest
/// dropped off the front.
fn ring(seqs: Range<u64>) -> Vec<Notice> {
    seqs.map(|s| notice(s, &format!("notice number {s}")))
        .collect()
}

struct Drawn {
    buf: Buffer,
}

impl Drawn {
    fn rows(&self) -> Vec<String> {
        rows(&self.buf)
    }

    fn title(&self) -> String {
        self.rows()[0].clone()
    }

    /// Rows inside the frame, without the borders.
    fn body(&self) -> Vec<String> {
        let all = self.rows();
        all[1..all.len() - 1]
            .iter()
            .map(|r| {
                let chars: Vec<char> = r.chars().collect();
                chars[1..chars.len() - 1].iter().collect()
            })
            .collect()
    }

    /// Body rows drawn reversed: the selection (the test theme has no colour).
    fn highlighted(&self) -> Vec<String> {
        let body = self.body();
        let area = self.buf.area;
        (0..body.len())
            .filter(|&i| {
                self.buf[(area.x + 1, area.y + 1 + i as u16)]
                    .modifier
                    .contains(Modifier::REVERSED)
            })
            .map(|i| body[i].clone())
            .collect()
    }
}

fn draw_log(
    notices: &[Notice],
    filter: &str,
    editing: bool,
    focused: bool,
    state: &mut LogState,
    (w, h): (u16, u16),
) -> Drawn {
    let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
    LogPanel {
        notices,
        filter,
        editing,
        focused,
        theme: THEME,
    }
    .render(buf.area, &mut buf, state);
    Drawn { buf }
}

fn draw(notices: &[Notice], state: &mut LogState, size: (u16, u16)) -> Drawn {
    draw_log(notices, "", false, true, state, size)
}

/// Words of four characters, cut to exactly `len` characters ending in a
/// full stop.
fn long_text(len: usize) -> String {
    let mut s: String = (0..len)
        .map(|i| format!("w{i:03}"))
        .collect::<Vec<_>>()
        .join(" ");
    s.truncate(len - 1);
    s.push('.');
    s
}

#[test]
fn a_long_notice_shows_whole_across_its_wrapped_rows() {
    let text = long_text(300);
    assert_eq!(text.chars().count(), 300);
    let notices = vec![notice(0, "before"), notice(1, &text)];
    let drawn = draw(&notices, &mut LogState::default(), (80, 12));
    let body = drawn.body();
    let first = body
        .iter()
        .position(|r| r.contains("w000"))
        .expect("the notice's first row");
    let shown: Vec<&str> = body[first..]
        .iter()
        .map(|r| r[TEXT_COLUMN - 1..].trim_end())
        .collect();
    assert!(shown.len() >= 300 / 70, "{body:#?}");
    // Each break swallowed one space and nothing else.
    assert_eq!(shown.join(" "), text, "{body:#?}");

    // One word longer than the panel is broken inside, still whole.
    let word: String = ('a'..='z').cycle().take(300).collect();
    let notices = vec![notice(0, &word)];
    let drawn = draw(&notices, &mut LogState::default(), (80, 12));
    let shown: String = drawn
        .body()
        .iter()
        .map(|r| r[TEXT_COLUMN - 1..].trim_end().to_string())
        .collect();
    assert_eq!(shown, word);
}

#[test]
fn continuation_rows_are_indented_under_the_text_not_the_clock() {
    let text = long_text(200);
    let drawn = draw(&[notice(0, &text)], &mut LogState::default(), (60, 10));
    let body: Vec<String> = drawn
        .body()
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .collect();
    assert!(body.len() >= 4, "{body:#?}");
    let clock = &body[0][..TEXT_COLUMN - 1];
    assert!(
        clock.len() == 9 && clock.as_bytes()[2] == b':' && clock.as_bytes()[5] == b':',
        "{body:#?}"
    );
    assert!(body[0][TEXT_COLUMN - 1..].starts_with("w000"), "{body:#?}");
    for r in &body[1..] {
        assert_eq!(&r[..TEXT_COLUMN - 1], "         ", "{body:#?}");
        assert!(r[TEXT_COLUMN - 1..].starts_with('w'), "{body:#?}");
    }
}

#[test]
fn following_puts_the_newest_notice_on_the_last_row() {
    let notices = ring(0..30);
    let mut state = LogState::default();
    let drawn = draw(&notices, &mut state, (60, 8));
    let body = drawn.body();
    assert!(body[5].contains("notice number 29"), "{body:#?}");
    assert!(body[0].contains("notice number 24"), "{body:#?}");
    assert!(drawn.title().contains(" 5 Log "), "{}", drawn.title());
    assert!(
        drawn.title().contains("30 lines · following"),
        "{}",
        drawn.title()
    );
    assert!(drawn.highlighted().is_empty());
    assert!(state.follow());
    assert_eq!(state.page(), 6);

    // Fewer notices than rows: still on the last row.
    let drawn = draw(&ring(0..2), &mut LogState::default(), (60, 8));
    let body = drawn.body();
    assert!(body[5].contains("notice number 1"), "{body:#?}");
    assert!(body[4].contains("notice number 0"), "{body:#?}");
    assert!(body[0].trim().is_empty(), "{body:#?}");
}

#[test]
fn a_notice_taller_than_the_panel_shows_from_its_start() {
    let text = long_text(300);
    let log = vec![notice(0, "before"), notice(1, &text)];
    // Three rows for a notice of five.
    let drawn = draw(&log, &mut LogState::default(), (80, 5));
    let body = drawn.body();
    assert!(
        body[0][TEXT_COLUMN - 1..].starts_with("w000 w001"),
        "{body:#?}"
    );
    let mut state = LogState::default();
    state.up(&log, "", 1);
    let drawn = draw(&log, &mut state, (80, 5));
    assert!(drawn.highlighted()[0][TEXT_COLUMN - 1..].starts_with("w000 w001"));
    assert_eq!(drawn.highlighted().len(), 3);
}

#[test]
fn moving_up_selects_the_newest_and_down_past_it_follows_again() {
    let notices = ring(0..30);
    let mut state = LogState::default();
    state.up(&notices, "", 1);
    assert!(!state.follow());
    assert_eq!(state.selected(&notices, "").map(|n| n.seq), Some(29));
    state.up(&notices, "", 2);
    assert_eq!(state.selected(&notices, "").map(|n| n.seq), Some(27));
    let drawn = draw(&notices, &mut state, (60, 8));
    assert_eq!(drawn.highlighted().len(), 1, "{:#?}", drawn.body());
    assert!(drawn.highlighted()[0].contains("notice number 27"));
    assert!(drawn.title().contains("line 28 of 30"), "{}", drawn.title());
    state.down(&notices, "", 2);
    assert_eq!(state.selected(&notices, "").map(|n| n.seq), Some(29));
    state.down(&notices, "", 1);
    assert!(state.follow());
    assert_eq!(state.selected(&notices, ""), None);

    state.top(&notices, "");
    assert_eq!(state.selected(&notices, "").map(|n| n.seq), Some(0));
    state.up(&notices, "", 5);
    assert_eq!(state.selected(&notices, "").map(|n| n.seq), Some(0));
    state.bottom();
    assert!(state.follow());
}

#[test]
fn the_selected_notice_is_kept_in_view() {
    let notices = ring(0..100);
    let mut state = LogState::default();
    state.top(&notices, "");
    let drawn = draw(&notices, &mut state, (60, 8));
    assert!(
        drawn.body()[0].contains("notice number 0 "),
        "{:#?}",
        drawn.body()
    );
    // Moving inside the view leaves the view where it is.
    state.down(&notices, "", 3);
    let drawn = draw(&notices, &mut state, (60, 8));
    assert!(
        drawn.body()[0].contains("notice number 0 "),
        "{:#?}",
        drawn.body()
    );
    assert!(drawn.body()[3].contains("notice number 3 "));
    assert!(drawn.highlighted()[0].contains("notice number 3 "));
    // Past the bottom edge, the view follows by just enough.
    state.down(&notices, "", 7);
    let drawn = draw(&notices, &mut state, (60, 8));
    assert!(
        drawn.body()[5].contains("notice number 10"),
        "{:#?}",
        drawn.body()
    );
    assert!(drawn.highlighted()[0].contains("notice number 10"));
    // A selected notice of several rows shows all of them.
    let mut notices = ring(0..20);
    notices[12] = notice(12, &long_text(150));
    let mut state = LogState::default();
    state.top(&notices, "");
    draw(&notices, &mut state, (60, 8));
    state.down(&notices, "", 12);
    let drawn = draw(&notices, &mut state, (60, 8));
    let lit = drawn.highlighted();
    assert!(lit.len() >= 3, "{:#?}", drawn.body());
    let shown: Vec<&str> = lit
        .iter()
        .map(|r| r[TEXT_COLUMN - 1..].trim_end())
        .collect();
    assert_eq!(shown.join(" "), long_text(150));
}

#[test]
fn the_selection_stays_on_its_notice_as_new_ones_arrive() {
    let mut state = LogState::default();
    let before = ring(0..30);
    state.up(&before, "", 1);
    draw(&before, &mut state, (60, 8));
    let after = ring(0..40);
    let drawn = draw(&after, &mut state, (60, 8));
    assert_eq!(state.selected(&after, "").map(|n| n.seq), Some(29));
    let lit = drawn.highlighted();
    assert_eq!(lit.len(), 1);
    assert!(lit[0].contains("notice number 29"), "{:#?}", drawn.body());
    assert!(!drawn.body().iter().any(|r| r.contains("notice number 39")));
    assert!(drawn.title().contains("line 30 of 40"), "{}", drawn.title());
}

#[test]
fn the_cursor_keeps_its_notice_while_the_oldest_drop_off() {
    let kept = 10_000;
    let mut state = LogState::default();
    let log = ring(0..kept);
    state.up(&log, "", 101);
    assert_eq!(state.selected(&log, "").map(|n| n.seq), Some(9_899));

    // 2,500 more: the front dropped, the cursor still on notice 9,899.
    let log = ring(2_500..kept + 2_500);
    let drawn = draw(&log, &mut state, (80, 12));
    assert_eq!(state.selected(&log, "").map(|n| n.seq), Some(9_899));
    assert!(drawn.highlighted()[0].contains("notice number 9899"));
    assert!(
        drawn.title().contains("line 7,400 of 10,000"),
        "{}",
        drawn.title()
    );
    state.down(&log, "", 1);
    assert_eq!(state.selected(&log, "").map(|n| n.seq), Some(9_900));

    // Its notice dropped off too: the oldest remaining is selected.
    let log = ring(20_000..20_000 + kept);
    let drawn = draw(&log, &mut state, (80, 12));
    assert_eq!(state.selected(&log, "").map(|n| n.seq), Some(20_000));
    assert!(drawn.highlighted()[0].contains("notice number 20000"));
    assert!(
        drawn.title().contains("line 1 of 10,000"),
        "{}",
        drawn.title()
    );
}

#[test]
fn ten_thousand_notices_draw_the_newest_at_the_bottom() {
    let log = ring(0..10_000);
    let drawn = draw(&log, &mut LogState::default(), (200, 50));
    let body = drawn.body();
    assert!(body[47].contains("notice number 9999"), "{body:#?}");
    assert!(body[0].contains("notice number 9952"), "{body:#?}");
    assert!(drawn.title().contains("10,000 lines · following"));
}

#[test]
fn a_filter_shows_only_matching_notices_and_counts_them() {
    let log = vec![
        notice(0, "disk 91% full on /var"),
        notice(1, "janitor closed 3 threads"),
        notice(2, "Disk almost full"),
        notice(3, "bridge restarted"),
        notice(4, "checked DISK usage"),
        notice(5, "engine stopped"),
    ];
    let drawn = draw_log(
        &log,
        "disk",
        false,
        true,
        &mut LogState::default(),
        (60, 10),
    );
    let shown: Vec<String> = drawn
        .body()
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(shown.iter().all(|r| r.to_lowercase().contains("disk")));
    assert!(shown[2].contains("checked DISK usage"));
    assert!(
        drawn.title().contains("/disk · 3 matches · following"),
        "{}",
        drawn.title()
    );
    let typing = draw_log(&log, "disk", true, true, &mut LogState::default(), (60, 10));
    assert!(typing.title().contains("/disk▏"), "{}", typing.title());

    // Moves keep to the notices that match.
    let mut state = LogState::default();
    state.up(&log, "disk", 1);
    assert_eq!(state.selected(&log, "disk").map(|n| n.seq), Some(4));
    state.up(&log, "disk", 1);
    assert_eq!(state.selected(&log, "disk").map(|n| n.seq), Some(2));
    let drawn = draw_log(&log, "disk", false, true, &mut state, (60, 10));
    assert!(drawn.title().contains("line 2 of 3"), "{}", drawn.title());
    // A new notice that matches is counted; so is a new filter.
    let mut more = log.clone();
    more.push(notice(6, "disk cleaned"));
    let drawn = draw_log(&more, "disk", false, true, &mut state, (60, 10));
    assert!(drawn.title().contains("line 2 of 4"), "{}", drawn.title());
    let drawn = draw_log(&more, "full", false, true, &mut state, (60, 10));
    assert!(drawn.title().contains("line 2 of 2"), "{}", drawn.title());
    state.top(&log, "disk");
    assert_eq!(state.selected(&log, "disk").map(|n| n.seq), Some(0));
    state.down(&log, "disk", 1);
    assert_eq!(state.selected(&log, "disk").map(|n| n.seq), Some(2));

    let none = draw_log(&log, "zzz", false, true, &mut LogState::default(), (60, 10));
    assert!(none.title().contains("0 matches"), "{}", none.title());
    assert!(
        none.body()[0].contains("no notice matches /zzz"),
        "{:#?}",
        none.body()
    );
}

#[test]
fn matching_ignores_case_and_reads_the_text() {
    assert!(matches(&notice(0, "Disk full"), "DISK"));
    assert!(matches(&notice(0, "ÉCHEC du pont"), "échec"));
    assert!(matches(&notice(0, "anything"), ""));
    assert!(!matches(&notice(0, "bridge"), "disk"));
}

#[test]
fn control_characters_in_a_notice_are_escaped() {
    let hostile = "reopened \u{1b}]0;pwned\u{7}\u{1b}[2J \u{202e}evil\nnext";
    let drawn = draw(&[notice(0, hostile)], &mut LogState::default(), (80, 8));
    let area = drawn.buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let s = drawn.buf[(x, y)].symbol();
            assert!(
                !s.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "raw control character at {x},{y}: {s:?}"
            );
        }
    }
    let body = drawn.body().join("");
    assert!(body.contains("\\e]0;pwned\\x07\\e[2J"), "{body}");
    assert!(body.contains("\\u{202e}evil\\nnext"), "{body}");
    // The filter, echoed in the title and the body, is escaped too.
    let none = draw_log(
        &[notice(0, "x")],
        "\u{1b}[2J",
        true,
        true,
        &mut LogState::default(),
        (80, 8),
    );
    assert!(none.title().contains("/\\e[2J▏"), "{}", none.title());
}

#[test]
fn leaving_the_panel_follows_the_newest_again() {
    let notices = ring(0..30);
    let mut state = LogState::default();
    state.top(&notices, "");
    let drawn = draw_log(&notices, "", false, false, &mut state, (60, 8));
    assert!(state.follow());
    assert!(
        drawn.body()[5].contains("notice number 29"),
        "{:#?}",
        drawn.body()
    );
    assert!(drawn.highlighted().is_empty());
}

#[test]
fn an_empty_log_says_so() {
    let drawn = draw(&[], &mut LogState::default(), (60, 8));
    assert!(
        drawn.body()[0].contains("no notices yet"),
        "{:#?}",
        drawn.body()
    );
    assert!(
        drawn.title().contains("0 lines · following"),
        "{}",
        drawn.title()
    );
}
