//! `keeper-tui status`: the snapshot as text in threadkeeper's dashboard
//! layout (so an operator recognises it line for line) or as stable JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::store::snapshot::{Group, StoreFigures};

/// threadkeeper's `fmt_age`: `<60 s` → `Ns`, `<60 min` → `Nm`, `<24 h` → `Nh`, else `Nd`.
pub fn fmt_age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 60 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 24 {
        return format!("{h}h");
    }
    format!("{}d", h / 24)
}

fn fmt_group(g: &Group) -> String {
    if g.is_empty() {
        return "0".into();
    }
    g.iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn utc_minute(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(
        || ts.to_string(),
        |t| t.format("%Y-%m-%dT%H:%MZ").to_string(),
    )
}

/// The text form. Sections, order and spacing follow threadkeeper 0.8.1's
/// `mp_dashboard`; loops and outcomes it does not know are added in place.
pub fn text(f: &StoreFigures) -> String {
    let w = f.window_days;
    let s = &f.stores;
    let mut out = String::new();
    let _ = writeln!(out, "dashboard window={w}d now={}", utc_minute(f.now));
    let _ = writeln!(out);
    let _ = writeln!(out, "stores");
    let _ = writeln!(
        out,
        "  threads: {} (total {})",
        fmt_group(&s.threads),
        s.threads_total
    );
    let _ = writeln!(
        out,
        "  notes={} dialog={} distill={} concepts={}",
        s.notes, s.dialog, s.distill, s.concepts
    );
    let _ = writeln!(out, "  skills_by_tier: {}", fmt_group(&s.skills_by_tier));
    let _ = writeln!(out, "  claims_by_tier: {}", fmt_group(&s.claims_by_tier));
    let _ = writeln!(
        out,
        "  extract_candidates: {}",
        fmt_group(&s.extract_candidates)
    );
    let _ = writeln!(out, "  evolve: {}", fmt_group(&s.evolve));
    let _ = writeln!(
        out,
        "  probes={} probe_results={} tasks_running={} tasks_total={}",
        s.probes, s.probe_results, s.tasks_running, s.tasks_total
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "loops (fires {w}d / 30d, last)");
    for l in &f.loops {
        let age = l
            .last_at
            .map_or_else(|| "never".into(), |t| format!("{}_ago", fmt_age(f.now - t)));
        let _ = writeln!(
            out,
            "  {:<10} {} / {}   last={age}",
            l.label, l.fires_window, l.fires_30d
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "outcomes ({w}d / 30d / all)");
    for o in &f.outcomes {
        let _ = writeln!(out, "  {:<22} {} / {} / {}", o.kind, o.window, o.d30, o.all);
    }
    let a = f.candidate_accept_rate;
    if a.decided > 0 {
        let pct = a.accepted as f64 / a.decided as f64 * 100.0;
        let _ = writeln!(
            out,
            "  candidate_accept_rate {}/{} = {pct:.0}% (accepted/decided, all-time)",
            a.accepted, a.decided
        );
    }
    let _ = writeln!(out);
    let _ = write!(
        out,
        "reliability  weak_categories={} untested_categories={}",
        f.reliability.weak_categories, f.reliability.untested_categories
    );
    out
}

/// The JSON form (`status --json`), schema version 1. Documented in
/// `docs/status-json.md`; fields are only ever added.
#[derive(Serialize)]
pub struct StatusJson<'a> {
    pub schema: u32,
    pub db: String,
    #[serde(flatten)]
    pub figures: &'a StoreFigures,
}

pub fn json(db: &std::path::Path, f: &StoreFigures) -> String {
    let doc = StatusJson {
        schema: 1,
        db: db.display().to_string(),
        figures: f,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::fmt_age;

    #[test]
    fn ages_step_like_threadkeeper() {
        assert_eq!(fmt_age(0), "0s");
        assert_eq!(fmt_age(59), "59s");
        assert_eq!(fmt_age(60), "1m");
        assert_eq!(fmt_age(3599), "59m");
        assert_eq!(fmt_age(3600), "1h");
        assert_eq!(fmt_age(86_399), "23h");
        assert_eq!(fmt_age(86_400), "1d");
        assert_eq!(fmt_age(10 * 86_400 + 5), "10d");
    }
}
