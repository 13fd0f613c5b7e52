//! Text for the detail popups: a thread with its notes, a loop's recent
//! passes. Plain lines, so the same answer reads well in a log too.

use crate::report::fmt_age;
use crate::store::threads::ThreadRow;

pub(super) fn thread(t: &ThreadRow, notes: &[(i64, String, String)], now: i64) -> String {
    let mut out = vec![
        format!(
            "{}  [{}]  touched {} ago",
            t.id,
            t.state,
            fmt_age(now - t.last_touched_at)
        ),
        format!("question: {}", t.question),
    ];
    if let Some(m) = &t.last_move {
        out.push(format!("last move: {m}"));
    }
    if let Some(o) = &t.outcome {
        out.push(format!("outcome: {o}"));
    }
    out.push(String::new());
    if notes.is_empty() {
        out.push("no notes".into());
    } else {
        out.push(format!("newest {} note(s):", notes.len()));
        for (at, kind, content) in notes {
            out.push(format!("{:>4} ago  {kind:<8} {content}", fmt_age(now - at)));
        }
    }
    out.join("\n")
}

pub(super) fn loop_history(kind: &str, rows: &[(i64, String, String)], now: i64) -> String {
    if rows.is_empty() {
        return format!("no {kind} passes recorded");
    }
    let mut out = vec![format!("newest {} {kind} pass(es):", rows.len())];
    for (at, session, summary) in rows {
        out.push(format!(
            "{:>4} ago  {summary}  ({session})",
            fmt_age(now - at)
        ));
    }
    out.join("\n")
}

/// The janitor passes that can still be taken back, by number.
pub(super) fn undoable(passes: &[crate::store::undo::UndoablePass], now: i64) -> String {
    if passes.is_empty() {
        return String::new();
    }
    let mut out = vec![
        "passes that can be undone (u takes back the newest; `keeper-tui undo N` any):".to_string(),
    ];
    for p in passes {
        out.push(format!(
            "  #{}  {:>4} ago  closed {}",
            p.id,
            fmt_age(now - p.at),
            p.closed
        ));
    }
    out.push(String::new());
    out.push(String::new());
    out.join("\n")
}

/// keeper's own record of a loop's passes that changed something or
/// failed (failures leave no event in the store).
pub(super) fn keeper_history(rows: &[crate::store::keeper::PassRecord], now: i64) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = vec![
        String::new(),
        "keeper-tui's record (changes and failures):".to_string(),
    ];
    for r in rows {
        out.push(format!(
            "{:>4} ago  {} {}  {}",
            fmt_age(now - r.finished_at),
            r.mode,
            if r.ok { "ok" } else { "FAILED" },
            r.summary
        ));
    }
    out.join("\n")
}
