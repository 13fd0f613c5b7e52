//! Keyset pages of the Threads panel against the same list sorted and
//! sliced in memory: every order, both directions, every anchor, on real
//! store files with many threads sharing a touch time.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::cmp::Ordering;
use std::path::Path;

use keeper_tui::store::schema::create_core;
use keeper_tui::store::threads::{
    ThreadAnchor, ThreadFilter, ThreadKey, ThreadPage, ThreadQuery, ThreadRow, ThreadSort,
    list_threads, page_threads,
};
use rusqlite::{Connection, OpenFlags, params};

const NOW: i64 = 1_750_000_000;

/// A new core store at `dir/db.sqlite` holding `rows`.
fn store(dir: &Path, rows: &[ThreadRow]) -> Connection {
    let path = dir.join("db.sqlite");
    let conn = Connection::open(&path).unwrap();
    create_core(&conn).unwrap();
    for r in rows {
        insert(&conn, r);
    }
    conn
}

fn insert(conn: &Connection, r: &ThreadRow) {
    conn.execute(
        "INSERT INTO threads (id, question, state, outcome, last_move, opened_at, \
         last_touched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            r.id,
            r.question,
            r.state,
            r.outcome,
            r.last_move,
            r.opened_at,
            r.last_touched_at
        ],
    )
    .unwrap();
}

fn read_only(conn: &Connection) -> Connection {
    let path = conn.path().unwrap();
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn row(id: &str, state: &str, touched: i64, opened: i64, question: &str) -> ThreadRow {
    ThreadRow {
        id: id.into(),
        state: state.into(),
        question: question.into(),
        last_move: None,
        outcome: (state == "closed").then(|| "done".into()),
        last_touched_at: touched,
        opened_at: opened,
    }
}

/// 61 threads: touch and open times drawn from a few values, so most
/// threads tie on them and only the id decides; ids of uneven length so
/// their text order differs from their number order.
fn many() -> Vec<ThreadRow> {
    let states = ["active", "idle", "closed", "closed", "idle"];
    (0..61)
        .map(|i: i64| {
            let id = format!("T{:x}", i * 7919 % 1000);
            let touched = NOW - (i * 37 % 9) * 60;
            let opened = NOW - (i * 13 % 5) * 3_600;
            row(
                &id,
                states[(i % 5) as usize],
                touched,
                opened,
                &format!("question {i}"),
            )
        })
        .collect()
}

fn state_rank(state: &str) -> u8 {
    match state {
        "active" => 0,
        "idle" => 1,
        "closed" => 2,
        _ => 3,
    }
}

/// The order each sort promises, written out independently of the store.
fn compare(sort: ThreadSort, reverse: bool, a: &ThreadKey, b: &ThreadKey) -> Ordering {
    let o = match sort {
        ThreadSort::Touched => b
            .last_touched_at
            .cmp(&a.last_touched_at)
            .then_with(|| b.id.cmp(&a.id)),
        ThreadSort::Age => b.opened_at.cmp(&a.opened_at).then_with(|| b.id.cmp(&a.id)),
        ThreadSort::State => state_rank(&a.state)
            .cmp(&state_rank(&b.state))
            .then_with(|| b.last_touched_at.cmp(&a.last_touched_at))
            .then_with(|| b.id.cmp(&a.id)),
        ThreadSort::Id => a.id.cmp(&b.id),
    };
    if reverse { o.reverse() } else { o }
}

/// SQLite's LIKE: ASCII letters match either case.
fn matches(filter: &ThreadFilter, r: &ThreadRow) -> bool {
    let text = filter.text.trim().to_ascii_lowercase();
    let has = |s: &str| s.to_ascii_lowercase().contains(&text);
    filter.state.as_ref().is_none_or(|s| *s == r.state)
        && (text.is_empty()
            || has(&r.id)
            || has(&r.question)
            || r.last_move.as_deref().is_some_and(has))
}

/// What `page_threads` must answer, computed from all rows in memory.
fn expected(all: &[ThreadRow], q: &ThreadQuery, limit: usize) -> (Vec<ThreadRow>, u64, u64) {
    let mut rows: Vec<ThreadRow> = all
        .iter()
        .filter(|r| matches(&q.filter, r))
        .cloned()
        .collect();
    rows.sort_by(|a, b| compare(q.sort, q.reverse, &ThreadKey::of(a), &ThreadKey::of(b)));
    let n = rows.len();
    let start = match &q.anchor {
        ThreadAnchor::Top => 0,
        ThreadAnchor::Bottom => n.saturating_sub(limit),
        ThreadAnchor::Around(key) => {
            let key = rows
                .iter()
                .find(|r| r.id == key.id)
                .map_or_else(|| key.clone(), ThreadKey::of);
            let place = rows
                .iter()
                .filter(|r| compare(q.sort, q.reverse, &ThreadKey::of(r), &key).is_lt())
                .count();
            place.saturating_sub(limit / 2).min(n.saturating_sub(limit))
        }
    };
    let end = n.min(start + limit);
    (rows[start..end].to_vec(), start as u64, n as u64)
}

fn query(
    filter: &ThreadFilter,
    sort: ThreadSort,
    reverse: bool,
    anchor: ThreadAnchor,
) -> ThreadQuery {
    ThreadQuery {
        filter: filter.clone(),
        sort,
        reverse,
        anchor,
    }
}

fn check(conn: &Connection, all: &[ThreadRow], q: &ThreadQuery, limit: u32) -> ThreadPage {
    let page = page_threads(conn, q, limit).unwrap();
    let (rows, offset, total) = expected(all, q, limit as usize);
    let ids = |rows: &[ThreadRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&page.rows), ids(&rows), "rows of {q:?}, limit {limit}");
    assert_eq!(page.rows, rows, "row contents of {q:?}");
    assert_eq!(
        (page.offset, page.total),
        (offset, total),
        "offset and total of {q:?}, limit {limit}"
    );
    assert_eq!(&page.query, q);
    page
}

