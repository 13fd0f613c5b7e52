//! Pages of the Threads panel on a store of 100,000 threads:
//! `page_threads` with 500 rows, its offset and total, at the top, around
//! the middle and at the bottom of each order, median / min / max of 21
//! runs on one read connection (`ReadStore`, as the engine holds). The
//! store is built in a temp dir: touch times fall on whole minutes, so
//! about half the threads share theirs with another and the id decides.
//! `cargo bench --bench threads_page`.

use std::path::Path;
use std::time::{Duration, Instant};

use keeper_tui::store::ReadStore;
use keeper_tui::store::schema::create_core;
use keeper_tui::store::seed::Rng;
use keeper_tui::store::threads::{
    ThreadAnchor, ThreadFilter, ThreadKey, ThreadQuery, ThreadSort, list_threads, page_threads,
};
use rusqlite::{Connection, params};

const THREADS: u64 = 100_000;
const LIMIT: u32 = 500;
const RUNS: usize = 21;
/// In the question of one thread in 1,000: a filter with few matches.
const RARE: &str = "oddity";
const NOW: i64 = 1_750_000_000;
const WORDS: [&str; 12] = [
    "janitor",
    "sqlite",
    "bridge",
    "reaper",
    "index",
    "session",
    "watchdog",
    "heartbeat",
    "migration",
    "render",
    "config",
    "tmux",
];

fn build(path: &Path) {
    let conn = Connection::open(path).expect("create store");
    create_core(&conn).expect("core layout");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("synchronous");
    let tx = conn.unchecked_transaction().expect("begin");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO threads (id, question, state, outcome, last_move, opened_at, \
                 last_touched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .expect("prepare");
        let mut rng = Rng::new(20_240_601);
        for i in 0..THREADS {
            // An odd multiplier permutes 0..2^20: unique ids in no useful order.
            let id = format!("T{:05x}", (i * 0x9E37 + 0x1234) % (1 << 20));
            let touched = NOW - rng.range(0, 90 * 1_440) * 60;
            let opened = touched - rng.range(0, 10 * 86_400);
            let state = rng.weighted(&[("closed", 60), ("active", 25), ("idle", 15)]);
            let odd = if i % 1_000 == 7 { RARE } else { "" };
            let question = format!(
                "why does the {} {} {} {odd}",
                rng.pick(&WORDS),
                rng.pick(&WORDS),
                rng.pick(&WORDS)
            );
            let outcome = (state == "closed").then_some("shipped");
            let last_move = format!("looked at the {}", rng.pick(&WORDS));
            insert
                .execute(params![
                    id, question, state, outcome, last_move, opened, touched
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
}

struct Case {
    sort: ThreadSort,
    filter: ThreadFilter,
    label: &'static str,
}

/// The key of the `n`th thread of the case's list, found by walking pages
/// so that the bench relies on nothing but `page_threads`.
fn nth(conn: &Connection, case: &Case, n: u64) -> ThreadKey {
    let mut q = ThreadQuery {
        filter: case.filter.clone(),
        sort: case.sort,
        reverse: false,
        anchor: ThreadAnchor::Top,
    };
    loop {
        let page = page_threads(conn, &q, 5_000).expect("page");
        let last = page.rows.last().expect("a thread");
        if n < page.offset + page.rows.len() as u64
            || page.offset + page.rows.len() as u64 >= page.total
        {
            let i = n.saturating_sub(page.offset) as usize;
            return ThreadKey::of(page.rows.get(i).unwrap_or(last));
        }
        q.anchor = ThreadAnchor::Around(ThreadKey::of(last));
    }
}

fn measure(conn: &Connection, q: &ThreadQuery) -> (Vec<Duration>, u64, u64, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let page = page_threads(conn, q, LIMIT).expect("page");
        times.push(t0.elapsed());
        last = Some(page);
    }
    times.sort();
    let page = last.expect("a run");
    (times, page.offset, page.total, page.rows.len())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn cases() -> Vec<Case> {
    let filter = |state: Option<&str>, text: &str| ThreadFilter {
        state: state.map(Into::into),
        text: text.into(),
    };
    [
        (ThreadSort::Touched, None, "", "none"),
        (ThreadSort::Touched, Some("active"), "", "state = active"),
        (ThreadSort::Touched, None, "watchdog", "text `watchdog`"),
        (
            ThreadSort::Touched,
            None,
            RARE,
            "text `oddity` (1 in 1,000)",
        ),
        (ThreadSort::State, None, "", "none"),
        (ThreadSort::State, Some("active"), "", "state = active"),
        (ThreadSort::Age, None, "", "none"),
        (ThreadSort::Id, None, "", "none"),
    ]
    .into_iter()
    .map(|(sort, state, text, label)| Case {
        sort,
        filter: filter(state, text),
        label,
    })
    .collect()
}

fn row(sort: &str, filter: &str, anchor: &str, times: &[Duration], tail: &str) {
    println!(
        "| {sort} | {filter} | {anchor} | {} | {} | {} | {tail} |",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("threads.sqlite");
    let t0 = Instant::now();
    build(&path);
    eprintln!(
        "built {THREADS} threads in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let store = ReadStore::open(&path).expect("open");
    let conn = &store.conn;

    println!("| order | filter | anchor | median | min | max | offset | rows | total |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for case in &cases() {
        let whole = ThreadQuery {
            filter: case.filter.clone(),
            sort: case.sort,
            ..ThreadQuery::default()
        };
        let total = page_threads(conn, &whole, 0).expect("total").total;
        let middle = nth(conn, case, total / 2);
        for (name, anchor) in [
            ("top", ThreadAnchor::Top),
            ("middle", ThreadAnchor::Around(middle)),
            ("bottom", ThreadAnchor::Bottom),
        ] {
            let q = ThreadQuery {
                anchor,
                ..whole.clone()
            };
            let (times, offset, total, rows) = measure(conn, &q);
            let wanted = match name {
                "top" => 0,
                "middle" => (total / 2)
                    .saturating_sub(u64::from(LIMIT / 2))
                    .min(total.saturating_sub(u64::from(LIMIT))),
                _ => total - rows as u64,
            };
            assert_eq!(offset, wanted, "{q:?}");
            assert_eq!(rows as u64, total.min(u64::from(LIMIT)), "{q:?}");
            let tail = format!("{offset} | {rows} | {total}");
            row(case.sort.name(), case.label, name, &times, &tail);
        }
    }

    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let rows = list_threads(conn, &ThreadFilter::default(), LIMIT).expect("list");
        times.push(t0.elapsed());
        assert_eq!(rows.len(), LIMIT as usize);
    }
    times.sort();
    let tail = format!("— | {LIMIT} | —");
    row("`list_threads` (before)", "none", "top", &times, &tail);
}
