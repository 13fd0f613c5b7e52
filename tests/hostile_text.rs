//! Store text that carries terminal escapes, bidi overrides and flags never
//! reaches the operator's terminal raw: every verb that prints for a human
//! shows it escaped, `--json` keeps it exact.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::*;
use keeper_tui::store::now_unix;
use rusqlite::params;

/// Retitles the pane, sets the clipboard (OSC 52), clears the screen; then
/// a C1 CSI, a bidi override and a flag.
const HOSTILE: &str =
    "x\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\u{202e}gnp.exe 🇺🇸";

/// Nothing a terminal would act on, nor a character whose width it would
/// dispute.
fn assert_clean(out: &str) {
    for c in out.chars() {
        assert!(
            c == '\n'
                || !(c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{1f1e6}'..='\u{1f1ff}')),
            "raw {c:?} reached the terminal in:\n{out}"
        );
    }
}

#[test]
fn janitor_dry_run_prints_a_hostile_question_escaped() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    add_thread(&c, "T0a1", "active", now - 3 * DAY);
    c.execute(
        "UPDATE threads SET question = ?1 WHERE id = 'T0a1'",
        [HOSTILE],
    )
    .unwrap();
    drop(c);
    let o = run(home.path(), &path, &["pass", "janitor", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_clean(&out);
    assert!(out.contains("x\\e]0;pwned\\x07\\e]52;c;"), "{out}");
    assert!(out.contains("\\u{202e}gnp.exe"), "{out}");
}

#[test]
fn status_and_sessions_escape_kinds_tiers_and_owners_and_json_stays_exact() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let now = now_unix();
    let c = rw(&path);
    // Any agent can set an event kind through threadkeeper's note(kind=…).
    let kind = format!("{HOSTILE}_pass");
    add_event(&c, &kind, "", "ran", now - 60);
    add_event(&c, "evolve_proposed", "", "x", now - 60);
    drop(c);
    let o = run(
        home.path(),
        &path,
        &["claim", "msg-warm-1", "--owner", HOSTILE],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_clean(&stdout(&o));

    let o = run(home.path(), &path, &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_clean(&out);
    assert!(out.contains("x\\e]0;pwned"), "{out}");

    let o = run(home.path(), &path, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        json.to_string()
            .contains(&serde_json::to_string(HOSTILE).unwrap()[1..20]),
        "the JSON names the kind exactly: {json}"
    );
    let text = serde_json::to_string(&json).unwrap();
    assert!(text.contains("\\u001b]0;pwned"), "{text}");

    let c = rw(&path);
    let owner: String = c
        .query_row(
            "SELECT owner FROM keeper_claims WHERE name = ?1",
            params!["msg-warm-1"],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(owner, HOSTILE, "the store keeps what was given");
}

#[test]
fn an_error_naming_hostile_text_is_escaped_too() {
    let home = tempfile::tempdir().unwrap();
    let path = new_store(home.path());
    let o = run(home.path(), &path, &["reopen", HOSTILE]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_clean(&err);
    assert!(
        err.contains("]0;pwned") && err.contains("does not exist"),
        "{err}"
    );
}