fn anchors(all: &[ThreadRow]) -> Vec<ThreadAnchor> {
    let mut keys: Vec<ThreadKey> = all.iter().step_by(4).map(ThreadKey::of).collect();
    // Places no thread holds: between two touch times, before and after
    // everything, and in a state no run of the State order names.
    keys.push(ThreadKey {
        id: "T1f4".into(),
        state: "idle".into(),
        last_touched_at: NOW - 150,
        opened_at: NOW - 5_000,
    });
    keys.push(ThreadKey {
        id: "A".into(),
        state: "active".into(),
        last_touched_at: NOW + 10,
        opened_at: NOW + 10,
    });
    keys.push(ThreadKey {
        id: "zzz".into(),
        state: "closed".into(),
        last_touched_at: 0,
        opened_at: 0,
    });
    keys.push(ThreadKey {
        id: "T55".into(),
        state: "archived".into(),
        last_touched_at: NOW - 120,
        opened_at: NOW,
    });
    let mut anchors = vec![ThreadAnchor::Top, ThreadAnchor::Bottom];
    anchors.extend(keys.into_iter().map(ThreadAnchor::Around));
    anchors
}

#[test]
fn every_order_direction_and_anchor_matches_the_list_sorted_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = read_only(&store(dir.path(), &all));
    let filters = [
        ThreadFilter::default(),
        ThreadFilter {
            state: Some("idle".into()),
            text: String::new(),
        },
        ThreadFilter {
            state: None,
            text: " question 1 ".into(),
        },
        ThreadFilter {
            state: Some("closed".into()),
            text: "QUESTION 2".into(),
        },
        ThreadFilter {
            state: Some("archived".into()),
            text: String::new(),
        },
    ];
    let mut checked = 0;
    for filter in &filters {
        for sort in ThreadSort::ALL {
            for reverse in [false, true] {
                for anchor in anchors(&all) {
                    for limit in [0, 1, 2, 7, 10, 61, 100] {
                        let q = query(filter, sort, reverse, anchor.clone());
                        check(&conn, &all, &q, limit);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 4 * 2 * 22 * 7);
}

#[test]
fn a_page_is_full_whenever_enough_threads_match() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = read_only(&store(dir.path(), &all));
    for sort in ThreadSort::ALL {
        for reverse in [false, true] {
            for anchor in anchors(&all) {
                let q = query(&ThreadFilter::default(), sort, reverse, anchor);
                let page = page_threads(&conn, &q, 10).unwrap();
                assert_eq!(page.rows.len(), 10, "{q:?}");
                assert_eq!(page.total, 61);
                assert!(page.offset + 10 <= page.total, "{q:?}: {}", page.offset);
            }
        }
    }
}

#[test]
fn bottom_ends_at_the_last_matching_thread() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = read_only(&store(dir.path(), &all));
    for state in [None, Some("active"), Some("idle"), Some("closed")] {
        let filter = ThreadFilter {
            state: state.map(Into::into),
            text: String::new(),
        };
        for sort in ThreadSort::ALL {
            for reverse in [false, true] {
                for limit in [1, 5, 12, 13, 200] {
                    let q = query(&filter, sort, reverse, ThreadAnchor::Bottom);
                    let page = check(&conn, &all, &q, limit);
                    assert_eq!(page.offset + page.rows.len() as u64, page.total, "{q:?}");
                }
            }
        }
    }
}

#[test]
fn around_a_touched_thread_follows_it_to_its_new_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = many();
    let writer = store(dir.path(), &all);
    let conn = read_only(&writer);
    let before = page_threads(
        &conn,
        &query(
            &ThreadFilter::default(),
            ThreadSort::Touched,
            false,
            ThreadAnchor::Bottom,
        ),
        9,
    )
    .unwrap();
    let moved = before.rows[4].clone();
    assert!(before.offset > 0);

    writer
        .execute(
            "UPDATE threads SET last_touched_at = ?1, state = 'active' WHERE id = ?2",
            params![NOW + 60, moved.id],
        )
        .unwrap();
    let i = all.iter().position(|r| r.id == moved.id).unwrap();
    all[i].last_touched_at = NOW + 60;
    all[i].state = "active".into();

    for sort in ThreadSort::ALL {
        for reverse in [false, true] {
            let q = query(
                &ThreadFilter::default(),
                sort,
                reverse,
                ThreadAnchor::Around(ThreadKey::of(&moved)),
            );
            let page = check(&conn, &all, &q, 9);
            assert!(
                page.rows.iter().any(|r| r.id == moved.id),
                "{q:?} lost the thread"
            );
        }
    }
    let touched = page_threads(
        &conn,
        &query(
            &ThreadFilter::default(),
            ThreadSort::Touched,
            false,
            ThreadAnchor::Around(ThreadKey::of(&moved)),
        ),
        9,
    )
    .unwrap();
    assert_eq!(touched.offset, 0, "the newest touch is first");
    assert_eq!(touched.rows[0].id, moved.id);
    assert_eq!(touched.rows[0].last_touched_at, NOW + 60);
}

