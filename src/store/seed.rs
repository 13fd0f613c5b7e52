//! `keeper-tui seed`: a deterministic store with threadkeeper's realistic
//! spreads, for tests, benchmarks and the demo. The same arguments always
//! give the same rows (timestamps are relative to `now`).

use std::collections::HashSet;
use std::path::Path;

use rusqlite::params;

use super::WriteStore;
use crate::error::{Error, Result};

const DAY: i64 = 86_400;

/// splitmix64: tiny, fast, and stable across versions, unlike a crate RNG.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn weighted<'a>(&mut self, items: &'a [(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|i| i.1).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (name, w) in items {
            if x < *w {
                return name;
            }
            x -= w;
        }
        items[0].0
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const WORDS: &[&str] = &[
    "thread",
    "janitor",
    "reaper",
    "session",
    "sqlite",
    "wal",
    "index",
    "migration",
    "schema",
    "event",
    "loop",
    "outcome",
    "skill",
    "curator",
    "review",
    "extract",
    "candidate",
    "probe",
    "evolve",
    "dashboard",
    "spawn",
    "task",
    "watchdog",
    "bridge",
    "heartbeat",
    "memory",
    "ingest",
    "dialog",
    "embedding",
    "brief",
    "note",
    "insight",
    "lesson",
    "tier",
    "claim",
    "retry",
    "timeout",
    "signal",
    "presence",
    "cursor",
    "panel",
    "render",
    "layout",
    "channel",
    "config",
    "fixed",
    "merged",
    "flaky",
    "refactor",
    "benchmark",
    "query",
    "plan",
    "window",
    "tmux",
    "hook",
];

