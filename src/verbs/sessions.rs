//! The reaper's verbs: `sessions`, `reap`, `claim`, `touch`, `release`.

use std::process::ExitCode;

use super::{out, out_exact};
use crate::actions;
use crate::cli::{ClaimArgs, NameArgs, ReapArgs, SessionsArgs};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::loops::reaper::{Fate, Named, Reaper, Survey, SurveyState};
use crate::loops::{Allowed, Loop, LoopId, PassMode};
use crate::report::fmt_age;
use crate::store::keeper::{claim, release, touch};
use crate::store::{ReadStore, WriteStore, now_unix};
use crate::text::printable;

/// The survey as a table an operator reads in a shell.
pub fn table(s: &Survey, now: i64) -> String {
    let mut lines = vec![match &s.state {
        SurveyState::Listed => format!(
            "{}: {} session(s), {} orphan(s)",
            s.server,
            s.rows.len(),
            s.orphans()
        ),
        SurveyState::NoServer => format!("{}: not running (no sessions)", s.server),
        SurveyState::Unknown(why) => format!("{}: unknown: {why}", s.server),
    }];
    if s.rows.is_empty() {
        return lines.join("\n");
    }
    // Escaped before padding, so the columns stay in line.
    let name = |r: &crate::loops::reaper::SessionRow| printable(&r.session.name).into_owned();
    let w = s
        .rows
        .iter()
        .map(|r| name(r).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    lines.push(format!(
        "{:<w$}  {:<5}  {:<20}  {:>5}  {:>6}  {:>3}  {}",
        "NAME", "AGENT", "CLAIM", "AGE", "ACTIVE", "ATT", "VERDICT"
    ));
    for r in &s.rows {
        let claim = r.claim.as_ref().map_or_else(
            || "—".to_string(),
            |c| {
                let left = c.ttl_left(now);
                let owner = printable(&c.owner);
                if left >= 0 {
                    format!("{owner} {} left", fmt_age(left))
                } else {
                    format!("{owner} expired")
                }
            },
        );
        lines.push(format!(
            "{:<w$}  {:<5}  {:<20}  {:>5}  {:>6}  {:>3}  {}",
            name(r),
            if r.marker { "yes" } else { "no" },
            crate::ui::panels::clip(&claim, 20),
            fmt_age(now - r.session.created),
            fmt_age(now - r.session.activity),
            r.session.attached,
            r.reason
        ));
    }
    lines.join("\n")
}

pub fn sessions(settings: &Settings, a: &SessionsArgs) -> Result<ExitCode> {
    let read = ReadStore::open(&settings.db_path)?;
    let reaper = Reaper::new(settings.config.reaper.clone());
    let now = now_unix();
    let survey = reaper
        .survey(&read.conn, now)
        .map_err(|e| Error::from_sqlite(&read.path, e))?;
    if a.json {
        return out_exact(&serde_json::to_string_pretty(&survey).unwrap_or_default());
    }
    let text = table(&survey, now);
    if let SurveyState::Unknown(_) = survey.state {
        return Err(Error::Refused(text));
    }
    out(&text)
}

pub fn reap(settings: &Settings, a: &ReapArgs) -> Result<ExitCode> {
    let reaper = Reaper::new(settings.config.reaper.clone());
    let now = now_unix();
    let db = &settings.db_path;
    let mut code = ExitCode::SUCCESS;
    let (summary, lines) = if a.names.is_empty() {
        let r = if a.dry_run {
            let read = ReadStore::open(db)?;
            reaper.dry_run(&read.conn, &read.path, now)?
        } else {
            let store = WriteStore::open_existing(db, &settings.config.session_id)?;
            let allowed = if a.yes {
                Allowed::Any
            } else {
                Allowed::Configured
            };
            let r = actions::run_pass_allowed(&reaper, db, &store, PassMode::Forced, allowed, now)?;
            if let Some(held) = r.held {
                return Err(super::past_the_limit(LoopId::Reaper, held));
            }
            r
        };
        (r.summary, r.detail)
    } else {
        let store = WriteStore::open_existing(db, &settings.config.session_id)?;
        let r = actions::with_ctx(db, &store, PassMode::Forced, now, |ctx| {
            let names: Vec<Named> = a.names.iter().map(Named::name).collect();
            reaper.reap_by_hand(ctx, &names, a.dry_run)
        })?;
        // One rule for every verb: a name that is not there is bad input
        // (2), a session refused, spared or not killed is a refusal (1).
        let fates = r.sessions.iter().map(|(_, f)| f);
        if fates.clone().any(|f| matches!(f, Fate::Missing)) {
            code = ExitCode::from(2);
        } else if fates
            .clone()
            .any(|f| matches!(f, Fate::Refused(_) | Fate::Spared(_) | Fate::Failed(_)))
        {
            code = ExitCode::FAILURE;
        }
        (r.summary.clone(), r.lines())
    };
    let mut text = format!("reaper: {summary}");
    for line in &lines {
        text.push_str("\n  ");
        text.push_str(line);
    }
    out(&text)?;
    Ok(code)
}

pub fn claim_verb(settings: &Settings, a: &ClaimArgs) -> Result<ExitCode> {
    let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
    let ttl = a.ttl.unwrap_or(settings.config.reaper.default_ttl_secs);
    let owner = a
        .owner
        .clone()
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "operator".into()));
    let previous = store.with_conn(None, |c| claim(c, &a.name, &owner, ttl as i64, now_unix()))?;
    out(&match previous {
        Some(p) if p != owner => format!("claimed {} for {owner} (was {p}), ttl {ttl}s", a.name),
        Some(_) => format!("renewed the claim on {} for {owner}, ttl {ttl}s", a.name),
        None => format!("claimed {} for {owner}, ttl {ttl}s", a.name),
    })
}

pub fn touch_verb(settings: &Settings, a: &NameArgs) -> Result<ExitCode> {
    let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
    let done = store.with_conn(None, |c| touch(c, &a.name, now_unix()))?;
    if done {
        out(&format!("touched {}", a.name))
    } else {
        Err(no_claim(&a.name))
    }
}

pub fn release_verb(settings: &Settings, a: &NameArgs) -> Result<ExitCode> {
    let store = WriteStore::open_existing(&settings.db_path, &settings.config.session_id)?;
    let done = store.with_conn(None, |c| release(c, &a.name))?;
    if done {
        out(&format!("released {}", a.name))
    } else {
        Err(no_claim(&a.name))
    }
}

fn no_claim(name: &str) -> Error {
    Error::UnknownClaim { name: name.into() }
}