#[test]
fn around_a_deleted_thread_keeps_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let writer = store(dir.path(), &all);
    let conn = read_only(&writer);
    for sort in ThreadSort::ALL {
        for reverse in [false, true] {
            let q = query(&ThreadFilter::default(), sort, reverse, ThreadAnchor::Top);
            let mut page = page_threads(&conn, &q, 61).unwrap();
            let gone = page.rows.remove(30);
            let (previous, next) = (&page.rows[29], &page.rows[30]);

            writer
                .execute("DELETE FROM threads WHERE id = ?1", [&gone.id])
                .unwrap();
            let q = query(
                &ThreadFilter::default(),
                sort,
                reverse,
                ThreadAnchor::Around(ThreadKey::of(&gone)),
            );
            let all_now: Vec<ThreadRow> = all.iter().filter(|r| r.id != gone.id).cloned().collect();
            let around = check(&conn, &all_now, &q, 10);
            assert_eq!(around.rows[4].id, previous.id, "{q:?}");
            assert_eq!(around.rows[5].id, next.id, "{q:?}");
            assert_eq!(around.offset, 25, "{q:?}");
            assert_eq!(around.total, 60);

            insert(&writer, &gone);
        }
    }
}

#[test]
fn around_a_thread_the_filter_hides_keeps_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = read_only(&store(dir.path(), &all));
    let hidden: Vec<&ThreadRow> = all.iter().filter(|r| r.state == "idle").collect();
    let by_state = ThreadFilter {
        state: Some("closed".into()),
        text: String::new(),
    };
    let by_text = ThreadFilter {
        state: None,
        text: "question 3".into(),
    };
    for filter in [&by_state, &by_text] {
        for sort in ThreadSort::ALL {
            for reverse in [false, true] {
                for thread in hidden.iter().filter(|r| !matches(filter, r)) {
                    let q = query(
                        filter,
                        sort,
                        reverse,
                        ThreadAnchor::Around(ThreadKey::of(thread)),
                    );
                    let page = check(&conn, &all, &q, 6);
                    assert!(page.rows.iter().all(|r| matches(filter, r)));
                }
            }
        }
    }
}