fn sentence(rng: &mut Rng, lo: i64, hi: i64) -> String {
    let n = rng.range(lo, hi);
    (0..n)
        .map(|_| *rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// threadkeeper's loop and outcome kinds, with the weights and summaries
/// they show in a lived-in store.
pub const LOOP_KINDS: &[(&str, u32)] = &[
    ("ingest_pass", 6),
    ("shadow_review_pass", 4),
    ("extract_pass", 5),
    ("candidate_review_pass", 3),
    ("curator_pass", 1),
    ("probe_pass", 2),
    ("evolve_review_pass", 1),
    ("janitor_pass", 2),
];
pub const OUTCOME_KINDS: &[(&str, u32)] = &[
    ("skill_materialized", 3),
    ("tier_promoted", 2),
    ("tier_demoted", 1),
    ("skill_tier_promoted", 1),
    ("reject_candidate", 6),
    ("accept_candidate:note", 3),
    ("accept_candidate:verbatim", 1),
    ("lesson_append", 2),
];
const MUTATION_KINDS: &[(&str, u32)] = &[
    ("note:move", 30),
    ("note:insight", 10),
    ("note:failed", 6),
    ("note:open_q", 5),
    ("open_thread", 10),
    ("close_thread", 7),
    ("idle_thread", 3),
    ("signal:broadcast", 5),
    ("spawn", 3),
    ("skill_use", 4),
];
const NOTE_KINDS: &[(&str, u32)] = &[
    ("move", 50),
    ("insight", 22),
    ("failed", 14),
    ("open_q", 14),
];

fn loop_summary(rng: &mut Rng, kind: &str) -> String {
    match kind {
        "janitor_pass" => {
            if rng.chance(0.5) {
                "no_stale".into()
            } else {
                format!("closed={}", rng.range(1, 4))
            }
        }
        "ingest_pass" => format!("new={} files={}", rng.range(0, 20), rng.range(1, 5)),
        "extract_pass" => format!(
            "candidates={} scanned={}",
            rng.range(0, 6),
            rng.range(10, 150)
        ),
        _ => "ok".into(),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SeedSpec {
    pub threads: u64,
    pub events: u64,
    pub notes: u64,
    pub seed: u64,
    pub now: i64,
    /// Touches and events spread over this many days before `now`.
    pub span_days: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedCounts {
    pub active: u64,
    pub idle: u64,
    pub closed: u64,
}

/// Build a new store at `path`. Refuses to touch an existing file.
pub fn seed(path: &Path, spec: SeedSpec) -> Result<SeedCounts> {
    if path.exists() {
        return Err(Error::Refused(format!(
            "{} already exists; seed only builds new stores (pick another path or remove it)",
            path.display()
        )));
    }
    let store = WriteStore::open(path, "keeper-seed")?;
    store.with_conn(None, |c| c.pragma_update(None, "synchronous", "OFF"))?;
    let counts = store.write(|tx| fill(tx, spec))?;
    store.with_conn(None, |c| {
        c.pragma_update(None, "synchronous", "NORMAL")?;
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
    })?;
    Ok(counts)
}

fn fill(tx: &rusqlite::Transaction<'_>, spec: SeedSpec) -> rusqlite::Result<SeedCounts> {
    let mut rng = Rng::new(spec.seed);
    let sessions = fill_sessions(tx, &mut rng, spec)?;
    let (ids, spans, counts) = fill_threads(tx, &mut rng, spec)?;
    fill_notes(tx, &mut rng, spec, &ids, &spans, &sessions)?;
    fill_events(tx, &mut rng, spec, &ids, &sessions)?;
    fill_tasks(tx, &mut rng, spec, &sessions)?;
    Ok(counts)
}

fn fill_sessions(
    tx: &rusqlite::Transaction<'_>,
    rng: &mut Rng,
    spec: SeedSpec,
) -> rusqlite::Result<Vec<String>> {
    let now = spec.now;
    let span = spec.span_days.max(1) * DAY;
    let n_sess = (spec.threads / 20).max(50);
    let sessions: Vec<String> = (0..n_sess)
        .map(|i| format!("s_{}_{}", 1000 + i, rng.hex(4)))
        .collect();
    {
        let mut st = tx.prepare(
            "INSERT INTO sessions (id, started_at, ended_at, client, write_origin) VALUES (?1,?2,?3,?4,'foreground')",
        )?;
        for s in &sessions {
            let started = now - rng.range(0, span);
            let ended = started + rng.range(60, 8 * 3600);
            let ended = (ended < now - 600).then_some(ended);
            st.execute(params![
                s,
                started,
                ended,
                *rng.pick(&["claude", "codex", "gemini"])
            ])?;
        }
    }

    Ok(sessions)
}

type Spans = Vec<(i64, i64)>;

fn fill_threads(
    tx: &rusqlite::Transaction<'_>,
    rng: &mut Rng,
    spec: SeedSpec,
) -> rusqlite::Result<(Vec<String>, Spans, SeedCounts)> {
    let now = spec.now;
    let span = spec.span_days.max(1) * DAY;
    let mut counts = SeedCounts::default();
    let mut ids: Vec<String> = Vec::with_capacity(spec.threads as usize);
    let mut seen = HashSet::new();
    while (ids.len() as u64) < spec.threads {
        let width = if ids.len() < 3000.min(spec.threads as usize) {
            3
        } else {
            5
        };
        let id = format!("T{}", rng.hex(width));
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    let mut spans = Vec::with_capacity(ids.len());
    {
        let mut st = tx.prepare(
            "INSERT INTO threads (id, question, state, parent_id, outcome, last_move, depth, opened_at, last_touched_at) \
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        )?;
        for (i, id) in ids.iter().enumerate() {
            let touched = now - rng.range(0, span);
            let opened = touched - rng.range(0, 10 * DAY);
            spans.push((opened, touched));
            let state = rng.weighted(&[("closed", 60), ("active", 25), ("idle", 15)]);
            match state {
                "closed" => counts.closed += 1,
                "active" => counts.active += 1,
                _ => counts.idle += 1,
            }
            let (parent, depth) = if i > 10 && rng.chance(0.10) {
                (Some(ids[rng.below(i as u64) as usize].clone()), 1)
            } else {
                (None, 0)
            };
            let outcome = (state == "closed").then(|| format!("shipped: {}", sentence(rng, 4, 10)));
            let question = sentence(rng, 5, 15);
            let last_move: String = sentence(rng, 4, 14).chars().take(90).collect();
            st.execute(params![
                id, question, state, parent, outcome, last_move, depth, opened, touched
            ])?;
        }
    }

    Ok((ids, spans, counts))
}

fn fill_notes(
    tx: &rusqlite::Transaction<'_>,
    rng: &mut Rng,
    spec: SeedSpec,
    ids: &[String],
    spans: &Spans,
    sessions: &[String],
) -> rusqlite::Result<()> {
    let now = spec.now;
    let span = spec.span_days.max(1) * DAY;
    let mut note_meta: Vec<(i64, Option<usize>)> = (0..spec.notes)
        .map(|_| {
            if spec.threads == 0 || rng.chance(0.02) {
                (now - rng.range(0, span), None)
            } else {
                let t = rng.below(spec.threads) as usize;
                let (lo, hi) = spans[t];
                (rng.range(lo, hi), Some(t))
            }
        })
        .collect();
    note_meta.sort_unstable();
    {
        let mut st = tx.prepare(
            "INSERT INTO notes (thread_id, content, kind, created_at, session_id) VALUES (?1,?2,?3,?4,?5)",
        )?;
        for (at, thread) in note_meta {
            let session = rng.pick(sessions).clone();
            match thread {
                None => st.execute(params![
                    Option::<String>::None,
                    format!("session summary: {}", sentence(rng, 8, 30)),
                    "session_summary",
                    at,
                    session
                ])?,
                Some(t) => {
                    let kind = rng.weighted(NOTE_KINDS);
                    st.execute(params![ids[t], sentence(rng, 6, 40), kind, at, session])?
                }
            };
        }
    }

    Ok(())
}

fn fill_events(
    tx: &rusqlite::Transaction<'_>,
    rng: &mut Rng,
    spec: SeedSpec,
    ids: &[String],
    sessions: &[String],
) -> rusqlite::Result<()> {
    let now = spec.now;
    let span = spec.span_days.max(1) * DAY;
    let mut times: Vec<i64> = (0..spec.events).map(|_| now - rng.range(0, span)).collect();
    times.sort_unstable();
    {
        let mut st = tx.prepare(
            "INSERT INTO events (session_id, kind, target, summary, created_at) VALUES (?1,?2,?3,?4,?5)",
        )?;
        for at in times {
            let session = rng.pick(sessions).clone();
            let group = rng.weighted(&[("mut", 55), ("loop", 30), ("out", 15)]);
            let target = if ids.is_empty() {
                String::new()
            } else {
                rng.pick(ids).clone()
            };
            match group {
                "loop" => {
                    let kind = rng.weighted(LOOP_KINDS);
                    let summary = loop_summary(rng, kind);
                    let target = if kind == "janitor_pass" {
                        String::new()
                    } else {
                        at.to_string()
                    };
                    st.execute(params![session, kind, target, summary, at])?;
                }
                "out" => {
                    let kind = rng.weighted(OUTCOME_KINDS);
                    st.execute(params![session, kind, target, "seeded", at])?;
                }
                _ => {
                    let kind = rng.weighted(MUTATION_KINDS);
                    st.execute(params![session, kind, target, sentence(rng, 3, 20), at])?;
                }
            }
        }
    }

    Ok(())
}

fn fill_tasks(
    tx: &rusqlite::Transaction<'_>,
    rng: &mut Rng,
    spec: SeedSpec,
    sessions: &[String],
) -> rusqlite::Result<()> {
    let now = spec.now;
    let span = spec.span_days.max(1) * DAY;
    {
        let mut st = tx.prepare(
            "INSERT INTO tasks (id, pid, parent_cid, cwd, prompt, started_at, ended_at, return_code) \
             VALUES (?1,?2,?3,'/home/operator/project',?4,?5,?6,?7)",
        )?;
        for k in 0..303 {
            let started = now - rng.range(600, span);
            let running = k >= 300;
            let started = if running {
                now - rng.range(30, 1800)
            } else {
                started
            };
            let ended = (!running).then(|| started + rng.range(20, 3600));
            let rc = (!running).then(|| *rng.pick(&[0, 0, 0, 0, 1, -9]));
            st.execute(params![
                format!("tk_{}", rng.hex(6)),
                rng.range(2000, 90_000),
                rng.pick(sessions),
                format!(
                    "You are a SHADOW LEARNING OBSERVER {}",
                    sentence(rng, 5, 20)
                ),
                started,
                ended,
                rc
            ])?;
        }
    }

    Ok(())
}
