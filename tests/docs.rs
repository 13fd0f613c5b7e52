//! The README promises things the code must keep true.
#![allow(clippy::unwrap_used, reason = "tests")]

use keeper_tui::ui::keys::BINDINGS;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_key_table_lists_every_binding() {
    let text = readme();
    for b in BINDINGS {
        let row = format!("| `{}` |", b.label);
        let line = text
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("README has no key row for {}", b.label));
        assert!(
            line.ends_with(&format!("| {} |", b.help)),
            "README row for {} says {line:?}, the key table says {:?}",
            b.label,
            b.help
        );
    }
}

#[test]
fn readme_quick_start_is_the_two_commands() {
    let text = readme();
    let quick = text
        .split("## Quick start")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let commands: Vec<&str> = quick
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(commands, ["cargo run --release -- --demo", "cargo test"]);
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        "CI must run README's test command"
    );
}