/// Pages read by anchoring on the last row shown, as the panel does when
/// the cursor goes past the loaded rows.
fn walk_forward(
    conn: &Connection,
    filter: &ThreadFilter,
    sort: ThreadSort,
    reverse: bool,
) -> Vec<ThreadRow> {
    let limit = 8;
    let first = page_threads(
        conn,
        &query(filter, sort, reverse, ThreadAnchor::Top),
        limit,
    )
    .unwrap();
    let mut seen = first.rows.clone();
    let mut pages = 0;
    while let Some(last) = seen.last().cloned() {
        let q = query(
            filter,
            sort,
            reverse,
            ThreadAnchor::Around(ThreadKey::of(&last)),
        );
        let page = page_threads(conn, &q, limit).unwrap();
        let at = page.rows.iter().position(|r| r.id == last.id).unwrap();
        assert_eq!(
            page.offset + at as u64 + 1,
            seen.len() as u64,
            "{q:?}: the anchor row is not where the walk left it"
        );
        let new = &page.rows[at + 1..];
        if new.is_empty() {
            break;
        }
        seen.extend_from_slice(new);
        pages += 1;
        assert!(pages < 100, "the walk does not end");
    }
    seen
}

#[test]
fn paging_forward_from_the_last_row_has_no_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = read_only(&store(dir.path(), &all));
    for filter in [
        ThreadFilter::default(),
        ThreadFilter {
            state: Some("closed".into()),
            text: String::new(),
        },
    ] {
        for sort in ThreadSort::ALL {
            for reverse in [false, true] {
                let walked = walk_forward(&conn, &filter, sort, reverse);
                let q = query(&filter, sort, reverse, ThreadAnchor::Top);
                let (whole, _, total) = expected(&all, &q, all.len());
                assert_eq!(walked.len() as u64, total);
                assert_eq!(walked, whole, "{sort:?} reverse={reverse} {filter:?}");
            }
        }
    }
}

#[test]
fn filter_text_matches_percent_and_underscore_literally() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![
        row("T1", "active", NOW, NOW, "cache hit rate at 100% now"),
        row("T2", "active", NOW - 1, NOW, "cache hit rate at 1000 now"),
        row("T3", "idle", NOW - 2, NOW, "rename foo_bar"),
        row("T4", "idle", NOW - 3, NOW, "rename fooXbar"),
        row("T5", "closed", NOW - 4, NOW, "a back\\slash"),
        row("T_6", "closed", NOW - 5, NOW, "nothing here"),
        row("T76", "closed", NOW - 6, NOW, "nothing there"),
    ];
    all[6].last_move = Some("50% there".into());
    let conn = read_only(&store(dir.path(), &all));
    let cases: [(&str, &[&str]); 6] = [
        ("100%", &["T1"]),
        ("0% ", &["T1", "T76"]),
        ("foo_bar", &["T3"]),
        ("T_", &["T_6"]),
        ("back\\s", &["T5"]),
        ("%", &["T1", "T76"]),
    ];
    for (text, ids) in cases {
        for state in [None, Some("closed")] {
            let filter = ThreadFilter {
                state: state.map(Into::into),
                text: text.into(),
            };
            let wanted: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| state.is_none_or(|s| all.iter().any(|r| r.id == *id && r.state == s)))
                .collect();
            let listed: Vec<String> = list_threads(&conn, &filter, 100)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(listed, wanted, "list_threads {filter:?}");
            for sort in ThreadSort::ALL {
                for anchor in [
                    ThreadAnchor::Top,
                    ThreadAnchor::Bottom,
                    ThreadAnchor::Around(ThreadKey::of(&all[3])),
                ] {
                    let q = query(&filter, sort, false, anchor);
                    let page = check(&conn, &all, &q, 100);
                    let mut got: Vec<&str> = page.rows.iter().map(|r| r.id.as_str()).collect();
                    got.sort_unstable();
                    let mut want = wanted.clone();
                    want.sort_unstable();
                    assert_eq!(got, want, "{q:?}");
                }
            }
        }
    }
}

#[test]
fn a_page_carries_opened_at() {
    let dir = tempfile::tempdir().unwrap();
    let all = vec![row("T1", "active", NOW, NOW - 12_345, "q")];
    let conn = read_only(&store(dir.path(), &all));
    let page = page_threads(&conn, &ThreadQuery::default(), 5).unwrap();
    assert_eq!(page.rows[0].opened_at, NOW - 12_345);
    let listed = list_threads(&conn, &ThreadFilter::default(), 5).unwrap();
    assert_eq!(listed[0].opened_at, NOW - 12_345);
}

#[test]
fn an_empty_store_gives_an_empty_page() {
    let dir = tempfile::tempdir().unwrap();
    let conn = read_only(&store(dir.path(), &[]));
    for sort in ThreadSort::ALL {
        for anchor in anchors(&[]) {
            let q = query(&ThreadFilter::default(), sort, true, anchor);
            let page = page_threads(&conn, &q, 10).unwrap();
            assert_eq!(
                (page.rows.len(), page.offset, page.total),
                (0, 0, 0),
                "{q:?}"
            );
        }
    }
}

#[test]
fn a_page_inside_the_callers_transaction_sees_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let all = many();
    let conn = store(dir.path(), &all);
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute("DELETE FROM threads WHERE state = 'closed'", [])
        .unwrap();
    let page = page_threads(&tx, &ThreadQuery::default(), 100).unwrap();
    assert_eq!(
        page.total,
        all.iter().filter(|r| r.state != "closed").count() as u64
    );
    tx.rollback().unwrap();
    let page = page_threads(&conn, &ThreadQuery::default(), 100).unwrap();
    assert_eq!(page.total, 61);
}

#[test]
fn sorts_cycle_through_all_four_in_both_directions() {
    let names: Vec<&str> = ThreadSort::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["touched", "age", "state", "id"]);
    assert_eq!(ThreadSort::default(), ThreadSort::Touched);
    let mut s = ThreadSort::default();
    let mut forward = Vec::new();
    for _ in 0..4 {
        s = s.next();
        forward.push(s);
    }
    assert_eq!(
        forward,
        [
            ThreadSort::Age,
            ThreadSort::State,
            ThreadSort::Id,
            ThreadSort::Touched
        ]
    );
    for s in ThreadSort::ALL {
        assert_eq!(s.next().prev(), s);
        assert_eq!(s.prev().next(), s);
    }
    assert_eq!(ThreadSort::Touched.prev(), ThreadSort::Id);
}
